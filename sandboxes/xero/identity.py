"""The Xero sandbox's identity service: consent page, token endpoint, connections.

Behaves as Xero's identity service does for an OAuth2 "web app" (REFERENCE.md, Xero section):
- ``/identity/connect/authorize`` shows a consent page listing the organisations; Allow redirects to
  the app's redirect_uri with a single-use ``code`` (5 sandbox minutes), Deny with
  ``error=access_denied``.
- ``/connect/token`` exchanges a code (a refresh token only when ``offline_access`` was asked for),
  refreshes with rotation (every refresh returns a new refresh token and the old one dies, except
  that for 30 sandbox minutes the old one still answers with the very same new pair: Xero's grace
  for an answer lost on the way back), and serves ``client_credentials`` for a custom connection
  (the first organisation, no refresh token).
- ``/connections`` lists (GET) and removes (DELETE) the organisations the user connected.
- ``/connect/revocation`` revokes a refresh token and removes the user's connections.

The class is transport-free: the WSGI app (app.py) turns requests into these calls. All times are
sandbox times from ``SandboxClock``, so a sped-up sandbox expires tokens sooner in real time.
"""
from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import hmac
import html
import json
import secrets
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Iterable

from .limits import SandboxClock

ACCESS_TOKEN_TTL = 1800  # seconds: Xero's access tokens last 30 minutes
CODE_TTL = 300  # authorization codes: 5 minutes, single use
REFRESH_GRACE = 1800  # a used refresh token still answers (the same pair) for 30 minutes
REFRESH_TOKEN_TTL = 60 * 86400  # an unused refresh token expires after 60 days
ISSUER = "https://identity.xero.com"
DEFAULT_CUSTOM_SCOPE = "accounting.transactions accounting.contacts accounting.settings"


