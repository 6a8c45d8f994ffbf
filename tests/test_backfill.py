"""A real scheduler-run backfill of the scoring DAG, three times, and the Airflow UI checked in Chromium (slow).

One fresh var/ and Airflow home: a small champion is trained (``coding-potential train`` on a sample),
a few dozen real mouse validation records (plus three invalid ones) land for each of three days, and
the API server, scheduler and DAG processor are started (:class:`pipeline.airflow_services.AirflowServices`).
Then, for 2026-01-01..03:

1. a backfill scores each day once: three backfill runs, all successful, each day's published
   predictions are exactly that day's valid records and name the champion's version;
2. a second backfill of the same days (``reprocess_behavior="completed"``) with the same champion
   reruns every day and leaves each partition's rows identical (no duplicates);
3. a new champion is registered and promoted, and a third backfill replaces each partition (same rows,
   the new version);
4. the scoring DAG's grid, opened in headless Chromium as a person would, shows the three runs as
   successful; its screenshot goes to ``$CODING_POTENTIAL_TEST_ARTIFACTS`` (default
   ``var/test-artifacts/``) and its path is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from coding_potential import config
from pipeline import lake
from pipeline.airflow_runner import SCORING_DAG
from pipeline.airflow_services import AirflowServices, DagRun
from pipeline.ui_check import GridRun, grid_runs
from tests.conftest import read_plain_fasta

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DAYS = ("2026-01-01", "2026-01-02", "2026-01-03")
#: Real records per validation file and day (coding and noncoding): a different slice each day.
PER_FILE = 15
TRAIN_ARGS = ("train", "--sample-per-file", "100", "--families", "logistic_regression")


# ------------------------------------------------------------------------------------------------------
# Where the scoring DAG reads and writes: the only code of this test that knows the layout.
def landed_inputs_for(var: Path, day: str) -> Path:
    """The folder where ``day``'s FASTA must land: ``<landing>/<YYYY-MM-DD>/`` (``landing`` in the conf)."""
    return var / "lake" / "landing" / day


def scoring_conf(var: Path) -> dict[str, object]:
    """The backfill runs' conf: the landing root and the lake, features computed in-process (no Spark), and
    a gate loosened to let each day's 3 invalid records of 33 (9%) through (the default stops at 1%)."""
    return {"landing": str(var / "lake" / "landing"), "lake": (var / "lake").as_uri(), "features_engine": "inprocess",
            "max_rejected_share": 0.1}


def published_rows(var: Path, day: str) -> pa.Table:
    """Every row of ``day``'s published predictions partition (all its Parquet files)."""
    partition = lake.local_path(lake.partition("predictions", "scoring", day, (var / "lake").as_uri()))
    return pq.read_table(partition)


def published_model_version(var: Path, day: str) -> set[str]:
    """The model versions ``day``'s partition says produced it (one, when a single model scored it all)."""
    return {str(version) for version in published_rows(var, day).column("model_version").to_pylist()}


# ------------------------------------------------------------------------------------------------------
@dataclass
class Backfilled:
    """What one backfill left: its runs and their task states, and each day's partition."""

    backfill: dict[str, object]
    runs: list[DagRun]
    tasks: dict[str, dict[str, str]]
    tables: dict[str, pa.Table]
    versions: dict[str, set[str]]
    seconds: float


@dataclass
class Scenario:
    """The whole run: inputs, champions, the three backfills and what the UI showed."""

    var: Path
    valid_ids: dict[str, list[str]]
    champion: str
    new_champion: str
    backfills: list[Backfilled] = field(default_factory=list)
    grid: list[GridRun] = field(default_factory=list)
    screenshot: Path | None = None


def _valid_ids(path: Path) -> list[str]:
    """IDs of the records the pipeline must keep, by a naive reading of a FASTA this test wrote.

    The ID is the header's first word (of a GENCODE header, its first ``|`` field). Kept: a non-empty ID
    and sequence, IUPAC nucleotide letters only, at least 90 % A/C/G/T/U/N, and the
    first of records sharing an ID.
    """
    iupac, core = set("ACGTURYKMSWBDHVN"), set("ACGTUN")
    kept: list[str] = []
    for header, sequence in read_plain_fasta(path):
        token = header.split()[0] if header.split() else ""
        record_id = token.split("|")[0] if token.startswith("ENS") else token  # GENCODE: the transcript ID
        letters_ok = sequence and set(sequence) <= iupac and 10 * sum(c in core for c in sequence) >= 9 * len(sequence)
        if record_id and letters_ok and record_id not in kept:
            kept.append(record_id)
    return kept


