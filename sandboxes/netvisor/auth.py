"""Netvisor's request authentication, as the sandbox checks it.

Every call carries the X-Netvisor-Authentication-* headers. The MAC is the hex HMAC-SHA256, keyed with
``customer_key&partner_key``, of

    url&sender&customer_id&timestamp&language&organisation_id&transaction_id&timestamp_unix&customer_key&partner_key

encoded ISO-8859-1, where ``url`` is the whole address the client called, query string included (what
``requests`` puts in ``PreparedRequest.url``). A transaction id is single-use; a timestamp older than
the window is refused; the organisation must be the one the keys belong to.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from .state import NetvisorFailure

HEADER_PREFIX = "X-Netvisor-Authentication-"
REQUIRED = ("Sender", "CustomerId", "PartnerId", "Timestamp", "TransactionId", "MAC")
LANGUAGES = ("FI", "EN", "SE")
# Netvisor's public pages say a timestamp must be current without giving the number; the sandbox allows
# this much skew either way (configurable per sandbox).
DEFAULT_WINDOW = dt.timedelta(minutes=5)

TEXTS = {
    "missing": {"FI": "HTTP-otsakkeista puuttuu {names}", "EN": "HTTP headers missing: {names}"},
    "partner": {"FI": "Integraatiokumppania ei löydy, katso dokumentaatio",
                "EN": "Integration partner not found, see the documentation"},
    "customer": {"FI": "Asiakkaan tunnistetta ei löydy", "EN": "Customer identifier not found"},
    "mac": {"FI": "Integraatioavaimet eivät ole kelvolliset. Tarkista käyttäjä- ja kumppanikohtaiset avaimet.",
            "EN": "Integration keys are not valid. Please check the keys specific to the user and partner."},
    "algorithm": {"FI": "Tuntematon MAC-laskenta-algoritmi {value}", "EN": "Unknown MAC calculation algorithm {value}"},
    "timestamp": {"FI": "Aikaleima on virheellinen: {value}", "EN": "Timestamp is invalid: {value}"},
    "old": {"FI": "Aikaleima on liian vanha tai tulevaisuudessa", "EN": "Timestamp is too old or in the future"},
    "unique": {"FI": "Pyyntö samalla tapahtumatunnisteella on jo vastaanotettu",
               "EN": "A request with the same transaction id has already been received"},
    "organisation": {"FI": "Yritystä {value} ei löydy tai käyttäjällä ei ole siihen oikeuksia",
                     "EN": "Organisation {value} not found or the user has no rights to it"},
    "language": {"FI": "Tuntematon kieli {value}", "EN": "Unknown interface language {value}"},
}


def text(name: str, language: str, **values) -> str:
    texts = TEXTS[name]
    return texts.get(language, texts["EN"]).format(**values)


def compute_mac(*, url: str, sender: str, customer_id: str, timestamp: str, language: str, organisation_id: str,
                transaction_id: str, timestamp_unix: str, customer_key: str, partner_key: str) -> str:
    message = "&".join([url, sender, customer_id, timestamp, language, organisation_id, transaction_id,
                        timestamp_unix, customer_key, partner_key])
    key = f"{customer_key}&{partner_key}"
    return hmac.new(key.encode("iso-8859-1", "replace"), message.encode("iso-8859-1", "replace"),
                    hashlib.sha256).hexdigest()


@dataclass
class Credentials:
    sender: str
    customer_id: str
    customer_key: str
    partner_id: str
    partner_key: str
    organisation_id: str


class Authenticator:
    """Checks one request's headers; remembers used transaction ids (for twice the window)."""

    def __init__(self, credentials: Credentials, clock, *, window: dt.timedelta = DEFAULT_WINDOW):
        self.credentials = credentials
        self.clock = clock
        self.window = window
        self.used: dict[str, dt.datetime] = {}

    def reset(self) -> None:
        self.used.clear()

    def check(self, headers: dict[str, str], url: str) -> str:
        """The interface language when the request is authentic; raises NetvisorFailure otherwise."""
        def header(name: str) -> str:
            return (headers.get((HEADER_PREFIX + name).lower()) or "").strip()

        language = (headers.get("x-netvisor-interface-language") or "FI").strip().upper()
        shown = language if language in LANGUAGES else "EN"
        missing = [HEADER_PREFIX + name for name in REQUIRED if not header(name)]
        organisation = (headers.get("x-netvisor-organisation-id") or "").strip()
        if not organisation:
            missing.append("X-Netvisor-Organisation-Id")
        if missing:
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("missing", shown, names=", ".join(missing)))
        if language not in LANGUAGES:
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("language", shown, value=language))
        creds = self.credentials
        if header("PartnerId") != creds.partner_id:
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("partner", language))
        if header("CustomerId") != creds.customer_id:
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("customer", language))
        algorithm = header("MACHashCalculationAlgorithm").upper()
        if algorithm not in ("HMACSHA256", "SHA256"):  # the docs name it both ways; MD5 is retired
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("algorithm", language, value=algorithm or "-"))
        timestamp, unix = header("Timestamp"), header("TimestampUnix")
        try:
            moment = dt.datetime.strptime(timestamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("timestamp", language, value=timestamp)) from None
        if not unix.isdigit():
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("timestamp", language, value=unix or "-"))
        expected = compute_mac(url=url, sender=header("Sender"), customer_id=creds.customer_id, timestamp=timestamp,
                               language=language, organisation_id=organisation,
                               transaction_id=header("TransactionId"), timestamp_unix=unix,
                               customer_key=creds.customer_key, partner_key=creds.partner_key)
        if not hmac.compare_digest(expected, header("MAC").lower()):
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("mac", language))
        now = self.clock.now()
        unix_moment = dt.datetime.fromtimestamp(int(unix), dt.timezone.utc)
        if abs(now - moment) > self.window or abs(now - unix_moment) > self.window:
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("old", language))
        self._forget(now)
        transaction = header("TransactionId")
        if transaction in self.used:
            raise NetvisorFailure("REQUEST_NOT_UNIQUE", text("unique", language))
        self.used[transaction] = now
        if organisation != creds.organisation_id:
            raise NetvisorFailure("AUTHENTICATION_FAILED", text("organisation", language, value=organisation))
        return language

    def _forget(self, now: dt.datetime) -> None:
        """Ids older than twice the window can never come back with a valid timestamp."""
        horizon = now - 2 * self.window
        for transaction in [t for t, at in self.used.items() if at < horizon]:
            del self.used[transaction]
