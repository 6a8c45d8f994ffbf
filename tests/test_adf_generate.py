"""The ADF pipelines mirror the azure-profile DAGs: one activity per task, the same edges and params, and
arguments that evaluate to the JSON the Databricks operator sends for the same run.

The ADF expressions are evaluated by the small ADF runtime of the tests (``tests/adf_runtime.py``),
written independently of the generator's code; ``tests/test_adf_runs.py`` runs the whole committed
factory with it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from adf_export.generate import (
    DATE_PARAMETER,
    PIPELINES,
    WINDOW_PARAMETERS,
    UnmappedTaskError,
    activity,
    azure_dags,
    pipeline_resource,
)
from tests.adf_runtime import FUNCTIONS, Scope, resolve
from tests.test_azure_profile import DAY, render

LAKE = "abfss://lake@codingpotential.dfs.core.windows.net"
PASCAL = {"String", "Int", "Float", "Bool", "Array", "Object"}


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    return azure_dags()


@pytest.fixture(scope="module")
def resources(dags) -> dict[str, dict]:
    return {dag_id: pipeline_resource(dag) for dag_id, dag in dags.items()}


# ------------------------------------------------------------- ADF expressions (tests/adf_runtime.py's evaluator)
class ParameterScope(Scope):
    """What an activity's expressions see here: the run's parameters and the upstream outputs given."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def call(self, name: str, args: list[Any]) -> Any:
        if name == "pipeline":
            return {"parameters": self.values}
        if name == "activity":
            return {"output": self.values["@activity"][args[0]]}
        return FUNCTIONS[name](*args)


def interpolate(text: str, scope: dict[str, Any]) -> str:
    """An ADF string with ``@{...}`` parts, as ADF renders it (values of non-strings as JSON text)."""
    return resolve(text, ParameterScope(scope))


