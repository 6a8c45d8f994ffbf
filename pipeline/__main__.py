"""Run one pipeline step by name: ``python -m pipeline run STEP --args JSON [--run-dir DIR] [--result-file F]``.

The same entry point as a Databricks run's ``spark_python_task`` (``spark_jobs/pipeline_step.py``, which
this delegates to), so a step runs here exactly as it runs remotely. The result is printed as JSON on
the last line of stdout.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one step")
    run.add_argument("step")
    run.add_argument("--args", default="{}", help="the step's keyword arguments as a JSON object")
    run.add_argument("--run-dir", help="the step's run folder (default: a temporary folder)")
    run.add_argument("--result-file", help="also write the JSON result to this file")
    options = parser.parse_args(argv)
    from spark_jobs.pipeline_step import main as run_step

    forwarded = ["--step", options.step, "--args", options.args]
    forwarded += ["--run-dir", options.run_dir] if options.run_dir else []
    forwarded += ["--result-file", options.result_file] if options.result_file else []
    return run_step(forwarded)


if __name__ == "__main__":
    sys.exit(main())
