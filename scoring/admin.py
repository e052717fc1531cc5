from __future__ import annotations

from collections import defaultdict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from scoring import erasure, selectors, services, setaside, suppression
from scoring import rules as pure
from scoring.decay import check_policy as decay_checks
from scoring.models import (
    Account,
    DecayPolicy,
    DecayRun,
    GroupTransition,
    Interaction,
    Lead,
    RescoreJob,
    RuleCondition,
    ScoreEntry,
    ScoreGroup,
    ScoringRule,
    SetAside,
    SuppressedAddress,
    Visitor,
)

# --- rules ---------------------------------------------------------------------


class RuleConditionForm(forms.ModelForm[RuleCondition]):
    """A condition with its value typed as a person would: "Toys, Retail", "10-50"."""

    value_text = forms.CharField(
        label="Value",
        required=False,
        help_text="Lists: comma-separated. Ranges: 10-50. Patterns: * matches anything.",
    )

    class Meta:
        model = RuleCondition
        fields = ["field", "operator"]

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
                cleaned["value"] = pure.parse_value_text(pure.Operator(operator), cleaned.get("value_text") or "")
            except ValueError as exc:
                self.add_error("value_text", str(exc))
        return cleaned

    def save(self, commit: bool = True) -> RuleCondition:
        self.instance.value = self.cleaned_data.get("value")
        condition: RuleCondition = super().save(commit=commit)
        return condition


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
            errors = pure.check_condition(data.get("field", ""), data["operator"], data["value"], dimension=dimension)
            for name, message in errors.items():
                form.add_error("value_text" if name == "value" else name, message)
        if dimension is pure.Dimension.FIT and kept == 0 and not any(form.errors for form in self.forms):
            raise forms.ValidationError("A fit rule needs at least one condition on the lead.")


class RuleConditionInline(admin.TabularInline[RuleCondition, ScoringRule]):
    model = RuleCondition
    form = RuleConditionForm
    formset = RuleConditionFormSet
    fields = ["position", "field", "operator", "value_text"]
    extra = 1


class ScoringRuleForm(forms.ModelForm[ScoringRule]):
    interaction_types = forms.MultipleChoiceField(
        choices=list(pure.INTERACTION_TYPES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Engagement rules: the interactions this rule scores.",
    )

    class Meta:
        model = ScoringRule
        fields = [
            "name",
            "key",
            "description",
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
        )
        for name, message in errors.items():
            self.add_error("cap_count" if name == "cap" else name, message)
        return cleaned


@admin.register(ScoringRule)
class ScoringRuleAdmin(admin.ModelAdmin[ScoringRule]):
    form = ScoringRuleForm
    inlines = [RuleConditionInline]
    list_display = ["name", "sentence", "dimension", "points", "active", "valid_from", "valid_until"]
    list_filter = ["dimension", "active"]
    search_fields = ["name", "key", "description"]
    prepopulated_fields = {"key": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "key", "description", "dimension", "points", "active"]}),
        ("Engagement", {"fields": ["interaction_types"], "description": "Leave empty for fit rules."}),
        ("Conditions", {"fields": ["match"]}),
        ("Caps (engagement only)", {"fields": ["cap_count", "cap_points", "cap_window_days"]}),
        ("Validity", {"fields": ["valid_from", "valid_until"]}),
    ]
    actions = ["activate", "deactivate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScoringRule]:
        return super().get_queryset(request).prefetch_related("conditions")

    @admin.display(description="Rule")
    def sentence(self, obj: ScoringRule) -> str:
        return pure.describe_rule(obj.as_pure(list(obj.conditions.all())))

    @admin.action(description="Activate selected rules")
    def activate(self, request: HttpRequest, queryset: QuerySet[ScoringRule]) -> None:
        count = queryset.update(active=True)
        self.message_user(request, f"{count} rule(s) activated. Fit scores follow when leads are rescored.")

    @admin.action(description="Deactivate selected rules")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[ScoringRule]) -> None:
        count = queryset.update(active=False)
        self.message_user(request, f"{count} rule(s) deactivated. Fit scores follow when leads are rescored.")

    def has_delete_permission(self, request: HttpRequest, obj: ScoringRule | None = None) -> bool:
        # The ledger keeps every rule's history; deactivate a rule instead.
        if obj is not None and obj.entries.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(ScoreGroup)
