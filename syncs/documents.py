"""Document flows (issue 16): an ERP's customers, suppliers, products and business documents written into Xero.

The ERP is the source of truth; nothing comes back from Xero except the numbers Xero gives, which are written on
the ERP's documents. Each run reads what changed in the ERP since the flow's cursor, oldest change first:
1. third parties: each ERP party is linked to a Xero contact (PartnerLink): an existing link, else the hub's
   matching rules over Xero's contacts, else a new contact when the flow creates contacts;
2. products: each ERP product to a Xero item (ProductLink; several products may share one): a link, else the item
   with the same code, else a new item when the flow creates items, else the product is reported (its lines still
   go, with their account and no item);
3. documents, per switched-on type, in batches: quotes, sales orders (Xero drafts), invoices (the order's draft
   updated in place and authorised), purchase orders, bills. Each is a SyncDocument (kind = the type), recorded
   before it is sent (write-ahead), so a run killed in the middle is settled by looking the references up in Xero
   first; a document Xero no longer lets change is reported on the error desk, never duplicated.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import time
from decimal import Decimal

from django.conf import settings

from django.db import transaction
from django.utils import timezone

from integration_hub.connectors.erp_types import ErpDocument, ErpKind, ErpParty, ErpProduct
from integration_hub.connectors.errors import ConnectorError, PermanentError
from integration_hub.connectors.http import CallLog
from integration_hub.connectors.types import Partner
from mappings.models import Flow, VatMapping
from syncs import catalogue
from syncs.engine import close_quietly, LISTING_MARGIN, Counts, RunAborted, SideTagged, chunked, default_batch_size, open_connector
from syncs.entries import DocumentProblem, rate_key
from syncs.models import (DocumentStatus, ErrorStatus, PartnerLink, ProductLink, RunStatus,
                          SyncDocument, SyncError, SyncRun)
from syncs.recording import BatchRecord

logger = logging.getLogger(__name__)
ORDER = (ErpKind.QUOTE, ErpKind.SALES_ORDER, ErpKind.INVOICE, ErpKind.PURCHASE_ORDER, ErpKind.BILL)
WORDS = {ErpKind.QUOTE: "quote", ErpKind.SALES_ORDER: "sales order", ErpKind.INVOICE: "invoice",
         ErpKind.PURCHASE_ORDER: "purchase order", ErpKind.BILL: "bill"}
XERO_WORDS = {ErpKind.QUOTE: "quote", ErpKind.SALES_ORDER: "invoice", ErpKind.INVOICE: "invoice",
              ErpKind.PURCHASE_ORDER: "purchase order", ErpKind.BILL: "bill"}


PREFIX = {ErpKind.QUOTE: "q", ErpKind.SALES_ORDER: "so", ErpKind.INVOICE: "inv", ErpKind.PURCHASE_ORDER: "po",
          ErpKind.BILL: "bill"}


def _setting(name: str, default: float) -> float:
    value = getattr(settings, name, None)
    return float(value if value is not None else os.environ.get(name, default))


def follow_seconds() -> float:
    """How long a run of a document flow keeps following the ERP after its pass (HUB_DOCUMENT_FOLLOW_SECONDS)."""
    return _setting("HUB_DOCUMENT_FOLLOW_SECONDS", 240)


def poll_seconds() -> float:
    """How often a following run reads the ERP's changes (HUB_DOCUMENT_POLL_SECONDS)."""
    return max(0.5, _setting("HUB_DOCUMENT_POLL_SECONDS", 5))


def document_reference(flow: Flow, document: ErpDocument) -> str:
    """The hub's reference of an ERP document (its binding, unique in the flow)."""
    return f"{flow.pk}-{PREFIX[document.kind]}{document.id}"


def xero_tag(flow: Flow, document: ErpDocument) -> str:
    """The reference tagged on the Xero document. An order's invoice carries its order's: the draft Xero holds for
    the order is the invoice, updated and authorised, never a second document."""
    if document.kind is ErpKind.INVOICE and document.origin_id:
        return f"{flow.pk}-so{document.origin_id}"
    return document_reference(flow, document)


def number_line(document: ErpDocument) -> str:
    """The ERP's numbers on the Xero document (a description line): an order's invoice names its order too."""
    if document.origin_number and document.kind in (ErpKind.INVOICE, ErpKind.BILL):
        origin = "sales order" if document.kind is ErpKind.INVOICE else "purchase order"
        return f"ERP {origin} {document.origin_number}, {WORDS[document.kind]} {document.number}"
    return ""


