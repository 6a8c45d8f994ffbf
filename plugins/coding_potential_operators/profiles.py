"""Execution profiles: which operator runs a pipeline step.

The profile comes from ``$CODING_POTENTIAL_PROFILE`` (default ``local``) when the DAG file is parsed;
:func:`step_operator` is the one entry the DAGs call.

- ``local``: :class:`~coding_potential_operators.operators.PipelineStepOperator` everywhere: the step runs
  in the Airflow task's own process.
- ``azure``: the steps in :data:`DATABRICKS_STEPS` (``validate_inputs``, ``build_features``,
  ``predict``) each become one
  :class:`~coding_potential_operators.databricks.PipelineStepDatabricksOperator`, a
  ``DatabricksSubmitRunOperator``: one Airflow task = one one-time Databricks run (``runs/submit``) whose
  ``spark_python_task`` is ``spark_jobs/pipeline_step.py --step STEP --args JSON`` (the step's rendered
  arguments), on a job cluster with the project's wheel installed. Every other step keeps the local
  ``PipelineStepOperator`` for now: ``ingest_landing`` reaches Blob Storage through the Airflow Azure
  provider inside its step, and training, evaluation and registration move to Azure ML command jobs in a
  later issue.

The azure profile is configured, not coded (:class:`AzureProfileSettings`): the committed
``azure_profile.json`` next to this module holds the documented defaults (its ``_doc`` says what each key
is); ``$CODING_POTENTIAL_AZURE_PROFILE_CONFIG`` names another file to read instead (it must have every
key), and each key is then overridden by ``$CODING_POTENTIAL_DATABRICKS_<KEY>`` (the key upper-cased,
e.g. ``CODING_POTENTIAL_DATABRICKS_TIMEOUT_SECONDS=7200``; JSON for ``new_cluster``, a JSON list or a
comma-separated list for ``pypi_packages``). The settings are read when a DAG file is parsed, like the
profile itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from coding_potential_operators.operators import PipelineStepOperator

#: Environment variable naming the execution profile.
PROFILE_ENV = "CODING_POTENTIAL_PROFILE"
#: The profile used when the variable is unset or empty.
DEFAULT_PROFILE = "local"

#: Steps the azure profile runs on Databricks; the others stay local (see the module docstring).
DATABRICKS_STEPS = ("validate_inputs", "build_features", "predict")
#: The committed defaults of the azure profile.
AZURE_CONFIG_FILE = Path(__file__).resolve().with_name("azure_profile.json")
#: Environment variable naming a configuration file to read instead of :data:`AZURE_CONFIG_FILE`.
AZURE_CONFIG_ENV = "CODING_POTENTIAL_AZURE_PROFILE_CONFIG"
#: Prefix of the environment variables that override single keys of the configuration.
DATABRICKS_ENV_PREFIX = "CODING_POTENTIAL_DATABRICKS_"
#: Name of each Databricks run (templated): which DAG, task and logical date it ran for.
RUN_NAME = "coding-potential-{{ dag.dag_id }}-{{ task.task_id }}-{{ ds }}"


def _text(raw: str) -> str:
    return raw


def _optional_text(raw: str) -> str | None:
    return raw or None


def _integer(raw: str) -> int:
    return int(raw)


def _json_object_or_null(raw: str) -> dict[str, Any] | None:
    value = json.loads(raw)
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"expected a JSON object or null, got {type(value).__name__}")
    return value


def _string_list(raw: str) -> list[str]:
    if raw.lstrip().startswith("["):
        return json.loads(raw)
    return [item.strip() for item in raw.split(",") if item.strip()]


#: How each configuration key is read from its environment variable.
_FROM_ENV: dict[str, Callable[[str], Any]] = {
    "conn_id": _text,
    "python_file": _text,
    "wheel": _text,
    "pypi_packages": _string_list,
    "new_cluster": _json_object_or_null,
    "existing_cluster_id": _optional_text,
    "timeout_seconds": _integer,
    "polling_period_seconds": _integer,
    "retries": _integer,
    "retry_delay_seconds": _integer,
}


def _nulls(value: Any, path: str) -> list[str]:
    """Paths of the ``null`` values inside ``value`` (the Databricks payload cannot hold null)."""
    if value is None:
        return [path]
    if isinstance(value, Mapping):
        return [found for key, item in value.items() for found in _nulls(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [found for index, item in enumerate(value) for found in _nulls(item, f"{path}[{index}]")]
    return []


@dataclass(frozen=True)
class AzureProfileSettings:
    """Configuration of the azure profile's Databricks tasks (see ``azure_profile.json``'s ``_doc``).

    Attributes
    ----------
    conn_id : str
        Airflow connection to the Databricks workspace (default ``databricks_default``).
    python_file : str
        URI of ``spark_jobs/pipeline_step.py`` as uploaded for the runs.
    wheel : str
        URI of the project's wheel, installed on the run's cluster.
    pypi_packages : tuple[str, ...]
        Pinned PyPI requirements installed next to the wheel.
    new_cluster : dict[str, Any] | None
        Spec of the run's job cluster; ignored when ``existing_cluster_id`` is set.
    existing_cluster_id : str | None
        An all-purpose cluster to run on instead of a new one.
    timeout_seconds : int
        Databricks timeout of one run (``0``: none).
    polling_period_seconds : int
        Seconds between two state polls of the run.
    retries : int
        Airflow retries of a Databricks task.
    retry_delay_seconds : int
        Seconds between two Airflow tries of a Databricks task.
    """

    conn_id: str
    python_file: str
    wheel: str
    pypi_packages: tuple[str, ...]
    new_cluster: dict[str, Any] | None
    existing_cluster_id: str | None
    timeout_seconds: int
    polling_period_seconds: int
    retries: int
    retry_delay_seconds: int

    def __post_init__(self) -> None:
        for name in ("conn_id", "python_file", "wheel"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"azure profile: {name} must be a non-empty string, not {getattr(self, name)!r}")
        if not all(isinstance(item, str) and item for item in self.pypi_packages):
            raise ValueError(f"azure profile: pypi_packages must be requirement strings, not {self.pypi_packages!r}")
        object.__setattr__(self, "pypi_packages", tuple(self.pypi_packages))
        for name, minimum in (("timeout_seconds", 0), ("polling_period_seconds", 1), ("retries", 0),
                              ("retry_delay_seconds", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"azure profile: {name} must be an integer >= {minimum}, not {value!r}")
        if self.existing_cluster_id is not None and not isinstance(self.existing_cluster_id, str):
            raise ValueError(f"azure profile: existing_cluster_id must be a string, not {self.existing_cluster_id!r}")
        if not self.existing_cluster_id:
            if not isinstance(self.new_cluster, dict) or not self.new_cluster:
                raise ValueError("azure profile: set new_cluster (a cluster spec) or existing_cluster_id")
            if nulls := _nulls(self.new_cluster, "new_cluster"):
                raise ValueError(f"azure profile: the Databricks payload cannot hold null: {', '.join(nulls)}")

    @classmethod
    def env_var(cls, key: str) -> str:
        """The environment variable overriding configuration ``key`` (``CODING_POTENTIAL_DATABRICKS_<KEY>``)."""
        return DATABRICKS_ENV_PREFIX + key.upper()

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> AzureProfileSettings:
        """Read the configuration file, then apply the environment's overrides.

        Parameters
        ----------
        environ : Mapping[str, str] | None
            The environment (default ``os.environ``).

        Returns
        -------
        AzureProfileSettings
            The validated settings.

        Raises
        ------
        ValueError
            If the file is missing, not JSON, lacks a key or has an unknown one, or a value (from the
            file or an environment variable) has the wrong type.
        """
        environ = os.environ if environ is None else environ
        path = Path(environ.get(AZURE_CONFIG_ENV) or AZURE_CONFIG_FILE)
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"azure profile: cannot read the configuration {path}: {error}") from error
        if not isinstance(content, dict):
            raise ValueError(f"azure profile: {path} must hold a JSON object")
        values = {key: value for key, value in content.items() if not key.startswith("_")}
        keys = [field.name for field in fields(cls)]
        if unknown := sorted(set(values) - set(keys)):
            raise ValueError(f"azure profile: unknown keys in {path}: {', '.join(unknown)}; keys: {', '.join(keys)}")
        if missing := [key for key in keys if key not in values]:
            raise ValueError(f"azure profile: {path} lacks {', '.join(missing)}")
        for key in keys:
            name = cls.env_var(key)
            if name in environ:
                try:
                    values[key] = _FROM_ENV[key](environ[name])
                except ValueError as error:
                    raise ValueError(f"azure profile: ${name} = {environ[name]!r}: {error}") from error
        if not isinstance(values["pypi_packages"], list | tuple):
            raise ValueError(f"azure profile: pypi_packages must be a list, not {values['pypi_packages']!r}")
        return cls(**values)

    def libraries(self) -> list[dict[str, Any]]:
        """The run's ``libraries``: the wheel, then the pinned PyPI packages."""
        return [{"whl": self.wheel}, *({"pypi": {"package": package}} for package in self.pypi_packages)]

    def operator_kwargs(self) -> dict[str, Any]:
        """Arguments of :class:`~coding_potential_operators.databricks.PipelineStepDatabricksOperator`."""
        cluster: dict[str, Any] = (
            {"existing_cluster_id": self.existing_cluster_id}
            if self.existing_cluster_id
            else {"new_cluster": json.loads(json.dumps(self.new_cluster))}  # a copy per task
        )
        return {
            "python_file": self.python_file,
            "databricks_conn_id": self.conn_id,
            "run_name": RUN_NAME,
            **cluster,
            "libraries": self.libraries(),
            "timeout_seconds": self.timeout_seconds,
            "polling_period_seconds": self.polling_period_seconds,
            "retries": self.retries,
            "retry_delay": timedelta(seconds=self.retry_delay_seconds),
        }


