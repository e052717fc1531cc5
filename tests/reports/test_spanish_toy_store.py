"""The toy store in Spanish: examples/es/ holds the same model in other words, and the
demo history writes its people's words in the installation's language. A Spanish
installation scores, routes and nurtures exactly as an English one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from nurture.models import Sequence, Step
from reports import demo_history
from reports import demo_plan as plan
from routing.models import Outcome, RoutingRule
from scoring.models import Interaction, Lead, ScoreGroup, ScoringRule

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = ("toy_store.yaml", "toy_store_nurture.yaml", "toy_store_routing.yaml")
# What a person reads; everything else (keys, points, conditions, triggers, actions, waits)
# is the model itself.
WORDS = {"name", "description", "message", "subject", "text", "html", "language", "translations"}


def _without_words(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_words(v) for k, v in value.items() if k not in WORDS}
    if isinstance(value, list):
        return [_without_words(v) for v in value]
    return value


@pytest.mark.parametrize("name", FILES)
def test_the_spanish_files_are_the_english_ones_in_other_words(name: str) -> None:
    english = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    spanish = yaml.safe_load((EXAMPLES / "es" / name).read_text(encoding="utf-8"))
    assert _without_words(spanish) == _without_words(english)
    assert spanish != english


def _toy_store_import(folder: Path) -> None:
    call_command("scoring_model_import", "--publish", str(folder / FILES[0]))
    call_command("nurture_sequences_import", str(folder / FILES[1]))
    call_command("scoring_model_import", "--publish", str(folder / FILES[2]))


def _history(folder: Path, language: str) -> dict[str, Any]:
    """The toy store of ``folder`` with a small demo history in ``language``, as scores and
    groups by lead and what was written; undone afterwards, so the next one starts empty."""
    with transaction.atomic():
        _toy_store_import(folder)
        demo_history.demo_history_load(leads=60, days=20, seed=3, language=language)
        found = {
            "leads": {
                ext: (fit, engagement, group, stage)
                for ext, fit, engagement, group, stage in Lead.objects.values_list(
                    "external_id", "fit_score", "engagement_score", "score_group__key", "lifecycle_stage"
                )
            },
            "outcomes": sorted(Outcome.objects.values_list("lead__external_id", "kind", "at")),
            "reasons": set(Outcome.objects.exclude(reason="").values_list("reason", flat=True)),
            "webinars": {
                str(p.get("title"))
                for p in Interaction.objects.filter(type="webinar").values_list("properties", flat=True)
            },
            "groups": set(ScoreGroup.objects.values_list("name", flat=True)),
            "rules": set(ScoringRule.objects.values_list("name", flat=True)),
            "routing": set(RoutingRule.objects.values_list("name", flat=True)),
            "sequences": set(Sequence.objects.values_list("name", flat=True)),
            "step_languages": set(Step.objects.values_list("language", flat=True)),
        }
        transaction.set_rollback(True)
    return found


def test_a_spanish_installation_scores_and_routes_the_same_history_as_an_english_one() -> None:
    with override_settings(LANGUAGE_CODE="en"):
        english = _history(EXAMPLES, "")
    with override_settings(LANGUAGE_CODE="es"):
        spanish = _history(EXAMPLES / "es", "")
    assert english["leads"]
    # Only the words differ: the same scores, groups, stages and outcomes, lead by lead.
    assert spanish["leads"] == english["leads"]
    assert spanish["outcomes"] == english["outcomes"]
    assert spanish["reasons"] <= {
        *plan.SPANISH.reject_reasons,
        *plan.SPANISH.disqualify_reasons,
        *plan.SPANISH.lost_reasons,
    }
    assert spanish["webinars"] <= set(plan.SPANISH.webinars)
    assert spanish["groups"] == {"Nutrición", "Cliente frecuente", "Preferencial"}
    assert "Vive o trabaja en San José" in spanish["rules"]
    assert "Calificado por ventas" in spanish["routing"]
    assert "Nutrición: blogs, descargas y ofertas" in spanish["sequences"]
    assert spanish["step_languages"] == {"es"}
    assert not spanish["groups"] & english["groups"]


def test_the_demo_history_refuses_a_language_it_does_not_write() -> None:
    _toy_store_import(EXAMPLES)
    with pytest.raises(demo_history.DemoRefused, match="language"):
        demo_history.demo_history_load(leads=1, days=1, seed=1, language="fr")


def test_the_demo_plan_picks_the_same_things_in_either_language() -> None:
    """A seed decides everything; the language only which words say it (a small history
    has few outcomes, so the shoppers' words are checked on the plan)."""
    spanish_reasons = {*plan.SPANISH.reject_reasons, *plan.SPANISH.disqualify_reasons}
    said = set()
    for number in range(1, 200):
        english = plan.lead_plan(seed=1, number=number, days=90, words=plan.ENGLISH)
        spanish = plan.lead_plan(seed=1, number=number, days=90, words=plan.SPANISH)
        assert [(e.key, e.day, e.type) for e in spanish.events] == [(e.key, e.day, e.type) for e in english.events]
        assert spanish.fields == english.fields
        for visit in range(2):
            en = plan.sales_plan(seed=1, number=number, visit=visit, order=number, words=plan.ENGLISH)
            es = plan.sales_plan(seed=1, number=number, visit=visit, order=number, words=plan.SPANISH)
            assert (es.claim_after, es.close_draw, bool(es.rejected), bool(es.disqualified)) == (
                en.claim_after,
                en.close_draw,
                bool(en.rejected),
                bool(en.disqualified),
            )
            said |= {es.rejected, es.disqualified, es.lost_reason, *es.bant.values()}
    assert spanish_reasons <= said
    assert not said & {*plan.ENGLISH.reject_reasons, *plan.ENGLISH.lost_reasons}
