"""Scorecards in the admin: their names, descriptions and whether they score, with the
groups, rules and decay each holds (written by the model file and versions)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from scoring import localized
from scoring.models import DecayPolicy, Scorecard, ScoreGroup, ScoringRule


def _count_of(model: type[ScoreGroup] | type[ScoringRule]) -> Coalesce:
    """How many of the live model's ``model`` rows each scorecard holds, as a subquery."""
    rows = model.every_scorecard.filter(scorecard=OuterRef("pk")).order_by().values("scorecard")
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")), 0)


def _list_link(name: str, card: Scorecard, count: int) -> SafeString:
    url = reverse(f"admin:scoring_{name}_changelist") + "?" + urlencode({"scorecard": card.key})
    return format_html('<a href="{}">{}</a>', url, localized.number(count))


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin[Scorecard]):
    list_display = ["name", "key", "active", "group_count", "rule_count"]
    list_filter = ["active"]
    search_fields = ["key", "name"]
    fields = ["key", "name", "description", "active", "groups", "rules", "decay"]
    readonly_fields = ["groups", "rules", "decay"]

    def get_readonly_fields(self, request: HttpRequest, obj: Scorecard | None = None) -> list[str]:
        # The key names the scorecard in model files and reports: fixed once made.
        return [*self.readonly_fields, *(["key"] if obj is not None else [])]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Scorecard]:
        # The counts in the list's own query, not two queries per scorecard.
        return (
            super().get_queryset(request).annotate(group_count=_count_of(ScoreGroup), rule_count=_count_of(ScoringRule))
        )

    @admin.display(description=_("Score groups"), ordering="group_count")
    def group_count(self, obj: Scorecard) -> SafeString:
        count = getattr(obj, "group_count", None)
        if count is None:
            count = ScoreGroup.every_scorecard.filter(scorecard=obj).count()
        return _list_link("scoregroup", obj, count)

    @admin.display(description=_("Rules"), ordering="rule_count")
    def rule_count(self, obj: Scorecard) -> SafeString:
        count = getattr(obj, "rule_count", None)
        if count is None:
            count = ScoringRule.every_scorecard.filter(scorecard=obj).count()
        return _list_link("scoringrule", obj, count)

    def has_delete_permission(self, request: HttpRequest, obj: Scorecard | None = None) -> bool:
        # Its ledger keeps it: a scorecard is retired (not active), never deleted.
        return False

    @admin.display(description=_("Score groups"))
    def groups(self, obj: Scorecard) -> SafeString:
        rows = ScoreGroup.every_scorecard.filter(scorecard=obj).order_by("min_score") if obj.pk else []
        return format_html_join(
            "",
            '<div><a href="{}">{}</a> ({}+)</div>',
            ((reverse("admin:scoring_scoregroup_change", args=[g.pk]), g.name, g.min_score) for g in rows),
        )

    @admin.display(description=_("Rules"))
    def rules(self, obj: Scorecard) -> SafeString:
        rows = ScoringRule.every_scorecard.filter(scorecard=obj).order_by("dimension", "key") if obj.pk else []
        return format_html_join(
            "",
            '<div><a href="{}">{}</a>: {} ({})</div>',
            (
                (
                    reverse("admin:scoring_scoringrule_change", args=[r.pk]),
                    r.name,
                    f"{r.points:+d}",
                    r.get_dimension_display(),
                )
                for r in rows
            ),
        )

    @admin.display(description=_("Decay"))
    def decay(self, obj: Scorecard) -> str:
        row = DecayPolicy.every_scorecard.filter(scorecard=obj).first() if obj.pk else None
        if row is None:
            return str(_("none"))
        url = reverse("admin:scoring_decaypolicy_change", args=[row.pk])
        return format_html('<a href="{}">{}</a>', url, row.get_kind_display())
