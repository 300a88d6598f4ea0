"""Tryton records <-> the hub's unified types. No I/O here."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable

from integration_hub.connectors.tryton import analytic
from integration_hub.connectors.types import (
    ZERO,
    Account,
    Address,
    EntryLine,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceTax,
    Journal,
    JournalEntry,
    Partner,
    TaxRate,
    VatCode,
)

HUNDRED = Decimal(100)
VAT_TYPES = ("eu_vat", "fr_vat")
REGISTRATION_TYPES = ("fr_siren", "fr_siret", "fi_ytunnus")  # fi_ytunnus: a Finnish business id (issue 17)
JOURNAL_KINDS = {"revenue": "sale", "expense": "purchase", "cash": "cash", "general": "general"}
REFERENCE_OPEN, REFERENCE_CLOSE = "[hub:", "]"


def reference_tag(reference: str) -> str:
    return f"{REFERENCE_OPEN}{reference}{REFERENCE_CLOSE}"


def reference_from_description(description: str | None) -> str:
    if not description or REFERENCE_OPEN not in description:
        return ""
    tail = description.rsplit(REFERENCE_OPEN, 1)[1]
    return tail.split(REFERENCE_CLOSE, 1)[0]


def reversal_description(original: str | None, number: str, reference: str) -> str:
    """The description of a reversal: what it cancels, the original's text without its tag, its own tag whole."""
    text = (original or "").split(REFERENCE_OPEN, 1)[0].strip()
    tag = reference_tag(reference)
    head = f"Reversal of {number}" + (f": {text}" if text else "")
    return f"{head[:249 - len(tag)]} {tag}"


def reversed_line(line: dict, tax_lines: list[dict], analytic_lines: list[dict], day: dt.date) -> dict:
    """account.move.line values that cancel `line` (read from Tryton): debit and credit swapped, the same
    account, party, VAT and analytic accounts, the second-currency and VAT amounts negated."""
    values = {"account": line["account"], "debit": line.get("credit") or ZERO, "credit": line.get("debit") or ZERO,
              "description": line.get("description") or ""}
    if line.get("party"):
        values["party"] = line["party"]
    if line.get("second_currency") and line.get("amount_second_currency") is not None:
        values["second_currency"] = line["second_currency"]
        values["amount_second_currency"] = -Decimal(line["amount_second_currency"])
    if tax_lines:
        values["tax_lines"] = [["create", [{"tax": t["tax"], "type": t["type"], "amount": -Decimal(t["amount"])}
                                           for t in tax_lines]]]
    if analytic_lines:
        values["analytic_lines"] = [["create", [{"account": a["account"], "debit": a.get("credit") or ZERO,
                                                 "credit": a.get("debit") or ZERO, "date": day}
                                                for a in analytic_lines]]]
    return values


def percent(rate: Decimal | None) -> Decimal | None:
    """Tryton stores 20 % as 0.2; the hub says 20."""
    if rate is None:
        return None
    return (Decimal(rate) * HUNDRED).normalize() + 0  # "+ 0" turns -0 into 0


def account_from_tryton(row: dict, *, today: dt.date) -> Account:
    start, end = row.get("start_date"), row.get("end_date")
    in_dates = (start is None or start <= today) and (end is None or end >= today)
    return Account(
        id=str(row["id"]),
        number=row.get("code") or "",
        name=row.get("name") or "",
        active=not row.get("closed") and in_dates,
        postable=bool(row.get("type")),
        requires_party=bool(row.get("party_required")),
    )


