"""A local Data Factory runtime for the generated pipelines: control flow as ADF documents it, activities
against local stand-ins of the services, so that a generated pipeline runs end to end here.

Written for the tests, from ADF's documentation, independently of ``adf_export``:

- expressions: ``@expr`` (a whole value, its type kept), ``@{expr}`` string interpolation, ``@@``
  escapes, ``{"value", "type": "Expression"}``; the functions below; ``pipeline()``, ``variables()``,
  ``activity()`` and ``dataset()`` with property and index access;
- control flow: activities run when their ``dependsOn`` conditions hold (``Succeeded``, ``Failed``,
  ``Completed``, ``Skipped``), else they are skipped; a failed activity fails its pipeline unless an
  activity depends on it with ``Failed`` or ``Completed``; ``Until`` keeps looping when an inner
  activity fails and fails on time-out; ``IfCondition``, ``SetVariable`` (and the return value),
  ``Wait`` (recorded, not slept), ``Fail``, ``ExecutePipeline`` (``waitOnCompletion``), activity retries;
- services: ``Copy`` and ``Lookup`` on folders standing for the storage accounts (a container is a
  sub-folder), ``DatabricksSparkPython`` as a local process of the same file, a ``WebActivity`` to the
  Azure ML jobs API answered by :class:`LocalAzureML`, which runs each command job as a local process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from coding_potential.config import REPO_ROOT

# ----------------------------------------------------------------------------------- expressions
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>[(),.\[\]]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"cannot read the expression at {text[position:]!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def _to_int(value: Any) -> int:
    return int(value)


def _format_date_time(value: str, pattern: str) -> str:
    """``formatDateTime`` for the one pattern used here; a value that is no date is an error, as in ADF."""
    if pattern != "yyyy-MM-dd":
        raise ValueError(f"formatDateTime pattern {pattern!r} is not mirrored here")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "if": lambda condition, yes, no: yes if condition else no,
    "empty": lambda value: value in ("", None, [], {}),
    "concat": lambda *parts: "".join(str(p) for p in parts),
    "string": lambda value: value if isinstance(value, str) else json.dumps(value),
    "equals": lambda a, b: a == b,
    "and": lambda a, b: bool(a) and bool(b),
    "or": lambda a, b: bool(a) or bool(b),
    "not": lambda a: not a,
    "contains": lambda collection, item: item in collection,
    "createArray": lambda *items: list(items),
    "int": _to_int,
    "add": lambda a, b: a + b,
    "greater": lambda a, b: a > b,
    "greaterOrEquals": lambda a, b: a >= b,
    "split": lambda text, separator: text.split(separator),
    "first": lambda collection: collection[0] if len(collection) else None,
    "last": lambda collection: collection[-1] if len(collection) else None,
    "skip": lambda collection, count: collection[count:],
    "join": lambda collection, separator: separator.join(collection),
    "replace": lambda text, old, new: text.replace(old, new),
    "json": json.loads,
    "formatDateTime": _format_date_time,
}


class Scope:
    """What an expression can see: the run's parameters, variables, activity outputs, dataset parameters."""

    def __init__(self, run: PipelineRun, dataset: Mapping[str, Any] | None = None) -> None:
        self.run, self.dataset = run, dataset or {}

    def call(self, name: str, args: list[Any]) -> Any:
        if name == "pipeline":
            return {"parameters": self.run.parameters, "globalParameters": self.run.factory.global_parameters,
                    "RunId": self.run.run_id, "GroupId": self.run.run_id, "Pipeline": self.run.name}
        if name == "variables":
            return self.run.variables[args[0]]
        if name == "activity":
            return {"output": self.run.outputs[args[0]]}
        if name == "dataset":
            return self.dataset
        return FUNCTIONS[name](*args)


def evaluate(text: str, scope: Scope) -> Any:
    """The value of one expression (without its leading ``@``)."""
    value, rest = _expression(_tokens(text), scope)
    if rest:
        raise ValueError(f"unread tokens {rest} in {text!r}")
    return value


