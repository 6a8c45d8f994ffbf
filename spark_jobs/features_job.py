"""Spark job: parse → validate → features of FASTA files, with the core's functions (no second copy).

Each input file, or each range of a large plain file cut at record starts (ranges of at most ~32 MB,
in whole waves for the cores), is read by one task with :func:`coding_potential.fasta.read_records`,
featurised in batches by :func:`coding_potential.features.compute_features` inside ``mapInPandas``,
and written by that task with the single-process path's Parquet writer: the driver never holds a file
and the wide feature rows never pass through the JVM (Spark's own Parquet writer cost more CPU than the
features themselves). Spark gets narrow rows only (rejections, per-range counts, and the IDs of cut
files with their hashes), from which it numbers records file-wide, rejects IDs kept in two ranges,
writes the quarantine and checks the counts against the files written. The output folder must be a
file system path the tasks can write (local, or a mount on a cluster). The output for a logical date
is one partition folder, swapped in whole::

    OUTPUT/date=YYYY-MM-DD/part-*.parquet       features: ``id`` + the feature columns (the schema of
                                                ``coding-potential features``)
    OUTPUT/date=YYYY-MM-DD/_quarantine/*.parquet rejected records: source, record_number, id, reason, message
    OUTPUT/date=YYYY-MM-DD/_summary.json        counts per file; records = valid + quarantined, checked

Parquet readers skip names starting with ``_``, so the features dataset keeps one schema.

With ``--gate training|prediction`` (``run(..., gate=...)``) the tasks also write one gate row per record
read (:mod:`validation.records`) to ``_gate/`` in the staging folder; Spark reads them back, numbers them
file-wide, marks the IDs kept in two ranges as rejected, and :func:`validation.gate.run_gate` checks that
Spark DataFrame. A failed hard expectation raises :class:`validation.gate.GateFailed` (exit code 1) and
publishes nothing; the gate rows are never published.

Run with ``python -m spark_jobs.features_job --input A.fa [--input B.fa.gz ...] --output DIR --date D``;
on Databricks the same file is the ``spark_python_task`` (``--master`` left unset there).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from datetime import date as Date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from coding_potential.fasta import FastaFormatError, Record, read_records
from coding_potential.features import compute_features, feature_columns
from pipeline.files import replaced_folder

if TYPE_CHECKING:  # the gate's modules load only when a gate runs (Great Expectations is slow to import)
    from validation.gate import GateResult
    from validation.settings import GateThresholds

#: Records featurised per pandas batch inside a task (bounds a task's memory).
BATCH_RECORDS = 20_000
QUARANTINE_COLUMNS = ("source", "record_number", "id", "reason", "message")
#: ``record_number`` of a quarantine row that stands for a whole unreadable file.
WHOLE_FILE = 0
#: A plain FASTA file larger than this is cut, at record starts, into ranges of about this size, one
#: task each; gzip, UTF-16 and CR-only files are read whole by one task (they cannot be cut).
SPLIT_BYTES = 32 * 1024 * 1024
#: A file is cut into more ranges than ``SPLIT_BYTES`` asks for (to give every core a range, in whole
#: waves) only where each range stays at least this large: below, another Python worker and the IDs
#: sent for the duplicate check cost about what the second core saves (measured at 10k records, 20 MB).
MIN_RANGE_BYTES = 16 * 1024 * 1024
#: Up to this many bytes of cut files, the duplicate check starts from 64-bit hashes of the IDs that
#: each range sends with its counts (8 bytes a record on the driver): no Spark job unless two ranges
#: share a hash. Above, it is a Spark aggregation of the IDs.
HASHED_BYTES = 8 * 1024**3
#: Staging subfolder of the gate rows, removed before the partition is published. The rows are one level
#: down: Spark warns about a path it reads whose own name starts with ``_`` (a hidden file to it).
GATE_FOLDER = "_gate"
GATE_ROWS = f"{GATE_FOLDER}/records"


def plan_ranges(path: str, split_bytes: int = SPLIT_BYTES) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` of ``path``, each starting at a record's ``>``, for one task each.

    Only the few bytes around each cut are read (on the driver): never the whole file.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(4096)
        splittable = head.lstrip()[:1] == b">" and b"\r" not in head
        if size <= split_bytes or not splittable:
            return [(0, size)]
        starts = [0]
        for nominal in range(split_bytes, size, split_bytes):
            cut = _next_record_start(handle, max(nominal, starts[-1] + 1), size)
            if cut < size and cut > starts[-1]:
                starts.append(cut)
    return list(zip(starts, [*starts[1:], size], strict=True))


def _next_record_start(handle, position: int, size: int) -> int:
    """The offset of the first ``>`` that begins a line at or after ``position`` (``size`` if none)."""
    handle.seek(position - 1)
    carried = handle.read(1)  # the byte before: a '>' right at ``position`` counts after a newline
    offset = position - 1
    while block := handle.read(1 << 16):
        found = (carried + block).find(b"\n>")
        if found >= 0:
            return offset + found + 1
        offset += len(block)
        carried = block[-1:]
    return size


def _range_bytes(size: int, split_bytes: int, cores: int) -> int:
    """The cut size for a file of ``size`` bytes: at most ``split_bytes``, and whole waves of ranges for
    ``cores`` (a 150 MB file gives six ranges of 25 MB on two cores, not five of 32 MB with a last wave
    on one core), but no range under :data:`MIN_RANGE_BYTES` for that."""
    asked = -(-size // split_bytes)
    waves = -(-asked // cores) * cores
    pieces = max(asked, min(waves, size // MIN_RANGE_BYTES), 1)
    return max(-(-size // pieces), 1)


class _ByteRange(io.RawIOBase):
    """``[start, end)`` of a file as a readable stream, for the core's reader."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self._handle = open(path, "rb")  # noqa: SIM115 (closed with this stream)
        self._handle.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()


