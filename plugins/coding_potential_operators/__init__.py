"""Airflow operators that run one ``pipeline.steps`` function as one Airflow task.

The DAGs in ``dags/`` build their tasks through :func:`step_operator`, which picks the operator for
the active execution profile (``$CODING_POTENTIAL_PROFILE``, default ``local``):

- ``local``: :class:`PipelineStepOperator` calls the step in the task's own process.
- ``azure``: validation, features and prediction each run as one Databricks run
  (``coding_potential_operators.databricks.PipelineStepDatabricksOperator``, a
  ``DatabricksSubmitRunOperator`` whose ``spark_python_task`` is ``spark_jobs/pipeline_step.py``), configured
  by ``azure_profile.json`` and ``$CODING_POTENTIAL_DATABRICKS_*``; the other steps stay local for now
  (training moves to an Azure ML command job in a later issue). See ``profiles.py``.

The step contract (plain function, JSON arguments, small JSON result) is what lets a profile run the same
step remotely without touching the DAG files.
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