def _expression(tokens: list, scope: Scope) -> tuple[Any, list]:
    kind, text = tokens[0]
    if kind == "str":
        value, rest = text[1:-1].replace("''", "'"), tokens[1:]
    elif kind == "num":
        value, rest = json.loads(text), tokens[1:]
    else:
        if tokens[1] != ("op", "("):
            raise ValueError(f"{text!r} is not a function call")
        args, rest = [], tokens[2:]
        while rest[0] != ("op", ")"):
            argument, rest = _expression(rest, scope)
            args.append(argument)
            if rest[0] == ("op", ","):
                rest = rest[1:]
        value, rest = scope.call(text, args), rest[1:]
    while rest and rest[0] in (("op", "."), ("op", "[")):  # .name and [index] accessors
        if rest[0] == ("op", "."):
            value, rest = value[rest[1][1]], rest[2:]
        else:
            index, rest = _expression(rest[1:], scope)
            value, rest = value[index], rest[1:]
    return value, rest


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def resolve(node: Any, scope: Scope) -> Any:
    """A JSON value with its expressions evaluated, as ADF does with an activity's properties."""
    if isinstance(node, dict):
        if node.get("type") == "Expression" and set(node) == {"value", "type"}:
            return evaluate(node["value"][1:], scope)
        return {key: resolve(value, scope) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, scope) for item in node]
    if isinstance(node, str):
        if node.startswith("@@"):
            return node[1:]
        if node.startswith("@") and not node.startswith("@{"):
            return evaluate(node[1:], scope)
        return re.sub(r"@\{((?:[^{}']|'(?:[^']|'')*')*)\}", lambda m: _text(evaluate(m.group(1), scope)), node)
    return node


