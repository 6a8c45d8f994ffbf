"""The lake's layout and its whole-partition swaps (``pipeline.lake``, ``pipeline.files.replaced_folder``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import lake
from pipeline.files import replaced_folder


def test_partitions_are_zone_dataset_date(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CODING_POTENTIAL_LAKE", raising=False)
    monkeypatch.delenv("CODING_POTENTIAL_PROFILE", raising=False)
    monkeypatch.setenv("CODING_POTENTIAL_VAR", str(tmp_path / "v ar"))
    root = (tmp_path / "v ar" / "lake").as_uri()
    assert lake.root() == root
    assert lake.partition("features", "scoring", "2026-01-02") == f"{root}/features/scoring/date=2026-01-02"
    assert lake.landing() == f"{root}/landing"
    # a URI with a quoted space maps back to the folder on disk
    assert lake.local_path(lake.partition("raw", "training", "2026-01-02")) == (
        tmp_path / "v ar" / "lake" / "raw" / "training" / "date=2026-01-02")
    assert lake.partition("raw", "scoring", "2026-01-02", lake="/data/l/") == "file:///data/l/raw/scoring/date=2026-01-02"


@pytest.mark.parametrize(("zone", "dataset", "date", "message"), [
    ("models", "scoring", "2026-01-01", "unknown lake zone 'models'"),
    ("raw", "daily", "2026-01-01", "unknown lake dataset 'daily'"),
    ("raw", "scoring", "2026-1-1", "YYYY-MM-DD"),
    ("raw", "scoring", "2026-02-30", "day is out of range"),
])
def test_bad_partitions_are_refused(zone: str, dataset: str, date: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lake.partition(zone, dataset, date, lake="/l")


def test_azure_profile_addresses_adls_gen2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODING_POTENTIAL_LAKE", raising=False)
    monkeypatch.setenv("CODING_POTENTIAL_PROFILE", "azure")
    monkeypatch.setenv("CODING_POTENTIAL_ADLS_ACCOUNT", "cpstore01")
    monkeypatch.setenv("CODING_POTENTIAL_ADLS_PREFIX", "/prod/")
    assert lake.partition("predictions", "scoring", "2026-03-04") == (
        "abfss://lake@cpstore01.dfs.core.windows.net/prod/predictions/scoring/date=2026-03-04")
    with pytest.raises(ValueError, match="not on this machine"):
        lake.local_path(lake.root())
    monkeypatch.setenv("CODING_POTENTIAL_ADLS_ACCOUNT", "Not_An_Account")
    with pytest.raises(ValueError, match="CODING_POTENTIAL_ADLS_ACCOUNT"):
        lake.root()


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_replaced_folder_swaps_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "date=2026-01-01"
    with replaced_folder(target) as staging:
        (staging / "a.txt").write_text("first")
    assert _files(target) == {"a.txt": "first"}
    with pytest.raises(RuntimeError), replaced_folder(target) as staging:
        (staging / "b.txt").write_text("half")
        raise RuntimeError("killed")
    assert _files(target) == {"a.txt": "first"}  # the failed run left the old partition
    with replaced_folder(target) as staging:
        (staging / "b.txt").write_text("second")
    assert _files(target) == {"b.txt": "second"}  # replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["date=2026-01-01"]


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from pipeline.files import replaced_folder
with replaced_folder(Path(sys.argv[1])) as staging:
    (staging / "part-0").write_text("new")
    print("writing", flush=True)
    time.sleep(60)
"""


def test_a_killed_writer_leaves_the_old_partition_and_a_rerun_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "date=2026-01-01"
    neighbour = tmp_path / "_staging-date=2026-01-02-0123"  # another date's run in progress
    neighbour.mkdir()
    with replaced_folder(target) as staging:
        (staging / "part-0").write_text("old")
    process = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert process.stdout is not None and process.stdout.readline().strip() == b"writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("_staging-date=2026-01-01-")]
    assert len(leftovers) == 1
    assert _files(target) == {"part-0": "old"}
    with replaced_folder(target) as staging:
        (staging / "part-0").write_text("rerun")
    assert _files(target) == {"part-0": "rerun"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_staging-date=2026-01-02-0123", "date=2026-01-01"]