def feature_names() -> list[str]:
    """The model-independent feature columns, in the order ``coding-potential features`` writes them."""
    return feature_columns(with_hexamer=False)


def output_schema():
    """The wide row type: ``kind``, ``source``, ``record_number``, ``id``, the features, ``reason``,
    ``message``, ``chunk``. Its feature fields give the Spark types of the feature columns
    (:func:`validated_features_schema` takes them from here).

    Feature column types are the core's own (``compute_features`` of nothing gives the dtypes).
    """
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    dtypes = {name: values.dtype for name, values in compute_features([]).items()}
    fields = [StructField("kind", StringType(), False), StructField("source", StringType(), False),
              StructField("record_number", LongType(), False), StructField("id", StringType(), True)]
    fields += [StructField(name, LongType() if dtypes[name].kind == "i" else DoubleType(), True)
               for name in feature_names()]
    fields += [StructField("reason", StringType(), True), StructField("message", StringType(), True),
               StructField("chunk", LongType(), False)]
    return StructType(fields)


#: Columns of the narrow rows the map gives Spark (see :func:`featurise_ranges`).
_ROW_COLUMNS = ("kind", "source", "chunk", "record_number", "id", "reason", "message", "part", "valid", "rejected",
                "hashes")


def _rows_schema():
    from pyspark.sql.types import BinaryType, LongType, StringType, StructField, StructType

    strings = {"kind", "source", "id", "reason", "message"}
    required = {"kind", "source", "chunk", "record_number"}
    return StructType([StructField(name, BinaryType() if name == "hashes" else StringType() if name in strings
                                   else LongType(), name not in required) for name in _ROW_COLUMNS])


def _part_name(file_index: int, chunk: int, part: int) -> str:
    """The features file of one batch: names sort in file, range and batch order."""
    return f"part-{file_index:05d}-{chunk:05d}-{part:04d}.parquet"


