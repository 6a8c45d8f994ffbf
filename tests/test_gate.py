"""The quality gate in the single-process path: suites, thresholds, the CLI, the handed cases, the lake step.

Inputs are real transcripts sampled from ``shared/data`` with hand-made faults added; every expected
count is computed here from what was added, not read back from the code under test.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cli.main import main as cli_main
from pipeline import lake, steps
from tests.conftest import read_plain_fasta
from validation.gate import GateFailed
from validation.run import LabelledInput, gate_inputs, read_manifest
from validation.settings import GateThresholds, thresholds

DAY = "2026-03-04"
PROTEIN = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWUAIGTGIFVKAAEQNVA"  # noqa: E501


@pytest.fixture
def gx_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "gx"
    monkeypatch.setenv("CODING_POTENTIAL_GX_ROOT", str(root))
    monkeypatch.setenv("CODING_POTENTIAL_VAR", str(tmp_path / "var"))
    for name in ("MAX_REJECTED_SHARE", "MAX_AMBIGUOUS_FRACTION", "MIN_LENGTH", "MIN_CODING_SHARE", "MAX_CODING_SHARE"):
        monkeypatch.delenv(f"CODING_POTENTIAL_GATE_{name}", raising=False)
    return root


def _sample(shared: Path, name: str, n: int, seed: int = 0) -> list[tuple[str, str]]:
    records = read_plain_fasta(shared / "data" / name)
    return random.Random(seed).sample(records, n)


def _write(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{header}\n{sequence}\n" for header, sequence in records))
    return path


@pytest.fixture
def training_files(shared: Path, tmp_path: Path) -> tuple[Path, Path, list, list]:
    coding = _sample(shared, "human/train_coding.fa.gz", 150, seed=1)
    noncoding = _sample(shared, "human/train_noncoding.fa.gz", 250, seed=2)
    return (_write(tmp_path / "coding.fa", coding), _write(tmp_path / "noncoding.fa", noncoding), coding, noncoding)


def _ids(records: list[tuple[str, str]]) -> list[str]:
    return [header.split()[0] for header, _ in records]


def _run(inputs: list[LabelledInput], gate: str, tmp_path: Path, **limits):
    return gate_inputs(inputs, gate, thresholds(limits), tmp_path / "report", run_name="test")


def _outcome(run, expectation: str):
    (outcome,) = [o for o in run.result.outcomes if o.expectation == expectation]
    return outcome


# ------------------------------------------------------------------------------------------ settings
def test_thresholds_from_environment_then_run_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODING_POTENTIAL_GATE_MAX_REJECTED_SHARE", "0.05")
    monkeypatch.setenv("CODING_POTENTIAL_GATE_MIN_LENGTH", "150")
    limits = thresholds({"min_length": 300, "max_coding_share": None})
    assert (limits.max_rejected_share, limits.min_length, limits.max_coding_share) == (0.05, 300, 0.9)


@pytest.mark.parametrize(("values", "message"), [
    ({"max_rejected_share": 1.5}, "must be in [0, 1]"),
    ({"min_length": -1}, "must be >= 0"),
    ({"min_coding_share": 0.8, "max_coding_share": 0.2}, "is above"),
    ({"max_rejected": 0.1}, "unknown gate threshold 'max_rejected'"),
    ({"min_length": "long"}, "is not a number"),
])
def test_bad_thresholds_are_named(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        GateThresholds().updated(values)


# ------------------------------------------------------------------------------------- training gate
def test_a_clean_training_set_passes_with_its_soft_findings(training_files, tmp_path, gx_root) -> None:
    coding_path, noncoding_path, coding, noncoding = training_files
    run = _run([LabelledInput(str(coding_path), "coding.fa", 1), LabelledInput(str(noncoding_path), "noncoding.fa", 0)],
               "training", tmp_path)
    assert run.result.passed, run.result.message()
    assert run.files == [{"name": "coding.fa", "records": 150, "valid": 150, "rejected": 0},
                         {"name": "noncoding.fa", "records": 250, "valid": 250, "rejected": 0}]
    short = sum(len(sequence) < 200 for _, sequence in coding + noncoding)
    assert _outcome(run, "expect_column_values_to_be_between").failing == short
    kept_coding = sum(len(sequence) >= 200 for _, sequence in coding)  # training keeps >= 200 nt
    assert _outcome(run, "expect_column_mean_to_be_between").observed == pytest.approx(
        kept_coding / (400 - short))
    assert _outcome(run, "expect_records_to_reconcile_with_reader").observed == 400


def test_a_protein_file_in_the_coding_set_fails_the_gate(training_files, tmp_path, gx_root) -> None:
    coding_path, noncoding_path, _, _ = training_files
    proteins = _write(tmp_path / "proteins.fa", [(f"P{i:05d} protein", PROTEIN[i:]) for i in range(10)])
    run = _run([LabelledInput(str(coding_path), "coding.fa", 1), LabelledInput(str(proteins), "proteins.fa", 1),
                LabelledInput(str(noncoding_path), "noncoding.fa", 0)], "training", tmp_path)
    assert not run.result.passed
    (failure,) = run.result.hard_failures
    assert failure.expectation == "expect_records_to_pass_the_reader"
    assert (failure.failing, failure.checked) == (10, 410)
    assert set(failure.examples) <= {f"P{i:05d}" for i in range(10)} and len(failure.examples) == 5
    message = run.result.message()
    assert "training gate failed" in message and "10 of 410 records fail (2.4%)" in message
    assert "e.g. P0000" in message
    rejected = (tmp_path / "report" / "rejected.tsv").read_text().splitlines()
    assert len(rejected) == 11 and rejected[1].startswith("proteins.fa\t1\tP00000\tinvalid_character\t")


def test_a_looser_gate_lets_the_same_set_through(training_files, tmp_path, gx_root) -> None:
    coding_path, noncoding_path, _, _ = training_files
    proteins = _write(tmp_path / "proteins.fa", [(f"P{i}", PROTEIN) for i in range(10)])
    run = _run([LabelledInput(str(coding_path), "c", 1), LabelledInput(str(proteins), "p", 1),
                LabelledInput(str(noncoding_path), "n", 0)], "training", tmp_path, max_rejected_share=0.05)
    assert run.result.passed, run.result.message()
    assert run.rejected.num_rows == 10


def test_ids_shared_across_training_files_fail(training_files, tmp_path, gx_root) -> None:
    coding_path, _, coding, noncoding = training_files
    clash = _write(tmp_path / "clash.fa", [*noncoding[:3], (coding[0][0], noncoding[3][1])])
    run = _run([LabelledInput(str(coding_path), "coding.fa", 1), LabelledInput(str(clash), "clash.fa", 0)],
               "training", tmp_path)
    (failure,) = run.result.hard_failures
    assert failure.expectation == "expect_column_values_to_be_unique"
    assert failure.failing == 2  # both records of the one shared ID
    assert failure.examples == [_ids(coding)[0]]  # both records of it, named once


def test_one_label_only_fails(training_files, tmp_path, gx_root) -> None:
    coding_path, _, _, _ = training_files
    run = _run([LabelledInput(str(coding_path), "coding.fa", 1)], "training", tmp_path)
    assert [o.expectation for o in run.result.hard_failures] == ["expect_column_distinct_values_to_contain_set"]
    assert _outcome(run, "expect_column_mean_to_be_between").success is False  # coding share 1.0: a warning too


def test_the_manifest_gives_the_same_set(training_files, tmp_path, gx_root) -> None:
    coding_path, noncoding_path, _, _ = training_files
    manifest = tmp_path / "set.tsv"
    manifest.write_text(f"# my set\npath\tlabel\tspecies\n{coding_path.name}\tcoding\thuman\n"
                        f"{noncoding_path}\t0\thuman\n")
    inputs = read_manifest(manifest)
    assert inputs == [LabelledInput(str(coding_path), coding_path.name, 1, "human"),
                      LabelledInput(str(noncoding_path), str(noncoding_path), 0, "human")]
    (tmp_path / "bad.tsv").write_text("path\tlabel\nx.fa\tmaybe\n")
    with pytest.raises(ValueError, match="line 2: needs a path and a label"):
        read_manifest(tmp_path / "bad.tsv")


# ----------------------------------------------------------------------------------- prediction gate
def test_prediction_gate_warns_on_short_and_ambiguous_records(shared, tmp_path, gx_root) -> None:
    records = _sample(shared, "mouse/validation_noncoding.fa.gz", 200, seed=3)
    records = [(h, s) for h, s in records if len(s) >= 400][:100]
    ambiguous = [(f"amb{i}", "N" * (40 * i) + records[i][1][40 * i:]) for i in range(1, 4)]
    short = [(f"short{i}", records[i][1][:150]) for i in range(4)]
    everything = records + ambiguous + short
    path = _write(tmp_path / "day.fa", everything)
    run = _run([LabelledInput(str(path), "day.fa")], "prediction", tmp_path)
    assert run.result.passed
    want_ambiguous = sum(sum(c not in "ACGT" for c in s) / len(s) > 0.05 for _, s in everything)
    assert want_ambiguous >= 2
    assert _outcome(run, "expect_ambiguous_base_fraction_to_be_at_most").failing == want_ambiguous
    assert _outcome(run, "expect_column_values_to_be_between").failing == 4
    assert {o.expectation for o in run.result.warnings} >= {"expect_column_values_to_be_between"}


def test_reconciliation_names_the_file_that_lost_records(tmp_path, gx_root) -> None:
    import pyarrow as pa

    from coding_potential.fasta import Record
    from pipeline.tables import records_table, rejected_table
    from validation.run import gate_tables

    valid = records_table([Record(1, "x", "", "ACGT" * 60)], source="a.fa", label=None, species=None)
    run = gate_tables([valid], [rejected_table([], "a.fa")], [{"name": "a.fa", "records": 2}], "prediction",
                      thresholds(), tmp_path / "r", "test")
    (failure,) = run.result.hard_failures
    assert failure.expectation == "expect_records_to_reconcile_with_reader"
    assert failure.details == {"differing": {"a.fa": {"read": 2, "in_table": 1}}}
    assert isinstance(run.valid, pa.Table)


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_training_gate_exit_codes_and_report(training_files, tmp_path, gx_root, capsys) -> None:
    coding_path, noncoding_path, _, _ = training_files
    report = tmp_path / "rep"
    code = cli_main(["validate", "--gate", "training", "--coding", str(coding_path), "--noncoding",
                     str(noncoding_path), "--report", str(report), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["passed"] is True
    assert [f["records"] for f in out["files"]] == [150, 250]
    assert json.loads((report / "summary.json").read_text())["passed"] is True
    proteins = _write(tmp_path / "proteins.fa", [(f"P{i}", PROTEIN) for i in range(10)])
    code = cli_main(["validate", "--gate", "training", "--coding", str(coding_path), "--coding", str(proteins),
                     "--noncoding", str(noncoding_path), "--report", str(report)])
    err = capsys.readouterr().err
    assert code == 1
    assert "expect_records_to_pass_the_reader" in err and "10 of 410 records fail" in err and "P0" in err
    assert f"report: {report / 'summary.md'}" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["validate", "--gate", "training", "x.fa"], "not INPUT"),
    (["validate", "--gate", "training"], "needs --coding and --noncoding"),
    (["validate", "--gate", "prediction"], "needs INPUT"),
    (["validate", "--gate", "prediction", "x.fa", "--coding", "y.fa"], "belong to --gate training"),
    (["validate", "--coding", "y.fa"], "go with --gate"),
    (["validate", "--gate", "prediction", "x.fa", "--rejected", "r.tsv"], "report lists the rejected"),
    (["validate", "--gate", "training", "--coding", "-", "--noncoding", "n.fa"], "stdin ('-') is for --gate"),
    (["validate", "--gate", "prediction", "x.fa", "--report", ""], "report folder is an empty path"),
    (["validate", "--gate", "prediction", "x.fa", "--report", "/no/such/dir/rep"], "does not exist"),
])
def test_cli_gate_usage_errors(argv, message, capsys, gx_root) -> None:
    assert cli_main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_before_reading_what_it_cannot_write_or_count(training_files, tmp_path, gx_root,
                                                                   capsys) -> None:
    coding_path, noncoding_path, _, _ = training_files
    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    both = ["--coding", str(coding_path), "--noncoding", str(noncoding_path)]
    assert cli_main(["validate", "--gate", "training", *both, "--report", str(a_file)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err and a_file.read_text() == "mine"
    assert cli_main(["validate", "--gate", "training", *both, "--noncoding", str(coding_path)]) == 2
    assert "is listed twice in the training set" in capsys.readouterr().err
    assert cli_main(["validate", "--gate", "training", *both, "--min-length", "9" * 25]) == 2
    assert "min_length must be >= 0 and <= 1,000,000,000" in capsys.readouterr().err


def test_the_data_manifest_and_a_spreadsheet_manifest_are_read(shared, tmp_path) -> None:
    inputs = read_manifest(shared / "data" / "manifest.tsv")  # a 'file' column, paths relative to it
    human = {i.name: i for i in inputs if i.species == "human"}
    assert human["human/train_coding.fa.gz"].label == 1 and human["human/train_noncoding.fa.gz"].label == 0
    assert Path(human["human/train_coding.fa.gz"].path) == shared / "data" / "human" / "train_coding.fa.gz"
    saved = tmp_path / "excel.tsv"
    saved.write_bytes("\ufeffpath\tlabel\n# a comment\n\nx.fa\tcoding\ny.fa\tnope\n".encode())
    with pytest.raises(ValueError, match="line 5: needs a path and a label"):  # counted as an editor counts
        read_manifest(saved)


def test_examples_name_records_without_an_id_by_file_and_number(shared, tmp_path, gx_root) -> None:
    path = shared / "cases" / "fasta" / "inputs" / "c05_lone_gt_and_empty_id.fa"
    run = _run([LabelledInput(str(path), "c05.fa")], "prediction", tmp_path)
    (failure,) = run.result.hard_failures
    assert any(e.startswith("c05.fa record ") and e.endswith(" (no ID)") for e in failure.examples), failure.examples


def test_cli_unusable_file_exits_3_naming_it(tmp_path, gx_root, capsys) -> None:
    gtf = tmp_path / "genes.gtf"
    gtf.write_text("chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id \"x\";\n")
    assert cli_main(["validate", "--gate", "prediction", str(gtf)]) == 3
    err = capsys.readouterr().err
    assert str(gtf) in err and "no FASTA record found" in err


# -------------------------------------------------------------------------------------- handed cases
def _case_list(shared_root: Path) -> dict[str, dict]:
    expected = json.loads((shared_root / "cases" / "fasta" / "expected.json").read_text())
    return {name: case for name, case in expected.items() if not name.startswith("_")}


def test_handed_cases_through_the_prediction_gate(shared, tmp_path, gx_root) -> None:
    """File-level refusals exit 3 naming the file; record-level problems are quarantined and listed, and
    the 1% rule fails exactly the files whose rejected share is over 1%."""
    from coding_potential.fasta import FastaFormatError

    for name, case in _case_list(shared).items():
        path = shared / "cases" / "fasta" / "inputs" / name
        if case["expected_rejected"] == "whole file":
            with pytest.raises(FastaFormatError, match=name):
                _run([LabelledInput(str(path), name)], "prediction", tmp_path / name)
            continue
        run = _run([LabelledInput(str(path), name)], "prediction", tmp_path / name)
        share = case["expected_rejected"] / case["records_in_file"]
        assert run.result.passed == (share <= 0.01), (name, run.result.message())
        assert run.files == [{"name": name, "records": case["records_in_file"], "valid": case["expected_valid"],
                              "rejected": case["expected_rejected"]}], name
        want_rejected = [r["id"] for r in case["records"] if r["status"] == "rejected"]
        want_rejected = ["" if i.startswith("(empty") else i for i in want_rejected]
        listed = (tmp_path / name / "report" / "rejected.tsv").read_text().splitlines()[1:]
        assert [line.split("\t")[2] for line in listed] == want_rejected, name


# ---------------------------------------------------------------------------------- the lake step
def _land(root: Path, files: dict[str, str]) -> None:
    raw = root / "raw" / "scoring" / f"date={DAY}"
    raw.mkdir(parents=True)
    inputs = [{"name": n, "path": str(raw / n), "label": None, "species": None} for n in files]
    for name, text in files.items():
        (raw / name).write_text(text)
    (raw / "_inputs.json").write_text(json.dumps({"inputs": inputs}))


def test_validate_step_fails_at_the_gate_keeps_quarantine_and_drops_validated(shared, tmp_path, gx_root,
                                                                               monkeypatch) -> None:
    monkeypatch.setenv("CODING_POTENTIAL_LAKE", str(tmp_path / "lake"))
    records = _sample(shared, "mouse/validation_coding.fa.gz", 60, seed=4)
    text = "".join(f">{h}\n{s}\n" for h, s in records) + "".join(f">P{i}\n{PROTEIN}\n" for i in range(3))
    _land(tmp_path / "lake", {"day.fa": text})
    passed = steps.validate_inputs(DAY, "scoring", thresholds={"max_rejected_share": 0.1})
    assert passed["valid"] == 60 and passed["gate"]["passed"]
    validated = lake.local_path(passed["validated"])
    assert validated.is_dir()
    with pytest.raises(GateFailed) as failed:
        steps.validate_inputs(DAY, "scoring")
    assert "expect_records_to_pass_the_reader" in str(failed.value) and "3 of 63 records fail" in str(failed.value)
    assert not validated.exists()  # the earlier, looser run's data does not stay under this date
    quarantine = lake.local_path(passed["quarantine"])
    assert pq.read_table(quarantine / "rejected.parquet").column("id").to_pylist() == ["P0", "P1", "P2"]
    summary = json.loads((quarantine / lake.SUMMARY_FILE).read_text())
    assert summary["gate"]["passed"] is False
    report = Path(passed["report"]).parent
    assert json.loads((report / "summary.json").read_text())["passed"] is False


def test_gzip_training_inputs_from_a_manifest_reach_the_raw_zone(training_files, tmp_path, gx_root,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("CODING_POTENTIAL_LAKE", str(tmp_path / "lake"))
    coding_path, noncoding_path, _, _ = training_files
    zipped = tmp_path / "noncoding.fa.gz"
    zipped.write_bytes(gzip.compress(noncoding_path.read_bytes()))
    manifest = tmp_path / "set.tsv"
    manifest.write_text(f"path\tlabel\tspecies\n{coding_path}\t1\thuman\n{zipped}\t0\thuman\n")
    resolved = steps.resolve_training_inputs(DAY, manifest_file=str(manifest))
    assert [(i["name"], i["label"], i["species"]) for i in resolved["inputs"]] == [
        (str(coding_path), 1, "human"), (str(zipped), 0, "human")]
    result = steps.validate_inputs(DAY, "training")
    assert (result["valid"], result["rejected"]) == (400, 0)
