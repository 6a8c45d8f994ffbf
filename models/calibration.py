"""Probability calibration: isotonic or Platt, fitted on held-out predictions, applied with numpy alone.

A model's scores rank transcripts well but need not be probabilities: class weights, boosting and a
network's loss all bend them. A calibrator is fitted on predictions for records the model did not
train on (a sequence-disjoint calibration part of the train side, never the validation split that
judges it), and maps a score to the fraction of coding transcripts among records with that score.

- **isotonic**: the monotone step function that best fits the labels (scikit-learn's
  ``IsotonicRegression``), applied by linear interpolation between its knots, clipped at the ends;
- **platt**: a logistic regression on the score's logit, ``sigmoid(a * logit(p) + b)``.

A fitted calibrator is a few numbers (:meth:`Calibrator.to_dict`), applied with numpy only, so the
serving environment applies it exactly as training did. :func:`brier_score`, :func:`reliability` and
:func:`expected_calibration_error` judge calibration; :func:`save_reliability_plot` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

METHODS = ("isotonic", "platt")
#: Scores are clipped this far from 0 and 1 before a logit.
EPSILON = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """A fitted calibration map.

    Attributes
    ----------
    method : str
        ``isotonic`` or ``platt``.
    knots_x, knots_y : list of float
        Isotonic: the step function's knots (scores, calibrated probabilities), increasing.
    slope, intercept : float
        Platt: ``sigmoid(slope * logit(p) + intercept)``.
    n : int
        Records it was fitted on.
    """

    method: str
    knots_x: list[float] = field(default_factory=list)
    knots_y: list[float] = field(default_factory=list)
    slope: float = 1.0
    intercept: float = 0.0
    n: int = 0

    @classmethod
    def fit(cls, probabilities: Sequence[float], labels: Sequence[int], method: str = "isotonic") -> Calibrator:
        """Fit ``method`` on held-out ``probabilities`` and their true ``labels`` (both classes needed)."""
        p = np.asarray(probabilities, dtype=np.float64)
        y = np.asarray(labels, dtype=int)
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
        if p.shape != y.shape or set(np.unique(y)) != {0, 1}:
            raise ValueError("calibration needs one label per probability and both classes")
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
            return cls(method, [float(v) for v in fitted.X_thresholds_], [float(v) for v in fitted.y_thresholds_],
                       n=int(y.size))
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], y)
        return cls(method, slope=float(fitted.coef_[0, 0]), intercept=float(fitted.intercept_[0]), n=int(y.size))

    def transform(self, probabilities: Sequence[float]) -> np.ndarray:
        """Calibrated probabilities (numpy only)."""
        p = np.asarray(probabilities, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(p, self.knots_x, self.knots_y)
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(p) + self.intercept)))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "knots_x": self.knots_x, "knots_y": self.knots_y, "slope": self.slope,
                "intercept": self.intercept, "n": self.n}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        if data.get("method") not in METHODS:
            raise ValueError(f"not a calibrator: method {data.get('method')!r}")
        return cls(**{key: data[key] for key in ("method", "knots_x", "knots_y", "slope", "intercept", "n")})


def brier_score(labels: Sequence[int], probabilities: Sequence[float]) -> float:
    """Mean squared difference between the probability and the label (0 is perfect)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    return float(np.mean((p - y) ** 2)) if y.size else 0.0


def reliability(labels: Sequence[int], probabilities: Sequence[float], bins: int = 10) -> dict[str, list]:
    """Per equal-width probability bin: records, mean predicted probability, observed coding fraction.

    Empty bins are left out. Bin ``i`` holds ``i/bins <= p < (i+1)/bins``; 1.0 goes in the last.
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=p, minlength=bins)
    observed = np.bincount(which, weights=y, minlength=bins)
    kept = counts > 0
    return {"lower": [i / bins for i in np.flatnonzero(kept)], "n": counts[kept].tolist(),
            "mean_predicted": (predicted[kept] / counts[kept]).tolist(),
            "observed": (observed[kept] / counts[kept]).tolist()}


def expected_calibration_error(labels: Sequence[int], probabilities: Sequence[float], bins: int = 10) -> float:
    """Record-weighted mean gap between predicted and observed over :func:`reliability`'s bins."""
    table = reliability(labels, probabilities, bins)
    n = np.asarray(table["n"], dtype=np.float64)
    if not n.sum():
        return 0.0
    gaps = np.abs(np.asarray(table["mean_predicted"]) - np.asarray(table["observed"]))
    return float((n * gaps).sum() / n.sum())


def save_reliability_plot(labels: Sequence[int], curves: dict[str, Sequence[float]], path: str | Path,
                          title: str, bins: int = 10) -> Path:
    """One reliability curve per entry of ``curves`` (name -> probabilities), with its Brier score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect")
    for name, probabilities in curves.items():
        table = reliability(labels, probabilities, bins)
        ax.plot(table["mean_predicted"], table["observed"], marker="o",
                label=f"{name} (Brier {brier_score(labels, probabilities):.4f})")
    ax.set(xlabel="mean predicted coding probability", ylabel="observed coding fraction", xlim=(0, 1), ylim=(0, 1),
           title=f"Reliability: {title}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
