"""Everything of the Data Factory around the pipelines: linked services, datasets, triggers, global
parameters, the ARM template, and the files in ADF's Git-integration layout.

Environment specifics (endpoints, resource IDs, the start time...) are never written in the resources:
each is one entry of :data:`ENVIRONMENT`, and every builder takes ``values``, a mapping from each entry's
name to what to put in its place:

- :func:`git_values`: the example defaults, for the Git layout (``pipeline/``, ``dataset/``,
  ``linkedService/``, ``trigger/``, ``factory/``, each file ``{"name": NAME, "properties": {...}}``);
- :func:`arm_values`: ``"[parameters('NAME')]"``, for ``ARMTemplateForFactory.json``, whose
  ``parameters`` declare every entry with its type, example default and description.

No resource holds a secret: storage and Databricks are reached with the factory's system-assigned
managed identity (no credential property at all), and ``ls_keyvault`` is there for any secret a later
resource needs, always as an ``AzureKeyVaultSecret`` reference to it.

The scoring triggers mirror the DAG ``coding_potential_scoring`` (``@daily`` from 2026-01-01 UTC, catchup
off). In Airflow 3 ``@daily`` is a ``CronTriggerTimetable``: the run at 00:00 UTC of day D has logical date
D, and so has :data:`DAILY_TRIGGER`'s run (``trigger().scheduledTime``). Such a run scores D's folder as it
stands at midnight; files landing later in the day are scored by :data:`BLOB_TRIGGER` (one run per file)
or by :data:`BACKFILL_TRIGGER`, whose 24-hour window [D, D+1) fires after D has ended.

Global parameters (``pipeline().globalParameters.X`` in the pipelines) are the entries of :data:`ENVIRONMENT`
the pipelines read (:data:`GLOBAL_PARAMETERS`: Azure ML, MLflow, the containers) plus ``lakeRoot``:
``factory/<factory>.json`` in the Git layout, the child resource ``factories/globalParameters/default`` in
the ARM template.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from coding_potential.config import REPO_ROOT

from .schema import is_arm_expression

#: The azure profile's committed defaults; the job cluster below mirrors its ``new_cluster``. The
#: environment's overrides (``$CODING_POTENTIAL_DATABRICKS_*``) are not read: the export must not depend on
#: the shell it runs in. A deployment changes the cluster through the ARM parameters instead.
PROFILE_FILE = REPO_ROOT / "plugins" / "coding_potential_operators" / "azure_profile.json"

API_VERSION = "2018-06-01"
ARM_SCHEMA = "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#"
ARM_PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#"
CONTENT_VERSION = "1.0.0.0"
#: Example of the ARM parameter ``factoryName`` (the factory deployed into; it is not created here).
FACTORY_NAME = "coding-potential-adf"
TEMPLATE_FILE = "ARMTemplateForFactory.json"
PARAMETERS_FILE = "ARMTemplateParametersForFactory.json"

LS_ADLS = "ls_adls"
LS_LANDING_BLOB = "ls_landing_blob"
LS_DATABRICKS = "ls_databricks"
LS_KEYVAULT = "ls_keyvault"
DS_LANDING_FASTA = "ds_landing_fasta"
DS_RAW_FASTA = "ds_raw_fasta"
DS_RUN_FILE = "ds_run_file"
DAILY_TRIGGER = "tr_scoring_daily"
BACKFILL_TRIGGER = "tr_scoring_backfill"
BLOB_TRIGGER = "tr_scoring_blob"

#: Git folder -> ARM child type, in the order the template lists them (global parameters first).
FOLDERS: dict[str, str] = {
    "factory": "globalParameters",
    "linkedService": "linkedServices",
    "dataset": "datasets",
    "pipeline": "pipelines",
    "trigger": "triggers",
}
#: ``type`` of a reference object -> the ARM child type of what it references.
REFERENCE_TYPES = {
    "LinkedServiceReference": "linkedServices",
    "DatasetReference": "datasets",
    "PipelineReference": "pipelines",
    "TriggerReference": "triggers",
}

#: What each trigger passes to the scoring pipeline: ``date`` is the DAG's ``{{ ds }}``.
SCHEDULE_PARAMETERS = {"date": "@formatDateTime(trigger().scheduledTime, 'yyyy-MM-dd')"}
WINDOW_PARAMETERS = {
    "date": "@formatDateTime(trigger().outputs.windowStartTime, 'yyyy-MM-dd')",
    "windowStart": "@trigger().outputs.windowStartTime",
    "windowEnd": "@trigger().outputs.windowEndTime",
}
# folderPath is "CONTAINER/YYYY-MM-DD[/...]" (its first segment is the container), so segment 1 is the day.
# formatDateTime refuses a folder that is not a date (a blob in misc/): the run fails before it writes.
BLOB_PARAMETERS = {"date": "@formatDateTime(split(triggerBody().folderPath, '/')[1], 'yyyy-MM-dd')"}
#: Windows run one at a time: the scoring pipeline's own ``concurrency`` is 1 (two runs of one date must not
#: swap its partitions side by side, and a partition swap on ADLS is not atomic), so more would only queue.
BACKFILL_CONCURRENCY = 1
#: A failed backfill day is rerun once, a minute later (the DAG's default_args); a rerun is safe because
#: every step replaces its date's partitions whole.
BACKFILL_RETRY = {"count": 1, "intervalInSeconds": 60}

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
# An ARM expression as these builders write them: one function call in brackets.
_ARM_CALL = re.compile(r"^\[\s*[a-z][A-Za-z0-9]*\(.*\)\s*\]$", re.DOTALL)


# ----------------------------------------------------------------------------------- the profile
def _profile_cluster(path: Path = PROFILE_FILE) -> dict[str, Any]:
    """The ``new_cluster`` of the azure profile's committed configuration."""
    cluster = json.loads(path.read_text(encoding="utf-8")).get("new_cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"{path}: the ADF export mirrors new_cluster, which is not set")
    return cluster


_CLUSTER = _profile_cluster()


def _workers(cluster: Mapping[str, Any]) -> str:
    """ADF's ``newClusterNumOfWorker``: a count, or ``"min:max"`` for an autoscaling cluster."""
    if "autoscale" in cluster:
        return f"{cluster['autoscale']['min_workers']}:{cluster['autoscale']['max_workers']}"
    return str(cluster["num_workers"])


# ------------------------------------------------------------------------------- the environment
_SCOPE = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/coding-potential/providers"
_AML = f"{_SCOPE}/Microsoft.MachineLearningServices/workspaces/coding-potential-aml"

#: Every environment specific: name -> (example default, description). Each becomes an ARM parameter.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "adlsAccountUrl": ("https://codingpotential.dfs.core.windows.net",
                       "DFS endpoint of the ADLS Gen2 account holding the lake (ls_adls)."),
    "lakeContainer": ("lake", "File system (container) of the lake; the lake's root is its top level."),
    "landingBlobUrl": ("https://codingpotentiallanding.blob.core.windows.net",
                       "Blob endpoint of the storage account the day's FASTA lands in (ls_landing_blob)."),
    "landingContainer": ("landing", "Container files land in, one YYYY-MM-DD/ folder a day."),
    "landingStorageAccountResourceId": (f"{_SCOPE}/Microsoft.Storage/storageAccounts/codingpotentiallanding",
                                        "ARM resource ID of the landing storage account (scope of tr_scoring_blob)."),
    "databricksWorkspaceUrl": ("https://adb-1234567890123456.7.azuredatabricks.net",
                               "URL of the Databricks workspace (ls_databricks)."),
    "databricksWorkspaceResourceId": (f"{_SCOPE}/Microsoft.Databricks/workspaces/coding-potential",
                                      "ARM resource ID of the Databricks workspace (managed-identity login)."),
    "databricksSparkVersion": (str(_CLUSTER["spark_version"]),
                               "Databricks Runtime of the job clusters (azure_profile.json new_cluster)."),
    "databricksNodeType": (str(_CLUSTER["node_type_id"]),
                           "VM size of the job clusters' nodes (azure_profile.json new_cluster)."),
    "databricksNumWorkers": (_workers(_CLUSTER),
                             "Workers of a job cluster: a count, or min:max to autoscale (azure_profile.json)."),
    "keyVaultUrl": ("https://coding-potential-kv.vault.azure.net/",
                    "Key Vault holding any secret a linked service needs (ls_keyvault)."),
    "amlSubscriptionId": ("00000000-0000-0000-0000-000000000000",
                          "Subscription of the Azure ML workspace (global parameter)."),
    "amlResourceGroup": ("coding-potential", "Resource group of the Azure ML workspace (global parameter)."),
    "amlWorkspace": ("coding-potential-aml", "Azure ML workspace running the training steps (global parameter)."),
    "amlCompute": (f"{_AML}/computes/cpu-cluster",
                   "ARM resource ID of the Azure ML compute the command jobs run on (global parameter)."),
    "amlEnvironment": (f"{_AML}/environments/coding-potential/versions/1",
                       "ARM resource ID of the Azure ML environment of the command jobs (global parameter)."),
    "amlLakeDatastore": ("lake", "Azure ML datastore on the lake's container: the jobs mount run folders from it "
                                 "(global parameter)."),
    "mlflowTrackingUri": ("azureml://westeurope.api.azureml.ms/mlflow/v1.0" + _AML,
                          "MLflow tracking and registry URI of the Azure ML workspace, for the Azure ML jobs and the "
                          "Databricks job clusters (global parameter; needs azureml-mlflow in both)."),
    "scoringStartTime": ("2026-01-01T00:00:00Z",
                         "First day scored (UTC): start of tr_scoring_daily and tr_scoring_backfill."),
}
#: The entries published as the factory's global parameters: the Azure ML jobs' settings, and the
#: containers the ingest Copy uses when a run names none.
GLOBAL_PARAMETERS = ("amlSubscriptionId", "amlResourceGroup", "amlWorkspace", "amlCompute", "amlEnvironment",
                     "amlLakeDatastore", "mlflowTrackingUri", "lakeContainer", "landingContainer")
