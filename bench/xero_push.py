"""2,000 invoices through the whole engine into the Xero sandbox, under Xero's limits on a sped-up clock.

    .venv/bin/python bench/xero_push.py [--invoices 2000] [--speed 60] [--seed 15] [--batch N]

The source is the in-memory invoicing tool: about 50 customers and suppliers (a few of them already in Xero's
demo organisation, matched by name; the others new), sales invoices and supplier bills, 10 % credit notes,
one to three lines at 20 %, 5 % and 0 % VAT, and a PDF of a few KB on every tenth document. They go through
the real engine (a run requested and executed as a worker does: runs, bindings, contact matching, outcomes in
a migrated SQLite database of the bench's own) into the Xero sandbox served in this process (a thread, sharing
the cores with the hub), which enforces Xero's limits (5 at once, 60 a minute, 5,000 a day) on a clock
`--speed` times faster: at 60 a Xero minute lasts one second. The hub's call budget is told the same speed
(HUB_XERO_CLOCK_SPEED, read by `call_limits()`) and keeps its marks in the database, as the hub does by default
when no Redis is configured (the bench removes REDIS_URL and HUB_BUDGET_* from its environment).

`--batch` sets the engine's batch size (HUB_SYNC_BATCH_SIZE, 50 by default) to see what it changes.

What is counted, by the sandbox (its limiter counts every call, its request log gives their kinds), reset just
before the run, so the flow's set-up reads (the wizard's) are not counted; the run's own call log is shown beside:
- calls: every request of the hub to Xero's accounting API during the run, answered or refused (429). Token
  refreshes (identity endpoint, not rate-limited by Xero) are shown apart and not counted.
- calls per invoice: (calls - documents with a file) / invoices, i.e. beyond the one upload per attachment that
  Xero requires (it has no batch upload). Goal <= 0.05.
- fewest calls possible, what any client needs for the same work:
    ceil(invoices / 50) + ceil(credit notes / 50)  creations (Invoices and CreditNotes are two endpoints,
                                                    50 documents a call, Xero's advice)
  + one per document with a file                   (PUT .../Attachments/{name}, one file a call)
  + ceil(new contacts / 50)                        (contacts not already in Xero, created in batches of 50)
  + ceil(contacts already in Xero / 100), at least 1   (one read of the contact list, pages of 100, to match)
  + one read each of Accounts, TaxRates, TrackingCategories and Organisation, counted only when the run made
    it (a read the hub does not make is never counted as necessary, and none is counted twice).
  Everything else the hub does (look-ups by reference, repeated reads, a batch split in two, retries, calls
  refused with 429) is the hub's own extra and is not counted. Ratio = fewest / calls, goal >= 0.9.
- failed on 429: documents that ended in error with a rate-limit reason (429, rate limit, budget spent), plus
  the documents left undone when the run paused or failed on the call budget. Goal 0.
- peak minute: the most calls the sandbox counted in any rolling sandbox minute (goal <= 60), and refused: the
  429s it answered (goal 0).
- time: wall seconds of the run and invoices per second, against the time the fewest calls take at a steady 60
  a sandbox minute: fewest / speed wall seconds (a client spending the first minute's 60 calls at once could
  finish up to one sandbox minute sooner). The time spent in the call budget is measured apart (sleeping for a
  free slot, and the backend's bookkeeping), by wrapping CallBudget._acquire and the backend's release.
Last line: RESULT calls_per_invoice=.. ratio=.. failed_429=.. peak_minute=.. refused=.. invoices_per_s=..
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ORGANISATION = "Demo Company (Global)"
BATCH = 50  # documents per creation call (Xero's advice)
CONTACT_PAGE = 100  # Xero's page of contacts
CENT = D("0.01")
# The source's rates; the flow maps each to the demo organisation's rate (OUTPUT2/INPUT2, RROUTPUT/RRINPUT, ...).
RATES = ((D(20), 70), (D(5), 15), (D(0), 15))  # (rate %, weight)
# A few partners the organisation already has (matched by name, never created); the rest are new to Xero.
EXISTING_CUSTOMERS = ("Northwind Studios Ltd", "Bramble & Finch LLP", "Castlegate Hotels Ltd",
                      "Dunmore Engineering Ltd")
EXISTING_SUPPLIERS = ("Larkspur Office Supplies Ltd", "Meridian Telecom plc")
CUSTOMERS, SUPPLIERS = 30, 20
# How a rate limit shows in an error or a run's message (never a bare "429": that is also an account code here).
RATE_LIMIT_WORDS = ("rate limit", "too many requests", "status 429", "http 429", "call budget", "calls allowed")


def django_setup(database: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def partners():
    """~50 third parties: (Partner, kind); the first few of each kind share a name with a demo-org contact."""
    from integration_hub.connectors.types import Address, Partner

    out = []
    for n in range(CUSTOMERS):
        name = EXISTING_CUSTOMERS[n] if n < len(EXISTING_CUSTOMERS) else f"Bench Customer {n:02d} Ltd"
        out.append((Partner(id=f"cust-{n}", name=name, email=f"ap{n}@customer.example",
                            vat_number=f"GB 555 {n:04d} 10" if n % 3 == 0 and n >= len(EXISTING_CUSTOMERS) else "",
                            address=Address("1 High Street", "EC1A 1BB", "London", "GB")), "sale"))
    for n in range(SUPPLIERS):
        name = EXISTING_SUPPLIERS[n] if n < len(EXISTING_SUPPLIERS) else f"Bench Supplier {n:02d} Ltd"
        out.append((Partner(id=f"supp-{n}", name=name, email=f"ar{n}@supplier.example",
                            address=Address("2 Quay Road", "TR11 3HA", "Falmouth", "GB")), "purchase"))
    return out


def pdf_of(number: str) -> bytes:
    """A valid PDF of about 3 KB."""
    from integration_hub.pdfs import make_pdf

    return make_pdf([f"Invoice {number}"] + [f"Line {i}: services rendered, as agreed, reference {number}-{i:03d}"
                                              for i in range(40)])


def fill_source(store, count: int, seed: int, day: dt.date) -> dict:
    """The source's invoices, files and tax rates; returns what a minimal client would have to create."""
    from integration_hub.connectors.types import Attachment, Invoice, InvoiceKind, InvoiceLine, TaxRate

    rng = random.Random(seed)
    people = partners()
    customers = [p for p, kind in people if kind == "sale"]
    suppliers = [p for p, kind in people if kind == "purchase"]
    store.tax_rates = [TaxRate(f"t{int(rate)}", f"VAT {rate} %", rate, "both") for rate, _ in RATES]
    stamp = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    rates, weights = [r for r, _ in RATES], [w for _, w in RATES]
    made = Counter()
    used_partners: set[str] = set()
    for n in range(count):
        sale = rng.random() < 0.65
        credit = rng.random() < 0.10
        partner = rng.choice(customers if sale else suppliers)
        used_partners.add(partner.id)
        lines = []
        for i in range(rng.choice((1, 1, 2, 3))):
            rate = rng.choices(rates, weights)[0]
            quantity = D(rng.choice((1, 1, 2, 3, 5)))
            price = (D(rng.randint(500, 250_000)) / 100).quantize(CENT)
            untaxed = (quantity * price).quantize(CENT)
            tax = (untaxed * rate / 100).quantize(CENT, ROUND_HALF_UP)
            account = rng.choice(("200", "260")) if sale else rng.choice(("429", "461", "310"))
            lines.append(InvoiceLine(description=f"{'Service' if sale else 'Purchase'} {n}-{i}", quantity=quantity,
                                     unit_price=price, untaxed_amount=untaxed, tax_amount=tax, tax_rate=rate,
                                     tax_code=f"t{int(rate)}", account_number=account))
        untaxed = sum((line.untaxed_amount for line in lines), D(0))
        tax = sum((line.tax_amount for line in lines), D(0))
        issue = day - dt.timedelta(days=rng.randint(0, 45))
        prefix = ("SCN" if credit else "SIN") if sale else ("PCN" if credit else "BILL")
        kind = InvoiceKind.SALE if sale else InvoiceKind.PURCHASE
        invoice = Invoice(id=f"doc-{n}", number=f"{prefix}-{n:05d}", kind=kind, issue_date=issue,
                          due_date=issue + dt.timedelta(days=30), currency="GBP", lines=lines,
                          untaxed_amount=untaxed, tax_amount=tax, total_amount=untaxed + tax, updated_at=stamp,
                          is_credit_note=credit, partner_id=partner.id, partner=partner, has_attachment=n % 10 == 3,
                          version="1")
        store.invoices[invoice.id] = invoice
        if invoice.has_attachment:
            store.attachments[invoice.id] = Attachment(f"{invoice.number}.pdf", "application/pdf",
                                                       pdf_of(invoice.number))
        made["credit_notes" if credit else "invoices"] += 1
        made["files"] += invoice.has_attachment
    existing = set(EXISTING_CUSTOMERS) | set(EXISTING_SUPPLIERS)
    made["new_contacts"] = sum(1 for p, _ in people if p.id in used_partners and p.name not in existing)
    made["earliest"] = min(i.issue_date for i in store.invoices.values())
    return made


