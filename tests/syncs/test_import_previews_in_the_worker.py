"""Imports with more rows than HUB_IMPORT_INLINE_ROWS are previewed by the worker, with progress, then confirmed.

The tests run django-q2 inline (tests/settings.py: ``Q_CLUSTER["sync"]``): the preview task runs when the upload's
transaction commits (``django_capture_on_commit_callbacks(execute=True)``), or when a test calls it.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from imports.models import ImportPreview, PreviewStatus
from imports.tasks import compute_preview
from integration_hub.connectors.errors import RetryableError
from integration_hub.connectors.memory.connector import MemoryConnector
from mappings.models import JournalMapping, VatMapping
from mappings.resources import VatMappingResource
from tenants.models import Role
from tenants.services import membership_set

pytestmark = pytest.mark.django_db
VAT_HEADER = "flow,kind,source_tax_id,source_rate,source_label,target_vat_code_id,target_vat_code_label\n"
IMPORT = "admin:mappings_vatmapping_import"


@pytest.fixture
def owner(make_user, tenant_a):
    user = make_user("big_importer")
    membership_set(tenant=tenant_a, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def threshold(settings):
    settings.HUB_IMPORT_INLINE_ROWS = 5
    return 5


def vat_rows(flow, count: int, code: str = "V10") -> str:
    return VAT_HEADER + "".join(f"{flow.pk},sale,big{i},5.5,TVA big {i},{code},\n" for i in range(count))


def upload(client, url: str, text: str, name: str = "mappings.csv"):
    file = SimpleUploadedFile(name, text.encode(), content_type="text/csv")
    return client.post(url, {"resource": "0", "format": "0", "import_file": file})


def preview_urls(preview, admin: str = "mappings_vatmapping") -> dict[str, str]:
    return {name: reverse(f"admin:{admin}_import_preview{suffix}", args=[preview.pk])
            for name, suffix in (("page", ""), ("progress", "_progress"), ("confirm", "_confirm"))}


def text_of(response) -> str:
    page = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("&#x27;", "'").replace("&quot;", '"')


def big_ones(flow):
    return VatMapping.objects.filter(flow=flow, source_tax_id__startswith="big")


def test_a_large_import_is_previewed_by_the_worker_then_confirmed_importing_exactly_that_file(
        client, owner, flow, tenant_a, threshold, django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, reverse(IMPORT), vat_rows(flow, 12))
    preview = ImportPreview.objects.get()
    urls = preview_urls(preview)
    assert response.status_code == 302 and response["Location"] == urls["page"]
    assert (preview.status, preview.checked_rows, preview.total_rows, preview.confirmable) == ("ready", 12, 12, True)
    assert preview.user == owner and list(preview.tenants.all()) == [tenant_a]
    assert not big_ones(flow).exists()  # a preview writes nothing

    page = client.get(urls["page"])
    body = page.content.decode()
    assert page.status_code == 200
    assert "Preview" in text_of(page) and text_of(page).count(" New ") == 12
    assert f'action="{urls["confirm"]}"' in body and 'value="Confirm import"' in body
    assert 'name="import_file_name"' not in body  # the confirmation names the preview, not a file
    assert "<script>" not in body and " style=" not in body.split('id="content"', 1)[-1]

    done = client.post(urls["confirm"])
    assert done.status_code == 302 and done["Location"] == reverse("admin:mappings_vatmapping_changelist")
    assert sorted(big_ones(flow).values_list("source_tax_id", flat=True)) == sorted(f"big{i}" for i in range(12))
    assert big_ones(flow).get(source_tax_id="big3").target_vat_code_label == "FR-V-10"
    assert any("Import finished: 12 new" in str(m) for m in get_messages(done.wsgi_request))
    preview.refresh_from_db()
    assert preview.status == "imported" and bytes(preview.content) == b""

    # a second click imports nothing twice
    again = client.post(urls["confirm"], follow=True)
    assert "This file was imported already." in text_of(again)
    assert big_ones(flow).count() == 12


def test_the_upload_request_only_queues_the_preview_and_the_task_computes_it(client, owner, flow, threshold):
    client.force_login(owner)
    response = upload(client, reverse(IMPORT), vat_rows(flow, 8))  # on-commit callbacks not run: no task yet

    preview = ImportPreview.objects.get()
    urls = preview_urls(preview)
    assert response.status_code == 302 and response["Location"] == urls["page"]
    assert (preview.status, preview.checked_rows, preview.total_rows, preview.result) == ("queued", 0, 8, {})
    assert bytes(preview.content) == vat_rows(flow, 8).encode()

    waiting = client.get(urls["page"])
    body = waiting.content.decode()
    assert waiting.status_code == 200
    assert f'id="import-preview" data-progress-url="{urls["progress"]}" data-active="1"' in body
    assert re.search(r'<progress id="import-preview-bar" max="8" value="0">', body)
    assert "hub/import-preview.js" in body and "<script>" not in body
    assert "Confirm import" not in body
    assert client.get(urls["progress"]).json() == {"status": "queued", "status_display": "Waiting for a worker",
                                                   "active": True, "checked": 0, "total": 8, "message": ""}

    assert compute_preview(str(preview.pk)) == f"import preview {preview.pk}: 8 row(s) checked"
    assert compute_preview(str(preview.pk)) == f"import preview {preview.pk}: not waiting (already handled)"
    progress = client.get(urls["progress"]).json()
    assert (progress["status"], progress["active"], progress["checked"], progress["total"]) == ("ready", False, 8, 8)
    assert "Confirm import" in client.get(urls["page"]).content.decode()


def test_progress_is_reported_while_the_worker_checks_the_rows(client, owner, flow, settings, monkeypatch):
    settings.HUB_IMPORT_INLINE_ROWS = 100
    client.force_login(owner)
    upload(client, reverse(IMPORT), vat_rows(flow, 300))
    preview = ImportPreview.objects.get()
    progress_url = preview_urls(preview)["progress"]
    seen = []
    validate = VatMappingResource.validate_instance

    def validate_and_look(resource, instance, *args, **kwargs):
        if instance.source_tax_id in ("big30", "big150", "big270"):  # what the page's script would read meanwhile
            seen.append(client.get(progress_url).json())
        return validate(resource, instance, *args, **kwargs)

    monkeypatch.setattr(VatMappingResource, "validate_instance", validate_and_look)
    compute_preview(str(preview.pk))

    assert [(p["status"], p["active"], p["total"]) for p in seen] == [("running", True, 300)] * 3
    checked = [p["checked"] for p in seen]
    assert checked == sorted(checked) and 0 < checked[0] < checked[1] < checked[2] < 300, checked
    assert 27 <= checked[0] <= 30 and 267 <= checked[2] <= 270  # written every 3 rows: a hundred writes at most
    final = client.get(progress_url).json()
    assert (final["status"], final["checked"]) == ("ready", 300)


def test_another_user_or_another_tenants_user_gets_404_on_the_preview_and_its_progress(
        client, owner, flow, tenant_a, tenant_b, make_user, threshold, django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, reverse(IMPORT), vat_rows(flow, 6))
    preview = ImportPreview.objects.get()
    urls = preview_urls(preview)
    assert client.get(urls["page"]).status_code == 200
    missing = preview_urls(ImportPreview(pk=uuid.uuid4()))
    not_found = client.get(missing["page"])
    assert not_found.status_code == 404

    colleague = make_user("same_tenant_accountant")  # may import in the same tenant, but did not upload it
    membership_set(tenant=tenant_a, user=colleague, role=Role.ACCOUNTANT)
    stranger = make_user("other_tenant_owner")
    membership_set(tenant=tenant_b, user=stranger, role=Role.OWNER)
    operator = make_user("operator", superuser=True)
    for someone in (colleague, stranger, operator):
        client.force_login(someone)
        for name in ("page", "progress"):
            answer = client.get(urls[name])
            assert answer.status_code == 404, (someone, name)
            assert answer.content == client.get(missing[name]).content  # exactly like a missing one
        assert client.post(urls["confirm"]).status_code == 404
    assert not big_ones(flow).exists()

    # the uploader too, under another model's admin, or once no longer allowed to import in that tenant
    client.force_login(owner)
    assert client.get(preview_urls(preview, "mappings_journalmapping")["page"]).status_code == 404
    membership_set(tenant=tenant_a, user=owner, role=Role.VIEWER)
    for name in ("page", "progress"):
        assert client.get(urls[name]).status_code == 404
    assert client.post(urls["confirm"]).status_code == 404
    assert not big_ones(flow).exists()


def test_a_preview_whose_accounting_tool_does_not_answer_ends_with_a_message(
        client, owner, flow, threshold, monkeypatch, django_capture_on_commit_callbacks):
    def refused(connector):
        raise RetryableError("memory: connection refused (3 attempts)", provider="memory")

    monkeypatch.setattr(MemoryConnector, "list_vat_codes", refused)
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, reverse(IMPORT), vat_rows(flow, 7))
    preview = ImportPreview.objects.get()
    urls = preview_urls(preview)
    assert preview.status == "failed" and not preview.confirmable and bytes(preview.content) == b""
    assert f"The accounting tool of flow “{flow.name}” ({flow.target}) could not be asked for its vat codes" in \
        preview.message
    assert "connection refused" in preview.message and "Nothing was imported" in preview.message

    progress = client.get(urls["progress"]).json()
    assert (progress["status"], progress["active"]) == ("failed", False) and "connection refused" in progress["message"]
    page = client.get(urls["page"])
    assert page.status_code == 200 and "connection refused" in text_of(page) and "Upload a file again" in text_of(page)
    refused_confirm = client.post(urls["confirm"], follow=True)
    assert refused_confirm.status_code == 200 and "cannot be confirmed" in text_of(refused_confirm)
    assert not big_ones(flow).exists()


def test_a_stored_file_the_worker_cannot_read_ends_the_preview_with_a_message(client, owner, flow, threshold):
    client.force_login(owner)
    upload(client, reverse(IMPORT), vat_rows(flow, 6))
    preview = ImportPreview.objects.get()
    ImportPreview.objects.filter(pk=preview.pk).update(content=b"\xff\xfe\x00 not utf-8 \x81\x82")  # e.g. damaged

    assert "failed" in compute_preview(str(preview.pk))
    page = client.get(preview_urls(preview)["page"])
    assert page.status_code == 200
    assert "This file could not be read as csv (UnicodeDecodeError)." in text_of(page)
    assert "Check that the format chosen matches the file" in text_of(page)


def test_a_preview_whose_worker_died_ends_with_a_message_when_someone_looks(client, owner, flow, threshold, settings):
    client.force_login(owner)
    upload(client, reverse(IMPORT), vat_rows(flow, 6))
    preview = ImportPreview.objects.get()
    long_ago = timezone.now() - dt.timedelta(seconds=settings.HUB_RUN_STALE_AFTER + 5)
    ImportPreview.objects.filter(pk=preview.pk).update(status=PreviewStatus.RUNNING, checked_rows=2,
                                                       heartbeat_at=long_ago)

    progress = client.get(preview_urls(preview)["progress"]).json()
    assert (progress["status"], progress["active"]) == ("failed", False)
    assert "The worker stopped before the preview was ready" in progress["message"]
    # a late redelivery of the task finds it finished and leaves it
    assert "already handled" in compute_preview(str(preview.pk))


def test_a_confirmation_imports_nothing_when_rows_became_invalid_since_the_preview(
        client, owner, flow, books, threshold, django_capture_on_commit_callbacks):
    _, target = books
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, reverse(IMPORT), vat_rows(flow, 6))
    preview = ImportPreview.objects.get()
    assert preview.confirmable
    target.vat_codes = [code for code in target.vat_codes if code.id != "V10"]  # removed in the tool meanwhile

    answer = client.post(preview_urls(preview)["confirm"], follow=True)
    assert answer.status_code == 200
    assert "Nothing was imported: since the preview, 6 row(s) no longer pass the checks" in text_of(answer)
    assert "row 1: target_vat_code_id: Unknown VAT code “V10”" in text_of(answer)
    assert not big_ones(flow).exists()


def test_account_and_journal_mapping_imports_go_through_the_worker_too(client, owner, flow, settings,
                                                                       django_capture_on_commit_callbacks):
    settings.HUB_IMPORT_INLINE_ROWS = 0
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, reverse("admin:mappings_flow_import"), "id,name,default_sales_account,"
                          f"customer_collective_account\n{flow.pk},{flow.name},7072,4111\n")
    preview = ImportPreview.objects.get(model="mappings.flow")
    assert response["Location"] == preview_urls(preview, "mappings_flow")["page"]
    page = client.get(response["Location"])
    assert "Some rows failed to validate" in text_of(page)
    assert "Account 7072 is closed or cannot receive entries." in text_of(page)
    assert "Confirm import" not in text_of(page) and "Upload a corrected file" in text_of(page)
    flow.refresh_from_db()
    assert flow.default_sales_account == "7071"

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, reverse("admin:mappings_journalmapping_import"),
                          f"flow,source_journal,target_journal_id,target_journal_label\n{flow.pk},VT,J1,VEN\n")
    preview = ImportPreview.objects.get(model="mappings.journalmapping")
    client.post(preview_urls(preview, "mappings_journalmapping")["confirm"])
    assert JournalMapping.objects.get(flow=flow, source_journal="VT").target_journal_id == "J1"


def test_an_xlsx_import_goes_through_the_worker_too(client, owner, flow, threshold, django_capture_on_commit_callbacks):
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(VAT_HEADER.strip().split(","))
    for i in range(9):
        book.active.append([flow.pk, "sale", f"big{i}", 5.5, f"TVA big {i}", "V10", None])
    buffer = io.BytesIO()
    book.save(buffer)
    client.force_login(owner)
    file = SimpleUploadedFile("mappings.xlsx", buffer.getvalue(),
                              content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(IMPORT), {"resource": "0", "format": "1", "import_file": file})
    preview = ImportPreview.objects.get()
    assert response["Location"] == preview_urls(preview)["page"]
    assert (preview.status, preview.total_rows, preview.confirmable) == ("ready", 9, True)
    client.post(preview_urls(preview)["confirm"])
    assert big_ones(flow).count() == 9


def test_small_imports_are_still_previewed_in_the_request(client, owner, flow, threshold):
    client.force_login(owner)
    rows = vat_rows(flow, 5) + f"{flow.pk},sale,t20,20,TVA 20 % renamed,V20,\n"  # an update: its diff is shown
    response = upload(client, reverse(IMPORT), rows)
    assert response.status_code == 302  # six rows: over the threshold of five
    ImportPreview.objects.all().delete()

    response = upload(client, reverse(IMPORT), vat_rows(flow, 4) + f"{flow.pk},sale,t20,20,TVA 20 % renamed,V20,\n")
    body = response.content.decode()
    assert response.status_code == 200 and not ImportPreview.objects.exists()
    assert 'name="import_file_name"' in body and "Confirm import" in body
    assert re.search(r"<ins>[^<]*renamed</ins>", body)  # the diff, without inline styles
    assert "<ins style" not in body and "<del style" not in body


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_progress_page_follows_the_worker_then_shows_the_preview_and_confirms_under_the_policy(
        page, live_server, owner, flow):
    from playwright.sync_api import expect

    content = vat_rows(flow, 8).encode()
    preview = ImportPreview.objects.create(user=owner, model="mappings.vatmapping", file_name="big.csv",
                                           size=len(content), content=content, total_rows=8)  # queued, as uploaded
    urls = preview_urls(preview)
    page.goto(f"{live_server.url}/accounts/login/")  # a member, not staff: the hub's log-in page
    page.fill("#id_username", owner.username)
    page.fill("#id_password", f"pw-{owner.username}")
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_have_text(owner.username)

    with page.expect_response(re.compile(re.escape(urls["progress"]))) as progress:  # static/hub/import-preview.js
        page.goto(live_server.url + urls["page"])
    assert progress.value.ok and progress.value.json()["active"] is True
    expect(page.locator("#import-preview-status")).to_have_text("Waiting for a worker")
    expect(page.locator("#import-preview-count")).to_have_text("0 / 8")
    page.shots("progress")

    compute_preview(str(preview.pk))  # the worker's turn: the page notices and shows the preview
    expect(page.locator("input[value='Confirm import']")).to_be_visible()
    expect(page.locator("table.import-preview tr.new")).to_have_count(8)
    page.shots("preview")
    page.click("input[value='Confirm import']")
    expect(page).to_have_url(live_server.url + reverse("admin:mappings_vatmapping_changelist"))
    expect(page.locator(".messagelist")).to_contain_text("Import finished: 8 new")
    assert big_ones(flow).count() == 8