#: A global parameter derived from the entries (:func:`lake_root`), not an ARM parameter of its own.
LAKE_ROOT_PARAMETER = "lakeRoot"


def git_values() -> dict[str, str]:
    """The values of the Git layout: each :data:`ENVIRONMENT` entry's example default."""
    return {name: default for name, (default, _) in ENVIRONMENT.items()}


def arm_values() -> dict[str, str]:
    """The values of the ARM template: ``"[parameters('NAME')]"`` for each :data:`ENVIRONMENT` entry."""
    return {name: f"[parameters('{name}')]" for name in ENVIRONMENT}


def _checked(values: Mapping[str, str]) -> Mapping[str, str]:
    if missing := [name for name in ENVIRONMENT if name not in values]:
        raise ValueError(f"values lack {', '.join(missing)} (see adf_export.resources.ENVIRONMENT)")
    return values


def _arm_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _concat(*parts: str) -> str:
    """Literal text and values joined: plainly, or as one ARM ``concat()`` when a part is an expression."""
    if not any(is_arm_expression(part) for part in parts):
        return "".join(parts)
    arguments = [part[1:-1] if is_arm_expression(part) else _arm_literal(part) for part in parts]
    return f"[concat({', '.join(arguments)})]"


def _host(url: str) -> str:
    """The host of an endpoint URL (ARM has no URL parser: drop the scheme, keep what precedes a ``/``)."""
    if is_arm_expression(url):
        return f"[first(split(replace({url[1:-1]}, 'https://', ''), '/'))]"
    return urlparse(url).netloc


