"""Tables the pipeline passes between steps: validated records, features, predictions.

Every write is atomic (see :mod:`pipeline.files`), so a crashed or retried task never leaves a
half-written file where the next step would read it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from coding_potential.fasta import Record, Rejection, read_records
from coding_potential.features import compute_features

from .files import atomic_path, write_rejected

__all__ = ["atomic_path", "features_table", "featurise_file", "records_table", "split_outputs",
           "write_parquet", "write_rejected"]


def write_parquet(table: pa.Table, target: str | os.PathLike[str]) -> Path:
    """Write ``table`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    return Path(target)


def split_outputs(outputs: Iterable[Record | Rejection]) -> tuple[list[Record], list[Rejection]]:
    """Separate valid records from rejections, order kept."""
    records: list[Record] = []
    rejections: list[Rejection] = []
    for item in outputs:
        (records if isinstance(item, Record) else rejections).append(item)
    return records, rejections


def records_table(records: Sequence[Record], **constants: object) -> pa.Table:
    """Validated records as a table; ``constants`` become columns with one value (label, source...)."""
    columns: dict[str, object] = {
        "record_number": pa.array([r.number for r in records], pa.int64()),
        "id": pa.array([r.id for r in records], pa.string()),
        "description": pa.array([r.description for r in records], pa.string()),
        "sequence": pa.array([r.sequence for r in records], pa.large_string()),
        "warnings": pa.array([",".join(r.warnings) for r in records], pa.string()),
    }
    for name, value in constants.items():
        columns[name] = pa.array([value] * len(records))
    return pa.table(columns)


def features_table(ids: Sequence[str], features: dict[str, np.ndarray], **extra: Sequence) -> pa.Table:
    """Features as a table: ``id`` first, then ``extra`` columns, then the feature columns in order."""
    columns: dict[str, object] = {"id": pa.array(list(ids), pa.string())}
    columns.update({name: pa.array(list(values)) for name, values in extra.items()})
    columns.update({name: pa.array(values) for name, values in features.items()})
    return pa.table(columns)


def featurise_file(source: str | os.PathLike[str]) -> tuple[pa.Table, list[Rejection]]:
    """Read, validate and featurise one FASTA file (no hexamer score: that belongs to a model)."""
    records, rejections = split_outputs(read_records(source))
    features = compute_features([r.sequence for r in records])
    return features_table([r.id for r in records], features), rejections
