"""Settings, read from the environment (and from an optional ``.env`` file beside manage.py).

Every variable is documented in README.md. Production is the default: DEBUG is off, a
SECRET_KEY and HUB_ENCRYPTION_KEYS must be given, cookies are secure and HTTPS is enforced.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from integration_hub.crypto import (
    ENV_VARIABLE as ENCRYPTION_KEYS_VARIABLE,
    EncryptionKeyError,
    build_multifernet,
    derive_development_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_env_file = os.environ.get("HUB_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    # Values already in the process environment win over the file.
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random string (50+ characters), "
            "or set DEBUG=1 for a local development install."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production-0123456789"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- encryption of credentials at rest -------------------------------------------------------
HUB_ENCRYPTION_KEYS = env.list(ENCRYPTION_KEYS_VARIABLE, default=[])
if not HUB_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{ENCRYPTION_KEYS_VARIABLE} is not set. Generate a key with "
            "`python -m integration_hub.crypto` and set it (comma-separated, newest first)."
        )
    HUB_ENCRYPTION_KEYS = [derive_development_key(SECRET_KEY)]
try:
    build_multifernet(HUB_ENCRYPTION_KEYS)
except EncryptionKeyError as exc:
    raise ImproperlyConfigured(str(exc)) from None

# --- applications ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "integration_hub.admin_site.HubAdminConfig",  # django.contrib.admin, entered by tenant role
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "import_export",
    "axes",  # log-in throttling (integration_hub/login_throttle.py)
    "csp",  # Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
    "rules",
    "tenants",
    "mappings",
    "imports",  # previews of large admin imports, computed by the worker
    "syncs",
    "sandboxes",
]

# Roles decide what a signed-in user may do (tenants/policy.py); Django's model permissions grant nothing.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out log-in before any password check
    "tenants.policy.RoleBackend",
    "tenants.policy.LoginBackend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lock-out into its page
]

ROOT_URLCONF = "integration_hub.urls"
WSGI_APPLICATION = "integration_hub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.current_tenant",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the django-q2 worker share the file: wait for locks instead of failing,
    # and take the write lock at the start of a transaction so two writers never deadlock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Log-in throttling (django-axes, integration_hub/login_throttle.py): after HUB_LOGIN_FAILURE_LIMIT failures of
# one user name from one address, that pair is locked for HUB_LOGIN_COOLOFF_MINUTES. `manage.py axes_reset` unlocks.
AXES_FAILURE_LIMIT = env.int("HUB_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("HUB_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "integration_hub.login_throttle.locked_out"
AXES_CLIENT_IP_CALLABLE = "integration_hub.login_throttle.client_ip"
# Behind N reverse proxies that append to X-Forwarded-For, the client's address is the N-th from the right.
HUB_TRUSTED_PROXY_COUNT = env.int("HUB_TRUSTED_PROXY_COUNT", default=0)

# --- i18n -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- static files (served by whitenoise) ----------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

# --- security (production defaults; each can be relaxed explicitly) -------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp): scripts, styles, images, fonts and fetches from this site only; no inline
# script, no inline style, no plugin, no framing. Templates load static/hub/*.js instead (docs/decisions.md).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- background work: django-q2 -------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "integration-hub",
    "workers": env.int("Q_WORKERS", default=2),
    "recycle": 200,
    # A task may run for up to `timeout` seconds; the broker re-delivers it after `retry`
    # seconds if no worker acknowledged it. Keep timeout below retry (django-q2's rule).
    "timeout": env.int("Q_TIMEOUT", default=1800),
    "retry": env.int("Q_RETRY", default=2400),
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = env.float("Q_POLL", default=0.5)

# --- connectors -------------------------------------------------------------------------------
# Providers the hub offers, as dotted paths to their descriptors.
HUB_PROVIDERS = env.list(
    "HUB_PROVIDERS",
    default=[
        "integration_hub.connectors.tryton.provider.PROVIDER",
        "integration_hub.connectors.factorial.provider.PROVIDER",
        "integration_hub.connectors.xero.provider.PROVIDER",
        "integration_hub.connectors.netvisor.provider.PROVIDER",
        "integration_hub.connectors.procountor.provider.PROVIDER",
    ],
)
HUB_SYNC_BATCH_SIZE = env.int("HUB_SYNC_BATCH_SIZE", default=50)
# Document flows (ERP -> Xero): after its pass a run keeps reading the ERP's changes every POLL seconds for FOLLOW
# seconds, so that a document reaches Xero within seconds rather than at the next scheduled run.
HUB_DOCUMENT_FOLLOW_SECONDS = env.float("HUB_DOCUMENT_FOLLOW_SECONDS", default=240.0)
HUB_DOCUMENT_POLL_SECONDS = env.float("HUB_DOCUMENT_POLL_SECONDS", default=5.0)
# A batch whose answer was lost (or a temporary error) is settled by asking the target for its references, then
# what is missing is sent again: this many times, pausing HUB_SYNC_RETRY_PAUSE seconds (doubling) in between.
HUB_SYNC_WRITE_RETRIES = env.int("HUB_SYNC_WRITE_RETRIES", default=3)
# Foreign-currency invoices without a rate of their own and none in the accounting tool's rate table on the
# booking date: where the operator's reference rates come from (the ECB's daily XML format, e.g.
# https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml). Empty: no such source.
HUB_EXCHANGE_RATES_URL = env.str("HUB_EXCHANGE_RATES_URL", default="")
HUB_EXCHANGE_RATES_MAX_AGE_DAYS = env.int("HUB_EXCHANGE_RATES_MAX_AGE_DAYS", default=7)
HUB_SYNC_RETRY_PAUSE = env.float("HUB_SYNC_RETRY_PAUSE", default=0.5)
# A run facing a temporary failure (after the HTTP layer's own repeats) pauses and does the work in hand again
# (settled by reference first): pauses start at HUB_SYNC_OUTAGE_PAUSE seconds and double up to 30 s. It gives up
# only when the tools stay unreachable longer than HUB_SYNC_UNREACHABLE_BUDGET seconds in a row.
HUB_SYNC_OUTAGE_PAUSE = env.float("HUB_SYNC_OUTAGE_PAUSE", default=1.0)
HUB_SYNC_UNREACHABLE_BUDGET = env.float("HUB_SYNC_UNREACHABLE_BUDGET", default=300.0)
# At the end of a full run, this many booked documents (those checked longest ago) are looked up in the
# source, to notice the ones deleted there since (syncs/cancellations.py).
HUB_PRESENCE_CHECK_BATCH = env.int("HUB_PRESENCE_CHECK_BATCH", default=500)
HUB_RUN_STALE_AFTER = env.int("HUB_RUN_STALE_AFTER", default=30)  # seconds without a heartbeat (live runs beat every 10 s)
HUB_HTTP_CONNECT_TIMEOUT = env.float("HUB_HTTP_CONNECT_TIMEOUT", default=5.0)
# Call budgets per remote organisation (integration_hub/connectors/budget.py, docs/call-budget.md): shared through
# Redis (HUB_BUDGET_REDIS_URL, else REDIS_URL) or the database; HUB_BUDGET_BACKEND=memory|db|redis forces one.
# A call that would wait longer than HUB_BUDGET_MAX_WAIT seconds pauses the run instead (BudgetExhausted).
HUB_BUDGET_BACKEND = env.str("HUB_BUDGET_BACKEND", default="")
HUB_BUDGET_REDIS_URL = env.str("HUB_BUDGET_REDIS_URL", default="")
HUB_BUDGET_PREFIX = env.str("HUB_BUDGET_PREFIX", default="hub:budget:")
HUB_BUDGET_MAX_WAIT = env.float("HUB_BUDGET_MAX_WAIT", default=120.0)
HUB_HTTP_READ_TIMEOUT = env.float("HUB_HTTP_READ_TIMEOUT", default=60.0)
# Outbound policy (integration_hub/connectors/outbound.py): the hub calls public addresses only; these
# host names, host:port pairs, addresses or CIDR networks are allowed besides (e.g. an on-premises Tryton).
HUB_OUTBOUND_ALLOW = env.list("HUB_OUTBOUND_ALLOW", default=[])
try:
    from integration_hub.connectors.outbound import OutboundPolicy

    OutboundPolicy.parse(HUB_OUTBOUND_ALLOW)
except ValueError as exc:
    raise ImproperlyConfigured(f"HUB_OUTBOUND_ALLOW: {exc}") from None

# --- logging: secrets never reach a log line (see integration_hub/logging.py) --------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "integration_hub.logfilters.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact"], "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

# --- import / export: importing needs the change permission, exporting the view permission ------
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_SKIP_ADMIN_ACTION_EXPORT_UI = False
# An import larger than this is refused before it is read; one with more rows, before any row is checked.
HUB_IMPORT_MAX_BYTES = env.int("HUB_IMPORT_MAX_BYTES", default=2 * 1024 * 1024)
HUB_IMPORT_MAX_ROWS = env.int("HUB_IMPORT_MAX_ROWS", default=1000)
# An import with more rows than this is previewed by the worker, with a progress bar, rather than in the request.
HUB_IMPORT_INLINE_ROWS = env.int("HUB_IMPORT_INLINE_ROWS", default=200)

# --- Factorial ---------------------------------------------------------------------------------
HUB_FACTORIAL_API_VERSION = env.str("HUB_FACTORIAL_API_VERSION", default="2026-10-01")  # pinned in one place
# Factorial's address (API, /oauth/authorize, /oauth/token): the operator's, never a tenant's.
HUB_FACTORIAL_BASE_URL = env.str("HUB_FACTORIAL_BASE_URL", default="https://api.factorialhr.com")
HUB_FACTORIAL_CLIENT_ID = env.str("HUB_FACTORIAL_CLIENT_ID", default="sandbox-client")
HUB_FACTORIAL_CLIENT_SECRET = env.str("HUB_FACTORIAL_CLIENT_SECRET", default="sandbox-secret")
HUB_FACTORIAL_SCOPE = env.str("HUB_FACTORIAL_SCOPE", default="")
# --- Xero ----------------------------------------------------------------------------------------
# Xero's addresses, the operator's and never a tenant's: consent page (login), token endpoint (identity), API and
# /connections (api). A sandbox serves all three on one address.
HUB_XERO_LOGIN_URL = env.str("HUB_XERO_LOGIN_URL", default="https://login.xero.com")
HUB_XERO_IDENTITY_URL = env.str("HUB_XERO_IDENTITY_URL", default="https://identity.xero.com")
HUB_XERO_API_URL = env.str("HUB_XERO_API_URL", default="https://api.xero.com")
HUB_XERO_CLIENT_ID = env.str("HUB_XERO_CLIENT_ID", default="sandbox-xero-client")
HUB_XERO_CLIENT_SECRET = env.str("HUB_XERO_CLIENT_SECRET", default="sandbox-xero-secret")
HUB_XERO_SCOPE = env.str("HUB_XERO_SCOPE", default="offline_access accounting.transactions accounting.contacts "
                                                 "accounting.settings accounting.attachments")
# Only for a sandbox that runs its clock faster (tests, benchmarks): Xero's minute and day last 1/speed as long.
HUB_XERO_CLOCK_SPEED = env.float("HUB_XERO_CLOCK_SPEED", default=1.0)
# Netvisor (issue 17): the API's address and the hub's own partner identity (the operator's agreement with Netvisor);
# a tenant types its customer id and key. The defaults are the local sandbox's (manage.py sandbox netvisor).
HUB_NETVISOR_API_URL = env.str("HUB_NETVISOR_API_URL", default="https://integration.netvisor.fi")
HUB_NETVISOR_PARTNER_ID = env.str("HUB_NETVISOR_PARTNER_ID", default="sandbox-partner")
HUB_NETVISOR_PARTNER_KEY = env.str("HUB_NETVISOR_PARTNER_KEY", default="sandbox-partner-key")
HUB_NETVISOR_SENDER = env.str("HUB_NETVISOR_SENDER", default="integration-hub")
# Procountor (issue 17): the API's address and the hub's registered application; a tenant types its company's API key.
HUB_PROCOUNTOR_API_URL = env.str("HUB_PROCOUNTOR_API_URL", default="https://api.procountor.com/latest/api")
HUB_PROCOUNTOR_CLIENT_ID = env.str("HUB_PROCOUNTOR_CLIENT_ID", default="sandbox-procountor-client")
HUB_PROCOUNTOR_CLIENT_SECRET = env.str("HUB_PROCOUNTOR_CLIENT_SECRET", default="sandbox-procountor-secret")
HUB_SANDBOXES = env.bool("HUB_SANDBOXES", default=DEBUG)  # mount /sandbox/factorial/ (demo, tests)
HUB_SANDBOX_FACTORIAL_API_KEY = env.str("HUB_SANDBOX_FACTORIAL_API_KEY", default="sandbox-factorial-key")
# The day the mounted Factorial sandbox derives its demo data from (YYYY-MM-DD); empty: today.
HUB_SANDBOX_TODAY = env.str("HUB_SANDBOX_TODAY", default="")
HUB_PUBLIC_URL = env.str("HUB_PUBLIC_URL", default="http://127.0.0.1:8000")  # how tools reach the hub (webhooks, OAuth)

# --- mail: owners are told when a connection needs them ---------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="integration-hub@localhost")
