"""1,000 Finnish invoices through the whole engine into the Netvisor sandbox, then into the Procountor sandbox.

    .venv/bin/python bench/finnish_push.py [--invoices 1000] [--seed 17] [--procountor-rate 20] [--only netvisor]

The source is the in-memory invoicing tool streaming from a generator (nothing held in memory but the few paid
invoices, which the source must be able to look up): about 40 Finnish customers and suppliers (valid business
ids, none of them known to the target yet), 65 % sales invoices (5 % of them credit notes) and 35 % purchase
invoices, one to three lines at the Finnish VAT rates (25.5 %, the reduced food rate, 10 %, 0 %), a cost centre
on every tenth line (mapped to the target's "Kustannuspaikka" items), and one sales invoice in fifty paid, half
of those with penalty interest and a collection fee. Each target gets the same work through the real engine (a
run requested and executed as a worker does: runs, bindings, partner matching, payments, the status monitoring
after the run, outcomes in a migrated SQLite database of the bench's own), with the sandbox served in this
process on a free loopback port (a thread, sharing the cores with the hub).

Rate limits:
- Netvisor publishes no number and its sandbox enforces none. The hub's own ceiling (NETVISOR_LIMITS: one call
  at a time, 120 a minute) would make 1,000 invoices last over 8 minutes of waiting on purpose, so the bench
  raises the per-minute ceiling to 100,000 (HUB_NETVISOR_CALLS_PER_MINUTE; one call at a time is kept) and says
  so: the Netvisor figure is the hub's work, not Netvisor's pace.
- Procountor: limits on. The sandbox refuses past `--procountor-rate` calls a second with 429, and the hub's
  budget (PROCOUNTOR_LIMITS: 8 at once, kept in the database as the hub does when no Redis is configured) paces
  itself to the same number. The default is 60 a second, the top of Procountor's documented 20-60, where the
  hub's PROCOUNTOR_LIMITS says 20 (the low end, the safe setting for a company whose limit is not known): at 20
  the ~3,450 calls would take three minutes of pacing alone, over the bench's time. PROCOUNTOR_LIMITS is
  patched for the bench to the same rate, and the time the fewest calls take at 20 a second is printed beside.
  `--procountor-rate 20` runs it at the hub's own setting.
The bench removes REDIS_URL and HUB_BUDGET_* from its environment: the budget backend is the hub's default
(`--budget-backend memory|db` forces one).
The Netvisor sandbox's rollback of refused writes (a deep copy of the whole company before every write, quadratic
over a long run) is turned off for the bench; the bench prints how many writes were refused (0 expected).

What is counted, by the sandboxes (their request logs, made long enough to keep every request, cleared just
before each run so the set-up reads are not counted); the run's own call log is shown beside:
- calls: every request of the hub to the target during the run, answered or refused (429 included). Procountor's
  token request (POST /oauth/token) is a call like the others.
- calls per document: calls / invoices of the source.
- fewest calls possible, what any client needs for the same work with that API:
  Netvisor (XML, one document per message; no batch write):
      1 POST per invoice (salesinvoice.nv / purchaseinvoice.nv)
    + 1 POST customer.nv per customer new to Netvisor (suppliers need none: a purchase invoice names its vendor)
    + per payment: 1 salespayment.nv, + 1 accounting.nv voucher when it brings interest or fees
    + one read each of what the run read at least once: customerlist.nv (to match customers), accountlist.nv,
      productlist.nv (invoice lines need a product), dimensionlist.nv, and for the status monitoring after the
      run salesinvoicelist.nv and purchaseinvoicelist.nv.
  Procountor (REST/JSON, one invoice per POST; no batch write):
      3 per invoice: POST /invoices, PUT /ledgerreceipts/{id} (the invoice row takes no ledger account: the
      accounts the flow mapped are booked by rewriting the invoice's receipt) and PUT /invoices/{id}/send (sales)
      or /sendToCirculation (purchases), as the flow books documents final rather than as drafts
    + 1 POST /businesspartners per customer or supplier new to Procountor
    + per payment: 1 PUT /invoices/{id}/paymentevents/markpaid, + 1 POST /ledgerreceipts (JOURNAL) when it brings
      interest or fees
    + the token (1), ceil(known partners / 50) pages of GET /businesspartners (at least 1, when read), one read
      each of /coa, /vats/default, /dimensions, /fiscalyears when the run made it, and ceil(invoices / 200)
      batch reads of /invoices/{ids} for the status monitoring.
  Everything else (look-ups by reference, detail reads, repeated reads, retries, 429s) is the hub's own extra.
  Ratio = calls / fewest (1.0 is the least possible; the goal is <= 1.1).
- failed on 429: documents that ended in error with a rate-limit reason, plus those left undone when the run
  paused or failed on the call budget. Goal 0. And the 429 answers the sandbox gave (goal 0).
- time: wall seconds of the run and documents per second.
Last line: RESULT netvisor_calls_per_doc=.. netvisor_ratio=.. procountor_calls_per_doc=.. procountor_ratio=..
failed_429=..
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter, deque
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CENT = D("0.01")
CUSTOMERS, SUPPLIERS = 25, 15
PAID_EVERY = 50  # one sales invoice in fifty is paid
# Netvisor's keys (the sandbox's and the hub's settings), a business id with a right check digit.
NETVISOR_KEYS = dict(sender="hub-bench", customer_id="BENCHCUST", customer_key="bench-customer-key",
                     partner_id="BENCHPARTNER", partner_key="bench-partner-key", organisation_id="2345678-0")
PROCOUNTOR_KEYS = dict(client_id="bench-procountor-client", client_secret="bench-procountor-secret",
                       api_key="bench-procountor-api-key")
# How a rate limit shows in an error or a run's message.
RATE_LIMIT_WORDS = ("rate limit", "too many requests", "status 429", "http 429", "call budget", "calls allowed",
                    "429")
# The target's accounts the source's lines name (both sandboxes' charts have them), and the flow's settings.
SALES_ACCOUNTS, PURCHASE_ACCOUNTS = ("3000", "3010"), ("4000", "7680")
COST_CENTRES = (("cc-hki", "Helsinki", "HALL"), ("cc-tre", "Tampere", "MYYNTI"))  # (source id, Netvisor, Procountor)
TARGETS = {
    "netvisor": dict(journals=("invoice:sales", "invoice:purchase"), payment_journal="voucher:Suoritus",
                     sales="3000", purchases="4000", customers="1701", suppliers="2871", rounding=("8570", "8570"),
                     bank="1910", interest="9170", fees="9170", reduced=D("13.5")),
    "procountor": dict(journals=("invoice:sales", "invoice:purchase"), payment_journal="receipt:JOURNAL",
                       sales="3000", purchases="4000", customers="1701", suppliers="2871", rounding=("3700", "8500"),
                       bank="1910", interest="9160", fees="3700", reduced=D("14")),
}


def django_setup(database: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


# --- the source ------------------------------------------------------------------------------------------------
def business_ids(count: int, start: int) -> list[str]:
    """`count` valid Finnish business ids (bodies whose check digit exists), from `start` on."""
    from integration_hub.connectors import finnish

    found, body = [], start
    while len(found) < count:
        try:
            found.append(f"{body:07d}-{finnish.business_id_check_digit(f'{body:07d}')}")
        except finnish.FinnishRuleError:
            pass
        body += 7
    return found


def partners():
    from integration_hub.connectors.types import Address, Partner

    ids = business_ids(CUSTOMERS + SUPPLIERS, 2_600_011)
    customers = [Partner(id=f"cust-{n}", name=f"Penkki Asiakas {n:02d} Oy", registration_number=ids[n],
                         email=f"laskut{n}@asiakas.example",
                         address=Address("Mannerheimintie 1", "00100", "Helsinki", "FI")) for n in range(CUSTOMERS)]
    suppliers = [Partner(id=f"supp-{n}", name=f"Penkki Toimittaja {n:02d} Oy", registration_number=ids[CUSTOMERS + n],
                         address=Address("Hämeenkatu 2", "33100", "Tampere", "FI")) for n in range(SUPPLIERS)]
    return customers, suppliers


def make_source(count: int, seed: int, day: dt.date, reduced: D):
    """(generator of the invoices, the paid ones by id, what a minimal client would have to create)."""
    from integration_hub.connectors.types import Invoice, InvoiceKind, InvoiceLine, Payment

    customers, suppliers = partners()
    rates = ((D("25.5"), 70), (reduced, 10), (D(10), 10), (D(0), 10))
    stamp = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)

    def make(n: int) -> Invoice:
        rng = random.Random(seed * 1_000_003 + n)
        sale = rng.random() < 0.65
        credit = sale and rng.random() < 0.05
        partner = rng.choice(customers if sale else suppliers)
        lines = []
        for i in range(rng.choice((1, 1, 2, 3))):
            rate = rng.choices([r for r, _ in rates], [w for _, w in rates])[0]
            quantity = D(rng.choice((1, 1, 2, 3, 5)))
            price = (D(rng.randint(500, 150_000)) / 100).quantize(CENT)
            untaxed = (quantity * price).quantize(CENT)
            tax = (untaxed * rate / 100).quantize(CENT, ROUND_HALF_UP)
            centre = COST_CENTRES[(n + i) % 2] if (n + i) % 10 == 4 else None
            lines.append(InvoiceLine(description=f"{'Palvelu' if sale else 'Hankinta'} {n}-{i}", quantity=quantity,
                                     unit_price=price, untaxed_amount=untaxed, tax_amount=tax, tax_rate=rate,
                                     tax_code=f"t{rate}", account_number=rng.choice(
                                         SALES_ACCOUNTS if sale else PURCHASE_ACCOUNTS),
                                     dimensions={"cost_center": (centre[0], centre[1])} if centre else {}))
        untaxed = sum((line.untaxed_amount for line in lines), D(0))
        tax = sum((line.tax_amount for line in lines), D(0))
        # Procountor's sandbox has only the current fiscal year open: early in January every date is the 1st
        issue = max(day.replace(month=1, day=1), day - dt.timedelta(days=rng.randint(5, 35)))
        payments = []
        if sale and not credit and n % PAID_EVERY == 7:
            extra = n % (2 * PAID_EVERY) == 7  # half of them bring penalty interest and a collection fee
            interest, fees = (D("3.40"), D("5.00")) if extra else (None, None)
            payments.append(Payment(id=f"pay-{n}", date=min(day, issue + dt.timedelta(days=3)),
                                    amount=untaxed + tax + (interest or 0) + (fees or 0), label=f"Maksu {n}",
                                    interest=interest, fees=fees))
        # Sales numbers all digits (Netvisor then keeps them), purchases the supplier's own numbers.
        number = f"26{n:05d}" if sale else f"OL-{n:05d}"
        return Invoice(id=f"doc-{n}", number=number, kind=InvoiceKind.SALE if sale else InvoiceKind.PURCHASE,
                       issue_date=issue, due_date=issue + dt.timedelta(days=14), currency="EUR", lines=lines,
                       untaxed_amount=untaxed, tax_amount=tax, total_amount=untaxed + tax, updated_at=stamp,
                       is_credit_note=credit, partner_id=partner.id, partner=partner, version="1",
                       payments=payments)

    def invoices():
        for n in range(count):
            yield make(n)

    paid, made = {}, Counter()
    used: dict[str, set] = {"sale": set(), "purchase": set()}
    for invoice in invoices():  # what the work is (the bench's own pass; the engine streams its own)
        kind = invoice.kind.value
        made[kind] += 1
        made["credit_notes"] += invoice.is_credit_note
        made["dimension_lines"] += sum(1 for line in invoice.lines if line.dimensions)
        used[kind].add(invoice.partner_id)
        for payment in invoice.payments:
            made["payments"] += 1
            made["payment_extras"] += bool(payment.interest or payment.fees)
        if invoice.payments:
            paid[invoice.id] = invoice
        made["earliest"] = min(made.get("earliest") or invoice.issue_date, invoice.issue_date)
    made["customers"], made["suppliers"] = len(used["sale"]), len(used["purchase"])
    return invoices, paid, made, sorted({r for r, _ in rates})


# --- the flow ----------------------------------------------------------------------------------------------------
def make_flow(provider: str, credentials: dict, store_name: str, made: dict, rates: list[D]):
    """A flow from the memory source into the target, mapped by hand as an accountant would in the wizard."""
    from integration_hub.connectors.memory import connector as memory
    from mappings.models import DimensionMapping, Flow
    from mappings.services import vat_mapping_set
    from tenants.services import connection_connector, connection_create, tenant_create

    spec = TARGETS[provider]
    tenant = tenant_create(name=f"Penkki {provider} Oy", slug=f"bench-{provider}-{int(time.time() * 1000)}",
                           country="FI", base_currency="EUR")
    source = connection_create(tenant=tenant, name="Laskutus", provider="memory", role="source", auth_kind="api_key",
                               credentials={"store": store_name, "api_key": "memory-key"})
    target = connection_create(tenant=tenant, name=provider.title(), provider=provider, role="target",
                               auth_kind="credentials", credentials=credentials)
    sales_journal, purchase_journal = spec["journals"]
    flow = Flow.objects.create(
        tenant=tenant, name=f"Bench into {provider}", source=source, target=target, start_date=made["earliest"],
        sales_journal_id=sales_journal, sales_journal_label=sales_journal, purchase_journal_id=purchase_journal,
        purchase_journal_label=purchase_journal, default_sales_account=spec["sales"],
        default_purchase_account=spec["purchases"], customer_collective_account=spec["customers"],
        supplier_collective_account=spec["suppliers"], credit_rounding_account=spec["rounding"][0],
        debit_rounding_account=spec["rounding"][1], sync_payments=True, payment_journal_id=spec["payment_journal"],
        payment_journal_label=spec["payment_journal"], bank_account=spec["bank"], interest_account=spec["interest"],
        collection_fees_account=spec["fees"])
    tgt = connection_connector(connection=target)
    try:
        codes = tgt.list_vat_codes()
        for kind in ("sale", "purchase"):
            for rate in rates:
                code = vat_code(codes, kind, rate)
                vat_mapping_set(flow=flow, kind=kind, source_tax_id=f"t{rate}", source_rate=rate,
                                source_label=f"ALV {rate} %", target_vat_code_id=code.id,
                                target_vat_code_label=code.code)
            standard = vat_code(codes, kind, D("25.5"))
            prefix = "sales" if kind == "sale" else "purchase"
            setattr(flow, f"{prefix}_rounding_vat_code_id", standard.id)
            setattr(flow, f"{prefix}_rounding_vat_code_label", standard.code)
        items = tgt.list_dimensions()
        for source_id, netvisor_label, procountor_code in COST_CENTRES:
            wanted = netvisor_label if provider == "netvisor" else procountor_code
            target_id, label, _ = next(i for i in items if i[1] == wanted or i[1].split(" ")[0] == wanted)
            DimensionMapping.objects.create(flow=flow, dimension="cost_center", source_value_id=source_id,
                                            source_label=netvisor_label, target_dimension_id=target_id,
                                            target_dimension_label=label)
    finally:
        tgt.close()
    flow.save()
    memory.store(store_name).tax_rates = [_tax_rate(r) for r in rates]
    return flow


def _tax_rate(rate: D):
    from integration_hub.connectors.types import TaxRate

    return TaxRate(f"t{rate}", f"ALV {rate} %", rate, "both")


def vat_code(codes, kind: str, rate: D):
    """The target's code for domestic trade at `rate` (Netvisor KOMY/KOOS, Procountor status 1), else a 0 % code."""
    fits = [c for c in codes if c.kind in (kind, "both") and c.rate == rate]
    for preferred in ("KOMY:", "KOOS:", f"{kind}:1:"):
        hit = next((c for c in fits if c.id.startswith(preferred)), None)
        if hit is not None:
            return hit
    if not fits:
        raise SystemExit(f"the target has no {kind} VAT code at {rate} %")
    return fits[0]


