"""Groups over time, decay and rescoring in the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from scoring import localized, sentences, services
from scoring.admin.figures import GroupedFiguresAdmin
from scoring.admin.rules import LIVE_MODEL_NOTE
from scoring.admin.scorecard_column import ScorecardFilter, scorecard_choices, scorecard_column
from scoring.decay import check_policy as decay_checks
from scoring.models import (
    DecayPolicy,
    DecayRun,
    GroupTransition,
    RescoreJob,
    Scorecard,
)


@admin.register(GroupTransition)
class GroupTransitionAdmin(GroupedFiguresAdmin[GroupTransition]):
    """Every change of score group: what routing acts on."""

    list_display = [
        "occurred_at",
        "lead",
        "from_group",
        "to_group",
        "direction",
        "total_score",
        "cause",
        "processed_at",
    ]
    list_filter = ["direction", "cause", "to_group"]
    list_select_related = ["lead", "from_group", "to_group"]
    search_fields = ["lead__id__lead_search"]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: GroupTransition | None = None) -> bool:
        return False


# The policy's own fields (a draft's page adds the scorecard it belongs to).
POLICY_FIELDS = ("kind", "points_per_day", "after_days", "half_life_days", "window_days", "floor")


class DecayPolicyForm(forms.ModelForm[DecayPolicy]):
    class Meta:
        model = DecayPolicy
        fields = list(POLICY_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if all(cleaned.get(name) is not None for name in POLICY_FIELDS):
            policy = DecayPolicy(**{name: cleaned[name] for name in POLICY_FIELDS}).as_pure()
            for name, message in decay_checks(policy, words=sentences.WORDS).items():
                self.add_error(name, message)
        return cleaned


class LiveDecayPolicyForm(DecayPolicyForm):
    """A live policy: a new one chooses its scorecard among those without one (each has one)."""

    class Meta(DecayPolicyForm.Meta):
        fields = ["scorecard", *POLICY_FIELDS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scorecard_choices(self, None)

    def clean_scorecard(self) -> Scorecard | None:
        card: Scorecard | None = self.cleaned_data.get("scorecard")
        if DecayPolicy.every_scorecard.filter(scorecard=card).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("This scorecard has a decay policy already: change that one."))
        return card


@admin.register(DecayPolicy)
class DecayPolicyAdmin(GroupedFiguresAdmin[DecayPolicy]):
    """Every scorecard's live decay policy, one each (a draft's are on the draft's page)."""

    form = LiveDecayPolicyForm
    list_display = [
        "__str__",
        scorecard_column,
        "points_per_day",
        "after_days",
        "half_life_days",
        "window_days",
        "floor",
    ]
    list_filter = [ScorecardFilter, "kind"]
    list_select_related = ["scorecard"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DecayPolicy]:
        # The default scorecard's first, then each scorecard's by key.
        return DecayPolicy.every_scorecard.select_related("scorecard").order_by(
            F("scorecard__key").asc(nulls_first=True)
        )

    def get_readonly_fields(self, request: HttpRequest, obj: DecayPolicy | None = None) -> Any:
        # A live policy stays with its scorecard: its decay rows are that scorecard's.
        return [*super().get_readonly_fields(request, obj), *(["scorecard"] if obj is not None else [])]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {"subtitle": LIVE_MODEL_NOTE, **(extra_context or {})})

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One policy per scorecard: a new one only while the default or a live scorecard has none.
        covered = DecayPolicy.every_scorecard.filter(scorecard__isnull=False).values("scorecard")
        missing = not DecayPolicy.objects.exists() or Scorecard.objects.exclude(pk__in=covered).exists()
        return missing and super().has_add_permission(request)


@admin.register(DecayRun)
class DecayRunAdmin(GroupedFiguresAdmin[DecayRun]):
    list_display = ["day", "started_at", "finished_at", "leads", "points"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DecayRun | None = None) -> bool:
        return False


@admin.register(RescoreJob)
class RescoreJobAdmin(GroupedFiguresAdmin[RescoreJob]):
    """Rescoring after a rule change: start one here ("Add"), watch its progress. Saving
    or deleting a score group starts a regroup job, listed here too."""

    list_display = ["__str__", "kind", "group", "progress", "status", "entries", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["group"]
    fields = ["group"]
    readonly_fields = ["kind", "progress", "status", "total", "done", "entries", "error", "started_at", "finished_at"]

    def get_fields(self, request: HttpRequest, obj: RescoreJob | None = None) -> Any:
        return ["group"] if obj is None else ["group", *self.readonly_fields]

    @admin.display(description=_("Progress"))
    def progress(self, obj: RescoreJob) -> SafeString:
        return format_html(
            '<progress max="100" value="{}"></progress> {}',
            obj.percent,
            gettext("{percent} ({done} of {total})").format(
                percent=localized.percent(obj.percent, 0),
                done=localized.number(obj.done),
                total=localized.number(obj.total),
            ),
        )

    def save_model(
        self, request: HttpRequest, obj: RescoreJob, form: forms.ModelForm[RescoreJob], change: bool
    ) -> None:
        if change:
            return  # a job is not edited
        user = request.user if request.user.is_authenticated else None
        job = services.rescore_job_start(group=obj.group, user=user)
        obj.pk = job.pk
        self.message_user(
            request,
            ngettext(
                "Rescore job {job} queued for {count} lead.", "Rescore job {job} queued for {count} leads.", job.total
            ).format(job=job.pk, count=job.total),
        )

    def has_delete_permission(self, request: HttpRequest, obj: RescoreJob | None = None) -> bool:
        return False