# ---------------------------------------------------------------------------------------- services
class LocalAzureML:
    """The Azure ML jobs API (``PUT``/``GET .../jobs/NAME``), each command job run as a local process.

    A job runs when it is submitted; its first ``GET`` says ``Running``, the next ones its end
    (``Completed`` or ``Failed``). ``fail_first`` makes the first N submissions of a task (by
    ``CODING_POTENTIAL_TASK``) end ``Failed`` without running. Datastore paths are folders under
    ``datastores[NAME]``; ``env`` replaces job environment variables that name cloud places.
    """

    def __init__(self, datastores: Mapping[str, Path], env: Mapping[str, str], run_link: Path,
                 fail_first: Mapping[str, int] | None = None) -> None:
        self.datastores, self.env, self.run_link = dict(datastores), dict(env), run_link
        self.fail_first = dict(fail_first or {})
        self.hang: set[str] = set()  # tasks whose jobs never end (their GETs say Running)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.cancelled: list[str] = []

    def request(self, method: str, url: str, body: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        parsed = urlparse(url)
        match = re.fullmatch(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
                             r"Microsoft\.MachineLearningServices/workspaces/[^/]+/jobs/([A-Za-z0-9_-]{1,255})(/cancel)?",
                             parsed.path)
        if parsed.netloc != "management.azure.com" or not match or "api-version=" not in parsed.query:
            raise HttpError(404, f"no such endpoint: {method} {url}")
        if body is not None and (headers or {}).get("Content-Type") != "application/json":
            raise HttpError(415, "The content media type is not supported. Only 'application/json' is supported.")
        name = match.group(1)
        if match.group(2):
            if method != "POST":
                raise HttpError(405, method)
            job = self.jobs.get(name) or _raise(HttpError(404, f"job {name} not found"))
            job["end"] = job["properties"]["status"] = "Canceled"
            self.cancelled.append(name)
            return {}
        if method == "PUT":
            return self._submit(name, body)
        if method == "GET":
            job = self.jobs.get(name) or _raise(HttpError(404, f"job {name} not found"))
            job["polls"] += 1
            job["properties"]["status"] = "Running" if job["polls"] == 1 or job["end"] == "Running" else job["end"]
            return {"name": name, "properties": dict(job["properties"])}
        raise HttpError(405, method)

    def _submit(self, name: str, body: Any) -> dict[str, Any]:
        if name in self.jobs:
            raise HttpError(409, f"job {name} exists")
        properties = body["properties"]
        for key in ("jobType", "command", "environmentId", "computeId", "experimentName"):
            if not properties.get(key):
                raise HttpError(400, f"job {name}: {key} is missing")
        if properties["jobType"] != "Command":
            raise HttpError(400, f"job {name}: jobType {properties['jobType']}")
        limits = properties.get("limits") or {}
        duration = re.fullmatch(r"PT(?=\d)(\d+H)?(\d+M)?(\d+S)?", limits.get("timeout", ""))
        if limits and (limits.get("jobLimitsType") != "Command" or not duration):
            raise HttpError(400, f"job {name}: limits {limits}")
        env = dict(properties.get("environmentVariables") or {})
        task = env.get("CODING_POTENTIAL_TASK", "")
        job = {"properties": {**properties, "status": "NotStarted"}, "polls": 0, "env": env, "log": ""}
        self.jobs[name] = job
        if task in self.hang:
            job["end"] = "Running"
        elif self.fail_first.get(task, 0) > 0:
            self.fail_first[task] -= 1
            job["end"] = "Failed"
        else:
            job["end"] = self._run(job, properties)
        return {"name": name, "properties": dict(job["properties"])}

    def _mount(self, output: Mapping[str, Any]) -> Path:
        match = re.fullmatch(r"azureml://datastores/([^/]+)/paths/(.+?)/?", output["uri"])
        if not match or output.get("jobOutputType") != "uri_folder" or output.get("mode") != "ReadWriteMount":
            raise HttpError(400, f"output {output} is not a read-write uri_folder on a datastore")
        folder = self.datastores[match.group(1)] / match.group(2)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _run(self, job: dict[str, Any], properties: Mapping[str, Any]) -> str:
        command = properties["command"]
        for key, output in (properties.get("outputs") or {}).items():
            command = command.replace(f"${{{{outputs.{key}}}}}", str(self._mount(output)))
        env = {**os.environ, **job["env"], **self.env, "CODING_POTENTIAL_RUN_LINK": str(self.run_link),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-c", command], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=900)
        job["log"] = done.stdout + done.stderr
        return "Completed" if done.returncode == 0 else "Failed"


class HttpError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _raise(error: Exception) -> Any:
    raise error


class ActivityFailed(RuntimeError):
    """An activity's failure, with ADF's error code and message."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------- the runs
@dataclass
class ActivityRun:
    name: str
    type: str
    status: str
    output: Any = None
    error: str = ""
    attempts: int = 1


@dataclass
class PipelineRun:
    factory: LocalFactory
    name: str
    parameters: dict[str, Any]
    run_id: str
    variables: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    activity_runs: list[ActivityRun] = field(default_factory=list)
    return_value: dict[str, Any] | None = None
    status: str = "InProgress"
    error: str = ""
    children: list[PipelineRun] = field(default_factory=list)

    def runs_of(self, name: str) -> list[ActivityRun]:
        return [run for run in self.activity_runs if run.name == name]


class LocalFactory:
    """Runs the factory's pipelines here.

    Parameters
    ----------
    resources : Mapping[str, list[dict]]
        The factory in the Git layout (``pipeline``, ``dataset``, ``linkedService``, ``factory``).
    storage : Mapping[str, Path]
        Linked service name -> the folder standing for its account (containers are sub-folders).
    azure_ml : LocalAzureML
        The jobs API the Web activities call.
    databricks_env : Mapping[str, str]
        Replaces job-cluster environment variables that name cloud places (the lake, MLflow).
    python_files : Mapping[str, Path]
        A Databricks ``pythonFile`` URI -> the local file uploaded there.
    """

    def __init__(self, resources: Mapping[str, list[dict[str, Any]]], storage: Mapping[str, Path],
                 azure_ml: LocalAzureML, databricks_env: Mapping[str, str], python_files: Mapping[str, Path]) -> None:
        self.pipelines = {item["name"]: item["properties"] for item in resources["pipeline"]}
        self.datasets = {item["name"]: item["properties"] for item in resources["dataset"]}
        self.linked_services = {item["name"]: item["properties"] for item in resources["linkedService"]}
        (factory,) = resources["factory"]
        self.global_parameters = {k: v["value"] for k, v in factory["properties"]["globalParameters"].items()}
        self.storage, self.azure_ml = dict(storage), azure_ml
        self.databricks_env, self.python_files = dict(databricks_env), dict(python_files)
        self.run_count = 0
        self.processes: list[tuple[list[str], str]] = []

    # ------------------------------------------------------------------------------- pipelines
    def run(self, name: str, parameters: Mapping[str, Any] | None = None) -> PipelineRun:
        """Run pipeline ``name`` with ``parameters`` (its declared defaults for the others)."""
        properties = self.pipelines[name]
        declared = properties.get("parameters", {})
        given = dict(parameters or {})
        if unknown := sorted(set(given) - set(declared)):
            raise ValueError(f"{name}: unknown parameters {unknown}")
        values = {}
        for key, spec in declared.items():
            if key in given:
                values[key] = given[key]
            elif "defaultValue" in spec:
                values[key] = spec["defaultValue"]
            else:
                raise ValueError(f"{name}: parameter {key!r} has no value and no default")
        self.run_count += 1
        run = PipelineRun(self, name, values, f"00000000-0000-4000-8000-{self.run_count:012d}",
                          {k: v.get("defaultValue") for k, v in properties.get("variables", {}).items()})
        failed = self._run_list(run, properties["activities"])
        run.status = "Failed" if failed else "Succeeded"
        run.error = failed
        return run

    def _run_list(self, run: PipelineRun, activities: list[dict[str, Any]]) -> str:
        """Run one activity list in dependency order; the first unhandled failure's message, or ''."""
        status: dict[str, str] = {}
        errors: dict[str, str] = {}
        pending = list(activities)
        while pending:
            ready = [a for a in pending if all(d["activity"] in status for d in a.get("dependsOn", []))]
            if not ready:
                raise ValueError(f"dependency cycle or unknown activity among {[a['name'] for a in pending]}")
            for activity in ready:
                pending.remove(activity)
                if all(_holds(status[d["activity"]], d["dependencyConditions"]) for d in activity.get("dependsOn", [])):
                    record = self._run_activity(run, activity)
                else:
                    record = ActivityRun(activity["name"], activity["type"], "Skipped")
                    run.activity_runs.append(record)
                status[activity["name"]], errors[activity["name"]] = record.status, record.error
        handled = {d["activity"] for a in activities for d in a.get("dependsOn", [])
                   if set(d["dependencyConditions"]) & {"Failed", "Completed"}}
        unhandled = [name for name, state in status.items() if state == "Failed" and name not in handled]
        return errors[unhandled[0]] or f"activity {unhandled[0]} failed" if unhandled else ""

    def _run_activity(self, run: PipelineRun, activity: dict[str, Any]) -> ActivityRun:
        policy = activity.get("policy") or {}
        tries = 1 + int(policy.get("retry", 0))
        record = ActivityRun(activity["name"], activity["type"], "Failed")
        for attempt in range(1, tries + 1):
            record.attempts = attempt
            try:
                record.output = getattr(self, f"_{activity['type']}")(run, activity)
                record.status, record.error = "Succeeded", ""
                break
            except (ActivityFailed, HttpError, subprocess.CalledProcessError, OSError, KeyError) as error:
                record.status, record.error = "Failed", str(error)
        run.outputs[activity["name"]] = record.output if record.output is not None else {}
        run.activity_runs.append(record)
        return record

    # ------------------------------------------------------------------------------ control flow
    def _Until(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        props = activity["typeProperties"]
        iterations, inner_failed = 0, False
        limit = _seconds(resolve(props.get("timeout", "7.00:00:00"), Scope(run)))
        waited = 0
        while True:
            iterations += 1
            before = len(run.activity_runs)
            inner_failed |= bool(self._run_list(run, props["activities"]))
            waited += sum(r.output["seconds"] for r in run.activity_runs[before:]
                          if r.type == "Wait" and r.status == "Succeeded")
            if resolve(props["expression"], Scope(run)) is True:
                break
            if waited > limit or iterations > 200:
                raise ActivityFailed(f"Until {activity['name']} timed out after {iterations} iterations")
        if inner_failed:
            raise ActivityFailed(f"an activity inside Until {activity['name']} failed")
        return {"iterations": iterations}

    def _IfCondition(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        props = activity["typeProperties"]
        branch = resolve(props["expression"], Scope(run))
        if not isinstance(branch, bool):
            raise ActivityFailed(f"IfCondition {activity['name']}: {branch!r} is not a boolean")
        failed = self._run_list(run, props.get("ifTrueActivities" if branch else "ifFalseActivities", []))
        if failed:
            raise ActivityFailed(failed)
        return {"branch": branch}

    def _SetVariable(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        props = activity["typeProperties"]
        if props.get("setSystemVariable"):
            run.return_value = {item["key"]: self._typed_value(item["value"], run) for item in props["value"]}
            return {"value": run.return_value}
        name = props["variableName"]
        if name not in run.variables:
            raise ActivityFailed(f"variable {name} is not declared")
        run.variables[name] = resolve(props["value"], Scope(run))
        return {"value": run.variables[name]}

    def _typed_value(self, value: Mapping[str, Any], run: PipelineRun) -> Any:
        if value["type"] == "Expression":
            return resolve(value["content"], Scope(run))
        return value.get("content")

    def _Wait(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        seconds = resolve(activity["typeProperties"]["waitTimeInSeconds"], Scope(run))
        if not isinstance(seconds, int) or seconds < 1:
            raise ActivityFailed(f"Wait {activity['name']}: {seconds!r} is not a positive number of seconds")
        return {"seconds": seconds}

    def _Fail(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        props = resolve(activity["typeProperties"], Scope(run))
        raise ActivityFailed(props["message"], props["errorCode"])

    def _ExecutePipeline(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        props = resolve(activity["typeProperties"], Scope(run))
        if props.get("waitOnCompletion") is not True:
            raise ActivityFailed("only waitOnCompletion runs are mirrored here")
        child = self.run(props["pipeline"]["referenceName"], props.get("parameters"))
        run.children.append(child)
        if child.status != "Succeeded":
            raise ActivityFailed(f"child pipeline {child.name} failed: {child.error}")
        return {"pipelineName": child.name, "pipelineRunId": child.run_id, "pipelineReturnValue": child.return_value}

    # ---------------------------------------------------------------------------------- services
    def _WebActivity(self, run: PipelineRun, activity: dict[str, Any]) -> Any:
        props = resolve(activity["typeProperties"], Scope(run))
        auth = props.get("authentication") or {}
        if auth.get("type") != "MSI" or auth.get("resource") != "https://management.azure.com/":
            raise HttpError(401, f"{activity['name']}: no management-plane token")
        return self.azure_ml.request(props["method"], props["url"], props.get("body"), props.get("headers"))

    def _location(self, reference: Mapping[str, Any], run: PipelineRun) -> Path:
        """The local path of a dataset reference's location (parameters evaluated in the run's scope)."""
        dataset = self.datasets[reference["referenceName"]]
        given = resolve(reference.get("parameters", {}), Scope(run))
        values = {k: given.get(k, spec.get("defaultValue")) for k, spec in dataset.get("parameters", {}).items()}
        location = resolve(dataset["typeProperties"]["location"], Scope(run, values))
        root = self.storage[dataset["linkedServiceName"]["referenceName"]]
        container = location.get("container") or location.get("fileSystem")
        path = root / container / location.get("folderPath", "")
        return path / location["fileName"] if location.get("fileName") else path

    def _Copy(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        (source,), (sink,) = activity["inputs"], activity["outputs"]
        source_path, sink_path = self._location(source, run), self._location(sink, run)
        if not source_path.is_dir():
            raise ActivityFailed(f"source folder {source_path} does not exist")
        files = [p for p in sorted(source_path.rglob("*")) if p.is_file()]
        for path in files:
            target = sink_path / path.relative_to(source_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return {"filesRead": len(files), "filesWritten": len(files)}

    def _Lookup(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        props = activity["typeProperties"]
        path = self._location(props["dataset"], run)
        if not path.is_file():
            raise ActivityFailed(f"Lookup {activity['name']}: {path} does not exist")
        document = json.loads(path.read_text(encoding="utf-8"))
        rows = document if isinstance(document, list) else [document]
        return {"firstRow": rows[0]} if props.get("firstRowOnly", True) else {"count": len(rows), "value": rows}

    def _DatabricksSparkPython(self, run: PipelineRun, activity: dict[str, Any]) -> dict[str, Any]:
        props = resolve(activity["typeProperties"], Scope(run))
        service = self.linked_services[activity["linkedServiceName"]["referenceName"]]["typeProperties"]
        env = {**os.environ, **service.get("newClusterSparkEnvVars", {}), **self.databricks_env}
        command = [sys.executable, str(self.python_files[props["pythonFile"]]), *props["parameters"]]
        done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
        self.processes.append((command, done.stdout + done.stderr))
        if done.returncode:
            raise ActivityFailed(f"{activity['name']}: exit {done.returncode}: {done.stderr[-2000:]}")
        return {"runOutput": json.loads(done.stdout.strip().splitlines()[-1])}


def _holds(status: str, conditions: list[str]) -> bool:
    return any(status == c or (c == "Completed" and status in ("Succeeded", "Failed")) for c in conditions)


def _seconds(timespan: str) -> int:
    days, _, clock = timespan.rpartition(".") if timespan.count(":") == 2 and "." in timespan.split(":")[0] \
        else ("0", "", timespan)
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return int(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds
