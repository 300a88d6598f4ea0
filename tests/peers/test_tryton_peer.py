"""The Tryton peer: a real trytond server prepared from a cached template database.

Plain pytest (no Django). One peer per module; every test talks JSON-RPC to it with
``requests`` the way the hub does. Force the backend with HUB_TRYTON_BACKEND=sqlite|postgresql.
"""
from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")

if importlib.util.find_spec("trytond") is None:  # find_spec does not import trytond
    pytest.skip("trytond is not installed (pip install -e '.[tryton]')", allow_module_level=True)

from integration_hub.peers.tryton import TrytonPeer, TrytonPeerError  # noqa: E402

pytestmark = pytest.mark.tryton
REPO_ROOT = Path(__file__).resolve().parents[2]


def _decimal(value: str) -> dict:
    return {"__class__": "Decimal", "decimal": value}


def _date(value: dt.date) -> dict:
    return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}


class JsonRpc:
    """The smallest Tryton JSON-RPC client: login, then model calls ending with a context."""

    def __init__(self, url: str, database: str):
        self.endpoint = f"{url}/{database}/rpc/"
        self.http = requests.Session()
        self.counter = 0

    def post(self, method: str, params: list) -> requests.Response:
        self.counter += 1
        return self.http.post(self.endpoint, json={"id": self.counter, "method": method,
                                                   "params": params}, timeout=120)

    def call(self, method: str, *params):
        response = self.post(method, list(params))
        response.raise_for_status()
        payload = response.json()
        if payload.get("error"):
            raise RuntimeError(payload["error"])
        return payload["result"]

    def login(self, user: str, password: str) -> int:
        uid, session = self.call("common.db.login", user, {"password": password}, "en")[:2]
        token = base64.b64encode(f"{user}:{uid}:{session}".encode()).decode()
        self.http.headers["Authorization"] = f"Session {token}"
        return uid

    def model(self, name: str, method: str, *args):
        return self.call(f"model.{name}.{method}", *args, {})


def _unique(label: str) -> str:
    return f"hub_tryton_t_{label}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    backend = os.environ.get("HUB_TRYTON_BACKEND", "auto")
    started = time.monotonic()
    with TrytonPeer.start(tmp_path_factory.mktemp("tryton-peer"), backend=backend) as running:
        print(f"\nTryton peer {running.backend} ready in {time.monotonic() - started:.1f} s "
              f"({running.timings})")
        yield running


@pytest.fixture(scope="module")
def shared_db(peer):
    return peer.create_database(_unique("shared"))


@pytest.fixture
def admin(peer, shared_db):
    rpc = JsonRpc(peer.url, shared_db)
    rpc.login(peer.admin_user, peer.admin_password)
    return rpc


def test_the_peer_serves_the_french_chart_to_an_admin_login(peer, shared_db):
    rpc = JsonRpc(peer.url, shared_db)
    uid = rpc.login(peer.admin_user, peer.admin_password)
    assert uid > 0
    accounts = rpc.model("account.account", "search_read", [], 0, None, None,
                         ["code", "name", "closed"])
    assert len(accounts) > 1000
    by_code = {a["code"]: a for a in accounts}
    assert by_code["411"]["closed"] and not by_code["4111"]["closed"]
    assert not by_code["4011"]["closed"]
    assert {"706", "7071", "6071", "758", "658", "44571", "44566"} <= set(by_code)


def test_two_databases_cloned_from_the_template_are_independent(peer):
    first, second = peer.create_database(_unique("a")), peer.create_database(_unique("b"))
    rpc_first, rpc_second = JsonRpc(peer.url, first), JsonRpc(peer.url, second)
    for rpc in (rpc_first, rpc_second):
        rpc.login(peer.admin_user, peer.admin_password)
    name = f"Only in {first}"
    rpc_first.model("party.party", "create", [{"name": name}])
    assert rpc_first.model("party.party", "search_count", [["name", "=", name]]) == 1
    assert rpc_second.model("party.party", "search_count", [["name", "=", name]]) == 0
    peer.drop_database(second)
    assert second not in peer.databases


@pytest.mark.clock
def test_postgresql_refuses_to_post_an_unbalanced_move(peer, admin):
    if peer.backend != "postgresql":
        pytest.skip("Tryton on SQLite posts unbalanced moves (Decimal stored as bytes)")
    today = dt.date.today()
    journal = admin.model("account.journal", "search", [["code", "=", "MISC"]], 0, 1, None)[0]
    period = admin.model("account.period", "search",
                         [["start_date", "<=", _date(today)], ["end_date", ">=", _date(today)],
                          ["type", "=", "standard"]], 0, 1, None)[0]
    accounts = {a["code"]: a["id"] for a in admin.model(
        "account.account", "search_read", [["code", "in", ["658", "758"]]], 0, None, None,
        ["code"])}
    company = admin.model("company.company", "search", [], 0, 1, None)[0]
    # A context of {} carries no company: give it explicitly (or pass the user preferences).
    move_id, = admin.model("account.move", "create", [{
        "company": company, "journal": journal, "period": period, "date": _date(today),
        "lines": [["create", [
            {"account": accounts["658"], "debit": _decimal("100.00"), "credit": _decimal("0")},
            {"account": accounts["758"], "debit": _decimal("0"), "credit": _decimal("60.00")},
        ]]],
    }])
    with pytest.raises(RuntimeError, match="balance"):
        admin.model("account.move", "post", [move_id])
    state = admin.model("account.move", "read", [move_id], ["state"])[0]["state"]
    assert state == "draft"


