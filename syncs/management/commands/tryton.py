"""`manage.py tryton` (make tryton): the demo's Tryton server in the foreground, to look around in it."""
import time

from django.core.management.base import BaseCommand

from syncs.demo import ensure_invoicing_database, start_demo_tryton


class Command(BaseCommand):
    help = "Start the demo Tryton server (with its invoicing company) and keep it running until Ctrl-C."

    def handle(self, *args, **options):
        peer = start_demo_tryton()
        try:
            database = ensure_invoicing_database(peer, out=self.stdout.write)
            self.stdout.write(self.style.SUCCESS(
                f"Tryton JSON-RPC: {peer.url}/<database>/rpc/ ({peer.backend}); invoicing database: {database}; "
                f"user {peer.admin_user}, password {peer.admin_password}. Ctrl-C stops it."))
            while peer.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            peer.stop()
