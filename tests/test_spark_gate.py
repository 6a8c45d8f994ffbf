"""The data-quality gate inside the Spark features job: the same suites give the same outcomes on a
Spark DataFrame as on the single-process path's pandas DataFrame, and a failed gate publishes nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from coding_potential.fasta import read_records
from pipeline.tables import records_table, rejected_table, split_outputs

pytestmark = pytest.mark.slow

#: A protein sequence: the reader rejects it (invalid_character).
PROTEIN = "MKVLAAGIVGLLLAQWERTYIPASDFGHKLMKVLAAGIVGLLLAQWERTYIPASDFGHKL"
#: Cut size of the test files: a few ranges each, so IDs meet across ranges (as in test_spark_features).
SPLIT_BYTES = 100_000


@pytest.fixture(autouse=True)
def gx_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GX context of the test's own (never var/gx)."""
    root = tmp_path / "gx"
    monkeypatch.setenv("CODING_POTENTIAL_GX_ROOT", str(root))
    return root


def _write_fasta(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{header}\n{sequence}\n" for header, sequence in records))
    return path


@pytest.fixture(scope="module")
def labelled(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real human transcripts (200 coding, 200 noncoding), with odd records appended: a protein, a 10% N
    sequence and a short one to the coding file, the noncoding file's first ID again at its end (a later
    range)."""
    from tests.conftest import read_plain_fasta

    folder = tmp_path_factory.mktemp("gate_inputs")
    coding = read_plain_fasta(shared / "data" / "human" / "train_coding.fa.gz")[:200]
    noncoding = read_plain_fasta(shared / "data" / "human" / "train_noncoding.fa.gz")[:200]
    first_id = noncoding[0][0].split()[0]
    return {
        "coding": _write_fasta(folder / "coding.fa", [*coding, ("protein_1", PROTEIN),
                                                      ("ten_percent_n", "ACGTTGCAG" * 30 + "N" * 30),
                                                      ("short_one", "ACGGTCA" * 20)]),
        "noncoding": _write_fasta(folder / "noncoding.fa", [*noncoding, (f"{first_id} again", "ACGTACGTAAACCC")]),
    }


def _outcomes(outcomes: list[dict]) -> list[tuple]:
    """What both engines must agree on (the example IDs may come in another order)."""
    return [(o["expectation"], o["success"], o["failing"], o["checked"], o["observed"]) for o in outcomes]


def _pandas_records(paths: list[Path], labels: dict[str, int]) -> tuple[pa.Table, dict[str, int]]:
    """The single-process path's records table (the reader, the pipeline's tables) and records read."""
    from validation.records import gate_table

    validated, rejected, read = [], [], {}
    for path in paths:
        source = str(path.resolve())  # the job names a file by its resolved path, as its summary does
        records, rejections = split_outputs(read_records(path))
        validated.append(records_table(records, source=source, label=labels[path.name]))
        rejected.append(rejected_table(rejections, source))
        read[source] = len(records) + len(rejections)
    return gate_table(pa.concat_tables(validated), pa.concat_tables(rejected)), read


def _rows(rows: list[dict]) -> list[tuple]:
    from validation.records import COLUMNS

    return sorted(tuple(row[name] for name in COLUMNS) for row in rows)


@pytest.fixture
def spark_frames(monkeypatch: pytest.MonkeyPatch) -> list[list[dict]]:
    """The rows of each Spark DataFrame the job hands to ``run_gate`` (the real one still runs)."""
    import validation.gate

    frames: list[list[dict]] = []
    real = validation.gate.run_gate

    def recording(frame, *args, **kwargs):
        if hasattr(frame, "toPandas"):  # not the test's own pandas frames
            frames.append([row.asDict() for row in frame.collect()])
        return real(frame, *args, **kwargs)

    monkeypatch.setattr(validation.gate, "run_gate", recording)
    return frames


def test_spark_and_pandas_gates_agree_on_real_records(spark, labelled, spark_frames, tmp_path):
    from dataclasses import asdict

    from spark_jobs.features_job import GATE_FOLDER, plan_ranges, run
    from tests.conftest import read_plain_fasta
    from validation.gate import run_gate
    from validation.settings import GateThresholds

    paths = [labelled["coding"], labelled["noncoding"]]
    assert all(len(plan_ranges(str(p), SPLIT_BYTES)) > 2 for p in paths)  # cut: the duplicate is in a later range
    labels = {"coding.fa": 1, str(labelled["noncoding"]): 0}  # by file name or by path
    naive = [s for p in paths for _, s in read_plain_fasta(p)]
    valid = [s for s in naive if s != PROTEIN][:-1]  # the reader drops the protein and the later duplicate
    # Independently of the reader: ambiguity codes (anything but ACGT) over 5%, and records under 200 nt.
    ambiguous = sum(1 for s in valid if sum(c not in "ACGT" for c in s) > 0.05 * len(s))
    short = sum(1 for s in valid if len(s) < GateThresholds().min_length)
    assert ambiguous >= 1 and short >= 1  # the appended records at least
    table, read = _pandas_records(paths, {"coding.fa": 1, "noncoding.fa": 0})

    outcomes = {}
    for gate in ("training", "prediction"):
        summary = run([str(p) for p in paths], str(tmp_path / "lake"), "2026-02-01", spark,
                      split_bytes=SPLIT_BYTES, gate=gate, labels=labels)
        spark_outcomes = _outcomes(summary["gate"]["outcomes"])
        local = run_gate(table.to_pandas(), gate, GateThresholds(), read, run_name="pandas")
        # The same rows (file-wide numbers, the later duplicate rejected), then the same outcomes.
        assert _rows(spark_frames[-1]) == _rows(table.to_pylist())
        assert spark_outcomes == _outcomes([asdict(o) for o in local.outcomes]), gate
        assert summary["gate"]["passed"] and local.passed
        by_type = outcomes[gate] = {o[0]: o for o in spark_outcomes}
        assert by_type["expect_records_to_reconcile_with_reader"][1:] == (True, None, None, 404)
        assert by_type["expect_records_to_pass_the_reader"][1:4] == (True, 2, 404)  # the protein, the duplicate
        assert by_type["expect_ambiguous_base_fraction_to_be_at_most"][1:4] == (ambiguous == 0, ambiguous, 402)
        assert by_type["expect_column_values_to_be_between"][2:4] == (short, 402)
        # The gate reconciles with the summary: the rejections are the quarantine's.
        assert (summary["records"], summary["valid"], summary["quarantined"]) == (404, 402, 2)
        partition = tmp_path / "lake" / "date=2026-02-01"
        assert not (partition / GATE_FOLDER).exists()  # the gate rows are not published
        assert pq.read_table(partition).num_rows == 402
    assert outcomes["training"]["expect_column_values_to_be_unique"][1:4] == (True, 0, 402)
    assert outcomes["training"]["expect_column_distinct_values_to_contain_set"][1:2] == (True,)
    # the coding share of what training keeps (>= 200 nt); the dropped duplicate is the noncoding file's last
    coding = [s for _, s in read_plain_fasta(paths[0]) if s != PROTEIN]
    noncoding = [s for _, s in read_plain_fasta(paths[1]) if s != PROTEIN][:-1]
    kept_coding, kept_noncoding = (sum(len(s) >= 200 for s in part) for part in (coding, noncoding))
    assert outcomes["training"]["expect_column_mean_to_be_between"][-1] == pytest.approx(
        kept_coding / (kept_coding + kept_noncoding))


@pytest.fixture
def protein_heavy(shared: Path, tmp_path: Path) -> Path:
    """100 real transcripts and 2 proteins: 2% rejected, over the prediction gate's 1%."""
    from tests.conftest import read_plain_fasta

    records = read_plain_fasta(shared / "data" / "human" / "train_noncoding.fa.gz")[:100]
    return _write_fasta(tmp_path / "scoring.fa", [*records[:50], ("protein_1", PROTEIN), *records[50:],
                                                  ("protein_2", PROTEIN)])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_prediction_gate_publishes_nothing(spark, protein_heavy, tmp_path):
    from spark_jobs.features_job import run
    from tests.conftest import read_plain_fasta
    from validation.gate import GateFailed

    lake = tmp_path / "lake"
    with pytest.raises(GateFailed, match="expect_records_to_pass_the_reader") as failed:
        run([str(protein_heavy)], str(lake), "2026-02-02", spark, gate="prediction")
    (hard,) = failed.value.result.hard_failures
    assert (hard.expectation, hard.failing, hard.checked) == ("expect_records_to_pass_the_reader", 2, 102)
    assert sorted(hard.examples) == ["protein_1", "protein_2"]
    assert not (lake / "date=2026-02-02").exists()

    # A date with a partition keeps it, byte for byte; no staging is left behind.
    clean = _write_fasta(tmp_path / "clean.fa", [(h, s) for h, s in read_plain_fasta(protein_heavy) if s != PROTEIN])
    run([str(clean)], str(lake), "2026-02-03", spark)
    before = _files(lake / "date=2026-02-03")
    with pytest.raises(GateFailed):
        run([str(protein_heavy)], str(lake), "2026-02-03", spark, gate="prediction")
    assert _files(lake / "date=2026-02-03") == before
    assert sorted(p.name for p in lake.iterdir()) == ["date=2026-02-03"]


