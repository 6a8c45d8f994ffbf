"""The Seldon Core v1 model class: ``seldon-core-microservice seldon.model.CodingPotential``.

Seldon creates :class:`CodingPotential` once (with the ``--parameters`` it was given), asks for
:meth:`init_metadata`, forks its workers and calls :meth:`load` in each. Every prediction request goes to
:meth:`predict_raw`, which answers any of the three payloads with ``jsonData`` (see
:mod:`seldon.service`): predictions under the CLI's column names and rejected records with their reason.
A refused request answers ``status.code`` 400, which Seldon turns into the HTTP status. Custom metrics
travel in each answer's ``meta.metrics``, where Seldon collects them for ``/prometheus``.

Request size is bounded before the body is read: a ``Content-Length`` over the limit answers 400 at
once, and Flask stops reading a chunked body at the limit (:data:`model_error_handler`, a Flask blueprint
Seldon registers from the class). A body that is not JSON, a path or method Seldon does not serve, also
get their own 4xx in JSON, not Seldon's catch-all 500.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from models.export import ExportedModel, load_export, read_info

from . import service
from .settings import ServingSettings

log = logging.getLogger(__name__)

#: Metric names (``/prometheus`` on the metrics port), documented in the README and the dashboard.
REQUESTS = "coding_potential_requests_total"
TRANSCRIPTS = "coding_potential_transcripts_total"
BATCH_SIZE = "coding_potential_batch_size"
PREDICT_SECONDS = "coding_potential_predict_seconds"
MODEL_INFO = "coding_potential_model_info"


@functools.cache
def _settings() -> ServingSettings:
    return ServingSettings.from_env()


def _refusal(reason: str, message: str, status: int = 400):
    body = service.RequestError(reason, message).body()
    body["status"]["code"] = status
    response = jsonify(body)
    response.status_code = status
    return response


#: Seldon registers the blueprint a model class holds as ``model_error_handler`` on its REST app: limits
#: and the body's form are checked before Seldon reads it, and HTTP errors keep their own status.
model_error_handler = Blueprint("coding_potential_requests", __name__)
PREDICT_PATHS = ("/predict", "/api/v1.0/predictions", "/api/v0.1/predictions")


@model_error_handler.record_once
def _cap_body(state) -> None:
    # Flask refuses to read more than this (RequestEntityTooLarge), chunked bodies included.
    state.app.config["MAX_CONTENT_LENGTH"] = _settings().max_bytes


@model_error_handler.before_app_request
def _check_request():
    """A body over the limit (by Content-Length) or that is not a JSON Seldon message: 400, unread or unparsed."""
    if request.method != "POST" or request.path not in PREDICT_PATHS:
        return None
    limit = _settings().max_bytes
    if request.content_length is not None and request.content_length > limit:
        return _refusal(service.TOO_MANY_BYTES, f"the request body holds {request.content_length:,} bytes, "
                                                f"over {limit:,}: split it")
    if request.form.get("json") or request.args.get("json"):  # Seldon's form-encoded message
        return None
    try:
        body = request.get_json(silent=True)  # parsed once: Seldon reads the cached result
    except RecursionError:
        return _refusal(service.WRONG_SHAPE, "the JSON body is nested too deeply to read")
    if body is None:
        return _refusal(service.WRONG_SHAPE, "the body is not a JSON Seldon message: send Content-Type: "
                                             "application/json and {\"strData\": \"<FASTA text>\"}, {\"jsonData\": "
                                             "{\"sequences\": [...]}} or {\"data\": {\"ndarray\": [...]}}")
    return None


@model_error_handler.app_errorhandler(RequestEntityTooLarge)
def _body_too_large(_error):
    return _refusal(service.TOO_MANY_BYTES, f"the request body is over {_settings().max_bytes:,} bytes: split it")


@model_error_handler.app_errorhandler(HTTPException)
def _http_error(error: HTTPException):
    """Seldon's catch-all would answer 500 for a 404 or 405: keep the HTTP status, in JSON."""
    return _refusal(error.name.lower().replace(" ", "_"), error.description or error.name, error.code or 500)


