"""Credentials are encrypted at rest, survive a key rotation, are never shown or logged in full."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection as db
from django.test import override_settings
from django.urls import reverse

from integration_hub import crypto
from integration_hub.logfilters import redact
from tenants.models import Connection, ConnectionStatus
from tenants.services import connection_check, connection_read_credentials, connection_update
from tests.conftest import SECRET

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)


def raw_column(connection_id: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials_ciphertext FROM tenants_connection WHERE id = %s", [connection_id])
        return cursor.fetchone()[0]


def test_the_raw_database_column_never_contains_the_secret(connection_a):
    raw = raw_column(connection_a.pk)
    assert raw
    assert SECRET not in raw
    assert "admin" not in raw and "acme" not in raw  # the whole credential set is encrypted
    assert Connection.objects.get(pk=connection_a.pk).get_credentials()["password"] == SECRET


def test_credentials_stay_readable_after_a_key_rotation(connection_a):
    old_keys = list(settings.HUB_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    with override_settings(HUB_ENCRYPTION_KEYS=[new_key, *old_keys]):
        assert Connection.objects.get(pk=connection_a.pk).get_credentials()["password"] == SECRET
        call_command("rotate_credentials", stdout=open(os.devnull, "w"))
    with override_settings(HUB_ENCRYPTION_KEYS=[new_key]):
        # only the new key is left: the rotated row must decrypt with it alone
        assert Connection.objects.get(pk=connection_a.pk).get_credentials()["password"] == SECRET
    assert raw_column(connection_a.pk) != ""


def test_a_connection_whose_credentials_cannot_be_decrypted_is_marked_error_not_a_500(client, owner_a, tenant_a, connection_a):
    with override_settings(HUB_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        assert connection_read_credentials(connection=connection_a) is None
        connection_a.refresh_from_db()
        assert connection_a.status == ConnectionStatus.ERROR
        assert "cannot be decrypted" in connection_a.status_message
        client.force_login(owner_a)
        detail = client.get(reverse("connection_detail", args=[tenant_a.slug, connection_a.pk]))
        assert detail.status_code == 200
        assert b"cannot be decrypted" in detail.content
        checked = client.post(reverse("connection_check", args=[tenant_a.slug, connection_a.pk]), follow=True)
        assert checked.status_code == 200
        edit = client.get(reverse("connection_edit", args=[tenant_a.slug, connection_a.pk]))
        assert edit.status_code == 200
        admin_page = client.get(reverse("admin:tenants_connection_change", args=[connection_a.pk]))
        assert admin_page.status_code == 200


def test_pages_and_admin_show_only_a_masked_secret(client, owner_a, tenant_a, connection_a):
    client.force_login(owner_a)
    pages = [
        reverse("connection_detail", args=[tenant_a.slug, connection_a.pk]),
        reverse("connection_edit", args=[tenant_a.slug, connection_a.pk]),
        reverse("admin:tenants_connection_change", args=[connection_a.pk]),
        reverse("admin:tenants_connection_changelist"),
    ]
    for url in pages:
        body = client.get(url).content.decode()
        assert SECRET not in body, url
    detail = client.get(pages[0]).content.decode()
    assert crypto.mask_secret(SECRET) in detail
    assert SECRET[-4:] in detail and SECRET[:8] not in detail


def test_a_blank_password_on_the_edit_form_keeps_the_stored_one(client, owner_a, tenant_a, connection_a):
    client.force_login(owner_a)
    url = reverse("connection_edit", args=[tenant_a.slug, connection_a.pk])
    response = client.post(url, {"name": "Books", "cred_url": "http://127.0.0.1:9/", "cred_database": "acme2",
                                 "cred_username": "admin", "cred_password": ""})
    assert response.status_code == 302
    connection_a.refresh_from_db()
    assert connection_a.get_credentials() == {"url": "http://127.0.0.1:9/", "database": "acme2", "username": "admin", "password": SECRET}


def test_secrets_never_reach_the_logs(caplog, connection_a):
    caplog.set_level(logging.DEBUG)
    connection_update(connection=connection_a, credentials={"password": SECRET + "-new"})
    connection_check(connection=connection_a)  # fails: nothing listens on port 9
    assert SECRET not in caplog.text
    assert SECRET not in connection_a.status_message


def test_the_log_filter_blanks_credential_shaped_values():
    line = 'login failed password=hunter2 token: abc.def {"api_key": "k-123"} Authorization: Bearer eyJhbGci'
    cleaned = redact(line)
    for secret in ("hunter2", "abc.def", "k-123", "eyJhbGci"):
        assert secret not in cleaned
    assert "login failed" in cleaned


def _manage(*args, env_overrides: dict) -> subprocess.CompletedProcess:
    # A clean environment: nothing the test settings put into os.environ may leak in.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "DATABASE_URL")}
    env.update({"HUB_ENV_FILE": "", "DJANGO_SETTINGS_MODULE": "integration_hub.settings"})
    env.update(env_overrides)
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_malformed_encryption_key_stops_start_up_with_a_message_naming_the_variable():
    result = _manage("check", env_overrides={"DEBUG": "0", "SECRET_KEY": "x" * 60, "HUB_ENCRYPTION_KEYS": "not-a-key"})
    assert result.returncode != 0
    assert "HUB_ENCRYPTION_KEYS" in result.stderr
    assert "key #1 is not a valid Fernet key" in result.stderr
    assert "not-a-key" not in result.stderr  # the bad value itself is not echoed


def test_a_missing_encryption_key_in_production_stops_start_up_naming_the_variable():
    result = _manage("check", env_overrides={"DEBUG": "0", "SECRET_KEY": "x" * 60})
    assert result.returncode != 0
    assert "HUB_ENCRYPTION_KEYS is not set" in result.stderr


def test_production_settings_pass_check_deploy_with_no_warning():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env_overrides={
            "DEBUG": "0",
            "SECRET_KEY": Fernet.generate_key().decode() + Fernet.generate_key().decode(),
            "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "hub.example.com",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
