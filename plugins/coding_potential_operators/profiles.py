"""Execution profiles: which operator runs a pipeline step.

The profile comes from ``$CODING_POTENTIAL_PROFILE`` (default ``local``) when the DAG file is parsed.

Available now:

- ``local``: :class:`~coding_potential_operators.operators.PipelineStepOperator`, the step runs in the
  Airflow task's own process.

Planned (not available yet, so selecting it is an error rather than a silent fallback): ``azure``, where
validation, features and prediction run as a Databricks ``spark_python_task``
(``DatabricksSubmitRunOperator``) and training as an Azure ML command job, each calling the same step by
name with the same JSON arguments (``python -m pipeline run STEP --args JSON``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from airflow.sdk import BaseOperator

from coding_potential_operators.operators import PipelineStepOperator

#: Environment variable naming the execution profile.
PROFILE_ENV = "CODING_POTENTIAL_PROFILE"
#: The profile used when the variable is unset or empty.
DEFAULT_PROFILE = "local"


def _local(task_id: str, step: str, arguments: dict[str, Any], **kwargs: Any) -> BaseOperator:
    return PipelineStepOperator(task_id=task_id, step=step, arguments=arguments, **kwargs)


_BUILDERS: dict[str, Callable[..., BaseOperator]] = {"local": _local}


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
        The step's keyword arguments besides ``run_dir`` (templated; may hold ``XComArg``s).
    profile : str | None
        Execution profile; ``None`` reads :func:`current_profile`.
    **kwargs : Any
        Further operator arguments (``retries``, ``doc_md``, ...).

    Returns
    -------
    BaseOperator
        The operator, attached to the DAG in context if any.

    Raises
    ------
    ValueError
        If the profile is not one of :func:`available_profiles`.
    """
    name = (profile if profile is not None else current_profile()).strip().lower()
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(
            f"unknown execution profile {name!r} (from {PROFILE_ENV} or the profile argument); "
            f"available: {', '.join(available_profiles())}"
        )
    return builder(task_id, step, dict(arguments or {}), **kwargs)
