"""A trained predictive model: the featurizer, the classifier, its calibration, and each
lead's reasons. Pure (no database): services store it as bytes and load it back."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np

from scoring.predictive.features import FeatureSpec, LeadFacts, Matrix, featurize, label, lead_value_text

LOGISTIC = "logistic_regression"
GRADIENT_BOOSTING = "gradient_boosting"
ALGORITHM_LABELS = {
    LOGISTIC: "Logistic regression (regularised)",
    GRADIENT_BOOSTING: "Gradient-boosted trees",
}
# How each algorithm's reasons are computed, in words for the screens.
REASON_METHODS = {
    LOGISTIC: "coefficient times standardised value (exact: they add up to the model's log-odds)",
    GRADIENT_BOOSTING: (
        "path attribution (Saabas): each split on the lead's path credits its feature with the change in the"
        " expected log-odds; an approximation of SHAP values that also adds up to the model's log-odds"
    ),
}


@dataclass(frozen=True)
class Reason:
    column: str
    value: str
    effect: float  # in log-odds

    @property
    def text(self) -> str:
        sign = "+" if self.effect >= 0 else "\u2212"  # a minus sign
        return f"{sign} {label(self.column)}: {self.value}"

    def as_json(self) -> dict[str, object]:
        return {"column": label(self.column), "value": self.value, "effect": round(self.effect, 4), "text": self.text}


@dataclass
class _Tree:
    feature: np.ndarray[Any, Any]
    threshold: np.ndarray[Any, Any]
    left: np.ndarray[Any, Any]
    right: np.ndarray[Any, Any]
    leaf: np.ndarray[Any, Any]
    expected: np.ndarray[Any, Any]  # each node's expected value over the training rows reaching it


def _tree_of(nodes: Any) -> _Tree:
    expected = np.array(nodes["value"], dtype=np.float64)
    count = np.array(nodes["count"], dtype=np.float64)
    leaf = np.array(nodes["is_leaf"], dtype=bool)
    left = np.array(nodes["left"], dtype=np.int64)
    right = np.array(nodes["right"], dtype=np.int64)
    # Children come after their parent: fill internal nodes from the last to the first.
    for i in range(len(nodes) - 1, -1, -1):
        if not leaf[i]:
            expected[i] = (count[left[i]] * expected[left[i]] + count[right[i]] * expected[right[i]]) / max(
                count[left[i]] + count[right[i]], 1.0
            )
    return _Tree(
        np.array(nodes["feature_idx"], dtype=np.int64),
        np.array(nodes["num_threshold"], dtype=np.float64),
        left,
        right,
        leaf,
        expected,
    )


@dataclass
class PredictiveModel:
    spec: FeatureSpec
    algorithm: str
    estimator: Any
    calibrator: Any
    _trees: list[_Tree] | None = field(default=None, repr=False)

    # --- outputs ---------------------------------------------------------------

    def matrix(self, leads: list[LeadFacts]) -> Matrix:
        return featurize(self.spec, leads)

    def log_odds(self, x: Matrix) -> np.ndarray[Any, Any]:
        """The classifier's output before calibration."""
        return np.asarray(self.estimator.decision_function(x), dtype=np.float64)

    def probability(self, x: Matrix) -> np.ndarray[Any, Any]:
        """Calibrated probabilities of converting."""
        return np.clip(np.asarray(self.calibrator.predict(self.log_odds(x)), dtype=np.float64), 0.0, 1.0)

    # --- reasons ---------------------------------------------------------------

    def contributions(self, x: Matrix) -> tuple[float, Matrix]:
        """(base value, per-feature contributions): base + row sum = :meth:`log_odds`."""
        if self.algorithm == LOGISTIC:
            scaler, linear = self.estimator[0], self.estimator[-1]
            z = scaler.transform(x)
            return float(linear.intercept_[0]), np.asarray(z * linear.coef_[0], dtype=np.float64)
        return self._paths(x)

    def _paths(self, x: Matrix) -> tuple[float, Matrix]:
        if self._trees is None:
            self._trees = [_tree_of(predictors[0].nodes) for predictors in self.estimator._predictors]
        n = x.shape[0]
        out = np.zeros_like(x)
        base = float(np.ravel(self.estimator._baseline_prediction)[0])
        rows = np.arange(n)
        for tree in self._trees:
            base += float(tree.expected[0])
            node = np.zeros(n, dtype=np.int64)
            active = ~tree.leaf[node]
            while active.any():
                r = rows[active]
                here = node[r]
                feature = tree.feature[here]
                values = x[r, feature]
                go_left = values <= tree.threshold[here]
                there = np.where(go_left, tree.left[here], tree.right[here])
                np.add.at(out, (r, feature), tree.expected[there] - tree.expected[here])
                node[r] = there
                active = ~tree.leaf[node]
        return base, out

    def column_contributions(self, x: Matrix) -> tuple[float, Matrix, list[str]]:
        """Contributions summed per source column (all of a column's levels together)."""
        base, per_feature = self.contributions(x)
        columns = self.spec.source_columns
        index = {c: i for i, c in enumerate(columns)}
        group = np.zeros((len(self.spec.features), len(columns)))
        for j, f in enumerate(self.spec.features):
            group[j, index[f.column]] = 1.0
        return base, per_feature @ group, columns

    def reasons(self, leads: list[LeadFacts], x: Matrix, *, top: int = 3) -> list[list[Reason]]:
        """Each lead's strongest reasons, up and down, largest first."""
        _, per_column, columns = self.column_contributions(x)
        order = np.argsort(-np.abs(per_column), axis=1)[:, :top]
        found: list[list[Reason]] = []
        for row, lead in enumerate(leads):
            found.append(
                [
                    Reason(columns[j], lead_value_text(self.spec, lead, columns[j]), float(per_column[row, j]))
                    for j in order[row]
                    if abs(per_column[row, j]) > 1e-9
                ]
            )
        return found

    # --- storage -------------------------------------------------------------

    def dumps(self) -> bytes:
        buffer = io.BytesIO()
        joblib.dump(PredictiveModel(self.spec, self.algorithm, self.estimator, self.calibrator), buffer)
        return buffer.getvalue()


def loads(data: bytes) -> PredictiveModel:
    """A model that :meth:`PredictiveModel.dumps` wrote (only ever Leadflow's own: never load other bytes)."""
    model = joblib.load(io.BytesIO(data))
    if not isinstance(model, PredictiveModel):
        raise TypeError("not a Leadflow predictive model")
    return model