def lake_root(values: Mapping[str, str]) -> str:
    """The lake's root URI, ``abfss://CONTAINER@HOST`` (``pipeline.lake``'s azure layout, no prefix)."""
    _checked(values)
    return _concat("abfss://", values["lakeContainer"], "@", _host(values["adlsAccountUrl"]))


# ------------------------------------------------------------------------------- linked services
def _reference(name: str, kind: str) -> dict[str, str]:
    return {"referenceName": name, "type": kind}


def _linked_service(name: str, description: str, kind: str, type_properties: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "properties": {"description": description, "annotations": [], "type": kind,
                                         "typeProperties": type_properties}}


def _cluster_properties(values: Mapping[str, str]) -> dict[str, Any]:
    """The job cluster of every Databricks activity, as the profile's ``new_cluster``.

    The cluster also gets ``CODING_POTENTIAL_LAKE``: the steps' ``lake`` argument is null unless a run
    sets it, and the steps then take the lake from the environment (``pipeline.lake.root``); and
    ``MLFLOW_TRACKING_URI``: predict loads the champion from the registry the Azure ML jobs register in.
    """
    unknown = sorted(set(_CLUSTER) - {"spark_version", "node_type_id", "num_workers", "autoscale",
                                      "data_security_mode", "spark_env_vars", "spark_conf", "custom_tags",
                                      "driver_node_type_id"})
    if unknown:  # a setting the linked service would silently drop
        raise ValueError(f"{PROFILE_FILE}: new_cluster keys with no ADF mirror: {', '.join(unknown)}")
    optional = {"newClusterDriverNodeType": _CLUSTER.get("driver_node_type_id"),
                "newClusterSparkConf": _CLUSTER.get("spark_conf"),
                "newClusterCustomTags": _CLUSTER.get("custom_tags"),
                "dataSecurityMode": _CLUSTER.get("data_security_mode")}
    return {
        "newClusterVersion": values["databricksSparkVersion"],
        "newClusterNumOfWorker": values["databricksNumWorkers"],
        "newClusterNodeType": values["databricksNodeType"],
        "newClusterSparkEnvVars": {**_CLUSTER.get("spark_env_vars", {}), "CODING_POTENTIAL_LAKE": lake_root(values),
                                   "MLFLOW_TRACKING_URI": values["mlflowTrackingUri"]},
        **{key: value for key, value in optional.items() if value is not None},
    }


