from django.core.management.base import BaseCommand

from tenants.services import credentials_rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every connection's credentials with the first key of HUB_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; then the old keys can be removed."
    )

    def handle(self, *args, **options):
        rotated, unreadable = credentials_rotate_all()
        self.stdout.write(self.style.SUCCESS(f"{rotated} connection(s) re-encrypted with the primary key."))
        if unreadable:
            self.stdout.write(self.style.ERROR(
                f"{unreadable} connection(s) could not be decrypted with any configured key and were marked 'error'."
            ))
