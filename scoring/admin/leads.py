"""Leads in the admin (their score, why, the ledger; adjusting by hand; erasure), their accounts,
interactions, ledger rows and visitors."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import URLPattern, path
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from scoring import bulk, erasure, lead_export, lead_search, localized, selectors, services, timeline, typed
from scoring import rules as pure
from scoring.admin import changelist
from scoring.admin.counting import EstimatedCountPaginator
from scoring.admin.figures import GroupedFiguresAdmin
from scoring.models import (
    Interaction,
    Lead,
    LeadPrediction,
    ScoreEntry,
    Visitor,
    WaitingInteraction,
)
from scoring.models.design import DIMENSION_CHOICES

logger = logging.getLogger(__name__)


class ScoreBandFilter(admin.SimpleListFilter):
    title = _("total score")
    parameter_name = "score"
    bands = {"lt0": (None, 0), "0-39": (0, 40), "40-59": (40, 60), "60-79": (60, 80), "80+": (80, None)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        labels: dict[str, StrOrPromise] = {
            "lt0": _("below 0"),
            "0-39": _("0 to 39"),
            "40-59": _("40 to 59"),
            "60-79": _("60 to 79"),
            "80+": _("80 and more"),
        }
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
    dimension = forms.ChoiceField(choices=DIMENSION_CHOICES, label=_("Dimension"))
    delta = forms.IntegerField(
        help_text=_("Points to add; negative to subtract."),
        min_value=-services.SCORE_MAX,
        max_value=services.SCORE_MAX,
    )
    note = forms.CharField(max_length=300, help_text=_("Why: kept in the ledger."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Django's own words write the bound ungrouped ("2147483647") whatever the language.
        beyond = gettext("an adjustment is a whole number of points from {low} to {high}").format(
            low=localized.number(-services.SCORE_MAX), high=localized.number(services.SCORE_MAX)
        )
        self.fields["delta"].error_messages.update(min_value=beyond, max_value=beyond)


@admin.register(Lead)
class LeadAdmin(GroupedFiguresAdmin[Lead]):
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
    # At a million leads every page of this list reads indexes only (scoring's migration
    # 0023): the order and the filters by group and stage by (…, -total_score, id); the
    # search (scoring.lead_search) by trigrams of the searched fields on PostgreSQL, and
    # an external id given whole by its own index. A column without an index is not sortable:
    # sorting by it would read the whole table. Industry and country are not filters:
    # listing their values would too (search by city instead, or filter by group).
    list_filter = ["score_group", "lifecycle_stage", ScoreBandFilter]
    search_fields = ["id__lead_search"]
    search_help_text = _("Part of an email, first or last name, company or city; or a whole external id.")
    sortable_by = ["total_score"]
    ordering = ["-total_score", "id"]
    # The list's count: estimated for the whole table when it is large, exact once filtered;
    # never a second count of the whole table beside a filtered one.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = [
        "total_score",
        "fit_score",
        "engagement_score",
        "score_group",
        "last_activity_at",
        "why_this_score",
        "ledger_history",
        "chance_to_convert",
        "scorecard_scores",
    ]
    autocomplete_fields = ["account"]
    # The editable fields first; below them the score, why, and the lead's whole story
    # (the timeline, templates/admin/scoring/lead/change_form.html).
    fieldsets = [
        (
            _("Who"),
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
        (
            _("Score"),
            {
                "fields": [
                    "total_score",
                    "fit_score",
                    "engagement_score",
                    "score_group",
                    "last_activity_at",
                    "scorecard_scores",
                ]
            },
        ),
        (_("Why this score"), {"fields": ["why_this_score", "ledger_history"]}),
        (_("Predicted chance to convert"), {"fields": ["chance_to_convert"]}),
    ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Lead], search_term: str
    ) -> tuple[QuerySet[Lead], bool]:
        """Every word of the search in one read of the search's table (Django's admin reads
        it once a word, and a common word then lists nearly every lead); a search that
        finds few leads lists them by id (see scoring.lead_search.lead_ids)."""
        words = lead_search.terms(search_term)
        if not words:
            return queryset, False
        few = lead_search.lead_ids(words)
        return queryset.filter(id__lead_search=words) if few is None else queryset.filter(bulk.ids_in("pk", few)), False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[changelist.QuickRowsChangeList]:
        return changelist.QuickRowsChangeList

    def get_empty_value_display(self) -> SafeString:
        return changelist.empty_value_display(
            getattr(self, "empty_value_display", None) or self.admin_site.empty_value_display
        )

    @admin.display(description=getattr(admin.ModelAdmin.action_checkbox, "short_description", ""))
    def action_checkbox(self, obj: Lead) -> SafeString:
        return changelist.action_checkbox(obj)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = dict(extra_context or {})
        lead_id = typed.id_from_text(object_id)
        if lead_id is not None:
            # Page links carry a cursor; anything else in them gives the newest page.
            context["timeline"] = timeline.lead_timeline(
                lead_id=lead_id, before=request.GET.get("older"), after=request.GET.get("newer"), reader=request.user
            )
        return super().change_view(request, object_id, form_url, context)

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
                field, _colon, message = str(exc).partition(": ")
                form.add_error(field if field in form.fields else None, message or str(exc))
            else:
                self.message_user(request, _("Score adjusted; the reason is in the ledger."), messages.SUCCESS)
                return redirect("admin:scoring_lead_change", lead.pk)
        context = {**self.admin_site.each_context(request), "lead": lead, "form": form, "opts": self.model._meta}
        return render(request, "admin/scoring/lead/adjust.html", context)

    @admin.display(description=_("Chance to convert"))
    def chance_to_convert(self, obj: Lead) -> SafeString:
        prediction = LeadPrediction.objects.filter(lead_id=obj.pk).select_related("model").first() if obj.pk else None
        if prediction is None:
            return SafeString(
                escape(gettext("Not predicted yet: a predictive model is trained from won and lost leads."))
            )
        reasons = [str(r.get("text")) for r in prediction.reasons or () if isinstance(r, dict) and r.get("text")]
        return format_html(
            "<strong>{}</strong> {}{}",
            localized.percent(100 * prediction.probability, 0),
            gettext("(predictive model version {version}, {when})").format(
                version=prediction.model.number, when=localized.when(prediction.computed_at)
            ),
            format_html_join("", "<br>{}", ((reason,) for reason in reasons)),
        )

    @admin.display(description=_("Scorecards"))
    def scorecard_scores(self, obj: Lead) -> SafeString:
        if obj.pk is None:
            return SafeString("")
        return SafeString(
            render_to_string(
                "admin/scoring/lead/scorecards.html", {"lines": selectors.lead_scorecard_scores(lead_id=obj.pk)}
            )
        )

    @admin.display(description=_("Breakdown by rule"))
    def why_this_score(self, obj: Lead) -> SafeString:
        if obj.pk is None:
            return SafeString("")
        return SafeString(
            render_to_string(
                "admin/scoring/lead/breakdown.html",
                {"lines": selectors.lead_score_breakdown(lead=obj), "lead": obj},
            )
        )

    @admin.display(description=_("Ledger (latest 50)"))
    def ledger_history(self, obj: Lead) -> SafeString:
        if obj.pk is None:
            return SafeString("")
        return SafeString(
            render_to_string("admin/scoring/lead/ledger.html", {"entries": selectors.lead_ledger(lead=obj)})
        )

    def save_model(self, request: HttpRequest, obj: Lead, form: forms.ModelForm[Lead], change: bool) -> None:
        # Scoring's service writes it (and re-evaluates fit, records a change of stage).
        # Only what the form changed: the cached scores, group and decay base on ``obj``
        # were read when the request began, and a worker may have moved them since;
        # saving every field would put the old values back.
        columns = {f.name for f in Lead._meta.concrete_fields}
        services.lead_save(
            lead=obj,
            fields=[name for name in form.changed_data if name in columns] if change else None,
            stage_before=form.initial.get("lifecycle_stage") if change else "",
            cause="admin",
        )

    # Deleting a lead (its page's Delete, and "Delete selected leads") is erasure: every row
    # about the person in every app, the set-aside rows naming it, the admin's own history
    # scrubbed (including the deletion entry just logged) and an opted-out address kept on
    # the suppression list. A bare delete would leave the address in the history and let
    # a lead created again from a later event be mailed.
    def delete_model(self, request: HttpRequest, obj: Lead) -> None:
        self._leads_erase(request, [obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        self._leads_erase(request, list(queryset.values_list("pk", flat=True)))

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[Any, Any], set[Any], list[Any]]:
        # Whoever may delete a lead erases every row about the person, including the rows
        # no one deletes one by one here (the ledgers', the interactions'): the confirmation
        # lists them without asking for a permission to delete each kind.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: int) -> HttpResponse:
        # str(lead) is the person's address: not in the message that says it is gone.
        return super().response_delete(request, gettext("lead {id}").format(id=obj_id), obj_id)

    def _leads_erase(self, request: HttpRequest, lead_ids: list[int]) -> None:
        totals: dict[str, int] = defaultdict(int)
        suppressed = 0
        # Each in a transaction of its own, as the API erases one: holding an erased lead's
        # locks while taking the next one's could wait on a request that waits on them.
        erased, failed = 0, []
        for lead_id in sorted(lead_ids):
            try:
                report = erasure.lead_erase(lead_id=lead_id)
            except Lead.DoesNotExist:  # erased meanwhile (the API, another person)
                continue
            except DatabaseError:  # rolled back whole: this lead is as it was
                logger.exception("erasing lead %s failed", lead_id)
                failed.append(lead_id)
                continue
            erased += 1
            suppressed += report.suppressed
            for kind, count in report.as_dict().items():
                if kind not in ("lead", "suppressed"):
                    totals[kind] += count
        names = erasure.kinds_named()
        removed = ", ".join(
            f"{names.get(kind, kind.replace('_', ' '))} {localized.number(count)}"
            for kind, count in totals.items()
            if count
        )
        text = ngettext("Erased {count} lead on request.", "Erased {count} leads on request.", erased).format(
            count=localized.number(erased)
        )
        if removed:
            text += " " + gettext("Rows removed: {rows}.").format(rows=removed)
        if suppressed:
            text += " " + ngettext(
                "{count} address stays on the suppression list, as a hash.",
                "{count} addresses stay on the suppression list, as a hash.",
                suppressed,
            ).format(count=localized.number(suppressed))
        self.message_user(request, text, messages.SUCCESS)
        if failed:
            self.message_user(
                request,
                gettext("Not erased, try again: {leads}.").format(
                    leads=", ".join(gettext("lead {id}").format(id=pk) for pk in failed)
                ),
                messages.ERROR,
            )

    def log_deletions(self, request: HttpRequest, queryset: Any) -> list[LogEntry]:
        # Written before the leads are erased, and scrubbed by their erasure: the entry names
        # the lead by id, never by its address (str(lead)), which a lead erased meanwhile by
        # another (left out of this erasure) would have kept in the history.
        content_type = ContentType.objects.get_for_model(Lead)
        user_id = cast(int, request.user.pk)  # the admin's pages are for signed-in staff only
        return LogEntry.objects.bulk_create(
            LogEntry(
                user_id=user_id,
                content_type=content_type,
                object_id=str(lead.pk),
                object_repr=gettext("lead {id}").format(id=lead.pk),
                action_flag=DELETION,
            )
            for lead in queryset
        )

    actions = ["rescore_fit", "rescore_from_history", "export_csv"]

    @admin.action(description=_("Export selected leads to CSV"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="leads.csv"'
        lead_export.leads_export(out=response, leads=queryset)
        return response

    @admin.action(description=_("Re-evaluate fit score of selected leads"))
    def rescore_fit(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        rows = services.leads_rescore_fit(lead_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext(
                "Fit re-evaluated; {count} ledger row written.", "Fit re-evaluated; {count} ledger rows written.", rows
            ).format(count=rows),
            messages.SUCCESS,
        )

    @admin.action(description=_("Rescore selected leads from their history (background job)"))
    def rescore_from_history(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        user = request.user if request.user.is_authenticated else None
        job = services.rescore_job_start(lead_ids=list(queryset.values_list("pk", flat=True)), user=user)
        self.message_user(
            request,
            ngettext(
                "Rescore job {job} queued for {count} lead; see Rescore jobs.",
                "Rescore job {job} queued for {count} leads; see Rescore jobs.",
                job.total,
            ).format(job=job.pk, count=job.total),
        )


class InteractionTypeFilter(admin.SimpleListFilter):
    """The types to filter by, from the counted list of types: never a DISTINCT over the interactions."""

    title = _("type")
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(selectors.event_types_known().items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin[Interaction]):
    """What leads did, as the intake stored it: readable here, never changed or deleted one
    by one (the ledgers' rows that name an interaction would be left naming nothing). A
    person's interactions go when the lead is erased (Delete on the lead's page)."""

    list_display = ["occurred_at", "type", "lead", "source", "scoring_state"]
    list_filter = [InteractionTypeFilter, "source"]
    list_select_related = ["lead"]
    search_fields = ["lead__id__lead_search", "idempotency_key"]
    date_hierarchy = "occurred_at"
    readonly_fields = [*(f.name for f in Interaction._meta.fields), "scoring_state"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Interaction]:
        waiting = WaitingInteraction.objects.filter(interaction_id=OuterRef("pk"))
        return super().get_queryset(request).annotate(waiting=Exists(waiting))

    @admin.display(description=_("scoring"))
    def scoring_state(self, obj: Interaction) -> str:
        if obj.lead_id is None:
            return gettext("waits for its visitor to be identified")
        if obj.set_aside:
            return pgettext("an interaction's scoring state", "set aside")
        return gettext("waiting to be scored") if getattr(obj, "waiting", False) else gettext("scored")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Interaction | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Interaction | None = None) -> bool:
        return False


@admin.register(ScoreEntry)
class ScoreEntryAdmin(GroupedFiguresAdmin[ScoreEntry]):
    """The ledger is append-only: readable here, written only by scoring."""

    list_display = ["created_at", "lead", "dimension", "delta", "cause", "rule", "note"]
    list_filter = ["cause", "dimension"]
    list_select_related = ["lead", "rule"]
    search_fields = ["lead__id__lead_search", "note"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ScoreEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ScoreEntry | None = None) -> bool:
        return False


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin[Visitor]):
    list_display = ["key", "lead", "first_seen_at", "last_seen_at", "identified_at", "left_unscored"]
    list_select_related = ["lead"]
    search_fields = ["key", "lead__id__lead_search"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Visitor]:
        left = (
            Interaction.objects.filter(visitor=OuterRef("pk"), lead__isnull=True)
            .order_by()
            .values("visitor")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(left=Subquery(left))

    @admin.display(description=_("interactions left unscored"))
    def left_unscored(self, visitor: Visitor) -> int | None:
        """The interactions that stayed with a visitor tied to a lead: past the lead's limit
        when it was tied (a tracked form's post), they were never the lead's to score."""
        if visitor.lead_id is None:
            return None  # an anonymous visitor's interactions wait for it to identify
        left: int | None = getattr(visitor, "left", None)
        return left or 0

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Visitor | None = None) -> bool:
        return False
