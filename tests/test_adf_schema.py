"""The offline ADF schema harness: hand-written valid resources pass, broken ones fail naming the problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adf_export import schema

try:
    schema.schema_dir()
except FileNotFoundError as exc:
    pytest.skip(f"ADF JSON schema absent: {exc}", allow_module_level=True)

LS_DATABRICKS = {"referenceName": "ls_databricks", "type": "LinkedServiceReference"}
LS_LAKE = {"referenceName": "ls_lake", "type": "LinkedServiceReference"}


def pipeline() -> dict:
    """A DatabricksSparkPython activity, then a Web activity (MSI) that depends on it."""
    return {
        "name": "p_train",
        "properties": {
            "parameters": {"run_date": {"type": "String", "defaultValue": "2024-01-01"}, "n": {"type": "Int"}},
            "activities": [
                {
                    "name": "features",
                    "type": "DatabricksSparkPython",
                    "dependsOn": [],
                    "policy": {"timeout": "0.12:00:00", "retry": 1, "retryIntervalInSeconds": 60},
                    "userProperties": [],
                    "linkedServiceName": LS_DATABRICKS,
                    "typeProperties": {
                        "pythonFile": "dbfs:/jobs/run_step.py",
                        "parameters": ["--step", "features", "--date", "@pipeline().parameters.run_date"],
                        "libraries": [{"pypi": {"package": "numpy==2.1.0"}}],
                    },
                },
                {
                    "name": "train",
                    "type": "WebActivity",
                    "dependsOn": [{"activity": "features", "dependencyConditions": ["Succeeded"]}],
                    "policy": {"timeout": "0.02:00:00", "retry": 0},
                    "typeProperties": {
                        "url": "https://management.azure.com/subscriptions/s/jobs/train?api-version=2024-04-01",
                        "method": "PUT",
                        "headers": {"Content-Type": "application/json"},
                        "body": {"value": "@string(pipeline().parameters)", "type": "Expression"},
                        "authentication": {"type": "MSI", "resource": "https://management.azure.com/"},
                    },
                },
            ],
            "annotations": [],
            "folder": {"name": "coding_potential"},
        },
    }


def copy_pipeline() -> dict:
    """A Copy activity, Binary to Binary, Blob landing container to ADLS Gen2."""
    return {
        "name": "p_ingest",
        "properties": {
            "activities": [
                {
                    "name": "ingest",
                    "type": "Copy",
                    "inputs": [{"referenceName": "ds_landing", "type": "DatasetReference"}],
                    "outputs": [{"referenceName": "ds_raw", "type": "DatasetReference"}],
                    "typeProperties": {
                        "source": {
                            "type": "BinarySource",
                            "storeSettings": {"type": "AzureBlobStorageReadSettings", "recursive": True},
                            "formatSettings": {"type": "BinaryReadSettings"},
                        },
                        "sink": {"type": "BinarySink", "storeSettings": {"type": "AzureBlobFSWriteSettings"}},
                    },
                }
            ]
        },
    }


def binary_dataset() -> dict:
    """A Binary dataset on an ADLS Gen2 (AzureBlobFS) location."""
    return {
        "name": "ds_raw",
        "properties": {
            "type": "Binary",
            "linkedServiceName": LS_LAKE,
            "parameters": {"folder": {"type": "String", "defaultValue": "raw"}},
            "typeProperties": {
                "location": {
                    "type": "AzureBlobFSLocation",
                    "fileSystem": "lake",
                    "folderPath": {"value": "@dataset().folder", "type": "Expression"},
                }
            },
        },
    }


def databricks_ls() -> dict:
    """AzureDatabricks through the factory's managed identity."""
    return {
        "name": "ls_databricks",
        "properties": {
            "type": "AzureDatabricks",
            "typeProperties": {
                "domain": "https://adb-123.4.azuredatabricks.net",
                "authentication": "MSI",
                "workspaceResourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w",
                "existingClusterId": "0101-000000-abcd",
            },
        },
    }


