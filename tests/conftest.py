"""Fixtures shared by the whole suite."""
from __future__ import annotations

import datetime as dt
import os

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from tenants.models import Role
from tenants.services import connection_create, membership_set, tenant_create

ADMIN_MODELS = ("tenant", "membership", "connection")

# --- the clock ------------------------------------------------------------------------------------
# HUB_TEST_CLOCK=2028-02-29T09:30:00+00:00 moves this process's clock there for the whole session
# (it keeps ticking). scripts/run-tests.sh runs the `clock` tests under several such dates, so a
# test that silently depends on the day it was written fails the day it lands, not a month later.
_TRAVEL = None


def pytest_configure(config):
    global _TRAVEL
    clock = os.environ.get("HUB_TEST_CLOCK")
    if clock and _TRAVEL is None:
        import time_machine

        moment = dt.datetime.fromisoformat(clock)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        _TRAVEL = time_machine.travel(moment, tick=True)
        _TRAVEL.start()


def pytest_unconfigure(config):
    global _TRAVEL
    if _TRAVEL is not None:
        _TRAVEL.stop()
        _TRAVEL = None


def pytest_report_header(config):
    if os.environ.get("HUB_TEST_CLOCK"):
        return [f"clock moved to {os.environ['HUB_TEST_CLOCK']} (now reads {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)"]
    return []


@pytest.fixture
def make_user(db):
    def make(username: str, *, staff: bool = False, superuser: bool = False, perms: tuple[str, ...] = ()):
        user = get_user_model().objects.create_user(username=username, password="pw-" + username, is_staff=staff or superuser,
                                                    is_superuser=superuser)
        for codename in perms:
            app_label, code = codename.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))
        return user

    return make


@pytest.fixture
def staff_perms():
    """Every admin permission on the tenants app, as a member of staff would get through a group."""
    return tuple(f"tenants.{action}_{model}" for model in ADMIN_MODELS for action in ("view", "change", "delete", "add"))


@pytest.fixture
def tenant_a(db):
    return tenant_create(name="Alpha SAS", slug="alpha", country="FR", base_currency="EUR")


@pytest.fixture
def tenant_b(db):
    return tenant_create(name="Beta GmbH", slug="beta", country="DE", base_currency="EUR")


@pytest.fixture
def owner_a(make_user, tenant_a, staff_perms):
    user = make_user("owner_a", staff=True, perms=staff_perms)
    membership_set(tenant=tenant_a, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def owner_b(make_user, tenant_b, staff_perms):
    user = make_user("owner_b", staff=True, perms=staff_perms)
    membership_set(tenant=tenant_b, user=user, role=Role.OWNER)
    return user


SECRET = "s3cr3t-Pa55word-nobody-should-see"


@pytest.fixture
def connection_a(tenant_a):
    return connection_create(
        tenant=tenant_a,
        name="Books",
        provider="tryton",
        role="target",
        auth_kind="credentials",
        credentials={"url": "http://127.0.0.1:9/", "database": "acme", "username": "admin", "password": SECRET},
    )


# --- live Tryton -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tryton_peer(tmp_path_factory):
    """A real trytond server for the whole session (PostgreSQL when it answers, else SQLite)."""
    from tests.support.tryton import start_peer

    peer = start_peer(tmp_path_factory.mktemp("tryton-peer"))
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def tryton_invoicing_db(tryton_peer):
    """An invoicing company with customers, suppliers and posted invoices; tests only read it."""
    from tests.support.tryton import unique_db

    name = tryton_peer.create_database(unique_db("inv"), company_name="Atelier Source SARL")
    seeded = tryton_peer.run_setup(name, "seed_invoicing", customers=5, suppliers=3, customer_invoices=14,
                                   supplier_invoices=8, seed=7, credit_note_every=5,
                                   supplier_profiles=["fr_siret", "fr_siren"],
                                   start_date="2026-01-05", end_date="2026-10-30")
    yield name, seeded
    tryton_peer.drop_database(name)


@pytest.fixture
def tryton_accounting_db(tryton_peer):
    """A fresh accounting company (French chart, open fiscal years) for one test."""
    from tests.support.tryton import unique_db

    name = tryton_peer.create_database(unique_db("acc"), company_name="Cabinet Cible SAS")
    yield name
    tryton_peer.drop_database(name)


# --- browser --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser():
    import os

    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch

    # Playwright's sync API keeps an event loop on the main thread; the test body's ORM calls are
    # still synchronous, so Django's async guard must not refuse them.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser tab; the test fails at teardown if any page broke the Content-Security-Policy."""
    from tests.support.browser import CspWatch, Shots

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    watch = CspWatch(context)
    tab = context.new_page()
    tab.shots = Shots(tab, request.node.name)
    tab.csp_violations = watch.violations
    yield tab
    failure = watch.failure()
    context.close()
    if failure:
        pytest.fail(failure, pytrace=False)
