"""Enrollments and what was sent, in the admin (read-only: only the sender writes deliveries).

Marketing's, not a team's, unlike routing's sales history (:class:`routing.admin.TeamsSeenAdmin`):
a sequence is for every lead, whichever team has it, so whoever may view enrollments or
deliveries (Marketing) reads them all."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from nurture import services
from nurture.models import Delivery, Enrollment
from scoring.admin.figures import GroupedFiguresAdmin


class DeliveryInline(admin.TabularInline[Delivery, Enrollment]):
    model = Delivery
    fields = ["step", "status", "attempts", "sent_at", "opens", "clicks", "error_shown", "message_id"]
    readonly_fields = ["step", "status", "attempts", "sent_at", "opens", "clicks", "error_shown", "message_id"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Enrollment | None = None) -> bool:
        return False

    @admin.display(description=_("error"))
    def error_shown(self, obj: Delivery) -> str:
        return obj.error_shown()


@admin.register(Enrollment)
class EnrollmentAdmin(GroupedFiguresAdmin[Enrollment]):
    list_display = ["lead", "sequence", "status", "position", "next_run_at", "exit_reason", "enrolled_at", "ended_at"]
    list_filter = ["status", "sequence", "exit_reason"]
    list_select_related = ["lead", "sequence"]
    search_fields = ["lead__id__lead_search"]
    date_hierarchy = "enrolled_at"
    readonly_fields = [
        "lead",
        "sequence",
        "status",
        "position",
        "next_run_at",
        "exit_reason",
        "enrolled_at",
        "ended_at",
    ]
    inlines = [DeliveryInline]
    actions = ["exit_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # enroll from a sequence ("Enroll leads") or the lead list

    @admin.action(description=_("Exit selected enrollments"))
    def exit_selected(self, request: HttpRequest, queryset: QuerySet[Enrollment]) -> None:
        count = services.enrollments_exit(enrollment_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("{count} enrollment exited.", "{count} enrollments exited.", count).format(count=count),
            messages.SUCCESS,
        )


@admin.register(Delivery)
class DeliveryAdmin(GroupedFiguresAdmin[Delivery]):
    """What was sent; written only by the sender."""

    list_display = ["message_id", "lead", "step", "status", "attempts", "sent_at", "opens", "clicks", "updated_at"]
    list_filter = ["status", "step__sequence"]
    list_select_related = ["enrollment__lead", "step__sequence"]
    search_fields = ["message_id", "enrollment__lead__id__lead_search"]
    # The error in the reader's language, where the page would show the stored English.
    fields = (
        "enrollment",
        "step",
        "message_id",
        "status",
        "attempts",
        "sent_at",
        "opens",
        "clicks",
        "error_shown",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description=_("error"))
    def error_shown(self, obj: Delivery) -> str:
        return obj.error_shown()

    @admin.display(description=_("Lead"))
    def lead(self, obj: Delivery) -> str:
        return str(obj.enrollment.lead)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False
