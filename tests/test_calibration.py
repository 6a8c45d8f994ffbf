"""Calibration (``models.calibration``): maps fitted on held-out scores, and the measures that judge them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.calibration import (
    Calibrator,
    brier_score,
    expected_calibration_error,
    reliability,
    save_reliability_plot,
)


@pytest.fixture(scope="module")
def skewed() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores that rank well but are too low: the score is the true probability squared."""
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 1, 20_000)
    labels = (rng.uniform(0, 1, truth.size) < truth).astype(int)
    return truth**2, labels, truth


def test_reliability_and_brier_by_hand() -> None:
    labels = [0, 0, 1, 1, 1]
    probabilities = [0.05, 0.15, 0.12, 0.95, 1.0]
    table = reliability(labels, probabilities, bins=10)
    assert table == {"lower": [0.0, 0.1, 0.9], "n": [1, 2, 2], "mean_predicted": pytest.approx([0.05, 0.135, 0.975]),
                     "observed": [0.0, 0.5, 1.0]}
    assert brier_score(labels, probabilities) == pytest.approx((0.05**2 + 0.15**2 + 0.88**2 + 0.05**2 + 0) / 5)
    assert expected_calibration_error(labels, probabilities) == pytest.approx((0.05 + 2 * 0.365 + 2 * 0.025) / 5)


def test_isotonic_repairs_skewed_scores(skewed, tmp_path) -> None:
    from sklearn.isotonic import IsotonicRegression

    scores, labels, _ = skewed
    fit, held = slice(0, 10_000), slice(10_000, None)
    calibrator = Calibrator.fit(scores[fit], labels[fit], "isotonic")
    calibrated = calibrator.transform(scores[held])
    reference = IsotonicRegression(out_of_bounds="clip").fit(scores[fit], labels[fit]).predict(scores[held])
    np.testing.assert_allclose(calibrated, reference, atol=1e-12)
    assert np.all(np.diff(calibrator.knots_x) >= 0) and np.all(np.diff(calibrator.knots_y) >= 0)
    before = expected_calibration_error(labels[held], scores[held])
    after = expected_calibration_error(labels[held], calibrated)
    assert before > 0.1 and after < 0.03
    assert brier_score(labels[held], calibrated) < brier_score(labels[held], scores[held])
    again = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    np.testing.assert_array_equal(again.transform(scores[held]), calibrated)
    plot = save_reliability_plot(labels[held], {"raw": scores[held], "isotonic": calibrated}, tmp_path / "r.png", "t")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_platt_recovers_a_known_logistic_map() -> None:
    rng = np.random.default_rng(5)
    scores = rng.uniform(0.01, 0.99, 40_000)
    logit = np.log(scores / (1 - scores))
    labels = (rng.uniform(0, 1, scores.size) < 1 / (1 + np.exp(-(2.0 * logit - 0.5)))).astype(int)
    calibrator = Calibrator.fit(scores, labels, "platt")
    assert calibrator.slope == pytest.approx(2.0, abs=0.08) and calibrator.intercept == pytest.approx(-0.5, abs=0.05)
    assert calibrator.transform([0.5])[0] == pytest.approx(1 / (1 + np.exp(-calibrator.intercept)))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown calibration method 'beta'"):
        Calibrator.fit([0.1, 0.9], [0, 1], "beta")
    with pytest.raises(ValueError, match="both classes"):
        Calibrator.fit([0.1, 0.9], [1, 1])
    with pytest.raises(ValueError, match="not a calibrator"):
        Calibrator.from_dict({"method": "nothing"})
