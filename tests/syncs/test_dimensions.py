"""Cost centres and projects: the source's dimensions become the target's analytic accounts, through the flow's
mapping; an unmapped value is ignored or stops its invoice, as the flow says."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.urls import reverse

from mappings.models import DimensionMapping, UnmappedDimension
from mappings.suggestions import suggest_dimension
from syncs import catalogue
from syncs.models import DocumentStatus, RunStatus, SyncDocument, SyncError
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import NOW, add, invoice, line

pytestmark = [pytest.mark.django_db]

PARIS, MONTREUIL = ("61", "Siège Paris"), ("62", "Atelier Montreuil")


def charged(to: tuple[str, str], description: str = "Widget", amount: str = "100.00", **kwargs):
    item = line(description, amount, **kwargs)
    item.dimensions = {"cost_center": to}
    return item


def mapped(flow, value_id: str, target_id: str, dimension: str = "cost_center") -> None:
    DimensionMapping.objects.create(flow=flow, dimension=dimension, source_value_id=value_id,
                                    target_dimension_id=target_id, target_dimension_label=f"Analytic {target_id}")


def entries(target):
    return {stored.entry.reference: stored.entry for stored in target.entries.values()}


def base_lines(entry):
    return sorted(((l.account_number, l.credit, tuple(sorted(l.analytic.items()))) for l in entry.lines
                   if l.vat_role == "base"), key=str)


def test_a_mapped_cost_centre_puts_its_analytic_account_on_the_base_line_only(flow, books, sync):
    source, target = books
    mapped(flow, "61", "AN-PAR")
    add(source, invoice(lines=[charged(PARIS)]))
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    (entry,) = entries(target).values()
    assert base_lines(entry) == [("7071", D("100.00"), (("cost_center", "AN-PAR"),))]
    assert [l.analytic for l in entry.lines if l.vat_role != "base"] == [{}, {}]  # customer and VAT lines


def test_two_lines_with_two_cost_centres_stay_apart_and_lines_of_one_centre_are_grouped(flow, books, sync):
    source, target = books
    mapped(flow, "61", "AN-PAR")
    mapped(flow, "62", "AN-MTR")
    add(source, invoice(lines=[charged(PARIS, "Chairs", "100.00"), charged(MONTREUIL, "Tables", "40.00"),
                               charged(PARIS, "Lamps", "10.00"), line("Delivery", "5.00")]))
    sync(flow)
    (entry,) = entries(target).values()
    assert base_lines(entry) == [("7071", D("110.00"), (("cost_center", "AN-PAR"),)),
                                 ("7071", D("40.00"), (("cost_center", "AN-MTR"),)),
                                 ("7071", D("5.00"), ())]
    assert entry.total_debit == entry.total_credit == D("186.00")


def test_a_cost_centre_and_a_project_on_one_line_both_reach_the_entry(flow, books, sync):
    source, target = books
    mapped(flow, "61", "AN-PAR")
    mapped(flow, "88", "AN-SALON", dimension="project")
    item = charged(PARIS)
    item.dimensions["project"] = ("88", "Salon Maison & Objet")
    add(source, invoice(lines=[item]))
    sync(flow)
    (entry,) = entries(target).values()
    assert base_lines(entry) == [("7071", D("100.00"), (("cost_center", "AN-PAR"), ("project", "AN-SALON")))]


def test_an_unmapped_cost_centre_with_the_error_policy_stops_that_invoice_and_the_rest_of_the_batch_syncs(
        flow, books, sync):
    source, target = books
    flow.unmapped_dimension = UnmappedDimension.ERROR
    flow.save()
    mapped(flow, "61", "AN-PAR")
    add(source, invoice("i1", lines=[charged(PARIS)]), invoice("i2", lines=[charged(PARIS), charged(MONTREUIL)]),
        invoice("i3", lines=[line("No centre at all")]))
    run = sync(flow)
    assert run.status == RunStatus.PARTIAL and run.synced_count == 2 and run.error_count == 1
    error = SyncError.objects.get(flow=flow)
    assert error.code == catalogue.DIMENSION_NOT_MAPPED and error.document.source_id == "i2"
    assert "The cost centre “Atelier Montreuil” (62) of line “Widget” is not mapped" in error.message
    assert catalogue.get(error.code).resolution and catalogue.get(error.code).step == "configuration"
    assert {r.split("-", 1)[1] for r in entries(target)} == {"i1", "i3"}
    # mapping the value and running again books the invoice
    mapped(flow, "62", "AN-MTR")
    again = sync(flow)
    assert again.synced_count == 1
    assert SyncDocument.objects.get(flow=flow, source_id="i2").status == DocumentStatus.SYNCED
    booked = entries(target)[f"{flow.pk}-i2"]
    assert {tuple(l.analytic.values()) for l in booked.lines if l.vat_role == "base"} == {("AN-PAR",), ("AN-MTR",)}


def test_an_unmapped_cost_centre_with_the_ignore_policy_books_the_line_without_it(flow, books, sync):
    source, target = books
    assert flow.unmapped_dimension == UnmappedDimension.IGNORE  # the default
    mapped(flow, "61", "AN-PAR")
    add(source, invoice(lines=[charged(PARIS, "Chairs", "100.00"), charged(MONTREUIL, "Tables", "40.00")]))
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED and not SyncError.objects.filter(flow=flow).exists()
    (entry,) = entries(target).values()
    assert base_lines(entry) == [("7071", D("100.00"), (("cost_center", "AN-PAR"),)), ("7071", D("40.00"), ())]


def test_a_discount_booked_apart_carries_the_analytic_account_of_its_line(flow, books, sync):
    source, target = books
    flow.separate_discounts = True
    flow.save()
    mapped(flow, "61", "AN-PAR")
    add(source, invoice(lines=[charged(PARIS, "Chairs", "90.00", discount="10.00", vat="18.00")]))
    sync(flow)
    (entry,) = entries(target).values()
    assert sorted((l.account_number, l.debit, l.credit, tuple(l.analytic.values())) for l in entry.lines
                  if l.vat_role == "base") == [("7071", D("0"), D("100.00"), ("AN-PAR",)),
                                               ("709", D("10.00"), D("0"), ("AN-PAR",))]


def test_the_mapping_step_suggests_the_analytic_account_of_the_same_name():
    targets = [("7", "PAR Siège Paris", "Centres"), ("8", "Atelier Montreuil", "Centres"), ("9", "Paris", "Villes")]
    assert suggest_dimension("Atelier Montreuil", targets) == "8"
    assert suggest_dimension("Siège Paris", targets) == "7"  # behind a code
    assert suggest_dimension("R&D", targets) == ""


def test_the_configuration_step_maps_the_sources_values_and_sets_the_policy(client, owner_a, flow, books):
    source, target = books
    source.dimension_values = [("cost_center", "61", "Siège Paris"), ("cost_center", "62", "Atelier Montreuil"),
                               ("project", "88", "Salon Maison & Objet")]
    target.dimensions = [("AN1", "Siège Paris", "Centres de coût"), ("AN2", "Atelier Montreuil", "Centres de coût")]
    client.force_login(owner_a)
    url = reverse("wizard_step", args=[flow.tenant.slug, flow.pk, "configuration"])
    page = client.get(url).content.decode()
    assert "Cost centres and projects" in page and page.count('class="tag">suggested') == 2
    form = {"name": flow.name, "start_date": "2026-01-01", "booking_date": "accounting", "create_as_draft": "False",
            "sync_without_attachment": "True", "scope": "all", "label_option": "partner_then_description",
            "schedule_minutes": "60", "rounding_tolerance": "0.05", "unmapped_dimension": "error"}
    fields = _select_fields(page)
    form.update({name: value for name, value in fields.items()})  # the suggestions as shown
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    flow.refresh_from_db()
    assert flow.unmapped_dimension == "error"
    assert sorted(DimensionMapping.objects.filter(flow=flow).values_list(
        "dimension", "source_value_id", "target_dimension_id", "target_dimension_label")) == [
        ("cost_center", "61", "AN1", "Siège Paris"), ("cost_center", "62", "AN2", "Atelier Montreuil")]


def _select_fields(page: str) -> dict[str, str]:
    """The dimension choices of the page with the option selected in each."""
    import re

    found = {}
    for name, body in re.findall(r'<select name="(dimension_[0-9a-f]+)"[^>]*>(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="([^"]*)" selected', body)
        found[name] = selected.group(1) if selected else ""
    return found


def test_dimension_mappings_are_imported_only_against_the_accounting_tools_analytic_accounts(client, owner_a, flow,
                                                                                               books):
    import re

    from django.core.files.uploadedfile import SimpleUploadedFile

    _, target = books
    target.dimensions = [("AN1", "Siège Paris", "Centres de coût")]
    client.force_login(owner_a)
    header = "flow,dimension,source_value_id,source_label,target_dimension_id,target_dimension_label\n"

    def upload(rows: str):
        file = SimpleUploadedFile("dimensions.csv", (header + rows).encode(), content_type="text/csv")
        return client.post(reverse("admin:mappings_dimensionmapping_import"),
                           {"resource": "0", "format": "0", "import_file": file}).content.decode()

    refused = upload(f"{flow.pk},cost_center,62,Atelier Montreuil,AN-GONE,\n")
    assert "Unknown analytic account “AN-GONE”" in refused
    assert not DimensionMapping.objects.exists()
    preview = upload(f"{flow.pk},cost_center,61,Siège Paris,AN1,\n")
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', preview))
    client.post(reverse("admin:mappings_dimensionmapping_process_import"), fields)
    mapping = DimensionMapping.objects.get(flow=flow)
    assert (mapping.source_value_id, mapping.target_dimension_id, mapping.target_dimension_label) == (
        "61", "AN1", "Siège Paris")


def test_the_dimension_mappings_admin_shows_a_member_only_their_tenants_mappings(client, make_user, flow, tenant_b):
    from tests.support.books import make_flow

    other = make_flow(tenant_b, name="other-tenant")
    mapped(flow, "61", "AN-PAR")
    mapped(other, "99", "AN-SECRET")
    accountant = make_user("accountant_a", staff=True)
    membership_set(tenant=flow.tenant, user=accountant, role=Role.ACCOUNTANT)
    client.force_login(accountant)
    page = client.get(reverse("admin:mappings_dimensionmapping_changelist")).content.decode()
    assert "AN-PAR" in page and "AN-SECRET" not in page
    secret = DimensionMapping.objects.get(flow=other)
    assert client.get(reverse("admin:mappings_dimensionmapping_change", args=[secret.pk])).status_code in (302, 404)


def test_a_renamed_cost_centre_does_not_make_a_document_look_changed_but_another_centre_does():
    from syncs.fingerprint import invoice_fingerprint

    def document(centre):
        return invoice(updated=NOW, lines=[charged(centre)])

    assert invoice_fingerprint(document(("61", "Siège Paris"))) == invoice_fingerprint(document(("61", "Siège (Paris)")))
    assert invoice_fingerprint(document(PARIS)) != invoice_fingerprint(document(MONTREUIL))
    assert invoice_fingerprint(document(PARIS)) != invoice_fingerprint(invoice(updated=NOW, lines=[line()]))
