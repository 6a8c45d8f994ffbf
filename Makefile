# The two commands of the README: `make demo` (the main job) and `make test` (lint + the whole suite).
# Both build the platform environment from the lock first (`make test` the serving one too); nothing else
# needs installing by hand.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: env serving-env azurite demo test lint clean-var airflow serve

env: $(STAMP)

# torch==2.13.0+cpu comes from the wheel on this machine's disk (pip's configured find-links);
# the lock pins every package, so pip never resolves a CUDA build.
$(STAMP): requirements/platform.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -r requirements/platform.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The serving environment (seldon/): seldon-core 1.18.2 cannot share the platform's (numpy<2, werkzeug<2.3...).
# The project goes in without its dependencies: the core needs numpy alone.
SERVING_VENV  := .venv-serving
SERVING_STAMP := $(SERVING_VENV)/.installed

serving-env: $(SERVING_STAMP)

$(SERVING_STAMP): requirements/serving.lock pyproject.toml
	test -x $(SERVING_VENV)/bin/python || $(PYTHON) -m venv $(SERVING_VENV)
	$(SERVING_VENV)/bin/pip install --quiet --upgrade pip==25.3
	$(SERVING_VENV)/bin/pip install --quiet -r requirements/serving.lock
	$(SERVING_VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(SERVING_STAMP)

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

test: lint azurite serving-env
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The Seldon REST endpoint on 127.0.0.1:SERVE_PORT (metrics on SERVE_METRICS_PORT, path /prometheus), serving
# the export in SERVE_MODEL with SERVE_WORKERS workers; without an export there, the champion is exported first.
SERVE_MODEL        ?= var/serving/model
SERVE_PORT         ?= 9000
SERVE_METRICS_PORT ?= 6000
SERVE_WORKERS      ?= 2

serve: env serving-env
	test -f $(SERVE_MODEL)/export.json || $(BIN)/coding-potential export-model --alias champion --out $(SERVE_MODEL)
	CODING_POTENTIAL_SERVING_MODEL_DIR=$(abspath $(SERVE_MODEL)) SERVE_PORT=$(SERVE_PORT) \
		SERVE_METRICS_PORT=$(SERVE_METRICS_PORT) SERVE_WORKERS=$(SERVE_WORKERS) $(SERVING_VENV)/bin/python -m seldon.launch

# Airflow's API server (UI), scheduler and DAG processor on 127.0.0.1 until Ctrl-C, for backfills by hand.
airflow: env
	$(BIN)/python -m pipeline.airflow_services

clean-var:
	rm -rf var
