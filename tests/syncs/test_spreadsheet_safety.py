"""Spreadsheets leaving and entering the hub are safe: exported text never runs as a formula, imports are bounded."""
from __future__ import annotations

import csv
import re
import io
import time
from decimal import Decimal as D

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mappings.models import JournalMapping, VatMapping
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import add, customer, invoice, line

pytestmark = pytest.mark.django_db
PERMS = ("mappings.view_vatmapping", "mappings.change_vatmapping", "mappings.add_vatmapping",
         "mappings.view_journalmapping", "mappings.view_flow", "mappings.change_flow", "syncs.view_syncerror")
FORMULA = '=HYPERLINK("http://x.example/steal","Click me")'
CSV_FORMAT, XLSX_FORMAT = "0", "1"
VAT_COLUMNS = ("flow", "kind", "source_tax_id", "source_rate", "source_label", "target_vat_code_id",
               "target_vat_code_label")
VAT_HEADER = ",".join(VAT_COLUMNS) + "\n"


@pytest.fixture
def owner(make_user, tenant_a):
    user = make_user("sheet_owner", staff=True, perms=PERMS)
    membership_set(tenant=tenant_a, user=user, role=Role.OWNER)
    return user


def export(client, url: str, resource: str, fields, fmt: str):
    response = client.post(url, {"format": fmt, "resource": "0", **{f"{resource}_{f}": "on" for f in fields}})
    assert response.status_code == 200, response.content[:500]
    return response


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def xlsx_cells(response) -> dict[str, list]:
    """Each column's cells (below the header), by header."""
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows())
    headers = [cell.value for cell in rows[0]]
    return {header: [row[i] for row in rows[1:]] for i, header in enumerate(headers)}


@pytest.fixture
def formula_error(client, owner, flow, books, sync):
    source, _ = books
    add(source, invoice("i1", number="F-901", lines=[line(rate=None)], partner=customer("c9", FORMULA)))
    add(source, invoice("i2", number="@F-902", lines=[line(rate=None)], partner=customer("c8", "-2+3")))
    sync(flow)
    client.force_login(owner)


ERROR_FIELDS = ("code", "invoice", "third_party", "occurrences")


def test_a_third_party_named_like_a_formula_is_inert_text_in_the_csv_of_errors(client, formula_error):
    rows = csv_rows(export(client, reverse("admin:syncs_syncerror_export"), "syncerrorresource", ERROR_FIELDS,
                           CSV_FORMAT))
    by_invoice = {row["invoice"]: row for row in rows}
    assert by_invoice["F-901"]["third party"] == "'" + FORMULA
    assert by_invoice["'@F-902"]["third party"] == "'-2+3"
    assert all(row["occurrences"] == "1" for row in rows)


def test_a_third_party_named_like_a_formula_is_a_plain_string_in_the_xlsx_of_errors(client, formula_error):
    cells = xlsx_cells(export(client, reverse("admin:syncs_syncerror_export"), "syncerrorresource", ERROR_FIELDS,
                              XLSX_FORMAT))
    parties = {cell.value: cell for cell in cells["third party"]}
    assert set(parties) == {"'" + FORMULA, "'-2+3"}
    assert all(cell.data_type == "s" for cell in parties.values())  # 's': a string; a formula would be 'f'
    assert {cell.value for cell in cells["invoice"]} == {"F-901", "'@F-902"}
    assert all(cell.data_type == "n" and cell.value == 1 for cell in cells["occurrences"])  # numbers stay numbers


@pytest.fixture
def formula_mappings(client, owner, flow):
    VatMapping.objects.create(flow=flow, kind="sale", source_tax_id="t-neg", source_rate=D("-5.5"),
                              source_label=FORMULA, target_vat_code_id="V10", target_vat_code_label="+cmd|' /C calc'!A0")
    JournalMapping.objects.create(flow=flow, source_journal="\tVEN=1+1", target_journal_id="J1",
                                  target_journal_label="\r@SUM(A1)")
    flow.name = "-1+1 flow"
    flow.save(update_fields=["name"])
    client.force_login(owner)
    return flow


def test_vat_and_journal_mappings_that_start_a_formula_are_escaped_in_csv_while_numbers_are_kept(client,
                                                                                                formula_mappings):
    vat = {row["source_tax_id"]: row for row in csv_rows(export(
        client, reverse("admin:mappings_vatmapping_export"), "vatmappingresource", VAT_COLUMNS, CSV_FORMAT))}
    assert vat["t-neg"]["source_label"] == "'" + FORMULA
    assert vat["t-neg"]["target_vat_code_label"] == "'+cmd|' /C calc'!A0"
    assert vat["t-neg"]["source_rate"] == "-5.500"  # a number, not text: left as it is
    assert vat["t20"]["source_rate"] == "20.000" and vat["t20"]["target_vat_code_id"] == "V20"
    journals = csv_rows(export(client, reverse("admin:mappings_journalmapping_export"), "journalmappingresource",
                               ("flow", "source_journal", "target_journal_id", "target_journal_label"), CSV_FORMAT))
    assert [(r["source_journal"], r["target_journal_label"]) for r in journals] == [("'\tVEN=1+1", "'\r@SUM(A1)")]


