"""Issue 11, defects 4, 5 and 6, through the hub's own services and pages, against real servers on loopback:
addresses a tenant types are checked, SaaS addresses are the operator's, remote answers are data."""
from __future__ import annotations

import html
import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import override_settings
from django.urls import reverse

from sandboxes.factorial import start_sandbox
from tenants.models import ConnectionStatus
from tenants.services import connection_check, connection_create
from tests.conftest import SECRET
from tests.support.clock import SANDBOX_DAY
from tests.support.scripted_server import Reply, ScriptedServer

pytestmark = pytest.mark.django_db
POLICY_IN_FORCE = override_settings(HUB_OUTBOUND_ALLOW=[])
KEY = "untrusted-addresses-key"
HUB_CLIENT_SECRET = "sandbox-secret"  # HUB_FACTORIAL_CLIENT_SECRET in the test settings
LOOPBACK_REFUSED = ("The hub does not call 127.0.0.1: it is a loopback address. It calls public addresses only, "
                    "unless the hub's operator allows this one (HUB_OUTBOUND_ALLOW).")
HTML_PAGE = (b"<!doctype html><html><head><title>Admin console</title><style>body{color:red}</style>"
             b"<script>var token='internal';</script></head><body><h1>Internal dashboard</h1><table>"
             + b"<tr><td>customer row \x1b[31m\xe2\x80\xae</td></tr>" * 300 + b"</table></body></html>")


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(api_key=KEY, seed="demo", today=SANDBOX_DAY, post_rate_limit=None) as running:
        yield running


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tryton(tenant, url: str, *, name: str = "Books", database: str = "books", password: str = SECRET):
    return connection_create(tenant=tenant, name=name, provider="tryton", role="target", auth_kind="credentials",
                             credentials={"url": url, "database": database, "username": "admin", "password": password})


def factorial(tenant, auth_kind: str = "api_key", **credentials):
    return connection_create(tenant=tenant, name=f"Factorial {auth_kind}", provider="factorial", role="source",
                             auth_kind=auth_kind, credentials=credentials)


def check_page(client, connection):
    return client.post(reverse("connection_check", args=[connection.tenant.slug, connection.pk]), follow=True)


# --- defect 5: server-side request forgery ------------------------------------------------------------------
@POLICY_IN_FORCE
def test_a_tryton_url_on_loopback_is_refused_at_the_check_and_an_open_port_reads_like_a_closed_one(
        client, owner_a, tenant_a, server):
    opened = tryton(tenant_a, server.url, name="Open port")
    closed = tryton(tenant_a, f"http://127.0.0.1:{closed_port()}", name="Closed port")
    client.force_login(owner_a)
    for connection in (opened, closed):
        assert check_page(client, connection).status_code == 200
        connection.refresh_from_db()
    assert opened.status == closed.status == ConnectionStatus.ERROR
    assert opened.status_message == closed.status_message == LOOPBACK_REFUSED
    assert server.seen == []


@POLICY_IN_FORCE
@pytest.mark.parametrize("url, said", [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: it is a link-local address"),
    ("http://10.0.0.5:8000", "10.0.0.5: it is a private address"),
    ("http://[::1]:8000", "::1: it is a loopback address"),
    ("http://localhost:8000", "localhost: it resolves to a loopback address"),
    ("file:///etc/passwd", "only calls http:// and https:// addresses (this one has file://)"),
    ("gopher://127.0.0.1:6379/", "only calls http:// and https:// addresses (this one has gopher://)"),
])
def test_internal_and_non_http_addresses_a_tenant_types_are_refused_at_the_connection_check(tenant_a, url, said):
    connection = tryton(tenant_a, url)
    result = connection_check(connection=connection)
    assert not result.ok and said in result.message
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ERROR and said in connection.status_message


@pytest.mark.parametrize("database", ["../../admin", "books/../other", "books.sqlite", "a b", "x?y=1", "#frag", ""])
def test_a_tryton_database_name_cannot_change_the_path_the_hub_calls(tenant_a, server, database):
    result = connection_check(connection=tryton(tenant_a, server.url, database=database))
    assert not result.ok and "The Tryton database name is not valid" in result.message
    assert server.seen == []


def test_a_factorial_address_a_tenant_stored_is_never_called(settings, tenant_a, server, sandbox):
    settings.HUB_FACTORIAL_BASE_URL = sandbox.url
    connection = factorial(tenant_a, base_url=server.url, api_key=KEY)  # what the old form let a tenant type
    result = connection_check(connection=connection)
    assert result.ok, result.message
    assert server.seen == []


