"""Predictive scoring's pure parts: features, training, reasons, crossings, suggested points."""

from __future__ import annotations

import functools
import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import rules as pure
from scoring.predictive import crossing, features, points, training
from scoring.predictive.model import GRADIENT_BOOSTING, LOGISTIC, SMALL_BATCH, PredictiveModel, loads
from tests.scoring.predictive_data import synthetic


def test_columns_are_typed_from_their_values_with_rare_levels_bucketed_and_missing_flagged() -> None:
    leads, _ = synthetic(400)
    spec = features.featurizer_fit(leads)
    kinds = {c.name: c.kind for c in spec.columns}
    assert kinds["attributes.plan"] is features.Kind.CATEGORICAL
    assert kinds["attributes.seats"] is features.Kind.NUMERIC
    assert kinds["attributes.newsletter"] is features.Kind.BOOLEAN
    names = spec.names
    assert "country = (other)" in names
    assert not any("rare-" in n for n in names)
    assert "seats missing" in names
    assert {"page_view last 7 days", "page_view in all", "fit score", "engagement score"} <= set(names)
    x = features.featurize(spec, leads)
    assert x.shape == (400, len(names))
    # Each lead is exactly one of the plans it may be.
    plan_columns = [i for i, n in enumerate(names) if n.startswith("plan = ")]
    assert (x[:, plan_columns].sum(axis=1) == 1).all()


def test_excluded_columns_are_really_absent_from_the_features() -> None:
    leads, won = synthetic(400)
    excluded = ["sales_verdict", "attributes.country", "activity:page_view", "fit score"]
    trained = training.train(leads, won, excluded=excluded, candidates=(LOGISTIC,))
    spec = trained.model.spec
    assert not {"attributes.sales_verdict", "attributes.country", "activity:page_view", "fit score"} & set(
        spec.source_columns
    )
    assert not any(n.startswith(("sales_verdict", "country", "page_view", "fit score")) for n in spec.names)
    assert not any(i["column"] in {"sales_verdict", "country"} for i in trained.metrics["importance"])
    # And it shows: the leak, left in, makes a perfect model; left out, an honest one.
    leaky = training.train(leads, won, candidates=(LOGISTIC,))
    assert leaky.metrics["cv_auc"] > 0.99 > trained.metrics["cv_auc"]


def test_training_learns_a_history_with_columns_of_its_own_and_keeps_the_better_model() -> None:
    leads, won = synthetic(800)
    trained = training.train(leads, won, excluded=["sales_verdict"])
    metrics = trained.metrics
    assert set(metrics["compared"]) == {LOGISTIC, GRADIENT_BOOSTING}
    best = max(metrics["compared"], key=lambda k: metrics["compared"][k]["cv_auc"])
    assert trained.model.algorithm == best
    assert metrics["cv_auc"] > 0.75
    assert 0 < metrics["brier"] < 0.25
    assert len(metrics["calibration"]["predicted"]) == len(metrics["calibration"]["observed"]) > 3
    top = [i["column"] for i in metrics["importance"][:3]]
    assert "plan" in top or "seats" in top
    # The stored bytes give the same probabilities back.
    x = trained.model.matrix(leads[:50])
    again = loads(trained.model.dumps())
    assert np.allclose(again.probability(x), trained.model.probability(x))


def test_time_ordered_holdout_is_measured_when_leads_have_dates() -> None:
    from datetime import UTC, datetime, timedelta

    leads, won = synthetic(500)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    dates = [start + timedelta(hours=i) for i in range(len(leads))]
    trained = training.train(leads, won, dates=dates, excluded=["sales_verdict"], candidates=(LOGISTIC,))
    assert 0.6 < trained.metrics["holdout_auc"] <= 1.0
    assert training.train(leads, won, excluded=["sales_verdict"], candidates=(LOGISTIC,)).metrics["holdout_auc"] is None


@pytest.mark.parametrize("algorithm", [LOGISTIC, GRADIENT_BOOSTING])
def test_reasons_and_the_base_value_add_up_to_the_models_log_odds(algorithm: str) -> None:
    leads, won = synthetic(500)
    model = training.train(leads, won, excluded=["sales_verdict"], candidates=(algorithm,)).model
    x = model.matrix(leads)
    base, contributions = model.contributions(x)
    assert np.allclose(base + contributions.sum(axis=1), model.log_odds(x), atol=1e-6)
    _, per_column, _ = model.column_contributions(x)
    assert np.allclose(per_column.sum(axis=1), contributions.sum(axis=1))
    reasons = model.reasons(leads[:5], x[:5])
    assert all(1 <= len(r) <= 3 for r in reasons)
    first = reasons[0][0]
    assert first.text.startswith("+" if first.effect > 0 else "\u2212")


def test_too_few_outcomes_say_how_many_more_are_needed() -> None:
    leads, _ = synthetic(30)
    with pytest.raises(training.NotEnoughOutcomes, match="needs at least 10 of each") as raised:
        training.train(leads, [True] * 4 + [False] * 26)
    assert raised.value.missing == 6


@given(
    st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=30),
    st.sets(st.integers(min_value=1, max_value=99), max_size=3),
)
def test_a_probability_crossing_fires_once_per_real_crossing(path: list[float], watched: set[int]) -> None:
    above: set[int] = set()
    for p in path:
        after = crossing.above_after(above, p, watched, hysteresis=5)
        for percent, rose in crossing.crossings(above, after):
            # Rising only on reaching the value; falling only clearly below it (hysteresis).
            assert (p * 100 >= percent) if rose else (p * 100 < percent - 5)
        above = after