class DocumentEngine:
    def __init__(self, flow: Flow, *, run: SyncRun | None = None, progress=None, **_ignored) -> None:
        from integration_hub.connectors.tryton.erp import TrytonErp
        from integration_hub.connectors.xero.documents import XeroDocuments

        if flow.source is None or flow.target is None:
            raise RunAborted(f"“{flow.name}” needs its ERP and its accounting tool connected.")
        self.flow, self.run, self.progress = flow, run, progress
        self.call_log = CallLog()
        self.counts = Counts()
        self.total: int | None = None
        self.cursor_after: dt.datetime | None = None
        self._source = open_connector(flow.source, self.call_log)
        self._target = open_connector(flow.target, self.call_log)
        if not hasattr(self._target, "create_partners") or "documents" not in flow.target.descriptor.features:
            raise RunAborted(f"“{flow.target.name}” cannot receive an ERP's documents.")
        self.erp = SideTagged(TrytonErp.from_connector(self._source), "source")
        self.xero = SideTagged(XeroDocuments(self._target), "target")
        self.enabled = set(flow.object_types or [])
        self._contacts: dict[str, str] = {}  # ERP party id -> Xero contact id
        self._items: dict[str, str] = {}  # ERP product id -> Xero item code
        self._done: set[str] = set()  # documents the retry pass handled, skipped when the listing meets them
        self._handled: dict[str, str] = {}  # document key -> version this run sent or skipped (follow passes)
        self._xero_items: dict[str, str] | None = None  # item code (casefolded) -> code as Xero writes it
        self._taxes = {(m.kind, m.source_tax_id): m.target_vat_code_id for m in VatMapping.objects.filter(flow=flow)}
        self._rates = {(m.kind, rate_key(m.source_rate)): m.target_vat_code_id
                       for m in VatMapping.objects.filter(flow=flow) if m.source_rate is not None}

    def close(self) -> None:
        close_quietly(self._source, self._target)

    # --- a run ---------------------------------------------------------------------------------
    def execute(self, *, since=None, document_ids=None) -> list:
        started = timezone.now()
        since = since or (self.flow.cursor - LISTING_MARGIN if self.flow.cursor else None)
        try:
            self._load_links()
            size = default_batch_size()  # HUB_SYNC_BATCH_SIZE, as for invoice flows (Xero takes 50 a call)
            self._links(since)
            self._retry(document_ids, size)
            if document_ids:  # a retry run: those documents only, the cursor stays where it is
                return []
            self._pass(since, size)
            self.cursor_after = started
            self._follow(size)
            if self._types_added():
                # switched on while this run went: the switch reset the cursor so that the next run reads the new
                # types from the beginning; this run's cursor must not move it forward again
                self.cursor_after = None
        finally:
            self.close()
        return []

    def _types_added(self) -> bool:
        now = Flow.objects.filter(pk=self.flow.pk).values_list("object_types", flat=True).first()
        return bool(set(now or []) - self.enabled)

    def _links(self, since) -> None:
        parties = list(self.erp.list_parties(since))
        self._link_parties(parties)
        if "products" in self.enabled:
            self._link_products(list(self.erp.list_products(since)))

    def _pass(self, since, size: int) -> None:
        for kind in ORDER:
            if kind.value in self.enabled:
                listed = (d for d in self.erp.list_documents(kind, since)
                          if d.key not in self._done and self._handled.get(d.key) != d.version)
                for batch in chunked(listed, size):
                    self._documents(kind, batch)

    # --- following the ERP (latency, docs/document-flows.md "Latency") -----------------------------
    def _follow(self, size: int) -> None:
        """After its pass, a run keeps reading the ERP's changes every few seconds (cheap reads in the ERP; Xero is
        called only for what changed) until its window is spent, then ends when the flow's schedule is about to
        fire, so that the schedule's next run takes over without a gap. The call budget keeps Xero's limits."""
        window, poll = follow_seconds(), poll_seconds()
        if window <= 0 or self.run is None:
            return
        clock = time.monotonic
        end = clock() + window
        while True:
            if not self._wait(poll):
                return
            if clock() >= end and self._schedule_due(within=poll + 2):
                return
            pass_started = timezone.now()
            since = self.cursor_after - LISTING_MARGIN
            self._links(since)
            self._pass(since, size)
            self.cursor_after = pass_started
            self._heartbeat()
            if clock() >= end + 90:  # no schedule keeps time (a manual run, a flow without one): stop anyway
                return

    def _wait(self, seconds: float) -> bool:
        """Sleep between polls; False when the run should end: aborted (no longer running as ours, e.g. recovered)
        or its flow switched off."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 1.0))
        run = SyncRun.objects.filter(pk=self.run.pk).values_list("status", "worker").first()
        if run is None or run[0] != RunStatus.RUNNING or run[1] != self.run.worker:
            return False
        return Flow.objects.filter(pk=self.flow.pk, enabled=True).exists()

    def _schedule_due(self, *, within: float) -> bool:
        """True when the flow's schedule fires within `within` seconds (or has none): time to hand over."""
        from django_q.models import Schedule

        from syncs.services import schedule_name

        next_run = Schedule.objects.filter(name=schedule_name(self.flow)).values_list("next_run", flat=True).first()
        return next_run is None or (next_run - timezone.now()).total_seconds() <= within

    def _retry(self, document_ids, size: int) -> None:
        """Documents in error (or left pending by an interrupted run) are read again from the ERP and sent, even when
        they did not change: what was wrong may have been fixed in the hub (a link, a tax mapping) or in Xero.
        Documents whose open error waits for a person (catalogue: not retried automatically) are left alone unless
        a person asks for them (`document_ids`)."""
        docs = SyncDocument.objects.filter(flow=self.flow, status__in=[DocumentStatus.ERROR, DocumentStatus.PENDING])
        if document_ids:
            docs = docs.filter(pk__in=list(document_ids))
        else:
            manual_only = [code for code, entry in catalogue.CATALOGUE.items() if not entry.retry_automatically]
            docs = docs.exclude(pk__in=SyncError.objects.filter(flow=self.flow, status=ErrorStatus.OPEN,
                                                                 code__in=manual_only).values("document_id"))
        wanted: dict[str, list[str]] = {}
        for source_id in docs.values_list("source_id", flat=True):
            kind, _, erp_id = source_id.partition(":")
            if kind in self.enabled and kind in {k.value for k in ORDER}:
                wanted.setdefault(kind, []).append(erp_id)
        for kind in ORDER:
            found = [d for d in (self.erp.get_document(kind, i) for i in wanted.get(kind.value, [])) if d is not None]
            for batch in chunked(found, size):
                self._documents(kind, batch)
                self._done |= {d.key for d in batch}

    def _load_links(self) -> None:
        flow = self.flow
        self._contacts = dict(PartnerLink.objects.filter(source=flow.source, target=flow.target).values_list(
            "source_partner_id", "target_partner_id"))
        self._items = dict(ProductLink.objects.filter(source=flow.source, target=flow.target).values_list(
            "source_product_id", "target_item_code"))

    def _heartbeat(self) -> None:
        if self.progress:
            self.progress(self.counts.seen, self.total)
        if self.run is not None:
            c = self.counts
            SyncRun.objects.filter(pk=self.run.pk).update(
                heartbeat_at=timezone.now(), seen_count=c.seen, synced_count=c.synced, error_count=c.errors,
                skipped_count=c.skipped, external_calls=len(self.call_log))

    # --- third parties -------------------------------------------------------------------------
    def _wanted(self, party: ErpParty) -> bool:
        return (party.is_customer and "customers" in self.enabled) or (party.is_supplier and "suppliers" in self.enabled)

    def _link_parties(self, parties: list[ErpParty]) -> None:
        unlinked = [p for p in parties if p.id not in self._contacts and p.name and self._wanted(p)]
        if not unlinked:
            return
        as_partners = {p.id: _partner(p) for p in unlinked}
        matches = self._target.match_partners(list(as_partners.values()))
        created: dict[str, object] = {}
        to_create = [p for p in unlinked if p.id not in matches]
        if to_create and self.flow.create_contacts:
            outcomes = self._target.create_partners(
                [(as_partners[p.id], "customer" if p.is_customer else "supplier") for p in to_create])
            created = dict(zip([p.id for p in to_create], outcomes))
        with transaction.atomic():
            for party in unlinked:
                if party.id in matches:
                    contact, rule = matches[party.id]
                    self._link(party, contact.id, rule)
                elif isinstance(created.get(party.id), Partner):
                    self._link(party, created[party.id].id, "created")

    def _link(self, party: ErpParty, contact_id: str, rule: str) -> None:
        PartnerLink.objects.get_or_create(
            source=self.flow.source, target=self.flow.target, source_partner_id=party.id,
            defaults={"tenant_id": self.flow.tenant_id, "target_partner_id": contact_id, "name": party.name[:200],
                      "matched_by": rule})
        self._contacts[party.id] = contact_id

    def _contact_for(self, document: ErpDocument) -> str:
        """The document's Xero contact: linked, or linked now (a party not changed since the cursor)."""
        if document.party_id not in self._contacts:
            party = self.erp.get_party(document.party_id)
            if party is not None:
                party.is_customer = party.is_customer or document.kind.is_sale
                party.is_supplier = party.is_supplier or not document.kind.is_sale
                self._link_parties([party])
        return self._contacts.get(document.party_id, "")

    # --- products ------------------------------------------------------------------------------
    def _xero_item_codes(self) -> dict[str, str]:
        if self._xero_items is None:
            self._xero_items = {item.code.casefold(): item.code for item in self.xero.list_items() if item.code}
        return self._xero_items

    def _link_products(self, products: list[ErpProduct]) -> None:
        from integration_hub.connectors.xero.documents import OutItem

        unlinked = [p for p in products if p.id not in self._items and p.code and p.active]
        if not unlinked:
            return
        codes = self._xero_item_codes()
        results = []
        to_create = []
        for product in unlinked:
            code = codes.get(product.code.casefold())
            if code is not None:
                results.append((product, code, "code", None))
            elif self.flow.create_items:
                to_create.append(product)
            else:
                results.append((product, "", "", (catalogue.DOC_ITEM_NOT_LINKED, (
                    f"The product {product.code} “{product.name}” has no item in Xero; its lines are booked on their "
                    "account without an item."), "")))
        if to_create:
            items = [OutItem(code=p.code[:30], name=p.name[:50], description=p.description or p.name,
                             sale_price=p.sale_price, purchase_price=p.purchase_price,
                             sales_account=self.flow.default_sales_account if p.salable else "",
                             purchase_account=self.flow.default_purchase_account if p.purchasable else "",
                             sales_tax_type=self._tax_type("sale", p.sale_taxes) if p.salable else "",
                             purchase_tax_type=self._tax_type("purchase", p.purchase_taxes) if p.purchasable else "")
                     for p in to_create]
            for product, outcome in zip(to_create, self.xero.create_items(items)):
                if isinstance(outcome, Exception):
                    results.append((product, "", "", (catalogue.DOC_REJECTED, (
                        f"Xero refused to create the item {product.code} “{product.name}”."),
                        getattr(outcome, "provider_message", "") or str(outcome))))
                else:
                    codes[product.code.casefold()] = product.code[:30]
                    results.append((product, product.code[:30], "created", None))
        self._record_products(results)

    @transaction.atomic
    def _record_products(self, results: list) -> None:
        now = timezone.now()
        batch = BatchRecord(self.flow, self.run, self.counts)
        for product, code, rule, problem in results:
            self.counts.seen += 1
            doc, _ = SyncDocument.objects.get_or_create(
                flow=self.flow, source_id=f"product:{product.id}",
                defaults={"tenant_id": self.flow.tenant_id, "kind": "product", "reference": f"{self.flow.pk}-p{product.id}",
                          "source_number": product.code[:128], "partner_name": product.name[:200]})
            doc.last_run = self.run
            if problem is None:
                ProductLink.objects.get_or_create(
                    source=self.flow.source, target=self.flow.target, source_product_id=product.id,
                    defaults={"tenant_id": self.flow.tenant_id, "target_item_code": code, "name": product.name[:200],
                              "matched_by": rule})
                self._items[product.id] = code
                doc.target_entry_id, doc.target_number, doc.synced_at = code, code, now
                batch.synced(doc, "created" if rule == "created" else "linked")
            else:
                code_, message, provider_message = problem
                batch.failed(doc, DocumentProblem(code_, message, provider_message=provider_message))
            doc.save()
        batch.save(now, verb="Linked")

    def _tax_type(self, kind: str, taxes) -> str:
        for tax in taxes:
            found = self._taxes.get((kind, tax.id)) or self._rates.get((kind, rate_key(tax.rate)))
            if found:
                return found
        return ""

    # --- documents -----------------------------------------------------------------------------
    def _documents(self, kind: ErpKind, batch: list[ErpDocument]) -> None:
        from integration_hub.connectors.xero.documents import OutDocument, OutLine

        keys = [d.key for d in batch] + [f"{ErpKind.SALES_ORDER}:{d.origin_id}" for d in batch if d.origin_id]
        bindings = {d.source_id: d for d in SyncDocument.objects.filter(flow=self.flow, source_id__in=keys)}
        sendable, results = [], []
        for document in batch:
            self.counts.seen += 1
            self._handled[document.key] = document.version
            mine = bindings.get(document.key)
            if mine is not None and mine.status == DocumentStatus.SYNCED and mine.source_version == document.version:
                self.counts.skipped += 1
                continue
            order = bindings.get(f"{ErpKind.SALES_ORDER}:{document.origin_id}") if document.kind is ErpKind.INVOICE \
                and document.origin_id else None
            contact = self._contact_for(document)
            if not contact:
                who = "customer" if document.kind.is_sale else "supplier"
                results.append((document, None, (catalogue.DOC_CONTACT_NOT_LINKED, (
                    f"The {WORDS[document.kind]} {document.number}'s {who} “{document.party_name}” is not linked to a "
                    "Xero contact."), "")))
                continue
            side = "sale" if document.kind.is_sale else "purchase"
            account = self.flow.default_sales_account if side == "sale" else self.flow.default_purchase_account
            lines, missing_tax = [], ""
            for line in document.lines:
                if line.description_only:
                    lines.append(OutLine(description=line.description, quantity=Decimal(0), unit_amount=Decimal(0)))
                    continue
                tax_type = self._tax_type(side, line.taxes)
                if line.taxes and not tax_type:
                    missing_tax = ", ".join(f"{t.name} ({t.rate} %)" for t in line.taxes)
                lines.append(OutLine(description=line.description or line.product_code or "-", quantity=line.quantity,
                                     unit_amount=line.unit_price, account_code=account, tax_type=tax_type or "NONE",
                                     item_code=self._items.get(line.product_id or "", ""), tax_amount=line.tax_amount))
            if missing_tax:
                results.append((document, None, (catalogue.DOC_TAX_NOT_MAPPED, (
                    f"The {WORDS[document.kind]} {document.number} uses a {side} tax not mapped to a Xero tax rate: "
                    f"{missing_tax}."), "")))
                continue
            target_id = (mine.target_entry_id if mine else "") or (order.target_entry_id if order else "")
            sendable.append((document, OutDocument(
                reference=xero_tag(self.flow, document), kind=document.kind.value, contact_id=contact,
                date=document.date, due_date=document.due_date, currency=document.currency, lines=lines,
                source_number=document.number, existing_id=target_id, version=document.version,
                number_text=number_line(document),
                supplier_number=document.reference if document.kind is ErpKind.BILL else "")))
        if sendable:
            self._recover(kind, sendable)  # before the write-ahead, which marks every document of the batch
            self._write_ahead(kind, [document for document, _ in sendable])
            saved = self._save(kind, [out for _, out in sendable])
            for (document, _), outcome in zip(sendable, saved):
                results.append((document, outcome, None) if outcome.ok else
                               (document, None, self._refusal(document, outcome.error)))
        # Numbers written back before the results are recorded: a run killed in between sends the documents again,
        # finds them unchanged and writes back what is missing (a line already there is not added twice); the other
        # way round, a document recorded as sent is skipped and its number would never reach the ERP.
        self._write_back(kind, [(d, o) for d, o, p in results if p is None and o is not None])
        self._record(kind, results)
        self._heartbeat()

    def _save(self, kind: ErpKind, docs):
        xero = self.xero
        if kind is ErpKind.QUOTE:
            return xero.save_quotes(docs)
        if kind is ErpKind.SALES_ORDER:
            return xero.save_sales_invoices(docs, "DRAFT")
        if kind is ErpKind.INVOICE:
            return xero.save_sales_invoices(docs, "AUTHORISED")
        if kind is ErpKind.PURCHASE_ORDER:
            return xero.save_purchase_orders(docs)
        return xero.save_bills(docs)

    def _refusal(self, document: ErpDocument, error: Exception | None) -> tuple[str, str, str]:
        reason = (getattr(error, "details", None) or {}).get("reason", "")
        provider_message = getattr(error, "provider_message", "") or str(error or "")
        if reason in ("locked", "deleted"):
            return (catalogue.DOC_LOCKED, f"The {WORDS[document.kind]} {document.number} changed in the ERP, but its "
                    f"{XERO_WORDS[document.kind]} in Xero can no longer change ({reason}); it was not sent again.",
                    provider_message)
        return (catalogue.DOC_REJECTED, f"Xero refused the {WORDS[document.kind]} {document.number}.", provider_message)

    def _binding(self, kind: ErpKind, document: ErpDocument) -> SyncDocument:
        doc, _ = SyncDocument.objects.get_or_create(
            flow=self.flow, source_id=document.key,
            defaults={"tenant_id": self.flow.tenant_id, "kind": kind.value,
                      "reference": document_reference(self.flow, document)})
        doc.source_number = document.number[:128]
        doc.partner_name = document.party_name[:200]
        doc.issue_date = document.date
        doc.total_amount = document.total_amount
        doc.currency = document.currency[:3]
        doc.source_updated_at = document.updated_at
        return doc

    @transaction.atomic
    def _write_ahead(self, kind: ErpKind, documents: list[ErpDocument]) -> None:
        """Before anything is sent: each document's binding holds the version being sent, so that a run killed
        after Xero answered finds the document by reference rather than sending it twice."""
        for document in documents:
            doc = self._binding(kind, document)
            doc.pending_version = document.version
            doc.save()

    def _recover(self, kind: ErpKind, sendable: list) -> None:
        """Documents an interrupted run may have sent (written ahead by an earlier attempt, no Xero id recorded):
        found by their tag in Xero, and updated in place. Called before this attempt's write-ahead. A document
        written ahead for the first time has no `last_run` yet, so that cannot be the sign of an earlier attempt."""
        pending = {d.source_id: d for d in SyncDocument.objects.filter(
            flow=self.flow, source_id__in=[document.key for document, _ in sendable], target_entry_id="")
            .exclude(pending_version="")}
        lost = [out for document, out in sendable if document.key in pending and not out.existing_id]
        if not lost:
            return
        found = self.xero.find_by_reference(kind.value, [out.reference for out in lost])
        for out in lost:
            if out.reference in found and found[out.reference].xero_id:
                out.existing_id = found[out.reference].xero_id

    @transaction.atomic
    def _record(self, kind: ErpKind, results: list) -> None:
        now = timezone.now()
        batch = BatchRecord(self.flow, self.run, self.counts)
        for document, outcome, problem in results:
            doc = self._binding(kind, document)
            doc.last_run = self.run
            doc.seen_version = document.version
            if problem is None:
                doc.target_entry_id, doc.target_number = outcome.xero_id, outcome.number
                doc.target_state = "draft" if outcome.status in ("DRAFT", "SUBMITTED") else "posted"
                doc.source_version, doc.synced_at, doc.pending_version = document.version, now, ""
                batch.synced(doc, outcome.action or "created",
                             [f"{XERO_WORDS[document.kind]} {outcome.number} in Xero ({outcome.status})"])
            else:
                code, message, provider_message = problem
                batch.failed(doc, DocumentProblem(code, message, provider_message=provider_message))
            doc.save()
        batch.save(now, verb="Sent")

    def _write_back(self, kind: ErpKind, done: list) -> None:
        """Xero's number on the ERP's document, where its users see it (a failure is logged, never fatal)."""
        for document, outcome in done:
            if not outcome.number:
                continue
            try:
                self.erp.write_back_number(kind, document.id, f"Xero {XERO_WORDS[document.kind]} {outcome.number}")
            except (ConnectorError, PermanentError) as exc:
                logger.warning("writing Xero's number on %s %s failed: %s", kind, document.number, exc)


def _partner(party: ErpParty) -> Partner:
    return Partner(id=party.id, name=party.name, vat_number=party.vat_number,
                   registration_number=party.registration_number, auxiliary_account=party.code,
                   address=party.address, email=party.email)