class TaxTree:
    """Tryton's French taxes are trees: a root ("TVA ventes taux normal") with dated children (20 %, 19.6 %).

    Invoice lines name roots; amounts are computed by the leaves. The hub shows roots both as the
    invoicing tool's tax rates and as the accounting tool's VAT codes (with the rate in force), and
    books tax lines on the leaf in force on the entry's date.
    """

    def __init__(self, rows: list[dict], group_kinds: dict[int, str]):
        self.rows = {row["id"]: row for row in rows}
        self.group_kinds = group_kinds
        self.children: dict[int, list[dict]] = {}
        for row in rows:
            if row.get("parent"):
                self.children.setdefault(row["parent"], []).append(row)

    def root(self, tax_id: int) -> int:
        row = self.rows.get(tax_id)
        while row is not None and row.get("parent"):
            row = self.rows.get(row["parent"])
        return row["id"] if row else tax_id

    def kind(self, tax_id: int) -> str:
        root = self.rows.get(self.root(tax_id)) or {}
        return {"sale": "sale", "purchase": "purchase"}.get(self.group_kinds.get(root.get("group") or 0, ""), "both")

    @staticmethod
    def valid_on(row: dict, day: dt.date) -> bool:
        start, end = row.get("start_date"), row.get("end_date")
        return (start is None or start <= day) and (end is None or end >= day)

    def rate_on(self, tax_id: int, day: dt.date) -> Decimal | None:
        """The percentage a tax applies on `day` (a root: the sum of its valid children)."""
        row = self.rows.get(tax_id)
        if row is None:
            return None
        if row.get("type") == "percentage":
            return percent(row.get("rate"))
        children = [c for c in self.children.get(tax_id, []) if self.valid_on(c, day)]
        rates = [self.rate_on(c["id"], day) for c in children]
        rates = [r for r in rates if r is not None]
        return (sum(rates, Decimal(0)).normalize() + 0) if rates else None

    def leaves(self, tax_id: int, day: dt.date) -> list[dict]:
        """The percentage taxes that compute `tax_id` on `day` (itself, or its valid descendants)."""
        row = self.rows.get(tax_id)
        if row is None:
            return []
        if row.get("type") == "percentage":
            return [row]
        found: list[dict] = []
        for child in sorted(self.children.get(tax_id, []), key=lambda c: c.get("id")):
            if self.valid_on(child, day):
                found.extend(self.leaves(child["id"], day))
        return found

    def reverse_pair(self, tax_id: int, day: dt.date) -> tuple[dict, dict] | None:
        """(deductible, due) when `tax_id` is a reverse charge on `day`: one leaf at +r and one at -r, so the
        invoice shows no VAT while the buyer books it both ways (Tryton's intra-EU purchase taxes)."""
        leaves = self.leaves(tax_id, day)
        positive = [leaf for leaf in leaves if Decimal(leaf.get("rate") or 0) > 0]
        negative = [leaf for leaf in leaves if Decimal(leaf.get("rate") or 0) < 0]
        if len(positive) == 1 and len(negative) == 1 and \
                Decimal(positive[0]["rate"]) + Decimal(negative[0]["rate"]) == 0:
            return positive[0], negative[0]
        return None

    def roots(self) -> list[dict]:
        return [row for row in self.rows.values() if not row.get("parent") and row.get("active", True)]

    def leaf_on(self, tax_id: int, day: dt.date) -> dict | None:
        """The tax that actually computes the amount of `tax_id` on `day`: itself when it has a rate,
        else its first valid child with a positive rate (a root's dated child, 20 % rather than 19.6 %)."""
        row = self.rows.get(tax_id)
        if row is None:
            return None
        if row.get("type") == "percentage":
            return row
        for child in sorted(self.children.get(tax_id, []), key=lambda c: c.get("id")):
            if self.valid_on(child, day) and Decimal(child.get("rate") or 0) >= 0:
                found = self.leaf_on(child["id"], day)
                if found is not None:
                    return found
        return None


def _account_code(row: dict, field: str) -> str:
    return (row.get(f"{field}.") or {}).get("code", "") or ""


def vat_codes_from_tryton(row: dict, tree: TaxTree, day: dt.date) -> list[VatCode]:
    """The VAT codes a parent tax offers: itself, or for a reverse charge its two halves (deductible, due),
    each with its own account, so a flow maps the pair and tax lines go to each half."""
    pair = tree.reverse_pair(row["id"], day)
    if pair is None:
        code = vat_code_from_tryton(row, tree, day)
        return [code] if code is not None else []
    deductible, due = pair
    title = row.get("description") or row.get("name") or ""
    return [VatCode(id=str(leaf["id"]), code=leaf.get("name") or str(leaf["id"]),
                    name=f"{title} ({role})".strip(), rate=abs(percent(leaf.get("rate"))), kind=tree.kind(row["id"]),
                    account_number=_account_code(leaf, "invoice_account"),
                    credit_note_account_number=_account_code(leaf, "credit_note_account"),
                    reverse_charge=role, pair=str(other["id"]))
            for leaf, other, role in ((deductible, due, "deductible"), (due, deductible, "due"))]


