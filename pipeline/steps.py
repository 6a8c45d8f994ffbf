"""One function per DAG task. Arguments and results are JSON-serialisable (they travel via XCom).

Each step reads its inputs from paths given by the previous step and writes under ``run_dir``
atomically, so retrying a task or rerunning a DAG run gives the same files, not duplicates.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from coding_potential import datasets as manifest
from coding_potential.fasta import read_fasta, read_records
from coding_potential.features import compute_features

from . import settings
from .files import atomic_path
from .tables import features_table, records_table, split_outputs, write_parquet, write_rejected

log = logging.getLogger(__name__)

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".txt", ".gz")


# --------------------------------------------------------------------------------------------- inputs
def resolve_training_inputs(run_dir: str, datasets: list[str], sample_per_file: int | None = None,
                            seed: int = 0) -> dict:
    """Fetch (verified) the labelled datasets named in the manifest; optionally sample each file.

    Parameters
    ----------
    datasets : list of str
        Manifest names or globs (``human/train_*``).
    sample_per_file : int, optional
        Keep a seeded random sample of this many records per file (quick runs and tests).
    """
    chosen = manifest.select(datasets)
    paths = manifest.fetch(chosen)
    inputs = []
    for dataset, path in zip(chosen, paths, strict=True):
        if sample_per_file:
            path = _sample_fasta(path, Path(run_dir) / "inputs" / dataset.name.replace(".gz", ""),
                                 sample_per_file, seed)
        inputs.append({"path": str(path), "name": dataset.name, "label": dataset.label,
                       "species": dataset.species})
    return {"inputs": inputs, "skip": False}


def _sample_fasta(source: Path, target: Path, n: int, seed: int) -> Path:
    raw = list(read_fasta(source))
    keep = sorted(random.Random(seed).sample(range(len(raw)), min(n, len(raw))))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=target.parent, delete=False, suffix=".tmp") as handle:
        for i in keep:
            handle.write(f">{raw[i].header}\n{raw[i].sequence}\n")
    Path(handle.name).replace(target)
    return target


def ingest_landing(run_dir: str, date: str, landing: str | None = None) -> dict:
    """The FASTA files that landed for ``date`` (``LANDING/YYYY-MM-DD/``); ``skip`` when there are none."""
    folder = Path(landing or settings.landing_root()) / date
    files = sorted(p for p in folder.glob("*") if p.is_file() and not p.name.startswith(".")
                   and p.name.lower().endswith(FASTA_SUFFIXES)) if folder.is_dir() else []
    if not files:
        log.warning("no FASTA landed under %s: nothing to score for %s", folder, date)
    inputs = [{"path": str(p), "name": p.name, "label": None, "species": None} for p in files]
    return {"inputs": inputs, "skip": not files, "date": date}


# ----------------------------------------------------------------------------------------- validate
def validate_inputs(run_dir: str, resolved: dict) -> dict:
    """Validate every input file: valid records to one Parquet table, rejections to a TSV per file.

    A file that is not FASTA at all fails the step (a gate), naming the file and the reason.
    """
    out = Path(run_dir) / "validated"
    tables, totals = [], {"records": 0, "valid": 0, "rejected": 0, "reasons": {}, "warnings": {}}
    for item in resolved["inputs"]:
        records, rejections = split_outputs(read_records(item["path"]))
        tables.append(records_table(records, source=item["name"], label=item["label"],
                                    species=item["species"]))
        write_rejected(rejections, out / "rejected" / f"{_safe(item['name'])}.tsv")
        totals["records"] += len(records) + len(rejections)
        totals["valid"] += len(records)
        totals["rejected"] += len(rejections)
        for rejection in rejections:
            totals["reasons"][rejection.reason] = totals["reasons"].get(rejection.reason, 0) + 1
        for record in records:
            for warning in record.warnings:
                totals["warnings"][warning] = totals["warnings"].get(warning, 0) + 1
        log.info("%s: %d valid, %d rejected", item["name"], len(records), len(rejections))
    table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    path = write_parquet(table, out / "records.parquet")
    return {"validated": str(path), **totals, "skip": totals["valid"] == 0}


def _safe(name: str) -> str:
    return name.replace("/", "__")


# ----------------------------------------------------------------------------------------- features
def build_features(run_dir: str, validated: dict) -> dict:
    """Model-independent features of every validated record (row order kept)."""
    records = pq.read_table(validated["validated"], columns=["id", "source", "label", "species", "sequence"])
    features = compute_features(records.column("sequence").to_pylist())
    table = features_table(
        records.column("id").to_pylist(), features,
        source=records.column("source").to_pylist(), label=records.column("label").to_pylist(),
        species=records.column("species").to_pylist(),
    )
    path = write_parquet(table, Path(run_dir) / "features" / "features.parquet")
    return {"features": str(path), "validated": validated["validated"], "rows": table.num_rows}


def _feature_arrays(table: pa.Table, skip: tuple[str, ...] = ("id", "source", "label", "species")
                    ) -> dict[str, np.ndarray]:
    return {name: table.column(name).to_numpy() for name in table.column_names if name not in skip}


# -------------------------------------------------------------------------------------------- train
def train_candidate(run_dir: str, featured: dict, params: dict | None = None) -> dict:
    """Fit every model family on the sequence-disjoint train side; keep the best by validation AUROC."""
    from models.train import TrainingConfig, train

    params = params or {}
    config = TrainingConfig(
        families=tuple(params.get("model_families") or settings.MODEL_FAMILIES),
        seed=int(params.get("seed", 0)),
    )
    records = pq.read_table(featured["validated"], columns=["id", "source", "sequence", "label", "species"])
    features = pq.read_table(featured["features"])
    out = Path(run_dir) / "model"
    records, features, n_excluded = _exclude_evaluation_relatives(
        records, features, params.get("evaluation_sets", list(settings.EVALUATION_SETS)), out)
    features = _feature_arrays(features)
    ids = records.column("id").to_pylist()
    sequences = records.column("sequence").to_pylist()
    labels = records.column("label").to_numpy()
    result = train(ids, sequences, labels, config, base_features=features, progress=log.info)
    bundle = result.model.save(out / "bundle")
    validation = pa.table({
        "id": [ids[i] for i in result.split.validation],
        "sequence": [sequences[i] for i in result.split.validation],
        "label": labels[result.split.validation],
        "species": records.column("species").take(pa.array(result.split.validation)),
        "coding_probability": result.validation_probabilities,
    })
    write_parquet(validation, out / "validation.parquet")
    return {
        "bundle": str(bundle), "validation": str(out / "validation.parquet"),
        "family": result.model.spec.family, "validation_fingerprint": result.fingerprint,
        "threshold": result.model.threshold, "candidates": result.candidates,
        "n_train": int(result.split.train.size), "n_validation": int(result.split.validation.size),
        "n_excluded_near_evaluation": n_excluded,
    }


def _exclude_evaluation_relatives(records: pa.Table, features: pa.Table, evaluation_sets: list[str] | None,
                                  out: Path) -> tuple[pa.Table, pa.Table, int]:
    """Drop training records that share long stretches with an evaluation set's records.

    The evaluation sets judge generalisation; an isoform of one of their transcripts in training (the
    mouse training and validation files share over a thousand such groups) would inflate them. The
    dropped records are listed in ``excluded_near_evaluation.tsv``.
    """
    from models.split import related_to

    held_out = []
    for path in manifest.fetch(manifest.select(evaluation_sets)) if evaluation_sets else []:
        held_out.extend(r.sequence for r in split_outputs(read_records(path))[0])
    related = related_to(records.column("sequence").to_pylist(), held_out)
    listing = records.select(["id", "source", "label"]).filter(pa.array(related))
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "excluded_near_evaluation.tsv") as tmp:
        listing.to_pandas().to_csv(tmp, sep="\t", index=False)
    if related.any():
        log.info("excluded %d training records related to the evaluation sets %s", int(related.sum()),
                 evaluation_sets)
    keep = pa.array(~related)
    return records.filter(keep), features.filter(keep), int(related.sum())


# ----------------------------------------------------------------------------------------- evaluate
def evaluate_candidate(run_dir: str, trained: dict, params: dict | None = None) -> dict:
    """Metrics and plots on the validation split and on each external evaluation set."""
    from models.bundle import CodingModel
    from models.evaluate import classification_metrics, save_plots, write_report

    params = params or {}
    out = Path(run_dir) / "evaluation"
    model = CodingModel.load(trained["bundle"])
    validation = pq.read_table(trained["validation"])
    labels = validation.column("label").to_numpy()
    probabilities = validation.column("coding_probability").to_numpy()
    sets = {"validation_split": (labels, probabilities)}
    species = np.asarray(validation.column("species").to_pylist(), dtype=object)
    if len(set(species)) > 1:  # with several species, also judge each on its own
        for name in sorted(set(species)):
            rows = species == name
            sets[f"validation_split_{name.replace(' ', '_').replace('.', '')}"] = (labels[rows], probabilities[rows])
    evaluation_sets = params.get("evaluation_sets", list(settings.EVALUATION_SETS))
    if evaluation_sets:
        sets["mouse_validation"] = _score_datasets(model, evaluation_sets)
    sections = {}
    for name, (labels, probabilities) in sets.items():
        metrics = classification_metrics(labels, probabilities, model.threshold)
        plots = save_plots(labels, probabilities, model.threshold, out / name, name.replace("_", " "))
        sections[name] = {"metrics": metrics, "plots": {k: str(v) for k, v in plots.items()}}
        log.info("%s: %s", name, json.dumps({k: round(metrics[k], 4) for k in ("auroc", "sensitivity",
                                                                               "specificity", "mcc")}))
    report = write_report(sections, out, f"coding-potential candidate ({model.spec.family})")
    return {"metrics": {k: v["metrics"] for k, v in sections.items()}, "report": str(report["html"]),
            "report_json": str(report["json"]), "plots_dir": str(out)}


def _score_datasets(model, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    labels, probabilities = [], []
    for dataset, path in zip(chosen := manifest.select(names), manifest.fetch(chosen), strict=True):
        records, _ = split_outputs(read_records(path))
        probabilities.append(model.predict_proba([r.sequence for r in records]))
        labels.append(np.full(len(records), dataset.label))
    return np.concatenate(labels), np.concatenate(probabilities)


# ----------------------------------------------------------------------------------------- register
def register_candidate(run_dir: str, trained: dict, evaluated: dict, params: dict | None = None) -> dict:
    """Log the run to MLflow, register the model as a new version, and apply the promotion rule."""
    from models import registry
    from models.evaluate import classification_metrics

    params = params or {}
    margin = float(params.get("promotion_margin", settings.PROMOTION_MARGIN))
    validation = pq.read_table(trained["validation"])
    flat_metrics = {f"{split}_{name}": float(value) for split, metrics in evaluated["metrics"].items()
                    for name, value in metrics.items() if isinstance(value, int | float)}
    tags = {"validation_fingerprint": trained["validation_fingerprint"], "family": trained["family"],
            "run_dir": run_dir}
    run_id, version = registry.log_candidate(
        Path(trained["bundle"]),
        params={**{k: v for k, v in params.items()}, "family": trained["family"],
                "threshold": trained["threshold"], "n_train": trained["n_train"],
                "n_validation": trained["n_validation"]},
        metrics=flat_metrics,
        artifacts={"evaluation": Path(evaluated["plots_dir"])},
        tags=tags,
    )
    labels = validation.column("label").to_numpy()
    sequences = validation.column("sequence").to_pylist()

    def champion_auroc(champion) -> float:
        return classification_metrics(labels, champion.predict_proba(sequences), champion.threshold)["auroc"]

    decision = registry.promote(version, evaluated["metrics"]["validation_split"]["auroc"], champion_auroc,
                                margin)
    log.info("model version %s %s: %s", version, "PROMOTED to champion" if decision.promoted
             else "not promoted", decision.reason)
    return {"version": version, "run_id": run_id, "promoted": decision.promoted, "reason": decision.reason,
            "tracking_uri": registry.tracking_uri()}


# ------------------------------------------------------------------------------------------ predict
def predict(run_dir: str, featured: dict, model_uri: str | None = None) -> dict:
    """Score the featurised records with the champion (or ``model_uri``)."""
    from models import registry

    if featured.get("skip"):
        return {"skip": True}
    model = registry.load_model(model_uri)
    features_tbl = pq.read_table(featured["features"])
    sequences = pq.read_table(featured["validated"], columns=["sequence"]).column("sequence").to_pylist()
    features = _feature_arrays(features_tbl)
    features.update(model.hexamer.score_columns(sequences))
    probabilities = model.predict_features(features)
    called = probabilities >= model.threshold
    no_orf = features["orf_length"] == 0
    table = pa.table({
        "id": features_tbl.column("id"), "source": features_tbl.column("source"),
        "coding_probability": probabilities,
        "label": np.where(called, "coding", "noncoding"),
        "length": features["length"],
        "gc_content": pa.array(np.round(features["gc_content"], 4), mask=features["n_unambiguous"] == 0),
        "longest_orf_nt": features["orf_length"], "longest_open_orf_nt": features["open_orf_length"],
        "orf_start": pa.array(features["orf_start"], mask=no_orf),
        "orf_frame": pa.array(features["orf_frame"], mask=no_orf),
        "fickett": features["fickett"], "hexamer_score": features["hexamer_score"],
    })
    path = write_parquet(table, Path(run_dir) / "predictions" / "predictions.parquet")
    model_ref = model_uri or registry.DEFAULT_MODEL_URI
    version = registry.resolve_version(model_ref) if model_ref.startswith("models:/") else model_ref
    return {"predictions": str(path), "rows": table.num_rows, "model": model_ref, "model_version": version,
            "rejected_dir": str(Path(featured["validated"]).parent / "rejected")}


def publish(run_dir: str, predicted: dict, date: str, output_root: str | None = None) -> dict:
    """Publish the day's predictions as partition ``date=YYYY-MM-DD`` (Parquet, TSV, rejections),
    replacing any earlier version of that partition whole."""
    if predicted.get("skip"):
        return {"skip": True}
    root = Path(output_root or settings.predictions_root())
    partition = root / f"date={date}"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".date={date}."))
    try:
        table = pq.read_table(predicted["predictions"])
        pq.write_table(table, staging / "predictions.parquet")
        table.to_pandas().to_csv(staging / "predictions.tsv", sep="\t", index=False, float_format="%.6g")
        rejected = Path(predicted["rejected_dir"])
        if rejected.is_dir():
            shutil.copytree(rejected, staging / "rejected")
        (staging / "_SUCCESS.json").write_text(json.dumps(
            {"date": date, "rows": table.num_rows, "model": predicted["model"],
             "model_version": predicted["model_version"]}, indent=2))
        _swap_in(staging, partition)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"partition": str(partition), "rows": table.num_rows}


def _swap_in(staging: Path, partition: Path) -> None:
    """Replace ``partition`` by ``staging`` with renames only: readers see the old or the new whole."""
    old = partition.with_name(f".{partition.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if partition.exists():
        partition.rename(old)
    staging.rename(partition)
    shutil.rmtree(old, ignore_errors=True)


STEPS: dict[str, Any] = {
    f.__name__: f for f in (resolve_training_inputs, ingest_landing, validate_inputs, build_features,
                            train_candidate, evaluate_candidate, register_candidate, predict, publish)
}
