"""Spark job: parse → validate → features of FASTA files, with the core's functions (no second copy).

Each input file, or each ~32 MB range of a large plain file cut at record starts, is read by one task
with :func:`coding_potential.fasta.read_records` and featurised in batches by
:func:`coding_potential.features.compute_features` inside ``mapInPandas``, so the driver never holds a
file. The output for a logical date is one partition folder, swapped in whole::

    OUTPUT/date=YYYY-MM-DD/part-*.parquet       features: ``id`` + the feature columns (the schema of
                                                ``coding-potential features``)
    OUTPUT/date=YYYY-MM-DD/_quarantine/*.parquet rejected records: source, record_number, id, reason, message
    OUTPUT/date=YYYY-MM-DD/_summary.json        counts per file; records = valid + quarantined, checked

Parquet readers skip names starting with ``_``, so the features dataset keeps one schema.

Run with ``python -m spark_jobs.features_job --input A.fa [--input B.fa.gz ...] --output DIR --date D``;
on Databricks the same file is the ``spark_python_task`` (``--master`` left unset there).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import date as Date
from pathlib import Path

from coding_potential.fasta import FastaFormatError, Record, read_records
from coding_potential.features import compute_features, feature_columns
from pipeline.files import replaced_folder

#: Records featurised per pandas batch inside a task (bounds a task's memory).
BATCH_RECORDS = 20_000
QUARANTINE_COLUMNS = ("source", "record_number", "id", "reason", "message")
#: ``record_number`` of a quarantine row that stands for a whole unreadable file.
WHOLE_FILE = 0
#: A plain FASTA file larger than this is cut, at record starts, into ranges of about this size, one
#: task each; gzip, UTF-16 and CR-only files are read whole by one task (they cannot be cut).
SPLIT_BYTES = 32 * 1024 * 1024


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
    """One row type for valid and rejected records (``kind`` tells them apart), split after the map.

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


def featurise_ranges(frames: Iterator) -> Iterator:
    """``mapInPandas`` body: every record of every byte range in ``frames`` (path, chunk, start, end).

    Records are numbered within their range here; :func:`run` adds the records of the earlier ranges.
    """
    for frame in frames:
        for path, chunk, start, end in frame[["path", "chunk", "start", "end"]].itertuples(index=False):
            for valid, rejected in _range_batches(path, int(start), int(end)):
                # Valid and rejected rows go in separate frames: a column never mixes numbers and nulls.
                if valid:
                    yield _valid_frame(path, valid).assign(chunk=chunk)
                if rejected:
                    yield _rejected_frame(path, rejected).assign(chunk=chunk)


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


def _valid_frame(path: str, records: list[Record]):
    import pandas as pd

    features = compute_features([r.sequence for r in records])
    frame = pd.DataFrame({"kind": "valid", "source": path, "record_number": [r.number for r in records],
                          "id": [r.id for r in records], **{name: features[name] for name in feature_names()}})
    frame["reason"] = frame["message"] = None
    return frame


def _rejected_frame(path: str, rejected: list[tuple]):
    import pandas as pd

    frame = pd.DataFrame(rejected, columns=["record_number", "id", "reason", "message"])
    frame.insert(0, "kind", "rejected")
    frame.insert(1, "source", path)
    for name in feature_names():
        frame[name] = None
    return frame[["kind", "source", "record_number", "id", *feature_names(), "reason", "message"]]


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
    from pipeline import lake
    from pipeline.tables import write_parquet

    spark = spark or spark_session()
    records = spark.read.parquet(validated).select(*KEY_COLUMNS, "sequence")
    rows_in = records.count()
    species = [r["species"] for r in records.select("species").distinct().collect()]
    by_species = bool(species) and None not in species
    with replaced_folder(lake.local_path(output)) as staging:
        if not rows_in:  # Spark writes no file for no rows; readers still need the schema
            write_parquet(featurise_validated_table(None), staging / "part-00000.parquet")
            return {"validated": validated, "features": output, "rows": 0, "species": []}
        featured = records.mapInPandas(_featurise_frames, schema=validated_features_schema())
        writer = featured.write.mode("overwrite")
        (writer.partitionBy("species") if by_species else writer).parquet(str(staging))
        rows_out = spark.read.parquet(str(staging)).count()
        if rows_out != rows_in:
            raise RuntimeError(f"{validated}: {rows_in} validated records but {rows_out} feature rows: "
                               f"not publishing {output}")
    return {"validated": validated, "features": output, "rows": rows_in,
            "species": sorted(s for s in species if s is not None)}


