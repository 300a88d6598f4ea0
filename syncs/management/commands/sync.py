"""Run a flow in the foreground: `manage.py sync <flow id> [--since DATE] [--dry-run]`."""
from __future__ import annotations

import datetime as dt
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from mappings.models import Flow
from syncs.engine import Engine, RunAborted
from syncs.models import Trigger
from syncs.services import execute_run, run_request


class Progress:
    """A one-line progress bar on stderr (or plain lines when stderr is not a terminal)."""

    def __init__(self, stream, width: int = 30):
        self.stream, self.width, self.tty = stream, width, stream.isatty()
        self.last = -1

    def __call__(self, done: int, total: int | None) -> None:
        if total:
            filled = int(self.width * min(done, total) / total)
            text = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        else:
            text = f"{done} document(s) looked at"
        if self.tty:
            self.stream.write("\r" + text)
            self.stream.flush()
        elif done // 100 != self.last // 100 or done == total:
            self.stream.write(text + "\n")
        self.last = done

    def close(self):
        if self.tty:
            self.stream.write("\n")


def parse_since(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since: '{value}' is not a date (YYYY-MM-DD) or a date-time (ISO 8601)")
        moment = dt.datetime.combine(day, dt.time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


class Command(BaseCommand):
    help = "Run one flow now, in the foreground, with a progress bar. --dry-run shows the entries without sending."

    def add_arguments(self, parser):
        parser.add_argument("flow_id", type=int)
        parser.add_argument("--since", help="look at documents changed since this date instead of the flow's cursor")
        parser.add_argument("--dry-run", action="store_true", help="build the entries and show them; send nothing")
        parser.add_argument("--limit", type=int, help="with --dry-run: stop after this many documents")

    def handle(self, *args, flow_id: int, since: str | None, dry_run: bool, limit: int | None, **options):
        flow = Flow.objects.select_related("tenant", "source", "target").filter(pk=flow_id).first()
        if flow is None:
            raise CommandError(f"There is no flow {flow_id}.")
        moment = parse_since(since)
        progress = Progress(sys.stderr)
        if dry_run:
            try:
                previews = Engine(flow, dry_run=True, progress=progress, limit=limit).execute(since=moment)
            except RunAborted as exc:
                raise CommandError(str(exc)) from exc
            progress.close()
            self.print_previews(previews)
            return
        run, created = run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False)
        if not created:
            raise CommandError(f"Run {run.pk} of this flow is already {run.status}; two runs never overlap.")
        execute_run(run.pk, progress=progress, since=moment)
        progress.close()
        run.refresh_from_db()
        style = self.style.SUCCESS if run.status == "succeeded" else self.style.WARNING
        self.stdout.write(style(
            f"Run {run.pk}: {run.status} — {run.synced_count} synced, {run.error_count} error(s), "
            f"{run.waiting_count} waiting, {run.skipped_count} skipped, {run.external_calls} external call(s)."))
        if run.message:
            self.stdout.write(run.message)
        if run.status == "failed":
            sys.exit(1)

    def print_previews(self, previews):
        counts: dict[str, int] = {}
        for preview in previews:
            counts[preview.action] = counts.get(preview.action, 0) + 1
            invoice = preview.invoice
            head = f"{invoice.number} ({invoice.kind}{', credit note' if invoice.is_credit_note else ''}) {invoice.issue_date}"
            if preview.entry is not None:
                self.stdout.write(f"{preview.action.upper():7} {head} → journal {preview.entry.journal_id}")
                for line in preview.entry.lines:
                    self.stdout.write(f"          {line.account_number:<10} {line.debit:>12} {line.credit:>12}  {line.label}")
            elif preview.problem is not None:
                self.stdout.write(self.style.ERROR(f"ERROR   {head}: {preview.problem.code}: {preview.problem.message}"))
            else:
                self.stdout.write(f"{preview.action.upper():7} {head}")
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(self.style.SUCCESS(f"Dry run: {summary}. Nothing was sent."))