def xero_connection(tenant, sandbox, speed: float):
    """A connection as the hub holds it after consent, its token's expiry told in wall-clock time."""
    from sandboxes.xero.seed import tenant_id
    from tenants.services import connection_create

    token = sandbox.connect([tenant_id(ORGANISATION)])
    return connection_create(tenant=tenant, name="Xero", provider="xero", role="target", auth_kind="oauth2",
                             credentials={"access_token": token["access_token"],
                                          "refresh_token": token["refresh_token"], "token_type": "Bearer",
                                          "expires_at": time.time() + float(token.get("expires_in", 1800)) / speed,
                                          "tenant_id": tenant_id(ORGANISATION)})


def make_flow(sandbox, speed: float, store_name: str, earliest: dt.date):
    from integration_hub.connectors import registry
    from mappings.autoconfigure import flow_apply_suggestions
    from mappings.models import Flow
    from tenants.services import connection_connector, connection_create, tenant_create

    tenant = tenant_create(name="Bench Xero Ltd", slug=f"bench-xero-{int(time.time() * 1000)}", country="GB",
                           base_currency="GBP")
    credentials = {"store": store_name, "api_key": "memory-key"}
    source = connection_create(tenant=tenant, name="Fake invoicing", provider="memory", role="source",
                               auth_kind="api_key", credentials=credentials)
    target = xero_connection(tenant, sandbox, speed)
    flow = Flow.objects.create(tenant=tenant, name="Bench into Xero", source=source, target=target,
                               start_date=earliest)
    src = registry.get("memory").connector(credentials, auth_kind="api_key")
    tgt = connection_connector(connection=target)
    missing = flow_apply_suggestions(flow=flow, source=src, target=tgt)
    tgt.close()
    problems = [m for m in missing if "discount" not in m]
    if problems:
        raise SystemExit(f"the flow's mappings could not all be suggested: {problems}")
    return flow