def vat_code_from_tryton(row: dict, tree: TaxTree, day: dt.date) -> VatCode | None:
    """A parent tax (what invoice lines carry) as a VAT code: the rate in force on `day` and the
    accounts of the child tax that computes it."""
    leaf = tree.leaf_on(row["id"], day)
    rate = tree.rate_on(row["id"], day)
    if leaf is None or rate is None:
        return None
    return VatCode(
        id=str(row["id"]),
        code=row.get("name") or str(row["id"]),
        name=row.get("description") or row.get("name") or "",
        rate=rate,
        kind=tree.kind(row["id"]),
        account_number=(leaf.get("invoice_account.") or {}).get("code", "") or "",
        credit_note_account_number=(leaf.get("credit_note_account.") or {}).get("code", "") or "",
    )


def tax_rate_from_tryton(row: dict, tree: TaxTree, day: dt.date) -> TaxRate:
    pair = tree.reverse_pair(row["id"], day)
    rate = percent(pair[0].get("rate")) if pair else tree.rate_on(row["id"], day)
    return TaxRate(id=str(row["id"]), name=row.get("name") or row.get("description") or "",
                   rate=rate or ZERO, kind=tree.kind(row["id"]), reverse_charge=pair is not None)


def journal_from_tryton(row: dict) -> Journal:
    return Journal(id=str(row["id"]), code=row.get("code") or "", name=row.get("name") or "",
                   kind=JOURNAL_KINDS.get(row.get("type") or "", row.get("type") or "general"))


def partner_from_tryton(party: dict, identifiers: Iterable[dict], addresses: Iterable[dict],
                        emails: Iterable[str], *, with_code: bool = True) -> Partner:
    """A party. Its code stands for the auxiliary account when Tryton is the accounting side; as an
    invoicing source Tryton's codes are bare sequence numbers, so they are not offered for matching."""
    vat = registration = ""
    for identifier in identifiers:
        if identifier.get("type") in VAT_TYPES and not vat:
            vat = compact_identifier(identifier.get("code"))
        elif identifier.get("type") in REGISTRATION_TYPES and (not registration or identifier["type"] == "fr_siren"):
            registration = compact_identifier(identifier.get("code"))
    address = None
    for row in addresses:
        address = Address(street=(row.get("street") or "").strip(), postal_code=row.get("postal_code") or "",
                           city=row.get("city") or "",
                           country_code=((row.get("country.") or {}).get("code") or ""))
        break
    return Partner(id=str(party["id"]), name=party.get("name") or "", vat_number=vat,
                   registration_number=registration, auxiliary_account=(party.get("code") or "") if with_code else "",
                   address=address, email=next(iter(emails), ""),
                   receivable_account=(party.get("account_receivable.") or {}).get("code", "") or "",
                   payable_account=(party.get("account_payable.") or {}).get("code", "") or "")


def party_values(partner: Partner, *, country_id: int | None) -> dict:
    values: dict = {"name": partner.name}
    if partner.auxiliary_account:
        values["code"] = partner.auxiliary_account
    identifiers = []
    if partner.vat_number:
        identifiers.append({"type": "eu_vat", "code": partner.vat_number})
    registration = compact_identifier(partner.registration_number)
    if registration.isdigit() and len(registration) in (9, 14):
        # A SIRET names an establishment and Tryton ties it to an address; the company is its SIREN.
        identifiers.append({"type": "fr_siren", "code": registration[:9]})
    if identifiers:
        values["identifiers"] = [["create", identifiers]]
    if partner.address:
        address = {"street": partner.address.street, "postal_code": partner.address.postal_code,
                   "city": partner.address.city}
        if country_id:
            address["country"] = country_id
        values["addresses"] = [["create", [address]]]
    if partner.email:
        values["contact_mechanisms"] = [["create", [{"type": "email", "value": partner.email}]]]
    return values


