"""Forms of the onboarding wizard, built from the live lists of the two tools."""
from __future__ import annotations

import datetime as dt

from django import forms

from decimal import Decimal

from mappings.models import NO_VAT, NO_VAT_LABEL, BookingDate, Flow, JournalMode, LabelOption, Scope

NOT_MAPPED = ""


def _choices(items, label, empty="— choose —"):
    return [(NOT_MAPPED, empty)] + [(item.id if hasattr(item, "id") else item, label(item)) for item in items]


def account_choices(accounts):
    return [(NOT_MAPPED, "— choose —")] + [(a.number, f"{a.number} {a.name}") for a in accounts]


def vat_label(code) -> str:
    rate = f" ({code.rate} %)" if code.rate is not None else ""
    return f"{code.code}{rate}"


class VatForm(forms.Form):
    """One row per tax rate of the invoicing tool; the choices are the accounting tool's VAT codes.

    A reverse charge (autoliquidation) is booked twice, as deductible and as due VAT: its row asks for both
    codes, and one without the other is refused (it would be booked as 0 %)."""

    def __init__(self, *args, rates, codes, initial_map: dict, suggested: dict, initial_due: dict | None = None,
                 suggested_due: dict | None = None, required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.rates, self.required = rates, required
        initial_due, suggested_due = initial_due or {}, suggested_due or {}
        choices = [(NOT_MAPPED, "— not mapped —")] + [(c.id, vat_label(c)) for c in codes]
        due_codes = [c for c in codes if c.reverse_charge == "due"] or codes
        due_choices = [(NOT_MAPPED, "— choose the due VAT code —")] + [(c.id, vat_label(c)) for c in due_codes]
        self.rows = []
        for rate in rates:
            name = f"tax_{rate.id}"
            initial = initial_map.get(rate.id, suggested.get(rate.id, NOT_MAPPED))
            zero = rate.rate is not None and Decimal(rate.rate) == 0 and not rate.reverse_charge
            self.fields[name] = forms.ChoiceField(choices=choices + ([(NO_VAT, NO_VAT_LABEL)] if zero else []),
                                                  required=False, initial=initial, label=f"{rate.name} — {rate.rate} %")
            due = None
            if rate.reverse_charge:
                self.fields[f"due_{rate.id}"] = forms.ChoiceField(
                    choices=due_choices, required=False, label=f"VAT due on {rate.name}",
                    initial=initial_due.get(rate.id) or suggested_due.get(rate.id, NOT_MAPPED))
                due = self[f"due_{rate.id}"]
            self.rows.append((rate, self[name], rate.id in suggested and rate.id not in initial_map, due))

    def clean(self):
        cleaned = super().clean()
        for rate in self.rates:
            if rate.reverse_charge and cleaned.get(f"tax_{rate.id}") and not cleaned.get(f"due_{rate.id}"):
                self.add_error(f"due_{rate.id}", "A reverse charge is booked as deductible and as due VAT: choose "
                                                 "the due VAT code too (or leave the rate unmapped).")
        if self.required and self.rates and not any(cleaned.get(f"tax_{rate.id}") for rate in self.rates):
            raise forms.ValidationError("Map at least one rate to a VAT code: the flow's invoices carry these rates.")
        return cleaned

    def mapping(self) -> dict[str, str]:
        return {rate.id: self.cleaned_data.get(f"tax_{rate.id}", NOT_MAPPED) for rate in self.rates}

    def due_mapping(self) -> dict[str, str]:
        return {rate.id: self.cleaned_data.get(f"due_{rate.id}", "") or "" for rate in self.rates}


class RoundingVatForm(forms.Form):
    sales_rounding_vat_code_id = forms.ChoiceField(label="VAT code on sales rounding lines", required=False)
    purchase_rounding_vat_code_id = forms.ChoiceField(label="VAT code on purchase rounding lines", required=False)

    use_required_attribute = False

    def __init__(self, *args, sale_codes, purchase_codes, kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sales_rounding_vat_code_id"].choices = _choices(sale_codes, vat_label)
        self.fields["purchase_rounding_vat_code_id"].choices = _choices(purchase_codes, vat_label)
        for kind, name in (("sale", "sales_rounding_vat_code_id"), ("purchase", "purchase_rounding_vat_code_id")):
            self.fields[name].required = kind in kinds
            self.fields[name].error_messages["required"] = "Choose the VAT code: rounding lines need one."


class JournalsForm(forms.Form):
    journal_mode = forms.ChoiceField(choices=JournalMode.choices, widget=forms.RadioSelect)
    sales_journal_id = forms.ChoiceField(label="Sales journal", required=False)
    purchase_journal_id = forms.ChoiceField(label="Purchase journal", required=False)

    use_required_attribute = False

    def __init__(self, *args, journals, source_journals, initial_map: dict, kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = kinds
        choices = _choices(journals, lambda j: f"{j.code} {j.name}".strip())
        self.fields["sales_journal_id"].choices = choices
        self.fields["purchase_journal_id"].choices = choices
        if not source_journals:
            self.fields["journal_mode"].choices = [c for c in JournalMode.choices if c[0] == JournalMode.BY_KIND]
        self.source_rows = []
        for journal in source_journals:
            name = f"source_{journal.code}"
            self.fields[name] = forms.ChoiceField(choices=choices, required=False,
                                                  initial=initial_map.get(journal.code, NOT_MAPPED),
                                                  label=f"{journal.code} {journal.name}")
            self.source_rows.append((journal, self[name]))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("journal_mode") == JournalMode.BY_KIND:
            for kind, name in (("sale", "sales_journal_id"), ("purchase", "purchase_journal_id")):
                if kind in self.kinds and not cleaned.get(name):
                    self.add_error(name, "Choose the journal the entries go to.")
        elif cleaned.get("journal_mode") == JournalMode.BY_SOURCE_JOURNAL and not any(
                cleaned.get(field.name) for _, field in self.source_rows):
            raise forms.ValidationError("Map at least one journal of the invoicing tool.")
        return cleaned

    def source_mapping(self) -> dict[str, str]:
        return {journal.code: self.cleaned_data.get(f"source_{journal.code}", NOT_MAPPED)
                for journal, _ in self.source_rows}


class AccountsForm(forms.Form):
    ROLES = [
        ("default_sales_account", "Sales account (products)",
         "Used on sales lines when the invoicing tool gives no account, or one that does not exist or is closed."),
        ("default_purchase_account", "Purchase account (expenses)", "The same, for purchase lines."),
        ("customer_collective_account", "Customer collective account", "Usually 411."),
        ("supplier_collective_account", "Supplier collective account", "Usually 401."),
        ("credit_rounding_account", "Credit rounding account",
         "When the lines add up to less than the total (VAT rounding). Usually 758."),
        ("debit_rounding_account", "Debit rounding account", "When the lines add up to more. Usually 658."),
    ]

    # the server says what is missing, in its own words, rather than the browser's generic bubble
    use_required_attribute = False

    COLLECTIVES = ("customer_collective_account", "supplier_collective_account")

    DOCUMENT_ROLES = {
        "default_sales_account": ("Sales account", "The account of every line of quotes, sales orders and invoices."),
        "default_purchase_account": ("Purchase account", "The account of every line of purchase orders and bills."),
    }

    @classmethod
    def roles_for(cls, books_entries: bool, documents: bool = False) -> list[tuple[str, str, str]]:
        """The roles to ask for: a tool that books documents (Xero) posts the third party on its own account; an
        ERP's documents (a document flow) carry their own totals, so only the line accounts are asked."""
        if documents:
            return [(role, *cls.DOCUMENT_ROLES[role]) for role in cls.DOCUMENT_ROLES]
        return [row for row in cls.ROLES if books_entries or row[0] not in cls.COLLECTIVES]

    def __init__(self, *args, lists: dict, suggested: dict, required=(), pending=(), books_entries: bool = True,
                 documents: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.suggested = suggested
        self.pending = set(pending)  # roles showing a suggestion that was never saved
        for role, label, help_text in self.roles_for(books_entries, documents):
            self.fields[role] = forms.ChoiceField(
                label=label, help_text=help_text, required=role in required, choices=account_choices(lists[role]),
                error_messages={"required": "Choose an account: entries cannot be booked without it."})

    @staticmethod
    def required_roles(kinds, documents: bool = False) -> set[str]:
        """The accounts every entry of the flow's scope needs (the others may stay empty)."""
        roles = set() if documents else {"credit_rounding_account", "debit_rounding_account"}
        if "sale" in kinds:
            roles |= {"default_sales_account", "customer_collective_account"}
        if "purchase" in kinds:
            roles |= {"default_purchase_account", "supplier_collective_account"}
        return roles


class DiscountsForm(forms.Form):
    separate_discounts = forms.BooleanField(required=False, label="Book discounts on their own accounts")
    sales_discount_account = forms.ChoiceField(label="Discounts granted (sales)", required=False)
    purchase_discount_account = forms.ChoiceField(label="Discounts received (purchases)", required=False)

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sales_discount_account"].choices = account_choices(accounts)
        self.fields["purchase_discount_account"].choices = account_choices(accounts)

    def clean(self):
        data = super().clean()
        if data.get("separate_discounts"):
            for name in ("sales_discount_account", "purchase_discount_account"):
                if not data.get(name):
                    self.add_error(name, "Choose the account, or untick the option.")
        return data


class ConfigurationForm(forms.ModelForm):
    class Meta:
        model = Flow
        fields = ["name", "start_date", "booking_date", "create_as_draft", "sync_without_attachment", "scope",
                  "label_option", "schedule_minutes", "rounding_tolerance"]
        widgets = {
            "start_date": forms.DateInput(attrs={"type": "date"}),
            "scope": forms.RadioSelect,
            "booking_date": forms.RadioSelect,
            "label_option": forms.RadioSelect,
            "create_as_draft": forms.RadioSelect(choices=[(False, "No, post them"), (True, "Yes, as drafts")]),
            "sync_without_attachment": forms.RadioSelect(
                choices=[(True, "Yes, sync them anyway"), (False, "No, wait until the PDF is there")]),
        }
        labels = {
            "start_date": "Synchronisation start date",
            "booking_date": "Book each entry on",
            "create_as_draft": "Create entries as drafts?",
            "sync_without_attachment": "Sync invoices without attachment?",
            "scope": "What do you want to synchronise?",
            "label_option": "Labels",
            "schedule_minutes": "Run every (minutes)",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["start_date"].required = True
        self.fields["create_as_draft"] = forms.TypedChoiceField(
            coerce=lambda v: v in (True, "True", "true", "1"), choices=[(False, "No, post them"), (True, "Yes, as drafts")],
            widget=forms.RadioSelect, label="Create entries as drafts?")
        self.fields["sync_without_attachment"] = forms.TypedChoiceField(
            coerce=lambda v: v in (True, "True", "true", "1"),
            choices=[(True, "Yes, sync them anyway"), (False, "No, wait until the PDF is there")],
            widget=forms.RadioSelect, label="Sync invoices without attachment?")
        self.fields["scope"].choices = Scope.choices
        self.fields["booking_date"].choices = BookingDate.choices
        self.fields["label_option"].choices = LabelOption.choices

    def clean_start_date(self):
        value = self.cleaned_data["start_date"]
        if value and value > dt.date.today() + dt.timedelta(days=366):
            raise forms.ValidationError("Choose a date at most one year from today.")
        return value


class MasterDataFlowForm(forms.ModelForm):
    """A master data flow: the accounting side's ledger accounts and contacts pushed into Factorial."""

    class Meta:
        model = Flow
        fields = ["name", "source", "target", "account_classes", "schedule_minutes"]
        labels = {"source": "Accounting tool (read from)", "target": "Factorial (pushed to)",
                  "account_classes": "Account classes to push"}
        help_texts = {"account_classes": "First digits of the accounts to push, e.g. 4567 for third parties, "
                                         "bank, expenses and revenue."}

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        from mappings.models import FlowKind
        from tenants.models import Connection

        self.tenant = tenant
        self.instance.tenant, self.instance.kind = tenant, FlowKind.MASTER_DATA  # validated as what it is
        connections = list(Connection.objects.filter(tenant=tenant).order_by("name"))

        def able(feature):
            ids = []
            for c in connections:
                try:
                    if feature in c.descriptor.features:
                        ids.append(c.pk)
                except Exception:  # noqa: BLE001 - a provider no longer enabled
                    continue
            return Connection.objects.filter(pk__in=ids)

        self.fields["source"].queryset = able("master_data_source")
        self.fields["target"].queryset = able("master_data_target")
        self.fields["source"].required = self.fields["target"].required = True

    def clean_name(self):
        name = self.cleaned_data["name"]
        if Flow.objects.filter(tenant=self.tenant, name=name).exists():
            raise forms.ValidationError("This tenant already has a flow with that name.")
        return name

    def clean_account_classes(self):
        value = "".join(sorted({c for c in self.cleaned_data["account_classes"] if c in "123456789"}))
        if not value:
            raise forms.ValidationError("Give at least one class, e.g. 4567.")
        return value