def featurise_ranges(frames: Iterator, ranges: Sequence[tuple], folder: str, hash_ids: bool = False,
                     gate_rows: bool = False, labels: dict[str, int | None] | None = None) -> Iterator:
    """``mapInPandas`` body: ``frames`` hold indexes into ``ranges`` (file index, path, chunk, start, end, cut).

    The valid records of a range are featurised in batches of :data:`BATCH_RECORDS`, and each batch is
    written by this task to ``FOLDER/part-FFFFF-CCCCC-PPPP.parquet`` (``id`` + the features, with
    :func:`pipeline.tables.write_parquet`, atomic: a retried task rewrites the same names). What goes back
    to Spark is narrow: one ``rejected`` row per rejection, one ``range`` row of counts (``record_number``:
    records read, ``valid``, ``rejected``, ``reason``: a whole-file error), and, for a file cut into
    several ranges, one ``valid`` row (``record_number``, ``id``, ``part``) per record for the duplicate
    check, and with ``hash_ids`` the 64-bit hashes of the valid IDs in the range row (``hashes``).
    Records are numbered within their range here; :func:`run` adds the records of earlier ranges.

    With ``gate_rows``, each batch's records (valid and rejected, not a whole-file error) are also
    written as gate rows to ``FOLDER/_gate/records/`` (:func:`_write_gate_rows`; ``labels``: path -> label).
    """
    from pipeline.tables import features_table, write_parquet

    for frame in frames:
        for index in frame["id"]:
            file_index, path, chunk, start, end, cut = ranges[int(index)]
            records = valid = rejected = 0
            error = None
            hashes: list[bytes] = []
            for part, (kept, dropped) in enumerate(_range_batches(path, int(start), int(end))):
                if gate_rows:
                    target = Path(folder) / GATE_ROWS / _part_name(file_index, chunk, part)
                    _write_gate_rows(kept, dropped, path, chunk, (labels or {}).get(path), target)
                if kept:
                    features = compute_features([r.sequence for r in kept])
                    table = features_table([r.id for r in kept], {name: features[name] for name in feature_names()})
                    write_parquet(table, Path(folder) / _part_name(file_index, chunk, part))
                    valid += len(kept)
                    records = max(records, kept[-1].number)
                    if cut:
                        ids = [r.id for r in kept]
                        yield _rows("valid", path, chunk, record_number=[r.number for r in kept], id=ids, part=part)
                        if hash_ids:
                            hashes.append(_id_hashes(ids))
                if dropped:
                    numbers, ids, reasons, messages = zip(*dropped, strict=True)
                    records = max(records, *numbers)
                    rejected += sum(1 for n in numbers if n != WHOLE_FILE)
                    error = next((r for n, r in zip(numbers, reasons, strict=True) if n == WHOLE_FILE), error)
                    yield _rows("rejected", path, chunk, record_number=list(numbers), id=list(ids),
                                reason=list(reasons), message=list(messages))
            yield _rows("range", path, chunk, record_number=[records], reason=[error], valid=[valid],
                        rejected=[rejected], hashes=[b"".join(hashes) if cut and hash_ids else None])


def _write_gate_rows(kept: list[Record], dropped: list[tuple], path: str, chunk: int, label: int | None,
                     target: Path) -> None:
    """One batch's gate rows (:func:`validation.records.gate_table`, plus ``chunk`` for the file-wide
    numbers), written even when empty so that every range leaves a file with the schema.

    A whole-file error is no record read: it stays in the quarantine and the summary only.
    """
    import pyarrow as pa

    from pipeline.tables import records_table, write_parquet
    from validation.records import gate_table

    dropped = [row for row in dropped if row[0] != WHOLE_FILE]
    validated = records_table(kept, source=path, label=label)
    rejected = pa.table({"source": pa.array([path] * len(dropped), pa.string()),
                         "record_number": pa.array([row[0] for row in dropped], pa.int64()),
                         "id": pa.array([row[1] for row in dropped], pa.string()),
                         "reason": pa.array([row[2] for row in dropped], pa.string())})
    table = gate_table(validated, rejected)
    write_parquet(table.append_column("chunk", pa.array([chunk] * table.num_rows, pa.int64())), target)


def _id_hashes(ids: list[str]) -> bytes:
    """64-bit hashes of IDs, the same in every worker (pandas' fixed-key hash, not Python's ``hash``)."""
    import numpy as np
    import pandas as pd

    return pd.util.hash_array(np.asarray(ids, dtype=object)).astype("<u8").tobytes()


def _rows(kind: str, path: str, chunk: int, **columns):
    """A frame of narrow rows: ``columns`` given, the others null."""
    import pandas as pd

    frame = pd.DataFrame(columns).assign(kind=kind, source=path, chunk=chunk)
    for name in _ROW_COLUMNS:
        if name not in frame:
            frame[name] = None
    return frame[list(_ROW_COLUMNS)]


def _range_batches(path: str, start: int, end: int) -> Iterator[tuple[list[Record], list[tuple]]]:
    valid: list[Record] = []
    rejected: list[tuple] = []
    whole = start == 0 and end == os.path.getsize(path)
    try:
        with (open(path, "rb") if whole else io.BufferedReader(_ByteRange(path, start, end))) as stream:
            for output in read_records(stream):
                if isinstance(output, Record):
                    valid.append(output)
                else:
                    rejected.append((output.number, output.id, output.reason, output.message))
                if len(valid) >= BATCH_RECORDS:
                    yield valid, rejected
                    valid, rejected = [], []
    except FastaFormatError as error:  # the file as a whole: one quarantine row, the other files go on
        rejected.append((WHOLE_FILE, None, error.code, str(error)))
    yield valid, rejected


#: Columns a features row carries from its validated record, before the features.
KEY_COLUMNS = ("source", "record_number", "id", "label", "species")