@pytest.mark.clock
def test_seed_invoicing_creates_posted_invoices_readable_over_json_rpc(peer):
    db = peer.create_database(_unique("seed"), company_name="Source Factures SARL")
    year = dt.date.today().year
    seeded = peer.run_setup(
        db, "seed_invoicing", customers=4, suppliers=3, customer_invoices=5,
        supplier_invoices=4, seed=7, credit_note_every=3,
        dates=[f"{year}-01-15", f"{year}-02-10", f"{year - 1}-11-30"])
    assert len(seeded["invoice_ids"]) == 9
    assert {p["role"] for p in seeded["parties"]} == {"customer", "supplier"}
    assert any(i["type"] == "fr_siret" for p in seeded["parties"] for i in p["identifiers"])

    rpc = JsonRpc(peer.url, db)
    rpc.login(peer.admin_user, peer.admin_password)
    invoices = rpc.model("account.invoice", "search_read", [["id", "in", seeded["invoice_ids"]]],
                         0, None, None, ["number", "state", "type", "total_amount", "party"])
    assert len(invoices) == 9
    assert {i["state"] for i in invoices} == {"posted"}
    assert {i["type"] for i in invoices} == {"out", "in"}
    assert sorted(i["number"] for i in invoices) == sorted(seeded["numbers"])
    assert all(i["number"] for i in invoices)
    assert any(float(i["total_amount"]["decimal"]) < 0 for i in invoices)  # credit notes
    company = rpc.model("company.company", "search_read", [], 0, 1, None, ["rec_name"])[0]
    assert company["rec_name"] == "Source Factures SARL"


@pytest.mark.clock
def test_info_reports_accounts_journals_and_parent_taxes_of_the_french_chart(peer, shared_db):
    info = peer.run_setup(shared_db, "info")
    assert info["company"]["currency"] == "EUR"
    assert info["account_count"] > 1000
    assert (info["default_receivable"], info["default_payable"]) == ("4111", "4011")
    accounts = info["accounts"]
    assert accounts["411"]["closed"] and not accounts["411"]["postable"]
    assert accounts["4111"]["postable"] and accounts["4111"]["party_required"]
    assert accounts["7071"]["revenue"] and accounts["6071"]["expense"]
    assert {j["type"] for j in info["journals"]} >= {"revenue", "expense", "general"}
    rates = {t["effective_rate"] for t in info["taxes"] if t["kind"] == "sale"}
    assert {"0.20", "0.10", "0.055", "0"} <= rates
    assert {"fr_siren", "fr_siret", "eu_vat"} <= set(info["identifier_types"])
    years = [fy["name"] for fy in info["fiscal_years"]]
    assert years == [str(y) for y in range(dt.date.today().year - 2, dt.date.today().year + 2)]
    assert all(fy["periods"] == 12 for fy in info["fiscal_years"])


def test_set_account_state_closes_an_account_seen_by_the_server(peer, admin, shared_db):
    result = peer.run_setup(shared_db, "set_account_state", code="6061", closed=True)
    assert result["closed"] is True
    account = admin.model("account.account", "search_read", [["code", "=", "6061"]], 0, 1, None,
                          ["closed"])[0]
    assert account["closed"]  # SQLite answers 1, PostgreSQL true


def test_a_wrong_password_fails_and_does_not_lock_out_the_next_correct_login(peer):
    db = peer.create_database(_unique("login"))
    rpc = JsonRpc(peer.url, db)
    # Each failure delays the next logins of that name by up to 2**failures - 1 s (trytond):
    # two failures keep the test short while proving nothing locks the admin out.
    for _ in range(2):
        response = rpc.post("common.db.login", [peer.admin_user, {"password": "wrong"}, "en"])
        assert response.status_code in (401, 403) or response.json().get("error")
    assert rpc.login(peer.admin_user, peer.admin_password) > 0
    assert rpc.model("res.user", "get_preferences", True)["language"] == "en"
    config = peer.config_path.read_text()
    assert "max_attempt = 1000000" in config


def test_database_names_are_prefixed_and_the_template_is_out_of_reach(peer):
    name = peer.create_database(f"plain_{uuid.uuid4().hex[:6]}")
    assert name.startswith("hub_tryton_")
    peer.drop_database(name)
    with pytest.raises(ValueError):
        peer.create_database(peer.template)
    with pytest.raises(TrytonPeerError):
        peer.run_setup(name, "info")  # dropped


def test_the_hub_process_never_imports_trytond():
    code = ("import sys; from integration_hub.peers import tryton as t; t.template_key(); "
            "t.detect_backend(); assert not {'trytond', 'proteus'} & set(sys.modules), "
            "sorted(m for m in sys.modules if m.startswith(('trytond', 'proteus')))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(REPO_ROOT))
