"""The Xero sandbox's clock, rate limiter and identity service, exercised directly (no HTTP, frozen clocks)."""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import urllib.parse

import pytest

from sandboxes.xero.identity import Identity
from sandboxes.xero.limits import RateLimiter, SandboxClock

START = 1_800_000_000.0  # a fixed sandbox epoch, so nothing depends on the day the suite runs
CLIENT_ID, SECRET = "test-client", "test-secret"
CALLBACK = "http://127.0.0.1:9/callback"
ONE = {"tenantId": "11111111-1111-1111-1111-111111111111", "tenantName": "Demo Company (Global)"}
TWO = {"tenantId": "22222222-2222-2222-2222-222222222222", "tenantName": "Harbour Trading Ltd"}


class FakeTime:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(1.0, start=START, real=lambda: 0.0)


@pytest.fixture
def limiter(clock) -> RateLimiter:
    return RateLimiter(clock)


@pytest.fixture
def identity(clock) -> Identity:
    return Identity(clock, client_id=CLIENT_ID, client_secret=SECRET, tenants=[ONE, TWO])


# ----- clock ----------------------------------------------------------------------------------------------
def test_the_sandbox_clock_runs_speed_times_faster_than_the_wall_clock():
    wall = FakeTime()
    clock = SandboxClock(60, start=START, real=wall)
    wall.value = 2.5
    assert clock.now() == START + 150
    assert clock.real_seconds(60) == 1
    assert clock.utcnow().timestamp() == START + 150
    clock.advance(10)
    assert clock.now() == START + 160


def test_a_clock_cannot_stand_still_or_run_backwards():
    with pytest.raises(ValueError):
        SandboxClock(0)


# ----- rate limiter ---------------------------------------------------------------------------------------
def call(limiter: RateLimiter, tenant: str = "t1"):
    """One complete call: enter and, when admitted, leave at once."""
    admission = limiter.enter(tenant)
    limiter.leave(admission)
    return admission


def test_an_admitted_call_carries_the_three_remaining_headers_xero_sends(limiter):
    admission = call(limiter)
    assert admission.ok
    assert admission.headers == {"X-DayLimit-Remaining": "4999", "X-MinLimit-Remaining": "59",
                                 "X-AppMinLimit-Remaining": "9999"}


def test_the_sixty_first_call_in_a_minute_is_refused_with_retry_after_and_the_problem(limiter, clock):
    for second in range(60):
        assert call(limiter).ok
        clock.advance(0.5)  # 60 calls over the first 30 seconds
    refused = call(limiter)
    assert not refused.ok
    assert refused.problem == "minute"
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert refused.headers["X-MinLimit-Remaining"] == "0"
    assert refused.headers["X-DayLimit-Remaining"] == "4940"
    assert refused.headers["Retry-After"] == "30"  # the first call leaves the window in 30 s
    clock.advance(30)
    assert call(limiter).ok


def test_the_minute_window_rolls_rather_than_resetting_on_the_minute(limiter, clock):
    for _ in range(30):
        call(limiter)
    clock.advance(40)
    for _ in range(30):
        call(limiter)
    clock.advance(21)  # the first 30 have left the window, the last 30 have not
    assert [call(limiter).ok for _ in range(31)] == [True] * 30 + [False]
    assert limiter.stats()["t1"]["peak_minute"] == 60


def test_a_refused_call_is_not_counted_against_any_limit(limiter, clock):
    for _ in range(60):
        call(limiter)
    for _ in range(25):
        assert not call(limiter).ok
    clock.advance(60)
    admission = call(limiter)
    assert admission.headers["X-MinLimit-Remaining"] == "59"
    assert admission.headers["X-DayLimit-Remaining"] == "4939"
    stats = limiter.stats()["t1"]
    assert (stats["calls"], stats["refused"], stats["refused_by"]) == (61, 25, {"minute": 25})


