"""Airflow operators that run one ``pipeline.steps`` function as one Airflow task.

The DAGs in ``dags/`` build their tasks through :func:`step_operator`, which picks the operator for
the active execution profile (``$CODING_POTENTIAL_PROFILE``, default ``local``):

- ``local``: :class:`PipelineStepOperator` calls the step in the task's own process.

The step contract (plain function, JSON arguments, small JSON result, files under a run folder) is what
lets a later profile run the same step remotely (Databricks ``spark_python_task`` for validation,
features and prediction; an Azure ML command job for training) without touching the DAG files.
"""

from __future__ import annotations

from coding_potential_operators.operators import PipelineStepOperator, describe_result, run_dir_for
from coding_potential_operators.profiles import (
    DEFAULT_PROFILE,
    PROFILE_ENV,
    available_profiles,
    current_profile,
    step_operator,
)

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILE_ENV",
    "PipelineStepOperator",
    "available_profiles",
    "current_profile",
    "describe_result",
    "run_dir_for",
    "step_operator",
]
