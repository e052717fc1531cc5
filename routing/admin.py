from __future__ import annotations

from django.contrib import admin

from routing.models import ActionRun, RoutingAction, RoutingRule


class RoutingActionInline(admin.TabularInline[RoutingAction, RoutingRule]):
    model = RoutingAction
    fields = ["position", "kind", "sequence", "stage"]
    extra = 1


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin[RoutingRule]):
    list_display = ["name", "trigger", "group", "active", "position"]
    list_filter = ["active", "trigger"]
    prepopulated_fields = {"key": ["name"]}
    inlines = [RoutingActionInline]


@admin.register(ActionRun)
class ActionRunAdmin(admin.ModelAdmin[ActionRun]):
    list_display = ["done_at", "transition", "action", "outcome"]
    list_select_related = ["transition", "action__rule"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