def test_a_sixth_concurrent_call_is_refused_until_one_leaves(limiter):
    running = [limiter.enter("t1") for _ in range(5)]
    assert all(a.ok for a in running)
    sixth = limiter.enter("t1")
    assert (sixth.ok, sixth.problem, sixth.headers["X-Rate-Limit-Problem"]) == (False, "concurrent", "concurrent")
    limiter.leave(running[0])
    limiter.leave(running[0])  # leaving twice frees one slot, not two
    assert limiter.enter("t1").ok
    assert not limiter.enter("t1").ok
    assert limiter.stats()["t1"]["peak_concurrent"] == 5


def test_the_day_limit_refuses_the_five_thousand_and_first_call_until_the_first_is_a_day_old(limiter, clock):
    for index in range(5000):
        call(limiter)
        if index % 60 == 59:
            clock.advance(60)
    refused = call(limiter)
    assert (refused.ok, refused.problem, refused.headers["X-DayLimit-Remaining"]) == (False, "day", "0")
    elapsed = clock.now() - START
    assert int(refused.headers["Retry-After"]) == pytest.approx(86400 - elapsed, abs=1)
    clock.advance(86400 - elapsed)
    assert call(limiter).ok


def test_the_app_wide_minute_limit_counts_every_organisation_together(clock):
    limiter = RateLimiter(clock, app_per_minute=100)
    for tenant in range(10):
        for _ in range(10):
            assert call(limiter, f"org-{tenant}").ok
    refused = call(limiter, "org-new")
    assert (refused.ok, refused.problem) == (False, "appminute")
    assert refused.headers["X-AppMinLimit-Remaining"] == "0"
    assert refused.headers["X-MinLimit-Remaining"] == "60"  # that organisation itself has made no call
    assert limiter.stats()["app"]["peak_minute"] == 100


def test_organisations_have_separate_budgets(limiter):
    for _ in range(60):
        call(limiter, "t1")
    assert not call(limiter, "t1").ok
    assert call(limiter, "t2").ok


def test_with_a_speed_up_retry_after_is_in_real_seconds_as_a_decimal():
    clock = SandboxClock(60, start=START, real=lambda: 0.0)
    limiter = RateLimiter(clock)
    for _ in range(60):
        call(limiter)
    clock.advance(39)
    refused = call(limiter)
    assert refused.headers["Retry-After"] == "0.35"  # 21 sandbox seconds / 60
    assert refused.retry_after == pytest.approx(0.35)


def test_whole_retry_after_keeps_whole_real_seconds_for_clients_that_read_only_integers():
    clock = SandboxClock(60, start=START, real=lambda: 0.0)
    limiter = RateLimiter(clock, whole_retry_after=True)
    for _ in range(60):
        call(limiter)
    clock.advance(39)
    assert call(limiter).headers["Retry-After"] == "1"


def test_at_normal_speed_retry_after_is_a_whole_number_rounded_up(limiter, clock):
    for _ in range(60):
        call(limiter)
    clock.advance(59.2)
    assert call(limiter).headers["Retry-After"] == "1"


def test_a_disabled_limiter_admits_everything_sends_no_headers_and_still_counts(clock):
    limiter = RateLimiter(clock, enabled=False)
    admissions = [limiter.enter("t1") for _ in range(100)]
    assert all(a.ok and a.headers == {} for a in admissions)
    stats = limiter.stats()["t1"]
    assert (stats["calls"], stats["peak_minute"], stats["peak_concurrent"]) == (100, 100, 100)


def test_reset_forgets_calls_and_peaks(limiter):
    for _ in range(60):
        call(limiter)
    limiter.reset()
    assert limiter.stats() == {"app": {"calls": 0, "refused": 0, "peak_minute": 0}}
    assert call(limiter).ok


