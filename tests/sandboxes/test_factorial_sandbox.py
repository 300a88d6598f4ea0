"""The Factorial sandbox, spoken to over real HTTP on loopback (and once through Django's test client)."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from sandboxes.factorial import SandboxState, start_sandbox
from sandboxes.factorial.seed import luhn_ok
from sandboxes.factorial.state import encode_cursor
from tests.support.clock import SANDBOX_DAY

pytestmark = pytest.mark.clock

KEY = "test-key"
VERSION = "2026-10-01"
AUTH = {"x-api-key": KEY}
ADDRESS = {"line1": "3 rue de la Paix", "city": "Paris", "postal_code": "75002", "state": "Île-de-France",
           "country_code": "FR"}


@pytest.fixture
def sandbox():
    with start_sandbox(api_key=KEY, today=SANDBOX_DAY) as running:
        yield running


@pytest.fixture(scope="module")
def demo():
    """A seeded sandbox shared by read-only tests."""
    with start_sandbox(api_key=KEY, seed="demo", today=SANDBOX_DAY) as running:
        yield running


def api(running, resource: str) -> str:
    return f"{running.url}/api/{VERSION}/resources/{resource}"


def fetch_all(running, resource: str, **params) -> tuple[list[dict], int]:
    """Follow the cursor like a client must; returns (items, pages)."""
    items, pages, after = [], 0, None
    while True:
        query = dict(params, **({"after_id": after} if after else {}))
        body = requests.get(api(running, resource), params=query, headers=AUTH, timeout=5).json()
        pages += 1
        items += body["data"]
        if not body["meta"]["has_next_page"]:
            return items, pages
        after = body["meta"]["end_cursor"]


class Receiver:
    """A tiny webhook receiver on loopback that records what it is sent."""

    def __init__(self, status: int = 200):
        self.seen: list[tuple[dict, bytes]] = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.event.set()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/factorial"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- authentication and versions ------------------------------------------------------------


def test_an_api_key_in_x_api_key_is_accepted_and_a_wrong_or_missing_one_is_refused_with_401(sandbox):
    assert requests.get(api(sandbox, "finance/contacts"), headers=AUTH, timeout=5).status_code == 200
    for headers in ({"x-api-key": "nope"}, {}):
        refused = requests.get(api(sandbox, "finance/contacts"), headers=headers, timeout=5)
        assert refused.status_code == 401
        assert set(refused.json()["error"]) >= {"code", "message"}


def test_an_api_key_sent_as_a_bearer_token_is_refused(sandbox):
    refused = requests.get(api(sandbox, "finance/contacts"), headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_token"
    assert "invalid_token" in refused.headers["WWW-Authenticate"]


def test_the_api_version_in_the_path_is_recorded_and_a_malformed_one_is_not_routed(sandbox):
    requests.get(api(sandbox, "finance/accounts"), headers=AUTH, timeout=5)
    requests.get(f"{sandbox.url}/api/2025-07-01/resources/finance/accounts", headers=AUTH, timeout=5)
    assert sandbox.state.api_versions == {VERSION: 1, "2025-07-01": 1}
    assert requests.get(f"{sandbox.url}/api/v1/resources/finance/accounts", headers=AUTH,
                        timeout=5).status_code == 404
    assert ("GET", f"/api/{VERSION}/resources/finance/accounts", 200) in sandbox.state.requests


# ---- pagination and filters -----------------------------------------------------------------


def test_pagination_follows_every_page_with_after_id_until_has_next_page_is_false(demo):
    everything = requests.get(api(demo, "finance/financial_documents"), headers=AUTH, timeout=5).json()
    assert len(everything["data"]) == 100 and everything["meta"]["has_next_page"] is True
    total = everything["meta"]["total"]
    items, pages = fetch_all(demo, "finance/financial_documents", limit=37)
    ids = [int(d["id"]) for d in items]
    assert len(items) == total > 200
    assert ids == sorted(ids) and len(set(ids)) == total
    assert pages == -(-total // 37)


def test_a_raw_id_as_after_id_is_refused_because_cursors_are_opaque(demo):
    first = requests.get(api(demo, "finance/contacts"), params={"limit": 2}, headers=AUTH, timeout=5).json()
    raw_id = first["data"][-1]["id"]
    refused = requests.get(api(demo, "finance/contacts"), params={"after_id": raw_id}, headers=AUTH, timeout=5)
    assert refused.status_code == 400
    assert "after_id" in refused.json()["error"]["errors"]
    after = requests.get(api(demo, "finance/contacts"), params={"after_id": encode_cursor(raw_id)}, headers=AUTH,
                         timeout=5).json()
    assert int(after["data"][0]["id"]) > int(raw_id) and after["meta"]["has_previous_page"] is True


def test_limit_above_100_is_capped_at_100_as_factorial_documents_it(demo):
    page = requests.get(api(demo, "finance/financial_documents"), params={"limit": 500}, headers=AUTH, timeout=5)
    assert page.status_code == 200
    assert len(page.json()["data"]) == 100 and page.json()["meta"]["limit"] == 100


def test_strict_mode_refuses_limit_above_100_with_a_validation_error():
    with start_sandbox(api_key=KEY, strict_limit=True) as strict:
        refused = requests.get(api(strict, "finance/contacts"), params={"limit": 101}, headers=AUTH, timeout=5)
        assert refused.status_code == 400
        assert refused.json()["error"]["errors"] == {"limit": ["must be less than or equal to 100"]}
        assert requests.get(api(strict, "finance/contacts"), params={"limit": 100}, headers=AUTH,
                            timeout=5).status_code == 200


def test_updated_from_returns_only_records_updated_at_or_after_it(demo):
    documents, _ = fetch_all(demo, "finance/financial_documents")
    stamps = sorted(d["updated_at"] for d in documents)
    since = stamps[len(stamps) // 2]
    recent, _ = fetch_all(demo, "finance/financial_documents", updated_from=since)
    assert recent and len(recent) == sum(1 for s in stamps if s >= since)
    assert all(d["updated_at"] >= since for d in recent)
    by_date, _ = fetch_all(demo, "finance/contacts", updated_from=(SANDBOX_DAY + dt.timedelta(days=1)).isoformat())
    assert by_date == []


def test_a_change_made_in_factorial_shows_up_in_the_next_incremental_read(sandbox):
    sandbox.state.reset(seed="demo")
    checkpoint = sandbox.state.now().isoformat()
    assert fetch_all(sandbox, "finance/financial_documents", updated_from=checkpoint)[0] == []
    document_id = sandbox.state.seed_info["broken"]["no_tax"]
    sandbox.state.touch("finance/financial_documents", document_id, status="sent_to_pay")
    changed, _ = fetch_all(sandbox, "finance/financial_documents", updated_from=checkpoint)
    assert [(d["id"], d["status"]) for d in changed] == [(document_id, "sent_to_pay")]


def test_expenses_filter_on_effective_on_with_from_and_to_and_hide_drafts_and_files_by_default(demo):
    default, _ = fetch_all(demo, "expenses/expenses")
    everything, _ = fetch_all(demo, "expenses/expenses", include_manual_drafts="true", include_attachments="true")
    assert len(everything) > len(default) >= 90
    assert all(e["files"] == [] for e in default) and any(e["files"] for e in everything)
    dates = sorted(e["effective_on"] for e in everything)
    lo, hi = dates[10], dates[40]
    window, _ = fetch_all(demo, "expenses/expenses", include_manual_drafts="true", **{"from": lo, "to": hi})
    assert window and all(lo <= e["effective_on"] < hi for e in window)
    only_from, _ = fetch_all(demo, "expenses/expenses", include_manual_drafts="true", **{"from": hi})
    assert len(only_from) == len(everything)  # "from" alone is ignored, as documented


def test_contacts_list_only_vendors_unless_asked_for_clients(demo):
    vendors, _ = fetch_all(demo, "finance/contacts")
    clients, _ = fetch_all(demo, "finance/contacts", contact_type="client")
    assert len(vendors) >= 12 and 3 <= len(clients) < len(vendors)
    assert not {c["id"] for c in vendors} & {c["id"] for c in clients}


# ---- OAuth2 ---------------------------------------------------------------------------------


def authorize(running, state="xyz", **extra) -> dict:
    answer = requests.get(f"{running.url}/oauth/authorize", allow_redirects=False, timeout=5, params={
        "client_id": "sandbox-client", "redirect_uri": "http://hub.test/oauth/callback", "response_type": "code",
        "scope": "read write", "state": state, **extra})
    assert answer.status_code == 302
    location = urllib.parse.urlsplit(answer.headers["Location"])
    assert location.netloc == "hub.test" and location.path == "/oauth/callback"
    return {k: v[0] for k, v in urllib.parse.parse_qs(location.query).items()}


def exchange(running, **form) -> requests.Response:
    return requests.post(f"{running.url}/oauth/token", timeout=5, data={
        "client_id": "sandbox-client", "client_secret": "sandbox-secret", **form})


def test_the_oauth_code_flow_echoes_state_and_its_access_token_opens_the_api(sandbox):
    callback = authorize(sandbox, state="csrf-123")
    assert callback["state"] == "csrf-123" and callback["code"]
    token = exchange(sandbox, grant_type="authorization_code", code=callback["code"],
                     redirect_uri="http://hub.test/oauth/callback")
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope", "created_at"}
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(api(sandbox, "finance/accounts"), headers=bearer, timeout=5).status_code == 200
    reused = exchange(sandbox, grant_type="authorization_code", code=callback["code"],
                      redirect_uri="http://hub.test/oauth/callback")
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_authorize_can_be_told_to_deny_and_still_echoes_state(sandbox):
    assert authorize(sandbox, state="s1", sandbox_deny="1") == {
        "error": "access_denied", "error_description": "The resource owner or authorization server denied the request.",
        "state": "s1"}
    sandbox.state.oauth_deny = True
    assert authorize(sandbox, state="s2")["error"] == "access_denied"


def test_a_refresh_rotates_the_refresh_token_and_the_old_one_is_refused_with_invalid_grant(sandbox):
    first = sandbox.state.issue_token()
    second = exchange(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["access_token"] != first["access_token"]
    assert sandbox.state.refresh_count == 1
    again = exchange(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    rotated_bearer = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert requests.get(api(sandbox, "finance/accounts"), headers=rotated_bearer, timeout=5).status_code == 200
    third = exchange(sandbox, grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert third.status_code == 200 and sandbox.state.refresh_count == 2


def test_an_expired_access_token_is_refused_until_the_client_refreshes(sandbox):
    token = sandbox.state.issue_token()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(api(sandbox, "finance/accounts"), headers=bearer, timeout=5).status_code == 200
    sandbox.state.expire_access_tokens()
    expired = requests.get(api(sandbox, "finance/accounts"), headers=bearer, timeout=5)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    fresh = exchange(sandbox, grant_type="refresh_token", refresh_token=token["refresh_token"]).json()
    assert requests.get(api(sandbox, "finance/accounts"), headers={"Authorization": f"Bearer {fresh['access_token']}"},
                        timeout=5).status_code == 200


def test_a_revoked_grant_refuses_its_tokens_and_a_wrong_client_secret_is_invalid_client(sandbox):
    token = sandbox.state.issue_token()
    sandbox.state.revoke_grant(refresh_token=token["refresh_token"])
    assert exchange(sandbox, grant_type="refresh_token", refresh_token=token["refresh_token"]).json()["error"] == \
        "invalid_grant"
    assert requests.get(api(sandbox, "finance/accounts"), headers={"Authorization": f"Bearer {token['access_token']}"},
                        timeout=5).status_code == 401
    wrong = exchange(sandbox, grant_type="refresh_token", refresh_token="x", client_secret="bad")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


# ---- writes ---------------------------------------------------------------------------------


def test_creating_a_contact_with_a_taken_external_id_is_refused_with_422_naming_the_field(sandbox):
    body = {"name": "Papeterie Martin", "legal_name": "Papeterie Martin SARL", "tax_id": "FR40303265045",
            "iban": "FR7630006000011234567890189", "email": "compta@martin.fr", "external_id": "ERP-42",
            "address": ADDRESS}
    created = requests.post(api(sandbox, "finance/contacts"), json=body, headers=AUTH, timeout=5)
    assert created.status_code == 201
    contact = created.json()
    assert contact["external_id"] == "ERP-42" and contact["address"]["city"] == "Paris"
    duplicate = requests.post(api(sandbox, "finance/contacts"), json=body | {"name": "Other"}, headers=AUTH, timeout=5)
    assert duplicate.status_code == 422
    assert duplicate.json()["error"]["errors"] == {"external_id": ["has already been taken"]}
    requests.post(api(sandbox, "finance/contacts"), json=body | {"external_id": "ERP-43"}, headers=AUTH, timeout=5)
    # The SDK has no external_id filter: like any unknown parameter it is ignored, so match client-side.
    looked_up, _ = fetch_all(sandbox, "finance/contacts", external_id="ERP-42", **{"external_ids[]": "ERP-42"})
    assert {c["external_id"] for c in looked_up} == {"ERP-42", "ERP-43"}
    by_tax_id, _ = fetch_all(sandbox, "finance/contacts", **{"tax_ids[]": "FR40303265045"})
    assert len(by_tax_id) == 2
    missing = requests.post(api(sandbox, "finance/contacts"), json={"name": "No address"}, headers=AUTH, timeout=5)
    assert missing.status_code == 422 and "address" in missing.json()["error"]["errors"]
    # PUT replaces what its SDK body allows; external_id and iban are not part of it and stay.
    updated = requests.put(f"{api(sandbox, 'finance/contacts')}/{contact['id']}", headers=AUTH, timeout=5, json={
        "id": contact["id"], "name": "Papeterie Martin & Fils", "address": ADDRESS, "external_id": "changed",
        "iban": "FR00"}).json()
    assert updated["name"] == "Papeterie Martin & Fils"
    assert (updated["external_id"], updated["iban"]) == ("ERP-42", body["iban"])


def test_creating_ledger_accounts_with_external_ids_refuses_duplicates_and_updates_by_id(sandbox):
    sandbox.state.reset(seed="demo")
    body = {"number": "622700", "name": "Frais d'actes", "type": "expense", "currency": "EUR",
            "legal_entity_id": "1201", "external_id": "ERP-ACC-622700"}
    created = requests.post(api(sandbox, "finance/accounts"), json=body, headers=AUTH, timeout=5)
    assert created.status_code == 201 and created.json()["disabled"] is False
    again = requests.post(api(sandbox, "finance/accounts"), json=body | {"number": "622701"}, headers=AUTH, timeout=5)
    assert again.status_code == 422 and list(again.json()["error"]["errors"]) == ["external_id"]
    same_number = requests.post(api(sandbox, "finance/accounts"), json=body | {"external_id": "other"}, headers=AUTH,
                                timeout=5)
    assert same_number.status_code == 422 and list(same_number.json()["error"]["errors"]) == ["number"]
    account_id = created.json()["id"]
    renamed = requests.put(f"{api(sandbox, 'finance/accounts')}/{account_id}", headers=AUTH, timeout=5,
                           json={"id": account_id, "name": "Frais d'actes et de contentieux"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Frais d'actes et de contentieux"
    numbered, _ = fetch_all(sandbox, "finance/accounts", number="622700")
    assert [a["id"] for a in numbered] == [account_id]


def test_uploading_a_financial_document_is_multipart_and_a_vendor_number_is_unique_per_vendor(sandbox):
    sandbox.state.reset(seed="demo")
    fields = {"company_id": sandbox.state.company_id, "document_type": "invoice", "vendor_id": "5001",
              "invoice_number": "UP-1", "invoice_date": "2026-01-10", "currency": "EUR",
              "line_items": json.dumps([{"description": "Hosting", "quantity": 2, "unit_price_cents": 1000,
                                         "tax_rate_id": "401"}])}
    files = {"file": ("up-1.pdf", b"%PDF-1.4 fake", "application/pdf")}
    created = requests.post(api(sandbox, "finance/financial_documents"), data=fields, files=files, headers=AUTH,
                            timeout=5)
    assert created.status_code == 201
    document = created.json()
    assert (document["net_amount_cents"], document["taxes_total_amount_cents"], document["total_amount_cents"]) == \
        (2000, 400, 2400)
    assert document["status"] == "review" and requests.get(document["file"]["url"], timeout=5).content == \
        b"%PDF-1.4 fake"
    duplicate = requests.post(api(sandbox, "finance/financial_documents"), data=fields, files=files, headers=AUTH,
                              timeout=5)
    assert duplicate.status_code == 422 and list(duplicate.json()["error"]["errors"]) == ["invoice_number"]
    other_vendor = requests.post(api(sandbox, "finance/financial_documents"), data=fields | {"vendor_id": "5002"},
                                 files=files, headers=AUTH, timeout=5)
    assert other_vendor.status_code == 201


def test_post_requests_are_rate_limited_per_minute_with_retry_after():
    with start_sandbox(api_key=KEY, post_rate_limit=2) as limited:
        statuses = [requests.post(api(limited, "finance/tax_types"), json={"name": f"T{i}", "type": "vat"},
                                  headers=AUTH, timeout=5) for i in range(3)]
        assert [r.status_code for r in statuses] == [201, 201, 429]
        assert int(statuses[-1].headers["Retry-After"]) >= 1
        assert requests.get(api(limited, "finance/tax_types"), headers=AUTH, timeout=5).status_code == 200


# ---- webhooks -------------------------------------------------------------------------------


def test_a_webhook_subscription_gets_its_challenge_back_in_x_factorial_wh_challenge_on_every_delivery(sandbox):
    receiver = Receiver()
    try:
        created = requests.post(api(sandbox, "api_public/webhook_subscriptions"), headers=AUTH, timeout=5, json={
            "subscription_type": "expenses/expensable/update_reimbursable_amount", "target_url": receiver.url,
            "company_id": sandbox.state.company_id, "challenge": "s3cret-chall3nge", "name": "hub"})
        assert created.status_code == 201
        subscription = created.json()
        assert subscription["type"] == "expenses/expensable/update_reimbursable_amount"
        assert subscription["enabled"] is True and subscription["api_version"] == VERSION
        payload = {"id": "31001", "type": "expense", "status": "approved", "reimbursable_amount": 1200}
        deliveries = sandbox.state.emit("expenses/expensable/update_reimbursable_amount", payload,
                                        author_id="501", author_type="employee")
        assert [d.status for d in deliveries] == [200]
        headers, body = receiver.seen[-1]
        assert headers["x-factorial-wh-challenge"] == "s3cret-chall3nge"
        assert headers["x-factorial-author-id"] == "501" and headers["x-factorial-author-type"] == "employee"
        assert json.loads(body) == payload  # the bare resource, no {type, data} envelope
        assert sandbox.state.emit("finance/cost_center/create", {"id": "1"}) == []  # nobody subscribed
        taken = requests.post(api(sandbox, "api_public/webhook_subscriptions"), headers=AUTH, timeout=5, json={
            "subscription_type": "expenses/expensable/update_reimbursable_amount", "target_url": receiver.url,
            "company_id": sandbox.state.company_id})
        assert taken.status_code == 422 and list(taken.json()["error"]["errors"]) == ["type"]
        unknown = requests.post(api(sandbox, "api_public/webhook_subscriptions"), headers=AUTH, timeout=5, json={
            "subscription_type": "finance/financial_document/update", "target_url": receiver.url,
            "company_id": sandbox.state.company_id})
        assert unknown.status_code == 422
    finally:
        receiver.close()


def test_an_api_write_delivers_its_webhook_and_a_failing_receiver_gets_disabled(sandbox):
    sandbox.state.reset(seed="demo")
    receiver = Receiver()
    failing = Receiver(status=500)
    try:
        for kind, url in (("finance/cost_center/create", receiver.url), ("finance/cost_center/edit", failing.url)):
            requests.post(api(sandbox, "api_public/webhook_subscriptions"), headers=AUTH, timeout=5, json={
                "subscription_type": kind, "target_url": url, "company_id": sandbox.state.company_id,
                "challenge": "c"})
        center = requests.post(api(sandbox, "finance/cost_centers"), headers=AUTH, timeout=5,
                               json={"name": "Export", "company_id": sandbox.state.company_id, "code": "EXP"}).json()
        assert receiver.event.wait(5)
        assert json.loads(receiver.seen[0][1])["id"] == center["id"]
        sandbox.state.webhook_max_failures = 2
        for _ in range(2):
            sandbox.state.emit("finance/cost_center/edit", center)
        subscriptions, _ = fetch_all(sandbox, "api_public/webhook_subscriptions", type="finance/cost_center/edit")
        assert subscriptions[0]["enabled"] is False
    finally:
        receiver.close()
        failing.close()


# ---- faults ---------------------------------------------------------------------------------


def test_faults_at_100_percent_give_only_the_configured_kinds_and_at_0_percent_none(sandbox):
    sandbox.state.faults.set(rate=1.0, kinds=["500", "429"], retry_after=3, seed=1)
    answers = [requests.get(api(sandbox, "finance/contacts"), headers=AUTH, timeout=5) for _ in range(20)]
    assert {a.status_code for a in answers} == {500, 429}
    assert all(a.headers["Retry-After"] == "3" for a in answers if a.status_code == 429)
    before = len(sandbox.state.records("finance/contacts"))
    requests.post(api(sandbox, "finance/contacts"), json={"name": "X", "address": ADDRESS}, headers=AUTH, timeout=5)
    assert len(sandbox.state.records("finance/contacts")) == before  # failed before being applied
    sandbox.state.faults.set(rate=0.0, kinds=["500"])
    assert {requests.get(api(sandbox, "finance/contacts"), headers=AUTH, timeout=5).status_code
            for _ in range(20)} == {200}


def test_a_write_that_fails_after_being_applied_is_stored_all_the_same(sandbox):
    sandbox.state.faults.queue("500_after_write", method="POST")
    answer = requests.post(api(sandbox, "finance/contacts"), headers=AUTH, timeout=5,
                           json={"name": "Ghost", "external_id": "ERP-G", "address": ADDRESS})
    assert answer.status_code == 500
    assert [c["external_id"] for c in sandbox.state.records("finance/contacts")] == ["ERP-G"]
    retry = requests.post(api(sandbox, "finance/contacts"), headers=AUTH, timeout=5,
                          json={"name": "Ghost", "external_id": "ERP-G", "address": ADDRESS})
    assert retry.status_code == 422  # a blind retry collides: look up by external_id first


def test_a_timeout_fault_answers_late_and_the_request_is_applied_anyway(sandbox):
    sandbox.state.faults.set(rate=1.0, kinds=["timeout"], timeout_delay=0.6, methods=["POST"])
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(api(sandbox, "finance/tax_types"), json={"name": "Late", "type": "vat"}, headers=AUTH,
                      timeout=0.2)
    deadline = time.monotonic() + 5
    while not sandbox.state.records("finance/tax_types") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [t["name"] for t in sandbox.state.records("finance/tax_types")] == ["Late"]
    assert time.monotonic() - started >= 0.6
    assert requests.get(api(sandbox, "finance/tax_types"), headers=AUTH, timeout=5).status_code == 200  # GETs spared


def test_faults_are_set_and_cleared_over_http_on_the_admin_endpoint(sandbox):
    admin = f"{sandbox.url}/_sandbox/faults"
    assert requests.post(admin, json={"rate": 1, "kinds": ["503"]}, timeout=5).status_code == 401
    configured = requests.post(admin, json={"rate": 1, "kinds": ["502"], "retry_after": 1, "seed": 1}, headers=AUTH,
                               timeout=5)
    assert configured.status_code == 200 and configured.json()["kinds"] == ["502"]
    gateway = requests.get(api(sandbox, "finance/contacts"), headers=AUTH, timeout=5)
    assert gateway.status_code == 502 and gateway.headers["Content-Type"].startswith("text/html")
    assert requests.delete(admin, headers=AUTH, timeout=5).json()["rate"] == 0.0
    assert requests.get(api(sandbox, "finance/contacts"), headers=AUTH, timeout=5).status_code == 200
    bad = requests.post(admin, json={"rate": 1, "kinds": ["teapot"]}, headers=AUTH, timeout=5)
    assert bad.status_code == 400


# ---- the demo seed --------------------------------------------------------------------------


def test_the_demo_seed_has_valid_french_vat_numbers_pdfs_and_the_deliberately_broken_documents(demo):
    contacts = demo.state.records("finance/contacts")
    french = [c["tax_id"] for c in contacts if (c["tax_id"] or "").startswith("FR")]
    assert len(contacts) >= 15 and len(french) >= 12
    for vat in french:
        siren = vat[4:]
        assert luhn_ok(siren) and int(vat[2:4]) == (12 + 3 * (int(siren) % 97)) % 97
    broken = demo.state.seed_info["broken"]
    documents = {d["id"]: d for d in fetch_all(demo, "finance/financial_documents")[0]}
    assert {d["document_type"] for d in documents.values()} == {"invoice", "receipt", "credit_note"}
    assert {d["currency"] for d in documents.values()} >= {"EUR", "USD", "GBP"}
    assert documents[broken["no_tax"]]["taxes"] == []
    assert documents[broken["unknown_vendor"]]["vendor_id"] not in {c["id"] for c in contacts}
    mismatch = documents[broken["total_mismatch"]]
    assert mismatch["total_amount_cents"] != mismatch["net_amount_cents"] + mismatch["taxes_total_amount_cents"]
    healthy = next(d for i, d in documents.items() if i not in broken.values())
    assert healthy["total_amount_cents"] == healthy["net_amount_cents"] + healthy["taxes_total_amount_cents"]
    pdf = requests.get(healthy["file"]["url"], timeout=5)
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert len(pdf.content) == healthy["file"]["size"]
    not_pdf = requests.get(documents[broken["non_pdf_file"]]["file"]["url"], timeout=5)
    assert not_pdf.headers["Content-Type"] == "application/pdf" and not not_pdf.content.startswith(b"%PDF")
    assert requests.get(healthy["file"]["url"].split("?")[0], timeout=5).status_code == 403  # signed URLs only
    expenses = demo.state.records("expenses/expenses")
    assert len(expenses) >= 90 and {e["currency"] for e in expenses} >= {"EUR", "GBP", "USD"}
    assert len({e["employee_id"] for e in expenses}) >= 5 and any(e["card"] for e in expenses)


def test_the_demo_seed_is_deterministic_for_a_given_date():
    day = dt.date(2026, 3, 15)
    first, second = SandboxState(seed="demo", today=day), SandboxState(seed="demo", today=day)
    for resource in first.data:
        assert first.records(resource) == second.records(resource)
    assert SandboxState(seed="demo", today=day + dt.timedelta(days=1)).records("finance/financial_documents") != \
        first.records("finance/financial_documents")


def test_reset_drops_writes_logs_and_faults_and_reseeds(sandbox):
    requests.post(api(sandbox, "finance/tax_types"), json={"name": "Gone", "type": "vat"}, headers=AUTH, timeout=5)
    sandbox.state.faults.set(rate=0.5, kinds=["500"])
    sandbox.state.reset()
    assert sandbox.state.records("finance/tax_types") == [] and sandbox.state.requests == []
    assert sandbox.state.faults.config.rate == 0.0


# ---- mounted in Django ----------------------------------------------------------------------


@pytest.mark.urls("tests.sandboxes.urls")
def test_the_mounted_django_view_answers_under_its_prefix(client, settings):
    import sandboxes.urls

    settings.HUB_SANDBOX_FACTORIAL_API_KEY = "mounted-key"
    sandboxes.urls._factorial = None
    try:
        base = "/mounted/factorial"
        assert client.get(f"{base}/api/{VERSION}/resources/finance/contacts").status_code == 401
        listing = client.get(f"{base}/api/{VERSION}/resources/finance/financial_documents", {"limit": 1},
                             HTTP_X_API_KEY="mounted-key")
        assert listing.status_code == 200 and listing["Content-Type"].startswith("application/json")
        document = listing.json()["data"][0]
        assert document["file"]["url"].startswith(f"http://testserver{base}/_files/")
        download = client.get(document["file"]["url"].replace("http://testserver", ""))
        assert download.status_code == 200 and download.content.startswith(b"%PDF-")
        created = client.post(f"{base}/api/{VERSION}/resources/finance/contacts", data=json.dumps(
            {"name": "Via Django", "address": ADDRESS}), content_type="application/json", HTTP_X_API_KEY="mounted-key")
        assert created.status_code == 201
        assert ("POST", f"/api/{VERSION}/resources/finance/contacts", 201) in \
            sandboxes.urls.factorial_sandbox().state.requests
        redirect = client.get(f"{base}/oauth/authorize", {"client_id": "sandbox-client", "response_type": "code",
                                                          "redirect_uri": "http://hub.test/cb", "state": "abc"})
        assert redirect.status_code == 302 and "state=abc" in redirect["Location"]
    finally:
        sandboxes.urls._factorial = None
