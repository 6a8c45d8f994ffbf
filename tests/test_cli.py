"""The command line end to end, as a user runs it, on real records."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import read_plain_fasta


def run_cli(*args: str, var: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CODING_POTENTIAL_VAR": str(var)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, input=stdin, capture_output=True,
                          timeout=600, check=False)


@pytest.fixture(scope="session")
def trained(shared, tmp_path_factory) -> Path:
    """A var/ with a champion trained by `coding-potential train` on a small real sample (human and mouse)."""
    var = tmp_path_factory.mktemp("trained") / "var"
    result = run_cli("train", "--sample-per-file", "250", "--families", "logistic_regression", "random_forest",
                     var=var)
    assert result.returncode == 0, result.stderr.decode()
    registered = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert registered["promoted"] and registered["version"] == "1"
    return var


def test_train_registers_a_champion_with_artifacts(trained):
    import mlflow

    uri = f"sqlite:///{trained / 'mlflow' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias("coding-potential", "champion")
    assert str(version.version) == "1"
    run = client.get_run(version.run_id)
    assert run.data.metrics["validation_split_auroc"] > 0.9
    artifacts = {a.path for a in client.list_artifacts(version.run_id, "definitions")}
    assert artifacts == {"definitions/model.json", "definitions/hexamer.tsv"}
    plots = {a.path for a in client.list_artifacts(version.run_id, "evaluation/validation_split")}
    assert {"evaluation/validation_split/roc.png", "evaluation/validation_split/confusion.png"} <= plots


def champion_threshold(var: Path) -> float:
    """The decision threshold the champion was registered with (a run parameter in MLflow)."""
    import mlflow

    uri = f"sqlite:///{var / 'mlflow' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias("coding-potential", "champion")
    return float(client.get_run(version.run_id).data.params["threshold"])


def test_predict_writes_one_row_per_valid_record(trained, shared, tmp_path):
    source = shared / "data" / "mouse" / "validation_coding.fa.gz"
    expected = read_plain_fasta(source)[:300]
    small = tmp_path / "mouse.fa"
    small.write_text("".join(f">{h}\n{s}\n" for h, s in expected))
    out = tmp_path / "out.tsv"
    result = run_cli("predict", str(small), "-o", str(out), var=trained)
    assert result.returncode == 0, result.stderr.decode()
    threshold = champion_threshold(trained)
    assert 0.0 < threshold < 1.0
    with out.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    # GENCODE-style headers give their first '|' field as the ID.
    assert [r["id"] for r in rows] == [h.split()[0].split("|")[0] for h, _ in expected]
    for row, (_, sequence) in zip(rows, expected, strict=True):
        assert int(row["length"]) == len(sequence)
        assert 0.0 <= float(row["coding_probability"]) <= 1.0
        probability = float(row["coding_probability"])  # printed to 6 decimals
        if abs(probability - threshold) > 1e-6:
            assert row["label"] == ("coding" if probability >= threshold else "noncoding")
        acgt = sum(sequence.count(b) for b in "ACGT")
        assert row["gc_content"] == f"{(sequence.count('G') + sequence.count('C')) / acgt:.4f}"
    # The sample is held-out mouse protein-coding mRNA (training left out its relatives): most are coding.
    assert sum(r["label"] == "coding" for r in rows) / len(rows) > 0.8
    assert (tmp_path / "out.rejected.tsv").read_text() == "record_number\tid\treason\tmessage\n"


def test_predict_reports_rejections_and_orf_values(trained, shared, tmp_path):
    cases = shared / "cases" / "fasta"
    expected = json.loads((cases / "expected.json").read_text())["c03_iupac_gaps.fa"]
    out = tmp_path / "c03.tsv"
    result = run_cli("predict", str(cases / "inputs" / "c03_iupac_gaps.fa"), "-o", str(out), var=trained)
    assert result.returncode == 0, result.stderr.decode()
    rows = {r["id"]: r for r in csv.DictReader(out.open(), delimiter="\t")}
    rejected = list(csv.DictReader((tmp_path / "c03.rejected.tsv").open(), delimiter="\t"))
    assert len(rows) == expected["expected_valid"] and len(rejected) == expected["expected_rejected"]
    for record in expected["records"]:
        if record["status"] == "valid":
            row = rows[record["id"]]
            assert float(row["gc_content"]) == pytest.approx(record["gc_fraction"], abs=1e-4)
            assert int(row["longest_orf_nt"]) == record.get("longest_orf_nt_iupac_aware", record["longest_orf_nt"])
    assert {r["reason"] for r in rejected} == {"invalid_character"}
    assert "2 rejected" in result.stderr.decode()


@pytest.mark.parametrize(("case", "code"), [("c20_fastq_given.fq", 3), ("c22c_empty_file.fa", 3),
                                            ("c22_not_fasta_gtf.txt", 3)])
def test_unusable_inputs_exit_3(trained, shared, tmp_path, case, code):
    path = shared / "cases" / "fasta" / "inputs" / case
    result = run_cli("predict", str(path), "-o", str(tmp_path / "x.tsv"), var=trained)
    assert result.returncode == code
    assert not (tmp_path / "x.tsv").exists()
    validate = run_cli("validate", str(path), "--json", var=trained)
    assert validate.returncode == 3
    assert json.loads(validate.stdout)["error"]


def test_validate_json_counts(shared, tmp_path):
    path = shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa"
    result = run_cli("validate", str(path), "--json", var=tmp_path)
    assert result.returncode == 0
    summary = json.loads(result.stdout)
    assert (summary["records"], summary["valid"], summary["rejected"]) == (5, 3, 2)
    # Every code is listed (a stable schema for reports), zero where it did not occur.
    assert summary["reasons"] == {"empty_id": 0, "empty_sequence": 0, "invalid_character": 0,
                                  "not_nucleotide": 0, "duplicate_id": 2}
    assert summary["warnings"] == {"mixed_t_and_u": 0, "ambiguous_bases": 0, "short_sequence": 1}  # tx3, 150 nt


def test_predict_without_champion_exits_1_and_says_how_to_train(shared, tmp_path):
    path = shared / "cases" / "fasta" / "inputs" / "c01_softmasked_lowercase.fa"
    result = run_cli("predict", str(path), var=tmp_path / "empty-var")
    assert result.returncode == 1
    assert "coding-potential train" in result.stderr.decode()
    assert not (tmp_path / "empty-var" / "mlflow").exists()  # looking for a champion creates nothing


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("predict", var=tmp_path).returncode == 2
    assert run_cli("features", "x.fa", "--output", "o", "--date", "2026-13-01", var=tmp_path).returncode == 2


def test_features_writes_a_date_partition(shared, tmp_path):
    import pyarrow.parquet as pq

    path = shared / "cases" / "fasta" / "inputs" / "c16_orf_edge_cases.fa"
    result = run_cli("features", str(path), "--output", str(tmp_path / "ds"), "--date", "2026-01-02", var=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    table = pq.read_table(tmp_path / "ds" / "date=2026-01-02" / "part-00000.parquet")
    assert table.num_rows == 8
    expected = json.loads((shared / "cases" / "fasta" / "expected.json").read_text())["c16_orf_edge_cases.fa"]
    assert table.column("orf_length").to_pylist() == [r["longest_orf_nt"] for r in expected["records"]]


def test_evaluate_prints_metrics(trained, shared, tmp_path):
    coding = tmp_path / "c.fa"
    noncoding = tmp_path / "n.fa"
    for name, target in (("validation_coding", coding), ("validation_noncoding", noncoding)):
        records = read_plain_fasta(shared / "data" / "mouse" / f"{name}.fa.gz")[:150]
        target.write_text("".join(f">{h}\n{s}\n" for h, s in records))
    result = run_cli("evaluate", "--coding", str(coding), "--noncoding", str(noncoding),
                     "--output", str(tmp_path / "report"), var=trained)
    assert result.returncode == 0, result.stderr.decode()
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 300 and metrics["tp"] + metrics["fn"] == 150
    assert metrics["auroc"] > 0.85
    assert (tmp_path / "report" / "report.html").is_file()


def test_predict_imports_neither_airflow_spark_mlflow_nor_sklearn(trained, shared, tmp_path):
    """Start-up is most of a small job's time: predict loads the cached champion with numpy alone."""
    path = shared / "cases" / "fasta" / "inputs" / "c01_softmasked_lowercase.fa"
    run_cli("predict", str(path), "-o", str(tmp_path / "warm.tsv"), var=trained)  # fills the model cache
    code = ("import sys; from cli.main import main; "
            f"rc = main(['predict', {str(path)!r}, '-o', {str(tmp_path / 'out.tsv')!r}]); "
            "print(rc, sorted(m for m in ('airflow', 'pyspark', 'mlflow', 'sklearn') if m in sys.modules))")
    env = {**os.environ, "CODING_POTENTIAL_VAR": str(trained)}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120, check=False)
    assert result.stdout.decode().strip().splitlines()[-1] == "0 []", result.stderr.decode()
    assert len((tmp_path / "out.tsv").read_text().splitlines()) == 4  # header + 3 records


