"""``manage.py sandbox procountor``: serve the Procountor sandbox until stopped (called by the sandbox command)."""
from __future__ import annotations

from django.core.management.base import CommandError

from .app import DEFAULT_API_KEY, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, start_sandbox


def serve(*, host: str = "127.0.0.1", port: int = 0, seed: str | None = None, verbose: bool = False,
          client_id: str | None = None, client_secret: str | None = None, api_key: str | None = None,
          rate_limit: int | None = 20, **ignored):
    """Start the sandbox; return (running, "Procountor", lines saying where it answers)."""
    client_id = client_id or DEFAULT_CLIENT_ID
    client_secret = client_secret or DEFAULT_CLIENT_SECRET
    api_key = api_key or DEFAULT_API_KEY
    try:
        running = start_sandbox(client_id=client_id, client_secret=client_secret, api_key=api_key, seed=seed,
                                host=host, port=port, verbose=verbose, rate_limit=rate_limit)
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
    counts = running.state.summary()["counts"]
    lines = [f"  API:    {running.url}/api/...  (also /latest/api, /supported/api, /v2501/api; Bearer token)",
             f"  Token:  POST {running.url}/api/oauth/token  grant_type=client_credentials, client_id {client_id}, "
             f"client_secret {client_secret}, api_key {api_key} (tokens last 3600 s)",
             f"  Admin:  {running.url}/_sandbox  (header x-sandbox-key: {client_secret}; reset, faults, requests, "
             "clock, tokens/expire, limits)",
             f"  Seed:   {seed or 'none (chart of accounts, VAT, fiscal years only)'}: {counts['invoices']} invoices, "
             f"{counts['businessPartners']} business partners; rate limit {rate_limit or 'off'} requests/s"]
    return running, "Procountor", lines
