"""A trained predictive model: the featurizer, the classifier, its calibration, and each
lead's reasons. Pure (no database): services store it as bytes and load it back."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

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
class _Forest:
    """Every tree's nodes in one set of arrays (children indexes shifted to match)."""

    roots: np.ndarray[Any, Any]
    feature: np.ndarray[Any, Any]
    threshold: np.ndarray[Any, Any]
    left: np.ndarray[Any, Any]
    right: np.ndarray[Any, Any]
    leaf: np.ndarray[Any, Any]
    expected: np.ndarray[Any, Any]
    leaf_index: np.ndarray[Any, Any]  # node → its row in credits (leaves only)
    credits: np.ndarray[Any, Any]  # per leaf: what each feature on its path is credited with


def _forest_of(trees: list[_Tree], width: int) -> _Forest:
    offsets = np.cumsum([0] + [len(t.leaf) for t in trees[:-1]])
    leaf = np.concatenate([t.leaf for t in trees])
    leaf_index = np.full(len(leaf), -1, dtype=np.int64)
    leaf_index[leaf] = np.arange(int(leaf.sum()))
    credits = np.zeros((int(leaf.sum()), width))
    for tree, offset in zip(trees, offsets, strict=True):
        stack: list[tuple[int, dict[int, float]]] = [(0, {})]
        while stack:
            i, path = stack.pop()
            if tree.leaf[i]:
                for feature, credit in path.items():
                    credits[leaf_index[i + offset], feature] = credit
                continue
            f = int(tree.feature[i])
            for child in (int(tree.left[i]), int(tree.right[i])):
                step = dict(path)
                step[f] = step.get(f, 0.0) + float(tree.expected[child] - tree.expected[i])
                stack.append((child, step))
    return _Forest(
        roots=offsets.astype(np.int64),
        feature=np.concatenate([t.feature for t in trees]),
        threshold=np.concatenate([t.threshold for t in trees]),
        left=np.concatenate([t.left + o for t, o in zip(trees, offsets, strict=True)]),
        right=np.concatenate([t.right + o for t, o in zip(trees, offsets, strict=True)]),
        leaf=leaf,
        expected=np.concatenate([t.expected for t in trees]),
        leaf_index=leaf_index,
        credits=credits,
    )


@dataclass
class PredictiveModel:
    spec: FeatureSpec
    algorithm: str
    estimator: Any
    calibrator: Any
    _trees: _Forest | None = field(default=None, repr=False)

    # --- outputs ---------------------------------------------------------------

    def matrix(self, leads: list[LeadFacts]) -> Matrix:
        return featurize(self.spec, leads)

    def log_odds(self, x: Matrix) -> np.ndarray[Any, Any]:
        """The classifier's output before calibration."""
        # One thread: beside the workers' other processes, the trees' OpenMP threads wait on each other.
        with threadpool_limits(limits=1):
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

    def _forest(self) -> _Forest:
        if self._trees is None:
            trees = [_tree_of(p[0].nodes) for p in self.estimator._predictors]
            self._trees = _forest_of(trees, len(self.spec.features))
        return self._trees

    def _paths(self, x: Matrix) -> tuple[float, Matrix]:
        """Path attribution: the path to a leaf fixes what each feature on it is credited
        with, so each leaf's credits are worked out once (:func:`_forest_of`); here every
        (lead, tree) pair only walks down to its leaf, all at once, one level per pass."""
        forest = self._forest()
        n = x.shape[0]
        trees = len(forest.roots)
        node = np.tile(forest.roots, n)  # (lead, tree) pairs, lead-major
        row = np.repeat(np.arange(n), trees)
        active = np.flatnonzero(~forest.leaf[node])
        while active.size:
            here = node[active]
            go_left = x[row[active], forest.feature[here]] <= forest.threshold[here]
            node[active] = np.where(go_left, forest.left[here], forest.right[here])
            active = active[~forest.leaf[node[active]]]
        reached = sparse.csr_matrix(
            (np.ones(n * trees), forest.leaf_index[node], np.arange(0, n * trees + 1, trees)),
            shape=(n, forest.credits.shape[0]),
        )
        base = float(np.ravel(self.estimator._baseline_prediction)[0]) + float(forest.expected[forest.roots].sum())
        return base, np.asarray(reached @ forest.credits, dtype=np.float64)

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
        return self.scored(leads, x, top=top)[1]

    def scored(
        self, leads: list[LeadFacts], x: Matrix, *, top: int = 3
    ) -> tuple[np.ndarray[Any, Any], list[list[Reason]]]:
        """Calibrated probabilities and reasons together, from one pass over the model: the
        contributions add up to the log-odds, so the prediction comes with them."""
        base, per_column, columns = self.column_contributions(x)
        log_odds = base + per_column.sum(axis=1)
        probabilities = np.clip(np.asarray(self.calibrator.predict(log_odds), dtype=np.float64), 0.0, 1.0)
        order = np.argsort(-np.abs(per_column), axis=1)[:, :top]
        texts: dict[tuple[str, object], str] = {}
        found: list[list[Reason]] = []
        for row, lead in enumerate(leads):
            reasons: list[Reason] = []
            for j in order[row]:
                effect = float(per_column[row, j])
                if abs(effect) <= 1e-9:
                    continue
                column = columns[j]
                raw = lead.values.get(column)
                key = (column, raw if isinstance(raw, str | int | float | bool | None) else repr(raw))
                text = texts.get(key) if not column.startswith("activity:") and column in lead.values else None
                if text is None:
                    text = texts[key] = lead_value_text(self.spec, lead, column)
                reasons.append(Reason(column, text, effect))
            found.append(reasons)
        return probabilities, found

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
