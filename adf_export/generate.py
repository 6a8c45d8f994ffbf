"""ADF pipelines mirror-generated from the ``azure``-profile DAGs: one pipeline per DAG, one activity per task.

Each task maps to one activity by its operator and step (:data:`MAPPING`):

- ``PipelineStepDatabricksOperator`` (validate, features, predict) -> ``DatabricksSparkPython`` with the
  operator's own ``python_file``, libraries and ``--step STEP --args JSON`` parameters;
- the ingest step -> ``Copy`` (Binary, landing Blob container -> the lake's raw zone in ADLS Gen2);
- every other step (resolve inputs, train, evaluate, register) -> an ``ExecutePipeline`` of the child
  pipeline ``pl_azure_ml_step`` (:mod:`adf_export.azure_ml`), which runs ``python -m pipeline run STEP
  --args JSON`` (the same code the DAG runs) as an Azure ML v2 command job through the REST API with
  managed identity, waits for it, retries it as the task is retried, and returns the step's JSON result.
  ``AzureMLExecutePipeline`` runs only SDK v1 published pipelines; a bare Web activity would return when
  the job is created.

A task whose operator and step have no mapping is an error naming the task, never a silent omission.
Arguments are translated from the DAG's templates (``{{ ds }}``, ``{{ params.X }}``, an upstream Azure
ML step's result) into one ADF string expression that builds the same JSON the Databricks operator sends (keys
sorted, as ``json.dumps(..., sort_keys=True)``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coding_potential.config import REPO_ROOT

from . import azure_ml
from .resources import expression

DAGS_FOLDER = REPO_ROOT / "dags"
#: The ADF pipeline of each DAG.
PIPELINES = {"coding_potential_training": "pl_coding_potential_training",
             "coding_potential_scoring": "pl_coding_potential_scoring"}
#: The logical date (``{{ ds }}``) as a pipeline parameter; triggers set it.
DATE_PARAMETER = "date"
#: Extra parameters of the scoring pipeline, set by the tumbling-window (backfill) trigger.
WINDOW_PARAMETERS = ("windowStart", "windowEnd")
_DS = re.compile(r"^\{\{\s*ds\s*\}\}$")
_PARAM = re.compile(r"^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


class UnmappedTaskError(ValueError):
    """A DAG task whose operator (and step) has no ADF activity mapping."""


# ----------------------------------------------------------------------------------------- the DAGs
@contextmanager
def _azure_profile():
    previous = os.environ.get("CODING_POTENTIAL_PROFILE")
    os.environ["CODING_POTENTIAL_PROFILE"] = "azure"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CODING_POTENTIAL_PROFILE", None)
        else:
            os.environ["CODING_POTENTIAL_PROFILE"] = previous


def azure_dags(folder: Path = DAGS_FOLDER) -> dict[str, Any]:
    """The DAGs as the DAG processor parses them in the ``azure`` profile, by DAG id."""
    from airflow.dag_processing.dagbag import DagBag

    with _azure_profile():
        bag = DagBag(dag_folder=str(folder))
    if bag.import_errors:
        raise RuntimeError(f"the DAGs do not parse in the azure profile: {bag.import_errors}")
    return {dag_id: bag.dags[dag_id] for dag_id in PIPELINES}


# ------------------------------------------------------------------------------------- parameters
def adf_parameter(param: Any) -> dict[str, Any]:
    """An ADF pipeline parameter from an Airflow ``Param``: PascalCase type, the same default.

    A nullable param (``type: ["null", X]``) becomes a ``String`` whose empty value means null (ADF
    parameters cannot be null); its expression renders ``null`` then (:func:`_value_expression`).
    """
    kind = param.schema.get("type", "string")
    default = param.value
    if isinstance(kind, list):
        return {"type": "String", "defaultValue": "" if default is None else str(default)}
    adf_type = {"string": "String", "integer": "Int", "number": "Float", "boolean": "Bool", "array": "Array",
                "object": "Object"}[kind]
    return {"type": adf_type, "defaultValue": default}


def pipeline_parameters(dag: Any) -> dict[str, dict[str, Any]]:
    """The DAG's params as ADF parameters, plus ``date`` (and the window for a scheduled DAG)."""
    parameters = {DATE_PARAMETER: {"type": "String"}}
    if dag.schedule is not None:
        parameters.update({name: {"type": "String", "defaultValue": ""} for name in WINDOW_PARAMETERS})
    for name in sorted(dag.params):
        parameters[name] = adf_parameter(dag.params.get_param(name))
    return parameters