def linked_services(values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The linked services, all authenticated by the factory's system-assigned managed identity.

    Parameters
    ----------
    values : Mapping[str, str]
        A value for each :data:`ENVIRONMENT` entry (:func:`git_values` or :func:`arm_values`).

    Returns
    -------
    list[dict[str, Any]]
        ``ls_adls`` (the lake), ``ls_landing_blob`` (the landing account), ``ls_databricks`` (job
        clusters) and ``ls_keyvault``, each ``{"name", "properties"}``. A linked service with no
        credential property uses the managed identity; none holds a secret.

    Raises
    ------
    ValueError
        If ``values`` lacks an entry.
    """
    values = _checked(values)
    return [
        _linked_service(LS_ADLS, "The lake (ADLS Gen2), by managed identity.", "AzureBlobFS",
                        {"url": values["adlsAccountUrl"]}),
        # serviceEndpoint + accountKind is the managed-identity form of the Blob connector.
        _linked_service(LS_LANDING_BLOB, "The landing Blob Storage account, by managed identity.",
                        "AzureBlobStorage", {"serviceEndpoint": values["landingBlobUrl"], "accountKind": "StorageV2"}),
        _linked_service(LS_DATABRICKS, "Databricks job clusters (azure_profile.json new_cluster), by managed identity.",
                        "AzureDatabricks", {"domain": values["databricksWorkspaceUrl"], "authentication": "MSI",
                                            "workspaceResourceId": values["databricksWorkspaceResourceId"],
                                            **_cluster_properties(values)}),
        _linked_service(LS_KEYVAULT, "Secrets, referenced as AzureKeyVaultSecret; none is inlined.",
                        "AzureKeyVault", {"baseUrl": values["keyVaultUrl"]}),
    ]


# -------------------------------------------------------------------------------------- datasets
def expression(text: str) -> dict[str, str]:
    """An ADF dynamic value: ``text`` (``@...``) evaluated at run time."""
    return {"value": text, "type": "Expression"}


def _binary_dataset(name: str, description: str, linked_service: str, container: tuple[str, str],
                    location_type: str) -> dict[str, Any]:
    """A Binary dataset (bytes copied unchanged: gzip stays gzip) whose container and folder are parameters."""
    key, default = container
    return {"name": name, "properties": {
        "description": description,
        "linkedServiceName": _reference(linked_service, "LinkedServiceReference"),
        "parameters": {key: {"type": "String", "defaultValue": default}, "folder": {"type": "String"}},
        "annotations": [],
        "type": "Binary",
        "typeProperties": {"location": {"type": location_type, "folderPath": expression("@dataset().folder"),
                                        key: expression(f"@dataset().{key}")}},
    }}


def datasets(values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The datasets: the ingest copy's landing day folder and lake partition, and a step's result file.

    Parameters
    ----------
    values : Mapping[str, str]
        A value for each :data:`ENVIRONMENT` entry: the containers are the parameters' defaults.

    Returns
    -------
    list[dict[str, Any]]
        ``ds_landing_fasta`` (parameters ``container``, ``folder``) and ``ds_raw_fasta`` (``fileSystem``,
        ``folder``), Binary; ``folder`` has no default: each run says which day. ``ds_run_file`` (Json;
        ``fileSystem``, ``folder``, ``file``): a step's result, read by ``pl_azure_ml_step``.

    Raises
    ------
    ValueError
        If ``values`` lacks an entry.
    """
    values = _checked(values)
    return [
        _binary_dataset(DS_LANDING_FASTA, "One day's FASTA in the landing container (folder: YYYY-MM-DD).",
                        LS_LANDING_BLOB, ("container", values["landingContainer"]), "AzureBlobStorageLocation"),
        _binary_dataset(DS_RAW_FASTA, "A partition of the lake (folder: e.g. raw/scoring/date=YYYY-MM-DD).",
                        LS_ADLS, ("fileSystem", values["lakeContainer"]), "AzureBlobFSLocation"),
        _run_file_dataset(values["lakeContainer"]),
    ]


def _run_file_dataset(file_system: str) -> dict[str, Any]:
    """``ds_run_file``: one JSON file of the lake, by folder and name (an Azure ML step's result)."""
    return {"name": DS_RUN_FILE, "properties": {
        "description": "One JSON file in the lake: a step's result, runs/<dag>/<run>/results/<task>.json.",
        "linkedServiceName": _reference(LS_ADLS, "LinkedServiceReference"),
        "parameters": {"fileSystem": {"type": "String", "defaultValue": file_system},
                       "folder": {"type": "String"}, "file": {"type": "String"}},
        "annotations": [],
        "type": "Json",
        "typeProperties": {"location": {"type": "AzureBlobFSLocation", "fileName": expression("@dataset().file"),
                                        "folderPath": expression("@dataset().folder"),
                                        "fileSystem": expression("@dataset().fileSystem")},
                           "encodingName": "UTF-8"},
    }}


# -------------------------------------------------------------------------------------- triggers
def _run(pipeline: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    return {"pipelineReference": _reference(pipeline, "PipelineReference"), "parameters": dict(parameters)}


def _daily(pipeline: str, values: Mapping[str, str]) -> dict[str, Any]:
    return {"name": DAILY_TRIGGER, "properties": {
        "description": "coding_potential_scoring's @daily schedule: at 00:00 UTC, date = that day.",
        "annotations": [],
        "runtimeState": "Started",
        "pipelines": [_run(pipeline, SCHEDULE_PARAMETERS)],
        "type": "ScheduleTrigger",
        "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1, "startTime": values["scoringStartTime"],
                                          "timeZone": "UTC", "schedule": {"minutes": [0], "hours": [0]}}},
    }}


