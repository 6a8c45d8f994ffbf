"""Score FASTA with a model: one TSV row per valid record, rejections beside it.

Shared by ``coding-potential predict`` and the scoring DAG's predict step.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from coding_potential.fasta import Record, Rejection, read_records
from models.bundle import CodingModel
from models.predictions import PREDICTION_COLUMNS, predict_records

from .files import atomic_path, write_rejected

#: records scored per batch: large enough to amortise numpy calls, small enough to bound memory.
BATCH_SIZE = 20_000


@dataclass
class ScoringSummary:
    """Counts of one scoring pass (records in = valid + rejected)."""

    records: int = 0
    valid: int = 0
    rejected: int = 0
    coding: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"records": self.records, "valid": self.valid, "rejected": self.rejected,
                "coding": self.coding, "reasons": dict(self.reasons)}


def batches(outputs: Iterable[Record | Rejection], size: int = BATCH_SIZE
            ) -> Iterator[tuple[list[Record], list[Rejection]]]:
    """Group the reader's stream into batches of up to ``size`` valid records."""
    records: list[Record] = []
    rejections: list[Rejection] = []
    for item in outputs:
        if isinstance(item, Record):
            records.append(item)
            if len(records) >= size:
                yield records, rejections
                records, rejections = [], []
        else:
            rejections.append(item)
    if records or rejections:
        yield records, rejections


def prediction_rows(model: CodingModel, records: list[Record]) -> list[str]:
    """TSV lines (no newline) for a batch of valid records: probability to 6 decimals, GC, Fickett and
    hexamer score to 4; an undefined value is an empty field."""
    if not records:
        return []
    p = predict_records(model, records)
    gc = np.char.mod("%.4f", p.gc_content).astype(object)
    gc[p.gc_missing] = ""
    start = p.orf_start.astype(str).astype(object)
    start[p.orf_missing] = ""
    frame = p.orf_frame.astype(str).astype(object)
    frame[p.orf_missing] = ""
    probability = np.char.mod("%.6f", p.coding_probability)
    fickett = np.char.mod("%.4f", p.fickett)
    hexamer = np.char.mod("%.4f", p.hexamer_score)
    return ["\t".join((p.id[i], probability[i], p.label[i], str(p.length[i]), gc[i], str(p.longest_orf_nt[i]),
                       str(p.longest_open_orf_nt[i]), start[i], frame[i], fickett[i], hexamer[i], p.warnings[i]))
            for i in range(len(p))]


def score_file(
    source: str | os.PathLike[str] | BinaryIO,
    output: str | os.PathLike[str] | TextIO,
    model: CodingModel,
    rejected_output: str | os.PathLike[str] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[ScoringSummary, list[Rejection]]:
    """Score every valid record of ``source`` into the TSV ``output`` (a path, written atomically,
    or an open text stream); rejections go to ``rejected_output`` (default ``OUTPUT.rejected.tsv``
    when ``output`` is a regular file; none beside a device or a pipe) and are returned.

    Raises
    ------
    coding_potential.fasta.FastaFormatError
        When the input as a whole is not FASTA (no output file is left behind then).
    """
    if not isinstance(output, str | os.PathLike):
        summary, rejections = _score_into(output, source, model, on_batch)
    else:
        gzipped = str(output).lower().endswith(".gz")
        with atomic_path(output) as tmp, _open_text(tmp, gzipped, Path(output).name) as handle:
            summary, rejections = _score_into(handle, source, model, on_batch)
        if rejected_output is None and Path(output).is_file():  # not beside a device or a pipe
            rejected_output = rejected_path_for(Path(output))
    if rejected_output:
        write_rejected(rejections, rejected_output)
    return summary, rejections


@contextmanager
def _open_text(path: Path, gzipped: bool, name: str) -> Iterator[TextIO]:
    """A text stream onto ``path``; gzip-compressed, with ``name`` in the gzip header (not the temporary
    file's), when asked."""
    if not gzipped:
        with path.open("w", encoding="utf-8") as handle:
            yield handle
        return
    with (path.open("wb") as raw, gzip.GzipFile(filename=name, mode="wb", fileobj=raw) as packed,
          io.TextIOWrapper(packed, encoding="utf-8") as handle):
        yield handle


def _score_into(handle: TextIO, source, model: CodingModel, on_batch) -> tuple[ScoringSummary, list[Rejection]]:
    summary = ScoringSummary()
    rejections: list[Rejection] = []
    # The header follows the first batch read, so a whole-file error leaves no half table on stdout.
    header = "\t".join(PREDICTION_COLUMNS) + "\n"
    for records, rejected in batches(read_records(source)):
        if header:
            handle.write(header)
            header = ""
        lines = prediction_rows(model, records)
        if lines:
            handle.write("\n".join(lines) + "\n")
        rejections.extend(rejected)
        summary.valid += len(records)
        summary.coding += sum(1 for line in lines if "\tcoding\t" in line)
        if on_batch is not None:
            on_batch(len(records) + len(rejected))
    if header:  # a readable input with no record at all still gets its header
        handle.write(header)
    summary.rejected = len(rejections)
    summary.records = summary.valid + summary.rejected
    for rejection in rejections:
        summary.reasons[rejection.reason] = summary.reasons.get(rejection.reason, 0) + 1
    return summary, rejections


def rejected_path_for(output: Path) -> Path:
    """``OUT.tsv`` / ``OUT.tsv.gz`` -> ``OUT.rejected.tsv``; any other name gets ``.rejected.tsv`` appended."""
    stem = output.name
    for suffix in (".tsv.gz", ".tsv"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return output.with_name(f"{stem}.rejected.tsv")