def test_vat_mappings_that_start_a_formula_are_strings_in_xlsx_while_negative_rates_stay_numbers(client,
                                                                                                formula_mappings):
    cells = xlsx_cells(export(client, reverse("admin:mappings_vatmapping_export"), "vatmappingresource", VAT_COLUMNS,
                              XLSX_FORMAT))
    label = next(cell for cell in cells["source_label"] if cell.value and "HYPERLINK" in cell.value)
    assert label.data_type == "s" and label.value == "'" + FORMULA
    code_label = next(cell for cell in cells["target_vat_code_label"] if cell.value and "cmd" in cell.value)
    assert code_label.data_type == "s" and code_label.value.startswith("'+cmd")
    negative = [cell for cell in cells["source_rate"] if cell.value is not None and cell.value < 0]
    assert [(cell.data_type, cell.value) for cell in negative] == [("n", -5.5)]


def test_account_mappings_export_escapes_a_flow_name_that_starts_a_formula_in_csv_and_xlsx(client, formula_mappings):
    url = reverse("admin:mappings_flow_export")
    rows = csv_rows(export(client, url, "flowaccountsresource", ("id", "name", "default_sales_account"), CSV_FORMAT))
    assert [(row["name"], row["default_sales_account"]) for row in rows] == [("'-1+1 flow", "7071")]
    cells = xlsx_cells(export(client, url, "flowaccountsresource", ("id", "name", "default_sales_account"),
                              XLSX_FORMAT))
    assert [(c.data_type, c.value) for c in cells["name"]] == [("s", "'-1+1 flow")]
    assert [(c.data_type, c.value) for c in cells["id"]] == [("n", formula_mappings.pk)]


def upload(client, url: str, content: bytes, name="mappings.csv", fmt=CSV_FORMAT):
    file = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(url, {"resource": "0", "format": fmt, "import_file": file})


def test_an_exported_label_that_was_escaped_imports_back_unchanged(client, formula_mappings):
    exported = export(client, reverse("admin:mappings_vatmapping_export"), "vatmappingresource", VAT_COLUMNS,
                      CSV_FORMAT).content
    VatMapping.objects.filter(source_tax_id="t-neg").update(source_label="changed since")
    preview = upload(client, reverse("admin:mappings_vatmapping_import"), exported)
    page = preview.content.decode()
    assert 'name="import_file_name"' in page, page[-3000:]

    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))
    client.post(reverse("admin:mappings_vatmapping_process_import"), fields)
    assert VatMapping.objects.get(source_tax_id="t-neg").source_label == FORMULA


def test_a_12_mb_csv_import_is_refused_quickly_with_a_message_naming_the_limit(client, owner, flow):
    client.force_login(owner)
    row = f"{flow.pk},sale,t{{}},5.5,{'x' * 200},V10,\n"
    body = VAT_HEADER + "".join(row.format(i) for i in range(60_000))
    content = body.encode()
    assert len(content) > 12 * 1024 * 1024
    before = VatMapping.objects.count()
    started = time.monotonic()
    response = upload(client, reverse("admin:mappings_vatmapping_import"), content)
    elapsed = time.monotonic() - started
    page = response.content.decode()
    assert response.status_code == 200
    assert "an import accepts at most 2.0 MB (HUB_IMPORT_MAX_BYTES)" in page
    assert "Split it into smaller files." in page
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert 'name="import_file_name"' not in page
    assert VatMapping.objects.count() == before


def test_a_csv_import_with_more_rows_than_allowed_is_refused_before_any_row_is_checked(client, owner, flow, settings):
    settings.HUB_IMPORT_MAX_ROWS = 3
    client.force_login(owner)
    content = (VAT_HEADER + "".join(f"{flow.pk},sale,t{i},5.5,x,V10,\n" for i in range(4))).encode()
    page = upload(client, reverse("admin:mappings_vatmapping_import"), content).content.decode()
    assert "This file has more than 3 rows, the most one import accepts (HUB_IMPORT_MAX_ROWS)." in page
    assert "Unknown VAT code" not in page and 'name="import_file_name"' not in page
    assert not VatMapping.objects.filter(source_tax_id="t0", source_label="x").exists()
    # at the limit, the same file is previewed
    content = (VAT_HEADER + "".join(f"{flow.pk},sale,t{i},5.5,x,V10,\n" for i in range(3))).encode()
    assert 'name="import_file_name"' in upload(client, reverse("admin:mappings_vatmapping_import"),
                                               content).content.decode()


def test_an_xlsx_import_with_more_rows_than_allowed_is_refused(client, owner, flow, settings):
    settings.HUB_IMPORT_MAX_ROWS = 3
    client.force_login(owner)
    book = openpyxl.Workbook()
    book.active.append(list(VAT_COLUMNS))
    for i in range(5):
        book.active.append([flow.pk, "sale", f"t{i}", 5.5, "x", "V10", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    page = upload(client, reverse("admin:mappings_vatmapping_import"), buffer.getvalue(), name="mappings.xlsx",
                  fmt=XLSX_FORMAT).content.decode()
    assert "This file has more than 3 rows, the most one import accepts (HUB_IMPORT_MAX_ROWS)." in page
    assert 'name="import_file_name"' not in page
