"""Numpy-only inference for the fitted scikit-learn estimators a bundle holds.

Importing scikit-learn (and scipy under it) costs about two seconds of start-up, longer than scoring
10,000 transcripts takes. A bundle therefore also stores its estimator "compiled" to plain arrays
(``inference.npz``): a linear model's scaled coefficients, or a forest's node tables. Prediction
from those arrays needs numpy alone and gives the same probabilities as ``predict_proba``
(checked by the tests against scikit-learn itself).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LINEAR, FOREST, BOOSTING = "linear", "forest", "boosting"


def compile_estimator(estimator) -> dict[str, np.ndarray]:
    """Arrays that reproduce ``estimator.predict_proba(X)[:, 1]``.

    Supports ``Pipeline(StandardScaler, LogisticRegression)``, ``RandomForestClassifier`` and a
    binary ``HistGradientBoostingClassifier`` on numeric features.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        scaler, linear = estimator[0], estimator[-1]
        # Fold the scaler into the coefficients: (x - mean) / scale . w + b
        weights = linear.coef_[0] / scaler.scale_
        return {"kind": np.array(LINEAR), "weights": weights,
                "intercept": np.array(linear.intercept_[0] - np.dot(weights, scaler.mean_))}
    if isinstance(estimator, RandomForestClassifier):
        return _compile_forest(estimator)
    if isinstance(estimator, HistGradientBoostingClassifier):
        return _compile_boosting(estimator)
    raise TypeError(f"cannot compile {type(estimator).__name__} to numpy inference")


def _compile_forest(forest) -> dict[str, np.ndarray]:
    """A forest's trees as one node table; leaves hold the tree's P(coding)."""
    trees = []
    for tree in (t.tree_ for t in forest.estimators_):
        values = tree.value[:, 0, :]
        trees.append((tree.feature, tree.threshold, tree.children_left, tree.children_right,
                      values[:, 1] / values.sum(axis=1)))
    return {"kind": np.array(FOREST), **_node_table(trees)}


def _compile_boosting(booster) -> dict[str, np.ndarray]:
    """Boosted trees as one node table; leaves hold raw scores, summed then passed through a sigmoid."""
    if booster.n_trees_per_iteration_ != 1:
        raise TypeError("only binary gradient boosting compiles to numpy inference")
    trees = []
    for (predictor,) in booster._predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise TypeError("categorical splits do not compile to numpy inference")
        leaf = nodes["is_leaf"].astype(bool)
        trees.append((np.where(leaf, -2, nodes["feature_idx"]), nodes["num_threshold"],
                      np.where(leaf, -1, nodes["left"].astype(np.int64)),
                      np.where(leaf, -1, nodes["right"].astype(np.int64)), nodes["value"]))
    return {"kind": np.array(BOOSTING), "baseline": np.array(float(np.ravel(booster._baseline_prediction)[0])),
            **_node_table(trees)}


def _node_table(trees: list[tuple[np.ndarray, ...]]) -> dict[str, np.ndarray]:
    """All trees in one table; child indices made global so one array walk serves all trees.

    Each tree is ``(feature, threshold, left, right, leaf_value)`` with negative children at leaves.
    """
    features, thresholds, left, right, leaf_value, roots, depths = [], [], [], [], [], [], []
    offset = 0
    for feature, threshold, children_left, children_right, value in trees:
        n_nodes = len(feature)
        is_leaf = np.asarray(children_left) < 0
        # A leaf points at itself, so walking past the leaf level is harmless.
        own = np.arange(n_nodes) + offset
        features.append(np.where(is_leaf, 0, feature))
        thresholds.append(np.asarray(threshold, dtype=np.float64))
        left.append(np.where(is_leaf, own, np.asarray(children_left) + offset))
        right.append(np.where(is_leaf, own, np.asarray(children_right) + offset))
        leaf_value.append(np.asarray(value, dtype=np.float64))
        roots.append(offset)
        depths.append(_depth(np.asarray(children_left), np.asarray(children_right)))
        offset += n_nodes
    return {
        "feature": np.concatenate(features).astype(np.int32),
        "threshold": np.concatenate(thresholds),
        "left": np.concatenate(left).astype(np.int64),
        "right": np.concatenate(right).astype(np.int64),
        "value": np.concatenate(leaf_value),
        "roots": np.asarray(roots, dtype=np.int64),
        "depth": np.array(max(depths, default=0)),
    }


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Number of edges on the longest root-to-leaf path."""
    depth, level, frontier = 0, 0, [0]
    while frontier:
        children = [c for node in frontier for c in (left[node], right[node]) if c >= 0]
        if children:
            level += 1
            depth = level
        frontier = children
    return depth


class NumpyEstimator:
    """Coding probability from compiled arrays."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.kind = str(arrays["kind"])

    @classmethod
    def load(cls, path: str | Path) -> NumpyEstimator:
        with np.load(path, allow_pickle=False) as data:
            return cls({key: data[key] for key in data.files})

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, **self.arrays)

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """P(coding) per row of ``matrix`` (float64, columns as at training)."""
        if self.kind == LINEAR:
            z = matrix @ self.arrays["weights"] + self.arrays["intercept"]
            return 1.0 / (1.0 + np.exp(-z))
        if self.kind == BOOSTING:
            raw = self.arrays["baseline"] + self._walk(matrix, np.float64).sum(axis=0)
            return 1.0 / (1.0 + np.exp(-raw))
        # scikit-learn's forests compare float32 features against float64 thresholds: do the same.
        return self._walk(matrix, np.float32).mean(axis=0)

    def _walk(self, matrix: np.ndarray, dtype: type, chunk: int = 4096) -> np.ndarray:
        """Leaf value of every tree for every row: shape (trees, rows)."""
        matrix = matrix.astype(dtype).astype(np.float64)
        out = np.empty((self.arrays["roots"].size, matrix.shape[0]))
        for start in range(0, matrix.shape[0], chunk):  # bounds the (trees x rows) node array
            out[:, start : start + chunk] = self._walk_chunk(matrix[start : start + chunk])
        return out

    def _walk_chunk(self, matrix: np.ndarray) -> np.ndarray:
        a = self.arrays
        feature, threshold, left, right = a["feature"], a["threshold"], a["left"], a["right"]
        nodes = np.repeat(a["roots"][:, None], matrix.shape[0], axis=1)  # (trees, rows)
        row_start = np.arange(matrix.shape[0]) * matrix.shape[1]
        flat_matrix = matrix.ravel()
        for _ in range(int(a["depth"])):
            values = flat_matrix[row_start + feature[nodes]]
            # scikit-learn sends x <= threshold to the left child.
            nodes = np.where(values <= threshold[nodes], left[nodes], right[nodes])
        return a["value"][nodes]
