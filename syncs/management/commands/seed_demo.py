import os
import secrets

from django.core.management.base import BaseCommand

from tenants.demo import seed_tenants


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenants and the demo login, and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD") or "")

    def handle(self, *args, password: str, **options):
        password = password or "demo-" + secrets.token_urlsafe(9)
        logins = seed_tenants(password=password)
        line = "=" * 64
        self.stdout.write(self.style.SUCCESS(line))
        self.stdout.write(self.style.SUCCESS("  Demo ready. Open http://127.0.0.1:8000/ and log in with"))
        self.stdout.write(self.style.SUCCESS(f"    user:     {logins.username}"))
        self.stdout.write(self.style.SUCCESS(f"    password: {logins.password}"))
        self.stdout.write(self.style.SUCCESS(f"  Tenants: {logins.tenant.name} (owner), {logins.other_tenant.name} (accountant)"))
        self.stdout.write(self.style.SUCCESS(line))
