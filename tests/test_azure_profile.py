"""The ``azure`` execution profile: Databricks payloads, their configuration, and the remote entry point.

No network. A task's templates are rendered the way the task runner renders them: a
``RuntimeTaskInstance`` given the API server's run context (``TIRunContext``), then ``ti.render_templates()``
(no mock of the rendering). The payload is what the operator hands to ``DatabricksHook.submit_run``:
``execute()`` goes through the resumable-job mixin, which needs the task-state store of a supervised task
and polls the run, so the test calls the mixin's submission step, ``submit_job(context)`` (it builds the
payload with the provider's own merge and ``normalise_json_content``, then calls ``submit_run``), and
replaces only ``submit_run``, the one method that would reach the network, by a hook subclass that records
the payload and returns a run id. The provider has no public "build the payload" method
(``_prepare_submit_json`` is private), so that call is the seam.

``spark_jobs/pipeline_step.py`` runs as a subprocess, from a copy outside the repository as on Databricks.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from coding_potential.config import REPO_ROOT
from pipeline.airflow_runner import airflow_env

if "airflow" not in sys.modules:
    _VAR = tempfile.mkdtemp(prefix="coding-potential-test-azure-")
    atexit.register(shutil.rmtree, _VAR, ignore_errors=True)
    os.environ.update({key: value for key, value in airflow_env(_VAR).items() if key.startswith("AIRFLOW")})

import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.operators import databricks as databricks_operators
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.sdk import DAG, BaseOperator, Param
from airflow.sdk.api.datamodels._generated import DagRun, TIRunContext
from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
from airflow.serialization.serialized_objects import DagSerialization
from uuid6 import uuid7

PLUGINS_FOLDER = REPO_ROOT / "plugins"
if str(PLUGINS_FOLDER) not in sys.path:
    sys.path.append(str(PLUGINS_FOLDER))

from coding_potential_operators import PipelineStepOperator, available_profiles, step_operator  # noqa: E402
from coding_potential_operators.profiles import (  # noqa: E402
    AZURE_CONFIG_ENV,
    AZURE_CONFIG_FILE,
    DATABRICKS_ENV_PREFIX,
    AzureProfileSettings,
)

DAGS_FOLDER = REPO_ROOT / "dags"
PIPELINE_STEP = REPO_ROOT / "spark_jobs" / "pipeline_step.py"
DAY = "2026-03-15"
LOGICAL_DATE = pendulum.datetime(2026, 3, 15, tz="UTC")
LAKE = "abfss://lake@codingpotential.dfs.core.windows.net"
RUN_ID = "scheduled__2026-03-15T00:00:00+00:00"

#: The scoring DAG's argument templates of the Databricks steps (the lead's target wiring).
SCORING_ARGUMENTS = {
    "validate": ("validate_inputs", {"date": "{{ ds }}", "dataset": "scoring", "lake": "{{ params.lake }}"}),
    "features": ("build_features", {"date": "{{ ds }}", "dataset": "scoring", "lake": "{{ params.lake }}"}),
    "predict": ("predict", {"date": "{{ ds }}", "model_uri": "{{ params.model_uri }}", "lake": "{{ params.lake }}"}),
}

# What the committed azure_profile.json puts in every payload (numbers are strings: the provider's
# normalise_json_content turns them into strings before submitting).
PYTHON_FILE = "dbfs:/Volumes/main/coding_potential/artifacts/pipeline_step.py"
NEW_CLUSTER = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "Standard_D4ds_v5",
    "num_workers": "2",
    "data_security_mode": "SINGLE_USER",
    "spark_env_vars": {"CODING_POTENTIAL_PROFILE": "azure"},
}
LIBRARIES = [
    {"whl": "/Volumes/main/coding_potential/artifacts/coding_potential-0.1.0-py3-none-any.whl"},
    {"pypi": {"package": "mlflow==3.17.2"}},
    {"pypi": {"package": "scikit-learn==1.9.1"}},
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No profile or Databricks override from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(DATABRICKS_ENV_PREFIX) or name in (AZURE_CONFIG_ENV, "CODING_POTENTIAL_PROFILE"):
            monkeypatch.delenv(name)


class RecordingHook(DatabricksHook):
    """A ``DatabricksHook`` whose ``runs/submit`` call records the payload instead of sending it."""

    submitted: ClassVar[list[dict[str, Any]]] = []

    def submit_run(self, json: dict) -> int:
        RecordingHook.submitted.append(json)
        return 4242


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The operators build ``RecordingHook``s; the list of payloads they were asked to submit."""
    monkeypatch.setattr(RecordingHook, "submitted", [])
    monkeypatch.setattr(databricks_operators, "DatabricksHook", RecordingHook)
    return RecordingHook.submitted