class CodingPotential:
    """The coding-potential model behind the Seldon REST API.

    Parameters
    ----------
    model_dir, model_uri : str, optional
        Override ``$CODING_POTENTIAL_SERVING_MODEL_DIR`` / ``_MODEL_URI`` (Seldon ``parameters``).
    """

    model_error_handler = model_error_handler

    def __init__(self, model_dir: str | None = None, model_uri: str | None = None) -> None:
        self.settings = ServingSettings.from_env(model_dir=model_dir, model_uri=model_uri)
        self.limits = service.Limits(self.settings.max_transcripts, self.settings.max_bytes)
        self.model_dir = self.settings.model_dir
        if self.settings.model_uri:  # once, before Seldon forks its workers: they load the same copy
            self.model_dir = self._fetch(self.settings.model_uri)
        self.info = read_info(self.model_dir)  # a missing or broken export stops the start, saying why
        self.exported: ExportedModel | None = None

    @staticmethod
    def _fetch(model_uri: str) -> Path:
        from models.export import export_model

        target = Path(tempfile.mkdtemp(prefix="coding-potential-model-")) / "model"
        info = export_model(target, model_uri)
        log.info("exported %s (version %s) from the registry into %s", model_uri, info["model_version"], target)
        return target

    # ------------------------------------------------------------------------------ life cycle
    def load(self) -> None:
        """Load the export and check it with a prediction: a broken model fails the worker's start."""
        self.exported = load_export(self.model_dir)
        self.exported.model.predict_proba(["ATGGCCAAGTTTGGCGCATAA" * 10])
        log.info("serving %s version %s (%s, threshold %.4f) from %s", self.exported.name, self.exported.version,
                 self.exported.model.spec.family, self.exported.model.threshold, self.model_dir)

    def init_metadata(self) -> dict[str, Any]:
        """Seldon's model metadata (``/metadata``), read from the export's ``export.json``."""
        info = self.info
        return {
            "name": info["model_name"],
            "versions": [str(info["model_version"])],
            "platform": "coding-potential",
            "inputs": [{"messagetype": "strData"}, {"messagetype": "jsonData"},
                       {"messagetype": "ndarray", "schema": {"names": ["sequence"]}}],
            "outputs": [{"messagetype": "jsonData"}],
            "custom": {"family": str(info["family"]), "threshold": str(info["threshold"]),
                       "run_id": str(info.get("run_id")), "columns": ",".join(service.PREDICTION_COLUMNS),
                       "max_transcripts": str(self.limits.max_transcripts), "max_bytes": str(self.limits.max_bytes)},
        }

    def health_status(self) -> dict[str, Any]:
        """``/health/status``: the loaded model; an error (HTTP 500) until it is loaded."""
        if self.exported is None:
            raise RuntimeError("the model is not loaded yet")
        return {"ready": True, "model": self.exported.name, "version": self.exported.version}

    def tags(self) -> dict[str, str]:
        if self.exported is None:
            return {}
        return {"model_name": self.exported.name, "model_version": self.exported.version}

    def metrics(self) -> list[dict[str, Any]]:
        """Metrics Seldon asks for outside predictions (health checks): the model-version gauge only, which
        may be set any number of times; a request's counters travel in its own answer."""
        return self._model_info()

    def _model_info(self) -> list[dict[str, Any]]:
        # Seldon's own labels (model_name, model_version: its image's) override tags of those names.
        if self.exported is None:
            return []
        return [{"type": "GAUGE", "key": MODEL_INFO, "value": 1,
                 "tags": {"served_model": self.exported.name, "served_version": self.exported.version}}]

    # ------------------------------------------------------------------------------ prediction
    def predict_raw(self, message: Any) -> dict[str, Any]:
        """Answer one Seldon message (``strData``, ``jsonData`` or ``data.ndarray``); see :mod:`seldon.service`."""
        started = time.perf_counter()
        if self.exported is None:
            self.load()
        try:
            parsed = service.parse(message, self.limits)
            result = service.answer(self.exported, parsed)
        except service.RequestError as error:
            log.info("refused a request: %s (%s)", error.reason, error.message)
            response = error.body()
            metrics = self._request_metrics("refused", error.reason, 0, len(error.rejected), started)
        except Exception as error:  # a fault of ours: answered 500, and counted, unlike Seldon's own handler
            log.exception("failed to answer a request")
            response = {"status": {"code": 500, "status": "FAILURE", "reason": "MICROSERVICE_INTERNAL_ERROR",
                                   "info": f"{type(error).__name__}: {error}"}}
            metrics = self._request_metrics("error", type(error).__name__, 0, 0, started)
        else:
            response = result.message
            metrics = self._request_metrics("scored", parsed.kind, result.scored, result.rejected, started)
        response["meta"] = {"tags": self.tags(), "metrics": metrics}
        return response

    def _request_metrics(self, outcome: str, detail: str, scored: int, rejected: int,
                         started: float) -> list[dict[str, Any]]:
        milliseconds = (time.perf_counter() - started) * 1000
        metrics = [
            {"type": "COUNTER", "key": REQUESTS, "value": 1, "tags": {"outcome": outcome, "detail": detail}},
            {"type": "COUNTER", "key": TRANSCRIPTS, "value": scored, "tags": {"outcome": "scored"}},
            {"type": "COUNTER", "key": TRANSCRIPTS, "value": rejected, "tags": {"outcome": "rejected"}},
            {"type": "TIMER", "key": PREDICT_SECONDS, "value": milliseconds, "tags": {"outcome": outcome}},
            {"type": "GAUGE", "key": BATCH_SIZE, "value": scored + rejected},
        ]
        return metrics + self._model_info()
