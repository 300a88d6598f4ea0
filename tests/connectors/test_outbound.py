"""The outbound policy in force, against real servers on loopback: what the hub refuses to call and why."""
from __future__ import annotations

import datetime as dt
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import override_settings

from integration_hub.connectors.errors import OutboundRefused, PermanentError, RetryableError
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.outbound import OutboundPolicy, refusal_reason
from tests.support.scripted_server import Reply, ScriptedServer

POLICY_IN_FORCE = override_settings(HUB_OUTBOUND_ALLOW=[])


def session(**kwargs) -> HubSession:
    return HubSession(provider="demo", sleep=lambda s: None, connect_timeout=1, read_timeout=2, max_retries=1, **kwargs)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def resolver(monkeypatch):
    """A DNS of our own for names under .test (every other name and literal goes to the system's);
    `answers[name]` lists what each successive lookup returns, the last one repeated."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host in answers:
            lookups.append(host)
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "it is a loopback address"),
    ("10.20.30.40", "it is a private address"),
    ("192.168.1.10", "it is a private address"),
    ("169.254.169.254", "it is a link-local address (where cloud metadata services answer)"),
    ("[::1]", "it is a loopback address"),
    ("[::ffff:127.0.0.1]", "it is a loopback address"),
    ("[fd00::1]", "it is a private address"),
    ("0.0.0.0", "it is an unspecified address"),
    ("224.0.0.1", "it is a multicast address"),
    ("240.0.0.1", "it is a reserved address"),
    ("100.64.0.1", "it is a non-public address"),
])
@POLICY_IN_FORCE
def test_loopback_private_link_local_and_other_non_public_addresses_are_refused_with_what_they_are(address, reason):
    http = session()
    with pytest.raises(OutboundRefused) as caught:
        http.request("GET", f"http://{address}:8010/rpc/")
    assert str(caught.value) == (f"The hub does not call {address.strip('[]')}: {reason}. It calls public addresses "
                                 "only, unless the hub's operator allows this one (HUB_OUTBOUND_ALLOW).")
    assert caught.value.provider == "demo" and not caught.value.retryable
    assert [r.error for r in http.call_log.records] == ["refused by the outbound policy"]


@pytest.mark.parametrize("url, shown", [
    ("file:///etc/passwd", "file://"), ("gopher://127.0.0.1:6379/_INFO", "gopher://"),
    ("ftp://files.example.com/x", "ftp://"), ("//no-scheme.example/", "no scheme"),
])
def test_only_http_and_https_addresses_are_called(url, shown):
    with pytest.raises(OutboundRefused, match=f"only calls http:// and https:// addresses \\(this one has {shown}\\)"):
        session().request("GET", url)


def test_an_address_carrying_a_user_name_and_password_is_refused(server):
    with pytest.raises(OutboundRefused, match="must not carry a user name or password"):
        session().request("GET", server.url.replace("http://", "http://admin:pw@") + "/")
    assert server.seen == []


@POLICY_IN_FORCE
def test_a_host_name_that_resolves_to_loopback_is_refused_and_nothing_is_sent(server, resolver):
    answers, _ = resolver
    answers["intranet.test"] = ["127.0.0.1"]
    for host in ("localhost", "intranet.test"):
        with pytest.raises(OutboundRefused, match=f"does not call {host}: it resolves to a loopback address"):
            session().request("POST", f"http://{host}:{server.port}/", json={"a": 1})
    assert server.seen == []


@POLICY_IN_FORCE
def test_an_open_port_and_a_closed_port_get_the_same_refusal(server):
    messages = []
    for port in (server.port, closed_port()):
        with pytest.raises(OutboundRefused) as caught:
            session().request("GET", f"http://127.0.0.1:{port}/")
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and server.seen == []


def test_addresses_the_operator_allows_are_called(server):
    for allowed in ([f"127.0.0.1:{server.port}"], ["127.0.0.0/8"], ["[::1]:1", f"127.0.0.1:{server.port}"]):
        with override_settings(HUB_OUTBOUND_ALLOW=allowed):
            assert session().request("GET", f"{server.url}/ok").json() == {"ok": True}
    with override_settings(HUB_OUTBOUND_ALLOW=[f"127.0.0.1:{server.port + 1}"]):  # another port of it only
        with pytest.raises(OutboundRefused):
            session().request("GET", f"{server.url}/ok")
    with override_settings(HUB_OUTBOUND_ALLOW=["localhost"]):  # a name: whatever it resolves to
        assert session().request("GET", f"http://localhost:{server.port}/ok").json() == {"ok": True}
    assert len(server.seen) == 4


@override_settings(HUB_OUTBOUND_ALLOW=["127.0.0.2"])
def test_a_host_is_resolved_once_and_the_socket_goes_to_the_address_that_was_checked(resolver):
    answers, lookups = resolver
    with ScriptedServer(host="127.0.0.2") as allowed:
        # DNS rebinding: the first answer passes the check, every later one points at loopback.
        answers["rebind.test"] = ["127.0.0.2", "127.0.0.1"]
        assert session().request("GET", f"http://rebind.test:{allowed.port}/x").json() == {"ok": True}
        assert lookups == ["rebind.test"] and len(allowed.seen) == 1
        assert allowed.seen[0].headers["Host"] == f"rebind.test:{allowed.port}"
        # the other way round: refused on the answer that was checked, whatever a later lookup says
        answers["rebind2.test"] = ["127.0.0.1", "127.0.0.2"]
        with pytest.raises(OutboundRefused, match="rebind2.test: it resolves to a loopback address"):
            session().request("GET", f"http://rebind2.test:{allowed.port}/x")
        assert len(allowed.seen) == 1


def test_a_redirect_to_another_address_is_not_followed(server):
    with ScriptedServer() as elsewhere:
        server.then(Reply(307, b"", {"Location": f"{elsewhere.url}/steal"}))
        with pytest.raises(PermanentError, match="redirect to another address, which the hub does not follow"):
            session().request("POST", f"{server.url}/rpc/", json={"password": "x"})
        assert elsewhere.seen == []


def test_a_redirect_within_the_same_address_is_followed(server):
    server.then(Reply(302, b"", {"Location": "/moved"}), Reply(200, {"here": True}))
    assert session().request("GET", f"{server.url}/old").json() == {"here": True}
    assert [s.path for s in server.seen] == ["/old", "/moved"]


def test_proxies_from_the_environment_are_not_used_so_the_policy_sees_the_address_it_connects_to(server, monkeypatch):
    with ScriptedServer() as proxy:
        for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(variable, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        server.then(Reply(302, b"", {"Location": "/moved"}), Reply(200, {"direct": True}))
        assert session().request("GET", f"{server.url}/old").json() == {"direct": True}
        assert proxy.seen == [] and [s.path for s in server.seen] == ["/old", "/moved"]


def self_signed(tmp_path, name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@override_settings(HUB_OUTBOUND_ALLOW=["127.0.0.2"])
def test_tls_on_a_pinned_address_still_checks_the_certificate_against_the_host_name(tmp_path, resolver):
    answers, _ = resolver
    cert, key = self_signed(tmp_path, "books.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with ScriptedServer(host="127.0.0.2") as tls:
        tls.httpd.socket = context.wrap_socket(tls.httpd.socket, server_side=True)
        answers["books.test"] = answers["impostor.test"] = ["127.0.0.2"]
        ok = session().request("GET", f"https://books.test:{tls.port}/", verify=str(cert))
        assert ok.json() == {"ok": True}
        with pytest.raises(RetryableError, match="network error"):  # same address, but not the certificate's name
            session().request("GET", f"https://impostor.test:{tls.port}/", verify=str(cert))
        assert len(tls.seen) == 1


def test_the_allow_list_reads_names_ports_addresses_and_networks_and_names_what_it_cannot_read():
    policy = OutboundPolicy.parse("tryton.internal, erp.local:8000, 10.0.0.0/8, [fd00::/8]:443 ,[::1]:8010,  ")
    assert policy.allows_name("Tryton.Internal.", 1) and policy.allows_name("erp.local", 8000)
    assert not policy.allows_name("erp.local", 8001)
    assert policy.allows_address("10.1.2.3", 5) and not policy.allows_address("11.1.2.3", 5)
    assert policy.allows_address("::1", 8010) and not policy.allows_address("::1", 80)
    assert policy.allows_address("fd12::1", 443) and not policy.allows_address("fd12::1", 80)
    for wrong in ("http://x.example", "host:port", "bad host", "10.0.0.0/8:99999"):
        with pytest.raises(ValueError, match="cannot read the entry"):
            OutboundPolicy.parse(wrong)
    assert refusal_reason("8.8.8.8") is None and refusal_reason("2001:4860:4860::8888") is None
    assert refusal_reason("2002:7f00:1::") == "a loopback address"  # 6to4 wrapping 127.0.0.1
    assert refusal_reason("64:ff9b::a00:1") == "a private address"  # NAT64 wrapping 10.0.0.1