def featurise_frame(frame):
    """Features of a pandas batch of validated records (``KEY_COLUMNS`` + ``sequence``), keys kept.

    The one per-batch function of both engines: ``mapInPandas`` here, batches in-process in
    ``pipeline.steps.build_features``.
    """
    import pandas as pd

    features = compute_features(frame["sequence"].tolist())
    keys = frame[list(KEY_COLUMNS)].reset_index(drop=True)
    return pd.concat([keys, pd.DataFrame({name: features[name] for name in feature_names()})], axis=1)


def _featurise_frames(frames: Iterator) -> Iterator:
    for frame in frames:
        yield featurise_frame(frame)


def featurise_validated_table(table):
    """In-process twin of the Spark map: a pyarrow table of validated records -> features table.

    ``None`` gives the empty table with the schema (what an empty partition holds).
    """
    import pyarrow as pa

    if table is None:
        keys = pa.table({"source": pa.array([], pa.string()), "record_number": pa.array([], pa.int64()),
                         "id": pa.array([], pa.string()), "label": pa.array([], pa.int64()),
                         "species": pa.array([], pa.string()), "sequence": pa.array([], pa.large_string())})
        return featurise_validated_table(keys)
    frame = table.select([*KEY_COLUMNS, "sequence"]).to_pandas()
    schema = pa.schema([("source", pa.string()), ("record_number", pa.int64()), ("id", pa.string()),
                        ("label", pa.int64()), ("species", pa.string())])
    featured = featurise_frame(frame)
    keys = pa.Table.from_pandas(featured[list(KEY_COLUMNS)], schema=schema, preserve_index=False)
    return pa.Table.from_arrays([*keys.columns, *(pa.array(featured[n].to_numpy()) for n in feature_names())],
                                names=[*KEY_COLUMNS, *feature_names()])