def test_many_threads_never_get_more_than_the_limits_between_them(clock):
    limiter = RateLimiter(clock)
    admitted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            admission = limiter.enter("t1")
            if admission.ok:
                with lock:
                    admitted.append(1)
                limiter.leave(admission)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = limiter.stats()["t1"]
    assert len(admitted) == stats["calls"] == 60
    assert stats["calls"] + stats["refused"] == 400
    assert stats["peak_concurrent"] <= 5 and stats["in_flight"] == 0


# ----- identity: consent ----------------------------------------------------------------------------------
def authorize_params(**overrides) -> dict[str, str]:
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": CALLBACK,
              "scope": "openid profile email accounting.transactions offline_access", "state": "xyz"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def redirect_query(answer) -> dict[str, str]:
    status, headers, _ = answer
    assert status == 302
    location = urllib.parse.urlparse(headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return dict(urllib.parse.parse_qsl(location.query))


def consent(identity: Identity, **overrides) -> str:
    """Allow on the consent page; the code the app gets back."""
    return redirect_query(identity.authorize("POST", authorize_params(decision="allow", **overrides)))["code"]


def exchange(identity: Identity, code: str, **overrides) -> tuple[int, dict]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    form.update(overrides)
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    return identity.token(form, basic)


def connect(identity: Identity, **overrides) -> dict:
    status, body = exchange(identity, consent(identity, **overrides))
    assert status == 200, body
    return body


def test_the_consent_page_lists_the_organisations_and_escapes_what_it_is_given(clock):
    identity = Identity(clock, client_id=CLIENT_ID, client_secret=SECRET,
                        tenants=[ONE, {"tenantId": "x", "tenantName": "<script>alert(1)</script> & Co"}])
    status, headers, body = identity.authorize("GET", authorize_params(state='"><img src=x>'))
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "Demo Company (Global)" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page and "<script>" not in page
    assert "&quot;&gt;&lt;img src=x&gt;" in page and "<img" not in page
    assert 'value="allow"' in page and 'value="deny"' in page


def test_allowing_redirects_with_a_code_the_state_and_the_scope(identity):
    query = redirect_query(identity.authorize("POST", authorize_params(decision="allow")))
    assert query["state"] == "xyz" and query["code"]
    assert "offline_access" in query["scope"].split()


def test_denying_redirects_with_access_denied(identity):
    assert redirect_query(identity.authorize("POST", authorize_params(decision="deny"))) == {
        "error": "access_denied", "state": "xyz"}


def test_an_unknown_client_or_missing_redirect_uri_gets_an_error_page_not_a_redirect(identity):
    for params in (authorize_params(client_id="someone-else"), authorize_params(redirect_uri=None)):
        status, headers, body = identity.authorize("GET", params)
        assert status == 400 and "Location" not in headers and b"went wrong" in body


def test_a_wrong_response_type_or_missing_scope_is_reported_to_the_redirect_uri(identity):
    assert redirect_query(identity.authorize("GET", authorize_params(response_type="token")))["error"] == \
        "unsupported_response_type"
    assert redirect_query(identity.authorize("GET", authorize_params(scope=None)))["error"] == "invalid_scope"


def test_only_the_ticked_organisations_are_connected(identity):
    token = connect(identity, tenant_choice="1", **{f"tenant_{TWO['tenantId']}": "on"})
    assert identity.access("Bearer " + token["access_token"]) == {TWO["tenantId"]}
    status, listed = identity.connections("GET", "Bearer " + token["access_token"])
    assert status == 200
    assert [(c["tenantId"], c["tenantName"], c["tenantType"]) for c in listed] == [
        (TWO["tenantId"], "Harbour Trading Ltd", "ORGANISATION")]


def test_ticking_nothing_shows_the_page_again_instead_of_connecting(identity):
    status, headers, body = identity.authorize("POST", authorize_params(decision="allow", tenant_choice="1"))
    assert status == 400 and "Location" not in headers and b"at least one organisation" in body


# ----- identity: tokens -----------------------------------------------------------------------------------
def test_a_code_gives_a_bearer_token_for_thirty_minutes_and_a_refresh_token_with_offline_access(identity, clock):
    token = connect(identity)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 1800
    assert token["refresh_token"] and token["id_token"]
    claims = json.loads(base64.urlsafe_b64decode(token["access_token"].split(".")[1] + "=="))
    assert claims["exp"] == int(START) + 1800 and "offline_access" in claims["scope"]
    assert identity.access("Bearer " + token["access_token"]) == {ONE["tenantId"], TWO["tenantId"]}
    clock.advance(1799)
    assert identity.access("Bearer " + token["access_token"])
    clock.advance(1)
    assert identity.access("Bearer " + token["access_token"]) is None
    assert identity.explain("Bearer " + token["access_token"]).startswith("TokenExpired")


def test_without_offline_access_there_is_no_refresh_token(identity):
    token = connect(identity, scope="accounting.transactions")
    assert "refresh_token" not in token and "id_token" not in token


def test_a_code_works_once(identity):
    code = consent(identity)
    assert exchange(identity, code)[0] == 200
    assert exchange(identity, code) == (400, {"error": "invalid_grant"})


def test_a_code_dies_after_five_minutes(identity, clock):
    code = consent(identity)
    clock.advance(300)
    assert exchange(identity, code) == (400, {"error": "invalid_grant"})


def test_the_redirect_uri_must_match_the_one_the_code_was_issued_for(identity):
    status, body = exchange(identity, consent(identity), redirect_uri="http://elsewhere/cb")
    assert (status, body["error"]) == (400, "invalid_grant")


def test_the_client_may_authenticate_in_the_form_instead_of_basic(identity):
    form = {"grant_type": "authorization_code", "code": consent(identity), "redirect_uri": CALLBACK,
            "client_id": CLIENT_ID, "client_secret": SECRET}
    assert identity.token(form, None)[0] == 200


def test_a_wrong_secret_or_no_credentials_is_invalid_client_with_401(identity):
    form = {"grant_type": "authorization_code", "code": consent(identity), "redirect_uri": CALLBACK}
    wrong = "Basic " + base64.b64encode(f"{CLIENT_ID}:nope".encode()).decode()
    assert identity.token(form, wrong) == (401, {"error": "invalid_client"})
    assert identity.token(form, None) == (401, {"error": "invalid_client"})
    assert identity.token(dict(form, client_id=CLIENT_ID, client_secret="nope"), None) == (
        401, {"error": "invalid_client"})


def test_unknown_or_missing_grant_types_are_refused_in_oauth_words(identity):
    assert identity.token({"grant_type": "password"}, None) == (400, {"error": "unsupported_grant_type"})
    assert identity.token({}, None)[1]["error"] == "invalid_request"
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert identity.token({"grant_type": "refresh_token"}, basic)[1]["error"] == "invalid_request"


def test_pkce_lets_a_client_without_a_secret_exchange_its_code(identity):
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = consent(identity, code_challenge=challenge, code_challenge_method="S256")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "client_id": CLIENT_ID}
    assert identity.token(dict(form, code_verifier="w" * 50), None)[1]["error"] == "invalid_grant"
    code = consent(identity, code_challenge=challenge, code_challenge_method="S256")
    assert identity.token(dict(form, code=code, code_verifier=verifier), None)[0] == 200