# ------------------------------------------------------------------------------------ expressions
def _param_kind(dag: Any, name: str) -> str:
    kind = dag.params.get_param(name).schema.get("type", "string")
    return "nullable" if isinstance(kind, list) else kind


def _value_expression(value: Any, dag: Any, task_id: str) -> str:
    """JSON text of one argument value, as ADF string-interpolation text (``@{...}`` for the dynamic parts)."""
    from airflow.sdk.definitions.xcom_arg import XComArg

    if isinstance(value, XComArg):
        upstream = value.operator
        if _builder(upstream) is not azure_ml_activity:  # only the Azure ML child pipeline returns a result
            raise UnmappedTaskError(f"task {task_id!r}: the output of {upstream.task_id!r} has no ADF mirror (only "
                                    "the result of an Azure ML step, returned by pl_azure_ml_step, has)")
        return f"@{{string(activity('{upstream.task_id}').output.pipelineReturnValue.result)}}"
    if isinstance(value, dict):
        items = [f'"{key}": {_value_expression(value[key], dag, task_id)}' for key in sorted(value)]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_expression(item, dag, task_id) for item in value) + "]"
    if isinstance(value, str) and _DS.match(value):
        return f'"@{{pipeline().parameters.{DATE_PARAMETER}}}"'
    if isinstance(value, str) and (match := _PARAM.match(value)):
        return _param_expression(match.group(1), dag, task_id)
    if isinstance(value, str) and "{{" in value:
        raise UnmappedTaskError(f"task {task_id!r}: argument template {value!r} has no ADF translation "
                                "(only '{{ ds }}', '{{ params.NAME }}' and upstream outputs are mirrored)")
    import json

    return json.dumps(value)


def _param_expression(name: str, dag: Any, task_id: str) -> str:
    if name not in dag.params:
        raise UnmappedTaskError(f"task {task_id!r}: unknown param {name!r}")
    ref = f"pipeline().parameters.{name}"
    kind = _param_kind(dag, name)
    if kind == "nullable":
        inner = dag.params.get_param(name).schema["type"]
        quoted = "string" in inner
        shown = f"concat('\"', {_json_escaped(ref)}, '\"')" if quoted else ref
        return f"@{{if(empty({ref}), 'null', {shown})}}"
    if kind == "string":
        return f'"@{{{_json_escaped(ref)}}}"'
    if kind in ("array", "object"):
        return f"@{{string({ref})}}"
    if kind == "boolean":
        return f"@{{if({ref}, 'true', 'false')}}"
    return f"@{{{ref}}}"


def _json_escaped(ref: str) -> str:
    """A string value escaped for a JSON string (backslash, then quote; ADF literals take ``\\`` as is)."""
    return f"replace(replace({ref}, '\\', '\\\\'), '\"', '\\\"')"


def arguments_expression(task: Any, dag: Any) -> str:
    """The ``--args`` JSON of a task as an ADF string: the same keys (sorted) and values as Airflow renders."""
    return _value_expression(dict(task.arguments), dag, task.task_id)


# ------------------------------------------------------------------------------------- activities
def _policy(task: Any, timeout_seconds: int | None) -> dict[str, Any]:
    """Retries and timeout as the task's (a Databricks run's own timeout, else the task's execution_timeout)."""
    if timeout_seconds is None and task.execution_timeout is not None:
        timeout_seconds = int(task.execution_timeout.total_seconds())
    timeout = "0.12:00:00" if not timeout_seconds else _timespan(timeout_seconds)
    return {"timeout": timeout, "retry": int(task.retries or 0),
            "retryIntervalInSeconds": max(30, int(task.retry_delay.total_seconds())),
            "secureOutput": False, "secureInput": False}


def _timespan(seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}.{hours:02d}:{minutes:02d}:{secs:02d}"


