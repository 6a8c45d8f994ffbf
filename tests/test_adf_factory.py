"""The factory around the ADF pipelines: no secret anywhere, every environment specific an ARM parameter
that is declared and used, ARM and Git forms that agree, references that resolve, triggers that pass the
scoring pipeline exactly its date (and window), and files written deterministically and atomically.

The ARM expressions are evaluated by a small evaluator written here (``parameters``, ``concat``,
``replace``, ``split``, ``first``), independently of the factory's code.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from adf_export import resources as factory
from adf_export.resources import (
    ENVIRONMENT,
    FOLDERS,
    GLOBAL_PARAMETERS,
    arm_template,
    arm_values,
    factory_resources,
    git_values,
    write_factory,
)
from adf_export.schema import is_arm_expression

SCORING = "pl_coding_potential_scoring"
LAKE = "abfss://lake@codingpotential.dfs.core.windows.net"
#: Keys that hold a credential in some ADF type; none may appear (the identity is the factory's own).
SECRET_KEYS = {"accountkey", "password", "encryptedcredential", "sasuri", "sastoken", "accesstoken",
               "connectionstring", "serviceprincipalkey", "serviceprincipalcredential", "clientsecret",
               "credential", "secret"}
#: Text that only a credential holds (storage keys, SAS tokens, tokens in URLs).
SECRET_TEXT = re.compile(r"AccountKey=|SharedAccessSignature=|[?&]sig=|[?&]sv=\d|dapi[0-9a-f]{16}|Bearer ",
                         re.IGNORECASE)


def stub_pipeline(name: str = SCORING) -> dict[str, Any]:
    """A scoring pipeline as generate.py writes one, reduced to what the factory cares about."""
    dataset = {"referenceName": factory.DS_RAW_FASTA, "type": "DatasetReference",
               "parameters": {"folder": {"value": "@concat('raw/scoring/date=', pipeline().parameters.date)",
                                         "type": "Expression"}}}
    return {"name": name, "properties": {
        "activities": [
            {"name": "ingest", "type": "Copy", "dependsOn": [], "userProperties": [],
             "typeProperties": {"source": {"type": "BinarySource"}, "sink": {"type": "BinarySink"}},
             "inputs": [{"referenceName": factory.DS_LANDING_FASTA, "type": "DatasetReference",
                         "parameters": {"folder": {"value": "@pipeline().parameters.date", "type": "Expression"}}}],
             "outputs": [dataset]},
            {"name": "predict", "type": "DatabricksSparkPython", "userProperties": [],
             "dependsOn": [{"activity": "ingest", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"pythonFile": "dbfs:/x.py", "parameters": ["--args", "[1, 2]"]},
             "linkedServiceName": {"referenceName": factory.LS_DATABRICKS, "type": "LinkedServiceReference"}},
        ],
        "parameters": {"date": {"type": "String"}, "windowStart": {"type": "String", "defaultValue": ""},
                       "windowEnd": {"type": "String", "defaultValue": ""},
                       "model_uri": {"type": "String", "defaultValue": ""}},
    }}


@pytest.fixture(scope="module")
def git() -> dict[str, list[dict]]:
    return factory_resources(git_values(), [stub_pipeline()], SCORING)


@pytest.fixture(scope="module")
def arm_resources() -> dict[str, list[dict]]:
    return factory_resources(arm_values(), [stub_pipeline()], SCORING)


@pytest.fixture(scope="module")
def arm(arm_resources) -> tuple[dict, dict]:
    return arm_template(arm_resources)


def by_name(items: list[dict]) -> dict[str, dict]:
    return {item["name"]: item for item in items}


def walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) of a JSON document, keys included as values at their own path."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, "<key>"), key
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


# ------------------------------------------------------------------------ a small ARM expression evaluator
_ARM_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+)|(?P<name>[A-Za-z_]\w*)|(?P<op>[(),\[\]]))")
_ARM_FUNCTIONS = {
    "concat": lambda *parts: "".join(parts),
    "replace": lambda text, old, new: text.replace(old, new),
    "split": lambda text, separator: text.split(separator),
    "first": lambda items: items[0],
}


def arm_evaluate(text: str, parameters: dict[str, Any]) -> Any:
    """The value ARM gives a template string: an expression evaluated, an escaped literal unescaped."""
    if text.startswith("[["):
        return text[1:]
    if not (text.startswith("[") and text.endswith("]")):
        return text
    tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in _ARM_TOKEN.finditer(text[1:-1])]
    value, rest = _arm_expression(tokens, parameters)
    assert not rest, f"trailing tokens in {text!r}: {rest}"
    return value


def _arm_expression(tokens: list, parameters: dict[str, Any]) -> tuple[Any, list]:
    (kind, token), rest = tokens[0], tokens[1:]
    if kind == "str":
        return token[1:-1].replace("''", "'"), rest
    if kind == "num":
        return int(token), rest
    assert kind == "name" and rest[0] == ("op", "("), f"unexpected {token!r}"
    arguments, rest = [], rest[1:]
    while rest[0] != ("op", ")"):
        value, rest = _arm_expression(rest, parameters)
        arguments.append(value)
        if rest[0] == ("op", ","):
            rest = rest[1:]
    rest = rest[1:]
    value = parameters[arguments[0]] if token == "parameters" else _ARM_FUNCTIONS[token](*arguments)
    while rest and rest[0] == ("op", "["):  # an index: split(...)[0]
        value, rest = value[int(rest[1][1])], rest[3:]
    return value, rest


# ---------------------------------------------------------------------------------------- the environment
def test_environment_entries_are_described_and_typed():
    for name, (default, description) in ENVIRONMENT.items():
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", name), name
        assert default and isinstance(default, str), name
        assert description.endswith("."), name
    assert set(GLOBAL_PARAMETERS) <= set(ENVIRONMENT)


def test_the_job_cluster_mirrors_the_azure_profile(git):
    cluster = json.loads(factory.PROFILE_FILE.read_text(encoding="utf-8"))["new_cluster"]
    values = git_values()
    assert values["databricksSparkVersion"] == cluster["spark_version"]
    assert values["databricksNodeType"] == cluster["node_type_id"]
    assert values["databricksNumWorkers"] == str(cluster["num_workers"])
    props = by_name(git["linkedService"])[factory.LS_DATABRICKS]["properties"]["typeProperties"]
    assert props["newClusterVersion"] == cluster["spark_version"]
    assert props["newClusterNodeType"] == cluster["node_type_id"]
    assert props["newClusterNumOfWorker"] == str(cluster["num_workers"])
    assert props["dataSecurityMode"] == cluster["data_security_mode"]
    assert props["newClusterSparkEnvVars"] == {**cluster["spark_env_vars"], "CODING_POTENTIAL_LAKE": LAKE,
                                               "MLFLOW_TRACKING_URI": values["mlflowTrackingUri"]}


def test_the_lake_root_is_the_azure_profile_layout(monkeypatch):
    from pipeline import lake

    monkeypatch.delenv("CODING_POTENTIAL_LAKE", raising=False)
    monkeypatch.setenv("CODING_POTENTIAL_ADLS_ACCOUNT", "codingpotential")
    monkeypatch.setenv("CODING_POTENTIAL_ADLS_CONTAINER", git_values()["lakeContainer"])
    monkeypatch.delenv("CODING_POTENTIAL_ADLS_PREFIX", raising=False)
    assert factory.lake_root(git_values()) == lake.root("azure") == LAKE
    assert arm_evaluate(factory.lake_root(arm_values()), git_values()) == LAKE


def test_missing_values_are_named():
    values = git_values()
    del values["keyVaultUrl"]
    with pytest.raises(ValueError, match="keyVaultUrl"):
        factory.linked_services(values)


# -------------------------------------------------------------------------------------------- no secrets
def test_no_secret_anywhere(git, arm):
    for document in [git, *arm]:
        for path, value in walk(document):
            if path and path[-1] == "<key>":
                assert value.lower() not in SECRET_KEYS, f"credential property at {path[:-1]}: {value}"
            if isinstance(value, str):
                assert not SECRET_TEXT.search(value), f"credential text at {path}: {value}"
            if isinstance(value, dict) and value.get("type") == "AzureKeyVaultSecret":
                assert value["store"]["referenceName"] == factory.LS_KEYVAULT, path
            if isinstance(value, dict) and value.get("type") == "SecureString":
                pytest.fail(f"an inline SecureString at {path}")


def test_linked_services_authenticate_by_managed_identity(git):
    services = {name: item["properties"] for name, item in by_name(git["linkedService"]).items()}
    assert sorted(services) == ["ls_adls", "ls_databricks", "ls_keyvault", "ls_landing_blob"]
    # No credential property at all: the factory's system-assigned managed identity.
    assert services["ls_adls"]["type"] == "AzureBlobFS"
    assert services["ls_adls"]["typeProperties"] == {"url": "https://codingpotential.dfs.core.windows.net"}
    assert services["ls_landing_blob"]["type"] == "AzureBlobStorage"
    assert services["ls_landing_blob"]["typeProperties"] == {
        "serviceEndpoint": "https://codingpotentiallanding.blob.core.windows.net", "accountKind": "StorageV2"}
    databricks = services["ls_databricks"]["typeProperties"]
    assert services["ls_databricks"]["type"] == "AzureDatabricks"
    assert databricks["authentication"] == "MSI"
    assert databricks["workspaceResourceId"] == ENVIRONMENT["databricksWorkspaceResourceId"][0]
    assert databricks["domain"] == ENVIRONMENT["databricksWorkspaceUrl"][0]
    assert services["ls_keyvault"] == {**services["ls_keyvault"], "type": "AzureKeyVault",
                                       "typeProperties": {"baseUrl": ENVIRONMENT["keyVaultUrl"][0]}}
    assert not any("connectVia" in props for props in services.values())


def test_datasets_take_the_run_specific_parts_as_parameters(git):
    datasets = {name: item["properties"] for name, item in by_name(git["dataset"]).items()}
    landing, raw = datasets["ds_landing_fasta"], datasets["ds_raw_fasta"]
    assert landing["type"] == raw["type"] == "Binary"
    assert landing["linkedServiceName"]["referenceName"] == "ls_landing_blob"
    assert raw["linkedServiceName"]["referenceName"] == "ls_adls"
    assert landing["parameters"] == {"container": {"type": "String", "defaultValue": "landing"},
                                     "folder": {"type": "String"}}
    assert raw["parameters"] == {"fileSystem": {"type": "String", "defaultValue": "lake"},
                                 "folder": {"type": "String"}}
    assert landing["typeProperties"]["location"] == {
        "type": "AzureBlobStorageLocation", "folderPath": {"value": "@dataset().folder", "type": "Expression"},
        "container": {"value": "@dataset().container", "type": "Expression"}}
    assert raw["typeProperties"]["location"] == {
        "type": "AzureBlobFSLocation", "folderPath": {"value": "@dataset().folder", "type": "Expression"},
        "fileSystem": {"value": "@dataset().fileSystem", "type": "Expression"}}


# ------------------------------------------------------------------------------------------- ARM template
def test_every_arm_parameter_is_declared_and_every_entry_used(arm):
    template, parameters = arm
    text = json.dumps(template)
    used = set(re.findall(r"parameters\('((?:[^']|'')*)'\)", text))
    declared = set(template["parameters"])
    assert used <= declared, used - declared
    assert declared == {"factoryName", *ENVIRONMENT}
    resources_text = json.dumps(template["resources"])
    assert {name for name in ENVIRONMENT if f"parameters('{name}')" not in resources_text} == set()
    assert set(parameters["parameters"]) == declared
    assert re.findall(r"variables\('(\w+)'\)", text) and set(re.findall(r"variables\('(\w+)'\)", text)) <= set(
        template["variables"])


def test_arm_parameters_are_typed_with_example_defaults(arm):
    template, parameters = arm
    assert template["$schema"] == "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#"
    assert parameters["$schema"].endswith("/deploymentParameters.json#")
    assert template["contentVersion"] == parameters["contentVersion"] == "1.0.0.0"
    assert template["parameters"]["factoryName"]["type"] == "string"
    assert parameters["parameters"]["factoryName"] == {"value": "coding-potential-adf"}
    for name, (default, description) in ENVIRONMENT.items():
        spec = template["parameters"][name]
        assert spec == {"type": "string", "defaultValue": default, "metadata": {"description": description}}
        assert parameters["parameters"][name] == {"value": default}


def test_arm_resources_are_ordered_and_named_by_the_factory(arm):
    resources_ = arm[0]["resources"]
    kinds = [resource["type"].rsplit("/", 1)[1] for resource in resources_]
    assert kinds == sorted(kinds, key=list(FOLDERS.values()).index)
    for kind in set(kinds):
        names = [resource["name"] for resource in resources_ if resource["type"].endswith("/" + kind)]
        assert names == sorted(names)
    for resource in resources_:
        assert re.fullmatch(r"\[concat\(parameters\('factoryName'\), '/[\w-]+'\)\]", resource["name"])
        assert resource["type"].startswith("Microsoft.DataFactory/factories/")
        assert resource["apiVersion"] == "2018-06-01"
        assert list(resource) == ["name", "type", "apiVersion", "properties", "dependsOn"]


def test_depends_on_names_exactly_the_referenced_resources(arm):
    resources_ = arm[0]["resources"]
    present = {(r["type"].rsplit("/", 1)[1], re.search(r"'/([\w-]+)'\)\]$", r["name"]).group(1)) for r in resources_}
    depends = {}
    for resource in resources_:
        child = re.search(r"'/([\w-]+)'\)\]$", resource["name"]).group(1)
        for entry in resource["dependsOn"]:
            match = re.fullmatch(r"\[concat\(variables\('factoryId'\), '/(\w+)/([\w-]+)'\)\]", entry)
            assert match, entry
            assert (match.group(1), match.group(2)) in present, entry
            depends.setdefault(child, set()).add(match.groups())
    assert depends[SCORING] == {("datasets", "ds_landing_fasta"), ("datasets", "ds_raw_fasta"),
                                ("linkedServices", "ls_databricks")}
    assert depends["ds_landing_fasta"] == {("linkedServices", "ls_landing_blob")}
    assert depends["ds_raw_fasta"] == {("linkedServices", "ls_adls")}
    for trigger in ("tr_scoring_daily", "tr_scoring_backfill", "tr_scoring_blob"):
        assert depends[trigger] == {("pipelines", SCORING)}


def test_a_reference_to_a_missing_resource_is_an_error(arm_resources):
    broken = copy.deepcopy(dict(arm_resources))
    broken["dataset"] = [item for item in broken["dataset"] if item["name"] != "ds_raw_fasta"]
    with pytest.raises(ValueError, match="datasets/ds_raw_fasta"):
        arm_template(broken)
    with pytest.raises(ValueError, match="unknown resource folders"):
        arm_template({**arm_resources, "pipelines": []})


def test_arm_and_git_forms_agree(git, arm):
    """Evaluated with the example defaults, every ARM string is the Git form's value (escapes undone)."""
    defaults = {**{name: spec["defaultValue"] for name, spec in arm[0]["parameters"].items()
                   if "defaultValue" in spec}}
    arm_by_name = {re.search(r"'/([\w-]+)'\)\]$", r["name"]).group(1): r["properties"] for r in arm[0]["resources"]}
    git_by_name = {item["name"]: item["properties"] for folder, items in git.items() if folder != "factory"
                   for item in items}
    git_by_name["default"] = git["factory"][0]["properties"]["globalParameters"]
    assert set(arm_by_name) == set(git_by_name)

    def same(arm_node: Any, git_node: Any, path: str) -> None:
        if isinstance(arm_node, dict):
            assert isinstance(git_node, dict) and list(arm_node) == list(git_node), path
            for key in arm_node:
                same(arm_node[key], git_node[key], f"{path}.{key}")
        elif isinstance(arm_node, list):
            assert isinstance(git_node, list) and len(arm_node) == len(git_node), path
            for index, (a, g) in enumerate(zip(arm_node, git_node, strict=True)):
                same(a, g, f"{path}[{index}]")
        elif isinstance(arm_node, str):
            assert arm_evaluate(arm_node, defaults) == git_node, path
        else:
            assert arm_node == git_node, path

    for name, properties in arm_by_name.items():
        same(properties, git_by_name[name], name)


