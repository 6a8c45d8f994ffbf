# The Airflow image: the platform environment (Airflow 3, Spark, Great Expectations, MLflow) with the
# project's DAGs, operators and steps, for Airflow's scheduler, API server, DAG processor and workers.
#
#   docker build -f docker/airflow.Dockerfile -t REGISTRY/coding-potential-airflow:0.1.0 .
#
# Connections and secrets come from the deployment (AIRFLOW_CONN_* from a secrets backend or a Kubernetes
# Secret, managed identity for Azure); none is baked in. CODING_POTENTIAL_PROFILE=azure sends the data
# steps to Databricks (see plugins/coding_potential_operators/azure_profile.json).

# Pinned: Python 3.11.7 (the project's), Debian 12. Pin the digest too in your registry's mirror.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/app/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/app/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    CODING_POTENTIAL_PROFILE=azure \
    CODING_POTENTIAL_VAR=/opt/airflow/var

# Java 17 for local Spark (the features step's default engine), from Debian.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 50000 airflow \
    && useradd --uid 50000 --gid 50000 --home-dir /opt/airflow --create-home --shell /bin/bash airflow

WORKDIR /app
COPY requirements/platform.lock requirements/platform.lock
# PyPI's torch 2.13.0 for Linux is a CUDA build of several GB; the orchestrator never trains a torch model
# itself (Azure ML does), so the image leaves torch out of the lock.
RUN pip install --upgrade pip==25.3 \
    && grep -v '^torch==' requirements/platform.lock > /tmp/platform.lock \
    && pip install -r /tmp/platform.lock && rm /tmp/platform.lock

COPY pyproject.toml README.md ./
COPY coding_potential coding_potential
COPY models models
COPY cli cli
COPY pipeline pipeline
COPY spark_jobs spark_jobs
COPY validation validation
COPY adf_export adf_export
COPY seldon seldon
COPY dags dags
COPY plugins plugins
RUN pip install --no-deps --no-build-isolation . && rm -rf /root/.cache

ENV PYSPARK_PYTHON=/usr/local/bin/python
USER 50000:50000
WORKDIR /opt/airflow
EXPOSE 8080
CMD ["airflow", "api-server"]
