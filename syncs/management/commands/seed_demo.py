import os
import secrets

from django.core.management.base import BaseCommand

from tenants.demo import seed_tenants


def print_banner(command, logins) -> None:
    line = "=" * 66
    success = command.style.SUCCESS
    for text in (line, "  Demo ready. Open http://127.0.0.1:8000/ and log in with",
                 f"    user:     {logins.username}", f"    password: {logins.password}",
                 f"  Tenants: {logins.tenant.name} (owner), {logins.other_tenant.name} (accountant),",
                 "           Harbour Trading (Xero demo) (owner; set up once the web app answers)",
                 "           Atelier Mécanique (ERP → Xero demo) (owner; ERP documents into Xero, likewise)", line):
        command.stdout.write(success(text))


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD") or "demo-" + secrets.token_urlsafe(9)


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenants and the demo login, and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="")

    def handle(self, *args, password: str, **options):
        print_banner(self, seed_tenants(password=password or demo_password()))