def test_literal_brackets_are_escaped_for_arm(arm):
    pipeline = next(r for r in arm[0]["resources"] if r["type"].endswith("/pipelines"))
    assert pipeline["properties"]["activities"][1]["typeProperties"]["parameters"] == ["--args", "[[1, 2]"]
    assert factory.escape_arm(["[x] y", "@concat('[', 'a')", "[parameters('x')]", "[[a]", "[]"]) == [
        "[x] y", "@concat('[', 'a')", "[parameters('x')]", "[[[a]", "[[]"]


def test_the_git_form_holds_no_arm_expression(git):
    own = {folder: items for folder, items in git.items() if folder != "pipeline"}  # pipelines are given
    for path, value in walk(own):
        if isinstance(value, str) and path[-1:] != ("<key>",):
            assert not is_arm_expression(value), path


# -------------------------------------------------------------------------------------------- triggers
def test_triggers_pass_exactly_the_date_and_window(git):
    triggers = {name: item["properties"] for name, item in by_name(git["trigger"]).items()}
    assert sorted(triggers) == ["tr_scoring_backfill", "tr_scoring_blob", "tr_scoring_daily"]
    daily, backfill, blob = triggers["tr_scoring_daily"], triggers["tr_scoring_backfill"], triggers["tr_scoring_blob"]
    reference = {"referenceName": SCORING, "type": "PipelineReference"}
    assert daily["pipelines"] == [{"pipelineReference": reference, "parameters": {
        "date": "@formatDateTime(trigger().scheduledTime, 'yyyy-MM-dd')"}}]
    assert backfill["pipeline"] == {"pipelineReference": reference, "parameters": {
        "date": "@formatDateTime(trigger().outputs.windowStartTime, 'yyyy-MM-dd')",
        "windowStart": "@trigger().outputs.windowStartTime", "windowEnd": "@trigger().outputs.windowEndTime"}}
    assert "pipelines" not in backfill  # a tumbling window trigger starts exactly one pipeline
    assert blob["pipelines"] == [{"pipelineReference": reference, "parameters": {
        "date": "@formatDateTime(split(triggerBody().folderPath, '/')[1], 'yyyy-MM-dd')"}}]
    declared = stub_pipeline()["properties"]["parameters"]
    for run in [*daily["pipelines"], backfill["pipeline"], *blob["pipelines"]]:
        assert set(run["parameters"]) <= set(declared)


