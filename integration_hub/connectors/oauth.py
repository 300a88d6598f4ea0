"""OAuth2 tokens for connectors: refreshed before they expire, and never refreshed twice at once.

A refresh token that rotates (each refresh returns a new one and kills the old) is the classic way
integrations get disconnected: two workers refresh at the same moment, one of them uses a dead token,
the provider answers `invalid_grant`. Here every refresh of one connection runs under an exclusive
lock held by the token store (the hub's store locks the connection's database row); whoever waited
re-reads the store and uses the token the winner saved.

The endpoints and the client credentials are the hub's settings, never a tenant's: the client secret
is posted only to the configured token endpoint, through the outbound policy, and a redirect from it
is never followed (a 307 would carry the secret elsewhere). Whatever goes wrong there is a
ConnectorError with an excerpt of the answer, secrets redacted — never an unhandled exception.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from integration_hub.connectors import outbound
from integration_hub.connectors.errors import NeedsReauthorization, OutboundRefused, RetryableError
from integration_hub.connectors.excerpt import excerpt

EXPIRY_MARGIN = 300  # seconds: refresh a token that has less than this to live


class TokenStore(Protocol):
    def load(self) -> dict:
        """The credentials as stored now (access_token, refresh_token, expires_at, ...)."""

    def refresh_locked(self, decide: Callable[[dict], dict]) -> dict:
        """Under an exclusive lock: reload the credentials, call `decide(current)`, save what it
        returns if it differs, and return it."""


class MemoryTokenStore:
    """A store for code that runs outside the hub (scripts, benchmarks): one process, one lock."""

    def __init__(self, credentials: dict, on_change: Callable[[dict], None] | None = None):
        import threading

        self.credentials = dict(credentials)
        self.on_change = on_change
        self.lock = threading.Lock()

    def load(self) -> dict:
        return dict(self.credentials)

    def refresh_locked(self, decide):
        with self.lock:
            current = dict(self.credentials)
            new = decide(current)
            if new != current:
                self.credentials = dict(new)
                if self.on_change:
                    self.on_change(dict(new))
            return dict(self.credentials)


def expiring(credentials: dict, margin: float = EXPIRY_MARGIN) -> bool:
    expires_at = credentials.get("expires_at")
    if not credentials.get("access_token"):
        return True
    if expires_at in (None, ""):
        return False  # a token without expiry (Factorial's company tokens)
    return float(expires_at) - time.time() < margin


class _GuardedOAuth2Session(outbound.GuardedSessionMixin, OAuth2Session):
    """Authlib's session on the hub's guarded transport (outbound policy, pinned addresses)."""


# What a token endpoint may answer that is not an OAuth error: network failures, HTML or other non-JSON
# pages, a JSON object without a token.
_UNREADABLE = (requests.RequestException, AuthlibBaseError, ValueError, KeyError, TypeError)


class OAuthClient:
    """The provider's OAuth2 endpoints, through Authlib."""

    def __init__(self, *, client_id: str, client_secret: str, authorize_url: str, token_url: str, provider: str,
                 scope: str = "", timeout: float = 30.0):
        self.client_id, self.client_secret = client_id, client_secret
        self.authorize_url, self.token_url = authorize_url, token_url
        self.provider, self.scope, self.timeout = provider, scope, timeout

    def _session(self, **kwargs) -> OAuth2Session:
        return _GuardedOAuth2Session(self.client_id, self.client_secret, scope=self.scope or None,
                                     token_endpoint_auth_method="client_secret_post", **kwargs)

    def _said(self, exc: Exception, *secrets: str) -> str:
        """The token endpoint's words, as an excerpt without the secrets the request carried."""
        if isinstance(exc, OAuthError):
            text = f"{exc.error}: {exc.description or ''}".strip(": ")
        else:
            response = getattr(exc, "response", None)
            text = getattr(response, "text", "") or str(exc) or type(exc).__name__
        return excerpt(text, secrets=(self.client_secret, *secrets))

    def authorization_url(self, *, redirect_uri: str, state: str) -> str:
        url, _ = self._session(redirect_uri=redirect_uri).create_authorization_url(self.authorize_url, state=state)
        return url

    def exchange_code(self, *, code: str, redirect_uri: str) -> dict:
        outbound.check_url(self.token_url)
        try:
            token = normalise(self._session(redirect_uri=redirect_uri).fetch_token(
                self.token_url, grant_type="authorization_code", code=code, timeout=self.timeout,
                allow_redirects=False))
        except OutboundRefused:
            raise
        except OAuthError as exc:
            raise NeedsReauthorization(f"{self.provider} refused the authorisation code", provider=self.provider,
                                       provider_message=self._said(exc, code)) from exc
        except _UNREADABLE as exc:
            raise RetryableError(f"{self.provider}'s token endpoint did not answer with a token; try connecting again",
                                 provider=self.provider, provider_message=self._said(exc, code)) from exc
        return token

    def client_credentials(self) -> dict:
        """A token for the client itself (machine-to-machine grants such as Xero's custom connections)."""
        outbound.check_url(self.token_url)
        try:
            token = normalise(self._session().fetch_token(self.token_url, grant_type="client_credentials",
                                                          timeout=self.timeout, allow_redirects=False))
        except OutboundRefused:
            raise
        except OAuthError as exc:
            raise NeedsReauthorization(f"{self.provider} refused the client id and secret", provider=self.provider,
                                       provider_message=self._said(exc)) from exc
        except _UNREADABLE as exc:
            raise RetryableError(f"{self.provider}'s token endpoint did not answer with a token",
                                 provider=self.provider, provider_message=self._said(exc)) from exc
        return token

    def refresh(self, refresh_token: str) -> dict:
        outbound.check_url(self.token_url)
        try:
            token = normalise(self._session().refresh_token(self.token_url, refresh_token=refresh_token,
                                                            timeout=self.timeout, allow_redirects=False))
        except OutboundRefused:
            raise
        except OAuthError as exc:
            if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
                raise NeedsReauthorization(
                    f"{self.provider} refused to renew the access: someone must connect it again",
                    provider=self.provider, provider_message=self._said(exc, refresh_token)) from exc
            raise RetryableError(f"{self.provider}: the token refresh failed", provider=self.provider,
                                 provider_message=self._said(exc, refresh_token)) from exc
        except Exception as exc:  # network errors: try again later, never disconnect for them
            raise RetryableError(f"{self.provider}: the token refresh failed", provider=self.provider,
                                 provider_message=type(exc).__name__) from exc
        return token