def fewest_calls(made: dict, api_calls: list[dict]) -> dict:
    """The calls any client needs for the same work (see the module's docstring), by item."""
    def read(resource: str) -> int:
        return int(any(c["method"] == "GET" and c["resource"] == resource for c in api_calls))

    from sandboxes.xero.seed import ORGANISATIONS

    spec = next(o for o in ORGANISATIONS if o["Name"] == ORGANISATION)
    known = sum(1 for p in spec["parties"] if p[-1] == "ACTIVE")
    return {
        "create Invoices": math.ceil(made["invoices"] / BATCH),
        "create CreditNotes": math.ceil(made["credit_notes"] / BATCH),
        "attachments": made["files"],
        "create Contacts": math.ceil(made["new_contacts"] / BATCH),
        "read Contacts": max(1, math.ceil(known / CONTACT_PAGE)) * read("Contacts"),
        **{f"read {r}": read(r) for r in ("Accounts", "TaxRates", "TrackingCategories", "Organisation")},
    }


def held_in_xero(sandbox) -> Counter:
    """What the organisation holds from the hub afterwards (read from the sandbox's state: no API call)."""
    from integration_hub.connectors.xero.mapper import reference_of
    from sandboxes.xero.seed import tenant_id

    held: Counter = Counter()
    with sandbox.state.lock:
        org = sandbox.state.org(tenant_id(ORGANISATION))
        for endpoint in ("Invoices", "CreditNotes"):
            for document in org.documents[endpoint].values():
                if reference_of(document) and document.get("Status") == "AUTHORISED":
                    held[endpoint] += 1
                    held["files"] += len(org.attachments.get((endpoint, document.get(
                        "InvoiceID" if endpoint == "Invoices" else "CreditNoteID")), []))
    return held


