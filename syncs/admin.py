"""The accountants' error desk and the support run history."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from import_export.admin import ExportMixin

from integration_hub.admin_io import UserScopedImportExport

from mappings.models import Flow
from syncs import cancellations, catalogue, selectors, services
from syncs.models import DocumentOutcome, ErrorStatus, SyncDocument, SyncError, SyncPayment, SyncRun
from syncs.resources import SyncErrorResource
from tenants import policy
from tenants.admin_scoping import TenantScopedAdminMixin


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScopedFlowFilter(admin.SimpleListFilter):
    """Flows of the tenants the user may see (never another tenant's flow names)."""

    title = "flow"
    parameter_name = "flow"

    def lookups(self, request, model_admin):
        flows = Flow.objects.filter(tenant__in=policy.tenants_where(request.user, "mappings.view_flow").values("pk"))
        return [(f.pk, f.name) for f in flows.order_by("name")[:200]]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(flow_id=self.value())
        return queryset


class KindFilter(admin.SimpleListFilter):
    title = "invoice kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("sale", "Sales"), ("purchase", "Purchases")]

    def queryset(self, request, queryset):
        if self.value():
            field = "kind" if queryset.model is SyncDocument else "document__kind"
            return queryset.filter(**{field: self.value()})
        return queryset


class CodeFilter(admin.SimpleListFilter):
    title = "error"
    parameter_name = "code"

    def lookups(self, request, model_admin):
        return [(code, entry.title) for code, entry in catalogue.CATALOGUE.items()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(code=self.value())
        return queryset


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True,
                           help_text="Why: kept with the error, with your name and the time.")


def retry_queued_message(modeladmin, request, runs) -> None:
    for run, created in runs:
        if run is None:
            continue
        url = reverse("admin:syncs_syncrun_change", args=[run.pk])
        verb = "queued" if created else "already active, it retries every open error"
        modeladmin.message_user(request, format_html('Run <a href="{}">#{}</a> {}: its outcome shows there when done.',
                                                     url, run.pk, verb), messages.SUCCESS)


@admin.register(SyncError)
class SyncErrorAdmin(UserScopedImportExport, ExportMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    resource_classes = [SyncErrorResource]
    list_display = ["title", "document_link", "partner", "kind", "flow", "status", "occurrences", "last_seen_at"]
    list_filter = ["status", CodeFilter, ScopedFlowFilter, KindFilter, "last_seen_at", "created_at"]
    search_fields = ["document__source_number", "document__partner_name", "message"]
    list_select_related = ["document", "flow"]
    list_per_page = 50
    show_full_result_count = False
    date_hierarchy = None
    actions = ["retry_now", "mark_resolved", "mark_ignored", "confirm_not_duplicate", "book_reversal"]
    fields = ["code", "title", "description", "resolution", "message", "provider_message", "document_link",
              "entry_in_target", "open_in_tools", "flow", "status", "occurrences", "created_at", "last_seen_at",
              "resolved_by", "resolved_at", "resolution_note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Errors are changed through the actions only; the change page is for reading.
        return False

    def has_retry_permission(self, request):
        return policy.may(request.user, "syncs.retry_syncerror")

    def has_resolve_permission(self, request):
        return policy.may(request.user, "syncs.resolve_syncerror")

    @admin.display(description="Error", ordering="code")
    def title(self, obj):
        return catalogue.get(obj.code).title

    @admin.display(description="What it means")
    def description(self, obj):
        return catalogue.get(obj.code).description

    @admin.display(description="How to fix it")
    def resolution(self, obj):
        return catalogue.get(obj.code).resolution

    @admin.display(description="Invoice", ordering="document__source_number")
    def document_link(self, obj):
        url = reverse("admin:syncs_syncdocument_change", args=[obj.document_id])
        return format_html('<a href="{}">{}</a>', url, obj.document.source_number or obj.document.source_id)

    @admin.display(description="Third party")
    def partner(self, obj):
        return obj.document.partner_name

    @admin.display(description="Kind")
    def kind(self, obj):
        return obj.document.kind

    @admin.display(description="Entry in accounting")
    def entry_in_target(self, obj):
        doc = obj.document
        return doc.target_number or doc.target_entry_id or "none yet"

    @admin.display(description="Open in the tools")
    def open_in_tools(self, obj):
        links = selectors.document_links(obj.document)
        parts = [("the invoice in the invoicing tool", links.get("source")),
                 ("the entry in the accounting tool", links.get("target"))]
        shown = [(label, url) for label, url in parts if url]
        if not shown:
            return "—"
        return format_html_join(" · ", '<a href="{1}" target="_blank" rel="noopener">{0}</a>', shown)

    @staticmethod
    def _allowed(request, queryset, permission: str):
        return queryset.filter(tenant__in=policy.tenants_where(request.user, permission).values("pk"))

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        queryset = self._allowed(request, queryset, "syncs.retry_syncerror").filter(status=ErrorStatus.OPEN).select_related("document__flow")
        by_flow: dict[int, list[SyncDocument]] = {}
        for error in queryset:
            by_flow.setdefault(error.flow_id, []).append(error.document)
        if not by_flow:
            self.message_user(request, "None of the selected errors is open or yours to retry.", messages.WARNING)
            return None
        results = [services.retry_documents(documents=docs, user=request.user) for docs in by_flow.values()]
        retry_queued_message(self, request, results)
        return None

    def _with_note(self, request, queryset, status: str, verb: str):
        queryset = self._allowed(request, queryset, "syncs.resolve_syncerror").filter(status=ErrorStatus.OPEN)
        if "apply" in request.POST:
            form = NoteForm(request.POST)
            if form.is_valid():
                count = services.error_set_status(errors=queryset, status=status, user=request.user,
                                                  note=form.cleaned_data["note"])
                self.message_user(request, f"{count} error(s) marked {verb}.", messages.SUCCESS)
                return None
        else:
            form = NoteForm()
        context = {**self.admin_site.each_context(request), "title": f"Mark errors {verb}", "errors": queryset,
                   "form": form, "action": request.POST.get("action"), "verb": verb, "opts": self.model._meta,
                   "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)}
        return TemplateResponse(request, "admin/syncs/error_note.html", context)

    @admin.action(description="Not a duplicate: book it", permissions=["resolve"])
    def confirm_not_duplicate(self, request, queryset):
        queryset = self._allowed(request, queryset, "syncs.resolve_syncerror")
        results = services.confirm_not_duplicates(errors=queryset, user=request.user)
        if not results:
            self.message_user(request, "None of the selected errors is an open “same number twice” error of yours.",
                              messages.WARNING)
            return None
        retry_queued_message(self, request, results)
        return None

    @admin.action(description="Book the reversal (invoice cancelled after its entry was posted)",
                  permissions=["resolve"])
    def book_reversal(self, request, queryset):
        queryset = self._allowed(request, queryset, "syncs.resolve_syncerror")
        outcomes = cancellations.book_reversals(errors=queryset, user=request.user)
        if not outcomes:
            self.message_user(request, "None of the selected errors is an open “cancelled after its entry was "
                                       "posted” error of yours.", messages.WARNING)
        for outcome in outcomes:
            self.message_user(request, outcome.message, messages.SUCCESS if outcome.ok else messages.ERROR)
        return None

    @admin.action(description="Mark resolved (with a note)", permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        return self._with_note(request, queryset, ErrorStatus.RESOLVED, "resolved")

    @admin.action(description="Ignore (with a note): the invoice will not be retried", permissions=["resolve"])
    def mark_ignored(self, request, queryset):
        return self._with_note(request, queryset, ErrorStatus.IGNORED, "ignored")


class OutcomeInline(admin.TabularInline):
    model = DocumentOutcome
    fields = ["at", "run_link", "status", "action", "steps_done", "error_code", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-at", "-id"]
    max_num = 0

    @admin.display(description="Steps")
    def steps_done(self, obj):
        return " → ".join(obj.steps or [])

    @admin.display(description="Run")
    def run_link(self, obj):
        return format_html('<a href="{}">#{} ({})</a>', reverse("admin:syncs_syncrun_change", args=[obj.run_id]),
                           obj.run_id, obj.run.get_trigger_display())

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("run")

    def has_view_permission(self, request, obj=None):
        return policy.may(request.user, "syncs.view_syncdocument", obj)


class PaymentInline(admin.TabularInline):
    """The document's payments and the payment entries they became (read-only)."""

    model = SyncPayment
    fields = ["date", "amount", "currency", "company_amount", "status", "target_entry_id", "reference", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    verbose_name = "payment"

    def has_view_permission(self, request, obj=None):
        return policy.may(request.user, "syncs.view_syncdocument", obj)


@admin.register(SyncDocument)
class SyncDocumentAdmin(ReadOnlyAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["source_number", "partner_name", "kind", "issue_date", "total_amount", "status", "target_number",
                    "target_status", "flow", "updated_at"]
    list_filter = ["status", KindFilter, ScopedFlowFilter, "is_credit_note", "target_status"]
    search_fields = ["source_number", "partner_name", "reference", "target_number"]
    list_select_related = ["flow"]
    show_full_result_count = False
    inlines = [OutcomeInline, PaymentInline]
    actions = ["retry_now"]
    exclude = ["last_run"]

    def has_retry_permission(self, request):
        return policy.may(request.user, "syncs.retry_syncdocument")

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        queryset = queryset.filter(
            tenant__in=policy.tenants_where(request.user, "syncs.retry_syncdocument").values("pk"))
        by_flow: dict[int, list[SyncDocument]] = {}
        for document in queryset.select_related("flow"):
            by_flow.setdefault(document.flow_id, []).append(document)
        retry_queued_message(self, request, [services.retry_documents(documents=docs, user=request.user)
                                             for docs in by_flow.values()])


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "flow", "tenant", "trigger", "status", "started_at", "duration_display", "seen_count",
                    "synced_count", "error_count", "waiting_count", "external_calls"]
    list_filter = ["status", "trigger", ScopedFlowFilter, "created_at"]
    search_fields = ["=id", "flow__name", "message"]
    list_select_related = ["flow", "tenant"]
    show_full_result_count = False
    exclude = ["call_log", "document_ids"]
    readonly_fields = ["live_progress", "calls_table"]

    def get_urls(self):
        from django.urls import path

        return [path("<path:object_id>/progress/", self.admin_site.admin_view(self.progress_view),
                     name="syncs_syncrun_progress"), *super().get_urls()]

    def progress_view(self, request, object_id):
        from django.http import Http404, JsonResponse

        run = self.get_object(request, object_id)
        if run is None or not self.has_view_permission(request, run):
            raise Http404("No such run.")
        return JsonResponse(selectors.run_progress(run))

    @admin.display(description="Progress")
    def live_progress(self, obj):
        url = reverse("admin:syncs_syncrun_progress", args=[obj.pk])
        active = "1" if obj.status in ("queued", "running") else "0"
        return format_html(
            '<span id="run-live" data-url="{}" data-active="{}"><b id="run-live-status">{}</b> — '
            '<span id="run-live-counts">{} / {} looked at · {} synced · {} error(s) · {} waiting</span></span>',
            url, active, obj.get_status_display(), obj.seen_count, obj.total_count or "?", obj.synced_count,
            obj.error_count, obj.waiting_count)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            qs = qs.defer("call_log")
        return qs

    @admin.display(description="Duration")
    def duration_display(self, obj):
        return obj.duration or ("running" if obj.status == "running" else "—")

    @admin.display(description="External calls (method, path, status, ms)")
    def calls_table(self, obj):
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((c.get("at", ""), c.get("method"), c.get("path"), c.get("operation", ""), c.get("status") or "—",
              c.get("duration_ms"), c.get("error", "")) for c in obj.call_log or []))
        dropped = obj.external_calls - len(obj.call_log or [])
        note = format_html("<p>{} more call(s) not kept.</p>", dropped) if dropped > 0 else ""
        return format_html('<table><thead><tr><th>At</th><th>Method</th><th>Path</th><th>Operation</th><th>Status</th>'
                           '<th>ms</th><th>Error</th></tr></thead><tbody>{}</tbody></table>{}', rows, note)
