"""The Airflow runner's library parts that need no Airflow process (fast)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from coding_potential.config import REPO_ROOT
from pipeline import airflow_runner
from pipeline.airflow_runner import (
    DagRunFailed,
    DagTestResult,
    airflow_env,
    dags_test,
    init_airflow_home,
    stage_landing,
)


def test_airflow_env(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin", "PYTHONPATH": "/somewhere", "NO_PROXY": "corp.example"}
    env = airflow_env(tmp_path / "var", base=base)
    home = tmp_path / "var" / "airflow"
    assert base == {"PATH": "/usr/bin", "PYTHONPATH": "/somewhere", "NO_PROXY": "corp.example"}
    assert env["PATH"] == "/usr/bin"
    assert env["AIRFLOW_HOME"] == str(home)
    assert env["CODING_POTENTIAL_VAR"] == str(tmp_path / "var")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home / 'airflow.db'}"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO_ROOT / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(REPO_ROOT / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "2"
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO_ROOT), "/somewhere"]
    assert env["PYSPARK_PYTHON"] == sys.executable
    assert env["PYTHONWARNINGS"] == "ignore:Could not import graphviz"
    kept = airflow_env(tmp_path / "var", base={**base, "PYTHONWARNINGS": "error::DeprecationWarning"})
    assert kept["PYTHONWARNINGS"] == "error::DeprecationWarning,ignore:Could not import graphviz"
    # loopback only
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://127.0.0.1:")
    assert env["AIRFLOW__OPENLINEAGE__DISABLED"] == "True"
    assert env["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert env["NO_PROXY"].split(",")[:2] == ["127.0.0.1", "localhost"]
    assert "corp.example" in env["NO_PROXY"].split(",")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-01-01", "2026-01-01T00:00:00+00:00"),
        (date(2026, 3, 4), "2026-03-04T00:00:00+00:00"),
        ("2026-01-01T05:06:07+00:00", "2026-01-01T05:06:07+00:00"),
        (datetime(2026, 1, 1, 1, tzinfo=UTC), "2026-01-01T01:00:00+00:00"),
    ],
)
def test_logical_dates_are_explicit_utc(given: Any, expected: str) -> None:
    assert airflow_runner._logical_date_iso(given) == expected


def test_logical_date_defaults_to_now() -> None:
    now = datetime.fromisoformat(airflow_runner._logical_date_iso(None))
    assert now.tzinfo is not None
    assert abs((datetime.now(now.tzinfo) - now).total_seconds()) < 5


def _fasta_gz(path: Path, n: int) -> Path:
    with gzip.open(path, "wt") as handle:
        for i in range(n):
            handle.write(f">r{i}\nACGTACGT\n")
    return path


def test_stage_landing_copies_atomically_and_idempotently(tmp_path: Path) -> None:
    sources = [_fasta_gz(tmp_path / "a.fa.gz", 3), _fasta_gz(tmp_path / "b.fa.gz", 2)]
    landing = tmp_path / "landing"
    staged = stage_landing("2026-01-01", sources, landing)
    assert staged == [landing / "2026-01-01" / "a.fa.gz", landing / "2026-01-01" / "b.fa.gz"]
    assert [p.read_bytes() for p in staged] == [p.read_bytes() for p in sources]
    assert sorted(p.name for p in (landing / "2026-01-01").iterdir()) == ["a.fa.gz", "b.fa.gz"]
    before = [p.stat().st_mtime_ns for p in staged]
    os.utime(staged[0], ns=(1, 1))  # an untouched, identical file is left alone ...
    assert stage_landing("2026-01-01", sources, landing) == staged
    assert staged[0].stat().st_mtime_ns == 1
    assert staged[1].stat().st_mtime_ns == before[1]
    staged[1].write_bytes(b"stale")  # ... a different one is replaced
    stage_landing("2026-01-01", sources, landing)
    assert staged[1].read_bytes() == sources[1].read_bytes()
    with pytest.raises(ValueError):
        stage_landing("01/01/2026", sources, landing)


def test_stage_landing_defaults_to_the_mouse_validation_files(
    tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODING_POTENTIAL_VAR", str(tmp_path / "var"))
    monkeypatch.delenv("CODING_POTENTIAL_LANDING", raising=False)
    monkeypatch.delenv("CODING_POTENTIAL_LAKE", raising=False)
    staged = stage_landing("2026-01-01")
    assert [p.name for p in staged] == ["validation_coding.fa.gz", "validation_noncoding.fa.gz"]
    assert all(p.parent == tmp_path / "var" / "lake" / "landing" / "2026-01-01" for p in staged)


def test_init_airflow_home_migrates_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        Path(kwargs["env"]["AIRFLOW_HOME"], "airflow.db").touch()
        return subprocess.CompletedProcess(command, 0, stdout="migrated")

    monkeypatch.setattr(airflow_runner.subprocess, "run", fake_run)
    env = airflow_env(tmp_path / "var", base={})
    assert init_airflow_home(env) == tmp_path / "var" / "airflow"
    init_airflow_home(env)
    assert calls == [[sys.executable, "-m", "airflow", "db", "migrate"]]
    (tmp_path / "var" / "airflow" / "airflow.db").unlink()
    init_airflow_home(env)
    assert len(calls) == 2


def test_init_airflow_home_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 3, stdout="boom")

    monkeypatch.setattr(airflow_runner.subprocess, "run", failing_run)
    with pytest.raises(DagRunFailed, match=r"(?s)exit 3.*boom"):
        init_airflow_home(airflow_env(tmp_path / "var", base={}))


@pytest.mark.parametrize(
    ("returncode", "states", "ok"),
    [
        (0, {"a": "success", "b": "skipped"}, True),
        (0, {"a": "success", "b": "failed"}, False),
        (0, {"a": "success", "b": "upstream_failed"}, False),
        (0, {}, False),
        (1, {"a": "success"}, False),
    ],
)
def test_dags_test_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, returncode: int, states: dict[str, str], ok: bool
) -> None:
    def fake_run_dags_test(dag_id: str, *args: Any, **kwargs: Any) -> DagTestResult:
        return DagTestResult(
            dag_id=dag_id, logical_date="2026-01-01T00:00:00+00:00", returncode=returncode, states=states
        )

    monkeypatch.setattr(airflow_runner, "run_dags_test", fake_run_dags_test)
    if ok:
        assert dags_test("d", "2026-01-01") == 0
        return
    with pytest.raises(DagRunFailed, match="DAG d at 2026-01-01"):
        dags_test("d", "2026-01-01")
    assert dags_test("d", "2026-01-01", check=False) == (returncode or 1)


def test_scan_line_collects_results_run_dir_and_task_events() -> None:
    result = DagTestResult(dag_id="d", logical_date="x", returncode=0)
    lines = [
        "2026-12-03T20:01:33Z [info ] Running step publish in /v/runs/d/manual__x with arguments {} [airflow.task]",
        '2026-12-03T20:01:33Z [info ] Result of publish: {"partition": "/v/p/date=x", "rows": 3} [airflow.task] loc=x',
        "2026-12-03T20:01:33Z [info ] [DAG TEST] end task task_id=publish map_index=-1 [airflow.sdk]",
    ]
    events = [airflow_runner._scan_line(line, result) for line in lines]
    assert events == [None, None, "end publish"]
    assert result.results == {"publish": {"partition": "/v/p/date=x", "rows": 3}}
    assert result.run_dir == "/v/runs/d/manual__x"
