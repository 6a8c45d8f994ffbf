"""What a prediction says about each transcript: the ``predict`` columns, computed once for every output.

The CLI's TSV (``pipeline.scoring``), the scoring step's Parquet (``pipeline.steps``) and the REST
endpoint's JSON (``seldon``) all format the same :class:`Predictions`; only the formatting differs
(the TSV prints 6 and 4 decimals, the others keep the numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coding_potential.fasta import Record

from .bundle import CodingModel

#: The columns, in order, under the names every output uses.
PREDICTION_COLUMNS = (
    "id", "coding_probability", "label", "length", "gc_content", "longest_orf_nt",
    "longest_open_orf_nt", "orf_start", "orf_frame", "fickett", "hexamer_score", "warnings",
)


@dataclass
class Predictions:
    """The ``predict`` columns of a batch of valid records, as arrays of one length.

    ``gc_content`` is undefined (``gc_missing``) for a record without an unambiguous base;
    ``orf_start`` and ``orf_frame`` are undefined (``orf_missing``) for a record without an ORF.
    """

    id: list[str]
    coding_probability: np.ndarray
    label: np.ndarray
    length: np.ndarray
    gc_content: np.ndarray
    longest_orf_nt: np.ndarray
    longest_open_orf_nt: np.ndarray
    orf_start: np.ndarray
    orf_frame: np.ndarray
    fickett: np.ndarray
    hexamer_score: np.ndarray
    warnings: list[str]
    gc_missing: np.ndarray
    orf_missing: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    @property
    def coding(self) -> int:
        """How many records are called coding."""
        return int(np.count_nonzero(self.label == "coding"))

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per record, keys in :data:`PREDICTION_COLUMNS` order; undefined values are None."""
        columns = {name: getattr(self, name).tolist() if isinstance(getattr(self, name), np.ndarray)
                   else getattr(self, name) for name in PREDICTION_COLUMNS}
        for i in np.flatnonzero(self.gc_missing):
            columns["gc_content"][i] = None
        for i in np.flatnonzero(self.orf_missing):
            columns["orf_start"][i] = columns["orf_frame"][i] = None
        return [dict(zip(PREDICTION_COLUMNS, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def from_features(model: CodingModel, ids: Sequence[str], warnings: Sequence[str],
                  features: dict[str, np.ndarray], sequences: Sequence[str] | None = None) -> Predictions:
    """The columns from a batch's feature arrays (with ``hexamer_score``): the one place they are derived.
    A model with a sequence component also reads the ``sequences``."""
    probabilities = model.predict_features(features, sequences)
    return Predictions(
        id=list(ids),
        coding_probability=probabilities,
        label=np.where(probabilities >= model.threshold, "coding", "noncoding"),
        length=np.asarray(features["length"]),
        gc_content=np.asarray(features["gc_content"], dtype=np.float64),
        longest_orf_nt=np.asarray(features["orf_length"]),
        longest_open_orf_nt=np.asarray(features["open_orf_length"]),
        orf_start=np.asarray(features["orf_start"]),
        orf_frame=np.asarray(features["orf_frame"]),
        fickett=np.asarray(features["fickett"], dtype=np.float64),
        hexamer_score=np.asarray(features["hexamer_score"], dtype=np.float64),
        warnings=list(warnings),
        gc_missing=np.asarray(features["n_unambiguous"]) == 0,
        orf_missing=np.asarray(features["orf_length"]) == 0,
    )


def predict_records(model: CodingModel, records: Sequence[Record]) -> Predictions:
    """The columns for valid records, features computed here (the same function the pipeline uses)."""
    sequences = [r.sequence for r in records]
    return from_features(model, [r.id for r in records], [",".join(r.warnings) for r in records],
                         model.features(sequences), sequences)