@pytest.mark.parametrize("reply", [
    Reply(200, HTML_PAGE, content_type="text/html"),
    Reply(200, [1, 2]),
    Reply(200, "ok"),
    Reply(200, None),
    Reply(200, b""),
    Reply(500, HTML_PAGE, content_type="text/html"),
    Reply(404, HTML_PAGE, content_type="text/html"),
    Reply(400, HTML_PAGE, content_type="text/html"),
], ids=["html", "json-list", "json-string", "json-null", "empty", "500-html", "404-html", "400-html"])
def test_an_answer_that_is_not_tryton_json_rpc_is_a_short_clear_error_never_a_500(client, owner_a, tenant_a, server,
                                                                                   reply):
    server.default = reply
    connection = tryton(tenant_a, server.url)
    client.force_login(owner_a)
    page = check_page(client, connection)
    assert page.status_code == 200
    connection.refresh_from_db()
    message = connection.status_message
    assert connection.status == ConnectionStatus.ERROR
    assert "<" not in message and "color:red" not in message and "token=" not in message
    assert "\x1b" not in message and "\u202e" not in message and len(message) < 400
    assert message.startswith(("The server did not answer", "Tryton", "tryton")), message


@pytest.mark.parametrize("reply", [Reply(200, HTML_PAGE, content_type="text/html"), Reply(200, [1]),
                                   Reply(502, HTML_PAGE, content_type="text/html")], ids=["html", "json-list", "502"])
def test_a_factorial_answer_that_is_not_json_is_a_clear_error_never_a_500(client, settings, owner_a, tenant_a,
                                                                         server, reply):
    settings.HUB_FACTORIAL_BASE_URL = server.url
    server.default = reply
    connection = factorial(tenant_a, base_url=server.url, api_key=KEY)
    client.force_login(owner_a)
    assert check_page(client, connection).status_code == 200
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ERROR
    assert "<" not in connection.status_message and len(connection.status_message) < 400
    assert "factorial" in connection.status_message.lower()


# --- defect 6: a server echoing the request -----------------------------------------------------------------
@pytest.mark.parametrize("password", [SECRET, 'Pä"ss\\wörd-€-1234'], ids=["plain", "escaped-in-json"])
@pytest.mark.parametrize("status", [400, 403, 500])
def test_a_server_that_echoes_the_request_never_gets_the_password_into_the_status_message(client, owner_a, tenant_a,
                                                                                         server, status, password):
    server.default = Reply(status, echo=True, content_type="text/plain")
    connection = tryton(tenant_a, server.url, password=password)
    client.force_login(owner_a)
    page = check_page(client, connection).content.decode()
    connection.refresh_from_db()
    assert json.loads(server.seen[0].body)["params"][1]["password"] == password  # it was sent, and echoed
    assert "[redacted]" in connection.status_message, connection.status_message
    forms = {password, html.escape(password), json.dumps(password)[1:-1],
             json.dumps(password, ensure_ascii=False)[1:-1]}
    for shown in (connection.status_message, page):
        assert not [form for form in forms if form in shown]


# --- defect 4: the hub's OAuth client secret ---------------------------------------------------------------
def test_the_oauth_client_secret_goes_only_to_the_token_endpoint_in_settings(client, settings, owner_a, tenant_a,
                                                                            server, sandbox):
    settings.HUB_FACTORIAL_BASE_URL = sandbox.url
    connection = factorial(tenant_a, "oauth2", base_url=server.url)  # an owner's own server, stored by the old form
    client.force_login(owner_a)
    start = client.get(reverse("oauth_start", args=[tenant_a.slug, connection.pk]))
    assert start.status_code == 302 and start["Location"].startswith(f"{sandbox.url}/oauth/authorize?")
    approved = requests.get(start["Location"], allow_redirects=False, timeout=5)  # Factorial sends the owner back
    back = urlsplit(approved.headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 302
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED and connection.get_credentials()["access_token"]
    assert ("issued", "sandbox-client") in sandbox.state.oauth_events
    assert server.seen == []


@pytest.mark.parametrize("answer", ["html", "502", "echo", "not-a-token", "refused"])
def test_a_failing_token_call_answers_a_clear_message_never_a_500(client, settings, owner_a, tenant_a, server, answer):
    replies = {"html": Reply(200, HTML_PAGE, content_type="text/html"),
               "502": Reply(502, HTML_PAGE, content_type="text/html"),
               "echo": Reply(400, echo=True, content_type="text/plain"),
               "not-a-token": Reply(200, {"token_type": "Bearer"})}
    base = f"http://127.0.0.1:{closed_port()}" if answer == "refused" else server.url
    if answer in replies:
        server.default = replies[answer]
    settings.HUB_FACTORIAL_BASE_URL = base
    connection = factorial(tenant_a, "oauth2", base_url=base)
    client.force_login(owner_a)
    start = client.get(reverse("oauth_start", args=[tenant_a.slug, connection.pk]))
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    done = client.get(reverse("oauth_callback"), {"code": "code-from-factorial", "state": state}, follow=True)
    assert done.status_code == 200
    page = done.content.decode()
    assert f"{connection.name} was not connected" in page
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ERROR
    assert "token endpoint did not answer with a token" in connection.status_message
    for shown in (connection.status_message, page):
        assert HUB_CLIENT_SECRET not in shown and "code-from-factorial" not in shown
        assert "Internal dashboard</h1>" not in shown and "&lt;h1&gt;" not in shown
    assert [seen.path for seen in server.seen] == ([] if answer == "refused" else ["/oauth/token"])