def test_hovering_at_the_border_does_not_fire_again_and_again() -> None:
    above: set[int] = set()
    fired = []
    for p in [0.69, 0.71, 0.68, 0.72, 0.66, 0.64, 0.71]:
        after = crossing.above_after(above, p, [70], hysteresis=5)
        fired += crossing.crossings(above, after)
        above = after
    assert fired == [(70, True), (70, False), (70, True)]


def test_suggested_points_favour_rules_whose_leads_the_model_rates_higher() -> None:
    good = pure.Rule(1, pure.Dimension.FIT, 5, (pure.Condition("attributes.plan", pure.Operator.EQUALS, "team"),))
    clicks = pure.Rule(2, pure.Dimension.ENGAGEMENT, 5, interaction_types=frozenset({"email_click"}))
    values = [{"attributes.plan": "team" if i % 2 else "starter"} for i in range(40)]
    types = [frozenset({"email_click"}) if i < 20 else frozenset() for i in range(40)]
    odds = [1.0 if i % 2 else -1.0 for i in range(40)]
    found = points.suggest([good, clicks], values, types, odds)
    assert found[0].points == round(10 * 2 / np.log(2))
    assert found[0].matched == 20
    assert found[1].points == 0


def test_a_column_holding_lists_is_read_by_its_text_and_mixed_types_stay_apart() -> None:
    leads = [
        features.LeadFacts({"attributes.tags": ["a"] if i % 2 else ["b"], "attributes.flag": i % 2 == 0})
        for i in range(40)
    ]
    spec = features.featurizer_fit(leads)
    x = features.featurize(spec, leads)
    tags = [i for i, n in enumerate(spec.names) if n.startswith("tags = ")]
    assert len(tags) == 2
    assert (x[:, tags].sum(axis=1) == 1).all()
    flag = spec.names.index("flag")
    assert list(x[:4, flag]) == [1.0, 0.0, 1.0, 0.0]


@functools.cache
def _trained(algorithm: str) -> tuple[list[features.LeadFacts], PredictiveModel]:
    leads, won = synthetic(400)
    # Values of several types in one column, a list, and activity only some leads have:
    # what the batch path groups by value must still read each lead's own.
    mixed = [
        features.LeadFacts(
            {**lead.values, "attributes.score": [1, 1.0, True, "1", None, ["a"]][i % 6]},
            lead.activity if i % 3 else {},
            lead.fit_score,
            lead.engagement_score,
        )
        for i, lead in enumerate(leads)
    ]
    return mixed, training.train(mixed, won, excluded=["sales_verdict"], candidates=(algorithm,)).model


@pytest.mark.parametrize("algorithm", [LOGISTIC, GRADIENT_BOOSTING])
@settings(max_examples=25, deadline=None)
@given(picked=st.lists(st.integers(min_value=0, max_value=399), min_size=1, max_size=80))
def test_a_batch_scores_each_lead_as_scoring_it_alone_does(algorithm: str, picked: list[int]) -> None:
    leads, model = _trained(algorithm)
    batch = [leads[i] for i in picked]
    probabilities, reasons = model.scored(batch, model.matrix(batch))
    for lead, p, why in zip(batch, probabilities, reasons, strict=True):
        alone_p, alone_why = model.scored([lead], model.matrix([lead]))
        assert p == pytest.approx(alone_p[0], abs=1e-12)
        assert [(r.column, r.value) for r in why] == [(r.column, r.value) for r in alone_why[0]]
        assert [r.effect for r in why] == pytest.approx([r.effect for r in alone_why[0]], abs=1e-9)


@pytest.mark.parametrize("algorithm", [LOGISTIC, GRADIENT_BOOSTING])
def test_a_batchs_reasons_with_every_column_add_up_to_the_models_log_odds(algorithm: str) -> None:
    leads, model = _trained(algorithm)
    x = model.matrix(leads)
    base, _, columns = model.column_contributions(x)
    _, reasons = model.scored(leads, x, top=len(columns))
    odds = model.log_odds(x)
    for row, why in enumerate(reasons):
        assert base + sum(r.effect for r in why) == pytest.approx(odds[row], abs=1e-6)
        # Largest first, each with the lead's own value in words.
        assert [abs(r.effect) for r in why] == sorted((abs(r.effect) for r in why), reverse=True)
        assert {r.column: r.value for r in why}.items() <= {
            c: features.lead_value_text(model.spec, leads[row], c) for c in columns
        }.items()


def test_the_small_batch_walk_reaches_the_leaves_scikit_learn_reaches() -> None:
    leads, model = _trained(GRADIENT_BOOSTING)
    x = model.matrix(leads)
    assert len(leads) > SMALL_BATCH
    assert (model._walk(model._forest(), x) == model.leaves(x)).all()


def test_scoring_a_batch_leaves_the_processs_garbage_collection_as_it_found_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch pauses Python's cycle collector while it runs (its cost in a worker holding
    Django and scikit-learn); a worker must get it back afterwards, even when a batch fails,
    and a caller that had it off must not find it switched on."""
    leads, model = _trained(GRADIENT_BOOSTING)
    assert gc.isenabled()
    model.scored(leads[:50], model.matrix(leads[:50]))
    assert gc.isenabled()
    x = model.matrix(leads[:50])
    with monkeypatch.context() as patched:
        patched.setattr(model, "column_contributions", lambda x: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            model.scored(leads[:50], x)
    assert gc.isenabled()
    gc.disable()
    try:
        model.scored(leads[:50], model.matrix(leads[:50]))
        assert not gc.isenabled()
    finally:
        gc.enable()