def refresh(identity: Identity, refresh_token: str) -> tuple[int, dict]:
    return identity.token({"grant_type": "refresh_token", "refresh_token": refresh_token,
                           "client_id": CLIENT_ID, "client_secret": SECRET}, None)


def test_every_refresh_rotates_the_refresh_token(identity):
    first = connect(identity)
    status, second = refresh(identity, first["refresh_token"])
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert refresh(identity, second["refresh_token"])[0] == 200


def test_a_used_refresh_token_replays_the_same_answer_for_thirty_minutes_then_dies(identity, clock):
    first = connect(identity)
    _, second = refresh(identity, first["refresh_token"])
    clock.advance(1799)
    assert refresh(identity, first["refresh_token"]) == (200, second)  # the answer that was lost, again
    clock.advance(1)
    assert refresh(identity, first["refresh_token"]) == (400, {"error": "invalid_grant"})
    assert refresh(identity, second["refresh_token"])[0] == 200


def test_an_unused_refresh_token_expires_after_sixty_days(identity, clock):
    token = connect(identity)
    clock.advance(60 * 86400)
    assert refresh(identity, token["refresh_token"]) == (400, {"error": "invalid_grant"})


def test_client_credentials_give_the_first_organisation_and_no_refresh_token(identity):
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    status, token = identity.token({"grant_type": "client_credentials"}, basic)
    assert status == 200 and "refresh_token" not in token and token["expires_in"] == 1800
    assert identity.access("Bearer " + token["access_token"]) == {ONE["tenantId"]}
    _, listed = identity.connections("GET", "Bearer " + token["access_token"])
    assert [c["tenantId"] for c in listed] == [ONE["tenantId"]]


