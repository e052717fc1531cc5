"""Which scorecard a rule, a score group or a decay policy belongs to, in the admin's lists
(a column and a filter) and forms (a choice among the version's own scorecards)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scoring.models import ModelVersion, Scorecard
from scoring.models.design import DEFAULT_SCORECARD_KEY


class ScorecardFilter(admin.SimpleListFilter):
    """By scorecard key: "default" for the default scorecard (no row), else a scorecard's key.
    The choices are the live model's scorecards."""

    title = _("scorecard")
    parameter_name = "scorecard"

    def scorecards(self) -> QuerySet[Scorecard]:
        return Scorecard.objects.order_by("key")

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        named = dict(self.scorecards().values_list("key", "name"))
        return [(DEFAULT_SCORECARD_KEY, gettext("Default scorecard")), *sorted(named.items())]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if value == DEFAULT_SCORECARD_KEY:
            return queryset.filter(scorecard__isnull=True)
        return queryset.filter(scorecard__key=value)


class DraftScorecardFilter(ScorecardFilter):
    """The same over drafts' rows: the choices are the drafts' scorecards (by key)."""

    def scorecards(self) -> QuerySet[Scorecard]:
        return Scorecard.all_versions.filter(version__status=ModelVersion.Status.DRAFT).order_by("key", "-version")


@admin.display(description=_("Scorecard"), ordering="scorecard__key")
def scorecard_column(obj: Model) -> str:
    card: Scorecard | None = getattr(obj, "scorecard", None)
    return str(card) if card is not None else gettext("Default scorecard")


def scorecard_choices(form: forms.BaseForm, version: ModelVersion | None) -> None:
    """Offer ``version``'s own scorecards (None: the live model's) in ``form``'s scorecard
    field, the default scorecard as its empty choice."""
    field = form.fields.get("scorecard")
    if not isinstance(field, forms.ModelChoiceField):
        return
    field.queryset = Scorecard.all_versions.filter(version=version).order_by("key")
    field.empty_label = gettext("Default scorecard")
    field.help_text = _("The scorecard this belongs to; empty for the default scorecard.")