def _scope(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    """Parameter values of an ADF run given the same conf: nullable params are '' for null."""
    values = {name: dag.params[name] for name in dag.params}
    values.update(conf)
    values = {k: ("" if v is None else v) for k, v in values.items()}
    return {**values, DATE_PARAMETER: DAY}


# ------------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("dag_id", list(PIPELINES))
def test_one_activity_per_task_with_the_same_edges(dags, resources, dag_id: str) -> None:
    dag, pipeline = dags[dag_id], resources[dag_id]
    assert pipeline["name"] == PIPELINES[dag_id]
    activities = {a["name"]: a for a in pipeline["properties"]["activities"]}
    assert set(activities) == {task.task_id for task in dag.tasks}
    assert len(activities) == len(dag.tasks)
    for task in dag.tasks:
        edges = activities[task.task_id]["dependsOn"]
        assert {e["activity"] for e in edges} == task.upstream_task_ids, task.task_id
        assert all(e["dependencyConditions"] == ["Succeeded"] for e in edges)


@pytest.mark.parametrize("dag_id", list(PIPELINES))
def test_pipeline_parameters_mirror_the_dag_params(dags, resources, dag_id: str) -> None:
    dag, parameters = dags[dag_id], resources[dag_id]["properties"]["parameters"]
    extra = {DATE_PARAMETER, *(WINDOW_PARAMETERS if dag.schedule is not None else ())}
    assert set(parameters) == set(dag.params) | extra
    assert {p["type"] for p in parameters.values()} <= PASCAL
    for name in dag.params:
        schema_type = dag.params.get_param(name).schema["type"]
        default = dag.params[name]
        if isinstance(schema_type, list):  # nullable: a String, '' for null
            assert parameters[name] == {"type": "String", "defaultValue": "" if default is None else str(default)}
        else:
            assert parameters[name]["defaultValue"] == default, name


def test_activity_types_and_policies(dags, resources) -> None:
    kinds = {(dag_id, a["name"]): a["type"] for dag_id, r in resources.items() for a in r["properties"]["activities"]}
    scoring, training = "coding_potential_scoring", "coding_potential_training"
    assert kinds[scoring, "ingest"] == "Copy"
    assert {kinds[scoring, t] for t in ("validate", "features", "predict")} == {"DatabricksSparkPython"}
    assert {kinds[training, t] for t in ("validate", "features")} == {"DatabricksSparkPython"}
    assert {kinds[training, t] for t in ("resolve_inputs", "train", "evaluate", "register")} == {"ExecutePipeline"}
    validate = dags[scoring].get_task("validate")
    (rendered,) = [a for a in resources[scoring]["properties"]["activities"] if a["name"] == "validate"]
    assert rendered["policy"]["timeout"] == "0.01:00:00" == f"0.{validate.timeout_seconds // 3600:02d}:00:00"
    assert rendered["policy"]["retry"] == validate.retries == 1
    assert rendered["policy"]["retryIntervalInSeconds"] == validate.retry_delay.total_seconds() == 300
    assert rendered["typeProperties"]["pythonFile"] == validate.python_file
    assert rendered["typeProperties"]["libraries"] == validate.libraries


@pytest.mark.parametrize(("dag_id", "task_id"), [
    ("coding_potential_scoring", "validate"), ("coding_potential_scoring", "features"),
    ("coding_potential_scoring", "predict"), ("coding_potential_training", "validate"),
    ("coding_potential_training", "features"),
])
@pytest.mark.parametrize("conf", [{}, {"lake": LAKE, "max_rejected_share": 0.05, "features_engine": "spark"},
                                  {"lake": LAKE + '/a "quoted" \\dir', "model_uri": 'runs:/r"1\\/model'}])
def test_databricks_arguments_equal_the_operators_payload(dags, resources, dag_id, task_id, conf) -> None:
    """For the same run (date, conf), the ADF activity's --args evaluate to the JSON Airflow submits."""
    dag = copy.deepcopy(dags[dag_id])  # rendering writes into the task and its DAG's params: keep them pristine
    task = dag.get_task(task_id)
    conf = {k: v for k, v in conf.items() if k in dag.params}
    render(task, conf)
    airflow_args = task.spark_python_task["parameters"]
    (adf,) = [a for a in resources[dag_id]["properties"]["activities"] if a["name"] == task_id]
    adf_args = adf["typeProperties"]["parameters"]
    assert adf_args[:3] == airflow_args[:3] == ["--step", task.step, "--args"]
    assert json.loads(interpolate(adf_args[3], _scope(dag, conf))) == json.loads(airflow_args[3])


def _azure_ml_call(resources: dict, task_id: str) -> dict:
    (call,) = [a for a in resources["coding_potential_training"]["properties"]["activities"] if a["name"] == task_id]
    return call


@pytest.mark.parametrize("conf", [{}, {"sample_per_file": 150, "manifest": "/data/set.tsv", "lake": LAKE}])
def test_azure_ml_steps_get_the_same_step_and_arguments(dags, resources, conf) -> None:
    dag = dags["coding_potential_training"]
    task = copy.deepcopy(dag.get_task("resolve_inputs"))
    render(task, conf)
    call = _azure_ml_call(resources, "resolve_inputs")
    assert call["typeProperties"]["pipeline"] == {"referenceName": "pl_azure_ml_step", "type": "PipelineReference"}
    assert call["typeProperties"]["waitOnCompletion"] is True
    given = call["typeProperties"]["parameters"]
    assert (given["task"], given["step"], given["experiment"]) == ("resolve_inputs", task.step, dag.dag_id)
    assert json.loads(interpolate(given["args"], _scope(dag, conf))) == task.arguments  # the rendered arguments


def test_azure_ml_steps_retry_and_time_out_as_the_task(dags, resources) -> None:
    """ExecutePipeline has no retry policy: the child retries the job; its time-out covers every try."""
    dag = dags["coding_potential_training"]
    for task_id in ("resolve_inputs", "train", "evaluate", "register"):
        task, given = dag.get_task(task_id), _azure_ml_call(resources, task_id)["typeProperties"]["parameters"]
        assert "policy" not in _azure_ml_call(resources, task_id)
        assert given["retries"] == task.retries == 1
        assert given["retryIntervalInSeconds"] == task.retry_delay.total_seconds() == 60
        # no execution_timeout: 12 h a try, two tries, one wait between them
        assert task.execution_timeout is None
        assert given["timeout"] == "1.00:01:00"


def test_a_downstream_step_gets_the_upstream_result_the_child_returns(dags, resources) -> None:
    dag = dags["coding_potential_training"]
    trained = {"bundle": "/tmp/coding-potential-run/model/bundle", "n_train": 3, "candidates": [{"auroc": 0.5}]}
    evaluated = {"metrics": {"validation_split": {"auroc": 0.9}}}
    outputs = {"train": {"pipelineReturnValue": {"result": trained}},
               "evaluate": {"pipelineReturnValue": {"result": evaluated}}}
    for task_id, expected in (("evaluate", {"trained": trained}), ("register", {"trained": trained,
                                                                             "evaluated": evaluated})):
        args = _azure_ml_call(resources, task_id)["typeProperties"]["parameters"]["args"]
        rendered = json.loads(interpolate(args, {**_scope(dag, {}), "@activity": outputs}))
        assert {key: rendered[key] for key in expected} == expected
        assert rendered["params"]["seed"] == 0


# --------------------------------------------------------------------------------------- refusals
def test_an_operator_without_mapping_is_an_error_naming_the_task(dags) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator

    dag = dags["coding_potential_scoring"]
    stray = EmptyOperator(task_id="notify")
    stray.dag = None
    with pytest.raises(UnmappedTaskError, match=r"task 'notify' of coding_potential_scoring: no ADF activity for "
                                                r"operator EmptyOperator"):
        activity(stray, dag)


def test_an_untranslatable_template_is_an_error_naming_the_task(dags) -> None:
    from coding_potential_operators import PipelineStepOperator

    dag = dags["coding_potential_scoring"]
    odd = PipelineStepOperator(task_id="odd", step="ingest_landing", arguments={"date": "{{ ds_nodash }}"})
    with pytest.raises(UnmappedTaskError, match=r"task 'odd': argument template '\{\{ ds_nodash \}\}'"):
        from adf_export.generate import arguments_expression

        arguments_expression(odd, dag)


def test_the_output_of_a_non_azure_ml_task_is_an_error_naming_both(dags) -> None:
    """Only the Azure ML child pipeline returns a step's result; a Databricks run's output is not one."""
    from coding_potential_operators import PipelineStepOperator

    from adf_export.generate import arguments_expression

    dag = dags["coding_potential_scoring"]
    reader = PipelineStepOperator(task_id="reader", step="predict",
                                  arguments={"validated": dag.get_task("validate").output})
    with pytest.raises(UnmappedTaskError, match=r"task 'reader': the output of 'validate' has no ADF mirror"):
        arguments_expression(reader, dag)
