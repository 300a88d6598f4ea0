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
SOURCE_CANCELLED = _add(
    "SOURCE_CANCELLED",
    title="Invoice cancelled or deleted after its entry was posted",
    description="The invoice was cancelled or deleted in the invoicing tool after the hub had booked it, and its "
                "entry is posted in accounting, so the hub cannot simply remove it. Until something is done, "
                "accounting still counts an invoice that no longer exists.",
    resolution="If the invoice really is cancelled, use the error desk's action *Book the reversal*: the hub books, "
               "once, a posted entry with the same accounts, third party and VAT, debits and credits swapped, "
               "dated the day of the cancellation (never before the original entry), and the invoice is marked "
               "cancelled. If it was cancelled by mistake, restore it in the invoicing tool and mark this error resolved "
               "with a note (the entry stays as it is).",
    retry_automatically=False,
)
TARGET_REJECTED = _add(
    "TARGET_REJECTED",
    title="Accounting tool refused the entry",
    description="The accounting tool refused the entry or the third party; its own message is shown below.",
    resolution="Read the accounting tool's message: it usually names what to fix there (a closed period, a "
               "locked fiscal year, a missing setting). Fix it, then retry the invoice.",
)

# Refusals a target explains precisely: the connector names the reason (error.details["reason"]) and the
# document gets the matching code, with the target's own words beside ours.
TARGET_ACCOUNT_REFUSED = _add(
    "TARGET_ACCOUNT_REFUSED",
    title="Accounting tool refused an account code",
    description="The accounting tool says an account the entry uses does not exist, is archived, or cannot be "
                "used on this kind of document (for example a revenue account on a bill).",
    resolution="Check the account named in the tool's message in the flow's Accounts step (or on the item in the "
               "invoicing tool); choose an active account of the right type, then retry the invoice.",
    step="accounts",
)
TARGET_TAX_REFUSED = _add(
    "TARGET_TAX_REFUSED",
    title="Accounting tool refused a tax rate",
    description="The accounting tool says a tax type the entry uses does not exist, is no longer active, or "
                "cannot be used on this kind of document or account.",
    resolution="Map the source's VAT rate to an active tax rate of the right kind (sales or purchases) in the "
               "flow's VAT steps, then retry the invoice.",
    step="sale_vat",
)
TARGET_CONTACT_ARCHIVED = _add(
    "TARGET_CONTACT_ARCHIVED",
    title="Contact archived in accounting",
    description="The customer or supplier is linked to a contact that is archived in the accounting tool, which "
                "accepts no new document for it.",
    resolution="Restore the contact in the accounting tool, or remove the hub's link so that the retry matches "
               "or creates an active contact. Then retry the invoice.",
)
TARGET_REJECTED = _add(
    "TARGET_REJECTED",
    title="Refused by the accounting tool after it was received",
    description="The accounting tool accepted the invoice when the hub sent it, then refused it while processing "
                "it (for example an e-invoice it could not deliver, or a check it runs later). Its reason is quoted "
                "on this error. The refused document no longer counts in accounting.",
    resolution="Correct what the reason names (usually in the invoicing tool: the customer's address or e-invoicing "
               "details, a date, an amount), then retry the invoice: it is sent again as a new document.",
    retry_automatically=False,
)
TARGET_NUMBER_TAKEN = _add(
    "TARGET_NUMBER_TAKEN",
    title="Invoice number already used in accounting",
    description="The accounting tool already has a sales document with this number, made outside the hub (numbers "
                "of sales invoices must be unique there).",
    resolution="Check the document with that number in the accounting tool: if it is this invoice booked by hand, "
               "delete one of the two; if it is another document, renumber it. Then retry the invoice.",
)
TARGET_DOCUMENT_LOCKED = _add(
    "TARGET_DOCUMENT_LOCKED",
    title="Document locked in accounting",
    description="The invoice changed in the invoicing tool after it was booked, but the accounting tool no longer "
                "lets its document change (it is approved, paid or part paid). The hub never books it twice.",
    resolution="Make the change in the accounting tool by hand (for example remove the payment, void and re-enter, "
               "or book a credit note), then mark this error resolved.",
    retry_automatically=False,
)
TARGET_REASONS = {"account": TARGET_ACCOUNT_REFUSED, "tax": TARGET_TAX_REFUSED,
                  "contact_archived": TARGET_CONTACT_ARCHIVED, "number_taken": TARGET_NUMBER_TAKEN,
                  "locked": TARGET_DOCUMENT_LOCKED}

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
REVERSE_CHARGE_NOT_MAPPED = _add(
    "REVERSE_CHARGE_NOT_MAPPED",
    title="Reverse-charge VAT not mapped to a pair of VAT codes",
    description="The supplier invoice carries a reverse charge (autoliquidation: intra-EU goods or services, "
                "services from outside the EU, domestic reverse charge). The buyer must book the VAT twice, as "
                "deductible and as due, each on the invoice's base; the flow's mapping for this tax names only one "
                "VAT code (or a 0 % code), so booking it would leave the VAT out of the return.",
    resolution="In the flow's purchase VAT step, map this tax as a reverse charge: choose its deductible VAT code "
               "and its due VAT code (in Tryton's French chart, the two halves (1) and (2) of the intra-EU tax). "
               "Then retry the invoice.",
    step="purchase_vat",
)
EXCHANGE_RATE_NOT_FOUND = _add(
    "EXCHANGE_RATE_NOT_FOUND",
    title="No exchange rate for the invoice's currency",
    description="The invoice is in a foreign currency and the hub found no rate to the company's currency for the "
                "booking date: the document carries none, the accounting tool's rate table has none on or before "
                "that day, and no rate source is configured (or it had none). The hub never invents a rate.",
    resolution="Add the rate for that day in the accounting tool (Tryton: Currency > Currencies > Rates), or ask "
               "the operator to set HUB_EXCHANGE_RATES_URL (e.g. the ECB's daily reference rates). Then retry the "
               "invoice.",
)
DIMENSION_NOT_MAPPED = _add(
    "DIMENSION_NOT_MAPPED",
    title="Cost centre or project not mapped to an analytic account",
    description="A line of the invoice carries a cost centre, a project or an analytic account of the invoicing "
                "tool that the flow does not map to an analytic account in accounting, and the flow is set to stop "
                "such invoices rather than book them without it. The message names the value.",
    resolution="In the flow's Configuration step (Cost centres and projects), choose the analytic account of the "
               "accounting tool for this value (create it there first if needed), or let the flow book unmapped "
               "lines without a dimension. Then retry the invoice.",
    step="configuration",
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

# Payments (lettering): the invoice's entry is booked; one of its payments is not (see syncs/payments.py).
PAYMENT_SETTINGS_INCOMPLETE = _add(
    "PAYMENT_SETTINGS_INCOMPLETE",
    title="Payments cannot be booked: the flow's payment settings are incomplete",
    description="The invoicing tool says this invoice was paid and the flow books payments, but the flow has no "
                "payment journal, bank account or collective account set, or one of these accounts (or the "
                "exchange gain or loss account a foreign-currency payment needs) does not exist or is closed in "
                "accounting. The invoice's own entry is booked; only its payment waits.",
    resolution="In the flow's Configuration step (Payments), choose the payment journal, the bank account and "
               "the exchange gain and loss accounts (usually 512, 766 and 666), or create or re-open the account "
               "in accounting. Then retry the invoice: its payments are booked and lettered.",
    step="configuration",
)
PAYMENT_RATE_NOT_FOUND = _add(
    "PAYMENT_RATE_NOT_FOUND",
    title="No exchange rate for a foreign-currency payment",
    description="The invoice is in a foreign currency and the invoicing tool did not say what its payment was "
                "worth in the company's currency, and the accounting tool has no rate for that currency on the "
                "payment's day. The hub never invents a rate, so the payment is not booked.",
    resolution="Add the rate for that day in the accounting tool (Tryton: Currency > Currencies > Rates), then "
               "retry the invoice.",
)
PAYMENT_NOT_BOOKED = _add(
    "PAYMENT_NOT_BOOKED",
    title="Payment not booked in accounting",
    description="The invoicing tool says this invoice was paid, and the accounting tool refused the payment entry "
                "or its lettering with the invoice: the payment's date is in a closed period, the invoice's entry "
                "no longer has its customer or supplier line (it was changed or deleted by hand), or the tool "
                "refused the entry for the reason shown below. The invoice's own entry is not affected.",
    resolution="Read the accounting tool's message below. Re-open the period, or restore the invoice's entry, or "
               "book and letter the payment by hand and mark this error resolved. Otherwise retry the invoice once "
               "fixed: a payment already booked is never booked twice.",
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


# Document flows (an ERP's documents into Xero, issue 16)
def _add_document(suffix: str, **kwargs) -> str:
    code = "ERROR_SYNC_DOCUMENT_" + suffix
    CATALOGUE[code] = ErrorCode(code=code, **kwargs)
    return code


DOC_CONTACT_NOT_LINKED = _add_document(
    "CONTACT_NOT_LINKED",
    title="Customer or supplier not linked to a contact",
    description="The document's customer or supplier has no contact in the accounting tool: it matched none, and "
                "the flow does not create contacts (or creating it was refused).",
    resolution="Link the customer or supplier to a contact on the flow's Links page (or switch on “create contacts” "
               "in the flow's settings), then retry the document.",
)
DOC_ITEM_NOT_LINKED = _add_document(
    "ITEM_NOT_LINKED",
    title="Product not linked to an item",
    description="The ERP's product has no item in the accounting tool with its code, and the flow does not create "
                "items. Its lines still go, on their account, without an item.",
    resolution="Link the product to an item on the flow's Links page (several products may share one), or switch on "
               "“create items” in the flow's settings; then retry.",
)
DOC_TAX_NOT_MAPPED = _add_document(
    "TAX_NOT_MAPPED",
    title="ERP tax not mapped to a tax rate",
    description="A line of the document carries a tax of the ERP that is mapped to no tax rate of the accounting "
                "tool (sales or purchases).",
    resolution="Map the tax in the flow's VAT steps, then retry the document.",
    step="sale_vat",
)
DOC_LOCKED = _add_document(
    "LOCKED",
    title="Document locked in accounting",
    description="The document changed in the ERP after it was sent, but the accounting tool no longer lets its copy "
                "change (approved, paid, accepted, billed or deleted there). The hub never sends a second copy.",
    resolution="Make the change in the accounting tool by hand (or void and let the hub send it again after "
               "removing the link), then mark this error resolved.",
    retry_automatically=False,
)
DOC_REJECTED = _add_document(
    "REJECTED",
    title="Accounting tool refused the document",
    description="The accounting tool refused the document or the item; its own message is shown below.",
    resolution="Read the tool's message (an account, a tax rate, a contact or a currency it names), fix it there or "
               "in the flow's settings, then retry.",
)


def get(code: str) -> ErrorCode:
    return CATALOGUE.get(code) or ErrorCode(code=code, title=code, description="Unknown error code.",
                                            resolution="Contact support with the invoice number.")


SEED_CODES = [ACCOUNT_NUMBER_NOT_FOUND, ACCOUNT_NUMBER_NOT_ACTIVE, PARTNER_NOT_FOUND, AMOUNT_VALIDATION,
              CONTACT_NOT_FOUND, JOURNAL_NOT_LINKED, LINE_VALIDATION, MAPPING_TAX_RATE_NOT_FOUND,
              PARTNER_VALIDATION, PDF, MAPPING_JOURNAL_NOT_FOUND]
