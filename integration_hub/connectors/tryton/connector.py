"""Tryton as accounting target and as invoicing source, through TrytonClient."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from decimal import Decimal
from typing import Iterator, Sequence

from integration_hub.connectors.base import CheckResult, SourceConnector, TargetConnector
from integration_hub.connectors.errors import ConnectorError, NotFound, PeriodClosed, PermanentError
from integration_hub.connectors.files import check_readable, guess_content_type
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.text import normalise_name
from integration_hub.connectors.tryton import analytic, mapper, payments
from integration_hub.connectors.tryton.client import TrytonClient
from integration_hub.connectors.tryton.provider import PROVIDER
from integration_hub.connectors.types import (
    Account,
    Attachment,
    EntryResult,
    Invoice,
    JournalEntry,
    Journal,
    Partner,
    Payment,
    Scope,
    TaxRate,
    VatCode,
    describe_failure,
    unreadable_invoice,
)

logger = logging.getLogger(__name__)

_ACCENTABLE = set("aeiouycn")


def _accent_tolerant(word: str) -> str:
    """'lefevre' -> 'l_f_vr_': matches 'Lefèvre', 'LEFEVRE' and 'Lefévre' alike (the hub compares after)."""
    return "".join("_" if ch in _ACCENTABLE else ch for ch in word)

INVOICE_FIELDS = ["number", "type", "invoice_date", "accounting_date", "currency.code", "party", "journal.code",
                  "untaxed_amount", "tax_amount", "total_amount", "state", "write_date", "create_date", "lines",
                  "taxes", "reference", "move"]
LINE_FIELDS = ["invoice", "type", "description", "quantity", "unit_price", "amount", "taxes", "account.code"]
PARTY_FIELDS = ["name", "code", "identifiers", "addresses", "contact_mechanisms", "account_receivable.code",
                "account_payable.code"]
ACCOUNT_FIELDS = ["code", "name", "type", "closed", "party_required", "start_date", "end_date"]
TAX_FIELDS = ["name", "description", "rate", "type", "group", "parent", "invoice_account.code",
              "credit_note_account.code", "start_date", "end_date", "active"]
def read_tax_tree(client: TrytonClient) -> mapper.TaxTree:
    """Every tax of the company (inactive ones too: old invoices use them) with its group's kind, in two reads."""
    rows = client.search_read("account.tax", [], TAX_FIELDS, order=[("sequence", "ASC"), ("id", "ASC")],
                              context={"active_test": False})
    group_ids = sorted({row["group"] for row in rows if row.get("group")})
    groups = client.read("account.tax.group", group_ids, ["kind"]) if group_ids else []
    return mapper.TaxTree(rows, {g["id"]: g.get("kind") or "both" for g in groups})


