"""The model bundle: everything needed to turn sequences into coding probabilities.

A bundle is a folder: ``model.json`` (family, threshold, feature definitions, calibration,
provenance), ``hexamer.tsv`` (the hexamer table learned from the training split) and the model's
components:

- **features**: ``estimator.joblib`` (the fitted scikit-learn estimator) and ``inference.npz`` (the
  same estimator as plain arrays, which is what prediction uses: see :mod:`models.inference`);
- **sequence**: ``sequence/`` (the sequence model of :mod:`models.sequence`: weights and settings, and
  ``inference.npz``, its numpy form, which prediction uses: :mod:`models.sequence_inference`).

A feature family (``logistic_regression``, ``random_forest``, ``gradient_boosting``) has the features
component, ``sequence_cnn`` the sequence component, and ``ensemble`` both: its probability is the mean
of the two components' calibrated probabilities. A component with a calibrator in ``model.json`` is
calibrated before anything else (:mod:`models.calibration`).

It is what MLflow stores, what ``coding-potential predict`` loads and what the serving endpoint loads:
one definition of "the model" everywhere.
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

from .calibration import Calibrator
from .inference import NumpyEstimator, compile_estimator

#: columns whose scale spans orders of magnitude: log1p keeps linear models well-conditioned.
LOG_COLUMNS = ("length", "orf_length", "open_orf_length")
#: columns that describe the record, not the biology: never model inputs.
EXCLUDED_COLUMNS = ("n_ambiguous", "n_unambiguous", "orf_start", "orf_frame")

BUNDLE_FORMAT = 1
FEATURE_FAMILIES = ("logistic_regression", "random_forest", "gradient_boosting")
SEQUENCE_FAMILY, ENSEMBLE_FAMILY = "sequence_cnn", "ensemble"
FEATURES, SEQUENCE = "features", "sequence"
SEQUENCE_FOLDER = "sequence"


def components_of(family: str) -> tuple[str, ...]:
    """The components (``features``, ``sequence``) a family's model holds."""
    if family in FEATURE_FAMILIES:
        return (FEATURES,)
    if family == SEQUENCE_FAMILY:
        return (SEQUENCE,)
    if family == ENSEMBLE_FAMILY:
        return (FEATURES, SEQUENCE)
    raise ValueError(f"unknown model family {family!r}")


