"""Exactly once under faults: invoices into a live Tryton through a gateway that fails 20 % of the calls.

    .venv/bin/python bench/faults.py [--invoices 500] [--rate 0.2]

The same invoices (fake source, each with its PDF) go into two fresh Tryton companies:
1. clean: straight to Tryton, one run (the baseline, measured in the same process);
2. faulty: through tests/support/fault_proxy.py, which on 20 % of the calls (seeded) answers
   500/502/503/504 or 429 (Retry-After: 1) before forwarding, delays the call 0.2 s, or answers
   500/503/504 or drops the connection *after* Tryton applied the call.
Runs are repeated until nothing is left to do (at most 6). Then Tryton is counted: moves per hub
reference (duplicates), drafts left in a posting flow, moves without their file.
Goals: duplicates 0, runs 1, time <= 2x the clean run, drafts 0, files missing 0.
Last line: RESULT duplicates=.. runs=.. time_ratio=.. drafts=.. missing_files=.. faults=..
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("before:500", "before:502", "before:503", "before:504", "before:429", "delay:0.2",
         "after:500", "after:503", "after:504", "after:drop")


def with_files(count: int, store) -> None:
    """The backfill generator, each invoice with a (valid) PDF the flow attaches."""
    from bench.backfill import generator
    from integration_hub.connectors.types import Attachment
    from integration_hub.pdfs import make_pdf

    made = generator(count)
    pdf = make_pdf(["Bench invoice"])

    def invoices():
        for invoice in made():
            invoice.has_attachment = True
            store.attachments[invoice.id] = Attachment(f"{invoice.number}.pdf", "application/pdf", pdf)
            yield invoice

    store.generator = invoices


def tally(peer, database: str) -> dict:
    from integration_hub.connectors.tryton.connector import TrytonConnector

    books = TrytonConnector({"url": peer.url, "database": database, "username": peer.admin_user,
                             "password": peer.admin_password})
    moves = books.client.search_read("account.move", [("description", "like", "%[hub:%")], ["description", "state"])
    files = {row["resource"] for row in books.client.search_read(
        "ir.attachment", [("resource", "like", "account.move,%")], ["resource"])}
    books.close()
    per_reference = Counter(m["description"].rsplit("[hub:", 1)[1].rstrip("]") for m in moves)
    return {"moves": len(moves), "references": len(per_reference),
            "duplicates": sum(n - 1 for n in per_reference.values()),
            "drafts": sum(1 for m in moves if m["state"] != "posted"),
            "missing_files": sum(1 for m in moves if f"account.move,{m['id']}" not in files)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=500)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    from bench.backfill import django_setup, make_flow, run_flow
    from integration_hub.peers.tryton import TrytonPeer

    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp, TrytonPeer.start(Path(tmp) / "tryton") as peer:
        django_setup(Path(tmp) / "hub.sqlite3")
        from django.conf import settings

        from integration_hub.connectors.memory import connector as memory
        from syncs.models import DocumentStatus, SyncDocument
        from tests.support.fault_proxy import FaultProxy

        settings.HUB_OUTBOUND_ALLOW = "127.0.0.1,localhost"
        stamp = int(time.time())
        results = {}
        for label, rate in (("clean", 0.0), ("faulty", args.rate)):
            database = peer.create_database(f"hub_tryton_bench_faults_{label}_{stamp}")
            proxy = FaultProxy(peer.url)
            proxy.randomly(rate, KINDS, seed=args.seed)
            source = memory.reset(f"faults-src-{label}")
            with_files(args.invoices, source)
            flow = make_flow({"url": proxy.url, "database": database, "username": peer.admin_user,
                              "password": peer.admin_password}, source_store=f"faults-src-{label}",
                             target_provider="tryton")
            proxy.faults_done.clear()
            seconds, runs = 0.0, 0
            while runs < 6:
                run, spent, _ = run_flow(flow)
                seconds += spent
                runs += 1
                left = SyncDocument.objects.filter(flow=flow).exclude(status=DocumentStatus.SYNCED).count()
                if run.status == "succeeded" and left == 0 and \
                        SyncDocument.objects.filter(flow=flow).count() == args.invoices:
                    break
                print(f"  {label} run {runs}: {run.status} ({run.message[:120]}), {left} document(s) left")
            proxy.close()
            counts = tally(peer, database)
            results[label] = {"seconds": seconds, "runs": runs, "faults": len(proxy.faults_done), **counts}
            print(f"{label}: {args.invoices} invoices, {runs} run(s), {seconds:.1f} s, {len(proxy.faults_done)} "
                  f"fault(s) injected; Tryton: {counts['moves']} moves for {counts['references']} references, "
                  f"{counts['duplicates']} duplicate(s), {counts['drafts']} draft(s), "
                  f"{counts['missing_files']} without file")
            peer.drop_database(database)
    faulty, clean = results["faulty"], results["clean"]
    ratio = faulty["seconds"] / clean["seconds"]
    print(f"time under faults vs clean: {ratio:.2f}x (goal <= 2); runs needed: {faulty['runs']} (goal 1)")
    print(f"RESULT duplicates={faulty['duplicates']} runs={faulty['runs']} time_ratio={ratio:.2f} "
          f"drafts={faulty['drafts']} missing_files={faulty['missing_files']} faults={faulty['faults']}")


if __name__ == "__main__":
    main()