def validated_features_schema():
    """Schema of a features partition built from validated records: ``KEY_COLUMNS`` then features."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    keys = [StructField("source", StringType(), False), StructField("record_number", LongType(), False),
            StructField("id", StringType(), False), StructField("label", LongType(), True),
            StructField("species", StringType(), True)]
    return StructType(keys + [f for f in output_schema().fields if f.name in set(feature_names())])


def featurise_validated(validated: str, output: str, spark=None) -> dict:
    """Features of every record of a validated partition, into the features partition ``output``.

    Both are URIs (``file://`` here, ``abfss://`` on Databricks for the read; the local swap needs
    ``file://``). The output is partitioned by species when every record has one; rows in = rows out
    is checked before the partition is swapped in.

    Returns
    -------
    dict
        ``{"validated", "features", "rows", "species"}``.
    """
    from pipeline.lake import spark_location
    from pipeline.storage import replaced_partition

    spark = spark or spark_session()
    records = spark.read.parquet(spark_location(validated)).select(*KEY_COLUMNS, "sequence")
    rows_in = records.count()
    species = [r["species"] for r in records.select("species").distinct().collect()]
    by_species = bool(species) and None not in species
    with replaced_partition(output) as staging:
        if not rows_in:  # Spark writes no file for no rows; readers still need the schema
            staging.write_parquet(featurise_validated_table(None), "part-00000.parquet")
            return {"validated": validated, "features": output, "rows": 0, "species": []}
        featured = records.mapInPandas(_featurise_frames, schema=validated_features_schema())
        writer = featured.write.mode("overwrite")
        (writer.partitionBy("species") if by_species else writer).parquet(spark_location(staging.uri))
        rows_out = spark.read.parquet(spark_location(staging.uri)).count()
        if rows_out != rows_in:
            raise RuntimeError(f"{validated}: {rows_in} validated records but {rows_out} feature rows: "
                               f"not publishing {output}")
    return {"validated": validated, "features": output, "rows": rows_in,
            "species": sorted(s for s in species if s is not None)}


def spark_session(master: str | None = "local[*]"):
    """A Spark session; ``master=None`` takes the cluster's (Databricks). Local runs stay on loopback.

    A local driver JVM compiles with C1 only (``-XX:TieredStopAtLevel=1``): a run lasts seconds to
    minutes and its heavy work is in the Python workers, so C2's compile time is not paid back (it cut
    about 3 s of JVM CPU from a 100k-record run on two cores).
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("coding-potential-features")
    if master:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (builder.master(master).config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1").config("spark.ui.enabled", "false")
                   .config("spark.sql.shuffle.partitions", "4")
                   .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1"))
    return builder.getOrCreate()


def run(inputs: Sequence[str], output: str, logical_date: str, spark=None, split_bytes: int = SPLIT_BYTES,
        gate: str | None = None, thresholds: GateThresholds | None = None,
        labels: dict[str, int] | None = None) -> dict:
    """Featurise ``inputs`` into ``OUTPUT/date=LOGICAL_DATE/``, replacing that partition whole.

    A file given twice is read once.

    Parameters
    ----------
    gate : str, optional
        ``training`` or ``prediction``: check the records read with that suite (on a Spark DataFrame)
        before publishing. ``None`` (the default) runs no gate and writes no gate rows.
    thresholds : validation.settings.GateThresholds, optional
        The gate's limits; the environment's (:func:`validation.settings.thresholds`) when not given.
    labels : dict of str to int, optional
        The label (1 coding, 0 noncoding) of each input, by its path or its file name; others get null.

    Returns
    -------
    dict
        The run summary (also written as ``_summary.json``): per-file records, valid and quarantined
        counts, whole-file errors, the partition's path and, with a gate, its result (``gate``).

    Raises
    ------
    RuntimeError
        When a file's records do not reconcile (records != valid + quarantined), or the rows written
        are not those counted: nothing is published.
    validation.gate.GateFailed
        When a hard expectation of the gate fails: nothing is published (the date keeps its partition).
    coding_potential.fasta.FastaFormatError
        With a gate, when an input is unusable as a whole (named with its error): nothing is published.
    """
    Date.fromisoformat(logical_date)
    if gate is not None:
        _check_gate_name(gate)
    output = output.removeprefix("file://")  # the local lake; abfss:// comes with the azure profile
    spark = spark or spark_session()
    paths = list(dict.fromkeys(str(Path(p).resolve()) for p in inputs))
    cores = max(spark.sparkContext.defaultParallelism, 1)
    ranges = []
    for file_index, path in enumerate(paths):
        cuts = plan_ranges(path, _range_bytes(os.path.getsize(path), split_bytes, cores))
        ranges += [(file_index, path, chunk, start, end, len(cuts) > 1) for chunk, (start, end) in enumerate(cuts)]
    hash_ids = sum(end - start for *_, start, end, cut in ranges if cut) <= HASHED_BYTES
    target = Path(output) / f"date={logical_date}"
    with replaced_folder(target) as staging:
        # One partition per range, in order; the features are written by the map, the narrow rows cached.
        body = partial(featurise_ranges, ranges=ranges, folder=str(staging), hash_ids=hash_ids,
                       gate_rows=gate is not None, labels={path: _label(path, labels) for path in paths})
        rows = (spark.range(len(ranges), numPartitions=max(len(ranges), 1))
                .mapInPandas(body, schema=_rows_schema()).cache())
        later = None
        try:
            counts = {(r["source"], r["chunk"]): r for r in rows.filter(rows.kind == "range").select(
                "source", "chunk", "record_number", "reason", "valid", "rejected", "hashes").collect()}
            offsets = _number_across_ranges(counts)
            cut = any(r[-1] for r in ranges)
            later, later_per_file = (_reject_later_duplicates(rows, offsets, spark)
                                     if cut and not (hash_ids and _hashes_unique(counts)) else (None, {}))
            summary = _summary(counts, later_per_file, paths, logical_date)
            _write_quarantine(rows, later, counts, offsets, staging / "_quarantine")
            if later is not None:
                _drop_later_duplicates(later, sum(later_per_file.values()), {p: i for i, p in enumerate(paths)},
                                       staging)
            if not summary["valid"] and not any(staging.glob("part-*.parquet")):
                _write_empty_features(staging)
            _check_written(staging, summary, sum(1 for r in counts.values() if r["reason"]), logical_date)
            if gate is not None:
                # Raised here, in the staging block: the date keeps its partition. A gated run refuses
                # an unusable file, as the single-process gate does (there it is exit code 3).
                unusable = [f for f in summary["files"] if f["file_error"]]
                if unusable:
                    raise FastaFormatError(unusable[0]["file_error"], "unusable input, not gated: " + "; ".join(
                        f"{f['path']}: {f['file_error']}" for f in unusable))
                result = _run_gate(spark, staging, offsets, later, summary, gate, thresholds)
                summary["gate"] = result.as_dict()
                if not result.passed:
                    from validation.gate import GateFailed

                    raise GateFailed(result)
        finally:
            rows.unpersist()
            if later is not None:
                later.unpersist()
        summary["partition"] = str(target)
        (staging / "_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def _check_gate_name(gate: str) -> None:
    """An unknown gate is an error before any work (the suite would only be built after the map)."""
    from validation.settings import GATES

    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; available: {', '.join(GATES)}")


def _label(path: str, labels: dict[str, int] | None) -> int | None:
    """The label given for ``path``: by its path (as given or resolved) or its file name; else ``None``."""
    for key, value in (labels or {}).items():
        if key == Path(path).name or str(Path(key).resolve()) == path:
            return value
    return None


def _run_gate(spark, staging: Path, offsets: dict, later, summary: dict, gate: str,
              thresholds: GateThresholds | None) -> GateResult:
    """Check the gate rows the tasks wrote to ``staging`` with the suite of ``gate``; then remove them.

    Returns
    -------
    validation.gate.GateResult
        What :func:`validation.gate.run_gate` found (it does not raise for failed expectations).
    """
    from validation.gate import run_gate
    from validation.settings import thresholds as default_thresholds

    frame = _gate_frame(spark, staging / GATE_ROWS, offsets, later)
    read = {entry["path"]: entry["records"] for entry in summary["files"]}
    try:
        return run_gate(frame, gate, thresholds or default_thresholds(), read, run_name=f"spark {summary['date']}")
    finally:
        frame.unpersist()  # GX persists the batch's DataFrame; the session may run other jobs
        shutil.rmtree(staging / GATE_FOLDER)  # not ignoring errors: the rows must not be published


def _gate_frame(spark, folder: Path, offsets: dict, later):
    """The gate rows as a Spark DataFrame with the columns of :data:`validation.records.SCHEMA`.

    Record numbers move by the records of the file's earlier ranges (``offsets``), and the records
    rejected as IDs kept in an earlier range (``later``, file-wide numbers) become ``duplicate_id``
    rejections, as in the quarantine: the frame reconciles with the summary.
    """
    from pyspark.sql import functions as F

    from validation.records import COLUMNS

    if not any(folder.glob("*.parquet")):  # no input at all: an empty frame with the schema
        _write_empty_gate_rows(folder / "part-empty.parquet")
    shifts = spark.createDataFrame([(source, chunk, offset) for (source, chunk), offset in offsets.items()],
                                   "source string, chunk long, offset long")
    rows = (spark.read.parquet(str(folder)).join(F.broadcast(shifts), ["source", "chunk"], "left")
            .withColumn("record_number", F.col("record_number") + F.coalesce(F.col("offset"), F.lit(0))))
    if later is None:
        return rows.select(*COLUMNS)
    repeated = F.broadcast(later.select("source", "record_number", F.lit(True).alias("_later")))
    rows = rows.join(repeated, ["source", "record_number"], "left")
    # A rejection's row, as gate_table makes it from the quarantine: no sequence, no measures, no label.
    rejected = {**{name: F.lit(None) for name in COLUMNS if name not in ("source", "record_number", "id")},
                "valid": F.lit(False), "reason": F.lit("duplicate_id")}
    return rows.select(*[F.when(F.col("_later").isNull(), F.col(name)).otherwise(rejected[name]).alias(name)
                         if name in rejected else F.col(name) for name in COLUMNS])


def _write_empty_gate_rows(target: Path) -> None:
    import pyarrow as pa

    from pipeline.tables import write_parquet
    from validation.records import SCHEMA

    write_parquet(SCHEMA.empty_table().append_column("chunk", pa.array([], pa.int64())), target)


def _number_across_ranges(counts: dict) -> dict[tuple[str, int], int]:
    """File-wide record numbers: the offset of each (source, chunk), the records of the file's earlier ranges.

    From the per-range counts alone (one row per range, on the driver): no feature row moves.
    """
    offsets: dict[tuple[str, int], int] = {}
    read: dict[str, int] = {}
    for source, chunk in sorted(counts):
        offsets[source, chunk] = read.get(source, 0)
        read[source] = offsets[source, chunk] + counts[source, chunk]["record_number"]
    return offsets


def _hashes_unique(counts: dict) -> bool:
    """No two ranges of a file share an ID hash, so no ID is kept twice (IDs are unique within a range)."""
    import numpy as np

    by_file: dict[str, list] = {}
    for (source, _), r in counts.items():
        by_file.setdefault(source, []).append(np.frombuffer(r["hashes"] or b"", dtype="<u8"))
    for arrays in by_file.values():
        hashes = np.concatenate(arrays)
        if len(arrays) > 1 and len(np.unique(hashes)) != len(hashes):
            return False
    return True


def _reject_later_duplicates(rows, offsets: dict, spark):
    """The reader keeps the first valid record of an ID within its range; across ranges, the same rule.

    Only files cut into ranges have ``valid`` rows; their (source, id) pairs are counted first, and only
    when an ID is kept in two ranges are the later records found, with file-wide numbers. (:func:`run`
    skips this when the ranges' ID hashes are all different.)

    Returns
    -------
    tuple
        The later records (source, chunk, part, record_number, id, first_number), cached, or ``None``;
        and their count per file.
    """
    from pyspark.sql import functions as F

    valid = rows.filter(F.col("kind") == "valid").select("source", "chunk", "part", "record_number", "id")
    repeated = valid.groupBy("source", "id").count().filter(F.col("count") > 1)
    per_file = {r["source"]: int(r["later"]) for r in repeated.groupBy("source").agg(
        F.sum(F.col("count") - 1).alias("later")).collect()}
    if not per_file:
        return None, {}
    shifts = spark.createDataFrame([(source, chunk, offset) for (source, chunk), offset in offsets.items()],
                                   "source string, chunk long, offset long")
    numbered = (valid.join(F.broadcast(shifts), ["source", "chunk"])
                .withColumn("record_number", F.col("record_number") + F.col("offset")).drop("offset"))
    first = (numbered.join(repeated.select("source", "id"), ["source", "id"])
             .groupBy("source", "id").agg(F.min("record_number").alias("first_number")))
    later = numbered.join(first, ["source", "id"]).filter(F.col("record_number") > F.col("first_number"))
    return later.cache(), per_file


#: The record numbers in the reader's messages: ``record N 'id': ...`` and ``duplicate ID: record N has it (...)``.
_MESSAGE_NUMBER = re.compile(r"^record (\d+)")
_FIRST_NUMBER = re.compile(r"duplicate ID: record (\d+)( has it \((?:identical|different) sequence\))$")


def _renumber(frames: Iterator, offsets: dict) -> Iterator:
    """``mapInPandas`` body: rejected rows with file-wide numbers, in the column and in the message."""
    for frame in frames:
        numbers, messages = [], []
        for source, chunk, number, message in frame[["source", "chunk", "record_number", "message"]].itertuples(
                index=False):
            offset = offsets[source, chunk]
            numbers.append(number if number == WHOLE_FILE else number + offset)
            messages.append(_shift_numbers(message, offset) if offset else message)
        yield frame.assign(record_number=numbers, message=messages)[list(QUARANTINE_COLUMNS)]


def _shift_numbers(message: str, offset: int) -> str:
    message = _MESSAGE_NUMBER.sub(lambda m: f"record {int(m[1]) + offset}", message, count=1)
    return _FIRST_NUMBER.sub(lambda m: f"duplicate ID: record {int(m[1]) + offset}{m[2]}", message, count=1)


def _write_quarantine(rows, later, counts: dict, offsets: dict, folder: Path) -> None:
    """Rejections with file-wide numbers, and the records rejected as IDs kept in an earlier range.

    Nothing rejected (the counts say so): one empty file with the schema, written here, not a Spark job.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    if later is None and not any(r["rejected"] or r["reason"] for r in counts.values()):
        import pyarrow as pa

        from pipeline.tables import write_parquet

        types = {"record_number": pa.int64()}
        write_parquet(pa.table({name: pa.array([], types.get(name, pa.string())) for name in QUARANTINE_COLUMNS}),
                      folder / "part-00000.parquet")
        return
    rejected = rows.filter(F.col("kind") == "rejected").select(*QUARANTINE_COLUMNS, "chunk")
    if any(offsets[key] and (r["rejected"] or r["reason"]) for key, r in counts.items()):
        # rejections in a later range of a cut file: their numbers move
        schema = StructType([_rows_schema()[name] for name in QUARANTINE_COLUMNS])
        rejected = rejected.mapInPandas(partial(_renumber, offsets=offsets), schema=schema)
    else:
        rejected = rejected.drop("chunk")
    if later is not None:
        message = F.format_string("record %d '%s': duplicate ID: record %d has it", F.col("record_number"),
                                  F.col("id"), F.col("first_number"))
        rejected = rejected.unionByName(later.select("source", "record_number", "id",
                                                     F.lit("duplicate_id").alias("reason"), message.alias("message")))
    rejected.write.mode("overwrite").parquet(str(folder))


def _drop_later_duplicates(later, expected: int, file_index: dict[str, int], folder: Path) -> None:
    """Rewrite the features files that hold a record rejected as a later duplicate, without it (in tasks)."""
    from pyspark.sql import functions as F

    def rewrite(frames: Iterator) -> Iterator:
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from pipeline.tables import write_parquet

        for frame in frames:
            for source, chunk, part, ids in frame.itertuples(index=False):
                path = folder / _part_name(file_index[source], chunk, part)
                table = pq.read_table(path)
                kept = table.filter(pc.invert(pc.is_in(table["id"], value_set=pa.array(list(ids), pa.string()))))
                write_parquet(kept, path)
                yield pd.DataFrame({"removed": [table.num_rows - kept.num_rows]})

    files = later.groupBy("source", "chunk", "part").agg(F.collect_list("id").alias("ids"))
    removed = files.mapInPandas(rewrite, schema="removed long").agg(F.sum("removed")).first()[0]
    if removed != expected:
        raise RuntimeError(f"{expected} records rejected as later duplicates but {removed} feature rows removed")


def _check_written(folder: Path, summary: dict, file_errors: int, logical_date: str) -> None:
    """What is about to be published holds the rows counted, from the Parquet footers: feature rows =
    valid, quarantine rows = quarantined + one per whole-file error."""
    import pyarrow.parquet as pq

    features = sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("part-*.parquet"))
    quarantine = sum(pq.ParquetFile(p).metadata.num_rows for p in (folder / "_quarantine").glob("part-*.parquet"))
    if (features, quarantine) != (summary["valid"], summary["quarantined"] + file_errors):
        raise RuntimeError(f"{features} feature rows and {quarantine} quarantine rows written for "
                           f"{summary['valid']} valid and {summary['quarantined']} quarantined records "
                           f"(+ {file_errors} whole-file errors): not publishing date={logical_date}")


def _write_empty_features(folder: Path) -> None:
    """No valid record at all: one features file with the schema and no rows, for readers."""
    from pipeline.tables import features_table, write_parquet

    empty = compute_features([])
    write_parquet(features_table([], {name: empty[name] for name in feature_names()}), folder / _part_name(0, 0, 0))


def _summary(counts: dict, later_per_file: dict[str, int], paths: list[str], logical_date: str) -> dict:
    """Counts per file, and the reconciliation: every record numbered by the parser is accounted for."""
    files = []
    for path in paths:
        mine = [counts[key] for key in sorted(counts) if key[0] == path]
        later = later_per_file.get(path, 0)
        entry = {"path": path, "records": sum(r["record_number"] for r in mine),
                 "valid": sum(r["valid"] for r in mine) - later,
                 "quarantined": sum(r["rejected"] for r in mine) + later,
                 "file_error": next((r["reason"] for r in mine if r["reason"]), None)}
        if entry["records"] != entry["valid"] + entry["quarantined"]:
            raise RuntimeError(f"{path}: {entry['records']} records read but {entry['valid']} valid + "
                               f"{entry['quarantined']} quarantined: not publishing date={logical_date}")
        files.append(entry)
    return {"date": logical_date, "files": files,
            "records": sum(f["records"] for f in files), "valid": sum(f["valid"] for f in files),
            "quarantined": sum(f["quarantined"] for f in files),
            "file_errors": sum(1 for f in files if f["file_error"])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.features_job", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", action="append", required=True, help="FASTA file (repeat for more)")
    parser.add_argument("--output", required=True, help="dataset folder (date= partitions inside)")
    parser.add_argument("--date", required=True, help="logical date, YYYY-MM-DD")
    parser.add_argument("--master", default="local[*]", help="Spark master; 'cluster' keeps the cluster's")
    parser.add_argument("--gate", choices=("training", "prediction"),  # validation.settings.GATES
                        help="check the records with this data-quality gate before publishing (exit 1 if it fails)")
    parser.add_argument("--label", action="append", default=[], metavar="FILE=0|1",
                        help="an input's label for the training gate, by path or file name (repeat for more)")
    options = parser.parse_args(argv)
    labels = _parse_labels(parser, options.label)
    spark = spark_session(None if options.master == "cluster" else options.master)
    if options.gate is None:
        summary = run(options.input, options.output, options.date, spark)
    else:
        from validation.gate import GateFailed

        try:
            summary = run(options.input, options.output, options.date, spark, gate=options.gate, labels=labels)
        except GateFailed as failed:
            print(failed, file=sys.stderr)
            if failed.result.docs_index:
                print(f"report: {failed.result.docs_index}", file=sys.stderr)
            return 1
        except FastaFormatError as error:
            print(error, file=sys.stderr)
            return 3
    print(json.dumps(summary))
    return 0


def _parse_labels(parser: argparse.ArgumentParser, values: list[str]) -> dict[str, int]:
    """``FILE=0|1`` options as ``{FILE: label}`` (a bad one ends the command with a usage error)."""
    labels = {}
    for value in values:
        name, _, label = value.rpartition("=")
        if not name or label not in ("0", "1"):
            parser.error(f"--label takes FILE=0 or FILE=1, not {value!r}")
        labels[name] = int(label)
    return labels


if __name__ == "__main__":
    sys.exit(main())
