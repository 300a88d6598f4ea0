"""Mappings in and out (CSV, XLSX) with django-import-export.

Every imported row is checked against the live lists of the flow's accounting tool before
anything is written: the preview names each invalid row and the reason (an unknown VAT code, a
closed account...). Flows are looked up among the importing user's tenants only.
"""
from __future__ import annotations

from decimal import Decimal

from import_export import fields, resources, widgets

from integration_hub.admin_io import InertDiff
from integration_hub.connectors.errors import ConnectorError
from mappings.models import NO_VAT, NO_VAT_LABEL, DimensionMapping, Flow, JournalMapping, VatMapping
from tenants.policy import tenants_where
from tenants.services import ConnectionUnusable, connection_list

ACCOUNT_FIELDS = ["default_sales_account", "default_purchase_account", "customer_collective_account",
                  "supplier_collective_account", "credit_rounding_account", "debit_rounding_account",
                  "sales_discount_account", "purchase_discount_account"]


class TargetLists:
    """The accounting tool's lists for the flows of one import, fetched once per flow."""

    def __init__(self):
        self._lists: dict[tuple[int, str], object] = {}
        self._flows: dict[int, Flow] = {}

    def get(self, flow: Flow, name: str):
        key = (flow.pk, name)
        if key not in self._lists:
            self._lists[key] = self._fetch(flow, name)
            self._flows[flow.pk] = flow
        return self._lists[key]

    def problems(self) -> list[str]:
        """One message per list that could not be fetched (the tool did not answer, the flow has none)."""
        messages = []
        for (flow_pk, name), found in self._lists.items():
            if isinstance(found, Exception):
                flow = self._flows[flow_pk]
                message = (f"The accounting tool of flow “{flow.name}” ({flow.target or 'none connected'}) could not "
                           f"be asked for its {name.replace('_', ' ')}: {found}.")
                if message not in messages:
                    messages.append(message)
        return messages

    @staticmethod
    def _fetch(flow: Flow, name: str):
        if flow.target is None:
            return ConnectorError("the flow has no accounting tool connected")
        try:
            items = connection_list(connection=flow.target, name=name)
        except ConnectionUnusable as exc:
            return ConnectorError(str(exc))
        except ConnectorError as exc:
            return exc
        key = "number" if name == "accounts" else "id"
        return {(item[0] if isinstance(item, tuple) else getattr(item, key)): item for item in items}


def _flows_where(user, permission: str, flows=None):
    """Flows of the tenants where the user holds ``permission`` (None: no user, e.g. a command)."""
    flows = Flow.objects.all() if flows is None else flows
    return flows if user is None else flows.filter(tenant__in=tenants_where(user, permission).values("pk"))


class ScopedFlowWidget(widgets.ForeignKeyWidget):
    """A flow id, accepted only among the flows of tenants where the importing user may import."""

    def __init__(self, user=None, permission: str = ""):
        super().__init__(Flow, field="pk")
        self.user, self.permission = user, permission

    def get_queryset(self, value, row, *args, **kwargs):
        return _flows_where(self.user, self.permission, Flow.objects.select_related("target", "tenant"))

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row, **kwargs)
        except (Flow.DoesNotExist, ValueError):
            raise ValueError(f"No such flow: {value}") from None


class CheckedResource(resources.ModelResource):
    """A resource whose rows are checked against the accounting tool's live lists (``self.lists``)."""

    lists: TargetLists

    @classmethod
    def get_diff_class(cls):
        return InertDiff  # the preview's diff without inline styles (Content-Security-Policy)

    def import_problems(self) -> list[str]:
        """What kept rows from being checked at all; a preview computed in the worker ends with these."""
        return self.lists.problems()


class ScopedResource(CheckedResource):
    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        self.lists = TargetLists()
        opts = self._meta.model._meta
        self.fields["flow"].widget = ScopedFlowWidget(user, f"{opts.app_label}.import_{opts.model_name}")

    def filter_export(self, queryset, **kwargs):
        opts = self._meta.model._meta
        if self.user is not None:
            queryset = queryset.filter(
                flow__tenant__in=tenants_where(self.user, f"{opts.app_label}.view_{opts.model_name}").values("pk"))
        return queryset

    def _live(self, flow: Flow, name: str, errors: dict, field: str):
        found = self.lists.get(flow, name)
        if isinstance(found, Exception):
            errors.setdefault(field, []).append(f"Cannot check against {flow.target or 'the accounting tool'}: {found}")
            return None
        return found


