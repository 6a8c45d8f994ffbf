"""The committed ADF factory, run end to end here (``tests/adf_runtime.py``): the training pipeline trains,
evaluates, registers and promotes a champion through the Azure ML child pipeline, and the scoring pipeline
copies a landed day, gates, featurises and predicts with that champion (slow, ~1.5 min).

What stands in for the cloud: folders for the storage accounts, local processes for Databricks runs and
Azure ML jobs, a local SQLite MLflow store; every activity, expression and parameter is the committed
JSON's. The child pipeline's own control flow (polling, retries, failures) is checked on a cheap step.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from adf_export.export import COMMITTED
from tests.adf_runtime import LocalAzureML, LocalFactory, PipelineRun

pytestmark = pytest.mark.slow

DAY = "2026-01-01"
TRAINING, SCORING, STEP = "pl_coding_potential_training", "pl_coding_potential_scoring", "pl_azure_ml_step"
AML_TASKS = ("resolve_inputs", "train", "evaluate", "register")


def committed_factory() -> dict[str, list[dict[str, Any]]]:
    """The factory as committed (what is deployed), by Git folder."""
    return {folder: [json.loads(path.read_text(encoding="utf-8"))
                     for path in sorted((COMMITTED / folder).glob("*.json"))]
            for folder in ("pipeline", "dataset", "linkedService", "factory", "trigger")}


class Cloud:
    """Folders and services standing for one deployment, under ``root``."""

    def __init__(self, root: Path, shared: Path, fail_first: dict[str, int] | None = None) -> None:
        resources = committed_factory()
        self.adls, self.landing = root / "adls", root / "landing-account"
        self.lake = self.adls / "lake"  # the lake's container (lakeContainer's default)
        self.mlflow = f"sqlite:///{root / 'mlflow.db'}"
        # Cloud places in the jobs' environment -> their local stand-ins.
        env = {"CODING_POTENTIAL_LAKE": self.lake.as_uri(), "MLFLOW_TRACKING_URI": self.mlflow,
               "CODING_POTENTIAL_VAR": str(root / "var"), "CODING_POTENTIAL_SHARED": str(shared)}
        self.run_link = root / "run-link"
        self.azure_ml = LocalAzureML({"lake": self.lake}, env, self.run_link, fail_first)
        repo = COMMITTED.parents[1]
        profile = json.loads((repo / "plugins" / "coding_potential_operators" / "azure_profile.json").read_text())
        uploaded = {profile["python_file"]: repo / "spark_jobs" / "pipeline_step.py"}
        self.factory = LocalFactory(resources, {"ls_adls": self.adls, "ls_landing_blob": self.landing}, self.azure_ml,
                                    env, uploaded)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Cloud:
    return Cloud(tmp_path_factory.mktemp("adf-cloud"), shared)


@pytest.fixture(scope="module")
def training(cloud: Cloud) -> PipelineRun:
    run = cloud.factory.run(TRAINING, {"date": DAY, "sample_per_file": "150", "seed": 0,
                                       "features_engine": "inprocess"})
    assert run.status == "Succeeded", (run.error, [(a.name, a.status, a.error[-500:]) for a in run.activity_runs])
    return run


def _job_env(cloud: Cloud, task: str) -> list[dict[str, str]]:
    return [job["env"] for job in cloud.azure_ml.jobs.values() if job["env"]["CODING_POTENTIAL_TASK"] == task]


def _result(run: PipelineRun, task: str) -> dict[str, Any]:
    return run.outputs[task]["pipelineReturnValue"]["result"]


# ------------------------------------------------------------------------------------------ training
def test_training_runs_each_step_once_in_the_dag_order(cloud: Cloud, training: PipelineRun) -> None:
    top = [(a.name, a.type, a.status) for a in training.activity_runs]
    databricks, child = "DatabricksSparkPython", "ExecutePipeline"
    assert top == [("resolve_inputs", child, "Succeeded"), ("validate", databricks, "Succeeded"),
                   ("features", databricks, "Succeeded"), ("train", child, "Succeeded"),
                   ("evaluate", child, "Succeeded"), ("register", child, "Succeeded")]
    # one job per Azure ML task, each polled until it ended
    jobs = list(cloud.azure_ml.jobs.values())
    assert sorted(job["env"]["CODING_POTENTIAL_TASK"] for job in jobs) == sorted(AML_TASKS)
    assert all(job["end"] == "Completed" and job["polls"] == 2 for job in jobs)
    steps = {job["env"]["CODING_POTENTIAL_TASK"]: job["env"]["CODING_POTENTIAL_STEP"] for job in jobs}
    assert steps == {"resolve_inputs": "resolve_training_inputs", "train": "train_candidate",
                     "evaluate": "evaluate_candidate", "register": "register_candidate"}


def test_results_travel_from_step_to_step_through_the_run_folder(cloud: Cloud, training: PipelineRun) -> None:
    (child,) = [c for c in training.children if c.parameters["task"] == "train"]
    folder = cloud.lake / child.parameters["runFolder"]
    assert child.parameters["runFolder"] == f"runs/coding_potential_training/{training.run_id}"
    trained = _result(training, "train")
    # what the child returned is the file the job wrote, and the next jobs got exactly that as input
    assert trained == json.loads((folder / "results" / "train.json").read_text())
    (evaluate_env,) = _job_env(cloud, "evaluate")
    assert json.loads(evaluate_env["CODING_POTENTIAL_STEP_ARGS"])["trained"] == trained
    (register_env,) = _job_env(cloud, "register")
    assert json.loads(register_env["CODING_POTENTIAL_STEP_ARGS"])["evaluated"] == _result(training, "evaluate")
    # paths are under the fixed link every job makes to the mounted run folder, and exist in the lake
    link = str(cloud.run_link)
    assert trained["bundle"].startswith(link + "/model/")
    assert (folder / Path(trained["bundle"]).relative_to(link)).is_dir()


def test_the_evaluation_and_the_champion_are_real(cloud: Cloud, training: PipelineRun) -> None:
    import mlflow
    import pyarrow.parquet as pq
    from sklearn.metrics import roc_auc_score

    from models.registry import CHAMPION_ALIAS, MODEL_NAME

    trained, evaluated = _result(training, "train"), _result(training, "evaluate")
    folder = cloud.lake / f"runs/coding_potential_training/{training.run_id}"
    validation = pq.read_table(folder / Path(trained["validation"]).relative_to(cloud.run_link)).to_pandas()
    assert len(validation) == trained["n_validation"] > 100
    auroc = roc_auc_score(validation["label"], validation["coding_probability"])
    assert evaluated["metrics"]["validation_split"]["auroc"] == pytest.approx(auroc, abs=1e-12)
    assert auroc > 0.9
    registered = _result(training, "register")
    assert registered["promoted"] is True and registered["tracking_uri"] == cloud.mlflow
    client = mlflow.MlflowClient(tracking_uri=cloud.mlflow, registry_uri=cloud.mlflow)
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert str(champion.version) == str(registered["version"]) == "1"


# ------------------------------------------------------------------------------------------- scoring
def test_scoring_copies_the_day_and_predicts_with_the_champion(cloud: Cloud, training: PipelineRun,
                                                               shared: Path) -> None:
    import pyarrow.parquet as pq

    from pipeline.airflow_runner import stage_landing

    staged = stage_landing(DAY, landing_root=cloud.landing / "landing")
    run = cloud.factory.run(SCORING, {"date": DAY, "features_engine": "inprocess"})
    assert run.status == "Succeeded", (run.error, [(a.name, a.status, a.error[-500:]) for a in run.activity_runs])
    assert [a.name for a in run.activity_runs] == ["ingest", "validate", "features", "predict"]
    raw = cloud.lake / "raw" / "scoring" / f"date={DAY}"
    assert sorted(p.name for p in raw.rglob("*") if p.is_file()) == sorted(p.name for p in staged)
    partition = cloud.lake / "predictions" / "scoring" / f"date={DAY}"
    table = pq.read_table(partition / "predictions.parquet")
    records = 0
    for path in staged:
        with (gzip.open(path, "rt") if path.suffix == ".gz" else path.open()) as handle:
            records += sum(line.startswith(">") for line in handle)
    quarantined = pq.read_table(cloud.lake / "quarantine" / "scoring" / f"date={DAY}" / "rejected.parquet").num_rows
    assert table.num_rows + quarantined == records
    assert set(table.column("model_version").to_pylist()) == {"1"}


# ------------------------------------------------------------------------------- the child pipeline
def _step_parameters(retries: int, **arguments: Any) -> dict[str, Any]:
    args = {"date": DAY, "datasets": ["mouse/train_coding*"], "sample_per_file": 20, "seed": 0, **arguments}
    return {"task": "resolve_inputs", "step": "resolve_training_inputs", "args": json.dumps(args),
            "runFolder": "runs/child-test/r1", "experiment": "child-test", "retries": retries,
            "retryIntervalInSeconds": 90}


def test_a_failed_job_is_resubmitted_after_the_retry_interval(tmp_path: Path, shared: Path) -> None:
    cloud = Cloud(tmp_path, shared, fail_first={"resolve_inputs": 1})
    run = cloud.factory.run(STEP, _step_parameters(retries=1))
    assert run.status == "Succeeded", run.error
    names = sorted(cloud.azure_ml.jobs)
    assert names == [f"{run.run_id}-resolve_inputs-1", f"{run.run_id}-resolve_inputs-2"]
    assert [cloud.azure_ml.jobs[n]["end"] for n in names] == ["Failed", "Completed"]
    assert [w.output["seconds"] for w in run.activity_runs if w.name == "wait_to_retry"] == [1, 90]
    assert run.return_value["jobName"] == names[1]
    assert run.return_value["result"]["inputs"][0]["name"] == "mouse/train_coding.fa.gz"


def test_a_job_that_fails_every_try_fails_the_pipeline_naming_it(tmp_path: Path, shared: Path) -> None:
    cloud = Cloud(tmp_path, shared, fail_first={"resolve_inputs": 2})
    run = cloud.factory.run(STEP, _step_parameters(retries=1))
    assert run.status == "Failed"
    assert run.error == (f"Azure ML job {run.run_id}-resolve_inputs-2 of task resolve_inputs (step "
                         "resolve_training_inputs) ended Failed after 2 attempt(s); its logs are in Azure ML studio, "
                         "experiment child-test")
    assert run.runs_of("read_result")[0].status == "Skipped"


def test_a_job_still_running_at_the_time_out_is_cancelled_and_fails_the_pipeline(tmp_path: Path,
                                                                                shared: Path) -> None:
    cloud = Cloud(tmp_path, shared)
    cloud.azure_ml.hang.add("resolve_inputs")
    run = cloud.factory.run(STEP, {**_step_parameters(retries=1), "timeout": "0.00:02:00"})
    assert run.status == "Failed"
    (name,) = cloud.azure_ml.jobs  # no retry: the time-out covers every try
    assert cloud.azure_ml.cancelled == [name]
    assert run.error.startswith(f"Azure ML job {name} of task resolve_inputs (step resolve_training_inputs) ended "
                                "Running after 1 attempt(s)")
    polls = [r.output["seconds"] for r in run.activity_runs if r.name == "wait_to_poll"]
    assert polls == [30] * 4  # 1 s before submitting + 4 polls of 30 s pass the 2 minutes


def test_a_step_that_raises_fails_its_job_and_the_pipeline(tmp_path: Path, shared: Path) -> None:
    cloud = Cloud(tmp_path, shared)
    run = cloud.factory.run(STEP, _step_parameters(retries=0, datasets=["no/such_file*"]))
    assert run.status == "Failed" and "ended Failed after 1 attempt(s)" in run.error
    (job,) = cloud.azure_ml.jobs.values()
    assert "no/such_file" in job["log"]  # the step's own error, in the job's log


# ------------------------------------------------------------------------------------ the ingest copy
@pytest.mark.parametrize(("landing", "lake", "source", "sink"), [
    ("", "", "landing/{day}", "lake/raw/scoring/date={day}"),
    ("wasb://drop/incoming", "abfss://lake2@codingpotential.dfs.core.windows.net/team/a",
     "drop/incoming/{day}", "lake2/team/a/raw/scoring/date={day}"),
    ("wasbs://drop@codingpotentiallanding.blob.core.windows.net", "abfss://lake2@codingpotential.dfs.core.windows.net",
     "drop/{day}", "lake2/raw/scoring/date={day}"),
])
def test_the_copy_reads_and_writes_where_the_run_params_say(tmp_path: Path, shared: Path, landing: str, lake: str,
                                                            source: str, sink: str) -> None:
    """The ingest Copy alone (the committed activity), with and without the DAG's landing and lake params:
    it writes where the validate step reads (``pipeline.lake.partition`` for the same lake)."""
    from pipeline import lake as lake_layout

    cloud = Cloud(tmp_path, shared)
    scoring = cloud.factory.pipelines[SCORING]
    cloud.factory.pipelines["copy_only"] = {"parameters": scoring["parameters"],
                                            "activities": [a for a in scoring["activities"] if a["name"] == "ingest"]}
    landed = cloud.landing / source.format(day=DAY) / "sub" / "day.fa"
    landed.parent.mkdir(parents=True)
    landed.write_text(">t1\nACGT\n")
    run = cloud.factory.run("copy_only", {"date": DAY, "landing": landing, "lake": lake})
    assert run.status == "Succeeded", run.error
    written = cloud.adls / sink.format(day=DAY) / "sub" / "day.fa"
    assert written.read_text() == ">t1\nACGT\n"
    partition = lake_layout.partition("raw", "scoring", DAY, lake or "abfss://lake@codingpotential.dfs.core.windows.net")
    container, _, rest = partition.removeprefix("abfss://").partition("@")
    assert f"{container}/{rest.partition('/')[2]}" == sink.format(day=DAY)