def test_the_blob_trigger_date_is_the_first_folder_below_the_container():
    """folderPath is "CONTAINER/FOLDER..." (its first segment is the container): the date is segment 1, and
    a folder that is not a date, or a blob at the container's root, fails the trigger run before any write."""
    from tests.adf_runtime import Scope, evaluate

    class TriggerScope(Scope):
        def __init__(self, folder_path: str) -> None:
            self.folder_path = folder_path

        def call(self, name, args):
            return {"folderPath": self.folder_path} if name == "triggerBody" else Scope.call(self, name, args)

    expression = factory.BLOB_PARAMETERS["date"].removeprefix("@")
    for folder_path in ("landing/2026-01-02", "landing/2026-01-02/sub/folder"):
        assert evaluate(expression, TriggerScope(folder_path)) == "2026-01-02"
    for folder_path in ("landing/misc", "landing/2026-13-40", "landing"):
        with pytest.raises((ValueError, IndexError)):
            evaluate(expression, TriggerScope(folder_path))


def test_the_schedule_mirrors_the_daily_dag(git):
    triggers = {name: item["properties"] for name, item in by_name(git["trigger"]).items()}
    daily = triggers["tr_scoring_daily"]
    assert daily["type"] == "ScheduleTrigger" and daily["runtimeState"] == "Started"
    assert daily["typeProperties"]["recurrence"] == {
        "frequency": "Day", "interval": 1, "startTime": "2026-01-01T00:00:00Z", "timeZone": "UTC",
        "schedule": {"minutes": [0], "hours": [0]}}


