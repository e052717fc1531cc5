"""The scoring model in the admin: its name, rules with their conditions, score groups."""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from scoring import localized, selectors, sentences, services
from scoring import rules as pure
from scoring.admin.figures import GroupedFiguresAdmin, SavedHoldingALock
from scoring.admin.scorecard_column import ScorecardFilter, scorecard_choices, scorecard_column
from scoring.models import (
    AccountRuleCondition,
    AttributeName,
    LeadScore,
    ModelInfo,
    RescoreJob,
    RuleCondition,
    ScoreGroup,
    ScoringRule,
)

_Condition = TypeVar("_Condition", bound=RuleCondition | AccountRuleCondition)

# Over the live model's lists: where to change it without touching the live model at once.
LIVE_MODEL_NOTE = _(
    "The live model: a change here applies at once. To prepare changes and see what they "
    "would move before they apply, start a draft under Model versions."
)


class ConditionValueForm(forms.ModelForm[_Condition]):
    """A condition (a lead rule's or an account rule's) with its value typed as a person
    would: "Toys, Retail", "10-50"."""

    value_text = forms.CharField(
        label=_("Value"),
        required=False,
        help_text=_("Lists: comma-separated. Ranges: 10-50. Patterns: * matches anything."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.operator:
            self.fields["value_text"].initial = pure.format_value_text(
                pure.Operator(self.instance.operator), self.instance.value
            )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        operator = cleaned.get("operator")
        if operator:
            try:
                cleaned["value"] = pure.parse_value_text(
                    pure.Operator(operator), cleaned.get("value_text") or "", words=sentences.WORDS
                )
            except ValueError as exc:
                self.add_error("value_text", str(exc))
        return cleaned

    def save(self, commit: bool = True) -> _Condition:
        self.instance.value = self.cleaned_data.get("value")
        return super().save(commit=commit)


class RuleConditionForm(ConditionValueForm[RuleCondition]):
    class Meta:
        model = RuleCondition
        fields = ["field", "operator"]


class RuleConditionFormSet(BaseInlineFormSet[RuleCondition, ScoringRule, forms.ModelForm[RuleCondition]]):
    """Checks each condition against its rule's dimension, known only here."""

    def clean(self) -> None:
        super().clean()
        try:
            dimension = pure.Dimension(getattr(self.instance, "dimension", ""))
        except ValueError:
            return  # the rule's own form reports the bad dimension
        kept = 0
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or "value" not in data:
                continue
            kept += 1
            errors = pure.check_condition(
                data.get("field", ""), data["operator"], data["value"], dimension=dimension, words=sentences.WORDS
            )
            for name, message in errors.items():
                form.add_error("value_text" if name == "value" else name, message)
        if dimension is pure.Dimension.FIT and kept == 0 and not any(form.errors for form in self.forms):
            raise forms.ValidationError(gettext("A fit rule needs at least one condition on the lead."))


class RuleConditionInline(admin.TabularInline[RuleCondition, ScoringRule]):
    model = RuleCondition
    form = RuleConditionForm
    formset = RuleConditionFormSet
    fields = ["position", "field", "operator", "value_text"]
    verbose_name = _("condition")
    verbose_name_plural = _("conditions")
    extra = 1


class ScoringRuleForm(forms.ModelForm[ScoringRule]):
    interaction_types = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Interaction types"),
        help_text=_(
            "Engagement rules: the interactions this rule scores. The list holds every type built in, "
            "declared or seen (Event types); declare a new one there first."
        ),
    )

    class Meta:
        model = ScoringRule
        fields = [
            "name",
            "key",
            "description",
            "scorecard",
            "dimension",
            "points",
            "interaction_types",
            "match",
            "cap_count",
            "cap_points",
            "cap_window_days",
            "active",
            "valid_from",
            "valid_until",
        ]
        # The rest are the model's own field names; a rule is feminine in Spanish.
        labels = {"active": pgettext_lazy("rule", "Active")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scorecard_choices(self, None)  # a draft's page offers the draft's own instead
        known = selectors.event_types_known()
        # A type the rule already has stays on offer (and ticked), known or not.
        for kind in self.instance.interaction_types or ():
            known.setdefault(kind, kind)
        field = self.fields["interaction_types"]
        assert isinstance(field, forms.MultipleChoiceField)
        shown = {key: gettext(words) for key, words in known.items()}
        field.choices = [(key, f"{words} ({key})" if words != key else key) for key, words in shown.items()]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not cleaned.get("dimension") or cleaned.get("points") is None:
            return cleaned
        errors = pure.check_rule(
            dimension=cleaned["dimension"],
            points=cleaned["points"],
            interaction_types=cleaned.get("interaction_types") or [],
            condition_count=1,  # checked by the conditions' formset
            cap_count=cleaned.get("cap_count"),
            cap_points=cleaned.get("cap_points"),
            cap_window_days=cleaned.get("cap_window_days"),
            valid_from=cleaned.get("valid_from"),
            valid_until=cleaned.get("valid_until"),
            words=sentences.WORDS,
        )
        for name, message in errors.items():
            self.add_error("cap_count" if name == "cap" else name, message)
        return cleaned


@admin.register(ScoringRule)
class ScoringRuleAdmin(SavedHoldingALock[ScoringRule]):
    form = ScoringRuleForm
    inlines = [RuleConditionInline]
    # With the rule as a sentence after its name (get_list_display).
    list_display = [
        "name",
        scorecard_column,
        "dimension",
        "points",
        "active",
        "valid_from",
        "valid_until",
    ]
    list_filter = [ScorecardFilter, "dimension", "active"]
    list_select_related = ["scorecard"]
    search_fields = ["name", "key", "description"]
    prepopulated_fields = {"key": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "key", "description", "scorecard", "dimension", "points", "active"]}),
        (_("Engagement"), {"fields": ["interaction_types"], "description": _("Leave empty for fit rules.")}),
        (_("Conditions"), {"fields": ["match"]}),
        (_("Caps (engagement only)"), {"fields": ["cap_count", "cap_points", "cap_window_days"]}),
        (_("Validity"), {"fields": ["valid_from", "valid_until"]}),
    ]
    actions = ["activate", "deactivate"]

    # The rows listed: every scorecard's live rules (a draft's page lists the draft's).
    rows_manager = "every_scorecard"
    # A live rule stays on its scorecard: its ledger rows are that scorecard's.
    scorecard_fixed = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScoringRule]:
        rows: QuerySet[ScoringRule] = getattr(self.model, self.rows_manager).all()
        ordering = self.get_ordering(request)
        return (rows.order_by(*ordering) if ordering else rows).prefetch_related("conditions")

    def get_readonly_fields(self, request: HttpRequest, obj: ScoringRule | None = None) -> Any:
        fixed = ["scorecard"] if obj is not None and self.scorecard_fixed else []
        return [*super().get_readonly_fields(request, obj), *fixed]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {"subtitle": LIVE_MODEL_NOTE, **(extra_context or {})})

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        labels: dict[str, str] | None = None  # read once per page, when the first row needs them

        @admin.display(description=_("Rule"))
        def sentence(obj: ScoringRule) -> str:
            nonlocal labels
            if labels is None:
                labels = selectors.event_type_labels()
            return sentences.describe_rule(obj.as_pure(list(obj.conditions.all())), type_labels=labels)

        columns = super().get_list_display(request)
        return [columns[0], sentence, *columns[1:]]

    def save_lock(self) -> None:
        services.scoring_rules_lock()

    @admin.action(description=_("Activate selected rules"))
    def activate(self, request: HttpRequest, queryset: QuerySet[ScoringRule]) -> None:
        with transaction.atomic():
            services.scoring_rules_lock()
            count = queryset.update(active=True)
            # Once all are active, checked as a rule's save is: one rule each way per scorecard.
            each_way = {(r.scorecard_id, r.points > 0): r for r in queryset.filter(dimension=pure.Dimension.FIT)}
            for rule in each_way.values():
                try:
                    rule.clean()
                except ValidationError as refused:
                    transaction.set_rollback(True)
                    problem = " ".join(refused.messages)
                    said = gettext("Nothing was activated. {rule}: {problem}").format(rule=rule, problem=problem)
                    self.message_user(request, said, messages.ERROR)
                    return
        self.message_user(
            request,
            ngettext(
                "{count} rule activated. Fit scores follow when leads are rescored.",
                "{count} rules activated. Fit scores follow when leads are rescored.",
                count,
            ).format(count=count),
        )

    @admin.action(description=_("Deactivate selected rules"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[ScoringRule]) -> None:
        count = queryset.update(active=False)
        self.message_user(
            request,
            ngettext(
                "{count} rule deactivated. Fit scores follow when leads are rescored.",
                "{count} rules deactivated. Fit scores follow when leads are rescored.",
                count,
            ).format(count=count),
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Known as the names a model file's rules test are (a live rule's or a draft's): a
        # key used in web pages may write them, and the custom attribute names' page lists them.
        rule = form.instance
        if rule.dimension == pure.Dimension.FIT.value:
            fields = rule.conditions.values_list("field", flat=True)
            services.attribute_names_declare(list(fields), origin=AttributeName.Origin.RULE)

    def has_delete_permission(self, request: HttpRequest, obj: ScoringRule | None = None) -> bool:
        # The ledger keeps every rule's history; deactivate a rule instead.
        if obj is not None and obj.entries.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(ScoreGroup)
class ScoreGroupAdmin(GroupedFiguresAdmin[ScoreGroup]):
    list_display = ["name", "key", scorecard_column, "min_score", "leave_below", "lead_count", "description"]
    list_filter = [ScorecardFilter]
    list_select_related = ["scorecard"]
    prepopulated_fields = {"key": ["name"]}

    def get_ordering(self, request: HttpRequest) -> Any:
        # The default scorecard's groups first, then each scorecard's, each from its lowest.
        return [F("scorecard__key").asc(nulls_first=True), "min_score"]

    def get_form(self, request: HttpRequest, obj: ScoreGroup | None = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)

        class Form(form_class):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                scorecard_choices(self, None)

        return Form

    def get_readonly_fields(self, request: HttpRequest, obj: ScoreGroup | None = None) -> Any:
        # A live group stays on its scorecard: its leads and transitions are that scorecard's.
        return [*super().get_readonly_fields(request, obj), *(["scorecard"] if obj is not None else [])]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {"subtitle": LIVE_MODEL_NOTE, **(extra_context or {})})

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScoreGroup]:
        # Every scorecard's live groups, with the counts in the list's own query (one GROUP BY
        # for the default scorecard's, one subquery for a scorecard's), not a query per group.
        on_card = (
            LeadScore.objects.filter(score_group=OuterRef("pk"))
            .order_by()
            .values("score_group")
            .annotate(n=Count("pk"))
            .values("n")
        )
        rows = ScoreGroup.every_scorecard.order_by(*(self.get_ordering(request) or ()))
        return rows.annotate(lead_count=Count("leads"), card_count=Coalesce(Subquery(on_card), 0))

    @admin.display(description=_("Leads now"), ordering="lead_count")
    def lead_count(self, obj: ScoreGroup) -> SafeString | str:
        if obj.scorecard_id is not None:  # a scorecard's leads are in its own scores
            found: int | None = getattr(obj, "card_count", None)
            found = found if found is not None else LeadScore.objects.filter(score_group=obj).count()
            return localized.number(found)
        count: int | None = getattr(obj, "lead_count", None)
        if count is None:  # a group not read through the list's query
            return localized.number(obj.leads.count())
        url = reverse("admin:scoring_lead_changelist") + f"?score_group__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, localized.number(count))

    def save_model(
        self, request: HttpRequest, obj: ScoreGroup, form: forms.ModelForm[ScoreGroup], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        # Regrouping every lead is a background job (its progress under Rescore jobs), not this request's work.
        job = services.regroup_job_start(user=request.user if request.user.is_authenticated else None)
        self._regrouping(request, job)

    # Deleting one group and "Delete selected" alike: the same service, which regroups in the background.
    def delete_model(self, request: HttpRequest, obj: ScoreGroup) -> None:
        self.delete_queryset(request, ScoreGroup.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ScoreGroup]) -> None:
        job = services.score_groups_delete(
            group_ids=list(queryset.values_list("pk", flat=True)),
            user=request.user if request.user.is_authenticated else None,
        )
        self._regrouping(request, job)

    def _regrouping(self, request: HttpRequest, job: RescoreJob) -> None:
        self.message_user(
            request,
            ngettext(
                "Regrouping {count} lead in the background: see Rescore jobs (job {job}) for its progress.",
                "Regrouping {count} leads in the background: see Rescore jobs (job {job}) for its progress.",
                job.total,
            ).format(count=job.total, job=job.pk),
        )


@admin.register(ModelInfo)
class ModelInfoAdmin(admin.ModelAdmin[ModelInfo]):
    """The model's name and description: set by the model file, exported with it."""

    list_display = ["__str__", "description", "updated_at"]
    fields = ["name", "description"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ModelInfo.objects.exists() and super().has_add_permission(request)  # there is one row

    def has_delete_permission(self, request: HttpRequest, obj: ModelInfo | None = None) -> bool:
        return False  # empty the fields instead

    def save_model(self, request: HttpRequest, obj: ModelInfo, form: forms.ModelForm[ModelInfo], change: bool) -> None:
        saved = services.model_info_set(name=obj.name, description=obj.description)
        obj.pk = saved.pk
