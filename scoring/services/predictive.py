"""Predictive scoring's writes: training a version, choosing the active one, and keeping
each lead's probability (with its reasons) fresh, in batches.

Training reads the closed leads (:func:`scoring.outcomes.closed_outcomes`), learns with
:mod:`scoring.predictive.training` outside any transaction (it takes seconds), then
stores the version and makes it active in one short transaction. Refreshing reads a
batch of leads with two queries, scores them with one vectorised call, upserts their
predictions with one statement and records the watched probabilities they crossed as
lead events (the outbox routing reads), in the same transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import ngettext

from scoring import bulk, localized, outcomes
from scoring.models import (
    GroupTransition,
    Interaction,
    Lead,
    LeadPrediction,
    PredictiveSettings,
    ScoreEntry,
    TrainedModel,
)
from scoring.models.design import DIMENSION_CHOICES
from scoring.predictive import crossing, features
from scoring.predictive import model as fitted
from scoring.rules import email_domain

logger = logging.getLogger(__name__)

DIMENSIONS = dict(DIMENSION_CHOICES)

REFRESH_BATCH = 5000
# Lead fields the outcome itself writes: a won lead becomes a customer (the lifecycle
# stage), so the stage would tell the model the answer it is to learn. Never features.
OUTCOME_FIELDS = frozenset({"lifecycle_stage"})
LEAD_COLUMNS = ("id", *Lead.FIT_FIELDS, "attributes", "fit_score", "engagement_score", "created_at")


def settings_get() -> PredictiveSettings:
    found, _ = PredictiveSettings.objects.get_or_create(pk=1)
    return found


# --- reading leads as the model does ---------------------------------------------


def leads_facts(*, lead_ids: Sequence[int], now: datetime) -> tuple[list[int], list[features.LeadFacts], list[Any]]:
    """The leads (those of ``lead_ids`` that exist) as the featurizer reads them, with their
    creation times; two queries."""
    rows = list(Lead.objects.filter(bulk.ids_in("pk", lead_ids)).order_by("id").values(*LEAD_COLUMNS))
    windows = {w: now - timedelta(days=w) for w in features.WINDOWS if w}
    counts = (
        Interaction.objects.filter(bulk.ids_in("lead_id", [r["id"] for r in rows]))
        .values("lead_id", "type")
        .annotate(
            **{f"d{w}": Count("id", filter=Q(occurred_at__gte=since)) for w, since in windows.items()},
            total=Count("id"),
        )
    )
    activity: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for c in counts:
        activity[c["lead_id"]][c["type"]] = [*(c[f"d{w}"] for w in windows), c["total"]]
    ids: list[int] = []
    facts: list[features.LeadFacts] = []
    created: list[Any] = []
    for row in rows:
        fields = {name: row[name] for name in Lead.FIT_FIELDS}
        if fields.get("annual_revenue") is not None:
            fields["annual_revenue"] = float(fields["annual_revenue"])
        values = {k: v for k, v in fields.items() if k not in features.IDENTITY_FIELDS and k not in OUTCOME_FIELDS}
        values["email_domain"] = email_domain(fields.get("email"))
        for key, value in (row["attributes"] or {}).items():
            values[features.CUSTOM_PREFIX + key] = value
        ids.append(row["id"])
        facts.append(features.LeadFacts(values, activity.get(row["id"], {}), row["fit_score"], row["engagement_score"]))
        created.append(row["created_at"])
    return ids, facts, created


# --- training and versions ---------------------------------------------------------


@dataclass(frozen=True)
class RetrainStatus:
    due: bool
    new_outcomes: int
    minimum: int
    message: str

    @property
    def missing(self) -> int:
        return max(0, self.minimum - self.new_outcomes)


def active_model() -> TrainedModel | None:
    return TrainedModel.objects.filter(status=TrainedModel.Status.ACTIVE).first()


def retrain_status() -> RetrainStatus:
    """Whether enough leads were won or lost since the active model was trained."""
    minimum = settings_get().min_new_outcomes
    active = active_model()
    new = len(outcomes.closed_outcomes(since=active.created_at if active else None))
    if new >= minimum:
        due = ngettext(
            "{new} lead won or lost since the last training: retraining is due.",
            "{new} leads won or lost since the last training: retraining is due.",
            new,
        )
        return RetrainStatus(True, new, minimum, due.format(new=localized.number(new)))
    if active:
        text = ngettext(
            "{new} lead won or lost since the active model was trained; "
            "the next training needs {more} more (minimum {minimum}).",
            "{new} leads won or lost since the active model was trained; "
            "the next training needs {more} more (minimum {minimum}).",
            new,
        )
    else:
        text = ngettext(
            "{new} lead won or lost so far; the next training needs {more} more (minimum {minimum}).",
            "{new} leads won or lost so far; the next training needs {more} more (minimum {minimum}).",
            new,
        )
    return RetrainStatus(
        False,
        new,
        minimum,
        text.format(new=localized.number(new), more=localized.number(minimum - new), minimum=localized.number(minimum)),
    )


def model_train(
    *, excluded: Iterable[str] | None = None, now: datetime | None = None, activate: bool = True
) -> TrainedModel:
    """Train a new version from every closed lead and (by default) make it active, then
    refresh every lead's probability. ``excluded``: columns to leave out (default: the
    settings'). Raises :class:`training.NotEnoughOutcomes` when too few leads are closed."""
    # scikit-learn's estimators, loaded here rather than by every process that starts (web
    # workers, Celery workers, commands): about 3 s and 100 MB each, for what only training needs.
    from scoring.predictive import training

    now = now or timezone.now()
    config = settings_get()
    excluded = list(config.excluded_columns if excluded is None else excluded)
    closed = outcomes.closed_outcomes()
    training.minimum_check(list(closed.values()))
    ids, facts, created = leads_facts(lead_ids=sorted(closed), now=now)
    labels = [closed[i] for i in ids]
    trained = training.train(facts, labels, dates=created, excluded=excluded)
    with transaction.atomic():
        number = (TrainedModel.objects.select_for_update().aggregate(n=Max("number"))["n"] or 0) + 1
        version = TrainedModel.objects.create(
            number=number,
            algorithm=trained.model.algorithm,
            metrics=trained.metrics,
            features=trained.model.spec.names,
            excluded_columns=excluded,
            leads=len(ids),
            data_from=min(created) if created else None,
            data_to=max(created) if created else None,
            training_seconds=round(trained.seconds, 2),
            fitted=trained.model.dumps(),
        )
    if activate:
        return model_activate(model_id=version.pk, now=now)
    return version


