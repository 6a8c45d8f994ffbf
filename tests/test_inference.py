"""Numpy inference reproduces scikit-learn's probabilities for every supported family."""

from __future__ import annotations

import numpy as np
import pytest

from models.inference import NumpyEstimator, compile_estimator
from models.train import TrainingConfig, make_estimator


@pytest.mark.parametrize("family", ["logistic_regression", "random_forest", "gradient_boosting"])
def test_compiled_estimator_matches_sklearn(family, tmp_path):
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(3000, 12))
    matrix[:, 3] = np.round(matrix[:, 3], 1)  # ties at thresholds exercise the <= rule
    labels = (matrix[:, 0] + matrix[:, 1] * matrix[:, 2] + rng.normal(scale=0.5, size=3000) > 0).astype(int)
    estimator = make_estimator(family, TrainingConfig(forest_trees=40)).fit(matrix[:2000], labels[:2000])
    compiled = NumpyEstimator(compile_estimator(estimator))
    compiled.save(tmp_path / "inference.npz")
    loaded = NumpyEstimator.load(tmp_path / "inference.npz")
    expected = estimator.predict_proba(matrix[2000:])[:, 1]
    np.testing.assert_allclose(loaded.predict_proba(matrix[2000:]), expected, rtol=1e-9, atol=1e-12)


def test_unsupported_estimators_are_refused():
    from sklearn.svm import SVC

    with pytest.raises(TypeError, match="cannot compile"):
        compile_estimator(SVC())
