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

LINEAR, FOREST = "linear", "forest"


def compile_estimator(estimator) -> dict[str, np.ndarray]:
    """Arrays that reproduce ``estimator.predict_proba(X)[:, 1]``.

    Supports ``Pipeline(StandardScaler, LogisticRegression)`` and ``RandomForestClassifier``.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        scaler, linear = estimator[0], estimator[-1]
        # Fold the scaler into the coefficients: (x - mean) / scale . w + b
        weights = linear.coef_[0] / scaler.scale_
        return {"kind": np.array(LINEAR), "weights": weights,
                "intercept": np.array(linear.intercept_[0] - np.dot(weights, scaler.mean_))}
    if isinstance(estimator, RandomForestClassifier):
        return _compile_forest(estimator)
    raise TypeError(f"cannot compile {type(estimator).__name__} to numpy inference")


def _compile_forest(forest) -> dict[str, np.ndarray]:
    """All trees in one node table; child indices are made global so one array walk serves all trees."""
    features, thresholds, left, right, leaf_value, roots = [], [], [], [], [], []
    offset = 0
    for tree in (t.tree_ for t in forest.estimators_):
        is_leaf = tree.children_left < 0
        values = tree.value[:, 0, :]
        coding = values[:, 1] / values.sum(axis=1)
        features.append(np.where(is_leaf, 0, tree.feature))
        thresholds.append(tree.threshold)
        # A leaf points at itself, so walking past the leaf level is harmless.
        own = np.arange(tree.node_count) + offset
        left.append(np.where(is_leaf, own, tree.children_left + offset))
        right.append(np.where(is_leaf, own, tree.children_right + offset))
        leaf_value.append(coding)
        roots.append(offset)
        offset += tree.node_count
    return {
        "kind": np.array(FOREST),
        "feature": np.concatenate(features).astype(np.int32),
        "threshold": np.concatenate(thresholds),
        "left": np.concatenate(left).astype(np.int64),
        "right": np.concatenate(right).astype(np.int64),
        "value": np.concatenate(leaf_value),
        "roots": np.asarray(roots, dtype=np.int64),
        "depth": np.array(max(t.tree_.max_depth for t in forest.estimators_)),
    }


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
        return self._forest(matrix)

    def _forest(self, matrix: np.ndarray, chunk: int = 4096) -> np.ndarray:
        # scikit-learn compares float32 features against float64 thresholds: do the same.
        matrix = matrix.astype(np.float32).astype(np.float64)
        out = np.empty(matrix.shape[0])
        for start in range(0, matrix.shape[0], chunk):  # bounds the (trees x rows) node array
            out[start : start + chunk] = self._forest_chunk(matrix[start : start + chunk])
        return out

    def _forest_chunk(self, matrix: np.ndarray) -> np.ndarray:
        a = self.arrays
        feature, threshold, left, right = a["feature"], a["threshold"], a["left"], a["right"]
        rows = np.arange(matrix.shape[0])
        nodes = np.repeat(a["roots"][:, None], matrix.shape[0], axis=1)  # (trees, rows)
        row_index = np.broadcast_to(rows, nodes.shape)
        flat_matrix = matrix.ravel()
        n_cols = matrix.shape[1]
        for _ in range(int(a["depth"])):
            values = flat_matrix[row_index * n_cols + feature[nodes]]
            # scikit-learn sends x <= threshold to the left child.
            nodes = np.where(values <= threshold[nodes], left[nodes], right[nodes])
        return a["value"][nodes].mean(axis=0)
