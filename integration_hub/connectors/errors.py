"""Typed errors every connector raises, so callers decide without knowing the provider."""
from __future__ import annotations

from integration_hub.connectors.excerpt import excerpt


class ConnectorError(Exception):
    """Base class. `provider_message` is the provider's own words, shown to accountants: always kept as a
    short plain-text excerpt (see excerpt.py), whoever raises the error."""

    retryable = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None,
                 provider_message: str = "", details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.provider_message = excerpt(provider_message, limit=300)
        self.details = details or {}

    def __str__(self) -> str:
        if self.provider_message and self.provider_message not in self.message:
            return f"{self.message}: {self.provider_message}"
        return self.message


class AuthenticationError(ConnectorError):
    """The credentials were refused (wrong password, revoked key)."""


class NeedsReauthorization(AuthenticationError):
    """The grant is gone (refresh refused): a person must connect the tool again."""


class RateLimited(ConnectorError):
    """The provider asked us to slow down for longer than we are willing to wait inline."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RetryableError(ConnectorError):
    """Temporary: server errors, timeouts, network failures (after our own retries ran out)."""

    retryable = True


class PermanentError(ConnectorError):
    """The provider refused the request for a reason retrying will not fix."""


class PeriodClosed(PermanentError):
    """The accounting tool has no open period for the entry's date (closed, locked or never created)."""


class NotFound(PermanentError):
    """The object does not exist (any more) in the provider."""


class OutboundRefused(PermanentError):
    """The outbound policy refused the address before anything was sent (see outbound.py)."""
