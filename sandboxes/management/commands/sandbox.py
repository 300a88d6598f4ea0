"""Serve a local SaaS sandbox.

    python manage.py sandbox factorial --port 8765 --api-key KEY --seed demo
    python manage.py sandbox xero --port 8766 --client-id ID --client-secret S --seed demo [--speed N] [--no-limits]
    python manage.py sandbox netvisor --port P --sender S --customer-id C --customer-key CK --partner-id PI
        --partner-key PK --organisation-id O --seed demo
    python manage.py sandbox procountor --port P --client-id ID --client-secret SECRET --api-key KEY --seed demo
"""
from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve a local stand-in for a SaaS API ('factorial' or 'xero') until Ctrl-C or SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("name", choices=["factorial", "xero", "netvisor", "procountor"], help="which sandbox to serve")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port to listen on (0 = any free port)")
        parser.add_argument("--api-key", default=None,
                            help="factorial: the accepted x-api-key (default sandbox-factorial-key); procountor: the "
                                 "user's API key the token endpoint asks for (default sandbox-procountor-key)")
        # Netvisor: the identifiers and keys its MAC authentication is computed from
        parser.add_argument("--sender", default="integration-hub", help="netvisor: X-Netvisor-Authentication-Sender")
        parser.add_argument("--customer-id", default="sandbox-customer", help="netvisor: the customer id")
        parser.add_argument("--customer-key", default="sandbox-customer-key", help="netvisor: the customer key")
        parser.add_argument("--partner-id", default="sandbox-partner", help="netvisor: the partner id")
        parser.add_argument("--partner-key", default="sandbox-partner-key", help="netvisor: the partner key")
        parser.add_argument("--organisation-id", default="1234567-1",
                            help="netvisor: the organisation's business id (Y-tunnus)")
        parser.add_argument("--seed", choices=["demo"], default=None, help="seed data (default: empty)")
        parser.add_argument("--client-id", default=None,
                            help="OAuth2 client id (default sandbox-client; xero: sandbox-xero-client)")
        parser.add_argument("--client-secret", default=None,
                            help="OAuth2 client secret (default sandbox-secret; xero: sandbox-xero-secret)")
        parser.add_argument("--speed", type=float, default=1.0,
                            help="xero: the sandbox clock runs this many times faster (tokens, rate-limit windows)")
        parser.add_argument("--no-limits", action="store_true", help="xero: do not enforce Xero's rate limits")
        parser.add_argument("--strict-limit", action="store_true",
                            help="answer 400 to limit > 100 instead of capping it at 100 as Factorial does")
        parser.add_argument("--no-post-rate-limit", action="store_true",
                            help="do not enforce Factorial's 200 POST requests per minute")
        parser.add_argument("--verbose", action="store_true", help="log every request to stderr")

    def handle(self, *args, name: str, host: str, port: int, api_key: str, seed: str | None, client_id: str | None,
               client_secret: str | None, strict_limit: bool, no_post_rate_limit: bool, verbose: bool,
               speed: float = 1.0, no_limits: bool = False, **options):
        if name in ("netvisor", "procountor"):
            from importlib import import_module

            serve = import_module(f"sandboxes.{name}.command").serve
            running, title, lines = serve(host=host, port=port, seed=seed, verbose=verbose, client_id=client_id,
                                          client_secret=client_secret, api_key=api_key, **options)
            return self.serve_until_stopped(running, title, lines)
        api_key = api_key or "sandbox-factorial-key"
        if name == "xero":
            return self.serve_xero(host, port, seed, client_id or "sandbox-xero-client",
                                   client_secret or "sandbox-xero-secret", speed, not no_limits, verbose)
        client_id, client_secret = client_id or "sandbox-client", client_secret or "sandbox-secret"
        from sandboxes.factorial.app import RunningSandbox, make_sandbox_server
        from sandboxes.factorial.state import SandboxState

        state = SandboxState(api_key=api_key, seed=seed, oauth_client_id=client_id,
                             oauth_client_secret=client_secret, strict_limit=strict_limit,
                             post_rate_limit=None if no_post_rate_limit else 200)
        try:
            server = make_sandbox_server(state, host, port, verbose)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        running = RunningSandbox(state, server)
        counts = state.summary()["counts"]
        lines = [f"  API:    {running.url}/api/2026-10-01/resources/...  (header x-api-key: {api_key})",
                 f"  OAuth:  {running.url}/oauth/authorize, {running.url}/oauth/token "
                 f"(client_id {client_id}, client_secret {client_secret})",
                 f"  Admin:  {running.url}/_sandbox  (faults, reset, requests; same x-api-key)"]
        if seed:
            lines.append(f"  Seed '{seed}': {counts['finance/financial_documents']} financial documents, "
                         f"{counts['expenses/expenses']} expenses, {counts['finance/contacts']} contacts")
        self.serve_until_stopped(running, "Factorial", lines)

    def serve_until_stopped(self, running, name: str, lines: list[str]) -> None:
        """Say where the sandbox answers, then serve until Ctrl-C or SIGTERM."""
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        self.stdout.write(self.style.SUCCESS(f"{name} sandbox on {running.url}/"))
        for line in [*lines, "Ctrl-C stops it."]:
            self.stdout.write(line)
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            running.stop()
            self.stdout.write(f"{name} sandbox stopped.")

    def serve_xero(self, host: str, port: int, seed: str | None, client_id: str, client_secret: str, speed: float,
                   limits: bool, verbose: bool) -> None:
        from sandboxes.xero.app import API_PREFIX, build_sandbox, start_sandbox

        if speed <= 0:
            raise CommandError("--speed must be positive")
        sandbox = build_sandbox(client_id=client_id, client_secret=client_secret, seed=seed, speed=speed,
                                limits=limits)
        try:
            running = start_sandbox(sandbox=sandbox, host=host, port=port, verbose=verbose)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        lines = [f"  API:      {running.url}{API_PREFIX}/...  (Bearer token + xero-tenant-id)",
                 f"  Identity: {running.url}/identity/connect/authorize, {running.url}/connect/token, "
                 f"{running.url}/connections (client_id {client_id}, client_secret {client_secret})",
                 f"  Admin:    {running.url}/_sandbox  (header x-sandbox-key: {client_secret})",
                 *[f"  Organisation {t['tenantName']!r}: {t['tenantId']}" for t in running.tenants],
                 f"  Seed: {seed or 'none (chart, tax rates, currencies only)'}; clock speed x{speed:g}; "
                 f"rate limits {'on' if limits else 'off'}"]
        self.serve_until_stopped(running, "Xero", lines)