def lake_ls() -> dict:
    """AzureBlobFS with its URL only (managed identity, no secret)."""
    return {
        "name": "ls_lake",
        "properties": {"type": "AzureBlobFS", "typeProperties": {"url": "https://lake.dfs.core.windows.net"}},
    }


def key_vault_ls() -> dict:
    """AzureKeyVault."""
    return {
        "name": "ls_key_vault",
        "properties": {"type": "AzureKeyVault", "typeProperties": {"baseUrl": "https://kv.vault.azure.net/"}},
    }


def schedule_trigger() -> dict:
    """A daily schedule at 02:30 UTC."""
    return {
        "name": "tr_daily",
        "properties": {
            "type": "ScheduleTrigger",
            "runtimeState": "Stopped",
            "pipelines": [
                {
                    "pipelineReference": {"referenceName": "p_train", "type": "PipelineReference"},
                    "parameters": {"run_date": "@trigger().scheduledTime"},
                }
            ],
            "typeProperties": {
                "recurrence": {
                    "frequency": "Day",
                    "interval": 1,
                    "startTime": "2024-01-01T02:30:00Z",
                    "timeZone": "UTC",
                    "schedule": {"hours": [2], "minutes": [30]},
                }
            },
        },
    }


def tumbling_trigger() -> dict:
    """Hourly tumbling windows."""
    return {
        "name": "tr_hourly",
        "properties": {
            "type": "TumblingWindowTrigger",
            "pipeline": {
                "pipelineReference": {"referenceName": "p_train", "type": "PipelineReference"},
                "parameters": {"run_date": "@trigger().outputs.windowStartTime"},
            },
            "typeProperties": {
                "frequency": "Hour",
                "interval": 24,
                "startTime": "2024-01-01T00:00:00Z",
                "delay": "00:15:00",
                "maxConcurrency": 1,
                "retryPolicy": {"count": 2, "intervalInSeconds": 300},
            },
        },
    }


def blob_events_trigger() -> dict:
    """A run per FASTA file landed in the landing container."""
    return {
        "name": "tr_landing",
        "properties": {
            "type": "BlobEventsTrigger",
            "pipelines": [{"pipelineReference": {"referenceName": "p_ingest", "type": "PipelineReference"}}],
            "typeProperties": {
                "blobPathBeginsWith": "/landing/blobs/",
                "blobPathEndsWith": ".fa.gz",
                "ignoreEmptyBlobs": True,
                "scope": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
                "events": ["Microsoft.Storage.BlobCreated"],
            },
        },
    }


def loop_pipeline() -> dict:
    """An Until loop holding an If whose branches set variables, then a return value."""
    def set_var(name: str, variable: str, value: str) -> dict:
        return {"name": name, "type": "SetVariable", "dependsOn": [], "userProperties": [],
                "typeProperties": {"variableName": variable, "value": {"value": value, "type": "Expression"}}}

    return {"name": "p_loop", "properties": {
        "variables": {"status": {"type": "String", "defaultValue": ""}, "next": {"type": "String"}},
        "activities": [
            {"name": "loop", "type": "Until", "dependsOn": [], "userProperties": [], "typeProperties": {
                "expression": {"value": "@equals(variables('status'), 'done')", "type": "Expression"},
                "timeout": "0.01:00:00",
                "activities": [{"name": "branch", "type": "IfCondition", "dependsOn": [], "userProperties": [],
                                "typeProperties": {
                                    "expression": {"value": "@empty(variables('status'))", "type": "Expression"},
                                    "ifTrueActivities": [set_var("start", "next", "@'running'")],
                                    "ifFalseActivities": [set_var("finish", "status", "@variables('next')")]}}]}},
            {"name": "give_back", "type": "SetVariable", "dependsOn": [
                {"activity": "loop", "dependencyConditions": ["Completed"]}], "userProperties": [],
             "typeProperties": {"variableName": "pipelineReturnValue", "setSystemVariable": True, "value": [
                 {"key": "status", "value": {"type": "Expression", "content": "@variables('status')"}}]}},
        ]}}


