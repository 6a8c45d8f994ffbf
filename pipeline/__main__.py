"""Run one pipeline step by name: ``python -m pipeline run STEP --args JSON``.

This is the entry point a remote operator (a Databricks task, an Azure ML command job) calls, so it
runs exactly the step Airflow runs locally. The result is printed as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one step")
    run.add_argument("step")
    run.add_argument("--args", default="{}", help="the step's keyword arguments as a JSON object")
    options = parser.parse_args(argv)
    from .steps import STEPS

    if options.step not in STEPS:
        parser.error(f"unknown step {options.step!r}; steps: {', '.join(STEPS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = STEPS[options.step](**json.loads(options.args))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