def model_activate(*, model_id: int, now: datetime | None = None) -> TrainedModel:
    """Make this version the active one (choosing a newer one, or rolling back to an
    older one) and refresh every lead's probability with it."""
    with transaction.atomic():
        version = TrainedModel.objects.select_for_update().get(pk=model_id)
        TrainedModel.objects.filter(status=TrainedModel.Status.ACTIVE).exclude(pk=model_id).update(
            status=TrainedModel.Status.RETIRED
        )
        if version.status != TrainedModel.Status.ACTIVE:
            version.status = TrainedModel.Status.ACTIVE
            version.save(update_fields=["status"])
    predictions_refresh(now=now)
    return version


def retrain_if_due(*, now: datetime | None = None) -> TrainedModel | None:
    """The beat task's work: train when enough new outcomes exist; else nothing."""
    status = retrain_status()
    if not status.due:
        logger.info("predictive retraining not due: %s", status.message)
        return None
    return model_train(now=now)


# --- probabilities -----------------------------------------------------------------

# The active model, unpickled once per process: (id, created_at) → model.
_loaded: dict[tuple[int, datetime], fitted.PredictiveModel] = {}


def _model_of(version: TrainedModel) -> fitted.PredictiveModel:
    key = (version.pk, version.created_at)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = fitted.loads(bytes(version.fitted))
    return _loaded[key]


def predictions_refresh(
    *, lead_ids: Iterable[int] | None = None, now: datetime | None = None, batch_size: int = REFRESH_BATCH
) -> int:
    """Recompute the probabilities (and reasons) of these leads, or of every lead, with the
    active model, in batches. Returns how many leads were scored (0 without an active model)."""
    version = active_model()
    if version is None:
        return 0
    model = _model_of(version)
    now = now or timezone.now()
    config = settings_get()
    if lead_ids is None:
        every = Lead.objects.order_by("id").values_list("id", flat=True)
        ids = list(every)
    else:
        ids = sorted(set(lead_ids))
    done = 0
    for start in range(0, len(ids), batch_size):
        done += _refresh_batch(version, model, config, ids[start : start + batch_size], now)
    return done


