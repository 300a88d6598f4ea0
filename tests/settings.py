"""Settings for the test suite: the production settings with test-only secrets.

The database comes from DATABASE_URL like everywhere else (scripts/run-tests.sh runs the
suite once on SQLite and once on PostgreSQL). A local `.env` is ignored so a developer's
own configuration never leaks into a test run.
"""
import os
from pathlib import Path

os.environ["HUB_ENV_FILE"] = ""
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-django-checks-0123456789")
# Two keys: the suite must work with a key ring, not just a single key.
os.environ.setdefault(
    "HUB_ENCRYPTION_KEYS",
    "x0U5kJ8yTn1m0g3m9sZ0q9bHf0d1mQ4V2b7mS8a6c3E=,Qk9lJ3h0c2VjcmV0LWtleS1mb3ItdGVzdHMtMDEyMzQ=",
)
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("HUB_SANDBOXES", "1")
# The tests' Tryton, sandboxes and scripted servers listen on loopback; tests of the outbound policy
# put it back in force with override_settings(HUB_OUTBOUND_ALLOW=[]).
os.environ.setdefault("HUB_OUTBOUND_ALLOW", "127.0.0.1,localhost")
# The mounted Factorial sandbox seeds its data from this day, not from the real date.
os.environ.setdefault("HUB_SANDBOX_TODAY", "2026-11-21")
# Call budgets in Redis live under a prefix of this test run's own (the processes it starts inherit it).
os.environ.setdefault("HUB_BUDGET_PREFIX", f"hub-test-{os.getpid()}-{os.urandom(4).hex()}:budget:")

from integration_hub.settings import *  # noqa: E402,F401,F403
from integration_hub.settings import BASE_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: tests that start real worker processes must share the database.
    (Path(BASE_DIR) / "var").mkdir(exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(Path(BASE_DIR) / "var" / f"test-hub-{os.getpid()}.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405 - tasks run inline unless a test starts a real worker
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The in-process invoicing/accounting provider is enabled for tests only.
HUB_PROVIDERS = [*HUB_PROVIDERS, "integration_hub.connectors.memory.provider.PROVIDER",  # noqa: F405
                 "integration_hub.connectors.memory.provider.MONITORED_PROVIDER"]

# A write whose answer was lost is settled at once (no pause between the look-up and the new attempt).
HUB_SYNC_RETRY_PAUSE = 0
# A run facing an unreachable tool gives up at once unless a test gives it patience (override_settings).
HUB_SYNC_UNREACHABLE_BUDGET = 0
# Document flows' runs do not follow the ERP after their pass (each test's run ends after it); a test that wants
# following sets HUB_DOCUMENT_FOLLOW_SECONDS itself.
HUB_DOCUMENT_FOLLOW_SECONDS = 0