def test_the_backfill_trigger_is_daily_windows_created_stopped(git):
    backfill = by_name(git["trigger"])["tr_scoring_backfill"]["properties"]
    assert backfill["type"] == "TumblingWindowTrigger" and backfill["runtimeState"] == "Stopped"
    props = backfill["typeProperties"]
    assert (props["frequency"], props["interval"], props["startTime"]) == ("Hour", 24, "2026-01-01T00:00:00Z")
    assert props["maxConcurrency"] == 1  # the scoring pipeline runs one at a time: more would only queue
    assert props["retryPolicy"] == {"count": 1, "intervalInSeconds": 60}


def test_the_blob_trigger_watches_the_landing_container(git, arm):
    blob = by_name(git["trigger"])["tr_scoring_blob"]["properties"]
    assert blob["type"] == "BlobEventsTrigger" and blob["runtimeState"] == "Started"
    assert blob["typeProperties"] == {
        "blobPathBeginsWith": "/landing/blobs/", "ignoreEmptyBlobs": True,
        "scope": ENVIRONMENT["landingStorageAccountResourceId"][0], "events": ["Microsoft.Storage.BlobCreated"]}
    arm_blob = next(r for r in arm[0]["resources"] if r["name"].endswith("/tr_scoring_blob')]"))
    assert arm_blob["properties"]["typeProperties"]["blobPathBeginsWith"] == (
        "[concat('/', parameters('landingContainer'), '/blobs/')]")
    assert arm_blob["properties"]["typeProperties"]["scope"] == "[parameters('landingStorageAccountResourceId')]"


