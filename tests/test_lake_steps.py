"""The DAG data steps on the lake, in-process: raw -> validated + quarantine -> features -> predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from coding_potential.features import compute_features
from pipeline import lake, steps
from pipeline.storage import read_partition

DAY = "2026-02-03"
GOOD = "ATGGCCAAGTTTGGCGCATAA" * 12  # 252 nt
SHORT = "ATGAAATAG" * 10  # 90 nt: valid, with a warning


@pytest.fixture
def lake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: Path) -> Path:
    monkeypatch.setenv("CODING_POTENTIAL_LAKE", str(tmp_path / "lake"))
    monkeypatch.delenv("CODING_POTENTIAL_GX_ROOT", raising=False)  # var/gx of this test's var/
    return tmp_path / "lake"


def _land_raw(root: Path, files: dict[str, str], species: str | None = None) -> None:
    raw = root / "raw" / "scoring" / f"date={DAY}"
    raw.mkdir(parents=True)
    inputs = []
    for name, text in files.items():
        (raw / name).write_text(text)
        inputs.append({"name": name, "path": str(raw / name), "label": None, "species": species})
    (raw / "_inputs.json").write_text(json.dumps({"inputs": inputs}))


def test_validate_splits_valid_and_quarantined_and_reconciles(lake_root: Path) -> None:
    _land_raw(lake_root, {
        "a.fa": f">t1 first\n{GOOD}\n>t2\n{SHORT}\n>t1 again\n{GOOD}\n>p1\nMKVLAAGIVQQWPLEFRHDSEEL\n",
        "b.fa": f">t1\n{GOOD}\n",  # the same ID in another file is no duplicate
    })
    result = steps.validate_inputs(DAY, "scoring", thresholds={"max_rejected_share": 0.5})  # 2 of 5 rejected
    assert (result["records"], result["valid"], result["rejected"]) == (5, 3, 2)
    assert result["files"] == [{"name": "a.fa", "records": 4, "valid": 2, "rejected": 2},
                               {"name": "b.fa", "records": 1, "valid": 1, "rejected": 0}]
    validated = read_partition(result["validated"]).sort_by([("source", "ascending"), ("record_number", "ascending")])
    assert validated.select(["source", "record_number", "id"]).to_pylist() == [
        {"source": "a.fa", "record_number": 1, "id": "t1"}, {"source": "a.fa", "record_number": 2, "id": "t2"},
        {"source": "b.fa", "record_number": 1, "id": "t1"}]
    assert validated.column("warnings").to_pylist() == ["", "short_sequence", ""]
    quarantine = lake.local_path(result["quarantine"])
    rejected = pq.read_table(quarantine / "rejected.parquet").to_pylist()
    assert [(r["source"], r["record_number"], r["id"], r["reason"]) for r in rejected] == [
        ("a.fa", 3, "t1", "duplicate_id"), ("a.fa", 4, "p1", "invalid_character")]
    summary = json.loads((quarantine / lake.SUMMARY_FILE).read_text())
    assert summary["records"] == summary["valid"] + summary["rejected"] == 5


def test_features_in_process_match_the_core_and_rerun_replaces(lake_root: Path) -> None:
    _land_raw(lake_root, {"a.fa": f">x\n{GOOD}\n>y\n{SHORT}\n"}, species="mouse")
    steps.validate_inputs(DAY, "scoring")
    assert (lake_root / "validated" / "scoring" / f"date={DAY}" / "species=mouse").is_dir()
    first = steps.build_features(DAY, "scoring", engine="inprocess")
    table = read_partition(first["features"]).sort_by("record_number")
    expected = compute_features([GOOD, SHORT])
    assert table.column("species").to_pylist() == ["mouse", "mouse"]
    for name in ("length", "orf_length", "gc_content", "fickett", "kmer3_ATG"):
        assert table.column(name).to_pylist() == expected[name].tolist(), name
    again = steps.build_features(DAY, "scoring", engine="inprocess")
    assert read_partition(again["features"]).num_rows == 2  # replaced, never appended
    with pytest.raises(ValueError, match="unknown features engine 'gpu'"):
        steps.build_features(DAY, "scoring", engine="gpu")


def test_a_raw_partition_without_inputs_file_is_validated_file_by_file(lake_root: Path) -> None:
    """A raw partition filled by a plain copy (ADF's Copy activity) has no _inputs.json: its FASTA files
    are validated in name order, unlabelled; other files are not inputs."""
    raw = lake_root / "raw" / "scoring" / f"date={DAY}"
    (raw / "sub").mkdir(parents=True)
    (raw / "b.fa").write_text(f">b1\n{GOOD}\n")
    (raw / "sub" / "a.fasta").write_text(f">a1\n{GOOD}\n>a2\n{SHORT}\n")
    (raw / "notes.csv").write_text("not,fasta\n")
    (raw / "genes.gtf.gz").write_bytes(b"\x1f\x8b not FASTA either")  # gzip, but no FASTA name
    (raw / "._b.fa").write_text("a hidden file (macOS metadata)")
    result = steps.validate_inputs(DAY, "scoring")
    assert result["files"] == [{"name": "b.fa", "records": 1, "valid": 1, "rejected": 0},
                               {"name": "sub/a.fasta", "records": 2, "valid": 2, "rejected": 0}]
    validated = read_partition(result["validated"])
    assert sorted(validated.column("id").to_pylist()) == ["a1", "a2", "b1"]


@pytest.mark.parametrize("landed", ["missing", "empty", "no FASTA"])
def test_a_date_with_nothing_landed_is_skipped_by_every_step_and_nothing_written(lake_root: Path,
                                                                               landed: str) -> None:
    """ADF runs every activity even when its Copy copied nothing: each step skips such a date itself,
    as Airflow skips the tasks after an ingest that found nothing."""
    raw = lake_root / "raw" / "scoring" / f"date={DAY}"
    if landed != "missing":
        raw.mkdir(parents=True)
    if landed == "no FASTA":
        (raw / "readme.txt.bak").write_text("no FASTA here")
    for result in (steps.validate_inputs(DAY, "scoring"), steps.build_features(DAY, "scoring", engine="inprocess"),
                   steps.predict(DAY, model_uri="/no/model/needed")):
        assert result == {"skip": True, "raw": lake.partition("raw", "scoring", DAY), "reason": "nothing landed"}
    written = sorted(str(p.relative_to(lake_root)) for p in lake_root.rglob("*")) if lake_root.exists() else []
    assert written == {"missing": [], "empty": ["raw", "raw/scoring", f"raw/scoring/date={DAY}"],
                       "no FASTA": ["raw", "raw/scoring", f"raw/scoring/date={DAY}",
                                    f"raw/scoring/date={DAY}/readme.txt.bak"]}[landed]