# --- counting ------------------------------------------------------------------------------------------------------
def netvisor_kind(entry: dict) -> str:
    return f"{entry.get('method', '?')} {(entry.get('resource') or entry.get('path') or '').lower()}"


def procountor_kind(entry: dict) -> str:
    path = re.sub(r"^/(latest|supported|v\d+)/", "/", entry.get("path", ""))
    path = re.sub(r"^/api", "", path)
    path = re.sub(r"/\d+(,\d+)+", "/{ids}", path)
    path = re.sub(r"/\d+", "/{id}", path)
    return f"{entry.get('method', '?')} {path.rstrip('/')}"


def fewest_netvisor(made: dict, by_kind: Counter, new_customers: int) -> dict:
    def read(resource: str) -> int:
        return int(by_kind.get(f"GET {resource.removesuffix('.nv')}", 0) > 0)

    return {"invoices (POST)": made["sale"] + made["purchase"], "new customers": new_customers,
            "sales payments": made["payments"], "interest/fee vouchers": made["payment_extras"],
            **{f"read {r}": read(r) for r in ("customerlist.nv", "accountlist.nv", "productlist.nv",
                                              "dimensionlist.nv", "salesinvoicelist.nv", "purchaseinvoicelist.nv")}}


def fewest_procountor(made: dict, by_kind: Counter, new_partners: int, known_partners: int) -> dict:
    def read(path: str) -> int:
        return int(by_kind.get(f"GET {path}", 0) > 0)

    documents = made["sale"] + made["purchase"]
    return {"invoices (POST + PUT receipt + PUT send)": 3 * documents, "new partners": new_partners,
            "payments (markpaid)": made["payments"], "interest/fee journals": made["payment_extras"],
            "token": int(by_kind.get("POST /oauth/token", 0) > 0),
            "read /businesspartners": max(1, math.ceil(known_partners / 50)) * read("/businesspartners"),
            **{f"read {p}": read(p) for p in ("/coa", "/vats/default", "/dimensions", "/fiscalyears")},
            "status reads": math.ceil(documents / 200)}


