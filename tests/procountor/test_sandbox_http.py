"""The Procountor sandbox over real HTTP, without the hub's client: tokens, prefixes, limits, mounting, admin."""
from __future__ import annotations

import pytest
import requests

from sandboxes.procountor import build_sandbox, start_sandbox
from tests.procountor.support import API_KEY, CLIENT_ID, SECRET, pinned_clock, sales_invoice, serve

FORM = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET, "api_key": API_KEY}


@pytest.fixture(scope="module")
def running():
    with serve() as sandbox:
        yield sandbox


def token(base: str, **changes) -> requests.Response:
    return requests.post(f"{base}/api/oauth/token", data={**FORM, **changes}, timeout=5)


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def test_the_token_endpoint_grants_an_hour_long_bearer_token_for_client_credentials_and_the_api_key(running):
    answer = token(running.url)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["access_token"]
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_wrong_client_secret_is_refused_with_invalid_client(running):
    answer = token(running.url, client_secret="not-the-secret")
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_a_wrong_api_key_is_refused_with_invalid_grant(running):
    answer = token(running.url, api_key="revoked-key")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "API key" in answer.json()["error_description"]


def test_a_grant_other_than_client_credentials_is_refused(running):
    answer = token(running.url, grant_type="password")
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"


def test_a_call_without_a_token_is_answered_401_in_procountors_error_format(running):
    answer = requests.get(f"{running.url}/api/coa", timeout=5)
    assert answer.status_code == 401
    assert answer.json() == {"errors": [{"status": 401, "message": "Missing access token"}]}


def test_a_token_stops_working_once_its_hour_is_up():
    with serve(seed=None) as sandbox:
        access = token(sandbox.url).json()["access_token"]
        assert requests.get(f"{sandbox.url}/api/coa", headers=bearer(access), timeout=5).status_code == 200
        sandbox.clock.advance(3600)
        late = requests.get(f"{sandbox.url}/api/coa", headers=bearer(access), timeout=5)
        assert late.status_code == 401
        assert late.json()["errors"][0]["message"] == "Access token expired"


def test_every_published_version_prefix_answers_the_same(running):
    access = token(running.url).json()["access_token"]
    answers = [requests.get(f"{running.url}{prefix}/coa", headers=bearer(access), timeout=5)
               for prefix in ("/api", "/latest/api", "/supported/api", "/v2501/api")]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert requests.get(f"{running.url}/v25/api/coa", headers=bearer(access), timeout=5).status_code == 404
    assert token(running.url.rstrip("/") + "/latest").status_code == 200


def test_an_invoice_refused_by_validation_names_each_field_in_procountors_format(running):
    access = token(running.url).json()["access_token"]
    body = sales_invoice()
    body["counterParty"]["counterPartyAddress"]["name"] = ""
    body["invoiceRows"][0]["vatPercent"] = 24  # 24 % is only for purchases since 1.9.2024
    answer = requests.post(f"{running.url}/api/invoices", json=_plain(body), headers=bearer(access), timeout=5)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert {"status": 400, "field": "counterParty.counterPartyAddress.name",
            "message": "Value of the 'counterParty.counterPartyAddress.name' cannot be blank."} in errors
    assert any(e["field"] == "invoiceRows[0].vatPercent" and "25.5" in e["message"] for e in errors)


def test_batch_get_returns_the_existing_invoices_of_a_comma_separated_list(running):
    access = token(running.url).json()["access_token"]
    ids = [row["id"] for row in requests.get(f"{running.url}/api/invoices", headers=bearer(access),
                                             timeout=5).json()["results"][:2]]
    answer = requests.get(f"{running.url}/api/invoices/{ids[1]},{ids[0]},999", headers=bearer(access), timeout=5)
    assert [invoice["id"] for invoice in answer.json()] == sorted(ids)
    assert requests.get(f"{running.url}/api/invoices/999,998", headers=bearer(access), timeout=5).status_code == 404


def test_calls_past_the_rate_limit_are_answered_429_until_the_second_is_over():
    with serve(seed=None, rate_limit=3) as sandbox:
        access = token(sandbox.url).json()["access_token"]
        statuses = [requests.get(f"{sandbox.url}/api/coa", headers=bearer(access), timeout=5) for _ in range(4)]
        assert [a.status_code for a in statuses] == [200, 200, 200, 429]
        assert statuses[-1].headers["Retry-After"] == "1"
        assert statuses[-1].json()["errors"][0]["status"] == 429
        sandbox.clock.advance(1)
        assert requests.get(f"{sandbox.url}/api/coa", headers=bearer(access), timeout=5).status_code == 200


def test_the_rate_limit_can_be_switched_off():
    with serve(seed=None, rate_limit=2, limits=False) as sandbox:
        access = token(sandbox.url).json()["access_token"]
        assert {requests.get(f"{sandbox.url}/api/coa", headers=bearer(access), timeout=5).status_code
                for _ in range(5)} == {200}


def test_the_sandbox_answers_the_same_when_mounted_under_a_prefix():
    app = build_sandbox(client_id=CLIENT_ID, client_secret=SECRET, api_key=API_KEY, seed="demo", clock=pinned_clock(),
                        rate_limit=None)
    mount = "/sandbox/procountor"

    def mounted(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(mount):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not here"]
        environ = {**environ, "SCRIPT_NAME": mount, "PATH_INFO": path[len(mount):] or "/"}
        return app(environ, start_response)

    with start_sandbox(sandbox=app, wrap=lambda inner: mounted) as sandbox:
        base = sandbox.url + mount
        index = requests.get(base + "/", timeout=5).json()
        assert index["api"] == f"{base}/api" and index["token"] == f"{base}/api/oauth/token"
        access = token(base).json()["access_token"]
        listed = requests.get(f"{base}/latest/api/invoices", headers=bearer(access), timeout=5)
        assert listed.status_code == 200 and listed.json()["results"]


def test_the_admin_path_needs_the_client_secret_and_injects_a_fault_on_the_next_call(running):
    assert requests.get(f"{running.url}/_sandbox/requests", timeout=5).status_code == 401
    access = token(running.url).json()["access_token"]
    running.admin("POST", "faults", {"kind": "500", "path_contains": "/fiscalyears"})
    assert requests.get(f"{running.url}/api/fiscalyears", headers=bearer(access), timeout=5).status_code == 500
    assert requests.get(f"{running.url}/api/fiscalyears", headers=bearer(access), timeout=5).status_code == 200
    seen = running.admin("GET", "requests")["requests"]
    assert [r["status"] for r in seen if r["path"] == "/api/fiscalyears"][-2:] == [500, 200]


def _plain(value):
    """A body for requests' json= (Decimal is not JSON for the standard library)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