def move_values(entry: JournalEntry, *, company_id: int, period_id: int, account_ids: dict[str, int],
                tree: TaxTree | None = None, currency_ids: dict[str, int] | None = None) -> dict:
    """account.move values for one entry; VAT bases and amounts go to tax lines for Tryton's VAT reports,
    on the child tax in force on the entry's date (a parent tax computes nothing by itself)."""
    lines = []
    for line in entry.lines:
        values = {
            "account": account_ids[line.account_number],
            "debit": line.debit,
            "credit": line.credit,
            "description": line.label[:200],
        }
        if line.partner_id:
            values["party"] = int(line.partner_id)
        if line.vat_code_id and line.vat_role in ("base", "tax"):
            # Sales count credits as positive VAT, purchases debits.
            signed = line.credit - line.debit if entry.kind == "sale" else line.debit - line.credit
            codes = [line.vat_code_id, *(line.more_vat_code_ids if line.vat_role == "base" else ())]
            values["tax_lines"] = [["create", [{"amount": signed, "type": line.vat_role, "tax": tax_id}
                                               for tax_id in _computing_taxes(codes, tree, entry.date)]]]
        if line.amount_currency is not None and line.currency and currency_ids and line.currency in currency_ids:
            values["amount_second_currency"] = line.amount_currency
            values["second_currency"] = currency_ids[line.currency]
        if line.analytic:
            values["analytic_lines"] = analytic.analytic_lines(line, entry.date)
        lines.append(values)
    description = f"{entry.label} {reference_tag(entry.reference)}".strip()
    return {
        "company": company_id,
        "journal": int(entry.journal_id),
        "period": period_id,
        "date": entry.date,
        "description": description[:250] if len(description) <= 250 else description[-250:],
        "lines": [["create", lines]],
    }


def _computing_taxes(codes: list[str], tree: TaxTree | None, day: dt.date) -> list[int]:
    """The taxes that carry amounts for these VAT codes: a parent's leaves in force on `day` (a parent tax
    computes nothing by itself; a line taxed twice is the base of both)."""
    taxes: list[int] = []
    for code in codes:
        if tree is None:
            taxes.append(int(code))
            continue
        leaf = tree.leaf_on(int(code), day)
        taxes.append(leaf["id"] if leaf is not None else int(code))
    return list(dict.fromkeys(taxes))


def _root_rate(tree: TaxTree, tax_id: int, day: dt.date) -> Decimal | None:
    pair = tree.reverse_pair(tax_id, day)
    return percent(pair[0].get("rate")) if pair else tree.rate_on(tax_id, day)


def _tax_summary(taxes: list[dict], tree: TaxTree, day: dt.date, company) -> dict[int, dict]:
    """The invoice's tax rows (which name leaves) grouped by the parent tax lines name.

    A reverse charge's rows (+r deductible, -r due) add up to nothing on the invoice; the summary keeps the
    self-assessed amount (the deductible half) and flags it, so the entry books both halves."""
    summary: dict[int, dict] = {}
    for tax in taxes:
        root = tree.root(tax.get("tax"))
        entry = summary.setdefault(root, {"leaves": set(), "base": None, "amount": Decimal(0), "company": Decimal(0),
                                          "pair": tree.reverse_pair(root, day)})
        entry["leaves"].add(tax.get("tax"))
        leaf_rate = Decimal((tree.rows.get(tax.get("tax")) or {}).get("rate") or 0)
        counted = entry["pair"] is None or leaf_rate > 0
        if counted:
            entry["amount"] += Decimal(tax.get("amount") or 0)
            booked = company(f"account.invoice.tax,{tax['id']}") if "id" in tax else None
            entry["company"] = None if entry["company"] is None or booked is None else entry["company"] + booked
        base = Decimal(tax.get("base") or 0)
        entry["base"] = base if entry["base"] is None or abs(base) > abs(entry["base"]) else entry["base"]
    for root, entry in summary.items():
        entry["reverse"] = entry["pair"] is not None
        entry["rate"] = (percent(entry["pair"][0].get("rate")) if entry["reverse"] else
                         sum((tree.rate_on(leaf, day) or Decimal(0) for leaf in entry["leaves"]), Decimal(0)).normalize() + 0)
    return summary


def compact_identifier(code: str) -> str:
    return "".join((code or "").split()).upper()


def identifier_forms(code: str) -> list[str]:
    """The ways Tryton may have stored an identifier: compact, and grouped like SIREN/SIRET are shown."""
    compact = compact_identifier(code)
    forms = {compact}
    if compact.isdigit() and len(compact) == 9:
        forms.add(f"{compact[:3]} {compact[3:6]} {compact[6:]}")
    if compact.isdigit() and len(compact) == 14:
        forms.add(f"{compact[:3]} {compact[3:6]} {compact[6:9]} {compact[9:]}")
    return sorted(forms)