def outcome(flow, run, invoices: int) -> dict:
    from syncs.models import DocumentStatus, RunStatus, SyncDocument, SyncError, SyncPayment

    statuses = Counter(SyncDocument.objects.filter(flow=flow).values_list("status", flat=True))
    errors = list(SyncError.objects.filter(flow=flow).values_list("code", "message", "provider_message"))
    rate_errors = sum(1 for e in errors if any(w in " ".join(e).lower() for w in RATE_LIMIT_WORDS))
    synced, in_error = statuses.get(DocumentStatus.SYNCED, 0), statuses.get(DocumentStatus.ERROR, 0)
    undone = invoices - synced - in_error
    stopped_on_budget = run.status == RunStatus.PAUSED or (run.status == RunStatus.FAILED and any(
        w in (run.message or "").lower() for w in RATE_LIMIT_WORDS))
    payments = Counter(SyncPayment.objects.filter(flow=flow).values_list("status", flat=True))
    monitored = Counter(SyncDocument.objects.filter(flow=flow).values_list("target_status", flat=True))
    return {"synced": synced, "error": in_error, "undone": undone, "errors": errors,
            "failed_429": rate_errors + (undone if stopped_on_budget else 0), "payments": payments,
            "monitored": monitored}


def execute(flow):
    from syncs.services import execute_run, run_request

    run, _ = run_request(flow=flow, enqueue=False)
    started = time.perf_counter()
    execute_run(run.pk)
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    return run, seconds


