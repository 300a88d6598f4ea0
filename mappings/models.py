"""A flow (what syncs from where to where, and how) and its mappings."""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from tenants.models import Connection, Tenant


class Scope(models.TextChoices):
    ALL = "all", "Sales and purchase invoices"
    SALES = "sales", "Sales invoices only"
    PURCHASES = "purchases", "Purchase invoices only"


class LabelOption(models.TextChoices):
    PARTNER_THEN_DESCRIPTION = "partner_then_description", "Third-party line: name; other lines: line description"
    PARTNER = "partner", "Third-party name on all lines"
    PARTNER_AND_DESCRIPTION = "partner_and_description", "Third-party name + line description on all lines"
    PARTNER_AND_NUMBER = "partner_and_number", "Third-party name + invoice number on all lines"


class BookingDate(models.TextChoices):
    ACCOUNTING = "accounting", "The accounting date when the invoicing tool has one, else the invoice date"
    INVOICE = "invoice", "Always the invoice date"


class JournalMode(models.TextChoices):
    BY_KIND = "by_kind", "One sales journal and one purchase journal"
    BY_SOURCE_JOURNAL = "by_source_journal", "Map each journal of the invoicing tool"


class UnmappedDimension(models.TextChoices):
    IGNORE = "ignore", "Book the line without a dimension"
    ERROR = "error", "Stop the invoice with an error until the value is mapped"


class FlowKind(models.TextChoices):
    INVOICES = "invoices", "Invoices: invoicing tool → accounting"
    MASTER_DATA = "master_data", "Master data: accounting's ledger accounts and contacts → Factorial"
    DOCUMENTS = "documents", "Documents: ERP's customers, suppliers, products, quotes, orders, invoices and bills → Xero"


# The object types of a document flow, each switched on or off per flow (issue 16).
DOCUMENT_OBJECT_TYPES = [
    ("customers", "Customers"), ("suppliers", "Suppliers"), ("products", "Products"), ("quote", "Quotes"),
    ("sales_order", "Sales orders (draft invoices)"), ("invoice", "Invoices (awaiting payment)"),
    ("purchase_order", "Purchase orders"), ("bill", "Bills"),
]


SALE_OBJECT_TYPES = frozenset({"quote", "sales_order", "invoice"})  # their lines go to the sales account
PURCHASE_OBJECT_TYPES = frozenset({"purchase_order", "bill"})


def all_object_types() -> list[str]:
    return [key for key, _ in DOCUMENT_OBJECT_TYPES]