def api_calls_of(sandbox) -> list[dict]:
    """The accounting API's requests in the sandbox's log, each with its resource (first path segment)."""
    from sandboxes.xero.app import API_PREFIX

    with sandbox.state.lock:
        log = list(sandbox.state.request_log)
    calls = []
    for entry in log:
        path = entry.get("path", "")
        if not path.startswith(API_PREFIX):
            continue
        parts = [p for p in path[len(API_PREFIX):].split("/") if p] or [""]
        shape = "/{id}/Attachments" if "Attachments" in parts else "/{id}" if len(parts) > 1 else ""
        calls.append({**entry, "resource": parts[0], "what": f"{entry['method']} {parts[0]}{shape}"})
    return calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--speed", type=float, default=60.0, help="how many times faster the sandbox's clock runs")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--batch", type=int, default=0,
                        help="the engine's batch size (default: the hub's, HUB_SYNC_BATCH_SIZE, 50)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-xero-") as tmp:
        # The budget backend the hub picks on its own: no Redis configured here, so the database's.
        for name in ("HUB_BUDGET_BACKEND", "HUB_BUDGET_REDIS_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        django_setup(Path(tmp) / "hub.sqlite3")
        from django.conf import settings

        from integration_hub.connectors.memory import connector as memory
        from sandboxes.xero.app import start_sandbox
        from sandboxes.xero.seed import tenant_id
        from syncs.models import DocumentStatus, RunStatus, SyncDocument, SyncError
        from syncs.services import execute_run, run_request

        with start_sandbox(seed="demo", speed=args.speed) as sandbox:
            settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = sandbox.url
            settings.HUB_XERO_CLOCK_SPEED = args.speed
            if args.batch:
                settings.HUB_SYNC_BATCH_SIZE = args.batch
            day = sandbox.clock.utcnow().date() - dt.timedelta(days=1)
            store = memory.reset("bench-xero-src")
            made = fill_source(store, args.invoices, args.seed, day)
            flow = make_flow(sandbox, args.speed, "bench-xero-src", made["earliest"])

            # Only the run is measured: the sandbox forgets the wizard's set-up reads (the hub's budget does not,
            # which can only make it more careful).
            sandbox.limiter.reset()
            with sandbox.state.lock:
                sandbox.state.request_log.clear()
            run, _ = run_request(flow=flow, enqueue=False)
            waited = BudgetWaits()
            started = time.perf_counter()
            with waited:
                execute_run(run.pk)
            seconds = time.perf_counter() - started
            run.refresh_from_db()

            stats = sandbox.limiter.stats().get(tenant_id(ORGANISATION), {})
            api_calls = api_calls_of(sandbox)
            with sandbox.state.lock:
                tokens = sum(1 for e in sandbox.state.request_log if e.get("path", "").rstrip("/") == "/connect/token")
                log_full = len(sandbox.state.request_log) == sandbox.state.request_log.maxlen
            held = held_in_xero(sandbox)
            budget_backend = _budget_backend()
            batch = settings.HUB_SYNC_BATCH_SIZE

        statuses = Counter(SyncDocument.objects.filter(flow=flow).values_list("status", flat=True))
        errors = list(SyncError.objects.filter(flow=flow).values_list("code", "message", "provider_message"))
        rate_errors = sum(1 for e in errors if any(w in " ".join(e).lower() for w in RATE_LIMIT_WORDS))
        undone = args.invoices - statuses.get(DocumentStatus.SYNCED, 0) - statuses.get(DocumentStatus.ERROR, 0)
        stopped_on_budget = run.status == RunStatus.PAUSED or (run.status == RunStatus.FAILED and any(
            w in (run.message or "").lower() for w in RATE_LIMIT_WORDS))
        failed_429 = rate_errors + (undone if stopped_on_budget else 0)
        run_api_calls = sum(1 for c in run.call_log if "/api.xro/" in (c.get("path") or ""))

    calls = stats.get("calls", 0) + stats.get("refused", 0)  # the limiter counts every call; its log keeps 2,000
    fewest = fewest_calls(made, api_calls)
    fewest_total = sum(fewest.values())
    ratio = fewest_total / calls if calls else 0.0
    per_invoice = (calls - made["files"]) / args.invoices
    rate = args.invoices / seconds
    floor_seconds = fewest_total / args.speed  # fewest / 60 sandbox minutes, each lasting 60 / speed s
    by_kind = Counter(c["what"] for c in api_calls)

    from integration_hub.connectors.xero.connector import XeroConnector

    batch = f"{batch} x {XeroConnector.batches_per_run_batch} documents (the connector's calls of 50)"
    print(f"hub database: SQLite; call budget backend: {budget_backend}; engine batches of {batch}; sandbox speed "
          f"x{args.speed:g} (a Xero minute lasts {60 / args.speed:.2f} s)")
    print(f"work: {made['invoices']} invoices/bills + {made['credit_notes']} credit notes, {made['files']} with a PDF, "
          f"{made['new_contacts']} contacts new to Xero")
    synced, in_error = statuses.get(DocumentStatus.SYNCED, 0), statuses.get(DocumentStatus.ERROR, 0)
    print(f"run: {run.status}, {synced} synced, {in_error} in error, {undone} undone; {run.message or ''}".rstrip("; "))
    print(f"Xero holds from the hub: {held['Invoices']} invoices/bills and {held['CreditNotes']} credit notes, "
          f"AUTHORISED, {held['files']} files attached")
    if errors:
        print("errors:", Counter(code for code, *_ in errors).most_common(5), errors[:2])
    print(f"calls to Xero's API: {calls} (the run's call log: {run_api_calls}), token refreshes apart: {tokens}")
    if log_full:
        print("  (the sandbox's request log is full: the calls by kind below miss the oldest ones)")
    print("  by kind:", ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])))
    print(f"  fewest possible: {fewest_total} = " + " + ".join(f"{v} {k}" for k, v in fewest.items() if v))
    print(f"calls per invoice beyond one per file: {per_invoice:.4f} (goal <= 0.05); all calls per invoice "
          f"{calls / args.invoices:.4f}")
    print(f"ratio fewest/made: {ratio:.3f} (goal >= 0.9)")
    print(f"documents failed on 429: {failed_429} (goal 0)")
    print(f"sandbox: peak {stats.get('peak_minute')} calls in a sandbox minute (goal <= 60), peak "
          f"{stats.get('peak_concurrent')} at once (limit 5), {stats.get('refused')} refused (429) "
          f"{stats.get('refused_by') or ''}".rstrip())
    print(f"time: {seconds:.1f} s, {rate:.1f} invoices/s; the fewest calls at a steady 60 a sandbox minute "
          f"take {floor_seconds:.1f} s, that time / the run's {floor_seconds / seconds:.3f}")
    print(f"  in the call budget: {waited.seconds:.1f} s = sleeping for a free slot {waited.sleeping:.1f} s "
          f"({waited.waits} calls waited) + the backend's bookkeeping {waited.seconds - waited.sleeping:.1f} s; "
          f"the rest, {seconds - waited.seconds:.1f} s, is the hub's own work and the calls themselves")
    print(f"RESULT calls_per_invoice={per_invoice:.4f} ratio={ratio:.3f} failed_429={failed_429} "
          f"peak_minute={stats.get('peak_minute')} refused={stats.get('refused')} invoices_per_s={rate:.1f}")


