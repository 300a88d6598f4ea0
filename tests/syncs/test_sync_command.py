"""`manage.py sync`: a flow in the foreground, for real or as a dry run."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.support.books import add, invoice, line

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_the_sync_command_runs_the_flow_and_reports_counts(flow, books):
    source, target = books
    add(source, invoice("i1"), invoice("i2", lines=[line(rate=None)]))
    out = io.StringIO()
    call_command("sync", str(flow.pk), stdout=out, stderr=io.StringIO())
    assert "partial — 1 synced, 1 error(s)" in out.getvalue()
    assert target.entry_count() == 1


def test_the_dry_run_prints_the_entries_and_sends_nothing(flow, books):
    source, target = books
    add(source, invoice("i1", number="F-001"))
    out = io.StringIO()
    call_command("sync", str(flow.pk), "--dry-run", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "CREATE  F-001" in text and "4111" in text and "120.00" in text
    assert "Nothing was sent." in text
    assert target.write_calls == 0


def test_since_reads_documents_changed_after_that_date(flow, books):
    import datetime as dt

    source, target = books
    add(source, invoice("i1", updated=dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc)),
        invoice("i2", updated=dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)))
    call_command("sync", str(flow.pk), "--since", "2026-05-01", stdout=io.StringIO(), stderr=io.StringIO())
    assert [s.entry.reference for s in target.entries.values()] == [f"{flow.pk}-i2"]


def test_a_wrong_flow_id_or_date_is_a_clear_error(flow):
    with pytest.raises(CommandError, match="There is no flow 999"):
        call_command("sync", "999")
    with pytest.raises(CommandError, match="not a date"):
        call_command("sync", str(flow.pk), "--since", "yesterday")
