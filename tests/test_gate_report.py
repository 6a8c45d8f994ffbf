"""The report of a gate run (validation.report), and its Data Docs read in headless Chromium.

Small records tables are made by hand, so every count and statistic the report states is known
beforehand; each test has its own GX context (``CODING_POTENTIAL_GX_ROOT`` in ``tmp_path``). The browser
test saves its screenshots to ``$CODING_POTENTIAL_TEST_ARTIFACTS`` (default ``var/test-artifacts/``).
"""

from __future__ import annotations

import json
import os
import random
import statistics
from pathlib import Path

import pyarrow as pa
import pytest

from coding_potential import config
from pipeline.ui_check import UiCheckError, chromium_executable
from validation.docs_check import check_data_docs, check_validation_page
from validation.docs_site import CDN_FILES
from validation.gate import GateResult, run_gate
from validation.records import gate_table
from validation.report import write_report
from validation.settings import GateThresholds

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: The expectation types of the training gate, as the report must name them: hard suite, then soft.
TRAINING_TYPES = (
    "expect_records_to_reconcile_with_reader", "expect_records_to_pass_the_reader",
    "expect_sequences_to_be_valid_nucleotides", "expect_column_values_to_be_unique",
    "expect_column_distinct_values_to_contain_set",
    "expect_ambiguous_base_fraction_to_be_at_most", "expect_column_mean_to_be_between",
    "expect_column_values_to_be_between",
)
#: Hand-made valid records: (source, id, sequence, label). Lengths 300, 500, 150; GC 4/6, 1/2, 2/6.
VALID = [
    ("a.fa", "tx1", "GGCCAT" * 50, 1),
    ("a.fa", "tx2", "ACGT" * 125, 0),
    ("b.fa", "tx3", "AATTGC" * 25, 1),  # coding and short: training leaves it out, both labels remain
]
#: One record the reader rejected.
REJECTED = [("b.fa", "px1", "not_nucleotide", 0)]


@pytest.fixture(autouse=True)
def gx_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GX context of the test's own."""
    folder = tmp_path / "gx"
    monkeypatch.setenv("CODING_POTENTIAL_GX_ROOT", str(folder))
    return folder


def records(valid: list[tuple[str, str, str, int]], rejected: list[tuple[str, str, str, int]],
            labelled: bool = True) -> pa.Table:
    """The gate table of hand-made valid and rejected records (record numbers in list order per file)."""
    numbers: dict[str, int] = {}

    def number(source: str) -> int:
        numbers[source] = numbers.get(source, 0) + 1
        return numbers[source]

    validated = {"source": [v[0] for v in valid], "record_number": [number(v[0]) for v in valid],
                 "id": [v[1] for v in valid], "sequence": [v[2] for v in valid]}
    dropped = {"source": [r[0] for r in rejected], "record_number": [number(r[0]) for r in rejected],
               "id": [r[1] for r in rejected], "reason": [r[2] for r in rejected],
               "message": ["rejected"] * len(rejected)}
    if labelled:
        validated["label"], dropped["label"] = [v[3] for v in valid], [r[3] for r in rejected]
    return gate_table(pa.table(validated, schema=_schema(validated)), pa.table(dropped, schema=_schema(dropped)))


def _schema(columns: dict[str, list[object]]) -> pa.Schema:
    types = {"record_number": pa.int64(), "label": pa.int64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in columns])


def gate(table: pa.Table, kind: str, run_name: str, **thresholds: float) -> GateResult:
    """Run gate ``kind`` over ``table``, the reader's counts taken from the table's sources."""
    read: dict[str, int] = {}
    for source in table.column("source").to_pylist():
        read[source] = read.get(source, 0) + 1
    return run_gate(table.to_pandas(), kind, GateThresholds(**thresholds), read, run_name)


def assert_png(path: str | Path) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 5_000, (path, len(data))


def gc(sequence: str) -> float:
    return (sequence.count("G") + sequence.count("C")) / len(sequence)