class BudgetWaits:
    """Measures the run's time in the organisation's call budget, changing nothing: asking for a slot (the
    backend's decisions and the sleeps until a slot is free) and ending each call's marks."""

    def __init__(self) -> None:
        self.asking = self.sleeping = self.ending = 0.0
        self.waits = 0

    def __enter__(self) -> "BudgetWaits":
        from integration_hub.connectors import budget

        self._original = original = budget.CallBudget._acquire
        bench = self

        def acquire(budget_self, token: str, lease: float) -> float:
            real_sleep, backend = budget_self.sleep, budget_self.backend
            if not getattr(backend, "_bench_timed", False):
                real_release = backend.release

                def release(token: str) -> None:
                    started = time.perf_counter()
                    try:
                        real_release(token)
                    finally:
                        bench.ending += time.perf_counter() - started

                backend.release, backend._bench_timed = release, True

            def sleep(seconds: float) -> None:
                started = time.perf_counter()
                real_sleep(seconds)
                bench.sleeping += time.perf_counter() - started

            budget_self.sleep = sleep
            started = time.perf_counter()
            slept = bench.sleeping
            try:
                return original(budget_self, token, lease)
            finally:
                budget_self.sleep = real_sleep
                bench.asking += time.perf_counter() - started
                bench.waits += bench.sleeping > slept

        budget.CallBudget._acquire = acquire
        return self

    def __exit__(self, *exc) -> None:
        from integration_hub.connectors import budget

        budget.CallBudget._acquire = self._original

    @property
    def seconds(self) -> float:
        return self.asking + self.ending


def _budget_backend() -> str:
    """Which backend the hub's budget for this organisation uses (what budget_for picks with these settings)."""
    from integration_hub.connectors.budget import budget_for
    from integration_hub.connectors.xero.connector import call_limits
    from sandboxes.xero.seed import tenant_id

    return budget_for("xero", tenant_id(ORGANISATION), call_limits()).backend.name


if __name__ == "__main__":
    main()
