"""The wizard's "Payments" section, shown on the Configuration step.

Whether the flow books the payments of its invoices (and letters them with the invoices in accounting), on
which journal (the accounting tool's cash or bank journals first), the bank account the money goes through,
and the accounts of exchange differences at payment. The usual ones are suggested (512, 766, 666 and the cash
journal). The lists are the accounting tool's, fetched once per wizard session like the other steps'.
"""
from __future__ import annotations

from django import forms

from integration_hub.connectors.types import Account, Journal
from mappings import suggestions
from mappings.models import Flow

NOT_SET = ""
FIELDS = ["sync_payments", "payment_journal_id", "bank_account", "exchange_gain_account", "exchange_loss_account",
          "interest_account", "collection_fees_account"]


def _account_choices(role: str, accounts: list[Account]):
    return [(NOT_SET, "— choose —")] + [(a.number, f"{a.number} {a.name}") for a in
                                       suggestions.accounts_for(role, accounts)]


class PaymentsForm(forms.Form):
    sync_payments = forms.TypedChoiceField(
        coerce=lambda v: v in (True, "True", "true", "1"), widget=forms.RadioSelect, required=False,
        choices=[(False, "No, only the invoices"), (True, "Yes, book them and letter the invoices")],
        label="Book the payments of the invoices?",
        help_text="When the invoicing tool says an invoice was paid, its payment is booked on the journal below "
                  "and reconciled with the invoice in accounting.")
    payment_journal_id = forms.ChoiceField(label="Payment journal", required=False)
    bank_account = forms.ChoiceField(label="Bank account", required=False, help_text="Usually 512.")
    exchange_gain_account = forms.ChoiceField(label="Exchange gains", required=False,
                                              help_text="Foreign-currency payments worth more than invoiced. Usually 766.")
    exchange_loss_account = forms.ChoiceField(label="Exchange losses", required=False,
                                              help_text="Worth less than invoiced. Usually 666.")
    interest_account = forms.ChoiceField(
        label="Penalty interest", required=False,
        help_text="When the invoicing tool says part of a payment paid late-payment interest, that part goes here "
                  "(usually 763; in Finland 9160). Empty: such a payment waits on the error desk.")
    collection_fees_account = forms.ChoiceField(
        label="Collection fees", required=False,
        help_text="The part of a payment that paid reminder or collection fees (usually 7588; in Finland 3990).")

    def __init__(self, *args, flow: Flow, journals: list[Journal], accounts: list[Account], **kwargs):
        super().__init__(*args, **kwargs)
        self.journals = journals
        banks = [j for j in journals if j.kind in ("cash", "bank")]
        ordered = banks + [j for j in journals if j not in banks]
        self.fields["payment_journal_id"].choices = [(NOT_SET, "— choose —")] + [
            (j.id, f"{j.code} {j.name}".strip()) for j in ordered]
        for role in suggestions.PAYMENT_ACCOUNTS:
            self.fields[role].choices = _account_choices(role, accounts)
        self.suggested = set()
        self.fields["sync_payments"].initial = flow.sync_payments
        journal = suggestions.suggest_payment_journal(journals)
        self._initial("payment_journal_id", flow.payment_journal_id, journal.id if journal else "")
        for role in suggestions.PAYMENT_ACCOUNTS:
            found = suggestions.suggest_account(role, accounts)
            self._initial(role, getattr(flow, role), found.number if found else "")

    def _initial(self, name: str, current: str, suggested: str) -> None:
        self.fields[name].initial = current or suggested
        if suggested and not current:
            self.suggested.add(name)

    def clean(self):
        data = super().clean()
        if data.get("sync_payments"):
            for name in ("payment_journal_id", "bank_account"):
                if not data.get(name):
                    self.add_error(name, "Choose it to book payments, or answer No above.")
        return data

    def save(self, flow: Flow) -> None:
        data = self.cleaned_data
        labels = {j.id: f"{j.code} {j.name}".strip() for j in self.journals}
        flow.sync_payments = bool(data.get("sync_payments"))
        flow.payment_journal_id = data.get("payment_journal_id") or ""
        flow.payment_journal_label = labels.get(flow.payment_journal_id, "")[:200]
        for role in suggestions.PAYMENT_ACCOUNTS:
            setattr(flow, role, data.get(role) or "")
        Flow.objects.filter(pk=flow.pk).update(**{name: getattr(flow, name) for name in [*FIELDS, "payment_journal_label"]})
