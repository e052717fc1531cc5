"""The rows every batch set aside, with why; Retry once the cause is fixed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from scoring import setaside
from scoring.admin.figures import GroupedFiguresAdmin
from scoring.models import (
    SetAside,
)


class SetAsideStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", gettext("Set aside")), ("retried", gettext("Retried"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("open", "retried"):
            return queryset.filter(resolved_at__isnull=self.value() == "open")
        return queryset


class SetAsideKindFilter(admin.SimpleListFilter):
    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        labels = ((name, gettext(kind.label)) for name, kind in setaside.kinds().items())
        return sorted(labels, key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(kind=self.value()) if self.value() else queryset


_SET_ASIDE_FIELDS = (
    "kind_label",
    "row",
    "lead_link",
    "error_type",
    "error",
    "traceback_shown",
    "failures",
    "first_failed_at",
    "last_failed_at",
    "status",
    "retried_at",
    "retry_result_shown",
)


@admin.register(SetAside)
class SetAsideAdmin(GroupedFiguresAdmin[SetAside]):
    """Rows a batch could not process, with why; once the cause is fixed, "Retry" puts
    them back into their batch's way. Read-only: only the batches write them."""

    list_display = ["last_failed_at", "kind_label", "row", "lead_link", "error_shown", "failures", "status"]
    list_filter = [SetAsideStatusFilter, SetAsideKindFilter, "error_type"]
    search_fields = ["error", "error_type", "=row_id", "=lead_id"]
    date_hierarchy = "last_failed_at"
    fields = _SET_ASIDE_FIELDS
    readonly_fields = _SET_ASIDE_FIELDS
    actions = ["retry"]

    @admin.display(description=_("Kind"), ordering="kind")
    def kind_label(self, obj: SetAside) -> str:
        kind = setaside.kinds().get(obj.kind)
        return gettext(kind.label) if kind is not None else obj.kind

    @admin.display(description=_("Row"), ordering="row_id")
    def row(self, obj: SetAside) -> str:
        kind = setaside.kinds().get(obj.kind)
        if kind is None or not kind.row_admin:
            return str(obj.row_id)
        try:
            return format_html('<a href="{}">{}</a>', reverse(kind.row_admin, args=[obj.row_id]), obj.row_id)
        except NoReverseMatch:
            return str(obj.row_id)

    @admin.display(description=_("Lead"), ordering="lead_id")
    def lead_link(self, obj: SetAside) -> str:
        if obj.lead_id is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:scoring_lead_change", args=[obj.lead_id]), obj.lead_id)

    @admin.display(description=_("Error"))
    def error_shown(self, obj: SetAside) -> str:
        text = f"{obj.error_type}: {obj.error}"
        return text if len(text) <= 200 else text[:199] + "…"

    @admin.display(description=_("Traceback"))
    def traceback_shown(self, obj: SetAside) -> str:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.traceback or "-")

    @admin.display(description=_("Retry result"))
    def retry_result_shown(self, obj: SetAside) -> str:
        return obj.retry_result_shown()

    @admin.display(description=_("Status"))
    def status(self, obj: SetAside) -> str:
        if obj.resolved_at is None:
            if obj.retried_at is None:
                return pgettext("a set-aside row's status", "set aside")
            return gettext("set aside (last retry: {result})").format(result=obj.retry_result_shown())
        return gettext("retried: {result}").format(result=obj.retry_result_shown())

    @admin.action(description=_("Retry selected rows (once their cause is fixed)"), permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[SetAside]) -> None:
        results = setaside.rows_retry(ids=list(queryset.values_list("pk", flat=True)))
        if not results:
            self.message_user(request, _("Nothing to retry: the selected rows were retried already."), messages.INFO)
            return
        ok = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        if ok:
            self.message_user(
                request,
                ngettext(
                    "{count} row back in its batch: {result}.", "{count} rows back in their batch: {result}.", len(ok)
                ).format(count=len(ok), result=ok[0].shown()),
                messages.SUCCESS,
            )
        if failed:
            self.message_user(
                request,
                ngettext(
                    "{count} row still set aside: {result}", "{count} rows still set aside: {result}", len(failed)
                ).format(count=len(failed), result=failed[0].shown()),
                messages.ERROR,
            )

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("scoring.change_setaside")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SetAside | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SetAside | None = None) -> bool:
        return False
