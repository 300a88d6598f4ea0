"""Years of history: 100,000 runs and 1,000,000 document outcomes; the admin lists and the dashboard
must answer in a constant number of queries with a median under 300 ms.

    .venv/bin/python bench/admin_scale.py [--runs 100000] [--outcomes 1000000] [--requests 15]

Uses a fresh SQLite database in a temporary folder (or DATABASE_URL when given, e.g. PostgreSQL).
Last line: RESULT runs_changelist_ms=.. errors_changelist_ms=.. dashboard_ms=.. queries=..
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TENANTS = 10
OUTCOMES_PER_DOCUMENT = 10


def setup_django(database_url: str | None, folder: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{folder / 'scale.sqlite3'}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def seed(runs: int, outcomes: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.utils import timezone

    from mappings.models import Flow
    from syncs.models import DocumentOutcome, SyncDocument, SyncError, SyncRun
    from tenants.models import Role
    from tenants.services import connection_create, membership_set, tenant_create

    User = get_user_model()
    superuser = User.objects.create_superuser("scale_admin", password="x")
    staff = User.objects.create_user("scale_accountant", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="syncs"))
    flows = []
    for n in range(TENANTS):
        tenant = tenant_create(name=f"Scale tenant {n}", slug=f"scale-{n}")
        source = connection_create(tenant=tenant, name="src", provider="memory", role="source", auth_kind="api_key",
                                   credentials={"store": "s", "api_key": "k"})
        target = connection_create(tenant=tenant, name="tgt", provider="memory", role="target", auth_kind="api_key",
                                   credentials={"store": "t", "api_key": "k"})
        flows.append(Flow.objects.create(tenant=tenant, name=f"Flow {n}", source=source, target=target))
    membership_set(tenant=flows[0].tenant, user=staff, role=Role.ACCOUNTANT)

    now = timezone.now()
    created_at = SyncRun._meta.get_field("created_at")
    created_at.auto_now_add = False  # the history spreads over a year
    started = time.perf_counter()
    batch = 5000
    call_log = [{"method": "POST", "path": "/db/rpc/", "status": 200, "duration_ms": 21, "operation": "model.x.create"}] * 5
    for start in range(0, runs, batch):
        SyncRun.objects.bulk_create([
            SyncRun(tenant_id=flows[i % TENANTS].tenant_id, flow=flows[i % TENANTS], trigger="schedule",
                    status="partial" if i % 11 == 0 else "succeeded", created_at=now - dt.timedelta(minutes=5 * i),
                    started_at=now - dt.timedelta(minutes=5 * i), finished_at=now - dt.timedelta(minutes=5 * i - 1),
                    seen_count=20, synced_count=19, error_count=1 if i % 11 == 0 else 0, external_calls=5,
                    call_log=call_log)
            for i in range(start, min(start + batch, runs))], batch_size=batch)
    created_at.auto_now_add = True
    run_ids = list(SyncRun.objects.order_by("id").values_list("id", flat=True)[:runs])
    documents = outcomes // OUTCOMES_PER_DOCUMENT
    for start in range(0, documents, batch):
        SyncDocument.objects.bulk_create([
            SyncDocument(tenant_id=flows[i % TENANTS].tenant_id, flow=flows[i % TENANTS], source_id=f"doc-{i}",
                         reference=f"{flows[i % TENANTS].pk}-doc-{i}", source_number=f"F{i:07d}",
                         partner_name=f"Client {i % 500}", status="error" if i % 20 == 0 else "synced",
                         kind="sale" if i % 3 else "purchase")
            for i in range(start, min(start + batch, documents))], batch_size=batch)
    doc_ids = list(SyncDocument.objects.order_by("id").values_list("id", "flow_id", "tenant_id", "status"))
    errors = [SyncError(tenant_id=tenant, flow_id=flow, document_id=doc, run_id=run_ids[n % len(run_ids)],
                        code=("ERROR_SYNC_INVOICE_PDF", "ERROR_SYNC_INVOICE_MAPPING_TAX_RATE_NOT_FOUND",
                              "ERROR_SYNC_INVOICE_LINE_VALIDATION")[n % 3], message="seeded")
              for n, (doc, flow, tenant, status) in enumerate(doc_ids) if status == "error"]
    SyncError.objects.bulk_create(errors, batch_size=batch)
    pending = []
    written = 0
    for k in range(OUTCOMES_PER_DOCUMENT):
        for n, (doc, _flow, _tenant, status) in enumerate(doc_ids):
            pending.append(DocumentOutcome(run_id=run_ids[(n * OUTCOMES_PER_DOCUMENT + k) % len(run_ids)],
                                           document_id=doc, status="synced" if k else status))
            if len(pending) >= 20000:
                DocumentOutcome.objects.bulk_create(pending, batch_size=batch)
                written += len(pending)
                pending = []
    if pending:
        DocumentOutcome.objects.bulk_create(pending, batch_size=batch)
        written += len(pending)
    return {"seconds": time.perf_counter() - started, "superuser": superuser, "staff": staff, "tenant": flows[0].tenant,
            "runs": SyncRun.objects.count(), "outcomes": written, "errors": len(errors), "documents": len(doc_ids)}


def measure(client, url: str, requests: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm-up
    timings, queries = [], set()
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.add(len(captured))
    return statistics.median(timings), max(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--outcomes", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        setup_django(os.environ.get("BENCH_DATABASE_URL"), Path(tmp))
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        data = seed(args.runs, args.outcomes)
        print(f"database: {connection.vendor}; seeded {data['runs']} runs, {data['documents']} documents, "
              f"{data['outcomes']} outcomes, {data['errors']} errors in {data['seconds']:.0f} s")
        admin, staff = Client(), Client()
        admin.force_login(data["superuser"])
        staff.force_login(data["staff"])
        pages = {
            "runs_changelist (superuser, all tenants)": (admin, reverse("admin:syncs_syncrun_changelist")),
            "runs_changelist (accountant, one tenant)": (staff, reverse("admin:syncs_syncrun_changelist")),
            "errors_changelist (superuser)": (admin, reverse("admin:syncs_syncerror_changelist")),
            "errors_changelist (accountant, open, by code)": (
                staff, reverse("admin:syncs_syncerror_changelist") + "?status__exact=open&code=ERROR_SYNC_INVOICE_PDF"),
            "documents_changelist (accountant)": (staff, reverse("admin:syncs_syncdocument_changelist")),
            "dashboard (one tenant)": (staff, reverse("tenant_dashboard", args=[data["tenant"].slug])),
        }
        results = {}
        for label, (client, url) in pages.items():
            median, queries = measure(client, url, args.requests)
            results[label] = (median, queries)
            print(f"{label:48} median {median:7.1f} ms   {queries:2d} queries")
    runs_ms = max(results["runs_changelist (superuser, all tenants)"][0], results["runs_changelist (accountant, one tenant)"][0])
    errors_ms = max(results["errors_changelist (superuser)"][0], results["errors_changelist (accountant, open, by code)"][0])
    dashboard_ms = results["dashboard (one tenant)"][0]
    queries = max(q for _, q in results.values())
    print(f"goal: median < 300 ms per page, constant queries (tests assert the counts)")
    print(f"RESULT runs_changelist_ms={runs_ms:.1f} errors_changelist_ms={errors_ms:.1f} dashboard_ms={dashboard_ms:.1f} "
          f"queries={queries}")


if __name__ == "__main__":
    main()
