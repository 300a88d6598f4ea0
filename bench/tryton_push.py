"""Push 1,000 three-line entries into a live Tryton through the connector, and the same work
with raw batched JSON-RPC calls, in the same run.

    .venv/bin/python bench/tryton_push.py [--entries 1000] [--batch 50]

Prints entries/s for both, their ratio (goal: connector >= 0.9 of raw) and HTTP calls per entry
(goal <= 0.05 with batches of 50). Last line: RESULT connector_per_s=.. raw_per_s=.. ratio=.. calls_per_entry=..
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import sys
import tempfile
import time
from decimal import Decimal as D
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The benchmark's Tryton listens on loopback, which the outbound policy refuses unless allowed.
os.environ.setdefault("HUB_OUTBOUND_ALLOW", "127.0.0.1,localhost")

import requests  # noqa: E402

from integration_hub.connectors.tryton.client import dumps, loads  # noqa: E402
from integration_hub.connectors.tryton.connector import TrytonConnector  # noqa: E402
from integration_hub.connectors.types import EntryLine, JournalEntry, Partner  # noqa: E402
from integration_hub.peers.tryton import TrytonPeer  # noqa: E402

DAY = dt.date.today().replace(day=1) - dt.timedelta(days=20)


class RawRpc:
    """The least code that does the job: login once, then batched create and post."""

    def __init__(self, url: str, database: str, user: str, password: str):
        self.endpoint = f"{url}/{database}/rpc/"
        self.http = requests.Session()
        self.calls = 0
        uid, session = self.call("common.db.login", user, {"password": password}, "en")[:2]
        token = base64.b64encode(f"{user}:{uid}:{session}".encode()).decode()
        self.http.headers["Authorization"] = f"Session {token}"
        self.context = {"company": self.call("model.res.user.get_preferences", True, {})["company"]}

    def call(self, method: str, *params):
        self.calls += 1
        response = self.http.post(self.endpoint, data=dumps({"id": self.calls, "method": method, "params": list(params)}),
                                  headers={"Content-Type": "application/json"}, timeout=300)
        response.raise_for_status()
        payload = loads(response.content)
        if payload.get("error"):
            raise RuntimeError(payload["error"])
        return payload["result"]

    def model(self, name: str, method: str, *args):
        return self.call(f"model.{name}.{method}", *args, self.context)


def entries(count: int, prefix: str, *, party: str, journal: str, vat_id: str, vat_account: str) -> list[JournalEntry]:
    result = []
    for n in range(count):
        base = D(100 + n % 37) + D(n % 100) / 100
        tax = (base * D("0.2")).quantize(D("0.01"))
        result.append(JournalEntry(
            reference=f"{prefix}-{n}", journal_id=journal, date=DAY, label=f"Bench {prefix} {n}", kind="sale",
            lines=[EntryLine("4111", debit=base + tax, label="Client", partner_id=party),
                   EntryLine("7071", credit=base, label="Sale", vat_code_id=vat_id, vat_role="base"),
                   EntryLine(vat_account, credit=tax, label="VAT", vat_code_id=vat_id, vat_role="tax")]))
    return result


def push_raw(raw: RawRpc, batch: list[JournalEntry], ids: dict, period: int, company: int) -> None:
    moves = []
    for entry in batch:
        lines = []
        for line in entry.lines:
            values = {"account": ids[line.account_number], "debit": line.debit, "credit": line.credit,
                      "description": line.label}
            if line.partner_id:
                values["party"] = int(line.partner_id)
            if line.vat_role:
                values["tax_lines"] = [["create", [{"amount": line.credit - line.debit, "type": line.vat_role,
                                                    "tax": int(line.vat_code_id)}]]]
            lines.append(values)
        moves.append({"company": company, "journal": int(entry.journal_id), "period": period, "date": entry.date,
                      "description": f"{entry.label} [hub:{entry.reference}]", "lines": [["create", lines]]})
    created = raw.model("account.move", "create", moves)
    raw.model("account.move", "post", created)


class RawBaseline:
    """The reference work on one database: a customer, the 20 % sales VAT code, the sales journal, the
    chart and the period, then three-line entries pushed by raw batched JSON-RPC."""

    def __init__(self, peer, database: str):
        self.credentials = {"url": peer.url, "database": database, "username": peer.admin_user,
                            "password": peer.admin_password}
        setup = TrytonConnector(self.credentials)
        party = setup.create_partner(Partner("bench", "Bench Client SAS"), kind="customer").id
        vat = next(v for v in setup.list_vat_codes() if v.kind == "sale" and v.rate == D(20))
        journal = next(j for j in setup.list_journals() if j.kind == "sale").id
        self.accounts = {a.number: int(a.id) for a in setup.list_accounts()}
        setup.close()
        self.common = dict(party=party, journal=journal, vat_id=vat.id, vat_account=vat.account_number)
        self.raw = RawRpc(peer.url, database, peer.admin_user, peer.admin_password)
        self.period = self.raw.model("account.period", "search", [("start_date", "<=", DAY), ("end_date", ">=", DAY),
                                                                   ("type", "=", "standard")], 0, 1, None)[0]

    def entries(self, count: int, prefix: str) -> list[JournalEntry]:
        return entries(count, prefix, **self.common)

    def push(self, count: int, prefix: str, batch: int) -> float:
        """Seconds to push `count` entries by raw JSON-RPC (the entries are built before the clock starts)."""
        work = self.entries(count, prefix)
        self.raw.calls = 0
        started = time.perf_counter()
        for start in range(0, count, batch):
            push_raw(self.raw, work[start:start + batch], self.accounts, self.period, self.raw.context["company"])
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tryton-") as tmp, TrytonPeer.start(Path(tmp)) as peer:
        database = peer.create_database(f"hub_tryton_bench_push_{int(time.time())}")
        try:
            baseline = RawBaseline(peer, database)
            # warm both paths (server caches, connection pools) with one small batch each
            TrytonConnector(baseline.credentials).create_entries(baseline.entries(10, "warm-c"), post=True)
            baseline.push(10, "warm-r", args.batch)

            # Two rounds in A-B-B-A order, so the server warming up or the machine's load drifting
            # does not favour either side. One fresh connector does both of its rounds: its set-up
            # calls (login, accounts, periods) count, once, as they would for 1,000 entries.
            half = args.entries // 2
            connector_seconds = raw_seconds = 0.0
            raw_calls = 0
            connector = TrytonConnector(baseline.credentials)
            for round_number, order in enumerate((("connector", "raw"), ("raw", "connector"))):
                for side in order:
                    if side == "connector":
                        work = baseline.entries(half, f"conn{round_number}")
                        started = time.perf_counter()
                        for start in range(0, len(work), args.batch):
                            results = connector.create_entries(work[start:start + args.batch], post=True)
                            assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
                        connector_seconds += time.perf_counter() - started
                    else:
                        raw_seconds += baseline.push(half, f"raw{round_number}", args.batch)
                        raw_calls += baseline.raw.calls
            connector_calls = len(connector.call_log)
        finally:
            peer.drop_database(database)

    connector_rate = args.entries / connector_seconds
    raw_rate = args.entries / raw_seconds
    ratio = connector_rate / raw_rate
    calls_per_entry = connector_calls / args.entries
    print(f"Tryton backend: {peer.backend}; {args.entries} three-line entries, batches of {args.batch}")
    print(f"connector: {connector_seconds:.2f} s, {connector_rate:.1f} entries/s, {connector_calls} HTTP calls "
          f"({calls_per_entry:.3f} per entry; goal <= 0.05)")
    print(f"raw JSON-RPC: {raw_seconds:.2f} s, {raw_rate:.1f} entries/s, {raw_calls} HTTP calls")
    print(f"ratio connector/raw: {ratio:.3f} (goal >= 0.9)")
    print(f"RESULT connector_per_s={connector_rate:.1f} raw_per_s={raw_rate:.1f} ratio={ratio:.3f} "
          f"calls_per_entry={calls_per_entry:.3f}")


if __name__ == "__main__":
    main()
