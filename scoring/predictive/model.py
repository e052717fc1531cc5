"""A trained predictive model: the featurizer, the classifier, its calibration, and each
lead's reasons. Pure (no database): services store it as bytes and load it back."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import joblib
import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from scoring.collector import collector_paused
from scoring.event_types import gettext_noop
from scoring.predictive.features import (
    ENGAGEMENT_SCORE,
    FIT_SCORE,
    FeatureSpec,
    LeadFacts,
    Matrix,
    featurize,
    label,
    lead_value_text,
)

LOGISTIC = "logistic_regression"
GRADIENT_BOOSTING = "gradient_boosting"
ALGORITHM_LABELS = {
    LOGISTIC: gettext_noop("Logistic regression (regularised)"),
    GRADIENT_BOOSTING: gettext_noop("Gradient-boosted trees"),
}
# How each algorithm's reasons are computed, in words for the screens.
REASON_METHODS = {
    LOGISTIC: gettext_noop("coefficient times standardised value (exact: they add up to the model's log-odds)"),
    GRADIENT_BOOSTING: gettext_noop(
        "path attribution (Saabas): each split on the lead's path credits its feature with the change in the"
        " expected log-odds; an approximation of SHAP values that also adds up to the model's log-odds"
    ),
}


class Reason(NamedTuple):
    """One of a lead's reasons: a column, the lead's value in it, and its effect. A named
    tuple: a batch makes three per lead, and a tuple is the cheapest object to make."""

    column: str
    value: str
    effect: float  # in log-odds

    @property
    def text(self) -> str:
        sign = "+" if self.effect >= 0 else "\u2212"  # a minus sign
        return f"{sign} {label(self.column)}: {self.value}"

    def as_json(self) -> dict[str, object]:
        return {"column": label(self.column), "value": self.value, "effect": round(self.effect, 4), "text": self.text}


# Batches up to this many leads walk the trees in numpy (:meth:`PredictiveModel._walk`);
# larger ones take scikit-learn's compiled walk, tree by tree.
SMALL_BATCH = 32


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
    """What path attribution needs of the trees: for each tree, scikit-learn's own predictor
    with each leaf's value replaced by the leaf's row in ``credits`` (so that predicting
    gives the leaf a lead reaches, by scikit-learn's own walk: thresholds, missing values,
    categories), and per leaf what each feature on its path is credited with."""

    predictors: list[Any]
    credits: np.ndarray[Any, Any]  # (leaves, features)
    expected: float  # the sum of the trees' root values: the base before the first split
    # Every tree's nodes in one set of arrays, for walking a few leads without scikit-learn's
    # per-call cost (children shifted to match; ``leaf_index``: a leaf's row in ``credits``).
    roots: np.ndarray[Any, Any]
    feature: np.ndarray[Any, Any]
    threshold: np.ndarray[Any, Any]
    left: np.ndarray[Any, Any]
    right: np.ndarray[Any, Any]
    leaf: np.ndarray[Any, Any]
    leaf_index: np.ndarray[Any, Any]
    grouped: tuple[Matrix, Matrix] | None = None  # (group, credits @ group) of the last group asked for


def _forest_of(estimator: Any, width: int) -> _Forest:
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    originals = [p[0] for p in estimator._predictors]
    trees = [_tree_of(p.nodes) for p in originals]
    sizes = [int(t.leaf.sum()) for t in trees]
    credits = np.zeros((sum(sizes), width))
    predictors: list[Any] = []
    leaf_indexes: list[np.ndarray[Any, Any]] = []
    first = 0
    for tree, original, size in zip(trees, originals, sizes, strict=True):
        leaf_index = np.full(len(tree.leaf), -1, dtype=np.int64)
        leaf_index[tree.leaf] = np.arange(first, first + size)
        leaf_indexes.append(leaf_index)
        stack: list[tuple[int, dict[int, float]]] = [(0, {})]
        while stack:
            i, path = stack.pop()
            if tree.leaf[i]:
                for feature, credit in path.items():
                    credits[leaf_index[i], feature] = credit
                continue
            f = int(tree.feature[i])
            for child in (int(tree.left[i]), int(tree.right[i])):
                step = dict(path)
                step[f] = step.get(f, 0.0) + float(tree.expected[child] - tree.expected[i])
                stack.append((child, step))
        nodes = original.nodes.copy()
        nodes["value"] = np.where(tree.leaf, leaf_index, 0)
        predictors.append(TreePredictor(nodes, original.binned_left_cat_bitsets, original.raw_left_cat_bitsets))
        first += size
    offsets = np.cumsum([0] + [len(t.leaf) for t in trees[:-1]]).astype(np.int64)
    return _Forest(
        predictors,
        credits,
        float(sum(t.expected[0] for t in trees)),
        roots=offsets,
        feature=np.concatenate([t.feature for t in trees]),
        threshold=np.concatenate([t.threshold for t in trees]),
        left=np.concatenate([t.left + o for t, o in zip(trees, offsets, strict=True)]),
        right=np.concatenate([t.right + o for t, o in zip(trees, offsets, strict=True)]),
        leaf=np.concatenate([t.leaf for t in trees]),
        leaf_index=np.concatenate(leaf_indexes),
    )


@dataclass
class PredictiveModel:
    spec: FeatureSpec
    algorithm: str
    estimator: Any
    calibrator: Any
    _trees: _Forest | None = field(default=None, repr=False)
    _group: Matrix | None = field(default=None, repr=False)  # features by source columns, 0/1

    # --- outputs ---------------------------------------------------------------

    def matrix(self, leads: list[LeadFacts]) -> Matrix:
        with collector_paused():
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
        return self._contributions(x, None)

    def _contributions(self, x: Matrix, group: Matrix | None) -> tuple[float, Matrix]:
        """:meth:`contributions`, summed by ``group`` (a features by outputs matrix) when given: the
        sum is taken on the model's side (coefficients, leaf credits), before the batch."""
        if self.algorithm == LOGISTIC:
            scaler, linear = self.estimator[0], self.estimator[-1]
            weights = linear.coef_[0] if group is None else linear.coef_[0][:, None] * group
            z = scaler.transform(x)
            per = z * weights if group is None else z @ weights
            return float(linear.intercept_[0]), np.asarray(per, dtype=np.float64)
        return self._paths(x, group)

    def _forest(self) -> _Forest:
        if self._trees is None:
            self._trees = _forest_of(self.estimator, len(self.spec.features))
        return self._trees

    def leaves(self, x: Matrix) -> np.ndarray[Any, Any]:
        """(leads, trees): the row in the forest's credits of the leaf each lead reaches in
        each tree, found by scikit-learn's compiled walk, the one its predictions take."""
        forest = self._forest()
        if x.shape[0] <= SMALL_BATCH:
            return self._walk(forest, x)
        # Column-major: each tree reads a few features of every lead (several times faster).
        x = np.asfortranarray(x, dtype=np.float64)
        known, f_idx_map = self.estimator._bin_mapper.make_known_categories_bitsets()
        out = np.empty((x.shape[0], len(forest.predictors)), dtype=np.int64)
        for t, predictor in enumerate(forest.predictors):
            out[:, t] = predictor.predict(x, known, f_idx_map, 1)
        return out

    @staticmethod
    def _walk(forest: _Forest, x: Matrix) -> np.ndarray[Any, Any]:
        """:meth:`leaves` for a few leads: every (lead, tree) pair walks down at once, one
        level per pass (scikit-learn's walk costs tens of microseconds a call, per tree)."""
        n, trees = x.shape[0], len(forest.roots)
        node = np.tile(forest.roots, n)  # lead-major
        row = np.repeat(np.arange(n), trees)
        active = np.flatnonzero(~forest.leaf[node])
        while active.size:
            here = node[active]
            go_left = x[row[active], forest.feature[here]] <= forest.threshold[here]
            node[active] = np.where(go_left, forest.left[here], forest.right[here])
            active = active[~forest.leaf[node[active]]]
        return np.asarray(forest.leaf_index[node].reshape(n, trees))

    def _paths(self, x: Matrix, group: Matrix | None) -> tuple[float, Matrix]:
        """Path attribution: the path to a leaf fixes what each feature on it is credited
        with, so each leaf's credits are worked out once (:func:`_forest_of`); a batch only
        finds the leaf each lead reaches in each tree and adds those leaves' credits up."""
        forest = self._forest()
        leaves = self.leaves(x)
        n, trees = leaves.shape
        reached = sparse.csr_matrix(
            (np.ones(n * trees), leaves.ravel(), np.arange(0, n * trees + 1, trees)),
            shape=(n, forest.credits.shape[0]),
        )
        base = float(np.ravel(self.estimator._baseline_prediction)[0]) + forest.expected
        if group is None:
            credits = forest.credits
        else:  # per source column, once per model: the same group comes with every batch
            if forest.grouped is None or forest.grouped[0] is not group:
                forest.grouped = (group, forest.credits @ group)
            credits = forest.grouped[1]
        return base, np.asarray(reached @ credits, dtype=np.float64)

    def column_contributions(self, x: Matrix) -> tuple[float, Matrix, list[str]]:
        """Contributions summed per source column (all of a column's levels together)."""
        columns = self.spec.source_columns
        if self._group is None:
            index = {c: i for i, c in enumerate(columns)}
            group = np.zeros((len(self.spec.features), len(columns)))
            for j, f in enumerate(self.spec.features):
                group[j, index[f.column]] = 1.0
            self._group = group
        base, per_column = self._contributions(x, self._group)
        return base, per_column, columns

    def reasons(self, leads: list[LeadFacts], x: Matrix, *, top: int = 3) -> list[list[Reason]]:
        """Each lead's strongest reasons, up and down, largest first."""
        return self.scored(leads, x, top=top)[1]

    def scored(
        self, leads: list[LeadFacts], x: Matrix, *, top: int = 3
    ) -> tuple[np.ndarray[Any, Any], list[list[Reason]]]:
        """Calibrated probabilities and reasons together, from one pass over the model: the
        contributions add up to the log-odds, so the prediction comes with them. The whole
        batch at once: each lead's strongest columns by one sort, and each column's value
        texts worked out for the leads it is a reason of, each distinct value once."""
        with collector_paused():
            return self._scored(leads, x, top=top)

    def _scored(
        self, leads: list[LeadFacts], x: Matrix, *, top: int
    ) -> tuple[np.ndarray[Any, Any], list[list[Reason]]]:
        base, per_column, columns = self.column_contributions(x)
        log_odds = base + per_column.sum(axis=1)
        probabilities = np.clip(np.asarray(self.calibrator.predict(log_odds), dtype=np.float64), 0.0, 1.0)
        order = np.argsort(-np.abs(per_column), axis=1, kind="stable")[:, :top]
        effects = np.take_along_axis(per_column, order, axis=1)
        shown = np.abs(effects) > 1e-9
        width = order.shape[1]
        # Flat lists: a list per lead would only be more objects for the garbage collector to visit.
        texts: list[str] = [""] * order.size
        flat = order.ravel()
        for j in np.unique(flat[shown.ravel()]).tolist():
            at = np.flatnonzero((flat == j) & shown.ravel())
            for k, text in zip(at.tolist(), self._value_texts(leads, columns[j], at // width), strict=True):
                texts[k] = text
        named = [columns[j] for j in flat.tolist()]
        values = effects.ravel().tolist()
        keep = shown.ravel().tolist()
        found = [
            [Reason(named[k], texts[k], values[k]) for k in range(start, start + width) if keep[k]]
            for start in range(0, order.size, width)
        ]
        return probabilities, found

    def _value_texts(self, leads: list[LeadFacts], column: str, rows: np.ndarray[Any, Any]) -> list[str]:
        """What these leads have in ``column``, for their reasons' words."""
        if column.startswith("activity:") or column in (FIT_SCORE, ENGAGEMENT_SCORE):
            return [lead_value_text(self.spec, leads[i], column) for i in rows.tolist()]
        texts: dict[tuple[type, object], str] = {}
        found: list[str] = []
        for i in rows.tolist():
            raw = leads[i].values.get(column)
            key = (type(raw), raw if isinstance(raw, str | int | float | bool | None) else repr(raw))
            text = texts.get(key)
            if text is None:
                text = texts[key] = lead_value_text(self.spec, leads[i], column)
            found.append(text)
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