# --------------------------------------------------------------------------------- outputs, misuse
def test_predict_never_writes_over_its_input_or_its_own_output(trained, shared, tmp_path):
    source = tmp_path / "in.fa"
    source.write_bytes((shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa").read_bytes())
    before = source.read_bytes()
    (tmp_path / "folder").mkdir()
    for args, says in (
        (["-o", str(source)], "is the input file"),
        (["-o", str(tmp_path / "r.tsv"), "--rejected", str(source)], "is the input file"),
        (["-o", str(tmp_path / "r.tsv"), "--rejected", str(tmp_path / "r.tsv")], "are the same file"),
        (["-o", str(tmp_path / "folder")], "is a folder"),
    ):
        result = run_cli("predict", str(source), *args, var=trained)
        assert result.returncode == 2, args
        assert says in result.stderr.decode() and "Traceback" not in result.stderr.decode(), args
    assert source.read_bytes() == before
    assert not (tmp_path / "r.tsv").exists()


def test_predict_gzip_output_and_file_modes(trained, shared, tmp_path):
    import gzip

    source = shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa"
    plain, packed = tmp_path / "plain.tsv", tmp_path / "packed.tsv.gz"
    for out in (plain, packed):
        result = subprocess.run([sys.executable, "-m", "cli", "predict", str(source), "-o", str(out)],
                                env={**os.environ, "CODING_POTENTIAL_VAR": str(trained)}, capture_output=True,
                                timeout=300, check=False, preexec_fn=lambda: os.umask(0o022))
        assert result.returncode == 0, result.stderr.decode()
    assert gzip.decompress(packed.read_bytes()).decode() == plain.read_text()
    assert len(plain.read_text().splitlines()) == 1 + 3
    # OUT.tsv.gz -> OUT.rejected.tsv, and files get the mode the umask gives (not mkstemp's 0600)
    for path in (plain, packed, tmp_path / "plain.rejected.tsv", tmp_path / "packed.rejected.tsv"):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_bad_model_uri_is_a_usage_error_in_one_line(trained, shared, tmp_path):
    source = shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa"
    for uri in ("models:/no-such-model/1", "models:/coding-potential", str(tmp_path / "no-bundle")):
        result = run_cli("predict", str(source), "--model", uri, var=trained)
        assert result.returncode == 2, uri
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("coding-potential: error: cannot load model"), lines


def test_empty_stdin_leaves_stdout_empty(trained):
    result = run_cli("predict", "-", var=trained, stdin=b"")
    assert result.returncode == 3 and result.stdout == b""


def test_evaluate_counts_and_names_rejections(trained, shared, tmp_path):
    cases = shared / "cases" / "fasta" / "inputs"
    coding, noncoding = cases / "c06_duplicate_ids.fa", cases / "c03_iupac_gaps.fa"
    result = run_cli("evaluate", "--coding", str(coding), "--noncoding", str(noncoding), var=trained)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    # c06: 5 records, 2 duplicate IDs; c03: 5 records, 2 with invalid characters (expected.json)
    assert report["inputs"]["coding"] == {"path": str(coding), "records": 5, "scored": 3, "rejected": 2}
    assert report["inputs"]["noncoding"] == {"path": str(noncoding), "records": 5, "scored": 3, "rejected": 2}
    assert report["n"] == 6
    stderr = result.stderr.decode()
    assert stderr.count(f"{coding}: rejected:") == 2 and stderr.count(f"{noncoding}: rejected:") == 2
    same = run_cli("evaluate", "--coding", str(coding), "--noncoding", str(coding), var=trained)
    assert same.returncode == 2 and "same file" in same.stderr.decode()


def test_features_reads_stdin(shared, tmp_path):
    import pyarrow.parquet as pq

    source = shared / "cases" / "fasta" / "inputs" / "c01_softmasked_lowercase.fa"
    result = run_cli("features", "-", "--output", str(tmp_path / "f"), var=tmp_path, stdin=source.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    table = pq.read_table(tmp_path / "f" / "part-00000.parquet")
    assert table.column("id").to_pylist() == [h.split()[0] for h, _ in read_plain_fasta(source)]


def test_validate_lists_and_writes_rejections(shared, tmp_path):
    path = shared / "cases" / "fasta" / "inputs" / "c03_iupac_gaps.fa"
    rejected = tmp_path / "rejected.tsv"
    result = run_cli("validate", str(path), "--rejected", str(rejected), var=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    rows = list(csv.DictReader(rejected.open(), delimiter="\t"))
    # expected.json: tx4 holds '-' and tx5 '*', both invalid characters
    assert [(r["record_number"], r["id"], r["reason"]) for r in rows] == [
        ("4", "tx4", "invalid_character"), ("5", "tx5", "invalid_character")]
    stderr = result.stderr.decode()
    assert "5 records, 3 valid, 2 rejected" in stderr and "record 4 'tx4'" in stderr
    assert "rejected empty_id" not in stderr  # zero counts are left out of the plain summary
    again = run_cli("validate", str(rejected), "--rejected", str(rejected), var=tmp_path)
    assert again.returncode == 2 and "is the input file" in again.stderr.decode()


def _read_fifo_in_background(path: Path) -> list[bytes]:
    import threading

    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(path.read_bytes()), daemon=True)
    reader.start()
    return received


def test_predict_writes_into_pipes_and_through_symlinks(trained, shared, tmp_path):
    source = shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa"  # 3 valid, 2 rejected
    fifo = tmp_path / "out.tsv"
    os.mkfifo(fifo)
    received = _read_fifo_in_background(fifo)
    result = run_cli("predict", str(source), "-o", str(fifo), var=trained)
    assert result.returncode == 0, result.stderr.decode()
    assert fifo.is_fifo() and len(received[0].decode().splitlines()) == 1 + 3
    assert not (tmp_path / "out.rejected.tsv").exists()  # nothing beside a pipe: listed on stderr
    assert result.stderr.decode().count("rejected: record") == 2
    link, target = tmp_path / "link.tsv", tmp_path / "target.txt"
    link.symlink_to(target.name)
    assert run_cli("predict", str(source), "-o", str(link), var=trained).returncode == 0
    assert link.is_symlink() and len(target.read_text().splitlines()) == 1 + 3


def test_predict_reads_a_pipe(trained, shared, tmp_path):
    source = shared / "cases" / "fasta" / "inputs" / "c13_gzip.fa.gz"
    fifo = tmp_path / "in.fa"
    os.mkfifo(fifo)
    env = {**os.environ, "CODING_POTENTIAL_VAR": str(trained)}
    with subprocess.Popen([sys.executable, "-m", "cli", "predict", str(fifo)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        fifo.write_bytes(source.read_bytes())  # blocks until predict opens the pipe, like <(zcat ...)
        out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    expected = json.loads((shared / "cases" / "fasta" / "expected.json").read_text())["c13_gzip.fa.gz"]
    assert len(out.decode().splitlines()) == 1 + expected["expected_valid"]


def test_unwritable_outputs_are_refused_before_any_work(trained, shared, tmp_path):
    source = shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa"
    out = tmp_path / "out.tsv"
    for args in (["-o", str(tmp_path / "missing" / "x.tsv")],
                 ["-o", str(out), "--rejected", str(tmp_path / "missing" / "r.tsv")],
                 ["-o", str(out), "--rejected", "-"]):
        result = run_cli("predict", str(source), *args, var=trained)
        assert result.returncode == 2, args
        assert len(result.stderr.decode().strip().splitlines()) == 1, result.stderr.decode()
    assert not out.exists() and not (tmp_path / "missing").exists()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for command in (["features", str(source), "--output", str(a_file)],
                    ["features", str(source), "--output", str(tmp_path / "missing" / "f")],
                    ["evaluate", "--coding", "-", "--noncoding", str(source)],
                    ["evaluate", "--coding", str(source), "--noncoding", str(a_file), "--output", str(a_file)]):
        result = run_cli(*command, var=trained)
        assert result.returncode == 2, command
        assert "Traceback" not in result.stderr.decode(), command
    assert a_file.read_text() == "x"


def test_gzip_header_names_the_output_not_the_temporary_file(trained, shared, tmp_path):
    source = shared / "cases" / "fasta" / "inputs" / "c06_duplicate_ids.fa"
    out = tmp_path / "calls.TSV.GZ"
    assert run_cli("predict", str(source), "-o", str(out), var=trained).returncode == 0
    data = out.read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[3] & 0x08  # gzip, FNAME flag set
    name = data[10:data.index(b"\x00", 10)]
    assert name == b"calls.TSV.GZ"


def test_other_compressions_are_named(tmp_path):
    import bz2

    packed = tmp_path / "x.fa.bz2"
    packed.write_bytes(bz2.compress(b">a\nACGT\n"))
    result = run_cli("validate", str(packed), "--json", var=tmp_path)
    assert result.returncode == 3
    assert "bzip2-compressed" in json.loads(result.stdout)["error"]
