"""The shared HTTP layer, against a real HTTP server on loopback."""
from __future__ import annotations

import email.utils
import socket
import time

import pytest

from integration_hub.connectors.errors import AuthenticationError, NotFound, PermanentError, RateLimited, RetryableError
from integration_hub.connectors.http import CallLog, HubSession, parse_retry_after
from tests.support.scripted_server import Reply, ScriptedServer


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def waits():
    return []


def session(server, waits, **kwargs):
    return HubSession(provider="demo", base_url=server.url, sleep=waits.append, connect_timeout=1, read_timeout=1,
                      backoff_base=0.01, **kwargs)


def test_a_get_that_meets_server_errors_is_retried_until_it_succeeds(server, waits):
    server.then(Reply(503), Reply(502), Reply(200, {"value": 1}))
    http = session(server, waits)
    assert http.request("GET", "/items", operation="list items").json() == {"value": 1}
    assert [r.status for r in http.call_log.records] == [503, 502, 200]
    assert [r.attempt for r in http.call_log.records] == [1, 2, 3]
    assert all(r.operation == "list items" and r.path == "/items" for r in http.call_log.records)
    assert len(waits) == 2


def test_a_post_that_meets_a_server_error_is_not_repeated_blindly(server, waits):
    server.then(Reply(500), Reply(200))
    http = session(server, waits)
    with pytest.raises(RetryableError) as caught:
        http.request("POST", "/entries", json={"a": 1})
    assert caught.value.status == 500
    assert len(server.seen) == 1


def test_a_post_marked_safe_to_repeat_is_retried(server, waits):
    server.then(Reply(500), Reply(200, {"done": True}))
    http = session(server, waits)
    assert http.request("POST", "/search", retry_unsafe=True).json() == {"done": True}
    assert len(server.seen) == 2


def test_a_429_waits_for_the_retry_after_the_server_asks_for(server, waits):
    server.then(Reply(429, {"error": "slow down"}, {"Retry-After": "3"}), Reply(200))
    http = session(server, waits)
    http.request("POST", "/entries")  # 429 means "not processed": repeating a POST is safe
    assert waits == [3.0]
    assert [r.status for r in http.call_log.records] == [429, 200]


def test_a_429_asking_for_a_long_wait_raises_rate_limited_with_the_delay(server, waits):
    server.then(Reply(429, {"error": "daily limit"}, {"Retry-After": "3600"}))
    http = session(server, waits, max_retry_after=60)
    with pytest.raises(RateLimited) as caught:
        http.request("GET", "/items")
    assert caught.value.retry_after == 3600
    assert "daily limit" in caught.value.provider_message
    assert waits == []


def test_retry_after_is_understood_as_seconds_or_as_an_http_date():
    assert parse_retry_after("7") == 7.0
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= parse_retry_after(in_ten) <= 10
    assert parse_retry_after("garbage") is None


def test_a_read_timeout_on_a_get_is_retried(server, waits):
    server.then(Reply(200, delay=1.5), Reply(200, {"ok": 2}))
    http = session(server, waits)
    assert http.request("GET", "/slow").json() == {"ok": 2}
    assert http.call_log.records[0].status is None
    assert "timeout" in http.call_log.records[0].error


def test_a_read_timeout_on_a_post_is_reported_as_possibly_applied(server, waits):
    server.then(Reply(200, delay=1.5))
    http = session(server, waits)
    with pytest.raises(RetryableError, match="may have reached the server"):
        http.request("POST", "/entries")


def test_a_refused_connection_is_retried_even_for_a_post_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    waits = []
    http = HubSession(provider="demo", base_url=f"http://127.0.0.1:{port}", sleep=waits.append, max_retries=2,
                      backoff_base=0.01)
    with pytest.raises(RetryableError, match="network error") as caught:
        http.request("POST", "/entries")
    assert "may have reached" not in str(caught.value)
    assert len(http.call_log) == 3 and len(waits) == 2


def test_a_401_triggers_one_reauthentication_with_the_new_header(server, waits):
    server.then(Reply(401), Reply(200, {"ok": True}))
    http = session(server, waits)
    calls = []

    def relogin():
        calls.append(1)
        return {"Authorization": "Session new"}

    assert http.request("GET", "/me", reauthenticate=relogin, headers={"Authorization": "Session old"}).ok
    assert calls == [1]
    assert server.seen[1].headers["Authorization"] == "Session new"


def test_a_second_401_after_reauthentication_is_an_authentication_error(server, waits):
    server.then(Reply(401, {"error": "bad key"}), Reply(401, {"error": "bad key"}))
    http = session(server, waits)
    with pytest.raises(AuthenticationError) as caught:
        http.request("GET", "/me", reauthenticate=lambda: None)
    assert "bad key" in caught.value.provider_message


def test_client_errors_carry_the_providers_own_message(server, waits):
    server.then(Reply(404, {"error": "no such invoice"}), Reply(422, {"error": "account 999 is closed"}))
    http = session(server, waits)
    with pytest.raises(NotFound):
        http.request("GET", "/invoices/9")
    with pytest.raises(PermanentError) as caught:
        http.request("POST", "/entries")
    assert "account 999 is closed" in str(caught.value)


def test_the_call_log_never_holds_a_secret(server, waits):
    http = session(server, waits)
    http.request("GET", "/items?api_key=SUPERSECRET&updated_from=2026-01-01", headers={"x-api-key": "SUPERSECRET"})
    record = http.call_log.as_list()[0]
    assert "SUPERSECRET" not in repr(record)
    assert record["path"].startswith("/items?api_key=%5Bredacted%5D&updated_from=2026-01-01")
    assert set(record) == {"method", "path", "status", "duration_ms", "operation", "attempt", "error", "at"}


def test_the_call_log_keeps_a_bounded_number_of_records_but_counts_them_all():
    log = CallLog(limit=2)
    from integration_hub.connectors.http import CallRecord

    for _ in range(5):
        log.add(CallRecord("GET", "/", 200, 1))
    assert len(log) == 5 and len(log.records) == 2 and log.dropped == 3


def test_a_status_the_provider_only_sends_when_nothing_was_applied_is_retried_even_for_a_post(server, waits):
    server.then(Reply(503), Reply(200, {"created": 1}))
    http = session(server, waits, unapplied_statuses=frozenset({503}))
    assert http.request("POST", "/entries").json() == {"created": 1}
    assert len(server.seen) == 2