class VatMappingResource(ScopedResource):
    flow = fields.Field(attribute="flow", column_name="flow")

    class Meta:
        model = VatMapping
        fields = ("flow", "kind", "source_tax_id", "source_rate", "source_label", "target_vat_code_id",
                  "target_vat_code_label")
        import_id_fields = ("flow", "kind", "source_tax_id")
        skip_unchanged = True
        report_skipped = True

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if str(instance.target_vat_code_id) == NO_VAT:
            if instance.source_rate is None or Decimal(instance.source_rate) != 0:
                errors.setdefault("target_vat_code_id", []).append(
                    f"“{NO_VAT}” (no VAT) fits a 0 % rate only, not {instance.source_rate} %.")
            elif not instance.target_vat_code_label:
                instance.target_vat_code_label = NO_VAT_LABEL
        elif getattr(instance, "flow_id", None):
            codes = self._live(instance.flow, "vat_codes", errors, "target_vat_code_id")
            if codes is not None:
                code = codes.get(str(instance.target_vat_code_id))
                if code is None:
                    errors.setdefault("target_vat_code_id", []).append(
                        f"Unknown VAT code “{instance.target_vat_code_id}” in {instance.flow.target}.")
                elif code.kind not in (instance.kind, "both"):
                    errors.setdefault("target_vat_code_id", []).append(
                        f"VAT code {code.code} is a {code.kind} code, not a {instance.kind} one.")
                elif not instance.target_vat_code_label:
                    instance.target_vat_code_label = code.code
        super().validate_instance(instance, errors, validate_unique)


class JournalMappingResource(ScopedResource):
    flow = fields.Field(attribute="flow", column_name="flow")

    class Meta:
        model = JournalMapping
        fields = ("flow", "source_journal", "target_journal_id", "target_journal_label")
        import_id_fields = ("flow", "source_journal")
        skip_unchanged = True
        report_skipped = True

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if getattr(instance, "flow_id", None):
            journals = self._live(instance.flow, "journals", errors, "target_journal_id")
            if journals is not None and str(instance.target_journal_id) not in journals:
                errors.setdefault("target_journal_id", []).append(
                    f"Unknown journal “{instance.target_journal_id}” in {instance.flow.target}.")
        super().validate_instance(instance, errors, validate_unique)


class DimensionMappingResource(ScopedResource):
    """Cost centres, projects and analytic accounts of the invoicing tool -> analytic accounts in accounting."""

    flow = fields.Field(attribute="flow", column_name="flow")

    class Meta:
        model = DimensionMapping
        fields = ("flow", "dimension", "source_value_id", "source_label", "target_dimension_id",
                  "target_dimension_label")
        import_id_fields = ("flow", "dimension", "source_value_id")
        skip_unchanged = True
        report_skipped = True

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if getattr(instance, "flow_id", None):
            accounts = self._live(instance.flow, "dimensions", errors, "target_dimension_id")
            if accounts is not None:
                found = accounts.get(str(instance.target_dimension_id))
                if found is None:
                    errors.setdefault("target_dimension_id", []).append(
                        f"Unknown analytic account “{instance.target_dimension_id}” in {instance.flow.target}.")
                elif not instance.target_dimension_label:
                    instance.target_dimension_label = found[1][:200]
        super().validate_instance(instance, errors, validate_unique)


class FlowAccountsResource(CheckedResource):
    """The account mappings of flows (one row per flow); rows only update existing flows."""

    class Meta:
        model = Flow
        fields = ("id", "name", *ACCOUNT_FIELDS, "sales_journal_id", "purchase_journal_id",
                  "sales_rounding_vat_code_id", "purchase_rounding_vat_code_id")
        import_id_fields = ("id",)
        skip_unchanged = True
        report_skipped = True

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        self.lists = TargetLists()

    def get_queryset(self):
        return _flows_where(self.user, "mappings.import_flow", Flow.objects.select_related("target", "tenant"))

    def filter_export(self, queryset, **kwargs):
        return _flows_where(self.user, "mappings.view_flow", queryset)

    def get_or_init_instance(self, instance_loader, row):
        instance = self.get_instance(instance_loader, row)
        if instance is None:
            raise ValueError(f"No such flow: {row.get('id')} (account mappings only update existing flows)")
        return instance, False

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        found = self.lists.get(instance, "accounts")
        if isinstance(found, Exception):
            errors.setdefault("default_sales_account", []).append(f"Cannot check against {instance.target}: {found}")
        else:
            for name in ACCOUNT_FIELDS:
                number = getattr(instance, name)
                if not number:
                    continue
                account = found.get(number)
                if account is None:
                    errors.setdefault(name, []).append(f"Account {number} does not exist in {instance.target}.")
                elif not account.usable:
                    errors.setdefault(name, []).append(f"Account {number} is closed or cannot receive entries.")
        super().validate_instance(instance, errors, validate_unique)


__all__ = ["VatMappingResource", "JournalMappingResource", "DimensionMappingResource", "FlowAccountsResource"]