class Flow(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=30, choices=FlowKind.choices, default=FlowKind.INVOICES)
    # Both may be empty while the onboarding wizard is being filled in; a flow cannot run without them.
    source = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="flows_as_source", null=True,
                               blank=True)
    target = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="flows_as_target", null=True,
                               blank=True)
    wizard_step = models.CharField(max_length=30, blank=True, default="source",
                                   help_text="The onboarding step the owner stopped at.")
    enabled = models.BooleanField(default=False)
    schedule_minutes = models.PositiveIntegerField(default=60, validators=[MinValueValidator(5)],
                                                   help_text="How often the flow runs on its own, in minutes.")

    # configuration
    start_date = models.DateField(null=True, blank=True, help_text="Invoices dated before this day are never synced.")
    create_as_draft = models.BooleanField(default=False, help_text="Leave entries as drafts for an accountant to validate.")
    sync_without_attachment = models.BooleanField(
        default=True, help_text="When off, invoices without a PDF wait until the PDF is added in the invoicing tool.")
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.ALL)
    label_option = models.CharField(max_length=40, choices=LabelOption.choices, default=LabelOption.PARTNER_THEN_DESCRIPTION)
    booking_date = models.CharField(max_length=20, choices=BookingDate.choices, default=BookingDate.ACCOUNTING,
                                    help_text="Which date of the invoice its entry is booked on (and so its VAT period).")
    separate_discounts = models.BooleanField(default=False, help_text="Book discounts on their own accounts.")
    journal_mode = models.CharField(max_length=30, choices=JournalMode.choices, default=JournalMode.BY_KIND)
    rounding_tolerance = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("0.05"), validators=[MinValueValidator(Decimal("0"))],
        help_text="Largest difference between the invoice total and the sum of its lines booked as rounding.")

    # journals (target ids, with the code shown to people)
    sales_journal_id = models.CharField(max_length=64, blank=True, default="")
    sales_journal_label = models.CharField(max_length=200, blank=True, default="")
    purchase_journal_id = models.CharField(max_length=64, blank=True, default="")
    purchase_journal_label = models.CharField(max_length=200, blank=True, default="")

    # accounts (target account numbers)
    default_sales_account = models.CharField(max_length=40, blank=True, default="")
    default_purchase_account = models.CharField(max_length=40, blank=True, default="")
    customer_collective_account = models.CharField(max_length=40, blank=True, default="")
    supplier_collective_account = models.CharField(max_length=40, blank=True, default="")
    credit_rounding_account = models.CharField(max_length=40, blank=True, default="")
    debit_rounding_account = models.CharField(max_length=40, blank=True, default="")
    sales_discount_account = models.CharField(max_length=40, blank=True, default="")
    purchase_discount_account = models.CharField(max_length=40, blank=True, default="")

    # VAT codes for rounding lines (target ids)
    sales_rounding_vat_code_id = models.CharField(max_length=64, blank=True, default="")
    sales_rounding_vat_code_label = models.CharField(max_length=200, blank=True, default="")
    purchase_rounding_vat_code_id = models.CharField(max_length=64, blank=True, default="")
    purchase_rounding_vat_code_label = models.CharField(max_length=200, blank=True, default="")

    # payments (lettering): a payment the source records is booked on this journal and reconciled
    sync_payments = models.BooleanField(
        default=False, help_text="Book payments of synced invoices and reconcile them with the invoice in accounting.")
    payment_journal_id = models.CharField(max_length=64, blank=True, default="")
    payment_journal_label = models.CharField(max_length=200, blank=True, default="")
    bank_account = models.CharField(max_length=40, blank=True, default="",
                                    help_text="Account the money is booked on (e.g. 512 Banque).")
    exchange_gain_account = models.CharField(max_length=40, blank=True, default="",
                                             help_text="Exchange gains at payment (e.g. 766).")
    exchange_loss_account = models.CharField(max_length=40, blank=True, default="",
                                             help_text="Exchange losses at payment (e.g. 666).")
    # a payment that also pays penalty interest and collection fees (the source says how much of each): each part on
    # its own account, the rest settles the invoice (issue 17)
    interest_account = models.CharField(max_length=40, blank=True, default="",
                                        help_text="Penalty interest received with payments (e.g. 763; Finland 9160).")
    collection_fees_account = models.CharField(max_length=40, blank=True, default="",
                                               help_text="Collection fees received with payments (e.g. 7588).")

    # cost centres and projects (analytic dimensions)
    unmapped_dimension = models.CharField(
        max_length=10, choices=UnmappedDimension.choices, default=UnmappedDimension.IGNORE,
        help_text="What happens to a line whose cost centre or project is not mapped.")

    # master data flows: which classes of the chart are pushed (first digits, e.g. "4567")
    account_classes = models.CharField(max_length=10, blank=True, default="4567",
                                       help_text="Master data flows: the account classes to push (first digits).")

    # document flows (ERP -> Xero): the object types switched on, and what happens to new third parties/products
    object_types = models.JSONField(default=all_object_types, blank=True,
                                    help_text="Document flows: the object types synchronised (each a switch).")
    create_contacts = models.BooleanField(
        default=True, help_text="Document flows: create the contact in accounting when a new customer or supplier "
                                "appears (otherwise its documents wait for a link).")
    create_items = models.BooleanField(
        default=False, help_text="Document flows: create an item in accounting for a product that is not linked "
                                 "(otherwise it is reported).")

    # where the last complete run stopped reading the source (documents changed since then come next)
    cursor = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="flow_name_unique_per_tenant")]
        ordering = ["tenant__name", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = {}
        if self.kind == FlowKind.MASTER_DATA:
            if self.source_id and self.target_id and self.source.tenant_id != self.tenant_id:
                errors["source"] = "The accounting connection belongs to another tenant."
            if self.target_id and self.target.tenant_id != self.tenant_id:
                errors["target"] = "The Factorial connection belongs to another tenant."
            if errors:
                raise ValidationError(errors)
            return
        if self.source_id and self.source.tenant_id != self.tenant_id:
            errors["source"] = "The source connection belongs to another tenant."
        if self.target_id and self.target.tenant_id != self.tenant_id:
            errors["target"] = "The target connection belongs to another tenant."
        if self.source_id and self.source.role != "source":
            errors["source"] = "This connection is not a source (invoicing tool)."
        if self.target_id and self.target.role != "target":
            errors["target"] = "This connection is not a target (accounting tool)."
        if errors:
            raise ValidationError(errors)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The sides the flow books: by its scope, or for a document flow by the object types switched on."""
        if self.kind == FlowKind.DOCUMENTS:
            types = set(self.object_types or [])
            return tuple(kind for kind, wanted in (("sale", SALE_OBJECT_TYPES), ("purchase", PURCHASE_OBJECT_TYPES))
                         if types & wanted)
        return {"all": ("sale", "purchase"), "sales": ("sale",), "purchases": ("purchase",)}[self.scope]

    @property
    def books_entries(self) -> bool:
        """Whether the accounting tool takes journal entries (journals, collective accounts) or documents
        (Xero: no journal, its own receivable and payable accounts). Asked of the target, not assumed."""
        if not self.target_id:
            return True
        try:
            return "journal_entries" in self.target.descriptor.features
        except Exception:  # noqa: BLE001 - a provider no longer enabled: ask for everything
            return True


class VatKind(models.TextChoices):
    SALE = "sale", "Sales"
    PURCHASE = "purchase", "Purchases"


# A 0 % rate with nothing to report (outside the scope of VAT, or foreign VAT that cannot be recovered, e.g. a
# hotel abroad): its lines are booked with no VAT code. Only ever for a 0 % rate.
NO_VAT = "none"
NO_VAT_LABEL = "No VAT (outside the scope, or foreign VAT not recoverable)"


class VatMapping(models.Model):
    """A tax rate of the invoicing tool -> the VAT code to use in accounting (or NO_VAT for a 0 % rate)."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="vat_mappings")
    kind = models.CharField(max_length=10, choices=VatKind.choices)
    source_tax_id = models.CharField(max_length=64, help_text="Id of the tax rate in the invoicing tool.")
    source_rate = models.DecimalField(max_digits=7, decimal_places=3, help_text="Rate in percent, e.g. 20.")
    source_label = models.CharField(max_length=200, blank=True, default="")
    target_vat_code_id = models.CharField(max_length=64)
    target_vat_code_label = models.CharField(max_length=200, blank=True, default="")
    # Reverse charge (autoliquidation): the buyer books the VAT both as deductible (target_vat_code_id)
    # and as due (due_vat_code_id), each with the same base.
    reverse_charge = models.BooleanField(default=False)
    due_vat_code_id = models.CharField(max_length=64, blank=True, default="")
    due_vat_code_label = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "kind", "source_tax_id"], name="one_vat_mapping_per_tax")]
        ordering = ["flow", "kind", "source_rate"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.source_rate} % → {self.target_vat_code_label or self.target_vat_code_id}"


