"""The serving settings, from the environment (``CODING_POTENTIAL_SERVING_*``), checked once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PREFIX = "CODING_POTENTIAL_SERVING_"


class SettingsError(ValueError):
    """A serving setting with a value the server cannot use (named with the variable)."""


@dataclass(frozen=True)
class ServingSettings:
    """What the endpoint serves and how much one request may ask.

    Attributes
    ----------
    model_dir : Path
        An export folder (``coding-potential export-model``): ``$CODING_POTENTIAL_SERVING_MODEL_DIR``,
        default ``var/serving/model``.
    model_uri : str or None
        ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` in the registry at ``$MLFLOW_TRACKING_URI`` (an
        MLflow server over HTTP): exported into ``model_dir`` at start-up instead of read from it.
    max_transcripts : int
        Most records one request may hold (default 10,000).
    max_bytes : int
        Most bytes of request body, and of sequence text, one request may hold (default 20 MB).
    """

    model_dir: Path
    model_uri: str | None = None
    max_transcripts: int = 10_000
    max_bytes: int = 20_000_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: str | None) -> ServingSettings:
        """The settings from ``environ`` (default: the process's), then ``overrides`` (Seldon parameters)."""
        environ = os.environ if environ is None else environ
        values = {key: environ.get(PREFIX + key.upper()) for key in ("model_dir", "model_uri", "max_transcripts",
                                                                     "max_bytes")}
        values.update({key: value for key, value in overrides.items() if value is not None})
        if values["model_dir"]:
            model_dir = Path(values["model_dir"])
        else:
            from coding_potential.config import var_dir

            model_dir = var_dir() / "serving" / "model"
        uri = (values["model_uri"] or "").strip() or None
        if uri is not None and not uri.startswith("models:/"):
            raise SettingsError(f"{PREFIX}MODEL_URI={uri!r}: use models:/NAME@ALIAS or models:/NAME/VERSION")
        return cls(model_dir=model_dir, model_uri=uri,
                   max_transcripts=_positive(values["max_transcripts"], "max_transcripts", cls.max_transcripts),
                   max_bytes=_positive(values["max_bytes"], "max_bytes", cls.max_bytes))


def _positive(text: str | None, key: str, default: int) -> int:
    if text is None or str(text).strip() == "":
        return default
    try:
        value = int(str(text).replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise SettingsError(f"{PREFIX}{key.upper()}={text!r}: expected a whole number >= 1")
    return value
