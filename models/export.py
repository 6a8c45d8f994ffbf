"""A registered model exported for serving: a folder the serving environment loads without MLflow's store.

``coding-potential export-model --alias champion --out DIR`` writes::

    DIR/export.json      what was exported: model name, version, alias, run, threshold, feature settings,
                         and a SHA-256 per file
    DIR/bundle/          model.json, hexamer.tsv, inference.npz: what prediction needs (numpy alone)

The serving environment runs numpy 1.26 and mlflow-skinny: it can read neither the platform's SQLite
registry nor a numpy-2 pickle, so the export leaves the scikit-learn estimator (``estimator.joblib``) out;
prediction uses the compiled arrays of ``inference.npz``, which both numpy versions read.
:func:`load_export` checks every file against its digest before loading.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coding_potential.datasets import sha256_of

from .bundle import BUNDLE_FORMAT, CodingModel

EXPORT_FILE = "export.json"
EXPORT_FORMAT = 1
#: The bundle files serving needs (the estimator pickle is not one of them).
SERVING_FILES = ("model.json", "hexamer.tsv", "inference.npz")


class ExportError(ValueError):
    """An export folder that cannot be served: missing, of another format, or altered since export."""


@dataclass(frozen=True)
class ExportedModel:
    """A loaded export: the model and what ``export.json`` says of it."""

    model: CodingModel
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.info["model_name"])

    @property
    def version(self) -> str:
        return str(self.info["model_version"])


def export_model(out: str | Path, model_uri: str | None = None) -> dict[str, Any]:
    """Export a registered model version (default: the champion) to ``out``, replacing it atomically.

    Parameters
    ----------
    out : str or Path
        The export folder (created; an earlier export there is replaced whole).
    model_uri : str, optional
        ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (default: ``models:/coding-potential@champion``).

    Returns
    -------
    dict
        The content of ``export.json``.

    Raises
    ------
    models.registry.NoChampionError, models.registry.ModelNotFoundError
        When the URI names no registered version.
    """
    from . import registry

    model_uri = model_uri or registry.DEFAULT_MODEL_URI
    if not model_uri.startswith("models:/"):
        raise ValueError(f"{model_uri!r} is not a registry URI (models:/NAME@ALIAS or models:/NAME/VERSION)")
    name = model_uri.removeprefix("models:/").split("@")[0].split("/")[0]
    version = registry.resolve_version(model_uri)
    source = registry.bundle_folder(f"models:/{name}/{version}")
    spec = json.loads((source / "model.json").read_text(encoding="utf-8"))
    info = {
        "export_format": EXPORT_FORMAT, "bundle_format": spec.get("format", BUNDLE_FORMAT),
        "model_name": name, "model_version": version, "model_uri": model_uri,
        "alias": model_uri.split("@", 1)[1] if "@" in model_uri else None,
        "run_id": registry.run_id_of(name, version),
        "family": spec["family"], "threshold": spec["threshold"], "kmer_sizes": spec["kmer_sizes"],
        "files": {f"bundle/{file}": sha256_of(source / file) for file in SERVING_FILES},
    }
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from a server running as another user
        (staging / "bundle").mkdir()
        for file in SERVING_FILES:
            shutil.copyfile(source / file, staging / "bundle" / file)
        (staging / EXPORT_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def load_export(folder: str | Path) -> ExportedModel:
    """Load an export folder written by :func:`export_model`, after checking every file's digest.

    Raises
    ------
    ExportError
        The folder has no ``export.json``, is of another export format, or a file is missing or altered.
    """
    folder = Path(folder)
    manifest = folder / EXPORT_FILE
    if not manifest.is_file():
        raise ExportError(f"{folder} is not a model export (no {EXPORT_FILE}): write one with "
                          "`coding-potential export-model --alias champion --out DIR`")
    info = json.loads(manifest.read_text(encoding="utf-8"))
    if info.get("export_format") != EXPORT_FORMAT:
        raise ExportError(f"{manifest}: export format {info.get('export_format')}, this version reads {EXPORT_FORMAT}")
    for relative, expected in info["files"].items():
        path = folder / relative
        if not path.is_file():
            raise ExportError(f"{folder}: {relative} is missing")
        if sha256_of(path) != expected:
            raise ExportError(f"{folder}: {relative} differs from the exported file (SHA-256 mismatch)")
    return ExportedModel(CodingModel.load(folder / "bundle"), info)
