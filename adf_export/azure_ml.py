"""Azure ML steps in Data Factory: the shared child pipeline ``pl_azure_ml_step`` and the activity that calls it.

A DAG task that runs on Azure ML in production (resolve inputs, train, evaluate, register) becomes one
``ExecutePipeline`` activity (``waitOnCompletion``) of :data:`STEP_PIPELINE`, which

1. submits an Azure ML **command job** (REST ``PUT .../jobs/NAME``, the factory's managed identity)
   running ``python -m pipeline run STEP --args JSON``: the code the DAG's task runs;
2. polls the job (``GET``) until it ends, resubmitting a failed job up to the task's ``retries`` times
   (an ``ExecutePipeline`` activity has no retry policy of its own), ``retryIntervalInSeconds`` apart;
3. fails with the job's name and status when it did not complete;
4. reads the step's JSON result, which the job wrote to the run folder (``--result-file``), and returns it
   as the pipeline's return value: ``activity('TASK').output.pipelineReturnValue.result`` is what
   Airflow's ``XCom`` of the task holds, and a downstream step's ``--args`` take it from there.

``AzureMLExecutePipeline`` runs only SDK v1 published pipelines, and a bare Web activity returns as soon
as the job is created (the next step would start before the job ends, with the creation response as its
input): hence the loop.

**The run folder.** The steps of one training run share a folder, as they share
``var/runs/<dag>/<run_id>/`` under Airflow: ``runs/<dag>/<ADF run group ID>/`` in the lake's container
(the group ID is the run ID, kept by a rerun from a failed activity). Every
job mounts it read-write (a ``uri_folder`` output on the lake's Azure ML datastore) and links it to one
fixed path, ``$CODING_POTENTIAL_RUN_LINK``, before running the step, so the paths a step returns (the
model bundle, the validation table, the evaluation plots) are valid in the next step's job.
"""

from __future__ import annotations

from typing import Any

from .resources import DS_RUN_FILE, expression

#: The shared child pipeline every Azure ML step runs through.
STEP_PIPELINE = "pl_azure_ml_step"
AML_API_VERSION = "2024-04-01"
#: Where each job links the run folder; the same path in every job of a run, so returned paths carry over.
RUN_LINK = "/tmp/coding-potential-run"
#: Azure ML job states after which the job will not change (``JobStatus`` of the v2 REST API), plus
#: ``SubmitFailed``: this pipeline's own mark of a submission whose PUT failed.
FAILED_STATES = ("Failed", "Canceled", "NotResponding", "SubmitFailed")
COMPLETED = "Completed"
#: Seconds between two polls of a running job.
POLL_INTERVAL_SECONDS = 30
#: HTTP retries of a GET (poll, result): transient errors of the endpoint, not of the job. A PUT is not
#: retried by ADF: a PUT that created the job but timed out would be resent under the same name; a failed
#: PUT counts as a failed attempt instead (``SubmitFailed``), resubmitted under a new name.
HTTP_RETRIES, HTTP_RETRY_INTERVAL_SECONDS = 3, 30
#: How long one management call may take (ADF's default is one minute).
HTTP_REQUEST_TIMEOUT = "00:05:00"


def _http_policy(retries: int) -> dict[str, Any]:
    return {"timeout": "0.00:10:00", "retry": retries, "retryIntervalInSeconds": HTTP_RETRY_INTERVAL_SECONDS,
            "secureOutput": False, "secureInput": False}

_P = "pipeline().parameters"
_G = "pipeline().globalParameters"
_FAILED = "createArray(" + ", ".join(f"'{state}'" for state in FAILED_STATES) + ")"


def _job_url(action: str = "") -> str:
    """The job's management URL (``action``: e.g. ``/cancel``)."""
    return (f"@concat('https://management.azure.com/subscriptions/', {_G}.amlSubscriptionId, "
            f"'/resourceGroups/', {_G}.amlResourceGroup, '/providers/Microsoft.MachineLearningServices/workspaces/', "
            f"{_G}.amlWorkspace, '/jobs/', variables('jobName'), '{action}?api-version={AML_API_VERSION}')")