def test_global_parameters_are_the_azure_ml_entries(git, arm):
    assert git["factory"][0]["properties"]["globalParameters"] == {
        **{name: {"type": "String", "value": ENVIRONMENT[name][0]} for name in GLOBAL_PARAMETERS},
        "lakeRoot": {"type": "String", "value": LAKE}}
    resource = arm[0]["resources"][0]
    assert resource["type"] == "Microsoft.DataFactory/factories/globalParameters"
    assert resource["name"] == "[concat(parameters('factoryName'), '/default')]"
    assert resource["properties"] == {
        **{name: {"type": "String", "value": f"[parameters('{name}')]"} for name in GLOBAL_PARAMETERS},
        "lakeRoot": {"type": "String", "value": factory.lake_root(arm_values())}}
    assert arm_evaluate(resource["properties"]["lakeRoot"]["value"], git_values()) == LAKE


# ------------------------------------------------------------------------------------------------ files
def test_write_factory_is_deterministic_and_removes_stale_files(tmp_path, git, arm):
    out = tmp_path / "adf"
    first = write_factory(out, git, arm)
    snapshot = {path: path.read_bytes() for path in first}
    (out / "pipeline" / "pl_gone.json").write_text("{}\n")
    (out / "trigger" / "tr_gone.json").write_text("{}\n")
    (out / "pipeline" / "README.md").write_text("kept: not a resource file\n")
    second = write_factory(out, git, arm)
    assert second == first == sorted(first)
    assert {path: path.read_bytes() for path in second} == snapshot
    assert not (out / "pipeline" / "pl_gone.json").exists() and not (out / "trigger" / "tr_gone.json").exists()
    assert (out / "pipeline" / "README.md").exists()
    assert sorted(str(path.relative_to(out)) for path in first) == sorted([
        "ARMTemplateForFactory.json", "ARMTemplateParametersForFactory.json", "factory/coding-potential-adf.json",
        "dataset/ds_landing_fasta.json", "dataset/ds_raw_fasta.json", "dataset/ds_run_file.json",
        "linkedService/ls_adls.json", "linkedService/ls_databricks.json", "linkedService/ls_keyvault.json",
        "linkedService/ls_landing_blob.json", f"pipeline/{SCORING}.json",
        "trigger/tr_scoring_backfill.json", "trigger/tr_scoring_blob.json", "trigger/tr_scoring_daily.json"])
    assert not list(out.rglob("*.tmp"))