class OAuthProblem(Exception):
    """An OAuth2 error answer: ``{"error": ...}`` with its HTTP status."""

    def __init__(self, error: str, status: int = 400, description: str | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description

    def body(self) -> dict:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


def unauthorized(detail: str = "AuthenticationUnsuccessful") -> dict:
    """The problem body Xero answers a 401 with, on /connections and on the accounting API."""
    return {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": detail,
            "Instance": str(uuid.uuid4()), "Extensions": {}}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _xero_datetime(moment) -> str:
    """Xero's identity dates: ISO 8601 in UTC, seven fractional digits, no zone ("2019-12-07T18:46:19.5165400")."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    expires: float
    auth_event_id: str
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str = "plain"
    used: bool = False


@dataclass
class _Access:
    expires: float
    client_id: str
    scope: str
    auth_event_id: str
    custom_tenant: str | None = None  # client_credentials: the one organisation it may use


@dataclass
class _Refresh:
    client_id: str
    scope: str
    auth_event_id: str
    expires: float
    used_at: float | None = None
    answer: dict | None = None  # what the first use returned, replayed during the grace
    revoked: bool = False


@dataclass
class _Connection:
    id: str
    tenant: dict
    auth_event_id: str
    created: object
    updated: object
    custom: bool = False

    def public(self) -> dict:
        return {
            "id": self.id,
            "authEventId": self.auth_event_id,
            "tenantId": self.tenant["tenantId"],
            "tenantType": self.tenant.get("tenantType") or "ORGANISATION",
            "tenantName": self.tenant.get("tenantName"),
            "createdDateUtc": _xero_datetime(self.created),
            "updatedDateUtc": _xero_datetime(self.updated),
        }


class Identity:
    """One Xero app (client id + secret) and one sandbox user who can connect the given organisations.

    ``redirect_uris`` restricts the redirect URIs the app may use (None: any, convenient for tests
    on random ports). Thread-safe: one lock around every change.
    """

    def __init__(self, clock: SandboxClock, *, client_id: str, client_secret: str,
                 tenants: Iterable[dict] = (), redirect_uris: Iterable[str] | None = None,
                 user_email: str = "demo.user@sandbox.invalid"):
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenants = [dict(t, tenantType=t.get("tenantType") or "ORGANISATION") for t in tenants]
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-sandbox-user:{user_email}"))
        self.user_email = user_email
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every code, token and connection (everyone must connect again)."""
        with self._lock:
            self._codes: dict[str, _Code] = {}
            self._access: dict[str, _Access] = {}
            self._refresh: dict[str, _Refresh] = {}
            self._connections: dict[str, _Connection] = {}

    # ----- consent page ---------------------------------------------------------------------------------
    def authorize(self, method: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """GET shows the consent page; POST (its form) redirects back to the app. Returns (status, headers, body)."""
        params = {k: (v[-1] if isinstance(v, list) else v) for k, v in params.items()}
        client_id = params.get("client_id") or ""
        redirect_uri = params.get("redirect_uri") or ""
        state = params.get("state")
        if client_id != self.client_id:
            return self._error_page("unauthorized_client", "Unknown client or client not enabled.")
        if not redirect_uri:
            return self._error_page("invalid_request", "The redirect_uri parameter is missing.")
        if self.redirect_uris is not None and redirect_uri not in self.redirect_uris:
            return self._error_page("invalid_request", "Invalid redirect_uri.")
        if params.get("response_type") != "code":
            return self._redirect(redirect_uri, error="unsupported_response_type", state=state)
        scope = " ".join((params.get("scope") or "").split())
        if not scope:
            return self._redirect(redirect_uri, error="invalid_scope", state=state)
        method = method.upper()
        if method == "GET":
            return self._consent_page(params)
        if method != "POST":
            return 405, {"Allow": "GET, POST", "Content-Type": "text/plain; charset=utf-8"}, b"Method not allowed"
        if params.get("decision") != "allow":
            return self._redirect(redirect_uri, error="access_denied", state=state)
        chosen = self._chosen_tenants(params)
        if not chosen:
            return self._consent_page(params, problem="Choose at least one organisation to connect.")
        challenge = params.get("code_challenge")
        with self._lock:
            now = self.clock.now()
            auth_event_id = str(uuid.uuid4())
            self._connect(chosen, auth_event_id)
            code = secrets.token_hex(32)
            self._codes[code] = _Code(client_id, redirect_uri, scope, now + CODE_TTL, auth_event_id,
                                      nonce=params.get("nonce"), code_challenge=challenge,
                                      code_challenge_method=params.get("code_challenge_method") or "plain")
        return self._redirect(redirect_uri, code=code, scope=scope, state=state)

    def _chosen_tenants(self, params: dict[str, str]) -> list[dict]:
        """Ticked organisations: ``tenant_<id>`` fields, or ``tenants`` (comma separated); all if the form says nothing."""
        by_id = {t["tenantId"]: t for t in self.tenants}
        ticked = [key[len("tenant_"):] for key, value in params.items() if key.startswith("tenant_") and value]
        if params.get("tenants"):
            ticked += [part.strip() for part in params["tenants"].split(",")]
        if not ticked and not params.get("tenant_choice"):
            return list(self.tenants)  # a scripted client posting just decision=allow connects everything
        return [by_id[t] for t in dict.fromkeys(ticked) if t in by_id]

    def _connect(self, tenants: list[dict], auth_event_id: str) -> None:
        now = self.clock.utcnow()
        for tenant in tenants:
            existing = next((c for c in self._connections.values()
                             if not c.custom and c.tenant["tenantId"] == tenant["tenantId"]), None)
            if existing:  # re-consent: same connection, new auth event
                existing.auth_event_id = auth_event_id
                existing.updated = now
            else:
                connection = _Connection(str(uuid.uuid4()), tenant, auth_event_id, now, now)
                self._connections[connection.id] = connection

    @staticmethod
    def _redirect(redirect_uri: str, **values: str | None) -> tuple[int, dict[str, str], bytes]:
        query = urllib.parse.urlencode({k: v for k, v in values.items() if v is not None})
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": f"{redirect_uri}{separator}{query}", "Cache-Control": "no-store"}, b""

    @staticmethod
    def _page(title: str, body: str, status: int = 200) -> tuple[int, dict[str, str], bytes]:
        page = (
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:34em;margin:3em auto;color:#1e3145}"
            "h1{font-size:1.4em}fieldset{border:1px solid #ccd;padding:1em}label{display:block;margin:.3em 0}"
            "button{margin:1em .5em 0 0;padding:.5em 1.5em}.problem{color:#a00}</style></head>"
            f"<body><p>Xero sandbox (not Xero)</p>{body}</body></html>"
        )
        return status, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page.encode()

    def _error_page(self, error: str, message: str) -> tuple[int, dict[str, str], bytes]:
        return self._page("Error", f"<h1>Sorry, something went wrong</h1><p>{html.escape(message)}</p>"
                                   f"<p>Error: <code>{html.escape(error)}</code></p>", status=400)

    def _consent_page(self, params: dict[str, str], problem: str | None = None) -> tuple[int, dict[str, str], bytes]:
        keep = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                "code_challenge", "code_challenge_method")
        hidden = "".join(f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
                         for name in keep if params.get(name) is not None)
        boxes = "".join(
            f'<label><input type="checkbox" name="tenant_{html.escape(t["tenantId"])}" value="on" checked> '
            f'{html.escape(t.get("tenantName") or t["tenantId"])}</label>'
            for t in self.tenants)
        scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in params.get("scope", "").split())
        warning = f'<p class="problem" role="alert">{html.escape(problem)}</p>' if problem else ""
        body = (
            f"<h1>{html.escape(self.client_id)} wants to access your Xero data</h1>{warning}"
            f"<p>Signed in as {html.escape(self.user_email)}. Permissions asked:</p><ul>{scopes}</ul>"
            '<form method="post" action="">'
            f'{hidden}<input type="hidden" name="tenant_choice" value="1">'
            f"<fieldset><legend>Organisations to connect</legend>{boxes}</fieldset>"
            '<button type="submit" name="decision" value="allow">Allow access</button>'
            '<button type="submit" name="decision" value="deny">Cancel</button></form>'
        )
        return self._page("Allow access to Xero", body, status=400 if problem else 200)

    # ----- token endpoint -------------------------------------------------------------------------------
    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict]:
        """POST /connect/token. Returns (status, JSON body): a token answer or an OAuth2 error."""
        form = {k: (v[-1] if isinstance(v, list) else v) for k, v in form.items()}
        try:
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthProblem("invalid_request", description="grant_type is missing")
            if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
                raise OAuthProblem("unsupported_grant_type")
            with self._lock:
                self._prune()
                if grant_type == "authorization_code":
                    return 200, self._exchange_code(form, authorization)
                if grant_type == "refresh_token":
                    self._authenticate(form, authorization)
                    return 200, self._refresh_grant(form)
                self._authenticate(form, authorization)
                return 200, self._client_credentials(form)
        except OAuthProblem as problem:
            return problem.status, problem.body()

    def _authenticate(self, form: dict[str, str], authorization: str | None, *, public_ok: bool = False) -> str:
        """Client authentication: HTTP Basic, or client_id + client_secret in the form."""
        client_id = secret = None
        if authorization and authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthProblem("invalid_client", 401) from None
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = urllib.parse.unquote_plus(raw_id), urllib.parse.unquote_plus(raw_secret)
        elif form.get("client_id"):
            client_id, secret = form["client_id"], form.get("client_secret")
        if client_id != self.client_id:
            raise OAuthProblem("invalid_client", 401)
        if secret is None and public_ok:
            return client_id  # PKCE: the code_verifier authenticates the exchange
        if secret is None or not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            raise OAuthProblem("invalid_client", 401)
        return client_id

    def _exchange_code(self, form: dict[str, str], authorization: str | None) -> dict:
        code_value = form.get("code")
        client_id = self._authenticate(form, authorization, public_ok=bool(form.get("code_verifier")))
        if not code_value:
            raise OAuthProblem("invalid_request", description="code is missing")
        code = self._codes.get(code_value)
        now = self.clock.now()
        if code is None or code.used or code.expires <= now or code.client_id != client_id:
            raise OAuthProblem("invalid_grant")
        code.used = True  # single use, even when the rest of this exchange fails
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthProblem("invalid_grant", description="redirect_uri does not match")
        if code.code_challenge is not None:
            verifier = form.get("code_verifier") or ""
            if code.code_challenge_method == "S256":
                computed = _b64url(hashlib.sha256(verifier.encode()).digest())
            else:
                computed = verifier
            if not hmac.compare_digest(computed.encode(), code.code_challenge.encode()):
                raise OAuthProblem("invalid_grant", description="code_verifier does not match")
        elif form.get("code_verifier") and not form.get("client_secret") and not authorization:
            raise OAuthProblem("invalid_client", 401)  # no secret and no PKCE to stand in for it
        return self._issue(code.scope, code.auth_event_id, nonce=code.nonce)

    def _refresh_grant(self, form: dict[str, str]) -> dict:
        value = form.get("refresh_token")
        if not value:
            raise OAuthProblem("invalid_request", description="refresh_token is missing")
        record = self._refresh.get(value)
        now = self.clock.now()
        if record is None or record.revoked or record.client_id != self.client_id:
            raise OAuthProblem("invalid_grant")
        if record.used_at is not None:
            if now - record.used_at < REFRESH_GRACE and record.answer is not None:
                return copy.deepcopy(record.answer)  # the lost answer, once more
            raise OAuthProblem("invalid_grant")
        if record.expires <= now:
            raise OAuthProblem("invalid_grant")
        answer = self._issue(record.scope, record.auth_event_id)
        record.used_at = now
        record.answer = copy.deepcopy(answer)
        return answer

    def _client_credentials(self, form: dict[str, str]) -> dict:
        if not self.tenants:
            raise OAuthProblem("unauthorized_client", description="no organisation for a custom connection")
        tenant = self.tenants[0]
        scope = " ".join((form.get("scope") or DEFAULT_CUSTOM_SCOPE).split())
        connection = next((c for c in self._connections.values() if c.custom), None)
        if connection is None:
            moment = self.clock.utcnow()
            connection = _Connection(str(uuid.uuid4()), tenant, str(uuid.uuid4()), moment, moment, custom=True)
            self._connections[connection.id] = connection
        return self._issue(scope, connection.auth_event_id, custom_tenant=tenant["tenantId"])

    def _issue(self, scope: str, auth_event_id: str, *, nonce: str | None = None,
               custom_tenant: str | None = None) -> dict:
        now = self.clock.now()
        access = self._jwt({
            "nbf": int(now), "exp": int(now + ACCESS_TOKEN_TTL), "iss": ISSUER,
            "aud": f"{ISSUER}/resources", "client_id": self.client_id, "sub": self.user_id,
            "auth_time": int(now), "xero_userid": self.user_id, "global_session_id": uuid.uuid4().hex,
            "jti": uuid.uuid4().hex, "authentication_event_id": auth_event_id, "scope": scope.split(),
        })
        self._access[access] = _Access(now + ACCESS_TOKEN_TTL, self.client_id, scope, auth_event_id, custom_tenant)
        answer: dict = {"access_token": access, "expires_in": ACCESS_TOKEN_TTL, "token_type": "Bearer",
                        "scope": scope}
        if "openid" in scope.split() and custom_tenant is None:
            claims = {"nbf": int(now), "exp": int(now + 300), "iss": ISSUER, "aud": self.client_id,
                      "iat": int(now), "at_hash": _b64url(hashlib.sha256(access.encode()).digest()[:16]),
                      "sid": uuid.uuid4().hex, "sub": self.user_id, "auth_time": int(now),
                      "xero_userid": self.user_id, "global_session_id": uuid.uuid4().hex,
                      "preferred_username": self.user_email, "email": self.user_email,
                      "given_name": "Demo", "family_name": "User"}
            if nonce:
                claims["nonce"] = nonce
            answer["id_token"] = self._jwt(claims)
        if "offline_access" in scope.split() and custom_tenant is None:
            refresh = secrets.token_hex(32)
            self._refresh[refresh] = _Refresh(self.client_id, scope, auth_event_id, now + REFRESH_TOKEN_TTL)
            answer["refresh_token"] = refresh
        return answer

    def _jwt(self, claims: dict) -> str:
        """A JWT-shaped token (HS256 with a per-sandbox key): clients that peek at exp/scope can, as with Xero."""
        header = _b64url(json.dumps({"alg": "HS256", "kid": "xero-sandbox", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(signature)}"

    def _prune(self) -> None:
        """Drop what can never answer again, so a long benchmark does not grow without bound."""
        now = self.clock.now()
        for token, record in list(self._access.items()):
            if record.expires <= now - 86400:
                del self._access[token]
        for token, record in list(self._refresh.items()):
            if (record.used_at is not None and now - record.used_at >= REFRESH_GRACE) or record.expires <= now:
                del self._refresh[token]
        for code, record in list(self._codes.items()):
            if record.expires <= now:
                del self._codes[code]

    # ----- revocation -----------------------------------------------------------------------------------
    def revoke(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict | None]:
        """POST /connect/revocation: the refresh token dies and the user's connections go, as with Xero."""
        form = {k: (v[-1] if isinstance(v, list) else v) for k, v in form.items()}
        try:
            with self._lock:
                self._authenticate(form, authorization)
                record = self._refresh.get(form.get("token") or "")
                if record is not None:
                    record.revoked = True
                    for connection_id in [c.id for c in self._connections.values() if not c.custom]:
                        del self._connections[connection_id]
                return 200, None
        except OAuthProblem as problem:
            return problem.status, problem.body()

    # ----- access checks and connections ---------------------------------------------------------------
    @staticmethod
    def _bearer(authorization: str | None) -> str | None:
        if not authorization:
            return None
        value = authorization.strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        return value or None

    def explain(self, authorization: str | None) -> str | None:
        """Why a bearer token is refused, in Xero's 401 words ("TokenExpired: ..."); None when it is good."""
        token = self._bearer(authorization)
        with self._lock:
            record = self._access.get(token) if token else None
            if record is None:
                return "AuthenticationUnsuccessful"
            if record.expires <= self.clock.now():
                moment = dt.datetime.fromtimestamp(record.expires, dt.timezone.utc)
                return f"TokenExpired: token expired at {moment:%m/%d/%Y %H:%M:%S}"
        return None

    def access(self, authorization: str | None) -> set[str] | None:
        """Tenant ids the bearer token may use now (empty: connected to none); None: unknown or expired."""
        token = self._bearer(authorization)
        if not token:
            return None
        with self._lock:
            record = self._access.get(token)
            if record is None or record.expires <= self.clock.now():
                return None
            if record.custom_tenant is not None:
                connected = any(c.custom for c in self._connections.values())
                return {record.custom_tenant} if connected else set()
            return {c.tenant["tenantId"] for c in self._connections.values() if not c.custom}

    def connections(self, method: str, authorization: str | None, connection_id: str | None = None,
                    auth_event_id: str | None = None) -> tuple[int, object]:
        """GET /connections (optionally ?authEventId=) or DELETE /connections/{id}. Returns (status, JSON body or None)."""
        detail = self.explain(authorization)
        if detail:
            return 401, unauthorized(detail)
        method = method.upper()
        with self._lock:
            record = self._access.get(self._bearer(authorization) or "")
            custom = record is not None and record.custom_tenant is not None
            mine = [c for c in self._connections.values() if c.custom == custom]
            if method == "GET" and connection_id is None:
                listed = [c.public() for c in sorted(mine, key=lambda c: c.created)]
                if auth_event_id:
                    listed = [c for c in listed if c["authEventId"] == auth_event_id]
                return 200, listed
            if method == "DELETE" and connection_id is not None:
                if not any(c.id == connection_id for c in mine):
                    return 404, {"Title": "Not Found", "Status": 404, "Detail": "Connection not found"}
                del self._connections[connection_id]
                return 204, None
        return 405, {"Title": "Method Not Allowed", "Status": 405}

    # ----- test helpers ---------------------------------------------------------------------------------
    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (the next API call answers 401)."""
        with self._lock:
            now = self.clock.now()
            for record in self._access.values():
                record.expires = min(record.expires, now)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token dies, grace included (the next refresh answers invalid_grant)."""
        with self._lock:
            for record in self._refresh.values():
                record.revoked = True
