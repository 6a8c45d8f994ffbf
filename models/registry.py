"""MLflow tracking and model registry: log a candidate, register it, promote a champion.

The embedded default is an SQLite store and a file artifact root under ``var/mlflow/``;
``MLFLOW_TRACKING_URI`` (and ``CODING_POTENTIAL_ARTIFACT_ROOT``) point elsewhere, e.g. Azure ML.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coding_potential import config

from .bundle import CodingModel

MODEL_NAME = "coding-potential"
CHAMPION_ALIAS = "champion"
EXPERIMENT = "coding-potential"
DEFAULT_MODEL_URI = f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}"


class NoChampionError(LookupError):
    """The registry has no champion yet."""


class ModelNotFoundError(LookupError):
    """A ``models:/`` URI names no model version in the registry."""


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, or the embedded SQLite store in ``var/mlflow/mlflow.db``."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    return f"sqlite:///{config.var_dir() / 'mlflow' / 'mlflow.db'}"


def artifact_root() -> str:
    """Where new experiments keep artifacts (a local folder by default)."""
    configured = os.environ.get("CODING_POTENTIAL_ARTIFACT_ROOT")
    return configured or (config.var_dir() / "mlflow" / "artifacts").as_uri()


def client():
    """An :class:`mlflow.MlflowClient` on the configured store (MLflow imported lazily: it is slow)."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):  # SQLite creates the file, not its folder
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient()


def experiment_id(mlflow_client=None) -> str:
    """The project's MLflow experiment on the configured store, created on first use."""
    mlflow_client = mlflow_client or client()
    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow_client.create_experiment(EXPERIMENT, artifact_location=artifact_root())


@dataclass(frozen=True)
class Promotion:
    """Outcome of the promotion rule."""

    promoted: bool
    reason: str


def decide_promotion(candidate_auroc: float, champion_auroc: float | None, margin: float) -> Promotion:
    """The promotion rule: promote when there is no champion, or when the candidate beats it by ``margin``.

    Both AUROCs are measured on the candidate's own sequence-disjoint validation split.
    """
    if champion_auroc is None:
        return Promotion(True, f"no champion yet; candidate AUROC {candidate_auroc:.4f}")
    gain = candidate_auroc - champion_auroc
    if gain > margin:
        return Promotion(True, f"candidate AUROC {candidate_auroc:.4f} beats champion {champion_auroc:.4f} "
                               f"by {gain:+.4f} > margin {margin}")
    return Promotion(False, f"candidate AUROC {candidate_auroc:.4f} vs champion {champion_auroc:.4f} "
                            f"({gain:+.4f}) does not beat the margin {margin}")


def log_candidate(
    bundle_dir: Path,
    params: dict[str, Any],
    metrics: dict[str, float],
    artifacts: dict[str, Path],
    tags: dict[str, str],
) -> tuple[str, str]:
    """Log one training run with its model, and register the model as a new version.

    Returns
    -------
    run_id, version : str
    """
    import mlflow

    from .pyfunc import CodingPotentialPyfunc

    mlflow_client = client()
    with mlflow.start_run(experiment_id=experiment_id(mlflow_client), tags=tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        for subdir, path in artifacts.items():
            if Path(path).is_dir():
                mlflow.log_artifacts(str(path), artifact_path=subdir)
            else:
                mlflow.log_artifact(str(path), artifact_path=subdir)
        # The bundle's definition files are also plain run artifacts, readable without loading the model.
        mlflow.log_artifact(str(bundle_dir / "model.json"), artifact_path="definitions")
        mlflow.log_artifact(str(bundle_dir / "hexamer.tsv"), artifact_path="definitions")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CodingPotentialPyfunc(),
            artifacts={"bundle": str(bundle_dir)},
            pip_requirements=["coding-potential", "scikit-learn==1.9.1", "numpy", "pandas"],
        )
        version = mlflow.register_model(info.model_uri, MODEL_NAME, tags=tags)
    return run.info.run_id, str(version.version)


def champion_version(mlflow_client=None) -> str | None:
    """The version number holding the champion alias, or ``None``."""
    mlflow_client = mlflow_client or client()
    try:
        return str(mlflow_client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version)
    except Exception as error:  # MLflow raises its own RestException/MlflowException for a missing alias
        if "not found" in str(error).lower() or "RESOURCE_DOES_NOT_EXIST" in str(error):
            return None
        raise


