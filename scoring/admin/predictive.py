"""Predictive scoring in the admin: the trained versions with their metrics (choose the
active one, or roll back), and the settings (retraining minimum, columns left out)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scoring.admin.figures import GroupedFiguresAdmin
from scoring.models import PredictiveSettings, TrainedModel
from scoring.predictive.model import ALGORITHM_LABELS
from scoring.services import predictive


@admin.register(TrainedModel)
class TrainedModelAdmin(GroupedFiguresAdmin[TrainedModel]):
    list_display = ["number", "status", "algorithm_name", "auc", "brier", "leads", "training_seconds", "created_at"]
    list_filter = ["status"]
    readonly_fields = [
        "number",
        "status",
        "algorithm",
        "metrics",
        "features",
        "excluded_columns",
        "leads",
        "data_from",
        "data_to",
        "training_seconds",
        "created_at",
    ]
    exclude = ["fitted"]
    actions = ["make_active"]

    @admin.display(description=_("algorithm"))
    def algorithm_name(self, obj: TrainedModel) -> str:
        return ALGORITHM_LABELS.get(obj.algorithm, obj.algorithm)

    @admin.display(description=_("AUC (cross-validated)"))
    def auc(self, obj: TrainedModel) -> str:
        value = obj.metrics.get("cv_auc")
        return f"{value:.3f}" if value is not None else "-"

    @admin.display(description=_("Brier score"))
    def brier(self, obj: TrainedModel) -> str:
        value = obj.metrics.get("brier")
        return f"{value:.3f}" if value is not None else "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "GET":
            self.message_user(request, predictive.retrain_status().message, messages.INFO)
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Make the selected version active (choose or roll back)"))
    def make_active(self, request: HttpRequest, queryset: QuerySet[TrainedModel]) -> None:
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(request, _("Select exactly one version to make active."), messages.ERROR)
            return
        version = predictive.model_activate(model_id=chosen[0].pk)
        self.message_user(
            request,
            gettext("Version {number} is now active; every lead's probability was refreshed.").format(
                number=version.number
            ),
        )


@admin.register(PredictiveSettings)
class PredictiveSettingsAdmin(admin.ModelAdmin[PredictiveSettings]):
    fields = ["min_new_outcomes", "excluded_columns", "hysteresis_points"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not PredictiveSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: PredictiveSettings | None = None) -> bool:
        return False