def test_written_files_are_adf_git_json(tmp_path, git, arm):
    out = tmp_path / "adf"
    write_factory(out, git, arm)
    text = (out / "linkedService" / "ls_adls.json").read_text(encoding="utf-8")
    assert text.startswith('{\n    "name": "ls_adls",\n    "properties": {\n')
    assert text.endswith("}\n") and "\r" not in text
    assert json.loads(text) == by_name(git["linkedService"])["ls_adls"]
    assert json.loads((out / "ARMTemplateForFactory.json").read_text(encoding="utf-8")) == arm[0]


def test_a_resource_that_disappears_is_removed(tmp_path, git, arm):
    out = tmp_path / "adf"
    write_factory(out, git, arm)
    fewer = {**git, "trigger": [item for item in git["trigger"] if item["name"] != "tr_scoring_blob"]}
    written = write_factory(out, fewer, arm)
    assert not (out / "trigger" / "tr_scoring_blob.json").exists()
    assert out / "trigger" / "tr_scoring_daily.json" in written


def test_an_interrupted_write_leaves_the_old_file(tmp_path, git, arm, monkeypatch):
    out = tmp_path / "adf"
    write_factory(out, git, arm)
    target = out / "ARMTemplateForFactory.json"
    before = target.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(factory.os, "replace", fail)
    changed = (copy.deepcopy(arm[0]), arm[1])
    changed[0]["contentVersion"] = "2.0.0.0"
    with pytest.raises(OSError, match="disk full"):
        write_factory(out, git, changed)
    assert target.read_bytes() == before
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "x.json", None])
def test_bad_names_write_nothing(tmp_path, git, arm, name):
    bad = {**git, "dataset": [*git["dataset"], {"name": name, "properties": {}}]}
    with pytest.raises(ValueError):
        write_factory(tmp_path / "adf", bad, arm)
    assert not (tmp_path / "adf").exists()


