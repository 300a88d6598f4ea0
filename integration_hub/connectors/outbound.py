"""Where the hub may send a request: the outbound policy every connector call goes through.

Addresses reach the HTTP layer from tenants (a Tryton URL and database), from remote answers (a file
URL, a redirect) and from the operator's settings. A tenant could otherwise make the hub call its own
loopback services, the private network it runs in or the cloud's metadata service (169.254.169.254)
and read the answer back (server-side request forgery). So, for every connection the hub opens:

- only http and https;
- the host name is resolved once, every address it resolves to must be public, and the socket is
  opened to exactly the address that was checked: a DNS answer that changes between the check and
  the connection (DNS rebinding) cannot slip through. TLS still sends the host name (SNI) and
  verifies the certificate against it;
- loopback, private (RFC 1918, ULA), link-local, multicast, reserved, unspecified and other
  non-public addresses are refused before any packet leaves, so a refused address says nothing
  about whether a port is open;
- redirects are followed only within the same scheme, host and port; the policy checks each hop.

The operator allows exceptions with HUB_OUTBOUND_ALLOW (comma-separated): a host name (any port),
``host:port``, an address or a network in CIDR notation, optionally with a port (``[::1]:8010``).
An allowed address or network allows every host name that resolves into it.
"""
from __future__ import annotations

import functools
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from integration_hub.connectors.errors import OutboundRefused

SCHEMES = ("http", "https")
SETTING = "HUB_OUTBOUND_ALLOW"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal_reason(address: str | Address) -> str | None:
    """None when the address is public; otherwise what it is, in a few words."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if ip.version == 6:
        # IPv4 addresses embedded in IPv6 (mapped, 6to4, NAT64) are judged as the IPv4 they reach.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal_reason(embedded)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, (int(rest[1:]) if rest.startswith(":") else None)
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None  # a name, an IPv4 address or network, or a bare IPv6 address or network


@dataclass(frozen=True)
class OutboundPolicy:
    """The exceptions an operator allows; everything else must be a public address."""

    names: frozenset[tuple[str, int | None]] = frozenset()
    networks: tuple[tuple[Network, int | None], ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str] | str) -> "OutboundPolicy":
        """From HUB_OUTBOUND_ALLOW's entries; raises ValueError naming the entry it cannot read."""
        if isinstance(entries, str):
            entries = entries.split(",")
        names, networks = set(), []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                host, port = _split_port(entry)
                if port is not None and not 0 < port < 65536:
                    raise ValueError
                try:
                    networks.append((ipaddress.ip_network(host, strict=False), port))
                except ValueError:
                    name = host.rstrip(".")
                    if not name or not all(part and len(part) < 64 and part.replace("-", "").replace("_", "").isalnum()
                                           for part in name.split(".")):
                        raise
                    names.add((name, port))
            except ValueError:
                raise ValueError(f"cannot read the entry {raw.strip()!r}: use a host name, host:port, "
                                 "an address or a network such as 10.0.0.0/8") from None
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str, port: int) -> bool:
        host = host.lower().rstrip(".")
        return (host, None) in self.names or (host, port) in self.names

    def allows_address(self, address: str, port: int) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        return any(ip in network and allowed in (None, port) for network, allowed in self.networks)

    def addresses_for(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for host:port, every one checked; resolved once, here.

        Raises OutboundRefused for a refused address, socket.gaierror when the name does not resolve.
        """
        host = host.strip("[]")
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if self.allows_name(host, port):
            return addresses
        literal = _is_literal(host)
        for address in addresses:
            reason = refusal_reason(address.split("%")[0])
            if reason and not self.allows_address(address, port):
                what = f"it is {reason}" if literal else f"it resolves to {reason}"
                raise OutboundRefused(
                    f"The hub does not call {host}: {what}. It calls public addresses only, unless the hub's "
                    f"operator allows this one ({SETTING}).", provider="outbound")
        return addresses


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=16)
def _parsed(entries: tuple[str, ...]) -> OutboundPolicy:
    return OutboundPolicy.parse(entries)


def current_policy() -> OutboundPolicy:
    """The policy in force: Django's HUB_OUTBOUND_ALLOW in the hub, the environment variable elsewhere
    (scripts, benchmarks). Read at every connection, so a changed setting applies at once."""
    from integration_hub.connectors.base import hub_setting

    allow = hub_setting(SETTING, None)
    if allow is None:
        allow = os.environ.get(SETTING, "")
    return _parsed(tuple(allow.split(",")) if isinstance(allow, str) else tuple(allow))


def check_url(url: str) -> None:
    """Refuse, before any resolution, an address that is not plain http(s)://host[:port]/..."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise OutboundRefused("The address is not a valid URL.", provider="outbound") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise OutboundRefused(f"The hub only calls http:// and https:// addresses (this one has {shown}).",
                              provider="outbound")
    if not parts.hostname:
        raise OutboundRefused("The address has no host name.", provider="outbound")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("The address must not carry a user name or password; they have their own fields.",
                              provider="outbound")


def same_origin(first: str, second: str) -> bool:
    """Same scheme, host and port (an unreadable address is never the same origin)."""
    def origin(url: str):
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(scheme)

    try:
        return origin(first) == origin(second)
    except ValueError:
        return False


# --- the transport: urllib3 connections that open a socket only to a checked address ------------------
class _PinnedConnectionMixin:
    def _new_conn(self) -> socket.socket:
        """Resolve and check once, then connect to one of the checked addresses (never resolving again)."""
        try:
            addresses = current_policy().addresses_for(self.host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: Exception | None = None
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except TimeoutError:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out (connect timeout={self.timeout})")
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
        raise error or NewConnectionError(self, "Failed to establish a new connection: no address")


class PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    """TLS on the checked socket: SNI and certificate verification use the host name (urllib3's connect)."""


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """A requests transport whose every new connection goes through the outbound policy."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}


class GuardedSessionMixin:
    """For a requests.Session (or a subclass such as Authlib's OAuth2Session): connections through the
    pinned adapter, no proxy from the environment (the policy must see the address it connects to),
    redirects followed within the same origin only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        adapter = PinnedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.max_redirects = 5

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        merged["proxies"] = {}
        return merged

    def rebuild_proxies(self, prepared_request, proxies):
        """A redirect's hop goes direct too (requests would read the environment's proxies again)."""
        prepared_request.headers.pop("Proxy-Authorization", None)
        return {}

    def get_redirect_target(self, resp):
        """A redirect to another scheme, host or port is not followed: the caller gets the 3xx answer."""
        target = super().get_redirect_target(resp)
        if target and not same_origin(resp.url, urljoin(resp.url, target)):
            return None
        return target


class GuardedSession(GuardedSessionMixin, requests.Session):
    pass