def normalise(token: dict) -> dict:
    out = {"access_token": token["access_token"], "refresh_token": token.get("refresh_token", ""),
           "token_type": token.get("token_type", "Bearer")}
    if token.get("expires_at"):
        out["expires_at"] = float(token["expires_at"])
    elif token.get("expires_in"):
        out["expires_at"] = time.time() + float(token["expires_in"])
    return out


class OAuthTokens:
    """The access token a connector sends, refreshed through the store's lock when needed."""

    def __init__(self, store: TokenStore, client: OAuthClient, *, margin: float = EXPIRY_MARGIN):
        self.store, self.client, self.margin = store, client, margin
        self._current: dict | None = None

    def access_token(self, *, rejected: str | None = None) -> str:
        """A token good for a while; `rejected`: the token the provider just refused (a 401)."""
        current = self._current or self.store.load()
        if rejected is None and not expiring(current, self.margin):
            self._current = current
            return current["access_token"]

        def decide(stored: dict) -> dict:
            # Someone else may have refreshed while we waited for the lock: use theirs.
            if not expiring(stored, self.margin) and stored.get("access_token") != rejected:
                return stored
            if not stored.get("refresh_token"):
                raise NeedsReauthorization(f"{self.client.provider}: no refresh token; connect it again",
                                           provider=self.client.provider)
            return {**stored, **self.client.refresh(stored["refresh_token"])}

        self._current = self.store.refresh_locked(decide)
        return self._current["access_token"]