def artifacts() -> Path:
    """Where test artifacts go: ``$CODING_POTENTIAL_TEST_ARTIFACTS``, else ``var/test-artifacts/`` (git-ignored)."""
    folder = Path(os.environ.get("CODING_POTENTIAL_TEST_ARTIFACTS") or config.REPO_ROOT / "var" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ----------------------------------------------------------------------------------------------------------
def test_training_report_states_the_known_counts_and_statistics(tmp_path: Path) -> None:
    table = records(VALID, REJECTED)
    result = gate(table, "training", "known values", max_rejected_share=0.5)
    assert result.passed  # 1 of 4 rejected is allowed here; tx3 (150 nt) is only a warning
    paths = write_report(result, table.drop(["sequence"]), tmp_path / "report")

    assert set(paths) == {"summary_json", "summary_md", "length_png", "gc_png", "data_docs"}
    summary = json.loads(Path(paths["summary_json"]).read_text())
    assert (summary["gate"], summary["run_name"], summary["passed"]) == ("training", "known values", True)
    assert summary["thresholds"]["max_rejected_share"] == 0.5
    assert summary["records"] == {"in": 4, "valid": 3, "rejected": 1, "per_source": {
        "a.fa": {"in": 2, "valid": 2, "rejected": 0}, "b.fa": {"in": 2, "valid": 1, "rejected": 1}}}
    assert summary["rejected_by_reason"] == {"not_nucleotide": 1}
    assert summary["excluded_too_short"] == 1 and "short_scored_with_warning" not in summary
    lengths = [len(v[2]) for v in VALID]
    assert summary["length"] == {"count": 3, "min": 150, "median": 300, "mean": pytest.approx(950 / 3),
                                 "max": 500}
    assert summary["length"]["median"] == statistics.median(lengths)
    assert summary["gc_fraction"]["median"] == pytest.approx(0.5)
    assert summary["gc_fraction"]["min"] == pytest.approx(gc(VALID[2][2])) == pytest.approx(1 / 3)
    assert summary["gc_fraction"]["max"] == pytest.approx(gc(VALID[0][2])) == pytest.approx(2 / 3)
    assert [o["expectation"] for o in summary["outcomes"]] == list(TRAINING_TYPES)
    assert summary["outcomes"] == json.loads(json.dumps(result.as_dict()["outcomes"]))
    short = next(o for o in summary["outcomes"] if o["expectation"] == "expect_column_values_to_be_between")
    assert (short["success"], short["failing"], short["examples"]) == (False, 1, ["tx3"])
    assert summary["files"] == {"summary_json": "summary.json", "summary_md": "summary.md",
                                "length_png": "length.png", "gc_png": "gc.png", "data_docs": "data_docs/index.html"}

    markdown = Path(paths["summary_md"]).read_text()
    assert "**PASSED**" in markdown and "FAILED" not in markdown
    for kind in TRAINING_TYPES:
        assert f"`{kind}`" in markdown
    assert "| not_nucleotide | 1 |" in markdown
    assert "| b.fa | 2 | 1 | 1 |" in markdown
    assert "excluded_too_short: 1 " in markdown
    assert "| length (nt) | 150 | 300 | 316.7 | 500 |" in markdown
    assert "| soft | **warn** | 1 of 3 |  | tx3 |" in markdown
    assert "(length.png)" in markdown and "(gc.png)" in markdown and "(data_docs/index.html)" in markdown

    assert_png(paths["length_png"])
    assert_png(paths["gc_png"])
    index = Path(paths["data_docs"])
    assert index == tmp_path / "report" / "data_docs" / "index.html" and index.is_file()
    assert "coding_potential.training" in index.read_text()
    pages = list(index.parent.rglob("*.html"))
    assert len(pages) >= 3  # the index, the suite and the run's page
    for page in pages:  # every shipped asset is read from the copy, not from a CDN
        text = page.read_text()
        assert not [url for url in CDN_FILES if url in text], page
    assert (index.parent / "static" / "vendor" / "js" / "jquery-3.7.1.min.js").is_file()


def test_a_failing_training_gate_is_reported_as_failed(tmp_path: Path) -> None:
    table = records(VALID, REJECTED)
    result = gate(table, "training", "too many rejected")  # 1 of 4 rejected, over 1 %
    assert not result.passed
    paths = write_report(result, table, tmp_path / "report", excluded_too_short=7)

    summary = json.loads(Path(paths["summary_json"]).read_text())
    assert summary["passed"] is False
    assert summary["excluded_too_short"] == 7  # the caller's count wins
    failed = [o["expectation"] for o in summary["outcomes"] if not o["success"] and o["severity"] == "critical"]
    assert failed == ["expect_records_to_pass_the_reader"]
    markdown = Path(paths["summary_md"]).read_text()
    assert "**FAILED**" in markdown and "PASSED" not in markdown
    assert "| `expect_records_to_pass_the_reader` | at most 1.0% of the records are rejected by the reader | hard " \
           "| **FAIL** | 1 of 4 |  | px1 |" in markdown


def test_prediction_report_counts_short_records_scored_with_a_warning(tmp_path: Path) -> None:
    table = records([*VALID[:2], ("b.fa", "tx4", "ACGTNN" * 10, 0)], [], labelled=False)
    result = gate(table, "prediction", "scoring")
    paths = write_report(result, table, tmp_path / "report")

    summary = json.loads(Path(paths["summary_json"]).read_text())
    assert summary["short_scored_with_warning"] == 1 and "excluded_too_short" not in summary
    assert summary["records"]["rejected"] == 0 and summary["rejected_by_reason"] == {}
    assert summary["length"]["median"] == 300 and summary["length"]["min"] == 60
    assert summary["gc_fraction"]["min"] == pytest.approx(0.5)  # GC of tx4 over its unambiguous bases: 2/4
    markdown = Path(paths["summary_md"]).read_text()
    assert "short_scored_with_warning: 1 " in markdown and "none" in markdown
    assert_png(paths["length_png"])
    assert_png(paths["gc_png"])


def test_no_valid_records_gives_empty_statistics_and_plots(tmp_path: Path) -> None:
    table = records([], [("a.fa", "p1", "not_nucleotide", 0), ("a.fa", "p2", "empty_sequence", 0),
                         ("a.fa", "p3", "not_nucleotide", 0)])
    result = gate(table, "training", "nothing valid")
    paths = write_report(result, table, tmp_path / "report")

    summary = json.loads(Path(paths["summary_json"]).read_text())
    assert summary["records"]["in"] == 3 and summary["records"]["valid"] == 0
    assert summary["rejected_by_reason"] == {"not_nucleotide": 2, "empty_sequence": 1}
    assert list(summary["rejected_by_reason"]) == ["not_nucleotide", "empty_sequence"]  # most frequent first
    assert summary["excluded_too_short"] == 0
    assert summary["length"] == {"count": 0, "min": None, "median": None, "mean": None, "max": None}
    assert summary["gc_fraction"]["median"] is None
    assert "| length (nt) | n/a | n/a | n/a | n/a |" in Path(paths["summary_md"]).read_text()
    assert_png(paths["length_png"])
    assert_png(paths["gc_png"])


def test_rerunning_into_the_same_folder_replaces_every_file(tmp_path: Path) -> None:
    out = tmp_path / "report"
    table = records(VALID, REJECTED)
    first = write_report(gate(table, "training", "first"), table, out)
    second = write_report(gate(table, "training", "second", max_rejected_share=0.5), table, out)

    assert second == first
    assert json.loads(Path(second["summary_json"]).read_text())["run_name"] == "second"
    assert "run `second`" in Path(second["summary_md"]).read_text()
    assert sorted(p.name for p in out.iterdir()) == ["data_docs", "gc.png", "length.png", "summary.json",
                                                     "summary.md"]  # no temporary files left
    runs = list((out / "data_docs" / "validations" / "coding_potential" / "training" / "hard").iterdir())
    assert sorted(p.name for p in runs) == ["first", "second"]


def test_report_without_data_docs_skips_the_copy(tmp_path: Path) -> None:
    table = records(VALID, REJECTED)
    result = gate(table, "training", "no docs", max_rejected_share=0.5)
    write_report(result, table, tmp_path / "report")
    bare = GateResult(result.gate, result.run_name, result.thresholds, result.outcomes, docs_index=None)
    paths = write_report(bare, table, tmp_path / "report")  # the earlier copy goes too
    assert "data_docs" not in paths and not (tmp_path / "report" / "data_docs").exists()
    assert "data_docs" not in json.loads(Path(paths["summary_json"]).read_text())["files"]
    assert "Data Docs" not in Path(paths["summary_md"]).read_text()


# ----------------------------------------------------------------------------------------------------------
def _batch(count: int, rejected: int, seed: int) -> pa.Table:
    """``count`` records in one file, the last ``rejected`` of them rejected; valid ones 200-999 nt."""
    rng = random.Random(seed)
    valid = [("batch.fa", f"r{i}", "".join(rng.choice("ACGT") for _ in range(rng.randrange(200, 1000))), i % 2)
             for i in range(count - rejected)]
    dropped = [("batch.fa", f"bad{i}", "not_nucleotide", 0) for i in range(rejected)]
    return records(valid, dropped)


def test_data_docs_show_a_passing_and_a_failing_run_in_chromium(tmp_path: Path) -> None:
    try:
        chromium_executable()
    except UiCheckError as error:
        pytest.fail(f"{error}: this test needs headless Chromium (CI installs it)")
    passing = gate(_batch(100, 0, seed=1), "training", "training passes")
    failing_table = _batch(100, 3, seed=2)
    failing = gate(failing_table, "prediction", "prediction fails")  # 3 % rejected, over 1 %
    assert passing.passed and not failing.passed
    (hard,) = failing.hard_failures
    assert hard.expectation == "expect_records_to_pass_the_reader"
    paths = write_report(failing, failing_table, tmp_path / "report")

    # each gate is two suites: its hard rules, and its soft ones (failed = warnings, the run goes on)
    want = {"coding_potential.training.hard": ["succeeded"], "coding_potential.prediction.hard": ["failed"],
            "coding_potential.training.soft": ["failed" if passing.warnings else "succeeded"],
            "coding_potential.prediction.soft": ["failed" if failing.warnings else "succeeded"]}
    shown = check_data_docs(paths["data_docs"], artifacts() / "data-docs-index.png", list(want))
    print(f"\nData Docs index screenshot: {shown['screenshot']}")
    assert shown["missing"] == [], shown["text"]
    assert shown["suites"] == want, shown["runs"]
    assert len(shown["runs"]) == 4
    assert {run["run_name"] for run in shown["runs"]} == {"training passes", "prediction fails"}
    assert "Validation Results" in shown["text"] and "prediction fails" in shown["text"]
    assert shown["icons_rendered"]
    assert_png(shown["screenshot"])

    (failed_run,) = [run for run in shown["runs"] if run["suite"] == "coding_potential.prediction.hard"]
    page = check_validation_page(failed_run["page"], artifacts() / "data-docs-failed-run.png")
    print(f"failed run screenshot: {page['screenshot']}")
    assert page["status"] == "failed"
    assert "Status: Failed" in " ".join(page["text"].split())
    (rule,) = [e for e in page["expectations"] if e["rule"] == hard.description]
    assert rule["status"] == "failed" and "3 unexpected values found" in rule["text"], page["expectations"]
    failed_rules = {e["rule"] for e in page["expectations"] if e["status"] == "failed"}
    assert failed_rules == {o.description for o in failing.hard_failures}
    assert_png(page["screenshot"])