def test_the_test_helpers_expire_access_tokens_and_kill_refresh_tokens(identity):
    token = connect(identity)
    identity.expire_access_tokens()
    assert identity.access("Bearer " + token["access_token"]) is None
    identity.revoke_refresh_tokens()
    assert refresh(identity, token["refresh_token"]) == (400, {"error": "invalid_grant"})


def test_revocation_kills_the_refresh_token_and_removes_the_connections(identity):
    token = connect(identity)
    status, _ = identity.revoke({"token": token["refresh_token"], "client_id": CLIENT_ID,
                                 "client_secret": SECRET}, None)
    assert status == 200
    assert refresh(identity, token["refresh_token"])[1]["error"] == "invalid_grant"
    assert identity.access("Bearer " + token["access_token"]) == set()


# ----- identity: connections -------------------------------------------------------------------------------
def test_connections_list_carries_xero_fields_and_filters_by_auth_event(identity):
    token = connect(identity)
    bearer = "Bearer " + token["access_token"]
    status, listed = identity.connections("GET", bearer)
    assert status == 200 and len(listed) == 2
    assert set(listed[0]) == {"id", "authEventId", "tenantId", "tenantType", "tenantName",
                              "createdDateUtc", "updatedDateUtc"}
    assert len(listed[0]["createdDateUtc"]) == len("2019-12-07T18:46:19.5165400")
    event = listed[0]["authEventId"]
    assert len(identity.connections("GET", bearer, auth_event_id=event)[1]) == 2
    assert identity.connections("GET", bearer, auth_event_id="00000000-0000-0000-0000-000000000000")[1] == []


def test_deleting_a_connection_takes_that_organisation_away_from_the_token(identity):
    bearer = "Bearer " + connect(identity)["access_token"]
    _, listed = identity.connections("GET", bearer)
    gone = next(c for c in listed if c["tenantId"] == TWO["tenantId"])
    assert identity.connections("DELETE", bearer, gone["id"]) == (204, None)
    assert identity.access(bearer) == {ONE["tenantId"]}
    assert identity.connections("DELETE", bearer, gone["id"])[0] == 404


def test_reconsenting_keeps_the_connection_and_updates_its_auth_event(identity, clock):
    bearer = "Bearer " + connect(identity)["access_token"]
    before = identity.connections("GET", bearer)[1]
    clock.advance(60)
    connect(identity)
    after = identity.connections("GET", bearer)[1]
    assert [c["id"] for c in after] == [c["id"] for c in before]
    assert after[0]["authEventId"] != before[0]["authEventId"]
    assert after[0]["updatedDateUtc"] > before[0]["updatedDateUtc"] == after[0]["createdDateUtc"]


def test_connections_refuse_a_missing_or_unknown_token_with_xero_problem_body(identity):
    for authorization in (None, "Bearer nope"):
        status, body = identity.connections("GET", authorization)
        assert status == 401 and body["Title"] == "Unauthorized" and body["Status"] == 401
