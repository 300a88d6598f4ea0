"""Backfill invoices through the whole engine, against the raw batched push measured in the same run.

    .venv/bin/python bench/backfill.py [--invoices 2000] [--big 100000]

1. Throughput: 2,000 invoices from the in-process fake source -> hub engine (runs, bindings,
   partner matching, outcomes in the hub's database) -> a live Tryton. Baseline: the same number
   of three-line entries pushed with raw batched JSON-RPC (bench/tryton_push.py), same server.
2. Database queries per document during that run (goal: constant, <= 5).
3. Peak memory (max RSS of a fresh process) for 2,000 vs 100,000 documents from the fake source
   into a fake target that keeps nothing, not even the references (goal: < 5 % growth): the
   growth measured is the hub's alone, and the engine must stream, not accumulate.
Last line: RESULT invoices_per_s=.. raw_per_s=.. ratio=.. queries_per_doc=.. mem_growth_pct=..
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal as D
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARTNERS = 40
DAY = dt.date.today().replace(day=1) - dt.timedelta(days=20)


def django_setup(database: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def siren(n: int) -> str:
    """A valid SIREN (Luhn) derived from n."""
    body = f"{(n * 7919 + 100_000) % 100_000_000:08d}"
    total = 0
    for index, digit in enumerate(reversed(body)):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


def fr_vat(siren_code: str) -> str:
    return f"FR{(12 + 3 * (int(siren_code) % 97)) % 97:02d}{siren_code}"


def generator(count: int):
    """Invoices made on the fly: the source holds none of them in memory."""
    from integration_hub.connectors.types import Invoice, InvoiceKind, InvoiceLine, Partner

    stamp = dt.datetime.now(dt.timezone.utc)

    def invoices():
        for n in range(count):
            base = D(100 + n % 37) + D(n % 100) / 100
            tax = (base * D("0.2")).quantize(D("0.01"))
            who = n % PARTNERS
            partner = Partner(id=f"c{who}", name=f"Client Bench {who:03d} SARL",
                              vat_number=fr_vat(siren(who)) if who % 2 else "")
            yield Invoice(id=f"inv-{n}", number=f"FB-{n:06d}", kind=InvoiceKind.SALE, issue_date=DAY, currency="EUR",
                          lines=[InvoiceLine(description=f"Prestation {n}", quantity=D(1), unit_price=base,
                                             untaxed_amount=base, tax_amount=tax, tax_rate=D(20), tax_code="t20",
                                             account_number="7071")],
                          untaxed_amount=base, tax_amount=tax, total_amount=base + tax, updated_at=stamp,
                          partner_id=partner.id, partner=partner, has_attachment=False)

    return invoices


def make_flow(target_credentials: dict, *, source_store: str, target_provider: str):
    from integration_hub.connectors import registry
    from integration_hub.connectors.types import TaxRate
    from mappings.autoconfigure import flow_apply_suggestions
    from mappings.models import Flow
    from tenants.services import connection_create, tenant_create

    tenant = tenant_create(name="Bench SAS", slug=f"bench-{int(time.time() * 1000)}")
    source = connection_create(tenant=tenant, name="Fake invoicing", provider="memory", role="source",
                               auth_kind="api_key", credentials={"store": source_store, "api_key": "memory-key"})
    auth = "credentials" if target_provider == "tryton" else "api_key"
    target = connection_create(tenant=tenant, name="Books", provider=target_provider, role="target", auth_kind=auth,
                               credentials=target_credentials)
    flow = Flow.objects.create(tenant=tenant, name="Backfill", source=source, target=target,
                               start_date=DAY.replace(day=1))
    from integration_hub.connectors.memory import connector as memory

    memory.store(source_store).tax_rates = [TaxRate("t20", "TVA 20 %", D(20), "sale")]
    src = registry.get("memory").connector({"store": source_store, "api_key": "memory-key"}, auth_kind="api_key")
    tgt = registry.get(target_provider).connector(target_credentials, auth_kind=auth)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    return flow


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def run_flow(flow):
    from django.db import connection

    from syncs.services import execute_run, run_request

    run, _ = run_request(flow=flow, enqueue=False)
    counter = QueryCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        execute_run(run.pk)
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    return run, seconds, counter.count


def memory_probe(count: int) -> None:
    """In a fresh process: fake source -> fake target, print peak RSS and queries."""
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        django_setup(Path(tmp) / "hub.sqlite3")
        from integration_hub.connectors.memory import connector as memory
        from tests.support.books import seed_target

        source = memory.reset("mem-src")
        source.generator = generator(count)
        target = memory.reset("mem-tgt")
        target.keep_entries = target.keep_references = False  # holds nothing: the growth is the hub's
        seed_target(target)
        flow = make_flow({"store": "mem-tgt", "api_key": "memory-key"}, source_store="mem-src",
                         target_provider="memory")
        run, seconds, queries = run_flow(flow)
        assert run.synced_count == count, (run.status, run.message, run.synced_count)
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"count": count, "peak_kb": peak_kb, "seconds": seconds, "queries": queries}))


def throughput(count: int, batch: int) -> dict:
    from bench.tryton_push import RawBaseline
    from integration_hub.connectors.memory import connector as memory
    from integration_hub.peers.tryton import TrytonPeer

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp, TrytonPeer.start(Path(tmp) / "tryton") as peer:
        django_setup(Path(tmp) / "hub.sqlite3")
        database = peer.create_database(f"hub_tryton_bench_backfill_{int(time.time())}")
        credentials = {"url": peer.url, "database": database, "username": peer.admin_user,
                       "password": peer.admin_password}
        # raw baseline: the same number of three-line entries, batches of 50, same server; half before
        # and half after the engine's run, so neither side profits from the server warming up
        baseline = RawBaseline(peer, database)
        baseline.push(10, "warm", batch)
        raw_seconds = baseline.push(count // 2, "raw-a", batch)

        source = memory.reset("bench-src")
        source.generator = generator(count)
        flow = make_flow(credentials, source_store="bench-src", target_provider="tryton")
        run, seconds, queries = run_flow(flow)
        raw_seconds += baseline.push(count - count // 2, "raw-b", batch)
        assert run.synced_count == count, (run.status, run.message, run.synced_count, run.error_count)
        peer.drop_database(database)
        return {"backend": peer.backend, "raw_seconds": raw_seconds, "seconds": seconds, "queries": queries,
                "calls": run.external_calls}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--big", type=int, default=100000)
    parser.add_argument("--memory", type=int, help=argparse.SUPPRESS)  # internal: one memory probe
    args = parser.parse_args()
    if args.memory:
        memory_probe(args.memory)
        return

    def probe(count: int) -> dict:
        out = subprocess.run([sys.executable, __file__, "--memory", str(count)], capture_output=True, text=True,
                             check=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])

    small, big = probe(args.invoices), probe(args.big)
    growth = (big["peak_kb"] - small["peak_kb"]) / small["peak_kb"] * 100
    result = throughput(args.invoices, 50)
    invoices_per_s = args.invoices / result["seconds"]
    raw_per_s = args.invoices / result["raw_seconds"]
    ratio = invoices_per_s / raw_per_s
    queries_per_doc = result["queries"] / args.invoices
    print(f"Tryton backend: {result['backend']}; hub database: SQLite")
    print(f"engine: {args.invoices} invoices in {result['seconds']:.2f} s = {invoices_per_s:.1f}/s, "
          f"{result['calls']} external calls, {result['queries']} queries ({queries_per_doc:.3f} per document)")
    print(f"raw batched push: {args.invoices} entries in {result['raw_seconds']:.2f} s = {raw_per_s:.1f}/s")
    print(f"ratio engine/raw: {ratio:.3f} (goal >= 0.85)")
    print(f"fake source -> fake target: {args.invoices} docs peak RSS {small['peak_kb'] / 1024:.1f} MiB "
          f"({small['queries'] / args.invoices:.3f} queries/doc, {small['seconds']:.1f} s); {args.big} docs peak RSS "
          f"{big['peak_kb'] / 1024:.1f} MiB ({big['queries'] / args.big:.3f} queries/doc, {big['seconds']:.1f} s)")
    print(f"memory growth {args.big // args.invoices}x documents: {growth:.1f} % (goal < 5 %)")
    print(f"RESULT invoices_per_s={invoices_per_s:.1f} raw_per_s={raw_per_s:.1f} ratio={ratio:.3f} "
          f"queries_per_doc={queries_per_doc:.3f} mem_growth_pct={growth:.1f}")


if __name__ == "__main__":
    main()
