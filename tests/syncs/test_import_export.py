"""Mappings and errors in and out of the admin, through django-import-export."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mappings.models import VatMapping
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import add, invoice, line

pytestmark = pytest.mark.django_db
OWNER_PERMS = ("mappings.view_vatmapping", "mappings.change_vatmapping", "mappings.add_vatmapping",
               "mappings.view_flow", "mappings.change_flow", "syncs.view_syncerror")


@pytest.fixture
def owner(make_user, tenant_a):
    user = make_user("io_owner", staff=True, perms=OWNER_PERMS)
    membership_set(tenant=tenant_a, user=user, role=Role.OWNER)
    return user


def upload(client, url: str, csv_text: str):
    file = SimpleUploadedFile("mappings.csv", csv_text.encode(), content_type="text/csv")
    return client.post(url, {"resource": "0", "format": "0", "import_file": file})


def test_importing_vat_mappings_previews_each_invalid_row_and_writes_nothing(client, owner, flow):
    client.force_login(owner)
    before = list(VatMapping.objects.filter(flow=flow).values_list("source_tax_id", "target_vat_code_id"))
    csv_text = ("flow,kind,source_tax_id,source_rate,source_label,target_vat_code_id,target_vat_code_label\n"
                f"{flow.pk},sale,t55,5.5,TVA 5.5,V10,\n"
                f"{flow.pk},sale,t99,9.9,TVA 9.9,NOPE,\n"
                f"{flow.pk},sale,t98,9.8,TVA 9.8,A20,\n")
    response = upload(client, reverse("admin:mappings_vatmapping_import"), csv_text)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Unknown VAT code “NOPE”" in page
    assert "is a purchase code, not a sale one" in page
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("&#x27;", "'")
    assert "Some rows failed to validate" in text
    # each invalid row is named by its number, with the field and the reason
    assert re.search(r" 2 [^|]{0,40}target_vat_code_id Unknown VAT code “NOPE”", text)
    assert re.search(r" 3 [^|]{0,40}target_vat_code_id VAT code FR-A-20 is a purchase code", text)
    assert 'name="import_file_name"' not in page  # nothing to confirm while rows are invalid
    after = list(VatMapping.objects.filter(flow=flow).values_list("source_tax_id", "target_vat_code_id"))
    assert after == before


def test_a_valid_vat_import_is_confirmed_then_written(client, owner, flow):
    client.force_login(owner)
    csv_text = ("flow,kind,source_tax_id,source_rate,source_label,target_vat_code_id,target_vat_code_label\n"
                f"{flow.pk},sale,t55,5.5,TVA 5.5,V10,\n")
    preview = upload(client, reverse("admin:mappings_vatmapping_import"), csv_text)
    page = preview.content.decode()
    assert 'name="import_file_name"' in page
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))
    client.post(reverse("admin:mappings_vatmapping_process_import"), fields)
    mapping = VatMapping.objects.get(flow=flow, source_tax_id="t55")
    assert mapping.target_vat_code_id == "V10" and mapping.target_vat_code_label == "FR-V-10"


def test_a_row_naming_another_tenants_flow_is_refused(client, owner, tenant_b, books):
    from tests.support.books import make_flow

    other = make_flow(tenant_b, name="beta-books")
    client.force_login(owner)
    csv_text = ("flow,kind,source_tax_id,source_rate,source_label,target_vat_code_id,target_vat_code_label\n"
                f"{other.pk},sale,t55,5.5,x,V10,\n")
    page = upload(client, reverse("admin:mappings_vatmapping_import"), csv_text).content.decode()
    assert f"No such flow: {other.pk}" in page
    assert not VatMapping.objects.filter(flow=other, source_tax_id="t55").exists()


def test_account_mappings_import_rejects_a_closed_account(client, owner, flow):
    client.force_login(owner)
    csv_text = f"id,name,default_sales_account,customer_collective_account\n{flow.pk},{flow.name},7072,4111\n"
    page = upload(client, reverse("admin:mappings_flow_import"), csv_text).content.decode()
    assert "Account 7072 is closed or cannot receive entries." in page
    flow.refresh_from_db()
    assert flow.default_sales_account == "7071"


def test_vat_mappings_export_to_csv_and_xlsx_for_the_users_tenants_only(client, owner, flow, tenant_b):
    from tests.support.books import make_books, make_flow

    make_books("other-tenant")
    make_flow(tenant_b, name="other-tenant")
    client.force_login(owner)
    url = reverse("admin:mappings_vatmapping_export")
    csv_response = client.post(url, {"format": "0", "resource": "0", **{f"vatmappingresource_{f}": "on" for f in (
        "flow", "kind", "source_tax_id", "source_rate", "source_label", "target_vat_code_id", "target_vat_code_label")}})
    text = csv_response.content.decode()
    rows = [r for r in text.splitlines()[1:] if r]
    assert len(rows) == VatMapping.objects.filter(flow=flow).count() == 4
    assert all(r.startswith(f"{flow.pk},") for r in rows)
    xlsx_response = client.post(url, {"format": "1", "resource": "0", **{f"vatmappingresource_{f}": "on" for f in (
        "flow", "kind", "source_tax_id", "target_vat_code_id")}})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_response.content)).active
    assert sheet.max_row == 5


def test_the_error_list_exports_with_meaning_and_resolution(client, owner, flow, books, sync):
    source, _ = books
    add(source, invoice("i1", number="F-900", lines=[line(rate=None)]))
    sync(flow)
    client.force_login(owner)
    response = client.post(reverse("admin:syncs_syncerror_export"), {"format": "0", "resource": "0", **{
        f"syncerrorresource_{f}": "on" for f in ("code", "title", "invoice", "description", "resolution")}})
    text = response.content.decode()
    assert "F-900" in text and "Invoice line without tax" in text and "Set the tax" in text
