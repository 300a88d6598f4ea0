"""Serve a local SaaS sandbox: ``python manage.py sandbox factorial --port 8765 --api-key KEY --seed demo``."""
from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve a local stand-in for a SaaS API (only 'factorial' so far) until Ctrl-C or SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("name", choices=["factorial"], help="which sandbox to serve")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port to listen on (0 = any free port)")
        parser.add_argument("--api-key", default="sandbox-factorial-key", help="the accepted x-api-key")
        parser.add_argument("--seed", choices=["demo"], default=None, help="seed data (default: empty)")
        parser.add_argument("--client-id", default="sandbox-client", help="OAuth2 client id")
        parser.add_argument("--client-secret", default="sandbox-secret", help="OAuth2 client secret")
        parser.add_argument("--strict-limit", action="store_true",
                            help="answer 400 to limit > 100 instead of capping it at 100 as Factorial does")
        parser.add_argument("--no-post-rate-limit", action="store_true",
                            help="do not enforce Factorial's 200 POST requests per minute")
        parser.add_argument("--verbose", action="store_true", help="log every request to stderr")

    def handle(self, *args, name: str, host: str, port: int, api_key: str, seed: str | None, client_id: str,
               client_secret: str, strict_limit: bool, no_post_rate_limit: bool, verbose: bool, **options):
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
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        counts = state.summary()["counts"]
        self.stdout.write(self.style.SUCCESS(f"Factorial sandbox on {running.url}/"))
        self.stdout.write(f"  API:    {running.url}/api/2026-10-01/resources/...  (header x-api-key: {api_key})")
        self.stdout.write(f"  OAuth:  {running.url}/oauth/authorize, {running.url}/oauth/token "
                          f"(client_id {client_id}, client_secret {client_secret})")
        self.stdout.write(f"  Admin:  {running.url}/_sandbox  (faults, reset, requests; same x-api-key)")
        if seed:
            self.stdout.write(f"  Seed '{seed}': {counts['finance/financial_documents']} financial documents, "
                              f"{counts['expenses/expenses']} expenses, {counts['finance/contacts']} contacts")
        self.stdout.write("Ctrl-C stops it.")
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            running.stop()
            self.stdout.write("Factorial sandbox stopped.")
