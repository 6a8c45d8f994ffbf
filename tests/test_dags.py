"""DAG integrity and the step operator: parse ``dags/`` as Airflow does, without running anything.

Airflow reads its configuration when first imported, so this module points ``AIRFLOW_*`` at a
throw-away home (the runner's environment) before importing it.
"""

from __future__ import annotations

import atexit
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from coding_potential.config import REPO_ROOT
from pipeline.airflow_runner import airflow_env

if "airflow" not in sys.modules:
    _VAR = tempfile.mkdtemp(prefix="coding-potential-test-dags-")
    atexit.register(shutil.rmtree, _VAR, ignore_errors=True)
    _HOME = airflow_env(_VAR)
    os.environ.update({key: value for key, value in _HOME.items() if key.startswith("AIRFLOW")})

from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG, CronTriggerTimetable
from airflow.sdk.definitions.xcom_arg import XComArg
from airflow.sdk.exceptions import AirflowSkipException

DAGS_FOLDER = REPO_ROOT / "dags"
PLUGINS_FOLDER = REPO_ROOT / "plugins"
if str(PLUGINS_FOLDER) not in sys.path:
    sys.path.append(str(PLUGINS_FOLDER))

from coding_potential_operators import (  # noqa: E402
    PipelineStepOperator,
    available_profiles,
    describe_result,
    step_operator,
)

TRAINING = "coding_potential_training"
SCORING = "coding_potential_scoring"
TRAINING_TASKS = ["resolve_inputs", "validate", "features", "train", "evaluate", "register"]
SCORING_TASKS = ["ingest", "validate", "features", "predict"]
#: Tasks that may run remotely (Databricks): they read and write the lake by date, never XCom.
LAKE_TASKS = {"validate", "features", "predict"}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    """The DAGs folder parsed once, as the DAG processor would (no example DAGs: Airflow 3's DagBag
    takes no ``include_examples``; examples are a separate bundle, off in this configuration)."""
    return DagBag(dag_folder=DAGS_FOLDER)


def _chain(dag: DAG) -> list[str]:
    """The task ids in dependency order, checking each task follows the one before it."""
    order = [task.task_id for task in dag.topological_sort()]
    for position, task_id in enumerate(order):
        upstream = dag.get_task(task_id).upstream_task_ids
        assert upstream <= set(order[:position]), task_id
        assert position == 0 or order[position - 1] in upstream, task_id
    return order