# --- the two targets --------------------------------------------------------------------------------------------
def bench_netvisor(args, day: dt.date) -> dict:
    from django.conf import settings

    from integration_hub.connectors.memory import connector as memory
    from sandboxes.netvisor import start_sandbox

    with start_sandbox(seed="demo", **NETVISOR_KEYS) as sandbox:
        sandbox.state.request_log = deque(maxlen=1_000_000)  # keep every request of the run
        # The sandbox undoes a refused write by deep-copying the whole company before every write: with 1,000
        # invoices (and the vouchers they book) that copy is quadratic and, in this process, took most of the
        # run's time (447 s instead of ~100 s). The bench turns it off; no write is refused here, and the bench
        # says so below if one was.
        sandbox.state.snapshot = lambda: None
        sandbox.state.restore = lambda snapshot: None
        settings.HUB_NETVISOR_API_URL = sandbox.url
        settings.HUB_NETVISOR_PARTNER_ID = NETVISOR_KEYS["partner_id"]
        settings.HUB_NETVISOR_PARTNER_KEY = NETVISOR_KEYS["partner_key"]
        settings.HUB_NETVISOR_SENDER = NETVISOR_KEYS["sender"]
        # Netvisor publishes no limit and the sandbox enforces none: the hub's own 120 a minute is lifted.
        settings.HUB_NETVISOR_CALLS_PER_MINUTE = 100_000
        invoices, paid, made, rates = make_source(args.invoices, args.seed, day, TARGETS["netvisor"]["reduced"])
        store = memory.reset("bench-fi-netvisor")
        store.generator, store.invoices = invoices, paid
        credentials = {k: NETVISOR_KEYS[k] for k in ("customer_id", "customer_key", "organisation_id")}
        flow = make_flow("netvisor", credentials, "bench-fi-netvisor", made, rates)
        with sandbox.state.lock:
            known_customers = len(sandbox.state.org.customers)
            sandbox.state.request_log.clear()
        run, seconds = execute(flow)
        with sandbox.state.lock:
            log = list(sandbox.state.request_log)
            new_customers = len(sandbox.state.org.customers) - known_customers
    by_kind = Counter(netvisor_kind(e) for e in log)
    # every customer of the source is new to Netvisor (none in the demo company has their names or ids)
    fewest = fewest_netvisor(made, by_kind, made["customers"])
    return report("netvisor", args, made, flow, run, seconds, log, by_kind, fewest,
                  created=f"{new_customers} customers (suppliers need none)",
                  budget="the hub's ceiling raised to 100,000 a minute for the bench (NETVISOR_LIMITS: 1 at once, "
                         "120 a minute); the sandbox enforces no limit")


