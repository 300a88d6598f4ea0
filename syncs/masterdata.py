"""Master data flows: the accounting side (the ERP, source of truth) pushes its ledger accounts and its
contacts into Factorial, each with `external_id` = its id in accounting; created once, updated after.

Never a duplicate: every run starts from Factorial's current lists and finds each record by its
external id (or, for a ledger account made in Factorial first, by its number) before creating it;
a run killed after Factorial created a record finds it there the next time and updates it.
Each record is a SyncDocument (kind "account" or "contact"), so runs, outcomes and errors show in
the same history and error desk as invoices.
"""
from __future__ import annotations

import hashlib
import json

from django.db import transaction
from django.utils import timezone

from integration_hub.connectors.errors import NotFound, PermanentError
from integration_hub.connectors.http import CallLog
from integration_hub.connectors.types import Account, Partner
from mappings.models import Flow
from syncs import catalogue
from syncs.engine import close_quietly, Counts, RunAborted, SideTagged, chunked, open_connector
from syncs.entries import DocumentProblem
from syncs.models import DocumentStatus, SyncDocument, SyncRun
from syncs.recording import BatchRecord

BATCH = 50


def _digest(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _same(existing: dict, values: dict) -> bool:
    for key, value in values.items():
        if key in ("legal_entity_id", "currency"):
            continue
        current = existing.get(key)
        if isinstance(value, dict):
            if not isinstance(current, dict) or any((current.get(k) or "") != (v or "") for k, v in value.items()):
                return False
        elif (current or "") != (value or "") and not (isinstance(value, bool) and bool(current) == value):
            return False
    return True


class MasterDataEngine:
    def __init__(self, flow: Flow, *, run: SyncRun | None = None, progress=None, **_ignored) -> None:
        if flow.source is None or flow.target is None:
            raise RunAborted(f"“{flow.name}” needs an accounting connection and a Factorial connection.")
        self.flow, self.run, self.progress = flow, run, progress
        self.call_log = CallLog()
        self.counts = Counts()
        self.total: int | None = None
        self.cursor_after = None
        self.source = SideTagged(open_connector(flow.source, self.call_log), "source")
        self.target = SideTagged(open_connector(flow.target, self.call_log), "target")
        if not hasattr(self.target, "save_ledger_account"):
            raise RunAborted(f"“{flow.target.name}” cannot receive ledger accounts and contacts.")

    def close(self) -> None:
        close_quietly(self.source, self.target)

    def execute(self, *, since=None, document_ids=None) -> list:
        started = timezone.now()
        try:
            classes = tuple(c for c in self.flow.account_classes if c.isdigit())
            accounts = [a for a in self.source.list_accounts() if a.usable and a.account_class in classes]
            partners = [p for p in self.source.list_partners() if p.name]
            self.total = len(accounts) + len(partners)
            wanted = set(document_ids or [])
            if wanted:
                ids = set(SyncDocument.objects.filter(flow=self.flow, pk__in=wanted).values_list("source_id", flat=True))
                accounts = [a for a in accounts if f"account:{a.id}" in ids]
                partners = [p for p in partners if f"contact:{p.id}" in ids]
            self._push("account", accounts, self.target.list_ledger_accounts(), self._account_values,
                       self._save_account)
            self._push("contact", partners, self.target.list_contacts(), self._contact_values, self._save_contact)
            self.cursor_after = started
        finally:
            self.close()
        return []

    # --- per kind ------------------------------------------------------------------------------
    def _account_values(self, account: Account) -> dict:
        from integration_hub.connectors.factorial import mapper

        values = mapper.ledger_account_values(account, legal_entity_id="", currency=self.flow.tenant.base_currency)
        values.pop("legal_entity_id")
        return values

    def _contact_values(self, partner: Partner) -> dict:
        from integration_hub.connectors.factorial import mapper

        return mapper.contact_values(partner)

    def _save_account(self, account: Account, existing: dict | None) -> dict:
        return self.target.save_ledger_account(account, existing=existing, currency=self.flow.tenant.base_currency)

    def _save_contact(self, partner: Partner, existing: dict | None) -> dict:
        address = partner.address
        if address is None or not (address.street and address.postal_code and address.city and address.country_code):
            raise IncompleteRecord(f"{partner.name} has no full address (street, postal code, city, country), "
                                   "which Factorial requires for a contact.")
        return self.target.save_contact(partner, existing=existing)

    def _push(self, kind: str, records: list, existing_rows: list[dict], values_of, save) -> None:
        by_external = {str(r["external_id"]): r for r in existing_rows if r.get("external_id")}
        by_number = {r.get("number"): r for r in existing_rows if kind == "account" and not r.get("external_id")}
        for batch in chunked(records, BATCH):
            source_ids = [f"{kind}:{r.id}" for r in batch]
            docs = {d.source_id: d for d in SyncDocument.objects.filter(flow=self.flow, source_id__in=source_ids)}
            results = []
            for record in batch:
                self.counts.seen += 1
                source_id = f"{kind}:{record.id}"
                values = values_of(record)
                fingerprint = _digest(values)
                doc = docs.get(source_id)
                existing = by_external.get(str(record.id)) or (by_number.get(record.number) if kind == "account" else None)
                if doc is not None and doc.status == DocumentStatus.SYNCED and doc.source_version == fingerprint \
                        and existing is not None:
                    self.counts.skipped += 1
                    continue
                if existing is not None and existing.get("external_id") and _same(existing, values):
                    results.append((record, source_id, doc, fingerprint, str(existing["id"]), "linked", None))
                    continue
                try:
                    saved = save(record, existing)
                except IncompleteRecord as exc:
                    results.append((record, source_id, doc, fingerprint, "", "", (catalogue.MASTER_DATA_INCOMPLETE, str(exc), "")))
                    continue
                except (PermanentError, NotFound) as exc:
                    results.append((record, source_id, doc, fingerprint, "", "", (
                        catalogue.MASTER_DATA_REJECTED, f"Factorial refused the {kind} {getattr(record, 'number', '') or record.name}.",
                        exc.provider_message or str(exc))))
                    continue
                saved = saved.get("data", saved) if isinstance(saved, dict) else saved
                results.append((record, source_id, doc, fingerprint, str(saved.get("id", "")),
                                "updated" if existing else "created", None))
            self._record(kind, results)
            if self.progress:
                self.progress(self.counts.seen, self.total)
            if self.run is not None:
                SyncRun.objects.filter(pk=self.run.pk).update(
                    heartbeat_at=timezone.now(), seen_count=self.counts.seen, total_count=self.total,
                    synced_count=self.counts.synced, error_count=self.counts.errors,
                    skipped_count=self.counts.skipped, external_calls=len(self.call_log))

    @transaction.atomic
    def _record(self, kind: str, results: list) -> None:
        now = timezone.now()
        batch = BatchRecord(self.flow, self.run, self.counts)
        for record, source_id, doc, fingerprint, target_id, action, problem in results:
            if doc is None:
                doc = SyncDocument.objects.create(
                    tenant_id=self.flow.tenant_id, flow=self.flow, source_id=source_id, kind=kind,
                    reference=f"{self.flow.pk}-{source_id}", source_number=(getattr(record, "number", "") or record.id)[:128],
                    partner_name=(record.name or "")[:200])
            doc.last_run = self.run
            doc.seen_version = fingerprint
            if problem is None:
                doc.target_entry_id, doc.target_state = target_id, "saved"
                doc.source_version, doc.synced_at = fingerprint, now
                batch.synced(doc, action)
            else:
                code, message, provider_message = problem
                batch.failed(doc, DocumentProblem(code, message, provider_message=provider_message))
            doc.save()
        batch.save(now, verb="Pushed")


class IncompleteRecord(Exception):
    pass
