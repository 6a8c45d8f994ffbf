"""The azure profile's Databricks operator: one ``pipeline.steps`` function as one Databricks run.

Imported only when the ``azure`` profile builds a task (``profiles.py``), so the ``local`` profile does not
pay for importing the Databricks provider on every DAG parse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context


class PipelineStepDatabricksOperator(DatabricksSubmitRunOperator):
    """Submit ``pipeline_step.py --step STEP --args JSON`` as a one-time Databricks run and wait for it.

    A :class:`~airflow.providers.databricks.operators.databricks.DatabricksSubmitRunOperator`
    (``runs/submit``, one run per task try) whose ``spark_python_task`` is derived from ``step`` and the
    rendered ``arguments``::

        {"python_file": python_file, "parameters": ["--step", step, "--args", json.dumps(arguments)]}

    **Templating.** ``arguments`` is a template field (like the local operator's), rendered by Airflow with
    the DAG's settings (native objects when ``render_template_as_native_obj``: a null param stays JSON
    ``null``, a list stays a list). :meth:`render_template_fields` then serialises the *rendered* dict into
    the ``--args`` parameter, so the JSON is built from values, never by rendering a template of JSON
    (which would quote ``None`` as ``"None"`` and break on a value holding a quote). ``spark_python_task``
    is therefore derived, not a template field; every other template field of the parent (``run_name``,
    ``new_cluster``, ``libraries``, ...) is rendered as usual, and the parent's ``normalise_json_content``
    turns the numbers of the payload into strings when it submits.

    Parameters
    ----------
    step : str
        Name of a function in ``pipeline.steps``.
    python_file : str
        URI of ``spark_jobs/pipeline_step.py`` as the runs see it.
    arguments : dict[str, Any] | None
        The step's keyword arguments besides ``run_dir`` (templated; JSON-serialisable once rendered).
    **kwargs : Any
        Passed to ``DatabricksSubmitRunOperator`` (``task_id``, ``new_cluster``, ``libraries``,
        ``run_name``, ``timeout_seconds``, ``databricks_conn_id``, ``retries``, ...), except
        ``spark_python_task`` and ``json``, which this operator owns.
    """

    template_fields: Sequence[str] = (
        *(field for field in DatabricksSubmitRunOperator.template_fields if field != "spark_python_task"),
        "arguments",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"arguments": "json"}

    def __init__(
        self, *, step: str, python_file: str, arguments: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for owned in ("spark_python_task", "json"):
            if owned in kwargs:
                raise ValueError(f"{owned!r} is built from step and arguments; do not pass it")
        super().__init__(**kwargs)
        if not step or not isinstance(step, str):
            raise ValueError(f"step must be a non-empty function name in pipeline.steps, not {step!r}")
        if not python_file:
            raise ValueError("python_file (the URI of spark_jobs/pipeline_step.py) is required")
        self.step = step
        self.python_file = python_file
        self.arguments: dict[str, Any] = dict(arguments or {})
        if "run_dir" in self.arguments:
            raise ValueError("'run_dir' is not a step argument; a remote step gets a temporary one")
        # Until rendered, show the argument templates (XComArgs by their repr).
        self.spark_python_task = self._spark_python_task(json.dumps(self.arguments, sort_keys=True, default=repr))

    def _spark_python_task(self, arguments_json: str) -> dict[str, Any]:
        return {"python_file": self.python_file, "parameters": ["--step", self.step, "--args", arguments_json]}

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render the template fields, then build ``spark_python_task`` from the rendered ``arguments``.

        Raises
        ------
        TypeError
            If the rendered arguments are not JSON-serialisable.
        """
        super().render_template_fields(context, jinja_env)
        try:
            arguments_json = json.dumps(self.arguments, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise TypeError(f"arguments of step {self.step!r} are not JSON-serialisable: {error}") from error
        self.spark_python_task = self._spark_python_task(arguments_json)
