"""The model bundle: everything needed to turn sequences into coding probabilities.

A bundle is a folder: ``model.json`` (family, threshold, feature definitions, provenance),
``hexamer.tsv`` (the hexamer table learned from the training split), ``estimator.joblib`` (the
fitted scikit-learn estimator) and ``inference.npz`` (the same estimator as plain arrays, which is
what prediction uses: see :mod:`models.inference`). It is what MLflow stores, what
``coding-potential predict`` loads and what the serving endpoint will load: one definition of
"the model" everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coding_potential.features import HexamerTable, compute_features, feature_columns

from .inference import NumpyEstimator, compile_estimator

#: columns whose scale spans orders of magnitude: log1p keeps linear models well-conditioned.
LOG_COLUMNS = ("length", "orf_length", "open_orf_length")
#: columns that describe the record, not the biology: never model inputs.
EXCLUDED_COLUMNS = ("n_ambiguous", "n_unambiguous", "orf_start", "orf_frame")

BUNDLE_FORMAT = 1


@dataclass
class ModelSpec:
    """What a bundle's model is and how its inputs are made.

    Attributes
    ----------
    family : str
        ``logistic_regression`` or ``random_forest``.
    threshold : float
        Probability at or above which a transcript is called coding (class 1).
    kmer_sizes : list of int
    input_columns : list of str
        Feature columns, in the order the estimator sees them.
    metadata : dict
        Provenance: training data, split fingerprint, validation metrics.
    """

    family: str
    threshold: float
    kmer_sizes: list[int]
    input_columns: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    format: int = BUNDLE_FORMAT


def input_columns(kmer_sizes: Sequence[int]) -> list[str]:
    """The feature columns a model sees, in order."""
    return [c for c in feature_columns(tuple(kmer_sizes), with_hexamer=True) if c not in EXCLUDED_COLUMNS]


def model_matrix(features: dict[str, np.ndarray], columns: Sequence[str]) -> np.ndarray:
    """Stack feature columns into the estimator's float matrix (log1p on wide-range columns)."""
    matrix = np.empty((len(features[columns[0]]), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        values = np.asarray(features[name], dtype=np.float64)
        matrix[:, j] = np.log1p(values) if name in LOG_COLUMNS else values
    return matrix


class CodingModel:
    """A trained coding-potential model: hexamer table + estimator + decision threshold.

    Parameters
    ----------
    spec : ModelSpec
    hexamer : HexamerTable
    estimator : fitted scikit-learn estimator, optional
        Needed to save a bundle; a loaded bundle predicts from its compiled arrays alone.
    compiled : NumpyEstimator, optional
        Compiled from ``estimator`` when not given.
    """

    def __init__(self, spec: ModelSpec, hexamer: HexamerTable, estimator: Any = None,
                 compiled: NumpyEstimator | None = None) -> None:
        self.spec = spec
        self.hexamer = hexamer
        self.estimator = estimator
        self.compiled = compiled or NumpyEstimator(compile_estimator(estimator))

    @property
    def threshold(self) -> float:
        return self.spec.threshold

    def features(self, sequences: Sequence[str]) -> dict[str, np.ndarray]:
        """All feature columns for ``sequences`` (the same function the pipeline and Spark use)."""
        return compute_features(list(sequences), hexamer=self.hexamer, kmer_sizes=tuple(self.spec.kmer_sizes))

    def predict_features(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Coding probability from precomputed features (must include ``hexamer_score``)."""
        if len(features[self.spec.input_columns[0]]) == 0:
            return np.empty(0)
        matrix = model_matrix(features, self.spec.input_columns)
        return self.compiled.predict_proba(matrix)

    def predict_proba(self, sequences: Sequence[str]) -> np.ndarray:
        """Coding probability per sequence, in input order."""
        return self.predict_features(self.features(sequences))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bundle folder atomically (a temporary sibling, then a rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            (staging / "model.json").write_text(json.dumps(asdict(self.spec), indent=2, sort_keys=True))
            self.hexamer.save(staging / "hexamer.tsv")
            self.compiled.save(staging / "inference.npz")
            if self.estimator is not None:
                import joblib

                joblib.dump(self.estimator, staging / "estimator.joblib")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], with_estimator: bool = False) -> CodingModel:
        """Read a bundle folder written by :meth:`save`.

        ``with_estimator`` also loads the scikit-learn estimator (slow to import; prediction does
        not need it).
        """
        folder = Path(path)
        if not (folder / "model.json").is_file():
            raise FileNotFoundError(f"{folder} is not a model bundle (no model.json)")
        spec = ModelSpec(**json.loads((folder / "model.json").read_text()))
        if spec.format != BUNDLE_FORMAT:
            raise ValueError(f"{folder}: bundle format {spec.format}, this version reads {BUNDLE_FORMAT}")
        estimator = None
        if with_estimator:
            import joblib

            estimator = joblib.load(folder / "estimator.joblib")
        return cls(spec, HexamerTable.load(folder / "hexamer.tsv"), estimator,
                   NumpyEstimator.load(folder / "inference.npz"))