class ScoreGroupAdmin(admin.ModelAdmin[ScoreGroup]):
    list_display = ["name", "key", "min_score", "leave_below", "description"]
    prepopulated_fields = {"key": ["name"]}
    ordering = ["min_score"]

    def save_model(
        self, request: HttpRequest, obj: ScoreGroup, form: forms.ModelForm[ScoreGroup], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        services.leads_regroup()

    def delete_model(self, request: HttpRequest, obj: ScoreGroup) -> None:
        super().delete_model(request, obj)
        services.leads_regroup()


# --- leads -------------------------------------------------------------------------


class ScoreBandFilter(admin.SimpleListFilter):
    title = "total score"
    parameter_name = "score"
    bands = {"lt0": (None, 0), "0-39": (0, 40), "40-59": (40, 60), "60-79": (60, 80), "80+": (80, None)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        labels = {"lt0": "below 0", "0-39": "0 to 39", "40-59": "40 to 59", "60-79": "60 to 79", "80+": "80 and more"}
        return list(labels.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        band = self.bands.get(self.value() or "")
        if band is None:
            return queryset
        low, high = band
        if low is not None:
            queryset = queryset.filter(total_score__gte=low)
        if high is not None:
            queryset = queryset.filter(total_score__lt=high)
        return queryset


class ScoreAdjustForm(forms.Form):
    dimension = forms.ChoiceField(choices=[(d.value, d.value.title()) for d in pure.Dimension])
    delta = forms.IntegerField(help_text="Points to add; negative to subtract.")
    note = forms.CharField(max_length=300, help_text="Why: kept in the ledger.")


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin[Lead]):
    list_display = [
        "email",
        "name",
        "company",
        "total_score",
        "fit_score",
        "engagement_score",
        "score_group",
        "lifecycle_stage",
        "last_activity_at",
    ]
    list_select_related = ["score_group"]
    list_filter = ["score_group", "lifecycle_stage", ScoreBandFilter, "industry", "country"]
    search_fields = ["email", "first_name", "last_name", "company", "external_id"]
    ordering = ["-total_score", "id"]
    readonly_fields = [
        "total_score",
        "fit_score",
        "engagement_score",
        "score_group",
        "last_activity_at",
        "why_this_score",
        "ledger_history",
    ]
    autocomplete_fields = ["account"]
    fieldsets = [
        ("Score", {"fields": ["total_score", "fit_score", "engagement_score", "score_group", "last_activity_at"]}),
        ("Why this score", {"fields": ["why_this_score", "ledger_history"]}),
        (
            "Who",
            {
                "fields": [
                    "email",
                    "external_id",
                    ("first_name", "last_name"),
                    ("title", "department"),
                    ("company", "account"),
                    ("industry", "company_size", "annual_revenue"),
                    ("country", "city"),
                    "attributes",
                    "lifecycle_stage",
                    "owner",
                ]
            },
        ),
    ]

    def get_urls(self) -> list[URLPattern]:
        adjust = path(
            "<int:lead_id>/adjust/",
            self.admin_site.admin_view(self.adjust_view),
            name="scoring_lead_adjust",
        )
        return [adjust, *super().get_urls()]

    def adjust_view(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        """Move a lead's score by hand; the reason goes to the ledger (cause: manual)."""
        lead = self.get_object(request, str(lead_id))
        if lead is None or not self.has_change_permission(request, lead):
            raise PermissionDenied
        form = ScoreAdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            user = request.user if request.user.is_authenticated else None
            try:
                services.lead_adjust_score(
                    lead_id=lead.pk,
                    dimension=pure.Dimension(form.cleaned_data["dimension"]),
                    delta=form.cleaned_data["delta"],
                    note=form.cleaned_data["note"],
                    user=user,
                )
            except ValueError as exc:
                field, _, message = str(exc).partition(": ")
                form.add_error(field if field in form.fields else None, message or str(exc))
            else:
                self.message_user(request, "Score adjusted; the reason is in the ledger.", messages.SUCCESS)
                return redirect("admin:scoring_lead_change", lead.pk)
        context = {**self.admin_site.each_context(request), "lead": lead, "form": form, "opts": self.model._meta}
        return render(request, "admin/scoring/lead/adjust.html", context)

    @admin.display(description="Breakdown by rule")
    def why_this_score(self, obj: Lead) -> SafeString:
        if obj.pk is None:
            return SafeString("")
        return SafeString(
            render_to_string(
                "admin/scoring/lead/breakdown.html",
                {"lines": selectors.lead_score_breakdown(lead=obj), "lead": obj},
            )
        )

    @admin.display(description="Ledger (latest 50)")
    def ledger_history(self, obj: Lead) -> SafeString:
        if obj.pk is None:
            return SafeString("")
        return SafeString(
            render_to_string("admin/scoring/lead/ledger.html", {"entries": selectors.lead_ledger(lead=obj)})
        )

    def save_model(self, request: HttpRequest, obj: Lead, form: forms.ModelForm[Lead], change: bool) -> None:
        if change:
            # Only what the form changed: the cached scores, group and decay base on
            # ``obj`` were read when the request began, and a worker may have moved them
            # since; saving every field would put the old values back.
            columns = {f.name for f in Lead._meta.concrete_fields}
            obj.save(update_fields=[name for name in form.changed_data if name in columns] + ["updated_at"])
        else:
            obj.save()
        services.lead_saved(lead=obj, stage_before=form.initial.get("lifecycle_stage") if change else None)

    # Deleting a lead (its page's Delete, and "Delete selected leads") is erasure: every row
    # about the person in every app, the set-aside rows naming it, the admin's own history
    # scrubbed (including the deletion entry just logged) and an opted-out address kept on
    # the suppression list. A bare delete would leave the address in the history and let
    # a lead created again from a later event be mailed.
    def delete_model(self, request: HttpRequest, obj: Lead) -> None:
        self._leads_erase(request, [obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        self._leads_erase(request, list(queryset.values_list("pk", flat=True)))

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: int) -> HttpResponse:
        # str(lead) is the person's address: not in the message that says it is gone.
        return super().response_delete(request, f"lead {obj_id}", obj_id)

    @transaction.atomic
    def _leads_erase(self, request: HttpRequest, lead_ids: list[int]) -> None:
        totals: dict[str, int] = defaultdict(int)
        suppressed = 0
        for lead_id in lead_ids:
            report = erasure.lead_erase(lead_id=lead_id)
            suppressed += report.suppressed
            for kind, count in report.as_dict().items():
                if kind not in ("lead", "suppressed"):
                    totals[kind] += count
        removed = ", ".join(f"{kind.replace('_', ' ')} {count}" for kind, count in totals.items() if count)
        text = f"Erased {len(lead_ids)} lead(s) on request" + (f" ({removed})" if removed else "") + "."
        if suppressed:
            text += f" {suppressed} address(es) stay on the suppression list, as a hash."
        self.message_user(request, text, messages.SUCCESS)

    actions = ["rescore_fit", "rescore_from_history"]

    @admin.action(description="Re-evaluate fit score of selected leads")
    def rescore_fit(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        rows = services.leads_rescore_fit(lead_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Fit re-evaluated; {rows} ledger row(s) written.", messages.SUCCESS)

    @admin.action(description="Rescore selected leads from their history (background job)")
    def rescore_from_history(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        user = request.user if request.user.is_authenticated else None
        job = services.rescore_job_start(lead_ids=list(queryset.values_list("pk", flat=True)), user=user)
        self.message_user(request, f"Rescore job {job.pk} queued for {job.total} lead(s); see Rescore jobs.")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin[Account]):
    list_display = ["name", "domain", "industry", "company_size"]
    search_fields = ["name", "domain"]


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin[Interaction]):
    list_display = ["occurred_at", "type", "lead", "source", "scored_at"]
    list_filter = ["type", "source"]
    list_select_related = ["lead"]
    search_fields = ["lead__email", "idempotency_key"]
    date_hierarchy = "occurred_at"
    readonly_fields = [f.name for f in Interaction._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Interaction | None = None) -> bool:
        return False


@admin.register(ScoreEntry)
class ScoreEntryAdmin(admin.ModelAdmin[ScoreEntry]):
    """The ledger is append-only: readable here, written only by scoring."""

    list_display = ["created_at", "lead", "dimension", "delta", "cause", "rule", "note"]
    list_filter = ["cause", "dimension"]
    list_select_related = ["lead", "rule"]
    search_fields = ["lead__email", "note"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ScoreEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ScoreEntry | None = None) -> bool:
        return False


# --- visitors ----------------------------------------------------------


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin[Visitor]):
    list_display = ["key", "lead", "first_seen_at", "last_seen_at", "identified_at"]
    list_select_related = ["lead"]
    search_fields = ["key", "lead__email"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Visitor | None = None) -> bool:
        return False


# --- groups over time, decay, rescoring ---------------------------------------------


@admin.register(GroupTransition)
class GroupTransitionAdmin(admin.ModelAdmin[GroupTransition]):
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
    search_fields = ["lead__email"]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: GroupTransition | None = None) -> bool:
        return False


class DecayPolicyForm(forms.ModelForm[DecayPolicy]):
    class Meta:
        model = DecayPolicy
        fields = ["kind", "points_per_day", "after_days", "half_life_days", "window_days", "floor"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if all(cleaned.get(name) is not None for name in self.Meta.fields):
            policy = DecayPolicy(**{name: cleaned[name] for name in self.Meta.fields}).as_pure()
            for name, message in decay_checks(policy).items():
                self.add_error(name, message)
        return cleaned


@admin.register(DecayPolicy)
class DecayPolicyAdmin(admin.ModelAdmin[DecayPolicy]):
    form = DecayPolicyForm
    list_display = ["__str__", "points_per_day", "after_days", "half_life_days", "window_days", "floor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not DecayPolicy.objects.exists()  # there is one policy


@admin.register(DecayRun)
class DecayRunAdmin(admin.ModelAdmin[DecayRun]):
    list_display = ["day", "started_at", "finished_at", "leads", "points"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DecayRun | None = None) -> bool:
        return False


@admin.register(RescoreJob)
class RescoreJobAdmin(admin.ModelAdmin[RescoreJob]):
    """Rescoring after a rule change: start one here ("Add"), watch its progress."""

    list_display = ["__str__", "group", "progress", "status", "entries", "created_at", "finished_at"]
    fields = ["group"]
    readonly_fields = ["progress", "status", "total", "done", "entries", "error", "started_at", "finished_at"]

    def get_fields(self, request: HttpRequest, obj: RescoreJob | None = None) -> Any:
        return ["group"] if obj is None else ["group", *self.readonly_fields]

    @admin.display(description="Progress")
    def progress(self, obj: RescoreJob) -> SafeString:
        return format_html(
            '<progress max="100" value="{}"></progress> {}% ({} of {})', obj.percent, obj.percent, obj.done, obj.total
        )

    def save_model(
        self, request: HttpRequest, obj: RescoreJob, form: forms.ModelForm[RescoreJob], change: bool
    ) -> None:
        if change:
            return  # a job is not edited
        user = request.user if request.user.is_authenticated else None
        job = services.rescore_job_start(group=obj.group, user=user)
        obj.pk = job.pk
        self.message_user(request, f"Rescore job {job.pk} queued for {job.total} lead(s).")

    def has_delete_permission(self, request: HttpRequest, obj: RescoreJob | None = None) -> bool:
        return False


# --- rows the batches set aside --------------------------------------------------------


class SetAsideStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Set aside"), ("retried", "Retried")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("open", "retried"):
            return queryset.filter(resolved_at__isnull=self.value() == "open")
        return queryset


class SetAsideKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted(((name, kind.label) for name, kind in setaside.kinds().items()), key=lambda item: item[1])

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
    "retry_result",
)


@admin.register(SetAside)
class SetAsideAdmin(admin.ModelAdmin[SetAside]):
    """Rows a batch could not process, with why; once the cause is fixed, "Retry" puts
    them back into their batch's way. Read-only: only the batches write them."""

    list_display = ["last_failed_at", "kind_label", "row", "lead_link", "error_shown", "failures", "status"]
    list_filter = [SetAsideStatusFilter, SetAsideKindFilter, "error_type"]
    search_fields = ["error", "error_type", "=row_id", "=lead_id"]
    date_hierarchy = "last_failed_at"
    fields = _SET_ASIDE_FIELDS
    readonly_fields = _SET_ASIDE_FIELDS
    actions = ["retry"]

    @admin.display(description="Kind", ordering="kind")
    def kind_label(self, obj: SetAside) -> str:
        kind = setaside.kinds().get(obj.kind)
        return kind.label if kind is not None else obj.kind

    @admin.display(description="Row", ordering="row_id")
    def row(self, obj: SetAside) -> str:
        kind = setaside.kinds().get(obj.kind)
        if kind is None or not kind.row_admin:
            return str(obj.row_id)
        try:
            return format_html('<a href="{}">{}</a>', reverse(kind.row_admin, args=[obj.row_id]), obj.row_id)
        except NoReverseMatch:
            return str(obj.row_id)

    @admin.display(description="Lead", ordering="lead_id")
    def lead_link(self, obj: SetAside) -> str:
        if obj.lead_id is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:scoring_lead_change", args=[obj.lead_id]), obj.lead_id)

    @admin.display(description="Error")
    def error_shown(self, obj: SetAside) -> str:
        text = f"{obj.error_type}: {obj.error}"
        return text if len(text) <= 200 else text[:199] + "…"

    @admin.display(description="Traceback")
    def traceback_shown(self, obj: SetAside) -> str:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.traceback or "-")

    @admin.display(description="Status")
    def status(self, obj: SetAside) -> str:
        if obj.resolved_at is None:
            return "set aside" if obj.retried_at is None else f"set aside (failed again: {obj.retry_result})"
        return f"retried: {obj.retry_result}"

    @admin.action(description="Retry selected rows (once their cause is fixed)", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[SetAside]) -> None:
        results = setaside.rows_retry(ids=list(queryset.values_list("pk", flat=True)))
        if not results:
            self.message_user(request, "Nothing to retry: the selected rows were retried already.", messages.INFO)
            return
        ok = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        if ok:
            self.message_user(request, f"{len(ok)} row(s) back in their batch: {ok[0].result}.", messages.SUCCESS)
        if failed:
            self.message_user(request, f"{len(failed)} row(s) still set aside: {failed[0].result}", messages.ERROR)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("scoring.change_setaside")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SetAside | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SetAside | None = None) -> bool:
        return False


# --- suppression list ---------------------------------------------------------------


class SuppressedAddressForm(forms.ModelForm[SuppressedAddress]):
    """Add an address to the suppression list; only its hash is kept."""

    address = forms.EmailField(help_text="Kept only as a hash: the list never shows it again.")

    class Meta:
        model = SuppressedAddress
        fields = ["reason"]

    def clean_address(self) -> str:
        address = suppression.address_normalise(self.cleaned_data["address"])
        listed = suppression.addresses_suppressed(addresses=[address])
        if listed:
            raise forms.ValidationError(f"This address is on the list already ({listed[address].label}).")
        return address


@admin.register(SuppressedAddress)
class SuppressedAddressAdmin(admin.ModelAdmin[SuppressedAddress]):
    """Addresses nurture never mails, kept when their leads are erased. Delete an entry
    only when the person has asked to be mailed again."""

    form = SuppressedAddressForm
    list_display = ["short_hash", "reason", "suppressed_at", "erased_at"]
    list_filter = ["reason", ("erased_at", admin.EmptyFieldListFilter)]
    search_fields = ["address_hash"]
    search_help_text = "A whole email address (case and spaces do not matter)."

    @admin.display(description="address (SHA-256)", ordering="address_hash")
    def short_hash(self, obj: SuppressedAddress) -> str:
        return f"{obj.address_hash[:16]}…"

    def get_fields(self, request: HttpRequest, obj: SuppressedAddress | None = None) -> tuple[str, ...]:
        return ("address", "reason") if obj is None else ("address_hash", "reason", "suppressed_at", "erased_at")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[SuppressedAddress], search_term: str
    ) -> tuple[QuerySet[SuppressedAddress], bool]:
        # Only hashes are stored: look the typed address up by its hash.
        if not search_term.strip():
            return queryset, False
        return queryset.filter(address_hash=suppression.address_hash(search_term)), False

    def save_model(
        self, request: HttpRequest, obj: SuppressedAddress, form: forms.ModelForm[SuppressedAddress], change: bool
    ) -> None:
        # Through the list's one writer; the typed address itself is not kept.
        address = form.cleaned_data["address"]
        suppression.addresses_suppress(addresses=[address], reason=SuppressedAddress.Reason(obj.reason))
        saved = SuppressedAddress.objects.get(address_hash=suppression.address_hash(address))
        obj.pk, obj.address_hash, obj.suppressed_at = saved.pk, saved.address_hash, saved.suppressed_at

    def has_change_permission(self, request: HttpRequest, obj: SuppressedAddress | None = None) -> bool:
        return False  # an entry is added or deleted, never edited