def _depends_on(task: Any) -> list[dict[str, Any]]:
    """The task's upstream edges, each ``Succeeded`` (Airflow's default trigger rule, all_success)."""
    if str(task.trigger_rule) not in ("all_success", "TriggerRule.ALL_SUCCESS"):
        raise UnmappedTaskError(f"task {task.task_id!r}: trigger rule {task.trigger_rule} has no ADF dependency "
                                "condition here (only all_success -> Succeeded is mirrored)")
    return [{"activity": name, "dependencyConditions": ["Succeeded"]} for name in sorted(task.upstream_task_ids)]


def databricks_activity(task: Any, dag: Any) -> dict[str, Any]:
    """``DatabricksSparkPython``: the operator's python file, libraries and ``--step/--args`` parameters."""
    libraries = []
    for library in task.libraries or []:
        if "whl" in library:
            libraries.append({"whl": library["whl"]})
        elif "pypi" in library:
            libraries.append({"pypi": {"package": library["pypi"]["package"]}})
        else:
            raise UnmappedTaskError(f"task {task.task_id!r}: library {library!r} has no ADF form (whl or pypi)")
    return {
        "name": task.task_id, "type": "DatabricksSparkPython", "dependsOn": _depends_on(task),
        "policy": _policy(task, task.timeout_seconds),
        "userProperties": [],
        "typeProperties": {"pythonFile": task.python_file,
                           "parameters": ["--step", task.step, "--args", arguments_expression(task, dag)],
                           "libraries": libraries},
        "linkedServiceName": {"referenceName": "ls_databricks", "type": "LinkedServiceReference"},
    }


def _uri_parts(uri: str) -> tuple[str, str]:
    """ADF expressions of the container and the prefix of ``SCHEME://CONTAINER[@HOST][/PREFIX]`` (``uri`` is
    an expression): the forms of the DAGs' ``landing`` (``wasb://``) and ``lake`` (``abfss://``) params.

    ADF evaluates both branches of ``if()``: these must not fail on an empty value (no ``[1]`` index). A
    trailing ``/`` is dropped, as the steps drop it.
    """
    trimmed = f"replace(replace(concat({uri}, '<end>'), '/<end>', '<end>'), '<end>', '')"  # one trailing /
    segments = f"split(last(split({trimmed}, '://')), '/')"
    return f"first(split(first({segments}), '@'))", f"join(skip({segments}, 1), '/')"


def _under_prefix(uri: str, path: str) -> str:
    """``path`` (an expression) under the prefix of ``uri``, or alone when it has none."""
    _, prefix = _uri_parts(uri)
    return f"if(empty({prefix}), {path}, concat({prefix}, '/', {path}))"


def _location(param: str, default_container: str, path: str) -> tuple[str, str]:
    """Container and folder expressions of a Copy side: from the run's ``param`` URI, else the factory's."""
    value = f"pipeline().parameters.{param}"
    container, _ = _uri_parts(value)
    return (f"@if(empty({value}), pipeline().globalParameters.{default_container}, {container})",
            f"@if(empty({value}), {path}, {_under_prefix(value, path)})")


def copy_activity(task: Any, dag: Any) -> dict[str, Any]:
    """``Copy``: the day's ``YYYY-MM-DD/`` blobs of the landing container into ``raw/scoring/date=D``
    of the lake (Binary datasets, the same bytes; the validate step lists the partition's FASTA files).

    The run's ``landing`` (``wasb://CONTAINER[/PREFIX]``) and ``lake`` (``abfss://CONTAINER@HOST[/PREFIX]``)
    params choose the containers and prefixes, as they choose the ingest step's source and lake; the
    accounts are the linked services' (a URI on another account is read as if on the factory's).
    """
    date = f"pipeline().parameters.{DATE_PARAMETER}"
    arguments = dict(task.arguments)
    if not (_PARAM.match(str(arguments.get("source"))) and _PARAM.match(str(arguments.get("lake")))):
        raise UnmappedTaskError(f"task {task.task_id!r}: the Copy mirrors source and lake given as params only")
    landing, lake = _PARAM.match(arguments["source"]).group(1), _PARAM.match(arguments["lake"]).group(1)
    source_container, source_folder = _location(landing, "landingContainer", date)
    sink_container, sink_folder = _location(lake, "lakeContainer", f"concat('raw/scoring/date=', {date})")
    return {
        "name": task.task_id, "type": "Copy", "dependsOn": _depends_on(task), "policy": _policy(task, None),
        "userProperties": [],
        "typeProperties": {
            # The day's folder is the source dataset's folderPath; every file under it, recursively.
            "source": {"type": "BinarySource", "storeSettings": {
                "type": "AzureBlobStorageReadSettings", "recursive": True, "wildcardFileName": "*"}},
            "sink": {"type": "BinarySink", "storeSettings": {"type": "AzureBlobFSWriteSettings",
                                                            "copyBehavior": "PreserveHierarchy"}},
        },
        "inputs": [{"referenceName": "ds_landing_fasta", "type": "DatasetReference",
                    "parameters": {"container": expression(source_container), "folder": expression(source_folder)}}],
        "outputs": [{"referenceName": "ds_raw_fasta", "type": "DatasetReference",
                     "parameters": {"fileSystem": expression(sink_container), "folder": expression(sink_folder)}}],
    }


