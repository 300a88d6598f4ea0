"""Documents created in the ERP at a steady rate; how long until each is in Xero (issue 16: p95 <= 60 s).

    .venv/bin/python bench/erp_latency.py [--minutes 3] [--rate 20] [--follow 240] [--poll 5]

Set-up: a Tryton peer (PostgreSQL when it answers, else SQLite) with an ERP company (`seed_erp`, small), the Xero
sandbox served in this process at **real speed** (x1: latency is measured in wall seconds and Xero's limits, 60
calls a minute and 5 at once, apply as they are, so a minute of the budget is a real minute), and a document flow
between them in a migrated SQLite database of the bench's own. The flow is activated as the hub does it
(`flow_activate`: its schedule every minute), and a first run settles the seeded history (contacts, items) before
the clock starts; the sandbox then forgets its counts.

While documents are created, the hub runs as a worker cluster would: django-q2's own `scheduler()` is called every
30 s (the cadence of its guard loop, phase random) and the tasks it creates go to two worker threads (Q_WORKERS'
default), which run `syncs.tasks.scheduled_run` as a worker does. Each run follows the ERP (HUB_DOCUMENT_FOLLOW_
SECONDS, 100 s here by default instead of the hub's 240 so that three minutes hold hand-overs: pessimistic),
polling every HUB_DOCUMENT_POLL_SECONDS, then hands over to the next one at the schedule's fire. As activation
does, a first following run is started when the measured time begins.

Documents: quotes, sales orders and purchase orders in turn (`erp_add_sale` state quotation / confirmed,
`erp_add_purchase` confirmed, one to three lines), `--rate` a minute for `--minutes`, started at fixed times by a
few threads (each creation is a Tryton client subprocess of a few seconds). A document counts as committed when its
subprocess returned (after Tryton's commit: the latency is short by the subprocess's exit, under a second; a
document seen in Xero before its creation returned shows as a small negative latency). It counts
as in Xero when the sandbox's state first holds a document tagged with its reference (read under the sandbox's lock
every 0.25 s: no API call, nothing counted).

Printed: latency p50, p95, max; calls to Xero's API per document (every call of the hub during the measured time,
answered or refused, counted by the sandbox's limiter); 429 refusals; documents failed on 429 (in error with a rate
limit reason, or never in Xero); peak calls in a sandbox minute (limit 60).
Last line: RESULT p50_s=.. p95_s=.. calls_per_document=.. failed_429=.. peak_minute=..
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import logging
import os
import queue
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal as D
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HUB_OUTBOUND_ALLOW", "127.0.0.1,localhost")

ORGANISATION = "Demo Company (Global)"
WORKERS = 2  # Q_WORKERS' default
SCHEDULER_SECONDS = 30  # django-q2's guard calls scheduler() when its counter reaches 30 s
TAG = re.compile(r"\[hub ([^\]]+)\]")
KINDS = ("quote", "sales_order", "purchase_order")
PREFIX = {"quote": "q", "sales_order": "so", "purchase_order": "po"}
RATE_LIMIT_WORDS = ("rate limit", "too many requests", "status 429", "http 429", "call budget", "calls allowed")


def django_setup(database: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    for name in ("HUB_BUDGET_BACKEND", "HUB_BUDGET_REDIS_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # the budget the hub picks without Redis: the database's
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def make_flow(peer, database: str, sandbox):
    """A document flow from the ERP company to the demo organisation, VAT mapped as the wizard would."""
    from integration_hub.connectors.tryton.erp import TrytonErp
    from mappings.models import Flow, FlowKind
    from mappings.services import vat_mapping_set
    from sandboxes.xero.seed import tenant_id
    from tenants.services import connection_create, tenant_create

    tenant = tenant_create(name="Bench ERP Ltd", slug=f"bench-erp-{int(time.time() * 1000)}", country="GB",
                           base_currency="GBP")
    credentials = {"url": peer.url, "database": database, "username": peer.admin_user,
                   "password": peer.admin_password}
    source = connection_create(tenant=tenant, name="Tryton ERP", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials)
    token = sandbox.connect([tenant_id(ORGANISATION)])
    target = connection_create(tenant=tenant, name="Xero", provider="xero", role="target", auth_kind="oauth2",
                               credentials={"access_token": token["access_token"],
                                            "refresh_token": token["refresh_token"],
                                            "expires_at": time.time() + float(token.get("expires_in", 1800)),
                                            "tenant_id": tenant_id(ORGANISATION)})
    flow = Flow.objects.create(tenant=tenant, name="ERP to Xero", kind=FlowKind.DOCUMENTS, source=source,
                               target=target, default_sales_account="200", default_purchase_account="310",
                               create_contacts=True, create_items=True,
                               start_date=dt.date.today() - dt.timedelta(days=60))
    codes = {("sale", D("20")): "OUTPUT2", ("purchase", D("20")): "INPUT2", ("sale", D("5.5")): "RROUTPUT",
             ("purchase", D("5.5")): "RRINPUT", ("sale", D("10")): "RROUTPUT", ("purchase", D("10")): "RRINPUT"}
    erp = TrytonErp(credentials)
    for product in erp.list_products():
        for side, taxes in (("sale", product.sale_taxes), ("purchase", product.purchase_taxes)):
            for tax in taxes:
                code = codes.get((side, tax.rate), "NONE" if not tax.rate else "")
                if code:
                    vat_mapping_set(flow=flow, kind=side, source_tax_id=tax.id, source_rate=tax.rate,
                                    target_vat_code_id=code)
    erp.close()
    vat_mapping_set(flow=flow, kind="sale", source_tax_id="rate-0", source_rate=D("0"),
                    target_vat_code_id="ZERORATEDOUTPUT")
    vat_mapping_set(flow=flow, kind="purchase", source_tax_id="rate-0", source_rate=D("0"),
                    target_vat_code_id="ZERORATEDINPUT")
    return flow


class Cluster:
    """django-q2's scheduler on its cadence and WORKERS worker threads: what `qcluster` does for schedules."""

    def __init__(self) -> None:
        self.tasks: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.fired = Counter()

    def start(self) -> None:
        import django_q.scheduler as q_scheduler

        def enqueue(func, *args, **kwargs):
            kwargs.pop("q_options", None)
            self.tasks.put((func, args, kwargs))
            self.fired[func] += 1
            return uuid.uuid4().hex  # a task id, as django-q2 makes them (its log humanizes it)

        q_scheduler.async_task = enqueue  # the scheduler's tasks go to this bench's workers
        logging.getLogger("django-q").setLevel(logging.ERROR)  # its per-task lines and the sync=True warning
        self.threads = [threading.Thread(target=self._scheduler, args=(q_scheduler.scheduler,), daemon=True)]
        self.threads += [threading.Thread(target=self._worker, daemon=True) for _ in range(WORKERS)]
        for thread in self.threads:
            thread.start()

    def _scheduler(self, scheduler) -> None:
        from django.db import connection

        phase = random.uniform(0, SCHEDULER_SECONDS)
        while not self.stop.wait(phase):
            phase = SCHEDULER_SECONDS
            scheduler(broker=object())
            connection.close()

    def _worker(self) -> None:
        from django.db import close_old_connections, connection

        while not self.stop.is_set():
            try:
                func, args, kwargs = self.tasks.get(timeout=0.5)
            except queue.Empty:
                continue
            module, _, name = func.rpartition(".")
            try:
                getattr(importlib.import_module(module), name)(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a worker logs a failed task and takes the next one
                print(f"task {func}{args} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            finally:
                close_old_connections()
        connection.close()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


class Watcher:
    """When each hub reference first appears in the sandbox's state (its lock held: no API call)."""

    def __init__(self, sandbox) -> None:
        from sandboxes.xero.seed import tenant_id

        self.sandbox, self.tenant = sandbox, tenant_id(ORGANISATION)
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.wait(0.25):
            now = time.time()
            with self.sandbox.state.lock:
                org = self.sandbox.state.org(self.tenant)
                texts = [f"{d.get('Reference') or ''} {d.get('InvoiceNumber') or ''}"
                         for endpoint in ("Quotes", "Invoices", "PurchaseOrders")
                         for d in org.documents[endpoint].values()]
            for text in texts:
                for reference in TAG.findall(text):
                    self.seen.setdefault(reference, now)


def create_documents(peer, database: str, seeded: dict, minutes: float, rate: float, made: list,
                     errors: list) -> None:
    """`rate` documents a minute for `minutes`, each started at its own time (threads: a creation takes seconds)."""
    rng = random.Random(16)
    customers = [c["id"] for c in seeded["customers"]]
    suppliers = [s["id"] for s in seeded["suppliers"]]
    salable = [p["code"] for p in seeded["products"] if p.get("salable", True)]
    purchasable = [p["code"] for p in seeded["products"] if p.get("purchasable", True)]
    count = int(minutes * rate)
    interval = 60.0 / rate
    start = time.time() + 1
    pool: list[threading.Thread] = []

    def one(n: int, kind: str, party, lines) -> None:
        try:
            if kind == "purchase_order":
                result = peer.run_setup(database, "erp_add_purchase", supplier=party, lines=lines, state="confirmed")
            else:
                result = peer.run_setup(database, "erp_add_sale", customer=party, lines=lines,
                                        state="quotation" if kind == "quote" else "confirmed")
            made.append({"n": n, "kind": kind, "id": result["id"], "number": result.get("number"),
                         "committed": time.time()})
        except Exception as exc:  # noqa: BLE001 - counted and shown, the bench goes on
            errors.append(f"{kind} {n}: {exc}")

    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        codes = purchasable if kind == "purchase_order" else salable
        lines = [{"product": rng.choice(codes), "quantity": rng.choice((1, 2, 3, 5))}
                 for _ in range(rng.choice((1, 1, 2, 3)))]
        party = rng.choice(suppliers if kind == "purchase_order" else customers)
        time.sleep(max(0.0, start + n * interval - time.time()))
        thread = threading.Thread(target=one, args=(n, kind, party, lines), daemon=True)
        thread.start()
        pool.append(thread)
    for thread in pool:
        thread.join()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=3.0, help="how long documents are created")
    parser.add_argument("--rate", type=float, default=20.0, help="documents created a minute")
    parser.add_argument("--follow", type=float, default=100.0,
                        help="HUB_DOCUMENT_FOLLOW_SECONDS (the hub's default is 240; shorter here so that a few "
                             "minutes hold hand-overs from one run to the next)")
    parser.add_argument("--poll", type=float, default=5.0, help="HUB_DOCUMENT_POLL_SECONDS")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the last documents")
    args = parser.parse_args()

    from integration_hub.peers.tryton import TrytonPeer

    with tempfile.TemporaryDirectory(prefix="bench-erp-") as tmp, TrytonPeer.start(Path(tmp) / "tryton") as peer:
        django_setup(Path(tmp) / "hub.sqlite3")
        from django.conf import settings

        from mappings.models import Flow
        from sandboxes.xero.app import start_sandbox
        from sandboxes.xero.seed import tenant_id
        from syncs.models import RunStatus, SyncError, SyncRun
        from syncs.services import execute_run, flow_activate, run_request

        database = peer.create_database(f"hub_bench_erp_{int(time.time())}", kind="erp",
                                        company_name="Usine Banc SAS")
        seeded = peer.run_setup(database, "seed_erp", customers=6, suppliers=3, products=6, quotes=2, orders=2,
                                invoiced_orders=1, purchase_orders=2, billed_purchases=1, seed=16)
        with start_sandbox(seed="demo", speed=1.0) as sandbox:
            settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = sandbox.url
            settings.HUB_XERO_CLOCK_SPEED = 1.0
            flow = make_flow(peer, database, sandbox)
            # The seeded history first (contacts, items, the documents already there), not measured.
            settings.HUB_DOCUMENT_FOLLOW_SECONDS = 0
            flow_activate(flow=flow, start_first_run=False)
            first, _ = run_request(flow=flow, enqueue=False)
            execute_run(first.pk)
            first.refresh_from_db()
            print(f"first run (seeded history, not measured): {first.status}, {first.synced_count} synced, "
                  f"{first.error_count} in error, {first.external_calls} calls {first.message}".rstrip())

            settings.HUB_DOCUMENT_FOLLOW_SECONDS, settings.HUB_DOCUMENT_POLL_SECONDS = args.follow, args.poll
            sandbox.limiter.reset()
            watcher = Watcher(sandbox)
            watcher.thread.start()
            cluster = Cluster()
            cluster.start()
            # As activation does, a run starts now (and follows); the schedule starts the next ones.
            cluster.tasks.put(("syncs.tasks.scheduled_run", (flow.pk,), {}))
            made: list[dict] = []
            failures: list[str] = []
            started = time.time()
            create_documents(peer, database, seeded, args.minutes, args.rate, made, failures)
            created_s = time.time() - started
            wanted = {f"{flow.pk}-{PREFIX[d['kind']]}{d['id']}": d for d in made}
            deadline = time.time() + args.drain
            while time.time() < deadline and any(ref not in watcher.seen for ref in wanted):
                time.sleep(1)
            Flow.objects.filter(pk=flow.pk).update(enabled=False)  # the following run ends at its next poll
            watcher.stop.set()
            stats = sandbox.limiter.stats().get(tenant_id(ORGANISATION), {})
            cluster.join()
            watcher.thread.join()

        runs = list(SyncRun.objects.filter(flow=flow).exclude(pk=first.pk).order_by("pk"))
        errors = list(SyncError.objects.filter(flow=flow).values_list("code", "message", "provider_message"))
        peer.drop_database(database)

    latencies = sorted(watcher.seen[ref] - d["committed"] for ref, d in wanted.items() if ref in watcher.seen)
    missing = [ref for ref in wanted if ref not in watcher.seen]
    rate_errors = sum(1 for e in errors if any(w in " ".join(e).lower() for w in RATE_LIMIT_WORDS))
    stopped_on_budget = any(r.status == RunStatus.PAUSED or (r.status == RunStatus.FAILED and any(
        w in (r.message or "").lower() for w in RATE_LIMIT_WORDS)) for r in runs)
    failed_429 = rate_errors + (len(missing) if stopped_on_budget else 0)
    calls = stats.get("calls", 0) + stats.get("refused", 0)
    per_doc = calls / len(made) if made else 0.0
    p50 = statistics.median(latencies) if latencies else float("nan")
    p95 = percentile(latencies, 0.95) if latencies else float("nan")
    by_kind = {k: [watcher.seen[r] - d["committed"] for r, d in wanted.items() if d["kind"] == k and r in watcher.seen]
               for k in KINDS}

    print(f"Tryton backend: {peer.backend}; hub database: SQLite; Xero sandbox at real speed (x1); follow "
          f"{args.follow:g} s, poll {args.poll:g} s; {WORKERS} workers, django-q2's scheduler every "
          f"{SCHEDULER_SECONDS} s")
    print(f"created: {len(made)} documents in {created_s:.0f} s ({args.rate:g} a minute for {args.minutes:g} min: "
          f"{Counter(d['kind'] for d in made)}), {len(failures)} creations failed {failures[:2] or ''}".rstrip())
    print(f"in Xero: {len(latencies)}, never seen: {len(missing)} {missing[:5] or ''}".rstrip())
    if latencies:
        print(f"latency: p50 {p50:.1f} s, p95 {p95:.1f} s (goal <= 60), max {latencies[-1]:.1f} s, min "
              f"{latencies[0]:.1f} s; by kind (p50/max): " + ", ".join(
                  f"{k} {statistics.median(v):.1f}/{max(v):.1f}" for k, v in by_kind.items() if v))
    print(f"runs: {len(runs)} ({Counter(r.status for r in runs)}), triggers {Counter(r.trigger for r in runs)}, "
          f"scheduler tasks {dict(cluster.fired)}")
    if errors:
        print("errors:", Counter(code for code, *_ in errors).most_common(5), errors[:2])
    print(f"calls to Xero's API: {calls} = {per_doc:.3f} per document; refused (429): {stats.get('refused')} "
          f"{stats.get('refused_by') or ''}".rstrip())
    print(f"documents failed on 429: {failed_429} (goal 0)")
    print(f"sandbox: peak {stats.get('peak_minute')} calls in a minute (limit 60), peak "
          f"{stats.get('peak_concurrent')} at once (limit 5)")
    print(f"RESULT p50_s={p50:.1f} p95_s={p95:.1f} calls_per_document={per_doc:.3f} failed_429={failed_429} "
          f"peak_minute={stats.get('peak_minute')}")


if __name__ == "__main__":
    main()