def job_command() -> str:
    """The job's shell command: link the mounted run folder, run the step, write its result there."""
    link = '"$CODING_POTENTIAL_RUN_LINK"'
    return (f'mkdir -p "$(dirname {link})" && ln -sfn "${{{{outputs.run_dir}}}}" {link} && '
            f'python -m pipeline run "$CODING_POTENTIAL_STEP" --args "$CODING_POTENTIAL_STEP_ARGS" '
            f'--run-dir {link} --result-file {link}/results/"$CODING_POTENTIAL_TASK".json')


def job_body() -> dict[str, Any]:
    """The body of the job's ``PUT``: an Azure ML v2 command job (``JobBase`` of the REST API)."""
    return {"properties": {
        "jobType": "Command",
        "displayName": f"@{{{_P}.experiment}}.@{{{_P}.task}}",
        "experimentName": f"@{{{_P}.experiment}}",
        "command": job_command(),
        "environmentVariables": {
            "CODING_POTENTIAL_PROFILE": "azure",
            "CODING_POTENTIAL_LAKE": f"@{{{_G}.lakeRoot}}",
            "MLFLOW_TRACKING_URI": f"@{{{_G}.mlflowTrackingUri}}",
            "CODING_POTENTIAL_STEP": f"@{{{_P}.step}}",
            "CODING_POTENTIAL_TASK": f"@{{{_P}.task}}",
            "CODING_POTENTIAL_STEP_ARGS": f"@{{{_P}.args}}",
            "CODING_POTENTIAL_RUN_LINK": RUN_LINK,
        },
        "outputs": {"run_dir": {
            "jobOutputType": "uri_folder", "mode": "ReadWriteMount",
            "uri": f"azureml://datastores/@{{{_G}.amlLakeDatastore}}/paths/@{{{_P}.runFolder}}/",
        }},
        "environmentId": f"@{{{_G}.amlEnvironment}}",
        "computeId": f"@{{{_G}.amlCompute}}",
        # One try's limit (the task's own timeout); the child's Until bounds all the tries together.
        "limits": {"jobLimitsType": "Command", "timeout": f"@{{{_P}.jobTimeout}}"},
    }}


# ------------------------------------------------------------------------------------ activities
def _after(*names: str, condition: str = "Succeeded") -> list[dict[str, Any]]:
    return [{"activity": name, "dependencyConditions": [condition]} for name in names]


def _set(name: str, variable: str, value: str, depends_on: list[dict[str, Any]]) -> dict[str, Any]:
    """Set ``variable`` to ``value``: an expression when it starts with ``@``, else the text itself."""
    return {"name": name, "type": "SetVariable", "dependsOn": depends_on, "userProperties": [],
            "typeProperties": {"variableName": variable,
                               "value": expression(value) if value.startswith("@") else value}}


def _wait(name: str, seconds: str, depends_on: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "type": "Wait", "dependsOn": depends_on, "userProperties": [],
            "typeProperties": {"waitTimeInSeconds": expression(seconds)}}


def _web(name: str, method: str, depends_on: list[dict[str, Any]], body: dict[str, Any] | None = None,
         action: str = "") -> dict[str, Any]:
    """A call of the Azure ML management API with the factory's managed identity (JSON in, JSON out)."""
    properties: dict[str, Any] = {"method": method, "url": expression(_job_url(action))}
    if body is not None:
        properties["headers"] = {"Content-Type": "application/json"}
        properties["body"] = body
    properties["httpRequestTimeout"] = HTTP_REQUEST_TIMEOUT
    properties["authentication"] = {"type": "MSI", "resource": "https://management.azure.com/"}
    return {"name": name, "type": "WebActivity", "dependsOn": depends_on,
            "policy": _http_policy(HTTP_RETRIES if method == "GET" else 0), "userProperties": [],
            "typeProperties": properties}