def test_dags_import_without_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert {TRAINING, SCORING} <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", [TRAINING, SCORING])
def test_dag_conventions(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    dag.check_cycle()
    assert dag.catchup is False
    assert "coding-potential" in dag.tags
    assert dag.doc_md and len(dag.doc_md.strip()) > 100
    # params must stay native (lists, numbers, null) when rendered into step arguments
    assert dag.render_template_as_native_obj is True
    for task in dag.tasks:
        assert isinstance(task, PipelineStepOperator), task.task_id
        assert task.retries >= 1, task.task_id
        assert task.retry_delay.total_seconds() > 0, task.task_id


def test_training_dag(dagbag: DagBag) -> None:
    dag = dagbag.dags[TRAINING]
    assert dag.schedule is None
    assert "training" in dag.tags
    assert _chain(dag) == TRAINING_TASKS
    params = dag.params
    assert params["datasets"] == [
        "human/train_coding.fa.gz", "human/train_noncoding.fa.gz",
        "mouse/train_coding.fa.gz", "mouse/train_noncoding.fa.gz",
    ]
    assert params["sample_per_file"] is None
    assert params["seed"] == 0
    assert params["promotion_margin"] == pytest.approx(0.002)
    assert params["model_families"] == ["logistic_regression", "random_forest", "gradient_boosting"]
    for name in ("datasets", "sample_per_file", "seed", "promotion_margin", "model_families"):
        assert params.get_param(name).description, name
    assert params.get_param("sample_per_file").schema["type"] == ["null", "integer"]


def test_scoring_dag(dagbag: DagBag) -> None:
    dag = dagbag.dags[SCORING]
    assert dag.schedule == "@daily"
    # Airflow 3: "@daily" triggers at midnight with a zero-length data interval (ds = the day itself)
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 0 * * *"
    assert dag.timetable.interval == timedelta(0)
    assert dag.start_date.isoformat().startswith("2026-01-01T00:00:00")
    assert "scoring" in dag.tags
    assert _chain(dag) == SCORING_TASKS
    for name in ("landing", "lake", "model_uri", "features_engine"):
        assert dag.params[name] is None, name
        assert dag.params.get_param(name).description, name
    for task in dag.tasks:
        assert task.arguments["date"] == "{{ ds }}", task.task_id
        assert task.arguments["lake"] == "{{ params.lake }}", task.task_id


@pytest.mark.parametrize("dag_id", [TRAINING, SCORING])
def test_tasks_call_real_steps_with_matching_arguments(dagbag: DagBag, dag_id: str) -> None:
    """Every task names a function of ``pipeline.steps`` whose signature accepts its arguments; the tasks
    that may run remotely take only the date and params (a Databricks run returns no XCom)."""
    import pipeline.steps as steps

    dag = dagbag.dags[dag_id]
    for task in dag.tasks:
        function = getattr(steps, task.step)
        inspect.signature(function).bind(run_dir="/tmp/run", **task.arguments)
        upstream = [value for value in task.arguments.values() if isinstance(value, XComArg)]
        assert {arg.operator.task_id for arg in upstream} <= task.upstream_task_ids, task.task_id
        if task.task_id in LAKE_TASKS:
            assert upstream == [], task.task_id
            assert task.arguments["date"] == "{{ ds }}", task.task_id


def test_operator_template_fields() -> None:
    assert PipelineStepOperator.template_fields == ("arguments",)


def test_unknown_profile_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert available_profiles() == ("azure", "local")
    with pytest.raises(ValueError, match=r"unknown execution profile 'gcp'.*available: azure, local"):
        step_operator("t", "validate_inputs", {}, profile="gcp")
    monkeypatch.setenv("CODING_POTENTIAL_PROFILE", "databricks")
    with pytest.raises(ValueError, match=r"'databricks'.*CODING_POTENTIAL_PROFILE.*available: azure, local"):
        step_operator("t", "validate_inputs", {})


def test_unknown_profile_fails_dag_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODING_POTENTIAL_PROFILE", "databricks")
    bag = DagBag(dag_folder=DAGS_FOLDER)
    assert len(bag.import_errors) == 2
    assert all("unknown execution profile 'databricks'" in error for error in bag.import_errors.values())


def test_local_profile_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODING_POTENTIAL_PROFILE", raising=False)
    with DAG("profile_default", schedule=None):
        operator = step_operator("t", "validate_inputs", {"resolved": {}})
    assert isinstance(operator, PipelineStepOperator)
    assert operator.step == "validate_inputs"


@pytest.fixture
def fake_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """Replace ``pipeline.steps`` by a module whose steps record their calls; isolate var/."""
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("pipeline.steps")

    def nothing_landed(run_dir: str, date: str) -> dict[str, Any]:
        calls.append({"run_dir": run_dir, "date": date})
        return {"inputs": [], "skip": True, "reason": f"nothing landed for {date}"}

    def register(run_dir: str, version: str) -> dict[str, Any]:
        calls.append({"run_dir": run_dir, "version": version})
        return {"version": version, "promoted": False, "reason": "candidate AUROC not better by the margin"}

    def not_json(run_dir: str) -> dict[str, Any]:
        return {"path": Path(run_dir)}

    for function in (nothing_landed, register, not_json):
        function.__module__ = module.__name__
        setattr(module, function.__name__, function)
    monkeypatch.setitem(sys.modules, "pipeline.steps", module)
    monkeypatch.setenv("CODING_POTENTIAL_VAR", str(tmp_path / "var"))
    return calls


def _operator(step: str, arguments: dict[str, Any]) -> PipelineStepOperator:
    with DAG("operator_unit", schedule=None):
        return PipelineStepOperator(task_id="t", step=step, arguments=arguments)


RUN_ID = "manual__2026-01-01T00:00:00+00:00"


def test_operator_skips_when_the_step_says_so(fake_steps: list[dict[str, Any]], tmp_path: Path) -> None:
    operator = _operator("nothing_landed", {"date": "2026-01-01"})
    with pytest.raises(AirflowSkipException, match="nothing landed for 2026-01-01"):
        operator.execute({"run_id": RUN_ID})  # type: ignore[arg-type]
    expected = tmp_path / "var" / "runs" / "operator_unit" / "manual__2026-01-01T00_00_00_00_00"
    assert fake_steps == [{"run_dir": str(expected), "date": "2026-01-01"}]
    assert expected.is_dir()


def test_operator_returns_the_result(fake_steps: list[dict[str, Any]]) -> None:
    result = _operator("register", {"version": "7"}).execute({"run_id": RUN_ID})  # type: ignore[arg-type]
    assert result == {"version": "7", "promoted": False, "reason": "candidate AUROC not better by the margin"}
    assert describe_result("register_candidate", result) == (
        "register_candidate: model version 7 NOT promoted: candidate AUROC not better by the margin"
    )
    assert "PROMOTED to champion: first" in describe_result(
        "register_candidate", {"version": "1", "promoted": True, "reason": "first"}
    )


def test_operator_rejects_bad_steps_and_results(fake_steps: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match=r"no step 'missing'; steps: not_json, nothing_landed, register"):
        _operator("missing", {}).execute({"run_id": RUN_ID})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        _operator("not_json", {}).execute({"run_id": RUN_ID})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="arguments of step 'register' are not JSON-serialisable"):
        _operator("register", {"version": object()}).execute({"run_id": RUN_ID})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="run_dir"):
        _operator("register", {"run_dir": "/elsewhere"})