def azure_ml_activity(task: Any, dag: Any) -> dict[str, Any]:
    """``ExecutePipeline`` of ``pl_azure_ml_step``: the step as an Azure ML command job, awaited, retried as
    the task is, its JSON result returned (:mod:`adf_export.azure_ml`)."""
    tries = int(task.retries or 0) + 1
    per_try = int(task.execution_timeout.total_seconds()) if task.execution_timeout else 12 * 3600
    waits = (tries - 1) * max(30, int(task.retry_delay.total_seconds()))
    return azure_ml.step_activity(task, dag, arguments_expression(task, dag), _depends_on(task),
                                  _timespan(per_try * tries + waits), f"PT{per_try}S")


#: (operator class name, step or None for any step) -> activity builder. Looked up step first.
MAPPING: dict[tuple[str, str | None], Callable[[Any, Any], dict[str, Any]]] = {
    ("PipelineStepDatabricksOperator", None): databricks_activity,
    ("PipelineStepOperator", "ingest_landing"): copy_activity,
    ("PipelineStepOperator", "resolve_training_inputs"): azure_ml_activity,
    ("PipelineStepOperator", "train_candidate"): azure_ml_activity,
    ("PipelineStepOperator", "evaluate_candidate"): azure_ml_activity,
    ("PipelineStepOperator", "register_candidate"): azure_ml_activity,
}


def _builder(task: Any) -> Callable[[Any, Any], dict[str, Any]] | None:
    kind, step = type(task).__name__, getattr(task, "step", None)
    return MAPPING.get((kind, step)) or MAPPING.get((kind, None))


def activity(task: Any, dag: Any) -> dict[str, Any]:
    """The one activity of ``task``; :class:`UnmappedTaskError` when its operator has no mapping."""
    kind = type(task).__name__
    step = getattr(task, "step", None)
    builder = _builder(task)
    if builder is None:
        raise UnmappedTaskError(f"task {task.task_id!r} of {dag.dag_id}: no ADF activity for operator {kind}"
                                f"{f' (step {step})' if step else ''}; add one to adf_export.generate.MAPPING")
    return builder(task, dag)


def pipeline_resource(dag: Any) -> dict[str, Any]:
    """The ADF pipeline of ``dag`` in the Git-integration form ``{"name", "properties"}``."""
    ordered = dag.topological_sort() if hasattr(dag, "topological_sort") else dag.tasks
    activities = [activity(task, dag) for task in ordered]
    return {"name": PIPELINES[dag.dag_id], "properties": {
        "description": (dag.description or "").strip(),
        "activities": activities,
        "parameters": pipeline_parameters(dag),
        # One run at a time: the training DAG's max_active_runs; for scoring, the blob-event trigger can
        # start several runs for one date, which must not swap the same partitions side by side.
        "concurrency": 1,
        "annotations": sorted(dag.tags),
        "folder": {"name": "coding-potential"},
    }}


def pipelines(dags: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Both DAGs' pipelines, from the azure-profile DAGs (parsed here unless given), and the child pipeline
    ``pl_azure_ml_step`` their Azure ML activities run."""
    dags = dags or azure_dags()
    return [*(pipeline_resource(dags[dag_id]) for dag_id in PIPELINES), azure_ml.step_pipeline()]
