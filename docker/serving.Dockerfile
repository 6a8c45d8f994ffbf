# The serving image: the Seldon Core v1 microservice with the coding-potential model class (seldon/).
#
#   docker build -f docker/serving.Dockerfile -t REGISTRY/coding-potential-serving:0.1.0 .
#
# The model, two ways (the chart's model.source):
#   baked:    coding-potential export-model --alias champion --out docker/model   (before the build)
#             the export is copied to /opt/model; another folder: --build-arg MODEL_EXPORT=path/in/context
#   registry: build without an export; the pod sets CODING_POTENTIAL_SERVING_MODEL_URI and
#             MLFLOW_TRACKING_URI (an MLflow server) and exports the model into /tmp at start-up.
# No secret is baked in: registry credentials come from the pod's environment (a Kubernetes Secret).

# Pinned: Python 3.11.7 (the project's), Debian 12. Pin the digest too in your registry's mirror.
FROM python:3.11.7-slim-bookworm

ARG MODEL_EXPORT=docker/model

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CODING_POTENTIAL_SERVING_MODEL_DIR=/opt/model \
    CODING_POTENTIAL_VAR=/tmp/coding-potential \
    INCLUDE_METRICS_IN_CLIENT_RESPONSE=false \
    PREDICTIVE_UNIT_METRICS_ENDPOINT=/prometheus

RUN groupadd --gid 10001 serving && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin serving

WORKDIR /app
# The serving lock first: the layer is reused while only the code changes.
COPY requirements/serving.lock requirements/serving.lock
RUN pip install --upgrade pip==25.3 && pip install -r requirements/serving.lock

# The project without its dependencies: the core needs numpy alone (already in the lock).
COPY pyproject.toml README.md ./
COPY coding_potential coding_potential
COPY models models
COPY seldon seldon
COPY cli cli
COPY pipeline pipeline
COPY spark_jobs spark_jobs
COPY validation validation
COPY adf_export adf_export
RUN pip install --no-deps --no-build-isolation . && rm -rf /root/.cache

COPY --chown=10001:10001 ${MODEL_EXPORT}/ /opt/model/

USER 10001:10001
EXPOSE 9000 6000
# Seldon's microservice: REST on 9000, metrics on 6000 (/prometheus); workers from GUNICORN_WORKERS.
CMD ["seldon-core-microservice", "seldon.model.CodingPotential", "--service-type", "MODEL", "--grpc-workers", "0"]