def _backfill(pipeline: str, values: Mapping[str, str]) -> dict[str, Any]:
    # Tumbling windows have no Day frequency: 24 hours is one day (UTC has no daylight-saving shifts).
    return {"name": BACKFILL_TRIGGER, "properties": {
        "description": "Backfills: one run per past day [D, D+1), date = D. Start it to score past days, "
                       "stop it once caught up.",
        "annotations": [],
        "runtimeState": "Stopped",
        "pipeline": _run(pipeline, WINDOW_PARAMETERS),
        "type": "TumblingWindowTrigger",
        "typeProperties": {"frequency": "Hour", "interval": 24, "startTime": values["scoringStartTime"],
                           "delay": "00:00:00", "maxConcurrency": BACKFILL_CONCURRENCY,
                           "retryPolicy": dict(BACKFILL_RETRY), "dependsOn": []},
    }}


def _blob(pipeline: str, values: Mapping[str, str]) -> dict[str, Any]:
    return {"name": BLOB_TRIGGER, "properties": {
        "description": "A file landed in the landing container: score its YYYY-MM-DD folder's day.",
        "annotations": [],
        "runtimeState": "Started",
        "pipelines": [_run(pipeline, BLOB_PARAMETERS)],
        "type": "BlobEventsTrigger",
        "typeProperties": {"blobPathBeginsWith": _concat("/", values["landingContainer"], "/blobs/"),
                           "ignoreEmptyBlobs": True, "scope": values["landingStorageAccountResourceId"],
                           "events": ["Microsoft.Storage.BlobCreated"]},
    }}


