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

__all__ = ["atomic_path", "features_table", "featurise_file", "records_table", "rejected_table", "split_outputs",
           "write_parquet", "write_rejected"]

#: Records per Parquet row group of a validated partition: a reader (Spark) can split a file there.
VALIDATED_ROW_GROUP = 4_000
#: Types of the columns a record table gets from its file (the rest are the reader's own).
_CONSTANT_TYPES = {"source": pa.string(), "label": pa.int64(), "species": pa.string()}


def write_parquet(table: pa.Table, target: str | os.PathLike[str], row_group_size: int | None = None) -> Path:
    """Write ``table`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size)
    return Path(target)


def rejected_table(rejections: Sequence[Rejection], source: str) -> pa.Table:
    """Quarantine rows: source, record_number, id, reason, message."""
    return pa.table({
        "source": pa.array([source] * len(rejections), pa.string()),
        "record_number": pa.array([r.number for r in rejections], pa.int64()),
        "id": pa.array([r.id for r in rejections], pa.string()),
        "reason": pa.array([r.reason for r in rejections], pa.string()),
        "message": pa.array([r.message for r in rejections], pa.string()),
    })


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
        columns[name] = pa.array([value] * len(records), _CONSTANT_TYPES.get(name))
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