class JournalMapping(models.Model):
    """A journal of the invoicing tool -> a journal in accounting (journal mode 'by source journal')."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="journal_mappings")
    source_journal = models.CharField(max_length=120)
    target_journal_id = models.CharField(max_length=64)
    target_journal_label = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "source_journal"], name="one_mapping_per_source_journal")]
        ordering = ["flow", "source_journal"]

    def __str__(self) -> str:
        return f"{self.source_journal} → {self.target_journal_label or self.target_journal_id}"


class DimensionMapping(models.Model):
    """A cost centre, project or analytic account of the invoicing tool -> an analytic account in accounting."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="dimension_mappings")
    dimension = models.CharField(max_length=40, help_text="cost_center, project, or the source's analytic axis.")
    source_value_id = models.CharField(max_length=128)
    source_label = models.CharField(max_length=200, blank=True, default="")
    target_dimension_id = models.CharField(max_length=64, help_text="Id of the analytic account in accounting.")
    target_dimension_label = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "dimension", "source_value_id"],
                                               name="one_mapping_per_dimension_value")]
        ordering = ["flow", "dimension", "source_label"]

    def __str__(self) -> str:
        return f"{self.dimension} {self.source_label or self.source_value_id} → {self.target_dimension_label or self.target_dimension_id}"