def triggers(pipeline: str, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The scoring pipeline's triggers: daily schedule, backfill windows, landed blobs.

    Parameters
    ----------
    pipeline : str
        Name of the scoring pipeline; it declares ``date``, ``windowStart`` and ``windowEnd``.
    values : Mapping[str, str]
        A value for each :data:`ENVIRONMENT` entry.

    Returns
    -------
    list[dict[str, Any]]
        ``tr_scoring_daily`` (ScheduleTrigger, started), ``tr_scoring_backfill`` (TumblingWindowTrigger,
        stopped) and ``tr_scoring_blob`` (BlobEventsTrigger, started). Each passes only the parameters of
        :data:`SCHEDULE_PARAMETERS`, :data:`WINDOW_PARAMETERS` or :data:`BLOB_PARAMETERS`.

    Raises
    ------
    ValueError
        If ``values`` lacks an entry or ``pipeline`` is not a valid name.
    """
    values = _checked(values)
    _check_name(pipeline)
    return [_daily(pipeline, values), _backfill(pipeline, values), _blob(pipeline, values)]


# ----------------------------------------------------------------------------- global parameters
def global_parameters_resource(values: Mapping[str, str], name: str = FACTORY_NAME) -> dict[str, Any]:
    """The factory's global parameters (:data:`GLOBAL_PARAMETERS`), as the Git layout's ``factory/NAME.json``.

    Parameters
    ----------
    values : Mapping[str, str]
        A value for each :data:`ENVIRONMENT` entry.
    name : str
        The factory's name (the file's name; the ARM template uses its ``factoryName`` parameter
        and names the resource ``default``).

    Returns
    -------
    dict[str, Any]
        ``{"name": name, "properties": {"globalParameters": {NAME: {"type", "value"}}}}``: the entries
        of :data:`GLOBAL_PARAMETERS`, and ``lakeRoot`` (:func:`lake_root`) for the Azure ML jobs.
    """
    values = _checked(values)
    _check_name(name)
    parameters = {key: {"type": "String", "value": values[key]} for key in GLOBAL_PARAMETERS}
    parameters[LAKE_ROOT_PARAMETER] = {"type": "String", "value": lake_root(values)}
    return {"name": name, "properties": {"globalParameters": parameters}}


def factory_resources(values: Mapping[str, str], pipelines: Sequence[dict[str, Any]],
                      scoring_pipeline: str) -> dict[str, list[dict[str, Any]]]:
    """The whole factory for one form of ``values``, by Git folder (the input of the two writers below).

    Parameters
    ----------
    values : Mapping[str, str]
        :func:`git_values` or :func:`arm_values`.
    pipelines : Sequence[dict[str, Any]]
        The pipelines (``adf_export.generate``); they hold no environment specific.
    scoring_pipeline : str
        The name of the pipeline the triggers start.

    Returns
    -------
    dict[str, list[dict[str, Any]]]
        Keys ``factory``, ``linkedService``, ``dataset``, ``pipeline``, ``trigger``.
    """
    return {"factory": [global_parameters_resource(values)], "linkedService": linked_services(values),
            "dataset": datasets(values), "pipeline": [copy.deepcopy(item) for item in pipelines],
            "trigger": triggers(scoring_pipeline, values)}


# ----------------------------------------------------------------------------------- ARM template
def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{name!r} is not a resource name this export writes (letters, digits, _ and -)")
    return name


def _checked_resources(resources: Mapping[str, Sequence[dict[str, Any]]]) -> None:
    """Known folders only, valid and unique names within each."""
    if unknown := sorted(set(resources) - set(FOLDERS)):
        raise ValueError(f"unknown resource folders {', '.join(unknown)}; folders: {', '.join(FOLDERS)}")
    for folder, items in resources.items():
        names = [_check_name(item.get("name")) for item in items]
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"{folder}: more than one resource named {', '.join(duplicates)}")


def references(node: Any) -> Iterator[tuple[str, str]]:
    """Every ``(ARM child type, name)`` a resource's properties reference (``referenceName`` + ``type``)."""
    if isinstance(node, Mapping):
        kind, name = node.get("type"), node.get("referenceName")
        if isinstance(name, str) and kind in REFERENCE_TYPES:
            yield REFERENCE_TYPES[kind], name
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def escape_arm(node: Any) -> Any:
    """A copy of ``node`` whose literal strings survive ARM: ``[...]`` that is no ARM call becomes ``[[...]``.

    ARM evaluates every string that starts with ``[`` and ends with ``]``; the builders' expressions are
    function calls (``[parameters('x')]``, ``[concat(...)]``), so anything else (a JSON array written as
    text, say) is a literal and gets the escape. ADF expressions (``@...``) are left as they are.
    """
    if isinstance(node, Mapping):
        return {key: escape_arm(value) for key, value in node.items()}
    if isinstance(node, list):
        return [escape_arm(item) for item in node]
    if isinstance(node, str) and node.startswith("[") and node.endswith("]") and not _ARM_CALL.match(node):
        return "[" + node
    return node