def _land(shared: Path, var: Path, index: int, day: str) -> list[str]:
    """Land ``day``'s FASTA (a slice of real records, then three invalid ones); return the valid IDs."""
    folder = landed_inputs_for(var, day)
    folder.mkdir(parents=True, exist_ok=True)
    valid: list[str] = []
    for label in ("coding", "noncoding"):
        records = read_plain_fasta(shared / "data" / "mouse" / f"validation_{label}.fa.gz")
        chosen = records[index * PER_FILE : (index + 1) * PER_FILE]
        text = "".join(f">{header}\n{sequence}\n" for header, sequence in chosen)
        if label == "coding":  # an empty sequence, a non-nucleotide character, a repeated ID
            first_id = chosen[0][0].split()[0]
            text += f">empty_{day}\n>stars_{day}\nACGT**ACGT\n>{first_id} again\nACGTACGTACGT\n"
        path = folder / f"{label}.fa"
        path.write_text(text)
        valid += _valid_ids(path)
    assert len(valid) == 2 * PER_FILE
    return valid


@dataclass
class Training:
    """A ``coding-potential train`` running in the background, and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    def version(self, timeout: float = 300) -> str:
        """Wait for it; return the version it registered, which must have been promoted to champion."""
        code = self.process.wait(timeout=timeout)
        text = self.log.read_text(errors="replace")
        assert code == 0, f"training failed (exit {code}):\n{text[-3000:]}"
        registered = json.loads(text.strip().splitlines()[-1])
        assert registered["promoted"], registered
        return str(registered["version"])


def _train(var: Path, env: dict[str, str], *extra: str) -> Training:
    """Start ``coding-potential train`` on a small sample (a new registered version) in the background."""
    log = var / f"train-{time.monotonic_ns()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "cli", *TRAIN_ARGS, *extra], cwd=config.REPO_ROOT,
                                   env={**env, "CODING_POTENTIAL_VAR": str(var)}, stdout=out, stderr=subprocess.STDOUT)
    return Training(process, log)


def _base_env(shared: Path) -> dict[str, str]:
    """The caller's environment without anything that would point the steps elsewhere."""
    dropped = {"MLFLOW_TRACKING_URI", "CODING_POTENTIAL_LANDING", "CODING_POTENTIAL_LAKE",
               "CODING_POTENTIAL_PREDICTIONS", "CODING_POTENTIAL_FEATURES_ENGINE", "CODING_POTENTIAL_PROFILE",
               "AIRFLOW_HOME"}
    base = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("AIRFLOW__")}
    base["CODING_POTENTIAL_SHARED"] = str(shared)
    return base


