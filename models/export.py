"""A registered model exported for serving: a folder the serving environment loads without MLflow's store.

``coding-potential export-model --alias champion --out DIR`` writes::

    DIR/export.json      what was exported: model name, version, alias, run, threshold, feature settings,
                         and a SHA-256 per file
    DIR/bundle/          model.json, hexamer.tsv, inference.npz and, for a sequence model,
                         sequence/inference.npz: what prediction needs (numpy and scipy, no torch)

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

from .bundle import BUNDLE_FORMAT, FEATURES, SEQUENCE, SEQUENCE_FOLDER, CodingModel, components_of

EXPORT_FILE = "export.json"
EXPORT_FORMAT = 1
#: The bundle files serving needs, by component (the estimator pickle and the network's weights are not).
SERVING_FILES = {"base": ("model.json", "hexamer.tsv"), FEATURES: ("inference.npz",),
                 SEQUENCE: (f"{SEQUENCE_FOLDER}/inference.npz",)}


def serving_files(family: str) -> list[str]:
    """The bundle files a model of ``family`` is served from."""
    return [*SERVING_FILES["base"], *(file for part in components_of(family) for file in SERVING_FILES[part])]


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


def _replaceable(out: str | Path) -> Path:
    """``out`` as a target the export may replace: new, empty, or an earlier export; never anything else."""
    if not str(out).strip():
        raise ExportError("the export folder is empty text: name a folder")
    target = Path(out).absolute()
    if target.exists() and not target.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / EXPORT_FILE).is_file():
        raise ExportError(f"{out} holds files and is not an earlier export (no {EXPORT_FILE}): an export replaces "
                          "its folder whole, so name a new or empty folder")
    return target


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
    ExportError
        When ``out`` exists and is neither empty nor an earlier export (nothing is touched then).
    """
    from . import registry

    model_uri = model_uri or registry.DEFAULT_MODEL_URI
    if not model_uri.startswith("models:/"):
        raise ValueError(f"{model_uri!r} is not a registry URI (models:/NAME@ALIAS or models:/NAME/VERSION)")
    name = model_uri.removeprefix("models:/").split("@")[0].split("/")[0]
    version = registry.resolve_version(model_uri)
    source = registry.bundle_folder(f"models:/{name}/{version}")
    spec = json.loads((source / "model.json").read_text(encoding="utf-8"))
    files = serving_files(spec["family"])
    info = {
        "export_format": EXPORT_FORMAT, "bundle_format": spec.get("format", BUNDLE_FORMAT),
        "model_name": name, "model_version": version, "model_uri": model_uri,
        "alias": model_uri.split("@", 1)[1] if "@" in model_uri else None,
        "run_id": registry.run_id_of(name, version),
        "family": spec["family"], "threshold": spec["threshold"], "kmer_sizes": spec["kmer_sizes"],
        "files": {f"bundle/{file}": sha256_of(source / file) for file in files},
    }
    target = _replaceable(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from a server running as another user
        for file in files:
            (staging / "bundle" / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / file, staging / "bundle" / file)
        (staging / EXPORT_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def read_info(folder: str | Path) -> dict[str, Any]:
    """The ``export.json`` of an export folder, checked for its format and keys.

    Raises
    ------
    ExportError
        No ``export.json``, not JSON, another export format, or a key missing.
    """
    manifest = Path(folder) / EXPORT_FILE
    if not manifest.is_file():
        raise ExportError(f"{folder} is not a model export (no {EXPORT_FILE}): write one with "
                          "`coding-potential export-model --alias champion --out DIR`")
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{manifest} is not JSON ({error}): export the model again") from error
    if not isinstance(info, dict) or info.get("export_format") != EXPORT_FORMAT:
        found = info.get("export_format") if isinstance(info, dict) else None
        raise ExportError(f"{manifest}: export format {found}, this version reads {EXPORT_FORMAT}")
    missing = [key for key in ("model_name", "model_version", "family", "threshold", "files") if key not in info]
    if missing or not isinstance(info["files"], dict):
        raise ExportError(f"{manifest} lacks {', '.join(missing) or 'a files mapping'}: export the model again")
    return info


def load_export(folder: str | Path) -> ExportedModel:
    """Load an export folder written by :func:`export_model`, after checking every file's digest.

    Raises
    ------
    ExportError
        The folder has no ``export.json``, is of another export format, or a file is missing or altered.
    """
    folder = Path(folder)
    info = read_info(folder)
    for relative, expected in info["files"].items():
        path = folder / relative
        if not path.is_file():
            raise ExportError(f"{folder}: {relative} is missing")
        if sha256_of(path) != expected:
            raise ExportError(f"{folder}: {relative} differs from the exported file (SHA-256 mismatch)")
    return ExportedModel(CodingModel.load(folder / "bundle"), info)
