"""Training: two kinds of model compared on the company's own closed leads, the better
kept and calibrated. Pure (no database): services read the leads and store the result.

Both candidates are judged by 5-fold stratified cross-validation (the area under the ROC
curve of out-of-fold predictions) and, when enough leads carry dates, by a time-ordered
hold-out (trained on the older 80%, tested on the newest 20%), which is what the model
will face: leads newer than those it learned from. The better by cross-validation is
refitted on every lead, and its log-odds are calibrated into probabilities by isotonic
regression on the out-of-fold predictions (so a lead shown at 30% converts about 30% of
the time). The Brier score and calibration curve are those of cross-fitted calibration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from scoring.predictive.features import LeadFacts, featurize, featurizer_fit, label
from scoring.predictive.model import ALGORITHM_LABELS, GRADIENT_BOOSTING, LOGISTIC, PredictiveModel

FOLDS = 5
HOLDOUT_SHARE = 0.2


class NotEnoughOutcomes(ValueError):
    """Too few won or lost leads to learn from; says how many more are needed."""

    def __init__(self, message: str, *, missing: int) -> None:
        super().__init__(message)
        self.missing = missing


def logistic_regression(seed: int) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=3000))


def gradient_boosting(seed: int) -> Any:
    # Fixed rounds (no early stopping): the same data gives the same model.
    return HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=120,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


CANDIDATES: dict[str, Callable[[int], Any]] = {LOGISTIC: logistic_regression, GRADIENT_BOOSTING: gradient_boosting}


@dataclass(frozen=True)
class Trained:
    model: PredictiveModel
    metrics: dict[str, Any]
    seconds: float


def _out_of_fold(make: Callable[[int], Any], x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], seed: int) -> Any:
    scores = np.zeros(len(y))
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, y):
        scores[test] = make(seed).fit(x[train], y[train]).decision_function(x[test])
    return scores


def _cross_calibrated(scores: np.ndarray[Any, Any], y: np.ndarray[Any, Any], seed: int) -> Any:
    """Calibrated out-of-fold probabilities, each calibrated by the other folds' leads."""
    out = np.zeros(len(y))
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed + 1).split(scores, y):
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores[train], y[train])
        out[test] = iso.predict(scores[test])
    return out


def _holdout(
    make: Callable[[int], Any],
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    dates: Sequence[datetime | None],
    seed: int,
) -> float | None:
    known = [i for i, d in enumerate(dates) if d is not None]
    if len(known) < 0.9 * len(y):
        return None
    order = sorted(known, key=lambda i: dates[i])  # type: ignore[arg-type,return-value]
    cut = int(len(order) * (1 - HOLDOUT_SHARE))
    train, test = np.array(order[:cut]), np.array(order[cut:])
    if len(set(y[train])) < 2 or len(set(y[test])) < 2 or dates[order[0]] == dates[order[-1]]:
        return None
    return float(roc_auc_score(y[test], make(seed).fit(x[train], y[train]).decision_function(x[test])))


def minimum_check(outcomes: Sequence[bool], *, minimum_each: int = 10) -> None:
    won = sum(1 for o in outcomes if o)
    lost = len(outcomes) - won
    missing = max(0, minimum_each - won) + max(0, minimum_each - lost)
    if missing:
        raise NotEnoughOutcomes(
            f"outcomes: {won} won and {lost} lost leads; training needs at least {minimum_each} of each"
            f" ({missing} more).",
            missing=missing,
        )


def train(
    leads: Sequence[LeadFacts],
    outcomes: Sequence[bool],
    *,
    dates: Sequence[datetime | None] | None = None,
    excluded: Sequence[str] = (),
    seed: int = 0,
    candidates: Sequence[str] = (LOGISTIC, GRADIENT_BOOSTING),
) -> Trained:
    """Learn from these closed leads (``outcomes[i]``: lead i was won) and keep the better model."""
    # One thread: on a busy machine the trees' OpenMP threads wait on each other far more than they help.
    with threadpool_limits(limits=1):
        return _train(leads, outcomes, dates=dates, excluded=excluded, seed=seed, candidates=candidates)


def _train(
    leads: Sequence[LeadFacts],
    outcomes: Sequence[bool],
    *,
    dates: Sequence[datetime | None] | None,
    excluded: Sequence[str],
    seed: int,
    candidates: Sequence[str],
) -> Trained:
    started = time.perf_counter()
    minimum_check(outcomes)
    leads = list(leads)
    spec = featurizer_fit(leads, excluded=excluded)
    if not spec.features:
        raise ValueError("columns: nothing is left to learn from once the excluded columns are left out.")
    x = featurize(spec, leads)
    y = np.array([1 if o else 0 for o in outcomes], dtype=np.int64)
    compared: dict[str, dict[str, Any]] = {}
    scores: dict[str, Any] = {}
    for name in candidates:
        scores[name] = _out_of_fold(CANDIDATES[name], x, y, seed)
        compared[name] = {
            "label": ALGORITHM_LABELS[name],
            "cv_auc": round(float(roc_auc_score(y, scores[name])), 4),
            "holdout_auc": _holdout(CANDIDATES[name], x, y, dates, seed) if dates is not None else None,
        }
    best = max(candidates, key=lambda name: (compared[name]["cv_auc"], name == LOGISTIC))
    calibrated = _cross_calibrated(scores[best], y, seed)
    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores[best], y)
    estimator = CANDIDATES[best](seed).fit(x, y)
    model = PredictiveModel(spec, best, estimator, calibrator)
    prob_true, prob_pred = calibration_curve(y, calibrated, n_bins=10, strategy="quantile")
    _, per_column, columns = model.column_contributions(x[: min(len(x), 3000)])
    weight = np.abs(per_column).mean(axis=0)
    total = float(weight.sum()) or 1.0
    importance = sorted(
        ({"column": label(c), "share": round(float(w) / total, 4)} for c, w in zip(columns, weight, strict=True)),
        key=lambda item: -float(item["share"]),  # type: ignore[arg-type]
    )
    metrics: dict[str, Any] = {
        "cv_auc": compared[best]["cv_auc"],
        "holdout_auc": compared[best]["holdout_auc"],
        "brier": round(float(brier_score_loss(y, calibrated)), 4),
        "base_rate": round(float(y.mean()), 4),
        "leads": len(y),
        "won": int(y.sum()),
        "compared": compared,
        "calibration": {
            "predicted": [round(float(v), 4) for v in prob_pred],
            "observed": [round(float(v), 4) for v in prob_true],
        },
        "importance": importance,
        "features": len(spec.features),
    }
    return Trained(model, metrics, time.perf_counter() - started)