def test_duplicate_names_are_refused(git, arm_resources):
    with pytest.raises(ValueError, match="more than one"):
        arm_template({**arm_resources, "dataset": arm_resources["dataset"] * 2})


# ------------------------------------------------------------------------------- against the ADF schema
@pytest.fixture(scope="module")
def schema():
    from adf_export import schema as module

    try:
        module.schema_dir()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    return module


def test_every_resource_validates_in_both_forms(schema, git, arm_resources, arm):
    for values in (git, arm_resources):
        for kind in schema.KINDS:
            for resource in values[kind]:
                assert schema.validate_resource(kind, resource) == [], (kind, resource["name"])
    assert schema.validate_arm_template(arm[0]) == []


@pytest.fixture(scope="module")
def real_pipelines() -> list[dict]:
    from adf_export import generate

    return generate.pipelines()


def test_the_generated_pipelines_fit_the_factory(schema, real_pipelines):
    """With generate.py's pipelines: references resolve, the triggers' parameters are declared, the
    global parameters the pipelines read are published, and the whole template validates."""
    from adf_export.generate import PIPELINES

    scoring = PIPELINES["coding_potential_scoring"]
    template, _ = arm_template(factory_resources(arm_values(), real_pipelines, scoring))
    assert schema.validate_arm_template(template) == []
    git_form = factory_resources(git_values(), real_pipelines, scoring)
    declared = by_name(git_form["pipeline"])[scoring]["properties"]["parameters"]
    for trigger in git_form["trigger"]:
        runs = trigger["properties"].get("pipelines") or [trigger["properties"]["pipeline"]]
        for run in runs:
            assert set(run["parameters"]) <= set(declared), trigger["name"]
    read = set(re.findall(r"pipeline\(\)\.globalParameters\.(\w+)", json.dumps(real_pipelines)))
    assert read == {*GLOBAL_PARAMETERS, "lakeRoot"}
    # every ExecutePipeline passes only declared parameters, and all of those without a default
    declared_by = {item["name"]: item["properties"]["parameters"] for item in real_pipelines}
    calls = [a for item in real_pipelines for a in item["properties"]["activities"] if a["type"] == "ExecutePipeline"]
    assert len(calls) == 4
    for call in calls:
        child = declared_by[call["typeProperties"]["pipeline"]["referenceName"]]
        given = set(call["typeProperties"]["parameters"])
        assert given <= set(child), call["name"]
        assert {name for name, spec in child.items() if "defaultValue" not in spec} <= given, call["name"]