def _local(task_id: str, step: str, arguments: dict[str, Any], **kwargs: Any) -> BaseOperator:
    return PipelineStepOperator(task_id=task_id, step=step, arguments=arguments, **kwargs)


def _azure(task_id: str, step: str, arguments: dict[str, Any], **kwargs: Any) -> BaseOperator:
    if step not in DATABRICKS_STEPS:
        return _local(task_id, step, arguments, **kwargs)
    from coding_potential_operators.databricks import PipelineStepDatabricksOperator

    configured = AzureProfileSettings.load().operator_kwargs()
    return PipelineStepDatabricksOperator(task_id=task_id, step=step, arguments=arguments, **{**configured, **kwargs})


_BUILDERS: dict[str, Callable[..., BaseOperator]] = {"local": _local, "azure": _azure}


def available_profiles() -> tuple[str, ...]:
    """Names of the profiles :func:`step_operator` can build, sorted.

    Returns
    -------
    tuple[str, ...]
        The available profile names.
    """
    return tuple(sorted(_BUILDERS))


def current_profile() -> str:
    """The profile selected by ``$CODING_POTENTIAL_PROFILE`` (``local`` when unset or empty).

    Returns
    -------
    str
        The profile name, stripped and lower-cased (not validated here).
    """
    return (os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE).strip().lower()


