"""Scorecards in the admin: their names, descriptions and whether they score, with the
groups, rules and decay each holds (written by the model file and versions)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from scoring.models import DecayPolicy, Scorecard, ScoreGroup, ScoringRule


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin[Scorecard]):
    list_display = ["name", "key", "active"]
    list_filter = ["active"]
    search_fields = ["key", "name"]
    fields = ["key", "name", "description", "active", "groups", "rules", "decay"]
    readonly_fields = ["groups", "rules", "decay"]

    def get_readonly_fields(self, request: HttpRequest, obj: Scorecard | None = None) -> list[str]:
        # The key names the scorecard in model files and reports: fixed once made.
        return [*self.readonly_fields, *(["key"] if obj is not None else [])]

    def has_delete_permission(self, request: HttpRequest, obj: Scorecard | None = None) -> bool:
        # Its ledger keeps it: a scorecard is retired (not active), never deleted.
        return False

    @admin.display(description=_("Score groups"))
    def groups(self, obj: Scorecard) -> SafeString:
        rows = ScoreGroup.every_scorecard.filter(scorecard=obj).order_by("min_score") if obj.pk else []
        return format_html_join("", "<div>{} ({}+)</div>", ((g.name, g.min_score) for g in rows))

    @admin.display(description=_("Rules"))
    def rules(self, obj: Scorecard) -> SafeString:
        rows = ScoringRule.every_scorecard.filter(scorecard=obj).order_by("dimension", "key") if obj.pk else []
        return format_html_join(
            "", "<div>{}: {} ({})</div>", ((r.name, f"{r.points:+d}", r.get_dimension_display()) for r in rows)
        )

    @admin.display(description=_("Decay"))
    def decay(self, obj: Scorecard) -> str:
        row = DecayPolicy.every_scorecard.filter(scorecard=obj).first() if obj.pk else None
        return str(row.get_kind_display()) if row is not None else str(_("none"))