@dataclass
class ModelSpec:
    """What a bundle's model is and how its inputs are made.

    Attributes
    ----------
    family : str
        A feature family, ``sequence_cnn`` or ``ensemble`` (:func:`components_of`).
    threshold : float
        Probability at or above which a transcript is called coding (class 1).
    kmer_sizes : list of int
    input_columns : list of str
        Feature columns, in the order the estimator sees them.
    metadata : dict
        Provenance: training data, split fingerprint, validation metrics.
    calibration : dict
        Component name -> :meth:`.Calibrator.to_dict`, for the calibrated components.
    """

    family: str
    threshold: float
    kmer_sizes: list[int]
    input_columns: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    format: int = BUNDLE_FORMAT
    calibration: dict[str, dict] = field(default_factory=dict)


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
    """A trained coding-potential model: hexamer table + components + decision threshold.

    Parameters
    ----------
    spec : ModelSpec
    hexamer : HexamerTable
    estimator : fitted scikit-learn estimator, optional
        The features component; needed to save a bundle; a loaded bundle predicts from its compiled
        arrays alone.
    compiled : NumpyEstimator, optional
        Compiled from ``estimator`` when not given.
    sequence_model : models.sequence.SequenceModel or models.sequence_inference.NumpySequenceModel, optional
        The sequence component (the PyTorch network, or its numpy form as loaded for prediction).
    """

    def __init__(self, spec: ModelSpec, hexamer: HexamerTable, estimator: Any = None,
                 compiled: NumpyEstimator | None = None, sequence_model: Any = None) -> None:
        self.spec = spec
        self.hexamer = hexamer
        self.estimator = estimator
        if compiled is None and estimator is not None:
            compiled = NumpyEstimator(compile_estimator(estimator))
        self.compiled = compiled
        self.sequence_model = sequence_model
        self.calibrators = {name: Calibrator.from_dict(data) for name, data in spec.calibration.items()}
        held = tuple(name for name, part in ((FEATURES, compiled), (SEQUENCE, sequence_model)) if part is not None)
        if held != components_of(spec.family):
            raise ValueError(f"a {spec.family} model holds {components_of(spec.family)}, got {held or 'none'}")

    @property
    def threshold(self) -> float:
        return self.spec.threshold

    def features(self, sequences: Sequence[str]) -> dict[str, np.ndarray]:
        """All feature columns for ``sequences`` (the same function the pipeline and Spark use)."""
        return compute_features(list(sequences), hexamer=self.hexamer, kmer_sizes=tuple(self.spec.kmer_sizes))

    @property
    def reads_sequences(self) -> bool:
        """Whether prediction needs the sequences besides their features (a sequence component)."""
        return self.sequence_model is not None

    def component_probabilities(self, features: dict[str, np.ndarray],
                                sequences: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Each component's (calibrated) coding probability from precomputed features (with
        ``hexamer_score``) and, for a sequence component, the sequences themselves."""
        matrix = model_matrix(features, self.spec.input_columns)
        parts = {}
        if self.compiled is not None:
            parts[FEATURES] = self.compiled.predict_proba(matrix)
        if self.sequence_model is not None:
            if sequences is None or len(sequences) != matrix.shape[0]:
                raise ValueError(f"a {self.spec.family} model reads the sequences too: pass one per feature row")
            parts[SEQUENCE] = self.sequence_model.predict_proba(list(sequences), features["orf_start"], matrix)
        return {name: self.calibrators[name].transform(p) if name in self.calibrators else p
                for name, p in parts.items()}

    def predict_features(self, features: dict[str, np.ndarray], sequences: Sequence[str] | None = None) -> np.ndarray:
        """Coding probability from precomputed features (must include ``hexamer_score``); a model with a
        sequence component needs the ``sequences`` too."""
        if len(features[self.spec.input_columns[0]]) == 0:
            return np.empty(0)
        return np.mean(list(self.component_probabilities(features, sequences).values()), axis=0)

    def predict_proba(self, sequences: Sequence[str]) -> np.ndarray:
        """Coding probability per sequence, in input order."""
        sequences = list(sequences)
        return self.predict_features(self.features(sequences), sequences)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bundle folder atomically (a temporary sibling, then a rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            (staging / "model.json").write_text(json.dumps(asdict(self.spec), indent=2, sort_keys=True))
            self.hexamer.save(staging / "hexamer.tsv")
            if self.compiled is not None:
                self.compiled.save(staging / "inference.npz")
            if self.sequence_model is not None:
                self.sequence_model.save(staging / SEQUENCE_FOLDER)
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

        ``with_estimator`` also loads the scikit-learn estimator and the sequence model's PyTorch network
        (slow to import; prediction needs neither: it uses their numpy forms).
        """
        folder = Path(path)
        if not (folder / "model.json").is_file():
            raise FileNotFoundError(f"{folder} is not a model bundle (no model.json)")
        spec = ModelSpec(**json.loads((folder / "model.json").read_text()))
        if spec.format != BUNDLE_FORMAT:
            raise ValueError(f"{folder}: bundle format {spec.format}, this version reads {BUNDLE_FORMAT}")
        parts = components_of(spec.family)
        estimator = compiled = sequence_model = None
        if FEATURES in parts:
            compiled = NumpyEstimator.load(folder / "inference.npz")
            if with_estimator:
                import joblib

                estimator = joblib.load(folder / "estimator.joblib")
        if SEQUENCE in parts and with_estimator:
            from .sequence import SequenceModel  # torch: only to train on or save again

            sequence_model = SequenceModel.load(folder / SEQUENCE_FOLDER)
        elif SEQUENCE in parts:
            from .sequence_inference import NumpySequenceModel

            sequence_model = NumpySequenceModel.load(folder / SEQUENCE_FOLDER)
        return cls(spec, HexamerTable.load(folder / "hexamer.tsv"), estimator, compiled, sequence_model)
