"""An in-memory pair of books (invoicing tool + accounting tool) and a ready flow between them."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from integration_hub.connectors.memory import connector as memory
from integration_hub.connectors.types import (
    Account,
    Attachment,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    Journal,
    Partner,
    TaxRate,
    VatCode,
)
from mappings.models import Flow
from mappings.services import vat_mapping_set
from tenants.services import connection_create

PDF = Attachment("invoice.pdf", "application/pdf", b"%PDF-1.4 fake but well-formed enough\n%%EOF")
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)

ACCOUNTS = [
    ("4111", "Clients", True, True, True), ("4011", "Fournisseurs", True, True, True),
    ("7071", "Ventes de marchandises", True, True, False), ("7061", "Prestations de services", True, True, False),
    ("6071", "Achats de marchandises", True, True, False), ("758", "Produits divers", True, True, False),
    ("658", "Charges diverses", True, True, False), ("709", "Rabais accordés", True, True, False),
    ("609", "Rabais obtenus", True, True, False), ("44571", "TVA collectée", True, True, False),
    ("44566", "TVA déductible", True, True, False), ("707", "Ventes (regroupement)", True, False, False),
    ("7072", "Ventes anciennes (fermé)", False, True, False),
]


def seed_target(store: memory.Store) -> None:
    for number, name, active, postable, party in ACCOUNTS:
        store.accounts[number] = Account(id=f"A{number}", number=number, name=name, active=active,
                                         postable=postable, requires_party=party)
    store.vat_codes = [
        VatCode("V20", "FR-V-20", "TVA collectée 20 %", D("20"), "sale", "44571"),
        VatCode("V10", "FR-V-10", "TVA collectée 10 %", D("10"), "sale", "44571"),
        VatCode("V0", "FR-V-0", "Exonéré", D("0"), "sale", ""),
        VatCode("A20", "FR-A-20", "TVA déductible 20 %", D("20"), "purchase", "44566"),
        VatCode("A10", "FR-A-10", "TVA déductible 10 %", D("10"), "purchase", "44566"),
    ]
    store.journals = [Journal("J1", "VEN", "Ventes", "sale"), Journal("J2", "ACH", "Achats", "purchase")]


def seed_source(store: memory.Store) -> None:
    store.tax_rates = [TaxRate("t20", "TVA 20 %", D("20"), "sale"), TaxRate("t10", "TVA 10 %", D("10"), "sale"),
                       TaxRate("t0", "Exonéré", D("0"), "sale"), TaxRate("p20", "TVA 20 % achats", D("20"), "purchase"),
                       TaxRate("t55", "TVA 5,5 %", D("5.5"), "sale")]


def make_books(name: str) -> tuple[memory.Store, memory.Store]:
    source = memory.reset(f"{name}-source")
    target = memory.reset(f"{name}-target")
    seed_source(source)
    seed_target(target)
    return source, target


def make_flow(tenant, name: str = "books", **overrides) -> Flow:
    source_conn = connection_create(tenant=tenant, name=f"{name} invoicing", provider="memory", role="source",
                                    auth_kind="api_key", credentials={"store": f"{name}-source", "api_key": "memory-key"})
    target_conn = connection_create(tenant=tenant, name=f"{name} accounting", provider="memory", role="target",
                                    auth_kind="api_key", credentials={"store": f"{name}-target", "api_key": "memory-key"})
    values = dict(
        tenant=tenant, name=name, source=source_conn, target=target_conn, start_date=dt.date(2026, 1, 1),
        sales_journal_id="J1", sales_journal_label="VEN", purchase_journal_id="J2", purchase_journal_label="ACH",
        default_sales_account="7071", default_purchase_account="6071", customer_collective_account="4111",
        supplier_collective_account="4011", credit_rounding_account="758", debit_rounding_account="658",
        sales_discount_account="709", purchase_discount_account="609",
        sales_rounding_vat_code_id="V20", purchase_rounding_vat_code_id="A20",
    )
    values.update(overrides)
    flow = Flow.objects.create(**values)
    for kind, tax, rate, code in (("sale", "t20", "20", "V20"), ("sale", "t10", "10", "V10"), ("sale", "t0", "0", "V0"),
                                  ("purchase", "p20", "20", "A20")):
        vat_mapping_set(flow=flow, kind=kind, source_tax_id=tax, source_rate=D(rate), target_vat_code_id=code)
    return flow


def customer(pid: str = "c1", name: str = "Dupont SARL", **kwargs) -> Partner:
    return Partner(id=pid, name=name, **kwargs)


def line(description="Widget", amount="100.00", rate="20", tax="t20", account="7071", vat=None, discount="0", qty="1"):
    amount = D(amount)
    vat_amount = D(vat) if vat is not None else (amount * D(rate) / 100).quantize(D("0.01")) if rate is not None else D(0)
    return InvoiceLine(description=description, quantity=D(qty), unit_price=amount, untaxed_amount=amount,
                       tax_amount=vat_amount, discount_amount=D(discount),
                       tax_rate=D(rate) if rate is not None else None, tax_code=tax if rate is not None else "",
                       account_number=account)


def invoice(iid: str = "i1", *, number: str | None = None, kind: str = "sale", lines=None, partner="default",
            total=None, credit_note: bool = False, date=dt.date(2026, 3, 15), updated=None, attachment=True,
            **kwargs) -> Invoice:
    updated = updated or dt.datetime.now(dt.timezone.utc)
    lines = lines if lines is not None else [line()]
    untaxed = sum((l.untaxed_amount for l in lines), D(0))
    tax = sum((l.tax_amount for l in lines), D(0))
    if partner == "default":
        partner = customer() if kind == "sale" else customer("s1", "Fournitures Martin SAS")
    return Invoice(id=iid, number=number or f"F-{iid}", kind=InvoiceKind(kind), issue_date=date, currency="EUR",
                   lines=lines, untaxed_amount=untaxed, tax_amount=tax,
                   total_amount=D(total) if total is not None else untaxed + tax, updated_at=updated,
                   is_credit_note=credit_note, partner_id=partner.id if partner else "", partner=partner,
                   has_attachment=attachment, **kwargs)


def add(store: memory.Store, *invoices: Invoice, pdf: bool = True) -> None:
    for inv in invoices:
        store.invoices[inv.id] = inv
        if pdf and inv.has_attachment:
            store.attachments[inv.id] = PDF