def _child_id(arm_type: str, name: str) -> str:
    return f"[concat(variables('factoryId'), '/{arm_type}/{name}')]"


def _arm_resource(arm_type: str, name: str, properties: Any, present: set[tuple[str, str]]) -> dict[str, Any]:
    """One child resource of the factory, depending on the resources its properties reference."""
    needed = sorted({found for found in references(properties) if found != (arm_type, name)})
    if missing := [f"{kind}/{ref}" for kind, ref in needed if (kind, ref) not in present]:
        raise ValueError(f"{arm_type}/{name} references {', '.join(missing)}, which the factory does not hold")
    return {"name": f"[concat(parameters('factoryName'), '/{name}')]",
            "type": f"Microsoft.DataFactory/factories/{arm_type}", "apiVersion": API_VERSION,
            "properties": escape_arm(properties), "dependsOn": [_child_id(kind, ref) for kind, ref in needed]}


def _arm_resources(resources: Mapping[str, Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    present = {(FOLDERS[folder], item["name"]) for folder, items in resources.items() for item in items}
    listed = []
    for folder, arm_type in FOLDERS.items():
        for item in sorted(resources.get(folder, []), key=lambda resource: resource["name"]):
            if folder == "factory":  # the global parameters' one child resource is named "default"
                listed.append(_arm_resource(arm_type, "default", item["properties"]["globalParameters"], present))
            else:
                listed.append(_arm_resource(arm_type, item["name"], item["properties"], present))
    return listed


def _arm_parameters() -> dict[str, Any]:
    parameters: dict[str, Any] = {"factoryName": {"type": "string",
                                                  "metadata": {"description": "Name of the Data Factory."}}}
    examples = git_values()
    for name, (_, description) in ENVIRONMENT.items():
        parameters[name] = {"type": "string", "defaultValue": examples[name], "metadata": {"description": description}}
    return parameters


def arm_template(resources: Mapping[str, Sequence[dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ARM template of the factory's resources and its parameters file, like ADF's own export.

    Parameters
    ----------
    resources : Mapping[str, Sequence[dict[str, Any]]]
        Resources by Git folder (``factory``, ``linkedService``, ``dataset``, ``pipeline``, ``trigger``),
        built with :func:`arm_values`.

    Returns
    -------
    tuple[dict[str, Any], dict[str, Any]]
        ``ARMTemplateForFactory.json`` (``factoryName`` and every :data:`ENVIRONMENT` entry as parameters;
        resources in the order global parameters, linked services, datasets, pipelines, triggers, by
        name, each depending on what it references) and ``ARMTemplateParametersForFactory.json`` (the
        example values).

    Raises
    ------
    ValueError
        For an unknown folder, a bad or repeated name, or a reference to a resource not given.
    """
    _checked_resources(resources)
    template = {
        "$schema": ARM_SCHEMA,
        "contentVersion": CONTENT_VERSION,
        "parameters": _arm_parameters(),
        "variables": {"factoryId": "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]"},
        "resources": _arm_resources(resources),
    }
    example = {"factoryName": FACTORY_NAME, **git_values()}
    parameters = {"$schema": ARM_PARAMETERS_SCHEMA, "contentVersion": CONTENT_VERSION,
                  "parameters": {name: {"value": value} for name, value in example.items()}}
    return template, parameters


# ---------------------------------------------------------------------------------------- writing
def _json_bytes(content: Any) -> bytes:
    """ADF's Git form: 4-space indent, keys in the order built, UTF-8, one trailing newline."""
    return (json.dumps(content, indent=4, ensure_ascii=False) + "\n").encode("utf-8")


def _write_atomic(path: Path, content: bytes) -> None:
    """Replace ``path`` by renaming a finished temporary file, so a reader never sees half a file."""
    if path.is_file() and path.read_bytes() == content:
        return  # unchanged: keep the file (and its mtime) as it is
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_factory(out: Path, git_resources: Mapping[str, Sequence[dict[str, Any]]],
                  arm: tuple[dict[str, Any], dict[str, Any]]) -> list[Path]:
    """Write the Git layout and the ARM template under ``out``; ``out`` then holds this factory only.

    Parameters
    ----------
    out : Path
        The folder (created if needed).
    git_resources : Mapping[str, Sequence[dict[str, Any]]]
        Resources by Git folder, built with :func:`git_values`; each becomes ``out/FOLDER/NAME.json``.
        A folder of :data:`FOLDERS` that is absent is written empty.
    arm : tuple[dict[str, Any], dict[str, Any]]
        :func:`arm_template`'s result.

    Returns
    -------
    list[Path]
        Every file written (or already identical), sorted.

    Raises
    ------
    ValueError
        For an unknown folder or a bad or repeated name (nothing is written then).
    """
    _checked_resources(git_resources)
    out = Path(out)
    files = {out / folder / f"{item['name']}.json": _json_bytes(item)
             for folder, items in git_resources.items() for item in items}
    files[out / TEMPLATE_FILE] = _json_bytes(arm[0])
    files[out / PARAMETERS_FILE] = _json_bytes(arm[1])
    for path, content in files.items():
        _write_atomic(path, content)
    # Only after every new file is in place: a resource that is gone from the factory goes from the folder.
    for folder in FOLDERS:
        for stale in sorted((out / folder).glob("*.json")):
            if stale not in files:
                stale.unlink()
    return sorted(files)
