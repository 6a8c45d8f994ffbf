"""Offline validation of Azure Data Factory resources against Microsoft's ARM JSON schema (2018-06-01).

The schema (``Microsoft.DataFactory.json`` and ``common-definitions.json``, Draft-04) lives in the shared
reference folder (:func:`schema_dir`). Validated as it stands, it is loose; this module tightens it:

- Polymorphic objects (an activity, a dataset, a linked service, a trigger, a dataset location, a copy
  source or sink, store settings, secrets...) are a ``oneOf`` of branches told apart by a discriminator
  (``type``, sometimes ``authenticationType``). Plain ``oneOf`` reports a wrong resource only as "not
  valid under any of the given schemas", on the whole object. Here the discriminator picks the one branch
  to validate against, so errors name the missing or wrong property; an unknown discriminator value is an
  error of its own, with the closest known name.
- Nearly every property is ``oneOf: [definition, ARM expression]``. A value that is an ARM expression
  (``"[...]"``) is checked as one; any other value is validated against the definition directly.

With ``strict=True`` (the default) three checks the schema does not make are added (``x-*`` keywords
written into an annotated copy of the schema, see :func:`_prepare`):

- ``x-closed``: no definition sets ``additionalProperties: false``, so the schema accepts any misspelled
  property. Every object whose definition lists its properties is closed (a polymorphic branch also
  allows its base's properties; ADF's read-only ``runtimeState``/``lastPublishTime`` are allowed).
- ``x-typed``: about 1,300 properties have no schema at all, only a description such as ``"Type: integer
  (or Expression with resultType integer), minimum: 0"``. The value must be of that JSON type (or an ARM
  expression, or an ``{"type": "Expression"|"SecureString"|"AzureKeyVaultSecret", ...}`` object); TimeSpan
  patterns and minimums stated there are checked too.
- ``x-required``: most dataset types leave ``typeProperties`` optional although its definition has
  required keys (a ``Binary`` dataset without ``typeProperties.location`` passes the schema); it is required.

On top of the schema, :func:`validate_resource` applies rules the schema states only in prose or not at all
(a Databricks activity's linked service, a Web activity's body and MSI resource, unique activity names and
``dependsOn`` targets without cycles, a parameter's default against its type, ...): see ``_RULES``.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError, validators
from referencing import Registry
from referencing.jsonschema import DRAFT4

from coding_potential.config import shared_dir

SCHEMA_ID = "https://schema.management.azure.com/schemas/2018-06-01/Microsoft.DataFactory.json"
COMMON_ID = "https://schema.management.azure.com/schemas/common/definitions.json"
EXPRESSION_REF = f"{COMMON_ID}#/definitions/expression"
SCHEMA_FILES = {SCHEMA_ID: "Microsoft.DataFactory.json", COMMON_ID: "common-definitions.json"}
API_VERSION = "2018-06-01"
DEFAULT_FACTORY = "[parameters('factoryName')]"

#: Git-layout folder name -> the schema's entry point (``resourceDefinitions``).
KINDS = {
    "pipeline": "factories_pipelines",
    "dataset": "factories_datasets",
    "linkedService": "factories_linkedservices",
    "trigger": "factories_triggers",
}
#: Git-layout folder name -> ARM resource type, spelled as the schema's ``type`` enum spells it.
RESOURCE_TYPES = {
    "pipeline": "Microsoft.DataFactory/factories/pipelines",
    "dataset": "Microsoft.DataFactory/factories/datasets",
    "linkedService": "Microsoft.DataFactory/factories/linkedservices",
    "trigger": "Microsoft.DataFactory/factories/triggers",
}
#: Properties every ARM resource may carry besides its type's own (closed-world check of the envelope).
ARM_RESOURCE_KEYS = frozenset({"condition", "comments", "copy", "dependsOn"})
#: Read-only properties ADF writes into its Git files that the ARM schema leaves out.
READ_ONLY_PROPERTIES = {"Trigger": frozenset({"runtimeState"}), "Pipeline": frozenset({"lastPublishTime"})}
#: Top-level keys of a Git-layout resource file.
GIT_RESOURCE_KEYS = frozenset({"name", "properties", "type", "etag"})
ARM_PARAMETER_TYPES = frozenset({"string", "securestring", "int", "bool", "object", "secureobject", "array"})

Error = tuple[list[Any], str]  # (JSON path parts, reason)


# --------------------------------------------------------------------------------------------------------------
# Schema loading


def schema_dir() -> Path:
    """Folder of the ADF JSON schema: ``<shared>/reference/schemas/adf``.

    Returns
    -------
    Path
        The folder holding ``Microsoft.DataFactory.json`` and ``common-definitions.json``.

    Raises
    ------
    FileNotFoundError
        When either file is missing, naming the folder and ``CODING_POTENTIAL_SHARED``.
    """
    folder = shared_dir() / "reference" / "schemas" / "adf"
    missing = [name for name in SCHEMA_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"ADF JSON schema not found: {folder} lacks {', '.join(missing)} "
            "(set CODING_POTENTIAL_SHARED to the shared reference folder)"
        )
    return folder


@lru_cache(maxsize=1)
def _registry() -> Registry:
    """Both schema documents, the factory one prepared for strict checks, under their ids."""
    folder = schema_dir()
    documents = {uri: json.loads((folder / name).read_text(encoding="utf-8")) for uri, name in SCHEMA_FILES.items()}
    documents[SCHEMA_ID] = _prepare(documents[SCHEMA_ID])
    return Registry().with_resources((uri, DRAFT4.create_resource(doc)) for uri, doc in documents.items())


def _prepare(schema: dict) -> dict:
    """A copy of the factory schema annotated with ``x-union`` and ``x-closed`` (see :func:`_annotate`)."""
    schema = copy.deepcopy(schema)
    for name, definition in schema["definitions"].items():
        _annotate(definition, name)
    for name, definition in schema["resourceDefinitions"].items():
        allowed = set(definition.get("properties", {})) | ARM_RESOURCE_KEYS
        definition["x-closed"] = {"name": name, "allowed": sorted(allowed)}
        _annotate(definition, name)
    _require_type_properties(schema)
    for name, extra in READ_ONLY_PROPERTIES.items():
        definition = schema["definitions"][name]
        for node in [definition, *definition.get("oneOf", [])]:
            if "x-closed" in node:
                node["x-closed"]["allowed"] = sorted({*node["x-closed"]["allowed"], *extra})
    return schema


def _annotate(node: Any, name: str) -> None:
    """Mark discriminated unions (``x-union``) and objects whose properties are all listed (``x-closed``)."""
    if isinstance(node, list):
        for item in node:
            _annotate(item, name)
        return
    if not isinstance(node, dict):
        return
    union = _union_info(node, name)
    if union:
        node["x-union"] = union
        for value, index in union["branches"].items():
            branch = node["oneOf"][index]
            allowed = set(node.get("properties", {})) | set(branch["properties"])
            branch["x-closed"] = {"name": f"{name} {value!r}", "allowed": sorted(allowed)}
    elif "x-closed" not in node and node.get("properties") and node.get("additionalProperties", {}) == {}:
        node["x-closed"] = {"name": name, "allowed": sorted(node["properties"])}
    for key, spec in node.get("properties", {}).items() if isinstance(node.get("properties"), dict) else []:
        described = isinstance(spec, dict) and set(spec) == {"description"} and key not in UNTYPED_PROPERTIES
        typed = _typed_info(spec["description"]) if described else None
        if typed:
            spec["x-typed"] = typed
    for key, child in node.items():
        if key not in ("x-union", "x-closed", "x-typed", "x-required"):
            _annotate(child, name)


def _require_type_properties(schema: dict) -> None:
    """``x-required``: a union branch whose ``typeProperties`` definition has required keys needs it."""
    definitions = schema["definitions"]
    for definition in definitions.values():
        for branch in definition.get("oneOf", []) if "x-union" in definition else []:
            spec = branch["properties"].get("typeProperties", {})
            refs = [b["$ref"] for b in spec.get("oneOf", []) if b.get("$ref", "").startswith("#/definitions/")]
            target = refs[0].rsplit("/", 1)[-1] if refs else None
            if target and definitions[target].get("required") and "typeProperties" not in branch.get("required", []):
                branch["x-required"] = {"key": "typeProperties", "definition": target,
                                        "requires": definitions[target]["required"]}


_TYPED = re.compile(
    r"Type: (string|integer|int|boolean|bool|double|number|object|array|array of objects|array of strings)(?:\(\w+\))? "
    r"\(or Expression with resultType [^)]*\)(?:, minimum: (\d+))?",
    re.IGNORECASE,
)
#: The one pattern the schema's descriptions give (a TimeSpan, ``d.hh:mm:ss``).
TIMESPAN = r"((\d+)\.)?(\d\d):(60|([0-5][0-9])):(60|([0-5][0-9]))"
#: Properties described as strings that ADF also takes as JSON (a Web activity's ``body``).
UNTYPED_PROPERTIES = frozenset({"body"})


def _typed_info(description: str) -> dict | None:
    """``{"type", "minimum", "pattern"}`` from a ``"Type: T (or Expression with resultType T)"`` description."""
    match = _TYPED.search(description)
    if not match:
        return None
    kind, minimum = match.groups()
    pattern = TIMESPAN if f"pattern: {TIMESPAN}" in description else None
    return {"type": kind.lower(), "minimum": int(minimum) if minimum else None, "pattern": pattern}


def _union_info(node: dict, name: str) -> dict | None:
    """``{"name", "discriminator", "branches": {value: index}}`` when ``oneOf`` is a discriminated union."""
    branches = node.get("oneOf")
    if not branches or not all(isinstance(b, dict) and "properties" in b for b in branches):
        return None
    for key in branches[0]["properties"]:
        values = [b["properties"].get(key, {}).get("enum") for b in branches]
        if all(isinstance(v, list) and len(v) == 1 for v in values):
            return {"name": name, "discriminator": key, "branches": {v[0]: i for i, v in enumerate(values)}}
    return None


# --------------------------------------------------------------------------------------------------------------
# The validator: Draft-04 with a discriminating oneOf and a closed-world keyword


def is_arm_expression(value: Any) -> bool:
    """Whether ARM evaluates ``value``: a string that starts with ``[`` (not the ``[[`` escape) and ends with ``]``."""
    return isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


def _one_of(validator: Any, branches: list, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """``oneOf`` that validates against the one branch the instance selects, where it can tell which."""
    union = schema.get("x-union")
    if union and isinstance(instance, dict):
        yield from _union_errors(validator, union, branches, instance)
    elif len(branches) == 2 and branches[1] == {"$ref": EXPRESSION_REF}:
        index = 1 if is_arm_expression(instance) else 0
        yield from validator.descend(instance, branches[index], schema_path=index)
    else:
        yield from Draft4Validator.VALIDATORS["oneOf"](validator, branches, instance, schema)


def _union_errors(validator: Any, union: dict, branches: list, instance: dict) -> Iterator[ValidationError]:
    """Errors of ``instance`` against the union branch its discriminator names."""
    key, known = union["discriminator"], union["branches"]
    value = instance.get(key)
    if isinstance(value, str) and value in known:
        yield from validator.descend(instance, branches[known[value]], schema_path=known[value])
    elif key not in instance:
        yield ValidationError(f"{key!r} is a required property (it selects the {union['name']} definition)")
    else:
        hint = _did_you_mean(value, known) or f"the schema defines {len(known)}: {_short_list(sorted(known))}"
        yield ValidationError(f"unknown {union['name']} {key} {value!r}; {hint}", path=[key], instance=value)


def _closed(validator: Any, closed: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """``x-closed``: every key of an object must be one its definition lists."""
    if not isinstance(instance, dict):
        return
    allowed = closed["allowed"]
    for key in instance:
        if key not in allowed:
            hint = _did_you_mean(key, allowed) or f"it defines {_short_list(allowed)}"
            message = f"unknown property {key!r}, not in the schema's {closed['name']} definition; {hint}"
            yield ValidationError(message, path=[key], instance=instance[key])


def _strict_required(validator: Any, spec: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """``x-required``: ``typeProperties`` the schema leaves optional although its definition requires keys."""
    if isinstance(instance, dict) and spec["key"] not in instance:
        needs = ", ".join(repr(key) for key in spec["requires"])
        yield ValidationError(f"{spec['key']!r} is a required property (its {spec['definition']} requires {needs})")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "int": (int,), "boolean": (bool,), "bool": (bool,),
    "double": (int, float), "number": (int, float), "object": (dict,),
    "array": (list,), "array of objects": (list,), "array of strings": (list,),
}
#: Objects that stand for a value in ADF: an expression, or a secret.
VALUE_OBJECT_TYPES = frozenset({"Expression", "SecureString", "AzureKeyVaultSecret"})


def _typed(validator: Any, spec: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """``x-typed``: a value the schema describes only in prose (``Type: integer (or Expression ...)``)."""
    if is_arm_expression(instance) or (isinstance(instance, dict) and instance.get("type") in VALUE_OBJECT_TYPES):
        return
    expected = _JSON_TYPES[spec["type"]]
    if not isinstance(instance, expected) or (isinstance(instance, bool) and bool not in expected):
        yield ValidationError(f"{instance!r} is not of type {spec['type']!r} (nor an Expression object)")
    elif spec["minimum"] is not None and isinstance(instance, int | float) and instance < spec["minimum"]:
        yield ValidationError(f"{instance!r} is less than the minimum of {spec['minimum']}")
    elif (
        spec["pattern"]
        and isinstance(instance, str)
        and not instance.startswith("@")
        and not re.fullmatch(spec["pattern"], instance)
    ):
        yield ValidationError(f"{instance!r} does not match {spec['pattern']!r}")


def _did_you_mean(word: Any, choices: Any) -> str:
    """``"did you mean 'x'?"`` for the closest of ``choices`` (case-insensitive), or ``""``."""
    if not isinstance(word, str):
        return ""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"did you mean {by_lower[close[0]]!r}?" if close else ""


def _short_list(items: list[str], limit: int = 12) -> str:
    """``items`` joined with commas, cut after ``limit``."""
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _is_date_time(value: Any) -> bool:
    """ISO 8601 date-time (ADF allows one without an offset, with ``timeZone`` beside it)."""
    if not isinstance(value, str) or is_arm_expression(value):
        return True
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(_is_date_time)
_LooseValidator = validators.extend(Draft4Validator, {"oneOf": _one_of})
_StrictValidator = validators.extend(
    Draft4Validator, {"oneOf": _one_of, "x-closed": _closed, "x-required": _strict_required, "x-typed": _typed}
)


@cache
def _definition_validator(resource_definition: str, strict: bool) -> Any:
    """A validator of the ARM resource ``resourceDefinitions.<resource_definition>`` (cached)."""
    schema = {
        "allOf": [
            {"$ref": f"{COMMON_ID}#/definitions/ARMResourceBase"},
            {"$ref": f"{SCHEMA_ID}#/resourceDefinitions/{resource_definition}"},
        ]
    }
    cls = _StrictValidator if strict else _LooseValidator
    return cls(schema, registry=_registry(), format_checker=_FORMATS)


def validator(kind: str, strict: bool = True) -> Any:
    """The (cached) validator of one kind's ARM resource envelope.

    Parameters
    ----------
    kind : str
        A Git-layout folder name, a key of :data:`KINDS`.
    strict : bool
        Close every object whose definition lists its properties (unknown keys are errors).

    Returns
    -------
    jsonschema.protocols.Validator
        A Draft-04 validator with the discriminating ``oneOf`` (and ``x-closed`` when strict).
    """
    return _definition_validator(KINDS[_check_kind(kind)], strict)


def _check_kind(kind: str) -> str:
    """``kind`` itself, or ValueError when it is not a key of :data:`KINDS`."""
    if kind not in KINDS:
        raise ValueError(f"unknown ADF resource kind {kind!r}; expected one of {sorted(KINDS)}")
    return kind


# --------------------------------------------------------------------------------------------------------------
# ARM envelope


def arm_envelope(kind: str, resource: Mapping[str, Any], factory: str = DEFAULT_FACTORY) -> dict:
    """The ARM resource form of a Git-layout resource (``{"name": ..., "properties": {...}}``).

    Parameters
    ----------
    kind : str
        A key of :data:`KINDS`.
    resource : Mapping
        The Git-layout resource.
    factory : str
        The factory's name, or an ARM expression giving it (default ``[parameters('factoryName')]``).

    Returns
    -------
    dict
        ``name`` (``factory/name``, as a ``concat`` expression when ``factory`` is one), ``type``,
        ``apiVersion`` and ``properties``.
    """
    return {
        "name": arm_name(factory, resource["name"]),
        "type": RESOURCE_TYPES[_check_kind(kind)],
        "apiVersion": API_VERSION,
        "properties": resource["properties"],
    }


def arm_name(factory: str, name: str) -> str:
    """A child resource's ARM name: ``factory/name``, or ``[concat(<factory expr>, '/name')]``."""
    if is_arm_expression(factory):
        literal = "/" + name.replace("'", "''")
        return f"[concat({factory[1:-1]}, '{literal}')]"
    return f"{factory}/{name}"


_CONCAT_NAME = re.compile(r"^\[concat\(.+,\s*'/((?:[^']|'')*)'\)\]$")


def child_name(arm_resource_name: Any) -> Any:
    """The last segment of an ARM child name (literal ``a/b`` or ``[concat(..., '/b')]``), else the name."""
    if not isinstance(arm_resource_name, str):
        return arm_resource_name
    match = _CONCAT_NAME.match(arm_resource_name)
    if match:
        return match.group(1).replace("''", "'")
    if is_arm_expression(arm_resource_name):
        return arm_resource_name
    return arm_resource_name.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------------------------
# Validation entry points


def validate_resource(kind: str, resource: Any, strict: bool = True) -> list[str]:
    """All errors of one Git-layout resource: its ARM envelope against the schema, plus the extra rules.

    Parameters
    ----------
    kind : str
        A key of :data:`KINDS` (the Git-layout folder name).
    resource : Any
        The resource, ``{"name": ..., "properties": {...}}`` as in the factory's Git repository.
    strict : bool
        Also report properties the schema's definitions do not list (see :func:`validator`).

    Returns
    -------
    list of str
        ``"<kind> '<name>': <JSON path>: <reason>"`` messages; empty when the resource is valid.
    """
    _check_kind(kind)
    name = resource.get("name") if isinstance(resource, dict) else None
    label = f"{kind} {name!r}"
    shape = _git_shape_errors(kind, resource, strict)
    if shape:
        return _messages(label, shape)
    # The nested-child form (bare name) lets the schema's name pattern check the resource's own name.
    envelope = {**arm_envelope(kind, resource), "name": name}
    errors = _schema_errors(validator(kind, strict), envelope)
    errors += [(["properties", *path], reason) for path, reason in _RULES[kind](resource["properties"])]
    return _messages(label, errors)


def _git_shape_errors(kind: str, resource: Any, strict: bool) -> list[Error]:
    """Errors of the Git-layout file's own keys (``name``, ``properties``, an optional ``type``)."""
    if not isinstance(resource, dict):
        return [([], f"a resource is a JSON object, not {type(resource).__name__}")]
    errors: list[Error] = [([key], f"{key!r} is a required property") for key in ("name", "properties")
                           if key not in resource]
    if "properties" in resource and not isinstance(resource["properties"], dict):
        errors.append((["properties"], "'properties' must be a JSON object"))
    declared = resource.get("type", RESOURCE_TYPES[kind])
    if not isinstance(declared, str) or declared.lower() != RESOURCE_TYPES[kind].lower():
        errors.append((["type"], f"{declared!r} is not the {kind} resource type {RESOURCE_TYPES[kind]!r}"))
    if strict:
        errors += [([key], f"unknown top-level key {key!r} in a Git-layout resource")
                   for key in resource if key not in GIT_RESOURCE_KEYS]
    return errors


def validate_arm_template(template: Any, strict: bool = True) -> list[str]:
    """All errors of an ARM template of ADF resources.

    Every resource is validated by its ``type`` (any ``Microsoft.DataFactory/factories...`` type the schema
    defines; pipelines, datasets, linked services and triggers also get :func:`validate_resource`'s extra
    rules). The template must declare ``parameters.factoryName`` and every ``parameters('x')`` /
    ``variables('x')`` its expressions use.

    Parameters
    ----------
    template : Any
        The parsed ARM template.
    strict : bool
        Also report properties the schema's definitions do not list.

    Returns
    -------
    list of str
        ``"<label>: <JSON path>: <reason>"`` messages; empty when the template is valid.
    """
    if not isinstance(template, dict):
        return [f"template: $: an ARM template is a JSON object, not {type(template).__name__}"]
    messages = _messages("template", _template_errors(template))
    resources = template.get("resources")
    for index, resource in enumerate(resources if isinstance(resources, list) else []):
        messages += _arm_resource_messages(index, resource, strict)
    return messages


def _template_errors(template: dict) -> list[Error]:
    """Template-level errors: required sections, parameter declarations and uses, duplicate resources."""
    errors: list[Error] = [([key], f"{key!r} is a required property")
                           for key in ("$schema", "contentVersion", "resources") if key not in template]
    if "resources" in template and not isinstance(template["resources"], list):
        errors.append((["resources"], "'resources' must be an array"))
    errors += _parameter_declaration_errors(template.get("parameters", {}))
    errors += _reference_errors(template)
    errors += _duplicate_resource_errors(template.get("resources"))
    return errors


def _parameter_declaration_errors(parameters: Any) -> list[Error]:
    """``parameters`` must be an object holding ``factoryName``, each with a valid ARM ``type``."""
    if not isinstance(parameters, dict):
        return [(["parameters"], "'parameters' must be a JSON object")]
    errors: list[Error] = []
    if "factoryName" not in parameters:
        errors.append((["parameters"], "'factoryName' is not declared"))
    for name, spec in parameters.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if not isinstance(kind, str) or kind.lower() not in ARM_PARAMETER_TYPES:
            errors.append((["parameters", name, "type"], f"{kind!r} is not an ARM parameter type"))
    return errors


_REFERENCE = re.compile(r"\b(parameters|variables)\(\s*'((?:[^']|'')*)'\s*\)")


def _reference_errors(template: dict) -> list[Error]:
    """Every ``parameters('x')`` / ``variables('x')`` in an ARM expression must be declared."""
    declared = {
        section: set(template.get(section) or {}) if isinstance(template.get(section), dict) else set()
        for section in ("parameters", "variables")
    }
    errors: list[Error] = []
    for path, text in _strings(template, []):
        if not is_arm_expression(text):
            continue
        for section, name in _REFERENCE.findall(text):
            if name.replace("''", "'") not in declared[section]:
                errors.append((path, f"{section}({name!r}) is used but not declared in {section!r}"))
    return errors


def _strings(node: Any, path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    """Every string value in a JSON document, with its path."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, [*path, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, [*path, index])


def _duplicate_resource_errors(resources: Any) -> list[Error]:
    """Two resources of one type may not share a name."""
    seen: dict[tuple[str, str], int] = {}
    errors: list[Error] = []
    for index, resource in enumerate(resources if isinstance(resources, list) else []):
        if not isinstance(resource, dict):
            continue
        key = (str(resource.get("type", "")).lower(), str(resource.get("name", "")))
        if key in seen:
            errors.append((["resources", index, "name"], f"duplicates resources[{seen[key]}] ({key[1]!r})"))
        seen.setdefault(key, index)
    return errors


def _arm_resource_messages(index: int, resource: Any, strict: bool) -> list[str]:
    """Errors of ``template.resources[index]`` against its type's definition and rules."""
    prefix: list[Any] = ["resources", index]
    if not isinstance(resource, dict):
        return _messages(f"resources[{index}]", [(prefix, "a resource is a JSON object")])
    resource_type = resource.get("type")
    definition, kind = _definition_for_type(resource_type)
    label = f"{kind or resource_type} {child_name(resource.get('name'))!r}"
    if definition is None:
        return _messages(label, [([*prefix, "type"], f"unsupported resource type {resource_type!r}")])
    errors = _arm_name_errors(resource, _definition_type(definition))
    checked = {**resource, "type": _definition_type(definition), "name": child_name(resource.get("name"))}
    errors += _schema_errors(_definition_validator(definition, strict), checked)
    if kind and isinstance(resource.get("properties"), dict):
        errors += [(["properties", *path], reason) for path, reason in _RULES[kind](resource["properties"])]
    return _messages(label, [([*prefix, *path], reason) for path, reason in errors])


@lru_cache(maxsize=1)
def _definitions_by_type() -> dict[str, str]:
    """Lower-case ARM resource type -> ``resourceDefinitions`` key, for every type the schema defines."""
    schema = _registry().contents(SCHEMA_ID)
    return {
        definition["properties"]["type"]["enum"][0].lower(): key
        for key, definition in schema["resourceDefinitions"].items()
    }


def _definition_type(definition: str) -> str:
    """The ARM type a ``resourceDefinitions`` entry names, as the schema spells it."""
    return _registry().contents(SCHEMA_ID)["resourceDefinitions"][definition]["properties"]["type"]["enum"][0]


def _definition_for_type(resource_type: Any) -> tuple[str | None, str | None]:
    """(``resourceDefinitions`` key, Git-layout kind or None) of an ARM type, matched case-insensitively."""
    if not isinstance(resource_type, str):
        return None, None
    definition = _definitions_by_type().get(resource_type.lower())
    kind = next((k for k, v in KINDS.items() if v == definition), None)
    return definition, kind


def _arm_name_errors(resource: dict, resource_type: str) -> list[Error]:
    """A top-level child resource's literal name has one segment per type level (``factory/pipeline``)."""
    name = resource.get("name")
    if not isinstance(name, str) or is_arm_expression(name):
        return []
    levels = resource_type.count("/")  # provider/factories/pipelines -> factory/pipeline
    if name.count("/") != levels - 1:
        return [(["name"], f"{name!r} must have {levels} '/'-separated segments for type {resource_type}")]
    return []


# --------------------------------------------------------------------------------------------------------------
# Error formatting


def _schema_errors(schema_validator: Any, instance: Any) -> list[Error]:
    """``(path, reason)`` of every schema error, in document order."""
    errors = sorted(schema_validator.iter_errors(instance), key=lambda e: _path_key(e.absolute_path))
    return [(list(error.absolute_path), _reason(error)) for error in errors]


def _path_key(path: Any) -> list[tuple[bool, Any]]:
    """Sort key of a JSON path: indexes numerically, keys alphabetically."""
    return [(isinstance(part, str), part) for part in path]


def _reason(error: ValidationError) -> str:
    """An error's message, with the closest branch's error for a plain ``oneOf``/``anyOf`` failure."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = min(error.context, key=lambda e: (-len(e.absolute_path), len(e.context)))
        where = _json_path(list(best.relative_path))
        return f"{_short(error.message)} (closest: {where}: {best.message})"
    return _short(error.message)


def _short(message: str, limit: int = 400) -> str:
    """``message`` cut to ``limit`` characters (the schema's messages can echo whole objects)."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _json_path(parts: list[Any]) -> str:
    """``$.a.b[0]['odd key']`` for a list of keys and indexes."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][\w$-]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{str(part)!r}]"
    return out


def _messages(label: str, errors: list[Error]) -> list[str]:
    """``"<label>: <path>: <reason>"`` for each error, duplicates dropped, order kept."""
    return list(dict.fromkeys(f"{label}: {_json_path(path)}: {reason}" for path, reason in errors))


# --------------------------------------------------------------------------------------------------------------
# Rules the schema states only in prose (or not at all)

PARAMETER_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "String": (str,), "SecureString": (str,), "Int": (int,), "Float": (int, float),
    "Bool": (bool,), "Array": (list,), "Object": (dict,),
}
DATABRICKS_ACTIVITIES = frozenset(
    {"DatabricksNotebook", "DatabricksSparkJar", "DatabricksSparkPython", "DatabricksJob"}
)
WEB_AUTHENTICATION_TYPES = frozenset(
    {"Basic", "ClientCertificate", "MSI", "ServicePrincipal", "UserAssignedManagedIdentity"}
)
CONTAINER_LISTS = ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities")


def _parameter_errors(properties: dict) -> list[Error]:
    """A parameter's ``defaultValue`` must match its ``type`` (``Int`` with ``"3"`` is an error)."""
    parameters = properties.get("parameters")
    errors: list[Error] = []
    for name, spec in parameters.items() if isinstance(parameters, dict) else []:
        if not isinstance(spec, dict) or spec.get("defaultValue") is None:
            continue
        default, expected = spec["defaultValue"], PARAMETER_PYTHON_TYPES.get(spec.get("type"))
        if expected is None or is_arm_expression(default):
            continue
        if not isinstance(default, expected) or (isinstance(default, bool) and bool not in expected):
            reason = f"defaultValue {default!r} is not a {spec['type']}"
            errors.append((["parameters", name, "defaultValue"], reason))
    return errors


def _pipeline_errors(properties: dict) -> list[Error]:
    """Pipeline rules: parameters, activity names unique, ``dependsOn`` targets, nesting, variables,
    per-activity rules."""
    errors = _parameter_errors(properties)
    activities = properties.get("activities")
    if isinstance(activities, list):
        every = list(_all_activities(activities, ["activities"]))
        errors += _duplicate_name_errors(every)
        errors += _activity_list_errors(activities, ["activities"])
        errors += _nesting_errors(every)
        errors += _set_variable_errors(every, properties.get("variables"))
    return errors


#: Containers -> the containers ADF refuses inside them ("Nested activities": If and Switch may sit in
#: ForEach and Until; nothing nests in If or Switch; ForEach and Until nest one level only).
FORBIDDEN_NESTING = {
    "ForEach": frozenset({"ForEach", "Until"}), "Until": frozenset({"ForEach", "Until"}),
    "IfCondition": frozenset({"ForEach", "Until", "IfCondition", "Switch"}),
    "Switch": frozenset({"ForEach", "Until", "IfCondition", "Switch"}),
}
#: The system variable a SetVariable sets (``setSystemVariable``) to return values to a calling pipeline.
RETURN_VALUE = "pipelineReturnValue"


def _nesting_errors(activities: list[tuple[list[Any], dict]]) -> list[Error]:
    """A container activity inside a container that ADF does not allow it in (also through If/Switch)."""
    errors: list[Error] = []
    for path, activity in activities:
        forbidden = FORBIDDEN_NESTING.get(activity.get("type"))
        if not forbidden:
            continue
        for child_path, children in _child_lists(activity, path):
            for inner_path, inner in _all_activities(children, child_path):
                if inner.get("type") in forbidden:
                    errors.append((inner_path, f"a {inner['type']} activity cannot be nested in a "
                                               f"{activity['type']} ({activity.get('name')!r})"))
    return errors


def _set_variable_errors(activities: list[tuple[list[Any], dict]], variables: Any) -> list[Error]:
    """SetVariable sets a declared variable (or the return value, as a system variable), not from itself."""
    declared = set(variables) if isinstance(variables, dict) else set()
    errors: list[Error] = []
    for path, activity in activities:
        props = activity.get("typeProperties")
        if activity.get("type") != "SetVariable" or not isinstance(props, dict):
            continue
        name, system = props.get("variableName"), props.get("setSystemVariable") is True
        if system and name != RETURN_VALUE:
            errors.append(([*path, "typeProperties", "variableName"],
                           f"the only system variable a SetVariable sets is {RETURN_VALUE!r}, not {name!r}"))
        elif system and not isinstance(props.get("value"), list):
            errors.append(([*path, "typeProperties", "value"], "a return value is a list of {key, value} pairs"))
        elif not system and name not in declared:
            errors.append(([*path, "typeProperties", "variableName"],
                           f"variable {name!r} is not declared in the pipeline's variables"))
        elif not system and f"variables('{name}')" in json.dumps(props.get("value")):
            errors.append(([*path, "typeProperties", "value"], f"variable {name!r} cannot be set from itself"))
    return errors


def _all_activities(activities: list, path: list[Any]) -> Iterator[tuple[list[Any], dict]]:
    """Every activity of a list and of the containers (ForEach, If, Switch, Until) in it, with paths."""
    for index, activity in enumerate(activities):
        if isinstance(activity, dict):
            yield [*path, index], activity
            for child_path, children in _child_lists(activity, [*path, index]):
                yield from _all_activities(children, child_path)


def _child_lists(activity: dict, path: list[Any]) -> Iterator[tuple[list[Any], list]]:
    """The activity lists nested in a container activity's ``typeProperties``."""
    props = activity.get("typeProperties")
    if not isinstance(props, dict):
        return
    for key in CONTAINER_LISTS:
        if isinstance(props.get(key), list):
            yield [*path, "typeProperties", key], props[key]
    for index, case in enumerate(props.get("cases") or []):
        if isinstance(case, dict) and isinstance(case.get("activities"), list):
            yield [*path, "typeProperties", "cases", index, "activities"], case["activities"]


def _duplicate_name_errors(activities: list[tuple[list[Any], dict]]) -> list[Error]:
    """Activity names are unique within a pipeline, containers included."""
    first: dict[str, list[Any]] = {}
    errors: list[Error] = []
    for path, activity in activities:
        name = activity.get("name")
        if isinstance(name, str) and name in first:
            errors.append(([*path, "name"], f"activity name {name!r} is already used at {_json_path(first[name])}"))
        elif isinstance(name, str):
            first[name] = path
    return errors


def _activity_list_errors(activities: list, path: list[Any]) -> list[Error]:
    """``dependsOn`` targets in the same list, no cycles, per-activity rules; recursing into containers."""
    names = {a.get("name") for a in activities if isinstance(a, dict)}
    errors = _dependency_cycle_errors(activities, path)
    for index, activity in enumerate(activities):
        if not isinstance(activity, dict):
            continue
        here = [*path, index]
        errors += _depends_on_errors(activity, names, here)
        errors += [([*here, *p], reason) for p, reason in _activity_errors(activity)]
        for child_path, children in _child_lists(activity, here):
            errors += _activity_list_errors(children, child_path)
    return errors


def _depends_on_errors(activity: dict, names: set, path: list[Any]) -> list[Error]:
    """Each ``dependsOn[i].activity`` names another activity of the same list."""
    errors: list[Error] = []
    depends = activity.get("dependsOn")
    for index, dependency in enumerate(depends if isinstance(depends, list) else []):
        target = dependency.get("activity") if isinstance(dependency, dict) else None
        where = [*path, "dependsOn", index, "activity"]
        if target == activity.get("name"):
            errors.append((where, f"activity {target!r} depends on itself"))
        elif isinstance(target, str) and target not in names:
            errors.append((where, f"depends on {target!r}, which is not an activity of the same list"))
    return errors


def _dependency_cycle_errors(activities: list, path: list[Any]) -> list[Error]:
    """A ``dependsOn`` cycle among the activities of one list."""
    graph = {
        a["name"]: [d.get("activity") for d in a.get("dependsOn") or [] if isinstance(d, dict)]
        for a in activities
        if isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("dependsOn") or [], list)
    }
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        state[node] = 1
        for target in graph.get(node, []):
            if state.get(target) == 1 or (target in graph and target not in state and visit(target)):
                return True
        state[node] = 2
        return False

    cyclic = next((name for name in graph if name not in state and visit(name)), None)
    return [(path, f"dependsOn has a cycle through activity {cyclic!r}")] if cyclic else []


def _activity_errors(activity: dict) -> list[Error]:
    """Per-type rules of one activity."""
    kind = activity.get("type")
    props = activity.get("typeProperties")
    if kind in DATABRICKS_ACTIVITIES and "linkedServiceName" not in activity:
        return [([], f"a {kind} activity needs 'linkedServiceName' (its AzureDatabricks linked service); "
                     "the schema leaves it optional")]
    if kind == "WebActivity" and isinstance(props, dict):
        return [(["typeProperties", *p], reason) for p, reason in _web_activity_errors(props)]
    return []


def _web_activity_errors(props: dict) -> list[Error]:
    """A Web activity's body (POST/PUT need one, GET takes none) and authentication."""
    errors: list[Error] = []
    method = props.get("method")
    if method in ("POST", "PUT") and "body" not in props:
        errors.append(([], f"a {method} Web activity needs 'body'"))
    if method == "GET" and "body" in props:
        errors.append((["body"], "a GET Web activity takes no 'body'"))
    auth = props.get("authentication")
    if isinstance(auth, dict):
        errors += [(["authentication", *p], reason) for p, reason in _web_authentication_errors(auth)]
    return errors


def _web_authentication_errors(auth: dict) -> list[Error]:
    """The authentication ``type`` is a known one; MSI needs the ``resource`` to get a token for."""
    kind = auth.get("type")
    if "type" not in auth:
        return [([], "'type' is a required property of a Web activity's authentication")]
    if kind not in WEB_AUTHENTICATION_TYPES and not is_arm_expression(kind):
        return [(["type"], f"{kind!r} is not a Web activity authentication type {sorted(WEB_AUTHENTICATION_TYPES)}")]
    if kind == "MSI" and "resource" not in auth:
        return [([], "MSI authentication needs 'resource' (the audience of the token)")]
    if kind == "Basic":
        return [([], f"Basic authentication needs {key!r}") for key in ("username", "password") if key not in auth]
    return []


def _linked_service_errors(properties: dict) -> list[Error]:
    """Linked-service rules the schema states only in prose."""
    errors = _parameter_errors(properties)
    props = properties.get("typeProperties")
    if isinstance(props, dict):
        rule = _LINKED_SERVICE_RULES.get(properties.get("type"))
        errors += [(["typeProperties", *p], reason) for p, reason in (rule(props) if rule else [])]
    return errors


def _databricks_errors(props: dict) -> list[Error]:
    """AzureDatabricks: an access token, or ``authentication: MSI`` with ``workspaceResourceId``."""
    auth = props.get("authentication")
    if auth is None:
        return [] if "accessToken" in props else [([], "needs 'accessToken' or 'authentication': 'MSI'")]
    if auth != "MSI" and not is_arm_expression(auth):
        return [(["authentication"], f"{auth!r}: the only authentication value is 'MSI'")]
    if "workspaceResourceId" not in props:
        return [([], "MSI authentication needs 'workspaceResourceId'")]
    return []


def _blob_fs_errors(props: dict) -> list[Error]:
    """AzureBlobFS needs its ``url`` (the schema leaves it optional)."""
    return [] if "url" in props else [([], "an AzureBlobFS linked service needs 'url'")]


def _blob_storage_errors(props: dict) -> list[Error]:
    """AzureBlobStorage needs one of its endpoint forms."""
    endpoints = ("connectionString", "sasUri", "serviceEndpoint", "containerUri")
    if any(key in props for key in endpoints):
        return []
    return [([], f"an AzureBlobStorage linked service needs one of {list(endpoints)}")]


_LINKED_SERVICE_RULES: dict[str, Callable[[dict], list[Error]]] = {
    "AzureDatabricks": _databricks_errors,
    "AzureBlobFS": _blob_fs_errors,
    "AzureBlobStorage": _blob_storage_errors,
}


def _dataset_errors(properties: dict) -> list[Error]:
    """Dataset rules: parameters."""
    return _parameter_errors(properties)


def _trigger_errors(properties: dict) -> list[Error]:
    """Trigger rules: a schedule's frequency and start, a blob event trigger's path filter."""
    props = properties.get("typeProperties")
    kind = properties.get("type")
    if not isinstance(props, dict):
        return []
    if kind == "ScheduleTrigger" and isinstance(props.get("recurrence"), dict):
        recurrence = props["recurrence"]
        return [(["typeProperties", "recurrence"], f"a schedule recurrence needs {key!r}")
                for key in ("frequency", "startTime") if key not in recurrence]
    if kind == "BlobEventsTrigger" and not ({"blobPathBeginsWith", "blobPathEndsWith"} & set(props)):
        return [(["typeProperties"], "needs 'blobPathBeginsWith' or 'blobPathEndsWith'")]
    return []


_RULES: dict[str, Callable[[dict], list[Error]]] = {
    "pipeline": _pipeline_errors,
    "dataset": _dataset_errors,
    "linkedService": _linked_service_errors,
    "trigger": _trigger_errors,
}