def invoice_from_tryton(row: dict, lines: list[dict], taxes: list[dict], partner: Partner | None,
                        tree: TaxTree, has_attachment: bool, *, booked: dict[str, Decimal] | None = None) -> Invoice:
    """A posted Tryton invoice. Credit notes (negative totals) are stated positive with the flag set.

    `booked`: for an invoice in a foreign currency, what Tryton's own move booked in the company's currency
    per invoice line and tax row (debit - credit, keyed by origin)."""
    total = Decimal(row.get("total_amount") or 0)
    sign = Decimal(-1) if total < 0 else Decimal(1)
    issued = row.get("invoice_date")  # None: the engine reports the missing date
    accounting = row.get("accounting_date") or None  # Tryton books the move on it when set
    day = accounting or issued or dt.date.today()  # the tax rates in force are those of the move's date
    sale = row.get("type") == "out"

    def company(origin: str) -> Decimal | None:
        """The company-currency amount Tryton booked for `origin`, on the invoice's normal side."""
        if booked is None or origin not in booked:
            return None
        amount = booked[origin]
        return (-amount if sale else amount) * sign

    summary = _tax_summary(taxes, tree, day, company)
    unified_lines = []
    for line in lines:
        if line.get("type", "line") != "line":
            continue
        tax_ids = line.get("taxes") or []
        rated = [(str(t), summary[t]["rate"] if t in summary else _root_rate(tree, t, day)) for t in tax_ids]
        # The line's main tax is the first that charges something; the others follow it.
        rated.sort(key=lambda pair: (pair[1] or ZERO) == ZERO)
        code, rate = rated[0] if rated else ("", None)
        amount = Decimal(line.get("amount") or 0) * sign
        unified_lines.append(InvoiceLine(
            description=line.get("description") or "",
            quantity=Decimal(line.get("quantity") or 0) * sign,
            unit_price=Decimal(line.get("unit_price") or 0),
            untaxed_amount=amount,
            tax_amount=ZERO,
            tax_rate=rate if tax_ids else None,
            tax_code=code,
            account_number=(line.get("account.") or {}).get("code", "") or "",
            more_taxes=rated[1:],
            company_amount=company(f"account.invoice.line,{line['id']}") if "id" in line else None,
            dimensions=dict(line.get("dimensions") or {}),
        ))
    unified_taxes = [InvoiceTax(tax_code=str(root), rate=e["rate"], base=(e["base"] or ZERO) * sign,
                                amount=e["amount"] * sign, reverse_charge=e["reverse"],
                                company_amount=e["company"])
                     for root, e in summary.items()]
    # Spread each tax over its lines so every line knows its own VAT (the last line takes the remainder).
    for tax in unified_taxes:
        if tax.reverse_charge:
            continue  # self-assessed: not part of what the lines cost
        members = [line for line in unified_lines
                   if tax.tax_code == line.tax_code or tax.tax_code in {c for c, _ in line.more_taxes}]
        base = sum((m.untaxed_amount for m in members), ZERO)
        remaining = tax.amount
        for index, member in enumerate(members):
            if index == len(members) - 1 or base == 0:
                member.tax_amount += remaining
            else:
                share = (tax.amount * member.untaxed_amount / base).quantize(Decimal("0.01"))
                member.tax_amount, remaining = member.tax_amount + share, remaining - share
    changed = row.get("write_date") or row.get("create_date")
    return Invoice(
        id=str(row["id"]),
        number=row.get("number") or "",
        kind=InvoiceKind.SALE if row.get("type") == "out" else InvoiceKind.PURCHASE,
        issue_date=issued,
        accounting_date=accounting if accounting != issued else None,
        currency=(row.get("currency.") or {}).get("code", "") or "",
        lines=unified_lines,
        untaxed_amount=Decimal(row.get("untaxed_amount") or 0) * sign,
        tax_amount=Decimal(row.get("tax_amount") or 0) * sign,
        total_amount=total * sign,
        updated_at=changed.replace(tzinfo=dt.timezone.utc) if changed and changed.tzinfo is None else changed,
        is_credit_note=total < 0,
        partner_id=str(row["party"]) if row.get("party") else "",
        partner=partner,
        journal_ref=(row.get("journal.") or {}).get("code", "") or "",
        taxes=unified_taxes,
        has_attachment=has_attachment,
        raw_state=row.get("state") or "",
        cancelled=row.get("state") == "cancelled",
    )
