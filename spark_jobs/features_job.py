"""Spark job: parse → validate → features of FASTA files, with the core's functions (no second copy).

Each input file is read by one task with :func:`coding_potential.fasta.read_records` and featurised in
batches by :func:`coding_potential.features.compute_features` inside ``mapInPandas``, so the driver never
holds a file. The output for a logical date is one partition folder, swapped in whole::

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
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Sequence
from datetime import date as Date
from pathlib import Path

from coding_potential.fasta import FastaFormatError, Record, read_records
from coding_potential.features import compute_features, feature_columns

#: Records featurised per pandas batch inside a task (bounds a task's memory).
BATCH_RECORDS = 20_000
#: Integer feature columns (every other feature column is a double).
INTEGER_COLUMNS = frozenset({"length", "n_ambiguous", "n_unambiguous", "orf_length", "orf_start", "orf_frame",
                             "open_orf_length", "stopfree_length"})
QUARANTINE_COLUMNS = ("source", "record_number", "id", "reason", "message")
#: ``record_number`` of a quarantine row that stands for a whole unreadable file.
WHOLE_FILE = 0


def feature_names() -> list[str]:
    """The model-independent feature columns, in the order ``coding-potential features`` writes them."""
    return feature_columns(with_hexamer=False)


def output_schema():
    """One row type for valid and rejected records (``kind`` tells them apart), split after the map."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    fields = [StructField("kind", StringType(), False), StructField("source", StringType(), False),
              StructField("record_number", LongType(), False), StructField("id", StringType(), True)]
    fields += [StructField(name, LongType() if name in INTEGER_COLUMNS else DoubleType(), True)
               for name in feature_names()]
    fields += [StructField("reason", StringType(), True), StructField("message", StringType(), True)]
    return StructType(fields)


def featurise_paths(frames: Iterator) -> Iterator:
    """``mapInPandas`` body: every record of every file named in ``frames['path']``, as output rows."""
    for frame in frames:
        for path in frame["path"]:
            for valid, rejected in _file_batches(path):
                # Valid and rejected rows go in separate frames: a column never mixes numbers and nulls.
                if valid:
                    yield _valid_frame(path, valid)
                if rejected:
                    yield _rejected_frame(path, rejected)


def _file_batches(path: str) -> Iterator[tuple[list[Record], list[tuple]]]:
    valid: list[Record] = []
    rejected: list[tuple] = []
    try:
        for output in read_records(path):
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
    return frame[[field.name for field in output_schema().fields]]


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


def run(inputs: Sequence[str], output: str, logical_date: str, spark=None) -> dict:
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
    files = spark.createDataFrame([(p,) for p in paths], "path string").repartition(max(len(paths), 1))
    rows = files.mapInPandas(featurise_paths, schema=output_schema()).cache()
    try:
        summary = _summary(rows, paths, logical_date)
        staging = Path(output) / f"_staging-{uuid.uuid4().hex}"
        (rows.filter(F.col("kind") == "valid").select("id", *feature_names())
         .write.mode("overwrite").parquet(str(staging)))
        (rows.filter(F.col("kind") == "rejected").select(*QUARANTINE_COLUMNS)
         .write.mode("overwrite").parquet(str(staging / "_quarantine")))
    finally:
        rows.unpersist()
    target = Path(output) / f"date={logical_date}"
    summary["partition"] = str(target)
    (staging / "_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    _swap_in(staging, target)
    return summary


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


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames only: readers see the old or the new partition."""
    old = target.with_name(f"_replaced-{uuid.uuid4().hex}")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


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
