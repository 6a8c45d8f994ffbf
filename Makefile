# The two commands of the README: `make demo` (the main job) and `make test` (lint + the whole suite).
# Both build the platform environment from the lock first; nothing else needs installing by hand.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: env azurite demo test lint clean-var airflow

env: $(STAMP)

# torch==2.13.0+cpu comes from the wheel on this machine's disk (pip's configured find-links);
# the lock pins every package, so pip never resolves a CUDA build.
$(STAMP): requirements/platform.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -r requirements/platform.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Azurite (the Azure Storage emulator the ingestion tests run against), from its lock, into tools/azurite/.
AZURITE_STAMP := tools/azurite/node_modules/.installed

azurite: $(AZURITE_STAMP)

$(AZURITE_STAMP): tools/azurite/package-lock.json tools/azurite/package.json
	npm ci --prefix tools/azurite --no-audit --no-fund
	touch $(AZURITE_STAMP)

demo: env
	$(BIN)/coding-potential fetch-data
	$(BIN)/python -m pipeline.airflow_runner $(DEMO_ARGS)

lint: env
	$(BIN)/ruff check .

test: lint azurite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Airflow's API server (UI), scheduler and DAG processor on 127.0.0.1 until Ctrl-C, for backfills by hand.
airflow: env
	$(BIN)/python -m pipeline.airflow_services

clean-var:
	rm -rf var
