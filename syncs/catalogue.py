"""Every error a document can end in: one place, written for the accountant who fixes it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    code: str
    title: str
    description: str
    resolution: str
    step: str = ""  # the configuration step that fixes it, when it is a mapping problem
    retry_automatically: bool = True  # retried on the next runs without anyone acting


PREFIX = "ERROR_SYNC_INVOICE_"

CATALOGUE: dict[str, ErrorCode] = {}


def _add(suffix: str, **kwargs) -> str:
    code = PREFIX + suffix
    CATALOGUE[code] = ErrorCode(code=code, **kwargs)
    return code


ACCOUNT_NUMBER_NOT_FOUND = _add(
    "ACCOUNT_NUMBER_NOT_FOUND",
    title="Account not found in accounting",
    description="An invoice line is booked on an account number that does not exist in the accounting tool, "
                "and the default account of the flow does not exist there either.",
    resolution="Create the account in the accounting tool, or correct the account on the item in the invoicing "
               "tool, or choose an existing default account in the flow's Accounts step. Then retry the invoice.",
    step="accounts",
)
ACCOUNT_NUMBER_NOT_ACTIVE = _add(
    "ACCOUNT_NUMBER_NOT_ACTIVE",
    title="Account closed in accounting",
    description="An invoice line is booked on an account that exists in the accounting tool but is closed or "
                "cannot receive entries, and the default account cannot be used either.",
    resolution="Re-open the account in the accounting tool (or use one of its postable sub-accounts), or choose "
               "an active default account in the flow's Accounts step. Then retry the invoice.",
    step="accounts",
)
PARTNER_NOT_FOUND = _add(
    "PARTNER_NOT_FOUND",
    title="Third party deleted in accounting",
    description="The customer or supplier of the invoice was linked to a third party in the accounting tool, "
                "and that third party no longer exists there (it was probably deleted).",
    resolution="Check the third party in the accounting tool. Re-create it if it was deleted by mistake, or "
               "remove the hub's link (retrying the invoice then matches or creates the third party again).",
)
AMOUNT_VALIDATION = _add(
    "AMOUNT_VALIDATION",
    title="Invoice amounts do not add up",
    description="The invoice's totals (untaxed, tax, total) do not match the sum of its lines by more than the "
                "rounding tolerance of the flow.",
    resolution="Open the invoice in the invoicing tool and check its lines, taxes and totals. If they are "
               "correct there, raise the flow's rounding tolerance or contact support with the invoice number.",
)
CONTACT_NOT_FOUND = _add(
    "CONTACT_NOT_FOUND",
    title="Customer or supplier missing in the invoicing tool",
    description="The invoice refers to a customer or supplier that the invoicing tool cannot find.",
    resolution="Open the invoice in the invoicing tool and check its customer or supplier; restore or re-select "
               "the contact, then retry the invoice.",
)
JOURNAL_NOT_LINKED = _add(
    "JOURNAL_NOT_LINKED",
    title="Invoice without a journal",
    description="The flow maps the invoicing tool's journals, and this invoice is not linked to any journal "
                "in the invoicing tool.",
    resolution="Link the invoice to a journal in the invoicing tool (every invoice needs one), or switch the "
               "flow to one sales journal and one purchase journal. Then retry the invoice.",
    step="journals",
)
LINE_VALIDATION = _add(
    "LINE_VALIDATION",
    title="Invoice line without tax",
    description="A line of the invoice has no tax code or tax rate, so its VAT cannot be booked.",
    resolution="Set the tax (even a 0 % exemption) on every line of the invoice in the invoicing tool, then "
               "retry the invoice.",
)
MAPPING_TAX_RATE_NOT_FOUND = _add(
    "MAPPING_TAX_RATE_NOT_FOUND",
    title="VAT rate not mapped",
    description="A tax rate used on the invoice has no VAT code mapped in the flow.",
    resolution="Open the flow's VAT steps (sales or purchases), map this rate to a VAT code of the accounting "
               "tool, then retry the invoice.",
    step="vat",
)
PARTNER_VALIDATION = _add(
    "PARTNER_VALIDATION",
    title="Invoice without customer or supplier",
    description="The invoice has no customer or supplier, so no third-party line can be booked.",
    resolution="Set the customer or supplier on the invoice in the invoicing tool, then retry the invoice.",
)
PDF = _add(
    "PDF",
    title="Invoice file missing or unreadable",
    description="The invoice's PDF could not be retrieved from the invoicing tool, or the file is empty or "
                "not a valid document.",
    resolution="Open the invoice in the invoicing tool and attach (or re-upload) a valid PDF, then retry. If "
               "the file opens fine there, contact support with the invoice number.",
)
MAPPING_JOURNAL_NOT_FOUND = _add(
    "MAPPING_JOURNAL_NOT_FOUND",
    title="Journal not mapped",
    description="The invoice's journal (or its kind, sales or purchases) has no accounting journal mapped "
                "in the flow.",
    resolution="Open the flow's Journals step, choose the accounting journal for it, then retry the invoice.",
    step="journals",
)
# Beyond the eleven codes of the specification: situations the hub itself can meet.
POSTED_ENTRY_CHANGED = _add(
    "POSTED_ENTRY_CHANGED",
    title="Invoice changed after its entry was posted",
    description="The invoice was modified in the invoicing tool after its entry had been posted in accounting. "
                "A posted entry cannot be changed, and the hub never creates a second entry for one invoice.",
    resolution="Book the correction in the accounting tool (a reversal or an adjusting entry), then mark this "
               "error as resolved with a note. Or issue a credit note in the invoicing tool.",
    retry_automatically=False,
)
TARGET_REJECTED = _add(
    "TARGET_REJECTED",
    title="Accounting tool refused the entry",
    description="The accounting tool refused the entry or the third party; its own message is shown below.",
    resolution="Read the accounting tool's message: it usually names what to fix there (a closed period, a "
               "locked fiscal year, a missing setting). Fix it, then retry the invoice.",
)

PERIOD_CLOSED = _add(
    "PERIOD_CLOSED",
    title="Accounting period closed",
    description="The entry's date falls in a period (or fiscal year) of the accounting tool that is closed, "
                "locked or was never created, so the entry cannot be booked there.",
    resolution="Re-open the period in the accounting tool (or create the fiscal year), or, if the period is "
               "closed for good, book the invoice by hand in an open period and mark this error resolved. The "
               "flow's Configuration step says which date entries are booked on.",
)
DUPLICATE_NUMBER = _add(
    "DUPLICATE_NUMBER",
    title="Same invoice number twice from one third party",
    description="Another invoice of the flow has the same number from the same third party and is already "
                "booked (or being booked). It is usually the same invoice entered or scanned twice; nothing was "
                "booked for this one.",
    resolution="Compare the two invoices in the invoicing tool. If it is a duplicate, delete or cancel it there "
               "and ignore this error. If it really is another invoice, use the error desk's action *Not a "
               "duplicate: book it*.",
    retry_automatically=False,
)
DATE_VALIDATION = _add(
    "DATE_VALIDATION",
    title="Invoice without a valid date",
    description="The invoice has no invoice date (or one the hub cannot read), so the hub cannot tell in which "
                "period to book it.",
    resolution="Set the invoice date in the invoicing tool (a draft invoice gets its date when it is validated), "
               "then retry the invoice.",
)
AMOUNT_OUT_OF_RANGE = _add(
    "AMOUNT_OUT_OF_RANGE",
    title="Amount that is not a usable number",
    description="An amount, quantity or rate of the invoice is not a number (NaN), is infinite, or is larger "
                "than any accounting tool books (more than 13 digits before the decimal point).",
    resolution="Correct the amount on the invoice in the invoicing tool (it is usually a typing or import "
               "mistake), then retry the invoice.",
)
UNREADABLE = _add(
    "UNREADABLE",
    title="Invoice the hub cannot read",
    description="The invoicing tool returned this invoice in a shape the hub could not read (a missing or "
                "malformed field). The other invoices of the run are not affected.",
    resolution="Open the invoice in the invoicing tool and check it is complete (date, lines, customer or "
               "supplier, amounts). If it looks right, contact support with the invoice number and the run "
               "number: the message below says what could not be read.",
)
UNEXPECTED = _add(
    "UNEXPECTED",
    title="Unexpected problem with this invoice",
    description="Something the hub did not expect happened while preparing this invoice's entry. Nothing was "
                "sent for it; the rest of the run went on.",
    resolution="The invoice is retried automatically at the next runs. If the error stays, contact support "
               "with the invoice number and the run number shown here.",
)


# Master data (accounting -> Factorial): one record of the chart or one contact that could not be pushed.
MASTER_DATA_INCOMPLETE = "ERROR_SYNC_MASTER_DATA_INCOMPLETE"
CATALOGUE[MASTER_DATA_INCOMPLETE] = ErrorCode(
    code=MASTER_DATA_INCOMPLETE,
    title="Record incomplete for Factorial",
    description="A ledger account or a contact of the accounting tool lacks something Factorial requires "
                "(a contact needs a full address: street, postal code, city and country).",
    resolution="Complete the record in the accounting tool; the next run pushes it.",
)
MASTER_DATA_REJECTED = "ERROR_SYNC_MASTER_DATA_REJECTED"
CATALOGUE[MASTER_DATA_REJECTED] = ErrorCode(
    code=MASTER_DATA_REJECTED,
    title="Factorial refused the record",
    description="Factorial refused to create or update a ledger account or a contact; its own message names the "
                "field.",
    resolution="Correct the field named in Factorial's message in the accounting tool (or in Factorial when it is "
               "a clash with a record made there), then retry.",
)


def get(code: str) -> ErrorCode:
    return CATALOGUE.get(code) or ErrorCode(code=code, title=code, description="Unknown error code.",
                                            resolution="Contact support with the invoice number.")


SEED_CODES = [ACCOUNT_NUMBER_NOT_FOUND, ACCOUNT_NUMBER_NOT_ACTIVE, PARTNER_NOT_FOUND, AMOUNT_VALIDATION,
              CONTACT_NOT_FOUND, JOURNAL_NOT_LINKED, LINE_VALIDATION, MAPPING_TAX_RATE_NOT_FOUND,
              PARTNER_VALIDATION, PDF, MAPPING_JOURNAL_NOT_FOUND]