def bench_procountor(args, day: dt.date) -> dict:
    from django.conf import settings

    from integration_hub.connectors.memory import connector as memory
    from integration_hub.connectors.procountor import connector as procountor
    from sandboxes.procountor import start_sandbox

    if procountor.PROCOUNTOR_LIMITS.per_minute != args.procountor_rate:
        procountor.PROCOUNTOR_LIMITS = dataclasses.replace(procountor.PROCOUNTOR_LIMITS,
                                                           per_minute=args.procountor_rate)
    limits = procountor.PROCOUNTOR_LIMITS
    with start_sandbox(seed="demo", rate_limit=args.procountor_rate, **PROCOUNTOR_KEYS) as sandbox:
        sandbox.state.requests = deque(maxlen=1_000_000)
        settings.HUB_PROCOUNTOR_API_URL = sandbox.api_url
        settings.HUB_PROCOUNTOR_CLIENT_ID = PROCOUNTOR_KEYS["client_id"]
        settings.HUB_PROCOUNTOR_CLIENT_SECRET = PROCOUNTOR_KEYS["client_secret"]
        invoices, paid, made, rates = make_source(args.invoices, args.seed, day, TARGETS["procountor"]["reduced"])
        store = memory.reset("bench-fi-procountor")
        store.generator, store.invoices = invoices, paid
        flow = make_flow("procountor", {"api_key": PROCOUNTOR_KEYS["api_key"]}, "bench-fi-procountor", made, rates)
        with sandbox.state.lock:
            known_partners = len(sandbox.state.partners)
            sandbox.state.requests.clear()
        run, seconds = execute(flow)
        with sandbox.state.lock:
            log = list(sandbox.state.requests)
            new_partners = len(sandbox.state.partners) - known_partners
    by_kind = Counter(procountor_kind(e) for e in log)
    fewest = fewest_procountor(made, by_kind, made["customers"] + made["suppliers"], known_partners)
    return report("procountor", args, made, flow, run, seconds, log, by_kind, fewest,
                  created=f"{new_partners} business partners", pace=20,
                  budget=f"on: the sandbox refuses past {args.procountor_rate} a second (429), the hub's budget "
                         f"paces {limits.per_minute} a second, {limits.concurrent} at once")


