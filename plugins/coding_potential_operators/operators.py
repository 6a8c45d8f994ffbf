"""The local profile's operator: run one ``pipeline.steps`` function inside the Airflow task.

Modelled on the Airflow Azure provider's operators (keyword-only arguments, ``template_fields``,
a ``ui_color``, the result returned for XCom), so that a remote operator (Databricks, Azure ML) can take
its place behind :func:`coding_potential_operators.step_operator` with the same ``step`` and
``arguments``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The repository's root (``plugins/coding_potential_operators/operators.py`` → ``.``).
REPO_ROOT = Path(__file__).resolve().parents[2]

#: The module whose functions are the pipeline's steps.
STEPS_MODULE = "pipeline.steps"


def _ensure_repo_importable() -> None:
    """Make the repository's packages (``pipeline``, ``models``, ``coding_potential``) importable.

    The Airflow runner puts the repository on ``PYTHONPATH`` and an editable install does the same;
    this covers a worker started without either (appended, so an installed copy still wins).
    """
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.append(root)


def run_dir_for(dag_id: str, run_id: str) -> str:
    """Return the run folder of one DAG run, where every step of that run reads and writes.

    Delegates to ``pipeline.settings.run_dir_for`` (imported lazily): ``<var>/runs/<dag_id>/<run_id>``
    with the run id made path-safe.

    Parameters
    ----------
    dag_id : str
        The DAG's id.
    run_id : str
        The DAG run's id (e.g. ``manual__2026-01-01T00:00:00+00:00``).

    Returns
    -------
    str
        Absolute path of the run folder (not created here).
    """
    _ensure_repo_importable()
    from pipeline.settings import run_dir_for as pipeline_run_dir_for

    return str(pipeline_run_dir_for(dag_id, run_id))


def load_step(step: str) -> Callable[..., Any]:
    """Import :data:`STEPS_MODULE` and return its function named ``step``.

    The lookup itself is ``spark_jobs.pipeline_step.load_step``, shared with the remote entry point (a
    Databricks ``spark_python_task`` runs that file), so a step has the same name in every profile.

    Parameters
    ----------
    step : str
        Name of a public function of ``pipeline.steps``.

    Returns
    -------
    Callable[..., Any]
        The step function.

    Raises
    ------
    ValueError
        If ``pipeline.steps`` has no public callable of that name.
    """
    _ensure_repo_importable()
    from spark_jobs.pipeline_step import load_step as shared_load_step

    return shared_load_step(step, STEPS_MODULE)


def describe_result(step: str, result: Mapping[str, Any]) -> str:
    """One line saying what a step did, for the task log.

    Parameters
    ----------
    step : str
        The step's name.
    result : Mapping[str, Any]
        The step's JSON result.

    Returns
    -------
    str
        A human-readable summary; for the register step it says whether the candidate was promoted
        and why.
    """
    if "promoted" in result:
        version = result.get("version", "?")
        verdict = "PROMOTED to champion" if result.get("promoted") else "NOT promoted"
        return f"{step}: model version {version} {verdict}: {result.get('reason', 'no reason given')}"
    counted = ", ".join(f"{key}={result[key]}" for key in ("records", "valid", "rejected", "rows") if key in result)
    return f"{step}: done" + (f" ({counted})" if counted else "")


class PipelineStepOperator(BaseOperator):
    """Run one function of ``pipeline.steps`` in the task's process (the ``local`` profile).

    The step is called as ``step(run_dir=<run folder>, **arguments)``, where the run folder is shared by
    every task of one DAG run (see :func:`run_dir_for`). Its JSON result is logged and returned (so it
    is pushed to XCom for the next task). A result with ``"skip": true`` skips the task (and, through
    the default trigger rule, everything downstream) instead.

    Parameters
    ----------
    step : str
        Name of a function in ``pipeline.steps`` (e.g. ``"validate_inputs"``).
    arguments : dict[str, Any] | None
        Keyword arguments for the step besides ``run_dir``. Templated: values may be Jinja strings
        (``"{{ ds }}"``, ``"{{ params.seed }}"``; use a DAG with ``render_template_as_native_obj=True``
        to keep numbers, lists and ``None`` native) and ``XComArg``s such as ``upstream.output``, which
        also set the task dependencies. After rendering they must be JSON-serialisable (the same
        arguments must be able to travel to a remote runner).
    **kwargs : Any
        Passed to :class:`airflow.sdk.BaseOperator` (``task_id``, ``retries``, ...).
    """

    template_fields: Sequence[str] = ("arguments",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"arguments": "json"}
    ui_color = "#d9ead3"

    def __init__(self, *, step: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not step or not isinstance(step, str):
            raise ValueError(f"step must be a non-empty function name in {STEPS_MODULE}, not {step!r}")
        self.step = step
        self.arguments: dict[str, Any] = dict(arguments or {})
        if "run_dir" in self.arguments:
            raise ValueError("'run_dir' is computed from the DAG run; do not pass it in arguments")

    def execute(self, context: Context) -> dict[str, Any]:
        """Call the step and return its result.

        Parameters
        ----------
        context : Context
            The task's Airflow context (``run_id`` is used for the run folder).

        Returns
        -------
        dict[str, Any]
            The step's JSON result (pushed to XCom as ``return_value``).

        Raises
        ------
        AirflowSkipException
            If the step's result has ``"skip": true``.
        AirflowFailException
            If the step raised an error marked ``retryable = False`` (a failed quality gate): no retry.
        TypeError
            If the rendered arguments or the result are not JSON-serialisable, or the result is not a dict.
        """
        arguments = self.arguments
        try:
            json.dumps(arguments)
        except (TypeError, ValueError) as error:
            raise TypeError(f"arguments of step {self.step!r} are not JSON-serialisable: {error}") from error

        run_dir = run_dir_for(self.dag_id, context["run_id"])
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        function = load_step(self.step)
        self.log.info("Running step %s in %s with arguments %s", self.step, run_dir, json.dumps(arguments))

        try:
            result = function(run_dir=run_dir, **arguments)
        except Exception as error:
            if getattr(error, "retryable", True) is False:  # e.g. a failed quality gate: the same data fails again
                self.log.error("%s", error)
                raise AirflowFailException(f"{self.step}: {error}") from error
            raise

        if not isinstance(result, dict):
            raise TypeError(f"step {self.step!r} returned {type(result).__name__}, expected a JSON dict")
        try:
            rendered = json.dumps(result, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise TypeError(f"result of step {self.step!r} is not JSON-serialisable: {error}") from error
        self.log.info("Result of %s: %s", self.step, rendered)
        if result.get("skip") is True:
            reason = result.get("reason") or "the step reported nothing to do"
            self.log.info("%s: skipping this task and its downstream tasks: %s", self.step, reason)
            raise AirflowSkipException(f"{self.step}: {reason}")
        self.log.info("%s", describe_result(self.step, result))
        return result