def render(task: BaseOperator, conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render ``task``'s template fields for the scheduled run of :data:`LOGICAL_DATE`, as a worker does.

    Returns
    -------
    dict[str, Any]
        The template context the task was rendered with (``execute`` would get the same).
    """
    # Rendering resolves the run's conf into the task's Param objects, which copies of the task share:
    # give this task its own, so that one rendering never leaks into the next.
    task.params = type(task.params)({name: copy.copy(task.params.get_param(name)) for name in task.params})
    dag_run = DagRun.model_validate({
        "dag_id": task.dag_id, "run_id": RUN_ID, "logical_date": LOGICAL_DATE,
        "data_interval_start": LOGICAL_DATE, "data_interval_end": LOGICAL_DATE, "run_after": LOGICAL_DATE,
        "start_date": LOGICAL_DATE, "end_date": None, "run_type": "scheduled", "state": "running",
        "conf": conf or {}, "consumed_asset_events": [], "partition_key": None,
    })
    ti = RuntimeTaskInstance.model_construct(
        id=uuid7(), task_id=task.task_id, dag_id=task.dag_id, run_id=RUN_ID, try_number=1, map_index=-1,
        dag_version_id=uuid7(), task=task, start_date=LOGICAL_DATE, max_tries=task.retries,
        _ti_context_from_server=TIRunContext(dag_run=dag_run, max_tries=task.retries),
    )
    context = ti.get_template_context()
    ti.render_templates(context)
    return context


def payload(task: BaseOperator, submitted: list[dict[str, Any]], conf: dict[str, Any] | None = None) -> dict:
    """The ``runs/submit`` payload ``task`` sends for the scheduled run of :data:`LOGICAL_DATE`."""
    context = render(task, conf)
    assert isinstance(task, DatabricksSubmitRunOperator)
    assert task.submit_job(context) == 4242
    assert len(submitted) == 1
    return submitted.pop()


def scoring_dag(profile: str = "azure") -> DAG:
    """A DAG shaped like ``coding_potential_scoring`` (its params, native rendering, templates)."""
    with DAG(
        "coding_potential_scoring",
        schedule="@daily",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        render_template_as_native_obj=True,
        default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
        params={name: Param(None, type=["null", "string"]) for name in ("landing", "lake", "model_uri")},
    ) as dag:
        step_operator(
            "ingest", "ingest_landing",
            {"date": "{{ ds }}", "source": "{{ params.landing }}", "lake": "{{ params.lake }}"}, profile=profile,
        )
        for task_id, (step, arguments) in SCORING_ARGUMENTS.items():
            step_operator(task_id, step, arguments, profile=profile)
    return dag


def expected(task_id: str, step: str, arguments: dict[str, Any], dag_id: str = "coding_potential_scoring") -> dict:
    """The payload of the committed configuration, for one task."""
    return {
        "run_name": f"coding-potential-{dag_id}-{task_id}-{DAY}",
        "spark_python_task": {
            "python_file": PYTHON_FILE,
            "parameters": ["--step", step, "--args", json.dumps(arguments, sort_keys=True)],
        },
        "new_cluster": NEW_CLUSTER,
        "libraries": LIBRARIES,
        "timeout_seconds": "3600",
    }


# ---------------------------------------------------------------------------------------- payloads
def test_azure_is_available() -> None:
    assert available_profiles() == ("azure", "local")


def test_validate_payload(submitted: list[dict[str, Any]]) -> None:
    task = scoring_dag().get_task("validate")
    assert payload(task, submitted, conf={"lake": LAKE}) == {
        "run_name": "coding-potential-coding_potential_scoring-validate-2026-03-15",
        "spark_python_task": {
            "python_file": "dbfs:/Volumes/main/coding_potential/artifacts/pipeline_step.py",
            "parameters": [
                "--step", "validate_inputs",
                "--args",
                '{"dataset": "scoring", "date": "2026-03-15", "lake": "abfss://lake@codingpotential.dfs.core.windows.net"}',
            ],
        },
        "new_cluster": {
            "spark_version": "15.4.x-scala2.12",
            "node_type_id": "Standard_D4ds_v5",
            "num_workers": "2",
            "data_security_mode": "SINGLE_USER",
            "spark_env_vars": {"CODING_POTENTIAL_PROFILE": "azure"},
        },
        "libraries": [
            {"whl": "/Volumes/main/coding_potential/artifacts/coding_potential-0.1.0-py3-none-any.whl"},
            {"pypi": {"package": "mlflow==3.17.2"}},
            {"pypi": {"package": "scikit-learn==1.9.1"}},
        ],
        "timeout_seconds": "3600",
    }


def test_features_payload(submitted: list[dict[str, Any]]) -> None:
    task = scoring_dag().get_task("features")
    assert payload(task, submitted, conf={"lake": LAKE}) == {
        "run_name": "coding-potential-coding_potential_scoring-features-2026-03-15",
        "spark_python_task": {
            "python_file": "dbfs:/Volumes/main/coding_potential/artifacts/pipeline_step.py",
            "parameters": [
                "--step", "build_features",
                "--args",
                '{"dataset": "scoring", "date": "2026-03-15", "lake": "abfss://lake@codingpotential.dfs.core.windows.net"}',
            ],
        },
        "new_cluster": NEW_CLUSTER,
        "libraries": LIBRARIES,
        "timeout_seconds": "3600",
    }


def test_predict_payload_keeps_a_null_param_null(submitted: list[dict[str, Any]]) -> None:
    """``model_uri`` defaults to null: the native rendering keeps ``None``, which becomes JSON ``null``
    (not the string ``"None"``), exactly as the local operator would pass it."""
    task = scoring_dag().get_task("predict")
    assert payload(task, submitted, conf={"lake": LAKE}) == {
        "run_name": "coding-potential-coding_potential_scoring-predict-2026-03-15",
        "spark_python_task": {
            "python_file": "dbfs:/Volumes/main/coding_potential/artifacts/pipeline_step.py",
            "parameters": [
                "--step", "predict",
                "--args",
                '{"date": "2026-03-15", "lake": "abfss://lake@codingpotential.dfs.core.windows.net", '
                '"model_uri": null}',
            ],
        },
        "new_cluster": NEW_CLUSTER,
        "libraries": LIBRARIES,
        "timeout_seconds": "3600",
    }
    assert task.arguments == {"date": DAY, "lake": LAKE, "model_uri": None}


def test_task_settings_come_from_the_configuration() -> None:
    dag = scoring_dag()
    for task_id, (step, _) in SCORING_ARGUMENTS.items():
        task = dag.get_task(task_id)
        assert type(task).__name__ == "PipelineStepDatabricksOperator"
        assert isinstance(task, DatabricksSubmitRunOperator), task_id
        assert task.step == step
        assert task.databricks_conn_id == "databricks_default"
        assert task.polling_period_seconds == 30
        assert task.retries == 1
        assert task.retry_delay == timedelta(seconds=300)  # the configuration wins over default_args
        # before rendering, the --args parameter shows the templates
        assert json.loads(task.spark_python_task["parameters"][3]) == SCORING_ARGUMENTS[task_id][1]


def test_other_steps_stay_local_in_the_azure_profile() -> None:
    dag = scoring_dag()
    ingest = dag.get_task("ingest")
    assert type(ingest) is PipelineStepOperator
    assert ingest.step == "ingest_landing"
    with DAG("training_like", schedule=None):
        for step in ("resolve_training_inputs", "train_candidate", "evaluate_candidate", "register_candidate"):
            assert type(step_operator(step, step, {"date": "{{ ds }}"}, profile="azure")) is PipelineStepOperator


def test_explicit_operator_arguments_win_over_the_configuration() -> None:
    with DAG("explicit", schedule=None):
        task = step_operator("validate", "validate_inputs", {}, profile="azure", retries=5, timeout_seconds=60)
    assert task.retries == 5
    assert task.timeout_seconds == 60


def test_unknown_profile_still_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"unknown execution profile 'gcp'.*available: azure, local"):
        step_operator("t", "validate_inputs", {}, profile="gcp")
    monkeypatch.setenv("CODING_POTENTIAL_PROFILE", "databricks")
    with pytest.raises(ValueError, match=r"'databricks'.*CODING_POTENTIAL_PROFILE.*available: azure, local"):
        step_operator("t", "validate_inputs", {})


def test_the_profile_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODING_POTENTIAL_PROFILE", " Azure ")
    with DAG("from_env", schedule=None):
        assert isinstance(step_operator("validate", "validate_inputs", {}), DatabricksSubmitRunOperator)


def test_rendered_arguments_must_be_json(submitted: list[dict[str, Any]]) -> None:
    with DAG("not_json", schedule=None, render_template_as_native_obj=True):
        task = step_operator("validate", "validate_inputs", {"dag": "{{ dag }}"}, profile="azure")
    with pytest.raises(TypeError, match="arguments of step 'validate_inputs' are not JSON-serialisable"):
        render(task)
    assert submitted == []


def test_the_operator_owns_its_task_and_run_dir() -> None:
    from coding_potential_operators.databricks import PipelineStepDatabricksOperator

    with DAG("owned", schedule=None), pytest.raises(ValueError, match="run_dir"):
        step_operator("validate", "validate_inputs", {"run_dir": "/x"}, profile="azure")
    with DAG("owned2", schedule=None), pytest.raises(ValueError, match="spark_python_task"):
        PipelineStepDatabricksOperator(task_id="t", step="s", python_file="f", spark_python_task={})


# ----------------------------------------------------------------------------------- configuration
def test_environment_overrides_change_the_payload(
    monkeypatch: pytest.MonkeyPatch, submitted: list[dict[str, Any]]
) -> None:
    overrides = {
        "CONN_ID": "databricks_prod",
        "PYTHON_FILE": "abfss://artifacts@cp.dfs.core.windows.net/pipeline_step.py",
        "WHEEL": "abfss://artifacts@cp.dfs.core.windows.net/coding_potential-0.2.0-py3-none-any.whl",
        "PYPI_PACKAGES": "mlflow==3.17.2, scikit-learn==1.9.1, adlfs==2026.8.0",
        "NEW_CLUSTER": '{"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_E8ds_v5", "num_workers": 8}',
        "TIMEOUT_SECONDS": "7200",
        "POLLING_PERIOD_SECONDS": "10",
        "RETRIES": "3",
        "RETRY_DELAY_SECONDS": "600",
    }
    for key, value in overrides.items():
        monkeypatch.setenv(DATABRICKS_ENV_PREFIX + key, value)
    task = scoring_dag().get_task("validate")
    assert (task.databricks_conn_id, task.polling_period_seconds, task.retries, task.retry_delay) == (
        "databricks_prod", 10, 3, timedelta(seconds=600)
    )
    assert payload(task, submitted) == {
        "run_name": "coding-potential-coding_potential_scoring-validate-2026-03-15",
        "spark_python_task": {
            "python_file": "abfss://artifacts@cp.dfs.core.windows.net/pipeline_step.py",
            "parameters": [
                "--step", "validate_inputs", "--args", '{"dataset": "scoring", "date": "2026-03-15", "lake": null}'
            ],
        },
        "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_E8ds_v5", "num_workers": "8"},
        "libraries": [
            {"whl": "abfss://artifacts@cp.dfs.core.windows.net/coding_potential-0.2.0-py3-none-any.whl"},
            {"pypi": {"package": "mlflow==3.17.2"}},
            {"pypi": {"package": "scikit-learn==1.9.1"}},
            {"pypi": {"package": "adlfs==2026.8.0"}},
        ],
        "timeout_seconds": "7200",
    }


def test_an_existing_cluster_replaces_the_new_one(
    monkeypatch: pytest.MonkeyPatch, submitted: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv(DATABRICKS_ENV_PREFIX + "EXISTING_CLUSTER_ID", "0315-120000-abcdefgh")
    monkeypatch.setenv(DATABRICKS_ENV_PREFIX + "PYPI_PACKAGES", "[]")
    sent = payload(scoring_dag().get_task("features"), submitted)
    assert sent == {
        "run_name": "coding-potential-coding_potential_scoring-features-2026-03-15",
        "spark_python_task": {
            "python_file": PYTHON_FILE,
            "parameters": [
                "--step", "build_features", "--args", '{"dataset": "scoring", "date": "2026-03-15", "lake": null}'
            ],
        },
        "existing_cluster_id": "0315-120000-abcdefgh",
        "libraries": [LIBRARIES[0]],
        "timeout_seconds": "3600",
    }


def test_another_configuration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, submitted: list[dict[str, Any]]
) -> None:
    config = json.loads(AZURE_CONFIG_FILE.read_text())
    config.update(timeout_seconds=0, new_cluster={"spark_version": "15.4.x-scala2.12", "num_workers": 1})
    path = tmp_path / "azure.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv(AZURE_CONFIG_ENV, str(path))
    monkeypatch.setenv(DATABRICKS_ENV_PREFIX + "TIMEOUT_SECONDS", "900")  # the environment still wins
    sent = payload(scoring_dag().get_task("validate"), submitted)
    assert sent["new_cluster"] == {"spark_version": "15.4.x-scala2.12", "num_workers": "1"}
    assert sent["timeout_seconds"] == "900"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timeout": 1}, "unknown keys in .*: timeout"),
        ({"wheel": None}, "wheel must be a non-empty string"),
        ({"new_cluster": None}, "set new_cluster .* or existing_cluster_id"),
        ({"new_cluster": {"spark_version": "15.4.x-scala2.12", "spark_conf": {"a": None}}},
         r"cannot hold null: new_cluster.spark_conf.a"),
        ({"retries": "1"}, "retries must be an integer >= 0"),
        ({"pypi_packages": "mlflow"}, "pypi_packages must be a list"),
    ],
)
def test_invalid_configuration_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], message: str
) -> None:
    config = {**json.loads(AZURE_CONFIG_FILE.read_text()), **change}
    path = tmp_path / "azure.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv(AZURE_CONFIG_ENV, str(path))
    with DAG("invalid", schedule=None), pytest.raises(ValueError, match=message):
        step_operator("validate", "validate_inputs", {}, profile="azure")


def test_invalid_environment_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABRICKS_ENV_PREFIX + "TIMEOUT_SECONDS", "an hour")
    with pytest.raises(ValueError, match=r"\$CODING_POTENTIAL_DATABRICKS_TIMEOUT_SECONDS = 'an hour'"):
        AzureProfileSettings.load()
    monkeypatch.delenv(DATABRICKS_ENV_PREFIX + "TIMEOUT_SECONDS")
    monkeypatch.setenv(DATABRICKS_ENV_PREFIX + "NEW_CLUSTER", "[1]")
    with pytest.raises(ValueError, match=r"NEW_CLUSTER .* expected a JSON object or null"):
        AzureProfileSettings.load()
    monkeypatch.delenv(DATABRICKS_ENV_PREFIX + "NEW_CLUSTER")
    partial = tmp_path / "partial.json"
    partial.write_text('{"conn_id": "databricks_default"}')
    monkeypatch.setenv(AZURE_CONFIG_ENV, str(partial))
    with pytest.raises(ValueError, match=r"partial\.json lacks python_file, wheel, pypi_packages"):
        AzureProfileSettings.load()
    monkeypatch.setenv(AZURE_CONFIG_ENV, str(tmp_path / "absent.json"))
    with pytest.raises(ValueError, match=r"cannot read the configuration .*absent\.json"):
        AzureProfileSettings.load()


def test_committed_configuration_is_documented_and_pinned_like_the_lock() -> None:
    content = json.loads(AZURE_CONFIG_FILE.read_text())
    keys = {key for key in content if not key.startswith("_")}
    assert set(content["_doc"]) == keys
    settings = AzureProfileSettings.load({})
    lock = {
        line.split("==")[0].lower(): line.strip()
        for line in (REPO_ROOT / "requirements" / "platform.lock").read_text().splitlines()
        if "==" in line
    }
    for package in settings.pypi_packages:
        assert lock[package.split("==")[0].lower()] == package, package


# ---------------------------------------------------------------------------------- the DAG files
def test_real_dag_files_under_the_azure_profile(
    monkeypatch: pytest.MonkeyPatch, submitted: list[dict[str, Any]]
) -> None:
    """The DAG files as the DAG processor parses them with ``CODING_POTENTIAL_PROFILE=azure``."""
    monkeypatch.setenv("CODING_POTENTIAL_PROFILE", "azure")
    bag = DagBag(dag_folder=DAGS_FOLDER)
    assert bag.import_errors == {}

    scoring = bag.dags["coding_potential_scoring"]
    remote = {task.task_id for task in scoring.tasks if isinstance(task, DatabricksSubmitRunOperator)}
    assert remote == {"validate", "features", "predict"}
    assert type(scoring.get_task("ingest")) is PipelineStepOperator
    # the gate's thresholds: the issue's defaults (1% rejected, 5% ambiguous, 200 nt), one loosened by the conf
    prediction_gate = {"max_rejected_share": 0.05, "max_ambiguous_fraction": 0.05, "min_length": 200}
    rendered = {
        "validate": ("validate_inputs", {"dataset": "scoring", "date": DAY, "lake": LAKE,
                                         "thresholds": prediction_gate}),
        "features": ("build_features", {"dataset": "scoring", "date": DAY, "engine": None, "lake": LAKE}),
        "predict": ("predict", {"date": DAY, "lake": LAKE, "model_uri": None}),
    }
    for task_id, (step, arguments) in rendered.items():
        sent = payload(scoring.get_task(task_id), submitted, conf={"lake": LAKE, "max_rejected_share": 0.05})
        assert sent == expected(task_id, step, arguments), task_id

    training = bag.dags["coding_potential_training"]
    remote = {task.task_id for task in training.tasks if isinstance(task, DatabricksSubmitRunOperator)}
    assert remote == {"validate", "features"}
    assert all(type(task) is PipelineStepOperator for task in training.tasks if task.task_id not in remote)
    sent = payload(training.get_task("validate"), submitted)
    assert sent == expected(
        "validate", "validate_inputs",
        {"dataset": "training", "date": DAY, "lake": None,
         "thresholds": {"max_rejected_share": 0.01, "max_ambiguous_fraction": 0.05, "min_length": 200,
                        "min_coding_share": 0.1, "max_coding_share": 0.9}},
        "coding_potential_training",
    )

    # the DAG processor stores both DAGs serialised: the Databricks tasks must round-trip
    for dag in (scoring, training):
        serialised = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        types = {task.task_type for task in serialised.tasks}
        assert types == {"PipelineStepOperator", "PipelineStepDatabricksOperator"}, dag.dag_id


# ---------------------------------------------------------------------- spark_jobs/pipeline_step.py
@pytest.fixture
def entry_point(tmp_path: Path) -> Path:
    """A copy of ``pipeline_step.py`` outside the repository, as uploaded for Databricks."""
    folder = tmp_path / "uploaded"
    folder.mkdir()
    return Path(shutil.copy(PIPELINE_STEP, folder / "pipeline_step.py"))


def run_step(script: Path, *arguments: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with this interpreter from ``tmp_path``, with a private var/ and temporary folder."""
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "CODING_POTENTIAL_VAR": str(tmp_path / "var"), "TMPDIR": str(temp)}
    return subprocess.run(
        [sys.executable, str(script), *arguments],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_entry_point_runs_a_real_step(entry_point: Path, tmp_path: Path) -> None:
    """``ingest_landing`` of a day with nothing landed: a real step call, cheap, that skips."""
    (tmp_path / "landing").mkdir()
    arguments = {"date": DAY, "source": str(tmp_path / "landing"), "lake": str(tmp_path / "lake")}
    completed = run_step(entry_point, "--step", "ingest_landing", "--args", json.dumps(arguments), tmp_path=tmp_path)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["skip"] is True
    assert result["inputs"] == []
    assert result["raw"] == f"{(tmp_path / 'lake').resolve().as_uri()}/raw/scoring/date={DAY}"
    assert "nothing landed" in completed.stderr  # the step's log goes to stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary run folder is removed


def test_entry_point_with_a_run_dir(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    arguments = {"date": DAY, "source": str(tmp_path / "landing"), "lake": str(tmp_path / "lake")}
    completed = run_step(
        PIPELINE_STEP, "--step", "ingest_landing", "--args", json.dumps(arguments),
        "--run-dir", str(tmp_path / "run"), tmp_path=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.splitlines()[-1])["skip"] is True
    assert (tmp_path / "run").is_dir()


def test_python_m_pipeline_writes_the_result_file_too(tmp_path: Path) -> None:
    """``--result-file``: the result the Azure ML child pipeline reads back, the same as the last stdout line."""
    (tmp_path / "landing").mkdir()
    arguments = {"date": DAY, "source": str(tmp_path / "landing"), "lake": str(tmp_path / "lake")}
    result_file = tmp_path / "run" / "results" / "ingest.json"
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "ingest_landing", "--args", json.dumps(arguments),
         "--run-dir", str(tmp_path / "run"), "--result-file", str(result_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "CODING_POTENTIAL_VAR": str(tmp_path / "var")},
    )
    assert completed.returncode == 0, completed.stderr
    printed = json.loads(completed.stdout.splitlines()[-1])
    assert json.loads(result_file.read_text()) == printed and printed["skip"] is True
    assert sorted(p.name for p in result_file.parent.iterdir()) == ["ingest.json"]  # no partial file left


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--step", "no_such_step", "--args", "{}"],
         r"pipeline.steps has no step 'no_such_step'; steps: .*build_features.*validate_inputs"),
        (["--step", "ingest_landing", "--args", "{date: 1}"], r"--args is not valid JSON"),
        (["--step", "ingest_landing", "--args", '["2026-03-15"]'], "--args must be a JSON object .*not list"),
        (["--step", "ingest_landing", "--args", '{"run_dir": "/x"}'], "'run_dir' is not an argument: pass --run-dir"),
        (["--step", "ingest_landing", "--args", '{"date": "2026-03-15", "landing": "/x"}'],
         r"do not fit step ingest_landing\(.*unexpected keyword argument 'landing'"),
        (["--args", "{}"], "the following arguments are required: --step"),
    ],
)
def test_entry_point_usage_errors(entry_point: Path, tmp_path: Path, arguments: list[str], message: str) -> None:
    completed = run_step(entry_point, *arguments, tmp_path=tmp_path)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith("usage: pipeline_step.py")
    assert re.search(message, completed.stderr), completed.stderr


def test_entry_point_refuses_private_functions(entry_point: Path, tmp_path: Path) -> None:
    import pipeline.steps as steps

    private = next(
        name for name, value in vars(steps).items()
        if name.startswith("_") and callable(value) and getattr(value, "__module__", "") == steps.__name__
    )
    completed = run_step(entry_point, "--step", private, "--args", "{}", tmp_path=tmp_path)
    assert completed.returncode == 2
    assert f"pipeline.steps has no step {private!r}" in completed.stderr


def test_entry_point_fails_when_the_step_raises(entry_point: Path, tmp_path: Path) -> None:
    arguments = {"date": DAY, "datasets": ["no/such/*"], "lake": str(tmp_path / "lake")}
    completed = run_step(
        entry_point, "--step", "resolve_training_inputs", "--args", json.dumps(arguments), tmp_path=tmp_path
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert "DatasetError: no dataset matches 'no/such/*'" in completed.stderr
    assert not (tmp_path / "lake").exists()