def report(name: str, args, made: dict, flow, run, seconds: float, log: list[dict], by_kind: Counter,
           fewest: dict, *, budget: str, created: str, pace: int = 0) -> dict:
    got = outcome(flow, run, args.invoices)
    calls = len(log)
    refused = sum(1 for e in log if int(e.get("status") or 0) == 429)
    refused_writes = sum(1 for e in log if e.get("method") in ("POST", "PUT") and int(e.get("status") or 0) >= 400)
    fewest_total = sum(fewest.values())
    per_doc = calls / args.invoices
    ratio = calls / fewest_total if fewest_total else 0.0
    print(f"== {name}: rate limits {budget}")
    print(f"work: {made['sale']} sales ({made['credit_notes']} credit notes) + {made['purchase']} purchase invoices, "
          f"{made['dimension_lines']} lines with a cost centre, {made['payments']} payments "
          f"({made['payment_extras']} with interest and fees), {made['customers']} customers and "
          f"{made['suppliers']} suppliers")
    print(f"run: {run.status}, {got['synced']} synced, {got['error']} in error, {got['undone']} undone; "
          f"payments {dict(got['payments'])}; target statuses {dict(got['monitored'])}; {run.message or ''}"
          .rstrip("; "))
    if got["errors"]:
        print("  errors:", Counter(code for code, *_ in got["errors"]).most_common(5), got["errors"][:2])
    print(f"calls to {name}: {calls} (the run's call log: {run.external_calls}), {refused} refused with 429; "
          f"created there: {created}")
    print("  by kind:", ", ".join(f"{k} {v}" for k, v in by_kind.most_common()))
    print(f"  fewest possible: {fewest_total} = " + " + ".join(f"{v} {k}" for k, v in fewest.items() if v))
    print(f"calls per document: {per_doc:.3f}; fewest per document {fewest_total / args.invoices:.3f}; "
          f"ratio calls/fewest {ratio:.3f} (goal <= 1.1)")
    print(f"documents failed on 429: {got['failed_429']} (goal 0); writes refused by {name}: {refused_writes}")
    print(f"time: {seconds:.1f} s, {args.invoices / seconds:.1f} documents/s" + (
        f"; the fewest calls at {pace} a second take {fewest_total / pace:.1f} s" if pace else ""))
    return {"calls_per_doc": per_doc, "ratio": ratio, "failed_429": got["failed_429"], "refused": refused,
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--procountor-rate", type=int, default=60,
                        help="calls a second the Procountor sandbox allows (and the hub's budget paces to)")
    parser.add_argument("--only", choices=("netvisor", "procountor"))
    parser.add_argument("--budget-backend", choices=("db", "memory"),
                        help="the call budget's backend (default: the hub's own choice, the database without Redis)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-fi-", dir=os.environ.get("BENCH_TMP")) as tmp:
        for name in ("HUB_BUDGET_BACKEND", "HUB_BUDGET_REDIS_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        if args.budget_backend:
            os.environ["HUB_BUDGET_BACKEND"] = args.budget_backend
        django_setup(Path(tmp) / "hub.sqlite3")
        from django.conf import settings

        day = dt.date.today()
        from integration_hub.connectors.budget import budget_for
        from integration_hub.connectors.procountor.connector import PROCOUNTOR_LIMITS

        backend = budget_for("procountor", "bench", PROCOUNTOR_LIMITS).backend.name
        print(f"hub database: SQLite; call budget backend: {backend}; engine batches of {settings.HUB_SYNC_BATCH_SIZE}")
        results = {}
        if args.only in (None, "netvisor"):
            results["netvisor"] = bench_netvisor(args, day)
        if args.only in (None, "procountor"):
            results["procountor"] = bench_procountor(args, day)

    def figure(target: str, key: str) -> str:
        return f"{results[target][key]:.3f}" if target in results else "-"

    failed = sum(r["failed_429"] for r in results.values())
    print(f"RESULT netvisor_calls_per_doc={figure('netvisor', 'calls_per_doc')} "
          f"netvisor_ratio={figure('netvisor', 'ratio')} "
          f"procountor_calls_per_doc={figure('procountor', 'calls_per_doc')} "
          f"procountor_ratio={figure('procountor', 'ratio')} failed_429={failed}")


if __name__ == "__main__":
    main()