def _artifacts() -> Path:
    """Where test artifacts go: ``$CODING_POTENTIAL_TEST_ARTIFACTS``, else ``var/test-artifacts/`` (git-ignored)."""
    folder = Path(os.environ.get("CODING_POTENTIAL_TEST_ARTIFACTS") or config.REPO_ROOT / "var" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _failed_tasks(airflow: AirflowServices, runs: list[DagRun], tasks: dict[str, dict[str, str]]) -> str:
    """What went wrong, for a failed backfill: each run's task states and where its task logs are."""
    logs = airflow.home / "logs" / f"dag_id={SCORING_DAG}"
    lines = [f"{run.run_id}: {run.state}, tasks {tasks.get(run.day)}" for run in runs]
    return "\n".join([*lines, f"task logs under {logs}", airflow.log_tails(15)])


def _backfill(airflow: AirflowServices, var: Path, reprocess: str,
              while_completing: Callable[[], object] | None = None) -> Backfilled:
    """Backfill :data:`DAYS`, wait until the runs finish and the backfill is completed, read the partitions.

    ``while_completing`` is called once the runs have finished, while the scheduler has yet to mark the
    backfill completed (it checks every 30 s): time for other work.
    """
    started = time.monotonic()
    created = airflow.create_backfill(SCORING_DAG, DAYS[0], DAYS[-1], reprocess, dag_run_conf=scoring_conf(var))
    runs = airflow.wait_runs(SCORING_DAG, len(DAYS), timeout=420)
    tasks = {run.day: airflow.task_states(SCORING_DAG, run.run_id) for run in runs}
    assert all(run.state == "success" for run in runs), _failed_tasks(airflow, runs, tasks)
    if while_completing is not None:
        while_completing()
    backfill = airflow.wait_backfill(int(created["id"]), timeout=120)
    return Backfilled(backfill, runs, tasks, tables={day: published_rows(var, day) for day in DAYS},
                      versions={day: published_model_version(var, day) for day in DAYS},
                      seconds=time.monotonic() - started)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Iterator[Scenario]:
    started = time.monotonic()
    var = tmp_path_factory.mktemp("backfill") / "var"
    base = _base_env(shared)
    trainings = [_train(var, base)]  # the first champion trains while the services start
    try:
        valid = {day: _land(shared, var, index, day) for index, day in enumerate(DAYS)}
        with AirflowServices(var, base, dag_ids=(SCORING_DAG,)) as airflow:
            print(f"\nAirflow services ready after {time.monotonic() - started:.0f} s: {airflow.base_url}")
            scenario = Scenario(var, valid, champion=trainings[0].version(), new_champion="")
            airflow.unpause(SCORING_DAG)
            scenario.backfills.append(_backfill(airflow, var, "none"))
            # The new champion (another seed, promoted whatever its AUROC) trains while the second backfill
            # completes: after its runs have finished, so that they all scored with the first champion.
            scenario.backfills.append(_backfill(airflow, var, "completed", lambda: trainings.append(
                _train(var, base, "--seed", "1", "--margin", "-1"))))
            scenario.new_champion = trainings[-1].version()
            scenario.backfills.append(_backfill(airflow, var, "completed"))
            scenario.screenshot = _artifacts() / "backfill-grid.png"
            scenario.grid = grid_runs(airflow.base_url, SCORING_DAG, scenario.screenshot, expected=len(DAYS),
                                      timeout=90, settled=("success", "failed"))
    finally:
        for training in trainings:
            if training.process.poll() is None:
                training.process.kill()
                training.process.wait()
    seconds = ", ".join(f"{backfill.seconds:.0f} s" for backfill in scenario.backfills)
    print(f"backfills took {seconds}; the whole scenario {time.monotonic() - started:.0f} s")
    yield scenario


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by("id")


def test_first_backfill_scores_each_day_once(scenario: Scenario) -> None:
    first = scenario.backfills[0]
    assert [(run.day, run.run_type, run.state) for run in first.runs] == [(day, "backfill", "success") for day in DAYS]
    for day in DAYS:
        assert first.tasks[day] and set(first.tasks[day].values()) == {"success"}, (day, first.tasks[day])
        table = first.tables[day]
        assert table.num_rows == len(scenario.valid_ids[day]), day
        assert sorted(table.column("id").to_pylist()) == sorted(scenario.valid_ids[day]), day
        assert first.versions[day] == {scenario.champion}, day


def test_rerunning_with_the_same_champion_changes_nothing(scenario: Scenario) -> None:
    first, second = scenario.backfills[:2]
    assert [run.run_id for run in second.runs] == [run.run_id for run in first.runs]  # the same runs, cleared
    assert all(run.state == "success" for run in second.runs)
    first_done = datetime.fromisoformat(str(first.backfill["completed_at"]))
    for run in second.runs:  # each really ran again, after the first backfill was completed
        assert run.end_date and datetime.fromisoformat(run.end_date) > first_done, run
    for day in DAYS:
        ids = second.tables[day].column("id").to_pylist()
        assert len(ids) == len(set(ids)) == len(scenario.valid_ids[day]), day  # no duplicate rows
        assert _sorted(second.tables[day]).equals(_sorted(first.tables[day])), day
        assert second.versions[day] == {scenario.champion}, day


def test_a_new_champion_replaces_each_partition(scenario: Scenario) -> None:
    second, third = scenario.backfills[1:]
    assert scenario.new_champion != scenario.champion
    assert all(run.state == "success" for run in third.runs)
    for day in DAYS:
        before, after = _sorted(second.tables[day]), _sorted(third.tables[day])
        assert after.num_rows == before.num_rows == len(scenario.valid_ids[day]), day  # replaced, not appended
        assert after.column("id").to_pylist() == before.column("id").to_pylist(), day
        assert third.versions[day] == {scenario.new_champion}, day
        assert not after.column("coding_probability").equals(before.column("coding_probability")), day


def test_the_grid_shows_the_three_backfilled_runs_as_successful(scenario: Scenario) -> None:
    shown = sorted((run.day, run.state, run.run_id) for run in scenario.grid)
    assert shown == [(run.day, "success", run.run_id) for run in scenario.backfills[-1].runs], scenario.grid
    assert scenario.screenshot is not None and scenario.screenshot.stat().st_size > 10_000
    assert scenario.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\ngrid screenshot: {scenario.screenshot}")
