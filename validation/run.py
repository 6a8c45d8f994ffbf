"""One gate run in the single-process path: read the inputs, gate their records, write the report.

Used by the pipeline's validate step and by ``coding-potential validate --gate``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from coding_potential.fasta import FastaFormatError, read_records

from .gate import GateResult, run_gate
from .records import gate_table
from .settings import GateThresholds

#: Labels a manifest may give, as words or numbers.
_LABELS = {"1": 1, "coding": 1, "0": 0, "noncoding": 0}


@dataclass(frozen=True)
class LabelledInput:
    """One input file of a gate: where it is, the name reports use, its label (training) and species."""

    path: str
    name: str
    label: int | None = None
    species: str | None = None


@dataclass
class GateRun:
    """What one gate run read and concluded."""

    result: GateResult
    report: dict[str, str]
    files: list[dict[str, Any]] = field(default_factory=list)
    valid: pa.Table | None = None
    rejected: pa.Table | None = None


def read_manifest(path: str | Path) -> list[LabelledInput]:
    """A training set from a TSV manifest: columns ``path`` (or ``file``) and ``label`` (``1``/``coding``
    or ``0``/``noncoding``), optional ``species``; ``#`` lines are comments; relative paths are relative
    to the manifest's folder (``shared/data/manifest.tsv`` is one).

    Raises
    ------
    ValueError
        An unreadable manifest, a missing column, an unknown label, a file listed twice or no row,
        naming the manifest and the line.
    """
    manifest = Path(path)
    try:
        text = manifest.read_text(encoding="utf-8-sig")  # a BOM, as spreadsheets save, is not a column name
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"manifest {str(manifest)!r} cannot be read: {error}") from error
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    rows = list(csv.DictReader([line for _, line in numbered], delimiter="\t"))
    header = [name.strip() for name in (rows[0].keys() if rows else [])]
    column = "path" if "path" in header else "file"
    if not rows or column not in header or "label" not in header:
        raise ValueError(f"manifest {str(manifest)!r}: needs a tab-separated header with the columns 'path' (or "
                         f"'file') and 'label', and at least one row; found columns {header or 'none'}")
    inputs = []
    for (line, _), row in zip(numbered[1:], rows, strict=True):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str | None)}
        label = _LABELS.get(row.get("label", "").lower())
        if label is None or not row.get(column):
            raise ValueError(f"manifest {str(manifest)!r} line {line}: needs a {column} and a label of 1/coding "
                             f"or 0/noncoding, got {row.get(column)!r} and {row.get('label')!r}")
        file = Path(row[column])
        file = file if file.is_absolute() else manifest.parent / file
        inputs.append(LabelledInput(str(file), row[column], label, row.get("species") or None))
    return _listed_once(inputs)


def labelled_inputs(coding: Sequence[str], noncoding: Sequence[str]) -> list[LabelledInput]:
    """Training inputs from ``--coding`` and ``--noncoding`` files (each file once)."""
    return _listed_once([LabelledInput(p, p, 1) for p in coding] + [LabelledInput(p, p, 0) for p in noncoding])


def _listed_once(inputs: list[LabelledInput]) -> list[LabelledInput]:
    """``inputs``, refusing a file given twice (its records would count twice, under one name)."""
    seen: dict[str, str] = {}
    for item in inputs:
        key = os.path.realpath(item.path)
        if key in seen or item.name in seen.values():
            raise ValueError(f"{item.name!r} is listed twice in the training set")
        seen[key] = item.name
    return inputs


def gate_inputs(inputs: Sequence[LabelledInput], gate: str, thresholds: GateThresholds, report_dir: str | Path,
                run_name: str) -> GateRun:
    """Read every input with the core reader, gate all their records together, write the report.

    Raises
    ------
    coding_potential.fasta.FastaFormatError
        An input is unusable as a whole (not FASTA, empty, ...): the message names the file.
    """
    from pipeline.tables import records_table, rejected_table, split_outputs

    valid, rejected, files = [], [rejected_table([], "")], []
    for item in inputs:
        try:
            records, rejections = split_outputs(read_records(item.path))
        except FastaFormatError as error:
            raise FastaFormatError(error.code, f"{item.name}: {error}") from error
        valid.append(records_table(records, source=item.name, label=item.label, species=item.species))
        rejected.append(rejected_table(rejections, item.name))
        files.append({"name": item.name, "records": len(records) + len(rejections), "valid": len(records),
                      "rejected": len(rejections)})
    return gate_tables(valid, rejected, files, gate, thresholds, report_dir, run_name)


def gate_tables(valid: Sequence[pa.Table], rejected: Sequence[pa.Table], files: list[dict[str, Any]], gate: str,
                thresholds: GateThresholds, report_dir: str | Path, run_name: str) -> GateRun:
    """Gate the records of validated and rejected tables (per input file), write the report.

    ``files`` lists each input's ``name`` and ``records`` as the reader counted them.
    """
    from pipeline.tables import records_table

    from .report import write_report

    valid_all = pa.concat_tables(valid) if valid else records_table([], source="", label=None, species=None)
    rejected_all = pa.concat_tables(rejected)
    table = gate_table(valid_all, rejected_all)
    result = run_gate(table.to_pandas(), gate, thresholds, {f["name"]: f["records"] for f in files}, run_name)
    report = write_report(result, table.drop_columns(["sequence"]), report_dir)
    report["rejected_tsv"] = str(_write_rejected(rejected_all, Path(report_dir) / "rejected.tsv"))
    return GateRun(result=result, report=report, files=files, valid=valid_all, rejected=rejected_all)


def _write_rejected(rejected: pa.Table, target: Path) -> Path:
    """Every rejected record with its file, number, ID, reason and message (the CLI's rejected TSV, plus the file)."""
    from pipeline.files import REJECTED_COLUMNS, write_tsv

    columns = ("source", *REJECTED_COLUMNS)
    return write_tsv(columns, zip(*(rejected.column(c).to_pylist() for c in columns), strict=True), target)
