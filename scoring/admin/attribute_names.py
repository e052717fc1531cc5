"""The names of the leads' custom attributes Leadflow knows, in the admin: where each came
from, and how many of the names keys used in web pages may bring are taken, so a marketer
whose page sends a name that is left out sees why, and frees a place by deleting a name a
page brought (scoring.services.attribute_names)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from scoring.models import AttributeName


@admin.register(AttributeName)
class AttributeNameAdmin(admin.ModelAdmin[AttributeName]):
    """Recorded by those who write the names, never typed in: read, or deleted."""

    list_display = ["name", "origin", "recorded_at"]
    list_filter = ["origin"]
    search_fields = ["name"]
    ordering = ["name"]
    fields = ["name", "origin", "recorded_at"]
    readonly_fields = ["name", "origin", "recorded_at"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        page_names = {
            "taken": AttributeName.objects.filter(origin=AttributeName.Origin.PAGE).count(),
            "limit": settings.LEADFLOW_PAGE_KEY_NEW_ATTRIBUTES,
        }
        return super().changelist_view(request, {"page_names": page_names, **(extra_context or {})})

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        response = super().response_delete(request, obj_display, obj_id)
        # Back to the list, where the place freed shows, rather than to the admin's home
        # (where Django sends those who may not change the rows).
        if isinstance(response, HttpResponseRedirect) and self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:scoring_attributename_changelist"))
        return response

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AttributeName | None = None) -> bool:
        return False