def _submit_branch() -> list[dict[str, Any]]:
    """A new attempt: wait (after a failure), count it, name the job, mark it, PUT it, keep its status."""
    return [
        _wait("wait_to_retry", f"@if(equals(variables('attempt'), '0'), 1, {_P}.retryIntervalInSeconds)", []),
        # A variable cannot be set from itself: count through nextAttempt.
        _set("count_attempt", "nextAttempt", "@string(add(int(variables('attempt')), 1))", _after("wait_to_retry")),
        _set("set_attempt", "attempt", "@variables('nextAttempt')", _after("count_attempt")),
        # This child run's ID is new for every run of the parent's activity; the attempt makes it unique.
        _set("name_job", "jobName", f"@concat(pipeline().RunId, '-', {_P}.task, '-', variables('attempt'))",
             _after("set_attempt")),
        # Stays so if the PUT fails for good: the attempt then counts as failed.
        _set("mark_submitting", "status", "SubmitFailed", _after("name_job")),
        _web("submit", "PUT", _after("mark_submitting"), job_body()),
        _set("status_submitted", "status", "@activity('submit').output.properties.status", _after("submit")),
    ]


def _poll_branch() -> list[dict[str, Any]]:
    return [
        _wait("wait_to_poll", f"@{_P}.pollIntervalInSeconds", []),
        _web("poll", "GET", _after("wait_to_poll")),
        _set("status_polled", "status", "@activity('poll').output.properties.status", _after("poll")),
    ]