def test_the_job_command_exits_1_with_the_gate_message(spark, protein_heavy, tmp_path, capsys):
    from spark_jobs.features_job import main

    code = main(["--input", str(protein_heavy), "--output", str(tmp_path / "lake"), "--date", "2026-02-04",
                 "--master", "local[2]", "--gate", "prediction"])  # the session of the fixture, reused
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert "prediction gate failed" in captured.err
    assert "FAILED expect_records_to_pass_the_reader" in captured.err and "2 of 102 records fail" in captured.err
    assert "report: " in captured.err  # the Data Docs of the run
    assert not (tmp_path / "lake" / "date=2026-02-04").exists()


def test_gate_names_and_labels_are_checked_before_any_work(tmp_path):
    from spark_jobs.features_job import _label, run

    with pytest.raises(ValueError, match="unknown gate 'scoring'"):
        run(["missing.fa"], str(tmp_path / "lake"), "2026-02-05", spark=object(), gate="scoring")
    path = str(tmp_path / "a.fa")
    assert _label(path, {"a.fa": 1}) == _label(path, {path: 1}) == 1
    assert _label(path, {"b.fa": 0}) is None and _label(path, None) is None


def test_an_unusable_file_is_refused_not_gated(spark, shared, tmp_path):
    """A whole-file error refuses a gated run, as the single-process gate does (exit 3 there), and the
    date keeps no partition; the same empty frame gives the same outcomes on Spark and pandas."""
    from dataclasses import asdict

    from coding_potential.fasta import FastaFormatError
    from spark_jobs.features_job import run
    from validation.gate import run_gate
    from validation.records import SCHEMA
    from validation.settings import GateThresholds

    fastq = str(shared / "cases" / "fasta" / "inputs" / "c20_fastq_given.fq")
    with pytest.raises(FastaFormatError, match=r"unusable input, not gated: .*c20_fastq_given.fq: fastq_input"):
        run([fastq], str(tmp_path / "lake"), "2026-02-06", spark, gate="prediction")
    assert not (tmp_path / "lake" / "date=2026-02-06").exists()
    empty = spark.createDataFrame(SCHEMA.empty_table())  # Spark 4 takes an Arrow table with its types
    on_spark = run_gate(empty, "prediction", GateThresholds(), {}, "spark empty")
    local = run_gate(SCHEMA.empty_table().to_pandas(), "prediction", GateThresholds(), {}, "pandas empty")
    assert _outcomes([asdict(o) for o in on_spark.outcomes]) == _outcomes([asdict(o) for o in local.outcomes])