def test_plugin_loader_does_not_import_the_operator_modules_as_plugins(tmp_path: Path) -> None:
    """Airflow imports every ``.py`` under ``plugins_folder`` as a top-level module named after the file;
    ``plugins/.airflowignore`` keeps ``operators``/``profiles`` out of ``sys.modules`` that way."""
    script = (
        "import sys\n"
        "from airflow import plugins_manager\n"
        "plugins_manager.ensure_plugins_loaded()\n"
        "print(sorted(set(sys.modules) & {'operators', 'profiles', '__init__'}), plugins_manager.get_import_errors())\n"
    )
    env = airflow_env(tmp_path / "var")
    completed = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert completed.stdout.strip().splitlines()[-1] == "[] {}"


def test_gate_thresholds_are_params_with_the_deployments_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate's thresholds are DAG params (a run can loosen them); their defaults are the issue's
    (1% rejected, 5% ambiguous, 200 nt), or the environment's when the DAG files are parsed."""
    expected = {"max_rejected_share": 0.01, "max_ambiguous_fraction": 0.05, "min_length": 200}
    training = {**expected, "min_coding_share": 0.1, "max_coding_share": 0.9}
    monkeypatch.delenv("CODING_POTENTIAL_GATE_MIN_LENGTH", raising=False)
    monkeypatch.setenv("CODING_POTENTIAL_GATE_MAX_REJECTED_SHARE", "0.03")
    bag = DagBag(dag_folder=DAGS_FOLDER)
    for dag_id, want in ((SCORING, expected), (TRAINING, training)):
        dag = bag.dags[dag_id]
        assert {name: dag.params[name] for name in want} == {**want, "max_rejected_share": 0.03}, dag_id
        assert dag.get_task("validate").arguments["thresholds"] == {name: f"{{{{ params.{name} }}}}" for name in want}
        for name in want:
            assert dag.params.get_param(name).description, name
    assert "min_coding_share" not in bag.dags[SCORING].params