VALID: list[tuple[str, Callable[[], dict]]] = [
    ("pipeline", pipeline),
    ("pipeline", copy_pipeline),
    ("dataset", binary_dataset),
    ("linkedService", databricks_ls),
    ("linkedService", lake_ls),
    ("linkedService", key_vault_ls),
    ("trigger", schedule_trigger),
    ("trigger", tumbling_trigger),
    ("trigger", blob_events_trigger),
    ("pipeline", loop_pipeline),
]


@pytest.mark.parametrize(("kind", "make"), VALID, ids=[make.__name__ for _, make in VALID])
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "schema-only"])
def test_valid_resources_pass(kind: str, make: Callable[[], dict], strict: bool) -> None:
    assert schema.validate_resource(kind, make(), strict=strict) == []


def _set(resource: dict, path: str, value: Any) -> dict:
    """A copy of ``resource`` with ``value`` at a dotted path (``activities.0.type``); ``...`` deletes it."""
    resource = copy.deepcopy(resource)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = resource
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return resource


def _rename(resource: dict, path: str, old: str, new: str) -> dict:
    """A copy of ``resource`` whose object at ``path`` has key ``old`` renamed ``new``."""
    resource = copy.deepcopy(resource)
    node = resource
    for part in [int(p) if p.isdigit() else p for p in path.split(".")]:
        node = node[part]
    node[new] = node.pop(old)
    return resource


