from django.core.management.base import BaseCommand

from integration_hub.crypto import generate_key


class Command(BaseCommand):
    help = "Print a new Fernet key for HUB_ENCRYPTION_KEYS (put it first to make it the primary key)."

    def handle(self, *args, **options):
        self.stdout.write(generate_key())
