"""``manage.py sandbox netvisor``: serve the Netvisor sandbox until stopped (called by the sandbox command)."""
from __future__ import annotations

from django.core.management.base import CommandError


def serve(*, host: str, port: int, seed: str | None, verbose: bool, sender: str, customer_id: str,
          customer_key: str, partner_id: str, partner_key: str, organisation_id: str, **ignored):
    """Start the sandbox in a background thread: (running, "Netvisor", lines saying how to use it)."""
    from .app import start_sandbox

    try:
        running = start_sandbox(host=host, port=port, verbose=verbose, sender=sender, customer_id=customer_id,
                                customer_key=customer_key, partner_id=partner_id, partner_key=partner_key,
                                organisation_id=organisation_id, seed=seed)
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
    counts = running.state.summary()["counts"]
    lines = [
        f"  API:    {running.url}/<resource>.nv  (e.g. {running.url}/salesinvoicelist.nv)",
        f"  Auth:   X-Netvisor-Authentication-* headers with an HMACSHA256 MAC: sender {sender!r}, customer id "
        f"{customer_id!r} / key {customer_key!r}, partner id {partner_id!r} / key {partner_key!r}, "
        f"X-Netvisor-Organisation-Id {organisation_id!r}",
        f"  Admin:  {running.url}/_sandbox  (reset, faults, requests, clock; header x-sandbox-key: {partner_key})",
        f"  Seed:   {seed or 'none (chart of accounts only)'}: {counts['sales_invoices']} sales invoices, "
        f"{counts['customers']} customers, {counts['vouchers']} vouchers",
    ]
    return running, "Netvisor", lines