P = "properties"
BROKEN: dict[str, tuple[str, Callable[[], dict], list[str]]] = {
    "lower-case parameter type": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.parameters.run_date.type", "string"),
        ["$.properties.parameters.run_date.type:", "'string' is not one of ['Object', 'String'"],
    ),
    "unknown activity type": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.0.type", "DatabricksPython"),
        ["$.properties.activities[0].type:", "unknown Activity type 'DatabricksPython'",
         "did you mean 'DatabricksSparkPython'?"],
    ),
    "misspelled typeProperties key": (
        "pipeline",
        lambda: _rename(pipeline(), f"{P}.activities.0.typeProperties", "libraries", "librarys"),
        ["$.properties.activities[0].typeProperties.librarys:", "unknown property 'librarys'",
         "DatabricksSparkPythonActivityTypeProperties", "did you mean 'libraries'?"],
    ),
    "missing pythonFile": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.0.typeProperties.pythonFile", ...),
        ["$.properties.activities[0].typeProperties:", "'pythonFile' is a required property"],
    ),
    "pythonFile not a string": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.0.typeProperties.pythonFile", 42),
        ["typeProperties.pythonFile:", "42 is not of type 'string'"],
    ),
    "dependsOn condition not in the enum": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.1.dependsOn.0.dependencyConditions", ["Success"]),
        ["$.properties.activities[1].dependsOn[0].dependencyConditions[0]:",
         "'Success' is not one of ['Succeeded', 'Failed', 'Skipped', 'Completed']"],
    ),
    "dependsOn an unknown activity": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.1.dependsOn.0.activity", "featurez"),
        ["$.properties.activities[1].dependsOn[0].activity:", "depends on 'featurez'"],
    ),
    "dependsOn cycle": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.0.dependsOn",
                     [{"activity": "train", "dependencyConditions": ["Succeeded"]}]),
        ["$.properties.activities:", "dependsOn has a cycle"],
    ),
    "Until nested in an If nested in an Until": (
        "pipeline",
        lambda: _set(loop_pipeline(), f"{P}.activities.0.typeProperties.activities.0.typeProperties.ifTrueActivities",
                     [{"name": "inner", "type": "Until", "dependsOn": [], "userProperties": [], "typeProperties": {
                         "expression": {"value": "@true", "type": "Expression"}, "activities": []}}]),
        ["$.properties.activities[0].typeProperties.activities[0].typeProperties.ifTrueActivities[0]:",
         "a Until activity cannot be nested in a Until ('loop')",
         "a Until activity cannot be nested in a IfCondition ('branch')"],
    ),
    "SetVariable of an undeclared variable": (
        "pipeline",
        lambda: _set(loop_pipeline(), f"{P}.variables", {"status": {"type": "String"}}),
        ["ifTrueActivities[0].typeProperties.variableName:", "variable 'next' is not declared"],
    ),
    "SetVariable from itself": (
        "pipeline",
        lambda: _set(loop_pipeline(), f"{P}.activities.0.typeProperties.activities.0.typeProperties."
                                      "ifFalseActivities.0.typeProperties.value.value",
                     "@concat(variables('status'), 'x')"),
        ["ifFalseActivities[0].typeProperties.value:", "variable 'status' cannot be set from itself"],
    ),
    "a system variable other than the return value": (
        "pipeline",
        lambda: _set(loop_pipeline(), f"{P}.activities.1.typeProperties.variableName", "status"),
        ["$.properties.activities[1].typeProperties.variableName:", "the only system variable"],
    ),
    "duplicate activity names": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.1.name", "features"),
        ["$.properties.activities[1].name:", "activity name 'features' is already used"],
    ),
    "misspelled activity property": (
        "pipeline",
        lambda: _rename(pipeline(), f"{P}.activities.1", "dependsOn", "dependOn"),
        ["$.properties.activities[1].dependOn:", "did you mean 'dependsOn'?"],
    ),
    "Databricks activity without linked service": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.0.linkedServiceName", ...),
        ["$.properties.activities[0]:", "needs 'linkedServiceName'"],
    ),
    "bad activity timeout": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.0.policy.timeout", "12 hours"),
        ["$.properties.activities[0].policy.timeout:", "'12 hours' does not match"],
    ),
    "retry interval under the minimum": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.0.policy.retryIntervalInSeconds", 5),
        ["policy.retryIntervalInSeconds:", "5 is less than the minimum of 30"],
    ),
    "Web MSI without resource": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.1.typeProperties.authentication.resource", ...),
        ["$.properties.activities[1].typeProperties.authentication:", "MSI authentication needs 'resource'"],
    ),
    "Web PUT without body": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.1.typeProperties.body", ...),
        ["$.properties.activities[1].typeProperties:", "a PUT Web activity needs 'body'"],
    ),
    "Web method not in the enum": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.activities.1.typeProperties.method", "PATCH"),
        ["typeProperties.method:", "'PATCH' is not one of ['GET', 'POST', 'PUT', 'DELETE']"],
    ),
    "Int parameter with a string default": (
        "pipeline",
        lambda: _set(pipeline(), f"{P}.parameters.n.defaultValue", "3"),
        ["$.properties.parameters.n.defaultValue:", "defaultValue '3' is not a Int"],
    ),
    "pipeline name with a dot": (
        "pipeline",
        lambda: _set(pipeline(), "name", "p.train"),
        ["pipeline 'p.train': $.name:", "does not match"],
    ),
    "unknown copy source type": (
        "pipeline",
        lambda: _set(copy_pipeline(), f"{P}.activities.0.typeProperties.source.type", "BinarySrc"),
        ["typeProperties.source.type:", "unknown CopySource type 'BinarySrc'", "did you mean 'BinarySource'?"],
    ),
    "misspelled store setting": (
        "pipeline",
        lambda: _rename(copy_pipeline(), f"{P}.activities.0.typeProperties.source.storeSettings",
                        "recursive", "recursiv"),
        ["storeSettings.recursiv:", "StoreReadSettings 'AzureBlobStorageReadSettings'", "did you mean 'recursive'?"],
    ),
    "dataset without typeProperties": (
        "dataset",
        lambda: _set(binary_dataset(), f"{P}.typeProperties", ...),
        ["$.properties:", "'typeProperties' is a required property", "requires 'location'"],
    ),
    "dataset location type misspelled": (
        "dataset",
        lambda: _set(binary_dataset(), f"{P}.typeProperties.location.type", "AzureBlobFsLocation"),
        ["$.properties.typeProperties.location.type:", "unknown DatasetLocation type 'AzureBlobFsLocation'"],
    ),
    "dataset without linked service": (
        "dataset",
        lambda: _set(binary_dataset(), f"{P}.linkedServiceName", ...),
        ["$.properties:", "'linkedServiceName' is a required property"],
    ),
    "Databricks MSI without workspaceResourceId": (
        "linkedService",
        lambda: _set(databricks_ls(), f"{P}.typeProperties.workspaceResourceId", ...),
        ["$.properties.typeProperties:", "MSI authentication needs 'workspaceResourceId'"],
    ),
    "linked service type in the wrong case": (
        "linkedService",
        lambda: _set(lake_ls(), f"{P}.type", "azureBlobFS"),
        ["$.properties.type:", "unknown LinkedService type 'azureBlobFS'", "did you mean 'AzureBlobFS'?"],
    ),
    "AzureBlobFS without url": (
        "linkedService",
        lambda: _rename(lake_ls(), f"{P}.typeProperties", "url", "uri"),
        ["$.properties.typeProperties.uri:", "did you mean 'url'?", "needs 'url'"],
    ),
    "Key Vault without baseUrl": (
        "linkedService",
        lambda: _set(key_vault_ls(), f"{P}.typeProperties.baseUrl", ...),
        ["$.properties.typeProperties:", "'baseUrl' is a required property"],
    ),
    "schedule frequency not in the enum": (
        "trigger",
        lambda: _set(schedule_trigger(), f"{P}.typeProperties.recurrence.frequency", "Daily"),
        ["$.properties.typeProperties.recurrence.frequency:", "'Daily' is not one of ['NotSpecified', 'Minute'"],
    ),
    "schedule start time not a date-time": (
        "trigger",
        lambda: _set(schedule_trigger(), f"{P}.typeProperties.recurrence.startTime", "tomorrow"),
        ["recurrence.startTime:", "'tomorrow' is not a 'date-time'"],
    ),
    "tumbling window by the day": (
        "trigger",
        lambda: _set(tumbling_trigger(), f"{P}.typeProperties.frequency", "Day"),
        ["$.properties.typeProperties.frequency:", "'Day' is not one of ['Minute', 'Hour', 'Month']"],
    ),
    "tumbling window without pipeline": (
        "trigger",
        lambda: _set(tumbling_trigger(), f"{P}.pipeline", ...),
        ["$.properties:", "'pipeline' is a required property"],
    ),
    "blob event not in the enum": (
        "trigger",
        lambda: _set(blob_events_trigger(), f"{P}.typeProperties.events", ["BlobCreated"]),
        ["$.properties.typeProperties.events[0]:", "'BlobCreated' is not one of"],
    ),
    "blob events trigger without path filter": (
        "trigger",
        lambda: _set(_set(blob_events_trigger(), f"{P}.typeProperties.blobPathBeginsWith", ...),
                     f"{P}.typeProperties.blobPathEndsWith", ...),
        ["$.properties.typeProperties:", "needs 'blobPathBeginsWith' or 'blobPathEndsWith'"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_resources_name_the_problem(case: str) -> None:
    kind, make, expected = BROKEN[case]
    resource = make()
    errors = schema.validate_resource(kind, resource)
    assert errors, f"{case}: no error"
    assert all(e.startswith(f"{kind} {resource['name']!r}: $") for e in errors), errors
    for fragment in expected:
        assert any(fragment in e for e in errors), f"{fragment!r} not in {errors}"


def test_schema_alone_misses_misspelled_optional_properties() -> None:
    """What strict mode adds: the schema itself accepts a misspelled optional key and an untyped value."""
    typo = _rename(pipeline(), f"{P}.activities.0.typeProperties", "libraries", "librarys")
    untyped = _set(pipeline(), f"{P}.activities.0.typeProperties.pythonFile", 42)
    assert schema.validate_resource("pipeline", typo, strict=False) == []
    assert schema.validate_resource("pipeline", untyped, strict=False) == []


def test_arm_envelope_forms() -> None:
    envelope = schema.arm_envelope("linkedService", lake_ls())
    assert envelope == {
        "name": "[concat(parameters('factoryName'), '/ls_lake')]",
        "type": "Microsoft.DataFactory/factories/linkedservices",
        "apiVersion": "2018-06-01",
        "properties": lake_ls()["properties"],
    }
    assert schema.arm_envelope("pipeline", pipeline(), factory="adf-cp")["name"] == "adf-cp/p_train"
    assert schema.child_name(envelope["name"]) == "ls_lake"


def test_validator_is_cached_per_kind() -> None:
    assert schema.validator("pipeline") is schema.validator("pipeline")
    assert schema.validator("pipeline") is not schema.validator("trigger")
    with pytest.raises(ValueError, match="unknown ADF resource kind 'pipelines'"):
        schema.validator("pipelines")


def test_schema_dir_names_the_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODING_POTENTIAL_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="CODING_POTENTIAL_SHARED") as raised:
        schema.schema_dir()
    assert str(tmp_path / "reference" / "schemas" / "adf") in str(raised.value)


def template(*resources: dict, parameters: dict | None = None) -> dict:
    """An ARM template of ADF resources."""
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"factoryName": {"type": "string"}} if parameters is None else parameters,
        "resources": list(resources),
    }


