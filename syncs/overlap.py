"""One accounting company, one booking per invoice: flows that would book the same invoices twice.

Exactly-once holds per flow (each flow has its own references), so two enabled invoices flows that read the
same invoicing tool and write to the same accounting company book every invoice they share twice. Such a
second flow is refused, unless the two split the invoices between them (sales in one, purchases in the other).

Only the flow's own tenant is searched: see docs/decisions.md ("One accounting company, one booking per
invoice") for why two tenants reaching the same accounting database are not compared.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from integration_hub import crypto
from mappings.models import Flow, FlowKind, Scope
from mappings.services import FlowNotReady, Problem
from tenants.models import Connection, Tenant

# The credentials that name the place a provider's connection reaches (its server and database, its store).
# Two users of the same place reach the same books; the organisation id the check records (e.g. Tryton's
# "database/company") then tells companies of one database apart. A provider not listed here (Factorial: an
# API key or OAuth, one fixed address) is identified by that organisation id alone.
PLACE_FIELDS = {"tryton": ("url", "database"), "memory": ("store",)}
KIND_WORDS = {"sale": "sales", "purchase": "purchase"}
_UNSET = object()


class FlowOverlaps(FlowNotReady):
    """Activating (or changing) the flow would book invoices that another enabled flow already books."""

    def __init__(self, flow: Flow, others: list[Flow]):
        self.flow, self.flows = flow, others
        super().__init__([Problem("configuration", refusal_text(flow, other)) for other in others])


def _normalise(name: str, value) -> str:
    text = str(value or "").strip()
    if name != "url":
        return text
    parts = urlsplit(text.rstrip("/"))
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))


def _place(connection: Connection) -> tuple[str, ...] | None:
    """The normalised place fields of the connection, or None when the provider has none or they cannot be read."""
    fields = PLACE_FIELDS.get(connection.provider)
    if not fields:
        return None
    try:
        values = connection.get_credentials()
    except crypto.UndecryptableSecret:
        return None
    return tuple(_normalise(name, values.get(name)) for name in fields)


def same_system(a: Connection | None, b: Connection | None) -> bool:
    """Whether two connections reach the same books: the same connection, or the same provider, place and
    (when both are known) organisation."""
    if a is None or b is None:
        return False
    if a.pk is not None and a.pk == b.pk:
        return True
    if a.provider != b.provider:
        return False
    place_a, place_b = _place(a), _place(b)
    if place_a is not None and place_b is not None:
        if place_a != place_b:
            return False
        # Same server and database: the same books, unless both checks named different companies in it.
        return not (a.external_org_id and b.external_org_id and a.external_org_id != b.external_org_id)
    return bool(a.external_org_id) and a.external_org_id == b.external_org_id


def _kinds(scope: str) -> set[str]:
    return {"all": {"sale", "purchase"}, "sales": {"sale"}, "purchases": {"purchase"}}[Scope(scope)]


def overlapping_flows(flow: Flow, *, source=_UNSET, target=_UNSET, scope=_UNSET, kind=_UNSET) -> list[Flow]:
    """The other enabled invoices flows of the flow's tenant that read the same invoicing tool, write to the same
    accounting company and share at least one kind of invoice with it. The keyword arguments check a change
    before it is saved (a connection, possibly unsaved, or a scope in place of the flow's own)."""
    source = flow.source if source is _UNSET else source
    target = flow.target if target is _UNSET else target
    scope = flow.scope if scope is _UNSET else scope
    kind = flow.kind if kind is _UNSET else kind
    if kind != FlowKind.INVOICES or source is None or target is None or not scope:
        return []
    others = (Flow.objects.filter(tenant_id=flow.tenant_id, enabled=True, kind=FlowKind.INVOICES,
                                  source__isnull=False, target__isnull=False)
              .exclude(pk=flow.pk).select_related("source", "target", "tenant").order_by("name"))
    mine = _kinds(scope)
    return [other for other in others
            if mine & _kinds(other.scope) and same_system(source, other.source) and same_system(target, other.target)]


def shared_kinds(flow: Flow, other: Flow, scope: str | None = None) -> list[str]:
    return sorted(_kinds(scope or flow.scope) & _kinds(other.scope), reverse=True)  # "sale" before "purchase"


def refusal_text(flow: Flow, other: Flow, scope: str | None = None) -> str:
    words = " and ".join(KIND_WORDS[k] for k in shared_kinds(flow, other, scope))
    return (f"The active flow “{other.name}” already books the {words} invoices of this invoicing tool into the "
            f"same accounting company: this flow would book each of them a second time. Deactivate “{other.name}”, "
            "or split the invoices between the two flows (sales invoices only in one, purchase invoices only in "
            "the other).")


def refusal_html(flow: Flow, others: list[Flow], scope: str | None = None) -> SafeString:
    """The refusal for people: each other flow's text with a link to its page."""
    return format_html_join(" ", "{} <a href=\"{}\">Open “{}”</a>", (
        (refusal_text(flow, other, scope), reverse("flow_detail", args=[other.tenant.slug, other.pk]), other.name)
        for other in others))


def messages_for(error: FlowNotReady) -> list:
    """What to tell a person about a refused activation: the overlap with links, any other problem as text."""
    if isinstance(error, FlowOverlaps):
        return [refusal_html(error.flow, [other]) for other in error.flows]
    return [problem.message for problem in error.problems]


def check_no_overlap(flow: Flow) -> None:
    """Raise FlowOverlaps when the flow overlaps an enabled one. Inside a transaction, the tenant's row is locked
    first so that two activations of the same tenant are decided one after the other (PostgreSQL)."""
    if transaction.get_connection().in_atomic_block:
        Tenant.objects.select_for_update().filter(pk=flow.tenant_id).first()
    others = overlapping_flows(flow)
    if others:
        raise FlowOverlaps(flow, others)


def proposed_connection(current: Connection | None, *, tenant, provider: str, role: str, auth_kind: str,
                        credentials: dict) -> Connection:
    """An unsaved connection as a form would leave it, to check a change before saving it. Typed values win over
    the stored ones (a secret left blank keeps the stored one); the organisation is unknown until checked, unless
    the connection keeps its place."""
    stored = {}
    if current is not None and current.provider == provider:
        try:
            stored = current.get_credentials()
        except crypto.UndecryptableSecret:
            stored = {}
    merged = {**stored, **{k: v for k, v in credentials.items() if v not in (None, "")}}
    probe = Connection(pk=current.pk if current is not None and current.provider == provider else None,
                       tenant=tenant, provider=provider, role=role, auth_kind=auth_kind)
    probe.set_credentials(merged)
    if current is not None and current.provider == provider and _place(current) == _place(probe):
        probe.external_org_id = current.external_org_id
    return probe


def refused_connection_change(flow: Flow, role: str, form, *, current: Connection | None, **proposal) -> bool:
    """For the wizard's connection steps: True (with the refusal as a form error) when the enabled flow would
    overlap another once this connection form is saved (`current`: the connection it edits, None for a new one)."""
    if not flow.enabled:
        return False
    probe = proposed_connection(current, credentials=form.credentials(), role=role, **proposal)
    others = overlapping_flows(flow, **{role: probe})
    if others:
        form.add_error(None, refusal_html(flow, others))
    return bool(others)


def refused_existing_connection(flow: Flow, role: str, connection: Connection) -> SafeString | None:
    """For choosing an existing connection on an enabled flow: the refusal, or None when it may be used."""
    if not flow.enabled:
        return None
    others = overlapping_flows(flow, **{role: connection})
    return refusal_html(flow, others) if others else None


def refused_scope_change(flow: Flow, scope: str) -> SafeString | None:
    """For changing an enabled flow's scope: the refusal, or None when the new scope overlaps no enabled flow."""
    if not flow.enabled:
        return None
    others = overlapping_flows(flow, scope=scope)
    return refusal_html(flow, others, scope) if others else None
