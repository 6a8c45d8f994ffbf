"""Run one ``pipeline.steps`` function by name: the entry point of a Databricks ``spark_python_task``.

Usage::

    python pipeline_step.py --step NAME --args JSON [--run-dir DIR] [--result-file PATH]

The ``azure`` execution profile (``plugins/coding_potential_operators/profiles.py``) submits this file as
the ``python_file`` of a one-task Databricks run with ``--step`` and ``--args`` (the step's arguments,
rendered by Airflow, as one JSON object). It calls ``step(run_dir=DIR, **args)`` and prints the step's
JSON result as the **last line of stdout** (logs go to stderr). Without ``--run-dir`` the run folder is a
temporary folder, removed afterwards: remote steps read and write the lake, not a run folder.
``--result-file`` also writes the result there (atomically): an Azure ML job's result is read back from
storage by the Data Factory pipeline that started it (``adf_export.azure_ml``).

Exit status:

- ``0``: the step returned a JSON dict (a result with ``"skip": true`` too: a Databricks run cannot skip
  the Airflow task; what the step did or did not write to the lake is what the next step sees);
- ``2``: usage error, nothing run: unknown step, ``--args`` not a JSON object, ``run_dir`` inside
  ``--args``, or arguments the step's signature does not accept (the message is on stderr);
- ``1``: the step raised (the traceback is on stderr), returned something other than a JSON dict, or
  ``pipeline`` is not importable.

Imports: the file runs as a script, so ``pipeline`` must come from the environment. On Databricks the
repository's packages are installed on the cluster as a wheel library (the ``libraries`` of the run), so
this file is uploaded alone and does not depend on sitting in the repository; locally the editable install
(``pip install -e .``) does the same. Only in a checkout with neither, the repository root above this file
is appended to ``sys.path`` (appended, so an installed copy wins). Nothing here imports Airflow.

:func:`load_step` is the one step lookup of the project: the ``local`` profile's operator
(``coding_potential_operators.operators.load_step``) delegates to it, so a step runs under the same name
locally and remotely.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

#: The module whose public functions are the pipeline's steps.
STEPS_MODULE = "pipeline.steps"
#: Exit status of a usage error (argparse's own).
USAGE_ERROR = 2


def available_steps(module: ModuleType) -> list[str]:
    """The public functions defined in ``module`` (not imported into it), sorted."""
    return sorted(
        name
        for name, value in vars(module).items()
        if callable(value) and not name.startswith("_") and getattr(value, "__module__", "") == module.__name__
    )


def load_step(step: str, module_name: str = STEPS_MODULE) -> Callable[..., Any]:
    """Import ``module_name`` and return its public callable named ``step``.

    Parameters
    ----------
    step : str
        Name of a public function of ``pipeline.steps``.
    module_name : str
        The steps module (``pipeline.steps``).

    Returns
    -------
    Callable[..., Any]
        The step function.

    Raises
    ------
    ValueError
        If the module has no public callable of that name (the message lists the steps).
    """
    module = importlib.import_module(module_name)
    function = getattr(module, step, None) if not step.startswith("_") else None
    if not callable(function):
        raise ValueError(f"{module_name} has no step {step!r}; steps: {', '.join(available_steps(module)) or '(none)'}")
    return function


def _ensure_pipeline_importable() -> None:
    """Append the checkout's root to ``sys.path`` when ``pipeline`` is not installed (local runs only)."""
    if importlib.util.find_spec("pipeline") is not None:
        return
    root = Path(__file__).resolve().parent.parent
    if (root / "pipeline" / "__init__.py").is_file() and str(root) not in sys.path:
        sys.path.append(str(root))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipeline_step.py",
        description="Run one pipeline.steps function with JSON arguments; print its JSON result last on stdout.",
    )
    parser.add_argument("--step", required=True, help="name of a function of pipeline.steps")
    parser.add_argument("--args", default="{}", help="the step's keyword arguments as one JSON object")
    parser.add_argument("--run-dir", help="the step's run folder (default: a temporary folder, removed after)")
    parser.add_argument("--result-file", help="also write the JSON result to this file (its folder is created)")
    return parser


def write_result(path: str, line: str) -> None:
    """Write the result's JSON line to ``path`` atomically: a reader sees the whole result or none."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(line + "\n", encoding="utf-8")
    partial.replace(target)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the step and print its result; see the module docstring.

    Returns
    -------
    int
        ``0`` on success (usage errors exit ``2`` through :class:`SystemExit`; exceptions of the step
        propagate).
    """
    parser = _parser()
    options = parser.parse_args(argv)
    try:
        arguments = json.loads(options.args)
    except json.JSONDecodeError as error:
        parser.error(f"--args is not valid JSON ({error}): {options.args!r}")
    if not isinstance(arguments, dict):
        parser.error(f"--args must be a JSON object of keyword arguments, not {type(arguments).__name__}")
    if "run_dir" in arguments:
        parser.error("'run_dir' is not an argument: pass --run-dir")

    _ensure_pipeline_importable()
    try:
        step = load_step(options.step)
    except ValueError as error:
        parser.error(str(error))
    except ModuleNotFoundError as error:
        if error.name not in ("pipeline", STEPS_MODULE):
            raise
        raise SystemExit(
            f"pipeline_step.py: cannot import {STEPS_MODULE} ({error}); install the coding-potential wheel "
            "(a library of the Databricks run, or `pip install -e .` locally)"
        ) from error
    signature = inspect.signature(step)
    try:
        signature.bind(run_dir="", **arguments)
    except TypeError as error:
        parser.error(f"arguments {sorted(arguments)} do not fit step {options.step}{signature}: {error}")

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if options.run_dir:
        Path(options.run_dir).mkdir(parents=True, exist_ok=True)
        result = step(run_dir=options.run_dir, **arguments)
    else:
        with tempfile.TemporaryDirectory(prefix="coding-potential-step-") as run_dir:
            result = step(run_dir=run_dir, **arguments)

    if not isinstance(result, dict):
        raise TypeError(f"step {options.step!r} returned {type(result).__name__}, expected a JSON dict")
    line = json.dumps(result, sort_keys=True)
    if options.result_file:
        write_result(options.result_file, line)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
