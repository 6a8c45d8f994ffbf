"""The Spark features job on local Spark: same values as the in-process path, records reconcile, and a
rerun of a date replaces its partition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.tables import featurise_file
from spark_jobs.features_job import QUARANTINE_COLUMNS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_subset(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import read_plain_fasta

    records = read_plain_fasta(shared / "data" / "mouse" / "validation_noncoding.fa.gz")[:400]
    path = tmp_path_factory.mktemp("subset") / "mouse_nc.fa"
    path.write_text("".join(f">{h}\n{s}\n" for h, s in records))
    return path


def test_spark_features_equal_the_in_process_features(spark, real_subset, tmp_path):
    from spark_jobs.features_job import run

    summary = run([str(real_subset)], str(tmp_path / "lake"), "2026-01-01", spark)
    assert (summary["records"], summary["valid"], summary["quarantined"]) == (400, 400, 0)
    spark_table = pq.read_table(tmp_path / "lake" / "date=2026-01-01").to_pandas().set_index("id").sort_index()
    local_table, _ = featurise_file(real_subset)
    local = local_table.to_pandas().set_index("id").sort_index()
    assert list(spark_table.columns) == list(local.columns)  # one schema for both engines
    for column in local.columns:
        assert np.array_equal(spark_table[column].to_numpy(), local[column].to_numpy()), column
    quarantine = pq.read_table(tmp_path / "lake" / "date=2026-01-01" / "_quarantine")  # nothing rejected:
    assert (quarantine.num_rows, quarantine.column_names) == (0, list(QUARANTINE_COLUMNS))  # the schema still


def test_records_reconcile_per_file_with_quarantine(spark, shared, tmp_path):
    from spark_jobs.features_job import run

    cases = shared / "cases" / "fasta"
    expected = json.loads((cases / "expected.json").read_text())
    names = ["c03_iupac_gaps.fa", "c06_duplicate_ids.fa", "c20_fastq_given.fq"]
    summary = run([str(cases / "inputs" / n) for n in names], str(tmp_path / "lake"), "2026-01-02", spark)
    by_name = {Path(f["path"]).name: f for f in summary["files"]}
    for name in names[:2]:
        assert by_name[name]["records"] == expected[name]["records_in_file"]
        assert (by_name[name]["valid"], by_name[name]["quarantined"]) == (
            expected[name]["expected_valid"], expected[name]["expected_rejected"])
        assert by_name[name]["file_error"] is None
    assert by_name["c20_fastq_given.fq"]["file_error"] == "fastq_input"
    partition = tmp_path / "lake" / "date=2026-01-02"
    quarantine = pq.read_table(partition / "_quarantine").to_pandas()
    assert sorted(quarantine["reason"]) == sorted(["invalid_character"] * 2 + ["duplicate_id"] * 2 + ["fastq_input"])
    assert json.loads((partition / "_summary.json").read_text()) == summary
    assert pq.read_table(partition).num_rows == summary["valid"] == 6


def test_rerunning_a_date_replaces_its_partition(spark, shared, real_subset, tmp_path):
    from spark_jobs.features_job import run

    lake = tmp_path / "lake"
    small = shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa"
    run([str(real_subset)], str(lake), "2026-01-03", spark)
    run([str(real_subset)], str(lake), "2026-01-03", spark)
    assert pq.read_table(lake / "date=2026-01-03").num_rows == 400  # not 800
    run([str(small)], str(lake), "2026-01-03", spark)
    assert sorted(pq.read_table(lake / "date=2026-01-03").column("id").to_pylist()) == ["tx1", "tx2", "tx3"]
    assert sorted(p.name for p in lake.iterdir()) == ["date=2026-01-03"]  # no staging left behind


def test_cli_features_engine_spark(shared, real_subset, tmp_path):
    env = {**os.environ, "CODING_POTENTIAL_VAR": str(tmp_path / "var"), "PYSPARK_PYTHON": sys.executable}
    out = tmp_path / "features"
    result = subprocess.run([sys.executable, "-m", "cli", "features", str(real_subset), "--engine", "spark",
                             "--output", str(out), "--date", "2026-01-04"],
                            env=env, capture_output=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    summary_path = out / "date=2026-01-04" / "_summary.json"
    assert str(summary_path) in result.stderr.decode().replace("\n", "")
    assert json.loads(summary_path.read_text())["valid"] == 400
    local = subprocess.run([sys.executable, "-m", "cli", "features", str(real_subset), "--output",
                            str(tmp_path / "local"), "--date", "2026-01-04"],
                           env=env, capture_output=True, timeout=600, check=False)
    assert local.returncode == 0
    assert pq.read_schema(out / "date=2026-01-04" / next(
        p.name for p in (out / "date=2026-01-04").glob("part-*.parquet"))).names == pq.read_schema(
        tmp_path / "local" / "date=2026-01-04" / "part-00000.parquet").names


def test_a_large_plain_file_is_cut_at_record_starts(spark, real_subset, tmp_path):
    """Many ranges, one task each: same features, same rejections and record numbers as one reader."""
    from coding_potential.fasta import Rejection, read_records
    from spark_jobs.features_job import plan_ranges, run

    text = real_subset.read_text()
    records = text.split("\n>")
    # A duplicate ID far from its first use (another range); in between, an invalid record and an ID
    # repeated within the last range (the reader's own rejection, numbered within that range).
    first_id = records[0].lstrip(">").split()[0]
    path = tmp_path / "big.fa"
    path.write_text(text + ">bad_one\nACGT-ACGT\n" + ">twice\nACGTACGTCC\n>twice\nACGTACGTCC\n"
                    + f">{first_id} again\nACGTACGTAAA\n")
    ranges = plan_ranges(str(path), 20_000)
    data = path.read_bytes()
    assert len(ranges) > 10 and ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(end == next_start for (_, end), (next_start, _) in pairwise(ranges))
    assert all(data[start:start + 1] == b">" and data[start - 1:start] == b"\n" for start, _ in ranges[1:])

    # Without a repeated ID, the ranges' ID hashes all differ: no duplicate check runs in Spark.
    clean = run([str(real_subset)], str(tmp_path / "lake"), "2026-01-04", spark, split_bytes=20_000)
    assert (clean["records"], clean["valid"], clean["quarantined"]) == (400, 400, 0)
    assert pq.read_table(tmp_path / "lake" / "date=2026-01-04").num_rows == 400

    summary = run([str(path)], str(tmp_path / "lake"), "2026-01-05", spark, split_bytes=20_000)
    partition = tmp_path / "lake" / "date=2026-01-05"
    local_table, _ = featurise_file(path)
    local = local_table.to_pandas().set_index("id").sort_index()
    spark_table = pq.read_table(partition).to_pandas().set_index("id").sort_index()
    assert spark_table.index.tolist() == local.index.tolist()
    for column in local.columns:
        assert np.array_equal(spark_table[column].to_numpy(), local[column].to_numpy()), column
    rejections = [r for r in read_records(path) if isinstance(r, Rejection)]
    expected = sorted((r.number, r.id, r.reason) for r in rejections)
    quarantine = pq.read_table(partition / "_quarantine").to_pandas()
    assert sorted(zip(quarantine["record_number"], quarantine["id"], quarantine["reason"], strict=True)) == expected
    assert [reason for _, _, reason in expected] == ["invalid_character", "duplicate_id", "duplicate_id"]
    # File-wide numbers in the messages too: the reader's message, or for an ID kept in an earlier range
    # its start (the reader's also says whether the sequences are the same).
    messages = {r.number: r.message for r in rejections}
    assert all(messages[n].startswith(m) for n, m in zip(quarantine["record_number"], quarantine["message"],
                                                          strict=True))
    assert (summary["records"], summary["valid"], summary["quarantined"]) == (404, 401, 3)


def test_a_run_killed_midway_then_rerun_leaves_exactly_the_right_partition(shared, tmp_path):
    """Kill the job while it writes: the date keeps its previous partition; the rerun replaces it exactly."""
    import signal
    import time

    from tests.conftest import read_plain_fasta

    lake, day = tmp_path / "lake", "2026-01-06"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    job = [sys.executable, "-m", "spark_jobs.features_job", "--output", str(lake), "--date", day, "--master",
           "local[2]"]
    small = shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa"
    subprocess.run([*job, "--input", str(small)], env=env, check=True, capture_output=True, timeout=600)
    big = tmp_path / "big.fa"
    records = read_plain_fasta(shared / "data" / "human" / "train_noncoding.fa.gz")[:20_000]
    big.write_text("".join(f">{h}\n{s}\n" for h, s in records))
    expected_ids = sorted({h.split()[0] for h, _ in records})
    with subprocess.Popen([*job, "--input", str(big)], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True) as process:
        deadline = time.monotonic() + 300
        while not list(lake.glob(f"_staging-date={day}-*")) and time.monotonic() < deadline:
            assert process.poll() is None, "the job ended before it could be killed while writing"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)  # the driver and its JVM, mid-write
        process.wait(timeout=60)
    assert list(lake.glob(f"_staging-date={day}-*")), "killed while writing: staging was left behind"
    assert sorted(pq.read_table(lake / f"date={day}").column("id").to_pylist()) == ["tx1", "tx2", "tx3"]
    subprocess.run([*job, "--input", str(big)], env=env, check=True, capture_output=True, timeout=600)
    assert sorted(pq.read_table(lake / f"date={day}").column("id").to_pylist()) == expected_ids
    assert sorted(p.name for p in lake.iterdir()) == [f"date={day}"]  # leftovers of the killed run removed


def test_a_run_with_no_valid_record_publishes_both_schemas(spark, shared, tmp_path):
    """Only an unusable file (given twice: read once): an empty features file and the whole-file row."""
    from spark_jobs.features_job import WHOLE_FILE, feature_names, run

    fastq = str(shared / "cases" / "fasta" / "inputs" / "c20_fastq_given.fq")
    summary = run([fastq, fastq], str(tmp_path / "lake"), "2026-01-07", spark)
    assert [(f["records"], f["file_error"]) for f in summary["files"]] == [(0, "fastq_input")]
    partition = tmp_path / "lake" / "date=2026-01-07"
    features = pq.read_table(partition)
    assert (features.num_rows, features.column_names) == (0, ["id", *feature_names()])
    quarantine = pq.read_table(partition / "_quarantine").to_pandas()
    assert list(zip(quarantine["record_number"], quarantine["reason"], strict=True)) == [(WHOLE_FILE, "fastq_input")]


def test_range_sizes_give_every_core_work_in_whole_waves():
    from spark_jobs.features_job import SPLIT_BYTES, _range_bytes

    mb = 1024 * 1024
    assert _range_bytes(150 * mb, SPLIT_BYTES, 2) == 25 * mb  # six ranges on two cores, not five
    assert _range_bytes(20 * mb, SPLIT_BYTES, 2) == 20 * mb  # not cut: two 10 MB ranges cost more than they save
    assert _range_bytes(40 * mb, SPLIT_BYTES, 4) == 20 * mb  # two ranges: four would be under 16 MB
    assert _range_bytes(1_000_000, 20_000, 2) == 20_000  # a smaller cut asked for is a smaller cut
    assert _range_bytes(3_800, SPLIT_BYTES, 2) == 3_800