def step_pipeline() -> dict[str, Any]:
    """The child pipeline ``pl_azure_ml_step`` (Git-integration form ``{"name", "properties"}``)."""
    status = "variables('status')"
    done = (f"@or(equals({status}, '{COMPLETED}'), and(contains({_FAILED}, {status}), "
            f"greater(int(variables('attempt')), {_P}.retries)))")
    # Submit when nothing runs yet or the last attempt failed; otherwise poll the running job.
    needs_submit = f"@or(equals({status}, ''), contains({_FAILED}, {status}))"
    message = (f"@concat('Azure ML job ', variables('jobName'), ' of task ', {_P}.task, ' (step ', {_P}.step, "
               f"') ended ', if(equals({status}, ''), 'unsubmitted', {status}), ' after ', variables('attempt'), "
               "' attempt(s); its logs are in Azure ML studio, experiment ', pipeline().parameters.experiment)")
    activities = [
        {"name": "run_job", "type": "Until", "dependsOn": [], "userProperties": [],
         "typeProperties": {
             "expression": expression(done),
             "timeout": expression(f"@{_P}.timeout"),
             "activities": [{
                 "name": "submit_or_poll", "type": "IfCondition", "dependsOn": [], "userProperties": [],
                 "typeProperties": {"expression": expression(needs_submit),
                                    "ifTrueActivities": _submit_branch(),
                                    "ifFalseActivities": _poll_branch()},
             }]}},
        # Completed: an inner failure (a poll that failed thrice) does not stop the loop, and a time-out
        # fails it; either way the status says what happened.
        {"name": "check_job", "type": "IfCondition", "dependsOn": _after("run_job", condition="Completed"),
         "userProperties": [],
         "typeProperties": {"expression": expression(f"@equals({status}, '{COMPLETED}')"),
                            "ifFalseActivities": [
                                # A job still running when the loop timed out must not go on writing the
                                # run folder (cancelling an ended job fails harmlessly: Completed below).
                                _web("cancel_job", "POST", [], {}, action="/cancel"),
                                {"name": "job_failed", "type": "Fail", "dependsOn": _after("cancel_job",
                                                                                           condition="Completed"),
                                 "userProperties": [],
                                 "typeProperties": {"message": expression(message),
                                                    "errorCode": "AzureMLJobFailed"}}]}},
        {"name": "read_result", "type": "Lookup", "dependsOn": _after("check_job"),
         "policy": _http_policy(HTTP_RETRIES), "userProperties": [],
         "typeProperties": {
             "source": {"type": "JsonSource",
                        "storeSettings": {"type": "AzureBlobFSReadSettings", "recursive": False},
                        "formatSettings": {"type": "JsonReadSettings"}},
             "dataset": {"referenceName": DS_RUN_FILE, "type": "DatasetReference", "parameters": {
                 "folder": expression(f"@concat({_P}.runFolder, '/results')"),
                 "file": expression(f"@concat({_P}.task, '.json')")}},
             "firstRowOnly": True}},
        {"name": "return_result", "type": "SetVariable", "dependsOn": _after("read_result"), "userProperties": [],
         "typeProperties": {"variableName": "pipelineReturnValue", "setSystemVariable": True, "value": [
             {"key": "result", "value": {"type": "Expression", "content": "@activity('read_result').output.firstRow"}},
             {"key": "jobName", "value": {"type": "Expression", "content": "@variables('jobName')"}},
         ]}},
    ]
    return {"name": STEP_PIPELINE, "properties": {
        "description": "Run one pipeline step as an Azure ML command job: submit, poll until it ends, retry a "
                       "failed job, fail with its status, and return the step's JSON result.",
        "activities": activities,
        "parameters": {
            "task": {"type": "String"},
            "step": {"type": "String"},
            "args": {"type": "String", "defaultValue": "{}"},
            "runFolder": {"type": "String"},
            "experiment": {"type": "String"},
            "retries": {"type": "Int", "defaultValue": 0},
            "retryIntervalInSeconds": {"type": "Int", "defaultValue": 60},
            "pollIntervalInSeconds": {"type": "Int", "defaultValue": POLL_INTERVAL_SECONDS},
            "timeout": {"type": "String", "defaultValue": "0.12:00:00"},
            "jobTimeout": {"type": "String", "defaultValue": "PT12H"},
        },
        "variables": {"jobName": {"type": "String", "defaultValue": ""},
                      "status": {"type": "String", "defaultValue": ""},
                      "attempt": {"type": "String", "defaultValue": "0"},
                      "nextAttempt": {"type": "String", "defaultValue": "0"}},
        "concurrency": 20,
        "annotations": ["coding-potential", "azure-ml"],
        "folder": {"name": "coding-potential"},
    }}


def step_activity(task: Any, dag: Any, arguments: str, depends_on: list[dict[str, Any]],
                  timeout: str, job_timeout: str) -> dict[str, Any]:
    """``ExecutePipeline`` of :data:`STEP_PIPELINE` for one task: its step, its ``--args``, its retries.

    ``timeout`` bounds all the attempts together (the child's ``Until``): the task's own timeout times
    its tries, plus the waits between them; ``job_timeout`` (ISO 8601) is one try's, the job's own limit.
    The run folder is keyed by the run's group ID, which a rerun from a failed activity keeps: the
    results of the activities it does not rerun stay valid.
    """
    return {
        "name": task.task_id, "type": "ExecutePipeline", "dependsOn": depends_on, "userProperties": [],
        "typeProperties": {
            "pipeline": {"referenceName": STEP_PIPELINE, "type": "PipelineReference"},
            "waitOnCompletion": True,
            "parameters": {
                "task": task.task_id, "step": task.step, "args": arguments,
                "runFolder": f"runs/{dag.dag_id}/@{{pipeline().GroupId}}",
                "experiment": dag.dag_id,
                "retries": int(task.retries or 0),
                "retryIntervalInSeconds": max(30, int(task.retry_delay.total_seconds())),
                "timeout": timeout,
                "jobTimeout": job_timeout,
            },
        },
    }