def _all_resources() -> list[dict]:
    return [schema.arm_envelope(kind, make()) for kind, make in VALID]


def test_valid_arm_template_passes() -> None:
    resources = _all_resources()
    resources[0]["dependsOn"] = ["[concat(variables('factoryId'), '/linkedServices/ls_databricks')]"]
    lake = {**schema.arm_envelope("linkedService", lake_ls()), "type": "Microsoft.DataFactory/factories/linkedServices"}
    lake["properties"] = _set(lake_ls(), "properties.typeProperties.url", "[parameters('lakeUrl')]")["properties"]
    resources[4] = lake
    doc = template(*resources, parameters={"factoryName": {"type": "string"}, "lakeUrl": {"type": "string"}})
    doc["variables"] = {"factoryId": "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]"}
    assert schema.validate_arm_template(doc) == []


def test_arm_template_errors() -> None:
    bad_pipeline = schema.arm_envelope("pipeline", _set(pipeline(), f"{P}.parameters.run_date.type", "string"))
    lake = schema.arm_envelope("linkedService", _set(lake_ls(), f"{P}.typeProperties.url", "[parameters('url')]"))
    errors = schema.validate_arm_template(
        template(
            bad_pipeline,
            lake,
            {**schema.arm_envelope("dataset", binary_dataset()), "apiVersion": "2017-09-01-preview"},
            {**schema.arm_envelope("trigger", schedule_trigger(), factory="adf"), "name": "adf/x/tr_daily"},
            {"name": "st", "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01"},
            parameters={},
        )
    )
    expected = [
        "template: $.parameters: 'factoryName' is not declared",
        "template: $.resources[1].properties.typeProperties.url: parameters('url') is used but not declared",
        "template: $.resources[0].name: parameters('factoryName') is used but not declared",
        "pipeline 'p_train': $.resources[0].properties.parameters.run_date.type: 'string' is not one of",
        "dataset 'ds_raw': $.resources[2].apiVersion: '2017-09-01-preview' is not one of ['2018-06-01']",
        "trigger 'tr_daily': $.resources[3].name: 'adf/x/tr_daily' must have 2 '/'-separated segments",
        "$.resources[4].type: unsupported resource type 'Microsoft.Storage/storageAccounts'",
    ]
    for fragment in expected:
        assert any(fragment in e for e in errors), f"{fragment!r} not in {errors}"
    assert not any("linkedService 'ls_lake'" in e for e in errors), errors