def step_operator(
    task_id: str,
    step: str,
    arguments: dict[str, Any] | None = None,
    *,
    profile: str | None = None,
    **kwargs: Any,
) -> BaseOperator:
    """Build the operator that runs ``pipeline.steps.<step>`` as task ``task_id`` for a profile.

    Parameters
    ----------
    task_id : str
        The Airflow task id.
    step : str
        Name of a function in ``pipeline.steps``.
    arguments : dict[str, Any] | None
        The step's keyword arguments besides ``run_dir`` (templated: Jinja strings such as ``"{{ ds }}"``
        or ``"{{ params.lake }}"``).
    profile : str | None
        Execution profile; ``None`` reads :func:`current_profile`.
    **kwargs : Any
        Further operator arguments (``retries``, ``doc_md``, ...); they win over the azure profile's
        configuration.

    Returns
    -------
    BaseOperator
        The operator, attached to the DAG in context if any.

    Raises
    ------
    ValueError
        If the profile is not one of :func:`available_profiles`, or the azure profile's configuration is
        invalid.
    """
    name = (profile if profile is not None else current_profile()).strip().lower()
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(
            f"unknown execution profile {name!r} (from {PROFILE_ENV} or the profile argument); "
            f"available: {', '.join(available_profiles())}"
        )
    return builder(task_id, step, dict(arguments or {}), **kwargs)