def _refresh_batch(
    version: TrainedModel, model: fitted.PredictiveModel, config: PredictiveSettings, ids: list[int], now: datetime
) -> int:
    found, facts, _ = leads_facts(lead_ids=ids, now=now)
    if not found:
        return 0
    probabilities, reasons = model.scored(facts, model.matrix(facts))
    watched = [int(p) for p in config.watched_percents]
    with transaction.atomic():
        claimed = LeadPrediction.objects.select_for_update().filter(bulk.ids_in("lead", found))
        before: dict[int, list[int]] = dict(claimed.values_list("lead_id", "above"))
        rows: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        totals = dict(Lead.objects.filter(bulk.ids_in("pk", found)).values_list("pk", "total_score")) if watched else {}
        for lead_id, p, why in zip(found, probabilities.tolist(), reasons, strict=True):
            was = before.get(lead_id, [])
            above = sorted(crossing.above_after(was, p, watched, hysteresis=config.hysteresis_points))
            rows.append((lead_id, version.pk, round(p, 4), [r.as_json() for r in why], above, now))
            for percent, rose in crossing.crossings(was, above):
                total = totals.get(lead_id, 0)
                direction = GroupTransition.Direction.UP if rose else GroupTransition.Direction.DOWN
                events.append(
                    (lead_id, GroupTransition.Kind.PROBABILITY, percent, direction, total, total, "predictive", now)
                )
        bulk.values_upsert(
            LeadPrediction,
            ["lead", "model", "probability", "reasons", "above", "computed_at"],
            rows,
            unique=["lead"],
        )
        bulk.values_insert(
            GroupTransition,
            ["lead", "kind", "watch_percent", "direction", "previous_total", "total_score", "cause", "occurred_at"],
            events,
        )
    return len(found)


def predictions_refresh_changed(*, now: datetime | None = None) -> int:
    """Refresh the leads whose score moved (new ledger rows) or whose fields changed since
    the last run, and those without a prediction yet. Safe to run twice."""
    now = now or timezone.now()
    config = settings_get()
    if active_model() is None:
        return 0
    last_entry = ScoreEntry.objects.aggregate(m=Max("id"))["m"] or 0
    moved = set(
        ScoreEntry.objects.filter(id__gt=config.refreshed_through_entry, id__lte=last_entry).values_list(
            "lead_id", flat=True
        )
    )
    if config.refreshed_at is not None:
        moved |= set(Lead.objects.filter(updated_at__gte=config.refreshed_at).values_list("id", flat=True))
    moved |= set(Lead.objects.filter(prediction__isnull=True).values_list("id", flat=True))
    done = predictions_refresh(lead_ids=moved, now=now)
    PredictiveSettings.objects.filter(pk=config.pk).update(refreshed_through_entry=last_entry, refreshed_at=now)
    return done


def probability_watches_set(*, percents: Iterable[int]) -> None:
    """The probabilities (percent) routing's rules watch (routing calls this when its rules change)."""
    config = settings_get()
    config.watched_percents = sorted({int(p) for p in percents})
    config.save(update_fields=["watched_percents"])


# --- insights (read by the reports) --------------------------------------------------

INSIGHT_SAMPLE = 5000


def insights(*, now: datetime | None = None) -> dict[str, Any]:
    """What the predictive report shows: the active model's quality and signals, the
    spread of the leads' probabilities, and the points it suggests for each scoring rule."""
    from scoring import selectors
    from scoring.models import ScoringRule
    from scoring.predictive import points

    now = now or timezone.now()
    status = retrain_status()
    version = active_model()
    found: dict[str, Any] = {"status": status, "version": version}
    if version is None:
        return found
    model = _model_of(version)
    probabilities = list(LeadPrediction.objects.filter(model=version).values_list("probability", flat=True))
    bins = [0] * 10
    for p in probabilities:
        bins[min(int(p * 10), 9)] += 1
    found["distribution"] = {"labels": [f"{10 * i}-{10 * i + 10}%" for i in range(10)], "values": bins}
    found["algorithm_label"] = fitted.ALGORITHM_LABELS.get(version.algorithm, version.algorithm)
    found["reason_method"] = fitted.REASON_METHODS.get(version.algorithm, "")
    closed = sorted(outcomes.closed_outcomes())[-INSIGHT_SAMPLE:]
    ids, facts, _ = leads_facts(lead_ids=closed, now=now)
    rules = selectors.rules_pure()
    suggestions: list[dict[str, Any]] = []
    if ids and rules:
        values = selectors.leads_rule_values(lead_ids=ids)
        odds = model.log_odds(model.matrix(facts))
        made = points.suggest(
            rules,
            [values.get(i, {}) for i in ids],
            [frozenset(t for t, c in f.activity.items() if c and c[-1]) for f in facts],
            list(odds),
        )
        names = dict(ScoringRule.objects.values_list("id", "name"))
        by_id = {r.id: r for r in rules}
        suggestions = [
            {
                "rule": names.get(s.rule_id, str(s.rule_id)),
                "dimension": by_id[s.rule_id].dimension.value,
                "dimension_label": str(DIMENSIONS.get(by_id[s.rule_id].dimension.value, "")),
                "points": by_id[s.rule_id].points,
                "suggested": s.points,
                "matched": s.matched,
            }
            for s in made
        ]
    found["suggestions"] = suggestions
    found["points_to_double"] = points.POINTS_TO_DOUBLE_ODDS
    return found