class TrytonConnector(SourceConnector, TargetConnector):
    descriptor = PROVIDER

    def __init__(self, credentials: dict, **kwargs) -> None:
        super().__init__(credentials, **kwargs)
        http = self.session or HubSession.from_settings(provider=PROVIDER.key, call_log=self.call_log)
        # trytond itself answers 503 when its transaction was rolled back, but a gateway or proxy in front of it
        # may answer 503 after forwarding a write that was applied: a write is never repeated blindly here.
        # The engine settles a lost answer by asking Tryton for the batch's references before sending again.
        http.secrets.update(self.secret_values())
        if self.call_log is None:
            self.call_log = http.call_log
        self.client = TrytonClient(
            url=credentials.get("url", ""),
            database=credentials.get("database", ""),
            username=credentials.get("username", ""),
            password=credentials.get("password", ""),
            http=http,
        )
        self._company: dict | None = None
        self._accounts: dict[str, Account] | None = None
        self._periods: list[dict] | None = None
        self._tax_tree: mapper.TaxTree | None = None
        self._country_ids: dict[str, int | None] = {}

    def close(self) -> None:
        self.client.http.close()

    RECORD_MODELS = {"invoice": "account.invoice", "entry": "account.move", "partner": "party.party"}

    @classmethod
    def record_url(cls, credentials, kind: str, record_id: str) -> str | None:
        """The record in Tryton's web client (sao), which serves `/#<database>/model/<model>/<id>`."""
        model = cls.RECORD_MODELS.get(kind)
        if not model or not str(record_id).isdigit() or not credentials.get("url"):
            return None
        return f"{credentials['url'].rstrip('/')}/#{credentials.get('database', '')}/model/{model}/{record_id}"

    # --- shared ----------------------------------------------------------------------------
    def company(self) -> dict:
        if self._company is None:
            prefs = self.client.preferences()
            company_id = prefs.get("company")
            if not company_id:
                raise PermanentError("The Tryton user has no current company", provider=PROVIDER.key)
            rows = self.client.read("company.company", [company_id], ["rec_name", "currency.code", "party"])
            self._company = rows[0]
        return self._company

    def check(self) -> CheckResult:
        try:
            company = self.company()
        except ConnectorError as exc:
            return CheckResult(ok=False, message=str(exc))
        name = company.get("rec_name") or ""
        return CheckResult(ok=True, message=f"signed in to {self.client.database} as {self.client.username} ({name})",
                           organisation_id=f"{self.client.database}/{company['id']}", organisation_name=name)

    def tax_tree(self) -> mapper.TaxTree:
        if self._tax_tree is None:
            self.company()
            self._tax_tree = read_tax_tree(self.client)
        return self._tax_tree

    # --- target: reference data ------------------------------------------------------------
    def list_accounts(self) -> list[Account]:
        if self._accounts is None:
            self.company()
            rows = self.client.search_read("account.account", [], ACCOUNT_FIELDS, order=[("code", "ASC")],
                                           context={"active_test": False})
            today = dt.date.today()
            self._accounts = {}
            for row in rows:
                if row.get("code"):
                    self._accounts[row["code"]] = mapper.account_from_tryton(row, today=today)
        return list(self._accounts.values())

    def _account_ids(self, numbers) -> dict[str, int]:
        """Ids of these account numbers; the whole chart when it was read already, else only what is missing."""
        if self._accounts is not None:
            return {n: int(a.id) for n, a in self._accounts.items() if n in numbers}
        cache = self.__dict__.setdefault("_account_id_cache", {})
        missing = sorted(set(numbers) - set(cache))
        if missing:
            self.company()
            for row in self.client.search_read("account.account", [("code", "in", missing)], ["code"],
                                               context={"active_test": False}):
                cache[row["code"]] = row["id"]
        return {n: cache[n] for n in numbers if n in cache}

    def list_vat_codes(self) -> list[VatCode]:
        tree, today = self.tax_tree(), dt.date.today()
        return [code for row in tree.roots() for code in mapper.vat_codes_from_tryton(row, tree, today)]

    def list_journals(self) -> list[Journal]:
        self.company()
        rows = self.client.search_read("account.journal", [], ["code", "name", "type"], order=[("code", "ASC")])
        return [mapper.journal_from_tryton(row) for row in rows]

    # --- parties -----------------------------------------------------------------------------
    def _partners(self, party_ids: Sequence[int], *, with_code: bool = True) -> dict[int, Partner]:
        if not party_ids:
            return {}
        parties = self.client.read("party.party", list(party_ids), PARTY_FIELDS, context={"active_test": False})
        identifier_ids = [i for p in parties for i in p.get("identifiers") or []]
        address_ids = [a for p in parties for a in (p.get("addresses") or [])[:1]]
        mechanism_ids = [m for p in parties for m in p.get("contact_mechanisms") or []]
        identifiers = {r["id"]: r for r in self.client.read("party.identifier", identifier_ids, ["type", "code"])} \
            if identifier_ids else {}
        addresses = {r["id"]: r for r in self.client.read(
            "party.address", address_ids, ["street", "postal_code", "city", "country.code"])} if address_ids else {}
        mechanisms = {r["id"]: r for r in self.client.read(
            "party.contact_mechanism", mechanism_ids, ["type", "value"])} if mechanism_ids else {}
        receivable, payable = self._default_party_accounts()
        result = {}
        for party in parties:
            party["account_receivable."] = party.get("account_receivable.") or {"code": receivable}
            party["account_payable."] = party.get("account_payable.") or {"code": payable}
            result[party["id"]] = mapper.partner_from_tryton(
                party,
                [identifiers[i] for i in party.get("identifiers") or [] if i in identifiers],
                [addresses[a] for a in party.get("addresses") or [] if a in addresses],
                [mechanisms[m]["value"] for m in party.get("contact_mechanisms") or []
                 if m in mechanisms and mechanisms[m].get("type") == "email"],
                with_code=with_code,
            )
        return result

    def _default_party_accounts(self) -> tuple[str, str]:
        """The receivable and payable accounts of parties that have none of their own."""
        if not hasattr(self, "_party_defaults"):
            self.company()  # the configuration is per company: read it in the company's context
            rows = self.client.read("account.configuration", [1], ["default_account_receivable.code",
                                                                    "default_account_payable.code"])
            row = rows[0] if rows else {}
            self._party_defaults = ((row.get("default_account_receivable.") or {}).get("code", "") or "",
                                    (row.get("default_account_payable.") or {}).get("code", "") or "")
        return self._party_defaults

    def get_partner(self, partner_id: str) -> Partner | None:
        try:
            party_id = int(partner_id)
        except (TypeError, ValueError):
            return None
        found = self.client.search("party.party", [("id", "=", party_id)], context={"active_test": False})
        if not found:
            return None
        return self._partners(found).get(party_id)

    def list_partners(self) -> Iterator[Partner]:
        """Every third party (the company's own party left out)."""
        own = self.company().get("party")
        last_id = 0
        while True:
            ids = self.client.search("party.party", [("id", ">", last_id)], limit=200, order=[("id", "ASC")])
            if not ids:
                return
            partners = self._partners(ids)
            for party_id in ids:
                if party_id != own:
                    yield partners[party_id]
            last_id = ids[-1]

    def find_partners(self, *, auxiliary_account: str | None = None, vat_number: str | None = None,
                      registration_number: str | None = None, name: str | None = None) -> list[Partner]:
        if auxiliary_account:
            domain = [("code", "=", auxiliary_account)]
        elif vat_number:
            domain = [("identifiers", "where", [("type", "in", list(mapper.VAT_TYPES)),
                                               ("code", "in", mapper.identifier_forms(vat_number))])]
        elif registration_number:
            compact = mapper.compact_identifier(registration_number)
            forms = set(mapper.identifier_forms(compact)) | set(mapper.identifier_forms(compact[:9]))
            domain = [("identifiers", "where", [("type", "in", list(mapper.REGISTRATION_TYPES)),
                                               ("code", "in", sorted(forms))])]
        elif name:
            wanted = normalise_name(name)
            if not wanted:
                return []
            longest = max(wanted.split(), key=len)
            domain = [("name", "ilike", f"%{longest}%")]
            ids = self.client.search("party.party", domain, limit=200)
            return [p for p in self._partners(ids).values() if normalise_name(p.name) == wanted]
        else:
            return []
        ids = self.client.search("party.party", domain, limit=50)
        partners = self._partners(ids)
        return [partners[i] for i in ids]

    def _country_id(self, code: str) -> int | None:
        if not code:
            return None
        if code not in self._country_ids:
            found = self.client.search("country.country", [("code", "=", code.upper())], limit=1)
            self._country_ids[code] = found[0] if found else None
        return self._country_ids[code]

    def create_partner(self, partner: Partner, *, kind: str = "customer") -> Partner:
        created = self.create_partners([(partner, kind)])[0]
        if isinstance(created, Exception):
            raise created
        return created

    def create_partners(self, partners):
        """One create call for the lot; if Tryton refuses it, one call each to find the culprit."""
        values = []
        for partner, _kind in partners:
            country = self._country_id(partner.address.country_code) if partner.address else None
            values.append(mapper.party_values(partner, country_id=country))
        try:
            ids = self.client.create("party.party", values)
            outcomes: list = list(ids)
        except PermanentError:
            outcomes = []
            for one in values:
                try:
                    outcomes.extend(self.client.create("party.party", [one]))
                except PermanentError as exc:
                    outcomes.append(exc)
        results = []
        for (partner, _kind), outcome in zip(partners, outcomes):
            if isinstance(outcome, Exception):
                results.append(outcome)
            else:
                results.append(replace(partner, id=str(outcome),
                                       registration_number=mapper.compact_identifier(partner.registration_number)[:9]))
        return results

    def existing_partner_ids(self, partner_ids) -> set[str]:
        ids = [int(i) for i in partner_ids if str(i).isdigit()]
        if not ids:
            return set()
        found = self.client.search("party.party", [("id", "in", ids)], context={"active_test": False})
        return {str(i) for i in found}

    def match_partners(self, partners):
        """The four matching rules in bulk: at most four searches for the whole list."""
        found: dict[str, tuple[Partner, str]] = {}
        remaining = [p for p in partners if p.id]

        def settle(rule: str, hits: dict[str, int], key) -> None:
            nonlocal remaining
            still = []
            for partner in remaining:
                party_id = hits.get(key(partner)) if key(partner) else None
                if party_id is not None:
                    found[partner.id] = (Partner(id=str(party_id), name=partner.name), rule)
                else:
                    still.append(partner)
            remaining = still

        codes = sorted({p.auxiliary_account for p in remaining if p.auxiliary_account})
        if codes:
            rows = self.client.search_read("party.party", [("code", "in", codes)], ["code"], order=[("id", "ASC")])
            hits = {}
            for row in rows:
                hits.setdefault(row["code"], row["id"])
            settle("auxiliary_account", hits, lambda p: p.auxiliary_account)
        for rule, types, attribute, form in (
                ("vat_number", mapper.VAT_TYPES, "vat_number", lambda v: mapper.compact_identifier(v)),
                ("registration_number", mapper.REGISTRATION_TYPES, "registration_number",
                 lambda v: mapper.compact_identifier(v)[:9])):
            values = sorted({form(getattr(p, attribute)) for p in remaining if getattr(p, attribute)})
            if not values:
                continue
            forms = sorted({f for v in values for f in mapper.identifier_forms(v)})
            rows = self.client.search_read("party.identifier", [("type", "in", list(types)), ("code", "in", forms)],
                                           ["party", "code"], order=[("id", "ASC")])
            hits = {}
            for row in rows:
                hits.setdefault(form(row["code"]), row["party"])
            settle(rule, hits, lambda p, a=attribute, f=form: f(getattr(p, a)) if getattr(p, a) else "")
        wanted = {normalise_name(p.name): p for p in remaining if normalise_name(p.name)}
        if wanted:
            # The longest word of each name, with every letter that may carry an accent (on either side)
            # left to LIKE's one-character wildcard; the rows found are then compared normalised.
            words = sorted({_accent_tolerant(max(name.split(), key=len)) for name in wanted})
            clauses = [("name", "ilike", f"%{word}%") for word in words]
            domain = clauses[0] if len(clauses) == 1 else ["OR", *clauses]
            rows = self.client.search_read("party.party", [domain], ["name", "code"], limit=2000,
                                           order=[("id", "ASC")])
            hits = {}
            for row in rows:
                for text in (row.get("name"), row.get("code")):
                    if text and normalise_name(text) in wanted:
                        hits.setdefault(normalise_name(text), row["id"])
            settle("name", hits, lambda p: normalise_name(p.name))
        return found

    # --- entries -----------------------------------------------------------------------------
    def _period_for(self, date: dt.date) -> int:
        if self._periods is None:
            company_id = self.company()["id"]
            self._periods = self.client.search_read(
                "account.period", [("type", "=", "standard"), ("state", "=", "open"),
                                   ("fiscalyear.company", "=", company_id)],
                ["start_date", "end_date"])
        for period in self._periods:
            if period["start_date"] <= date <= period["end_date"]:
                return period["id"]
        raise PeriodClosed(f"Tryton has no open period for {date.isoformat()}", provider=PROVIDER.key,
                           provider_message="Create or re-open the fiscal year and period covering this date.")

    def _values(self, entry: JournalEntry) -> dict:
        entry.check_balanced()
        account_ids = self._account_ids({line.account_number for line in entry.lines})
        missing = sorted({line.account_number for line in entry.lines if line.account_number not in account_ids})
        if missing:
            raise PermanentError(f"unknown account(s) {', '.join(missing)}", provider=PROVIDER.key)
        currencies = {line.currency for line in entry.lines if line.currency}
        return mapper.move_values(entry, company_id=self.company()["id"], period_id=self._period_for(entry.date),
                                  account_ids=account_ids, tree=self.tax_tree(),
                                  currency_ids=self._currency_ids(currencies) if currencies else None)

    def _currency_ids(self, codes) -> dict[str, int]:
        cache = self.__dict__.setdefault("_currency_id_cache", {})
        missing = sorted(set(codes) - set(cache))
        if missing:
            for row in self.client.search_read("currency.currency", [("code", "in", missing)], ["code"],
                                               context={"active_test": False}):
                cache[row["code"]] = row["id"]
        unknown = sorted(set(codes) - set(cache))
        if unknown:
            raise PermanentError(f"Tryton has no currency {', '.join(unknown)}", provider=PROVIDER.key,
                                 provider_message="Add the currency in Tryton (Currency > Currencies).")
        return {code: cache[code] for code in codes}

    def exchange_rate(self, currency: str, base: str, day: dt.date) -> Decimal | None:
        """Units of `base` per unit of `currency` from Tryton's rate table on `day` (its latest rate on or before
        that day), or None when Tryton has no rate for one of them then."""
        rows = self.client.search_read("currency.currency", [("code", "in", [currency, base])], ["code", "rate"],
                                       context={"date": day, "active_test": False})
        rates = {row["code"]: row.get("rate") for row in rows}
        if not rates.get(currency) or not rates.get(base):
            return None
        return Decimal(rates[base]) / Decimal(rates[currency])

    def create_entries(self, entries: Sequence[JournalEntry], *, post: bool) -> list[EntryResult]:
        """Create (and post) in one call per batch; when the batch is refused, retry one by one to
        isolate the entries Tryton rejects, so the others still go through."""
        results: list[EntryResult] = [EntryResult(reference=e.reference) for e in entries]
        balanced = []
        for index, entry in enumerate(entries):
            try:
                entry.check_balanced()  # an unbalanced entry never leaves the hub, not even for a lookup
                balanced.append(index)
            except ValueError as exc:
                results[index].error = exc
        if balanced:  # the accounts of the whole batch in one read
            self._account_ids({line.account_number for i in balanced for line in entries[i].lines})
        prepared: list[tuple[int, dict]] = []
        for index in balanced:
            entry = entries[index]
            try:
                prepared.append((index, self._values(entry)))
            except (ConnectorError, ValueError) as exc:
                results[index].error = exc
        if not prepared:
            return results
        try:
            ids = self.client.create("account.move", [values for _, values in prepared])
            created = list(zip([i for i, _ in prepared], ids))
        except PermanentError:
            created = []
            for index, values in prepared:
                try:
                    (move_id,) = self.client.create("account.move", [values])
                    created.append((index, move_id))
                except PermanentError as exc:
                    results[index].error = exc
        for index, move_id in created:
            results[index].entry_id = str(move_id)
            results[index].state = "draft"
        if post and created:
            self._post([(index, move_id) for index, move_id in created], results)
        attachments = [(index, entries[index].attachment) for index, _ in created
                       if entries[index].attachment is not None and results[index].ok]
        self.attach_documents([(results[i].entry_id, a) for i, a in attachments])
        return results

    def _post(self, created: list[tuple[int, int]], results: list[EntryResult]) -> None:
        ids = [move_id for _, move_id in created]
        try:
            self.client.button("account.move", "post", ids)
            posted = created
        except PermanentError:
            posted = []
            for index, move_id in created:
                try:
                    self.client.button("account.move", "post", [move_id])
                    posted.append((index, move_id))
                except PermanentError as exc:
                    # Never leave a half-done entry behind: the draft goes, the error is reported.
                    self.client.delete("account.move", [move_id])
                    results[index].entry_id, results[index].error = "", exc
        for index, _ in posted:
            results[index].state = "posted"

    def post_entries(self, entry_ids: Sequence[str]) -> list[EntryResult]:
        results = [EntryResult(reference="", entry_id=str(e), state="draft") for e in entry_ids]
        if entry_ids:
            self._post([(index, int(e)) for index, e in enumerate(entry_ids)], results)
        return results

    def attach_documents(self, items: Sequence[tuple[str, Attachment]]) -> list[str]:
        """One call for every (move id, file); returns the attachments' ids."""
        if not items:
            return []
        return [str(i) for i in self.client.create("ir.attachment", [
            {"name": a.filename, "resource": f"account.move,{int(entry_id)}", "type": "data", "data": a.content}
            for entry_id, a in items])]

    def entry_numbers(self, entry_ids: Sequence[str]) -> dict[str, str]:
        """The numbers Tryton gave to posted moves (read on demand, off the hot path)."""
        ids = [int(i) for i in entry_ids if str(i).isdigit()]
        rows = self.client.read("account.move", ids, ["number"]) if ids else []
        return {str(r["id"]): r.get("number") or "" for r in rows}

    def update_entry(self, entry_id: str, entry: JournalEntry, *, post: bool) -> EntryResult:
        move_id = int(entry_id)
        rows = self.client.read("account.move", [move_id], ["state", "lines"]) if self.client.search(
            "account.move", [("id", "=", move_id)]) else []
        if not rows:
            raise NotFound(f"Tryton move {move_id} no longer exists", provider=PROVIDER.key)
        if rows[0]["state"] != "draft":
            raise PermanentError(f"Tryton move {move_id} is posted and cannot be changed", provider=PROVIDER.key)
        values = self._values(entry)
        values.pop("company", None)
        values["lines"] = [["delete", rows[0]["lines"]], *values["lines"]]
        self.client.write("account.move", [move_id], values)
        result = EntryResult(reference=entry.reference, entry_id=str(move_id), state="draft")
        if post:
            self._post([(0, move_id)], [result])
        if entry.attachment is not None and result.ok:
            self.attach_document(str(move_id), entry.attachment)
        return result

    def _move(self, entry_id: str, fields: list[str]) -> dict:
        move_id = int(entry_id)
        self.company()
        if not self.client.search("account.move", [("id", "=", move_id)]):
            raise NotFound(f"Tryton move {move_id} no longer exists", provider=PROVIDER.key)
        return self.client.read("account.move", [move_id], fields)[0]

    def delete_entry(self, entry_id: str) -> None:
        """Delete a draft move (Tryton itself refuses to delete a posted one)."""
        move = self._move(entry_id, ["state"])
        if move["state"] != "draft":
            raise PermanentError(f"Tryton move {entry_id} is posted and cannot be deleted", provider=PROVIDER.key)
        self.client.delete("account.move", [move["id"]])

    def reverse_entry(self, entry_id: str, *, date: dt.date, reference: str) -> EntryResult:
        """A posted move that cancels a posted one: its lines with debit and credit swapped (same accounts,
        parties, second currency and VAT lines, amounts negated), tagged with `reference`, looked up first."""
        existing = self.find_entry_by_reference(reference)
        if existing is not None:  # booked already; a draft means posting was interrupted: post it now
            if existing.state == "draft":
                self._post([(0, int(existing.entry_id))], [existing])
                if existing.error is not None:
                    raise existing.error
            return existing
        move = self._move(entry_id, ["state", "date", "journal", "number", "description", "lines"])
        if move["state"] != "posted":
            raise PermanentError(f"Tryton move {entry_id} is a draft: delete it instead", provider=PROVIDER.key)
        day = max(date, move["date"])
        values = {"company": self.company()["id"], "journal": move["journal"], "period": self._period_for(day),
                  "date": day, "origin": f"account.move,{move['id']}",
                  "description": mapper.reversal_description(move.get("description"), move.get("number") or entry_id,
                                                             reference),
                  "lines": [["create", self._reversed_lines(move["lines"], day)]]}
        (new_id,) = self.client.create("account.move", [values])
        result = EntryResult(reference=reference, entry_id=str(new_id), state="draft")
        self._post([(0, new_id)], [result])
        if result.error is not None:
            raise result.error
        result.number = self.entry_numbers([str(new_id)]).get(str(new_id), "")
        return result

    def _reversed_lines(self, line_ids: list[int], day: dt.date) -> list[dict]:
        with_analytic = analytic.has_field(self.client, "account.move.line", "analytic_lines")
        lines = self.client.read("account.move.line", line_ids, [
            "account", "party", "debit", "credit", "description", "second_currency", "amount_second_currency",
            "tax_lines", *(["analytic_lines"] if with_analytic else [])])
        tax_ids = [t for line in lines for t in line.get("tax_lines") or []]
        taxes = {t["id"]: t for t in self.client.read("account.tax.line", tax_ids, ["tax", "amount", "type"])} \
            if tax_ids else {}
        analytic_ids = [a for line in lines for a in line.get("analytic_lines") or []]
        analytics = {a["id"]: a for a in self.client.read("analytic_account.line", analytic_ids,
                                                          ["account", "debit", "credit"])} if analytic_ids else {}
        return [mapper.reversed_line(line, [taxes[t] for t in line.get("tax_lines") or [] if t in taxes],
                                     [analytics[a] for a in line.get("analytic_lines") or [] if a in analytics], day)
                for line in sorted(lines, key=lambda l: l["id"])]

    def attach_document(self, entry_id: str, attachment: Attachment) -> str:
        (attachment_id,) = self.attach_documents([(entry_id, attachment)])
        return attachment_id

    def find_entries_by_reference(self, references: Sequence[str]) -> dict[str, EntryResult]:
        references = [r for r in references if r]
        if not references:
            return {}
        clauses = [("description", "like", f"%{mapper.reference_tag(r)}%") for r in references]
        domain = clauses[0] if len(clauses) == 1 else ["OR", *clauses]
        rows = self.client.search_read("account.move", [domain], ["description", "state", "number"])
        found: dict[str, EntryResult] = {}
        wanted = set(references)
        for row in rows:
            reference = mapper.reference_from_description(row.get("description"))
            if reference in wanted and reference not in found:
                found[reference] = EntryResult(reference=reference, entry_id=str(row["id"]),
                                               state=row.get("state") or "draft", number=row.get("number") or "")
        if found:  # whether each has its file: an interruption may have come between posting and attaching
            resources = [f"account.move,{int(r.entry_id)}" for r in found.values()]
            attached = {row["resource"] for row in self.client.search_read(
                "ir.attachment", [("resource", "in", resources)], ["resource"])}
            for result in found.values():
                result.attachment_count = int(f"account.move,{int(result.entry_id)}" in attached)
        return found

    # --- source: invoices --------------------------------------------------------------------
    def list_source_journals(self) -> list[Journal]:
        return [j for j in self.list_journals() if j.kind in ("sale", "purchase")]

    def list_tax_rates(self) -> list[TaxRate]:
        tree, today = self.tax_tree(), dt.date.today()
        return [mapper.tax_rate_from_tryton(row, tree, today) for row in tree.roots()]

    def list_dimension_values(self) -> list[tuple[str, str, str]]:
        """The analytic accounts invoice lines may carry (none when analytic_invoice is not activated)."""
        return analytic.source_values(self.client, self.company()["id"])

    def list_dimensions(self) -> list[tuple[str, str, str]]:
        """The analytic accounts entries may be booked on (none when analytic_account is not activated)."""
        return analytic.target_dimensions(self.client, self.company()["id"])

    def _invoice_domain(self, since: dt.datetime | None, scope: Scope) -> list:
        types = [{"sale": "out", "purchase": "in"}[kind.value] for kind in Scope(scope).kinds]
        # Cancelled invoices come too: the engine reverses what it booked for them (and skips the others).
        domain: list = [("state", "in", ["posted", "paid", "cancelled"]), ("type", "in", types),
                        ("company", "=", self.company()["id"])]
        if since is not None:
            naive = since.astimezone(dt.timezone.utc).replace(tzinfo=None) if since.tzinfo else since
            domain.append(["OR", ("write_date", ">=", naive),
                           [("write_date", "=", None), ("create_date", ">=", naive)]])
        return domain

    def list_invoices(self, *, since: dt.datetime | None, scope: Scope, page_size: int = 100) -> Iterator[Invoice]:
        domain = self._invoice_domain(since, scope)
        tree = self.tax_tree()
        last_id = 0
        while True:
            rows = self.client.search_read("account.invoice", [*domain, ("id", ">", last_id)], INVOICE_FIELDS,
                                           limit=page_size, order=[("id", "ASC")])
            if not rows:
                return
            yield from self._invoices_from_rows(rows, tree)
            last_id = rows[-1]["id"]
            if len(rows) < page_size:
                return

    def _invoices_from_rows(self, rows: list[dict], tree: mapper.TaxTree) -> list[Invoice]:
        line_ids = [i for row in rows for i in row.get("lines") or []]
        tax_ids = [i for row in rows for i in row.get("taxes") or []]
        lines = self.client.read("account.invoice.line", line_ids, LINE_FIELDS) if line_ids else []
        analytic.attach_dimensions(self.client, lines)
        taxes = self.client.read("account.invoice.tax", tax_ids, ["invoice", "tax", "base", "amount"]) if tax_ids else []
        booked = self._company_amounts(rows)
        partners = self._partners(sorted({row["party"] for row in rows if row.get("party")}), with_code=False)
        resources = [f"account.invoice,{row['id']}" for row in rows]
        with_files = {r["resource"] for r in self.client.search_read(
            "ir.attachment", [("resource", "in", resources)], ["resource"])}
        by_invoice: dict[int, list[dict]] = {}
        for line in sorted(lines, key=lambda l: l["id"]):
            by_invoice.setdefault(line["invoice"], []).append(line)
        taxes_by_invoice: dict[int, list[dict]] = {}
        for tax in taxes:
            taxes_by_invoice.setdefault(tax["invoice"], []).append(tax)
        invoices = []
        for row in rows:
            has_file = f"account.invoice,{row['id']}" in with_files or row.get("type") == "out"
            try:
                invoices.append(mapper.invoice_from_tryton(
                    row, by_invoice.get(row["id"], []), taxes_by_invoice.get(row["id"], []),
                    partners.get(row.get("party")), tree, has_file, booked=booked.get(row["id"])))
            except Exception as exc:  # noqa: BLE001 - one invoice never stops the listing
                logger.warning("Tryton invoice %s could not be mapped", row.get("id"), exc_info=True)
                unreadable = unreadable_invoice(
                    str(row["id"]), reason=describe_failure(exc), number=str(row.get("number") or ""),
                    kind="sale" if row.get("type") == "out" else "purchase")
                invoices.append(replace(unreadable, cancelled=row.get("state") == "cancelled"))
        return invoices

    def _company_amounts(self, rows: list[dict]) -> dict[int, dict[str, Decimal]]:
        """For invoices in a foreign currency: what Tryton's own move booked in the company's currency, per
        invoice line and tax row ({"account.invoice.line,12": debit - credit}), so the hub converts nothing."""
        company_currency = (self.company().get("currency.") or {}).get("code", "")
        foreign = {row["move"]: row["id"] for row in rows
                   if row.get("move") and (row.get("currency.") or {}).get("code", "") != company_currency}
        if not foreign:
            return {}
        booked: dict[int, dict[str, Decimal]] = {}
        for line in self.client.search_read("account.move.line", [("move", "in", sorted(foreign))],
                                            ["move", "origin", "debit", "credit"]):
            origin = line.get("origin") or ""
            if isinstance(origin, str) and origin.startswith(("account.invoice.line,", "account.invoice.tax,")):
                amounts = booked.setdefault(foreign[line["move"]], {})
                amounts[origin] = amounts.get(origin, Decimal(0)) + Decimal(line["debit"]) - Decimal(line["credit"])
        return booked

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        found = self.get_invoices([invoice_id])
        return found[0] if found else None

    def get_invoices(self, invoice_ids) -> list[Invoice]:
        ids = [int(i) for i in invoice_ids if str(i).isdigit()]
        if not ids:
            return []
        rows = self.client.search_read("account.invoice", [("id", "in", ids),
                                                           ("state", "in", ["posted", "paid", "cancelled"])],
                                       INVOICE_FIELDS, order=[("id", "ASC")])
        return self._invoices_from_rows(rows, self.tax_tree()) if rows else []

    def count_invoices(self, *, since: dt.datetime | None, scope: Scope) -> int | None:
        return self.client.call("model.account.invoice.search_count", self._invoice_domain(since, scope))

    def existing_invoice_ids(self, invoice_ids) -> set[str]:
        """Invoices still in Tryton, whatever their state (Tryton deletes only draft or cancelled ones)."""
        ids = [int(i) for i in invoice_ids if str(i).isdigit()]
        if not ids:
            return set()
        return {str(i) for i in self.client.search("account.invoice", [("id", "in", ids)])}

    def get_attachment(self, invoice: Invoice) -> Attachment | None:
        """The file attached to the invoice in Tryton, else (customer invoices) Tryton's own invoice report."""
        rows = self.client.search_read("ir.attachment", [("resource", "=", f"account.invoice,{int(invoice.id)}")],
                                       ["name", "data", "type"], order=[("id", "ASC")], limit=1)
        if rows:
            row = rows[0]
            content = row.get("data") or b""
            if isinstance(content, str):
                content = content.encode("latin-1")
            name = row.get("name") or f"invoice-{invoice.id}"
            return check_readable(Attachment(filename=name, content_type=guess_content_type(name, content), content=content),
                                  provider=PROVIDER.key)
        if invoice.kind.value != "sale":
            return None
        extension, content, name = self.client.report("account.invoice", [int(invoice.id)])
        filename = f"{(invoice.number or name or 'invoice').replace('/', '-')}.{extension}"
        return check_readable(Attachment(filename=filename, content_type=guess_content_type(filename, content),
                                         content=content), provider=PROVIDER.key)

    # --- payments (lettering): see payments.py ---------------------------------------------------
    def invoice_payments(self, invoice_ids: Sequence[str]) -> dict[str, list[Payment]]:
        return payments.invoice_payments(self, invoice_ids)

    def book_payment(self, entry: JournalEntry, **kwargs) -> EntryResult:
        return payments.book_payment(self, entry, **kwargs)

    def third_party_amount(self, entry_id: str, **kwargs) -> Decimal:
        return payments.third_party_amount(self, entry_id, **kwargs)