def promote(
    version: str,
    candidate_auroc: float,
    champion_auroc_on_split: Callable[[CodingModel], float],
    margin: float,
) -> Promotion:
    """Apply the promotion rule to registered ``version``; move the champion alias when it wins.

    Parameters
    ----------
    champion_auroc_on_split : callable
        Scores the current champion on the candidate's validation split and returns its AUROC.
    """
    mlflow_client = client()
    current = champion_version(mlflow_client)
    champion_auroc = None
    if current is not None and current != version:
        champion_auroc = champion_auroc_on_split(load_model(f"models:/{MODEL_NAME}/{current}"))
    decision = decide_promotion(candidate_auroc, champion_auroc, margin)
    mlflow_client.set_model_version_tag(MODEL_NAME, version, "promotion", decision.reason)
    if decision.promoted:
        mlflow_client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, version)
    return decision


def _alias_from_sqlite(name: str, alias: str) -> str | None:
    """Read an alias straight from the embedded SQLite store.

    Importing MLflow takes about two seconds, longer than scoring 10,000 transcripts; the embedded
    store answers this one question with one query. Any surprise (another store, another schema)
    raises LookupError and the caller asks MLflow itself.
    """
    import sqlite3

    uri = tracking_uri()
    if not uri.startswith("sqlite:///"):
        raise LookupError(uri)
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
    except sqlite3.Error as error:
        raise LookupError(str(error)) from error
    return None if row is None else str(row[0])


def resolve_version(model_uri: str) -> str:
    """The version number behind ``models:/NAME@alias`` or ``models:/NAME/N``."""
    name_and_ref = model_uri.removeprefix("models:/")
    if "@" in name_and_ref:
        name, alias = name_and_ref.split("@", 1)
        if name == MODEL_NAME and alias == CHAMPION_ALIAS:
            try:
                current = _alias_from_sqlite(name, alias)
            except LookupError:
                current = champion_version()
            if current is None:
                raise NoChampionError(
                    "no champion model is registered yet: train one with `coding-potential train` "
                    "(or `make demo`, which runs the training DAG)")
            return current
        return str(client().get_model_version_by_alias(name, alias).version)
    name, _, version = name_and_ref.partition("/")
    if not name or not version.isdigit():
        raise ModelNotFoundError(f"{model_uri!r} is neither models:/NAME/VERSION nor models:/NAME@ALIAS")
    return version


def load_model(model_uri: str | None = None) -> CodingModel:
    """Load a :class:`CodingModel` from a bundle folder or a registry URI (default: the champion).

    Registry downloads are cached per version under ``var/cache/models/``, so repeated predictions
    do not copy the model again.
    """
    return CodingModel.load(bundle_folder(model_uri))


def bundle_folder(model_uri: str | None = None) -> Path:
    """The local bundle folder of a model: the folder itself, or a registry version's cached download."""
    model_uri = model_uri or DEFAULT_MODEL_URI
    if not model_uri.startswith("models:/"):
        return _find_bundle(Path(model_uri.removeprefix("file://")))
    name = model_uri.removeprefix("models:/").split("@")[0].split("/")[0]
    try:
        version = resolve_version(model_uri)
        cache = config.var_dir() / "cache" / "models" / name / version
        if not cache.is_dir():
            _download_version(name, version, cache)
    except Exception as error:
        if type(error).__module__.startswith("mlflow"):  # unknown name, version or alias
            raise ModelNotFoundError(f"{model_uri} not found in {tracking_uri()}: {error}") from error
        raise
    return _find_bundle(cache)


def run_id_of(name: str, version: str) -> str | None:
    """The MLflow run that logged a registered version."""
    return client().get_model_version(name, version).run_id


def _download_version(name: str, version: str, cache: Path) -> None:
    """Copy a registered version's artifacts into ``cache`` (atomically: staged, then renamed)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep `predict -q` quiet
    import mlflow

    client()  # sets the tracking and registry URIs
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache.parent, prefix=f".{version}."))
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(staging))
        try:
            staging.rename(cache)
        except OSError:  # another task cached the same version meanwhile: its copy is as good
            if not cache.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _find_bundle(folder: Path) -> Path:
    if (folder / "model.json").is_file():
        return folder
    found = sorted(folder.rglob("model.json"))
    if not found:
        raise FileNotFoundError(f"no model bundle (model.json) under {folder}")
    return found[0].parent