def spark_session(master: str | None = "local[*]"):
    """A Spark session; ``master=None`` takes the cluster's (Databricks). Local runs stay on loopback."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("coding-potential-features")
    if master:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (builder.master(master).config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1").config("spark.ui.enabled", "false")
                   .config("spark.sql.shuffle.partitions", "4"))
    return builder.getOrCreate()


def run(inputs: Sequence[str], output: str, logical_date: str, spark=None, split_bytes: int = SPLIT_BYTES) -> dict:
    """Featurise ``inputs`` into ``OUTPUT/date=LOGICAL_DATE/``, replacing that partition whole.

    Returns
    -------
    dict
        The run summary (also written as ``_summary.json``): per-file records, valid and quarantined
        counts, whole-file errors, and the partition's path.

    Raises
    ------
    RuntimeError
        When a file's records do not reconcile (records != valid + quarantined): nothing is published.
    """
    from pyspark.sql import functions as F

    Date.fromisoformat(logical_date)
    output = output.removeprefix("file://")  # the local lake; abfss:// comes with the azure profile
    spark = spark or spark_session()
    paths = [str(Path(p).resolve()) for p in inputs]
    ranges = [(path, chunk, start, end) for path in paths
              for chunk, (start, end) in enumerate(plan_ranges(path, split_bytes))]
    tasks = spark.createDataFrame(ranges, "path string, chunk long, start long, end long")
    # Cached: the features are computed once, whatever reads them after (numbering, summary, writes).
    mapped = tasks.repartition(max(len(ranges), 1)).mapInPandas(featurise_ranges, schema=output_schema()).cache()
    rows = _reject_later_duplicates(_number_across_ranges(mapped))
    target = Path(output) / f"date={logical_date}"
    try:
        with replaced_folder(target) as staging:
            summary = _summary(rows, paths, logical_date)
            (rows.filter(F.col("kind") == "valid").select("id", *feature_names())
             .write.mode("overwrite").parquet(str(staging)))
            (rows.filter(F.col("kind") == "rejected").select(*QUARANTINE_COLUMNS)
             .write.mode("overwrite").parquet(str(staging / "_quarantine")))
            summary["partition"] = str(target)
            (staging / "_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    finally:
        mapped.unpersist()
    return summary


def _number_across_ranges(rows):
    """File-wide record numbers: a range's own numbers plus the records of the file's earlier ranges.

    Only the small table of per-range counts moves (broadcast); the feature rows stay where they are.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = rows.groupBy("source", "chunk").agg(F.max("record_number").alias("in_chunk"))
    earlier = Window.partitionBy("source").orderBy("chunk").rowsBetween(Window.unboundedPreceding, -1)
    offsets = counts.select("source", "chunk", F.coalesce(F.sum("in_chunk").over(earlier), F.lit(0)).alias("offset"))
    numbered = rows.join(F.broadcast(offsets), ["source", "chunk"]).withColumn(
        "record_number", F.when(F.col("record_number") == WHOLE_FILE, WHOLE_FILE)
        .otherwise(F.col("record_number") + F.col("offset")))
    return numbered.drop("offset")


def _reject_later_duplicates(rows):
    """The reader keeps the first valid record of an ID within its range; across ranges, the same rule.

    The IDs kept more than once are found on a narrow projection (source, id, number), then joined back
    by broadcast: the wide feature rows are never shuffled.
    """
    from pyspark.sql import functions as F

    repeated = (rows.filter(F.col("kind") == "valid").groupBy("source", "id")
                .agg(F.min("record_number").alias("first_number"), F.count("*").alias("kept"))
                .filter(F.col("kept") > 1).drop("kept"))
    marked = rows.join(F.broadcast(repeated), ["source", "id"], "left")
    later = (F.col("kind") == "valid") & F.col("first_number").isNotNull() & (
        F.col("record_number") > F.col("first_number"))
    message = F.format_string("record %d '%s': duplicate ID: record %d has it", F.col("record_number"),
                              F.col("id"), F.col("first_number"))
    feature_nulls = {name: F.when(later, F.lit(None)).otherwise(F.col(name)) for name in feature_names()}
    return (marked.withColumns(feature_nulls)
            .withColumn("reason", F.when(later, F.lit("duplicate_id")).otherwise(F.col("reason")))
            .withColumn("message", F.when(later, message).otherwise(F.col("message")))
            .withColumn("kind", F.when(later, F.lit("rejected")).otherwise(F.col("kind")))
            .drop("first_number"))


def _summary(rows, paths: list[str], logical_date: str) -> dict:
    """Counts per file, and the reconciliation: every record numbered by the parser is accounted for."""
    from pyspark.sql import functions as F

    per_file = {r["source"]: r.asDict() for r in rows.groupBy("source").agg(
        F.sum(F.when(F.col("kind") == "valid", 1).otherwise(0)).alias("valid"),
        F.sum(F.when((F.col("kind") == "rejected") & (F.col("record_number") > WHOLE_FILE), 1).otherwise(0))
        .alias("quarantined"),
        F.max("record_number").alias("records"),
        F.max(F.when(F.col("record_number") == WHOLE_FILE, F.col("reason"))).alias("file_error"),
    ).collect()}
    files = []
    for path in paths:
        counts = per_file.get(path, {"valid": 0, "quarantined": 0, "records": 0, "file_error": None})
        entry = {"path": path, "records": int(counts["records"] or 0), "valid": int(counts["valid"]),
                 "quarantined": int(counts["quarantined"]), "file_error": counts["file_error"]}
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
    options = parser.parse_args(argv)
    spark = spark_session(None if options.master == "cluster" else options.master)
    summary = run(options.input, options.output, options.date, spark)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
