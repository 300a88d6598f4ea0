"""Run the web server and the django-q2 worker together; Ctrl-C stops both."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web app and the background worker in one command (Ctrl-C stops both)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="address:port for the web server")
        parser.add_argument("--no-worker", action="store_true", help="do not start the django-q2 worker")
        parser.add_argument("--demo", action="store_true",
                            help="also start the demo Tryton server and set up the demo tenant, login and flow")

    def handle(self, *args, addr: str, no_worker: bool, demo: bool, **options):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        peer = None
        if demo:
            # The demo spans every app; only this entry point composes them.
            from syncs.demo import seed_demo_flow, start_demo_tryton
            from syncs.management.commands.seed_demo import demo_password, print_banner
            from tenants.demo import seed_tenants

            self.stdout.write("Starting the demo Tryton server...")
            peer = start_demo_tryton()
            self.stdout.write(f"Tryton answers on {peer.url} (user {peer.admin_user}, password {peer.admin_password}).")
            logins = seed_tenants(password=demo_password())
            seed_demo_flow(logins.tenant, peer, out=self.stdout.write)
            print_banner(self, logins)
            self.after_start = lambda: self.seed_after_start(logins.tenant, addr, peer)
        try:
            self.serve(manage, addr, no_worker)
        finally:
            if peer is not None:
                peer.stop()

    after_start = None

    def seed_after_start(self, tenant, addr: str, peer=None) -> None:
        """The demo's Factorial and Xero sandboxes live in the web app: their flows are set up once it answers."""
        import requests

        from syncs.demo import seed_factorial_demo

        base = f"http://{addr}"
        for _ in range(100):
            try:
                requests.get(base + "/accounts/login/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.3)
        try:
            seed_factorial_demo(tenant, base_url=base, out=self.stdout.write)
        except Exception as exc:  # noqa: BLE001 - the rest of the demo keeps running
            self.stderr.write(f"The Factorial part of the demo could not be set up: {exc}")
        try:
            from django.contrib.auth import get_user_model

            from mappings.models import Flow
            from syncs.demo import FLOW_NAME
            from syncs.demo_xero import seed_xero_demo

            invoicing = Flow.objects.filter(tenant=tenant, name=FLOW_NAME).select_related("source").first()
            owner = get_user_model().objects.filter(username="demo").first()
            if invoicing is not None and invoicing.source is not None and owner is not None:
                seed_xero_demo(base_url=base, invoicing=invoicing.source, owner=owner, out=self.stdout.write)
        except Exception as exc:  # noqa: BLE001 - the rest of the demo keeps running
            self.stderr.write(f"The Xero part of the demo could not be set up: {exc}")
        try:
            from django.contrib.auth import get_user_model

            from syncs.demo_erp import seed_erp_demo

            owner = get_user_model().objects.filter(username="demo").first()
            if peer is not None and owner is not None:
                seed_erp_demo(base_url=base, peer=peer, owner=owner, out=self.stdout.write)
        except Exception as exc:  # noqa: BLE001 - the rest of the demo keeps running
            self.stderr.write(f"The manufacturing (ERP → Xero) part of the demo could not be set up: {exc}")
        try:
            from django.contrib.auth import get_user_model

            from syncs.demo_finnish import seed_finnish_demo

            owner = get_user_model().objects.filter(username="demo").first()
            if peer is not None and owner is not None:
                seed_finnish_demo(base_url=base, peer=peer, owner=owner, out=self.stdout.write)
        except Exception as exc:  # noqa: BLE001 - the rest of the demo keeps running
            self.stderr.write("The Finnish (Tryton → Netvisor, Procountor) part of the demo could not be set up: "
                              f"{exc}")

    def serve(self, manage: str, addr: str, no_worker: bool) -> None:
        commands = [("web", [sys.executable, manage, "runserver", addr, "--noreload"])]
        if not no_worker:
            commands.append(("worker", [sys.executable, manage, "qcluster"]))
        children = {name: subprocess.Popen(cmd) for name, cmd in commands}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(self.style.SUCCESS(f"Web app on http://{addr}/ — worker {'off' if no_worker else 'on'}. Ctrl-C stops everything."))
        if self.after_start is not None:
            import threading

            threading.Thread(target=self.after_start, daemon=True).start()
        exit_code = 0
        try:
            while not stopping:
                for name, child in children.items():
                    code = child.poll()
                    if code is not None:
                        self.stderr.write(f"{name} stopped (exit code {code}); stopping the rest.")
                        exit_code = code or 1
                        stopping = True
                        break
                time.sleep(0.3)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)  # SIGINT may be ignored when started in the background
            deadline = time.monotonic() + 15
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)
