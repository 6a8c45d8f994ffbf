"""One function per DAG task. Arguments and results are JSON-serialisable (they travel via XCom).

Each step reads its inputs from paths given by the previous step and writes under ``run_dir``
atomically, so retrying a task or rerunning a DAG run gives the same files, not duplicates.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from coding_potential import config
from coding_potential import datasets as manifest
from coding_potential.fasta import read_fasta, read_records

from . import lake as lake_layout
from . import settings, storage
from .files import atomic_path
from .tables import VALIDATED_ROW_GROUP, records_table, rejected_table, split_outputs, write_parquet

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------------------------- inputs
def resolve_training_inputs(date: str, datasets: list[str] | None = None, sample_per_file: int | None = None,
                            seed: int = 0, lake: str | None = None, run_dir: str | None = None,
                            manifest_file: str | None = None) -> dict:
    """Copy the labelled training files into the raw zone: the project's datasets (fetched, verified),
    or the files of a user's manifest.

    The raw partition ``raw/training/date=DATE`` is replaced whole and lists its files, with their
    label and species, in ``_inputs.json``.

    Parameters
    ----------
    datasets : list of str
        Manifest names or globs (``human/train_*``) of the project's datasets.
    sample_per_file : int, optional
        Keep a seeded random sample of this many records per file (quick runs and tests).
    manifest_file : str, optional
        A TSV of the user's labelled files (``path``, ``label``, optional ``species``; see
        :func:`validation.run.read_manifest`), used instead of ``datasets``.
    """
    if manifest_file:
        from validation.run import read_manifest

        chosen = [(item.name, Path(item.path), item.label, item.species) for item in read_manifest(manifest_file)]
    else:
        picked = manifest.select(datasets or [])
        chosen = [(d.name, path, d.label, d.species) for d, path in zip(picked, manifest.fetch(picked), strict=True)]
    raw = lake_layout.partition("raw", "training", date, lake)
    target = storage.folder(raw)
    inputs = []
    with storage.replaced_partition(raw) as staging:
        for index, (given, path, label, species) in enumerate(chosen):
            name = _safe(given) if not manifest_file else f"{index:03d}__{_safe(path.name)}"
            if sample_per_file:
                name = name.removesuffix(".gz")
                with staging.open(name, "wb") as handle:
                    _sample_fasta(path, handle, sample_per_file, seed)
            else:
                staging.put(path, name)
            location = target.child(name)
            inputs.append({"name": given, "path": location.path if _is_local(location) else location.uri,
                           "label": label, "species": species})
        staging.write_json(lake_layout.INPUTS_FILE, {"date": date, "source": manifest_file or "manifest",
                                                     "inputs": inputs})
    return {"raw": raw, "inputs": inputs, "skip": False}


def _sample_fasta(source: Path, handle, n: int, seed: int) -> None:
    raw = list(read_fasta(source))
    keep = sorted(random.Random(seed).sample(range(len(raw)), min(n, len(raw))))
    handle.write("".join(f">{raw[i].header}\n{raw[i].sequence}\n" for i in keep).encode())


def _is_local(location: storage.Folder) -> bool:
    return location.uri.startswith("file:")


def ingest_landing(date: str, source: str | None = None, lake: str | None = None,
                   conn_id: str = "wasb_default", run_dir: str | None = None) -> dict:
    """Copy the day's landed FASTA (a landing folder, or ``wasb://CONTAINER`` through the Airflow Azure
    provider) into ``raw/scoring/date=DATE``; ``skip`` when nothing landed that day."""
    from .ingest import ingest

    raw = lake_layout.partition("raw", "scoring", date, lake)
    return ingest(date, raw, source or settings.landing_root(), conn_id=conn_id)


# ----------------------------------------------------------------------------------------- validate
#: The gate each dataset of the lake goes through.
GATE_OF_DATASET = {"training": "training", "scoring": "prediction"}


def validate_inputs(date: str, dataset: str, lake: str | None = None, run_dir: str | None = None,
                    thresholds: dict[str, Any] | None = None) -> dict:
    """Validate every file of the raw partition, then gate the records with Great Expectations.

    A raw partition with no input (missing, or no FASTA in it) is a skip: nothing is written.

    Rejected records go to ``quarantine/DATASET/date=DATE/rejected.parquet`` with the reason, beside
    ``_summary.json``, which reconciles records = valid + rejected per file and holds the gate's
    outcomes. When the gate passes, valid records (with their sequence, label and species) go to
    ``validated/DATASET/date=DATE``, one Parquet file per input (under ``species=NAME/`` when every
    input says its species). Both partitions are replaced whole. The data-quality report (summary,
    plots, Data Docs) goes to ``var/reports/DATASET/date=DATE/``, replaced on a rerun.

    Parameters
    ----------
    thresholds : dict, optional
        Gate thresholds for this run (DAG params), over the deployment's (``validation.settings``).

    Raises
    ------
    validation.gate.GateFailed
        A hard expectation failed: the message names it, the failing count and example IDs. The
        quarantine partition and the report are written; the date has no validated partition.
    coding_potential.fasta.FastaFormatError
        A file is not FASTA at all (named with the reason).
    """
    from validation.gate import GateFailed
    from validation.run import gate_tables
    from validation.settings import thresholds as gate_thresholds

    limits = gate_thresholds(thresholds)
    raw = lake_layout.partition("raw", dataset, date, lake)
    inputs = _raw_inputs(storage.folder(raw))
    if not inputs:
        return _nothing_landed("validate", raw)
    validated = lake_layout.partition("validated", dataset, date, lake)
    quarantine = lake_layout.partition("quarantine", dataset, date, lake)
    by_species = bool(inputs) and all(item.get("species") for item in inputs)
    totals: dict[str, Any] = {"records": 0, "valid": 0, "rejected": 0, "reasons": {}, "warnings": {}, "files": []}
    valid_tables, rejected_tables = [], [rejected_table([], "")]
    for item in inputs:
        with storage.open_input(item["path"]) as stream:
            records, rejections = split_outputs(read_records(stream))
        valid_tables.append(records_table(records, source=item["name"], label=item["label"], species=item["species"]))
        rejected_tables.append(rejected_table(rejections, item["name"]))
        _count(totals, item["name"], records, rejections)
    gated = gate_tables(valid_tables, rejected_tables, totals["files"], GATE_OF_DATASET[dataset], limits,
                        config.var_dir() / "reports" / dataset / f"date={date}", run_name=f"{dataset} {date}")
    result, report, quarantined = gated.result, gated.report, gated.rejected
    log.info("data-quality report: %s (Data Docs: %s)", report["summary_md"], report.get("data_docs"))
    with storage.replaced_partition(quarantine) as quarantine_dir:
        quarantine_dir.write_parquet(quarantined, "rejected.parquet")
        quarantine_dir.write_json(lake_layout.SUMMARY_FILE, {"date": date, "dataset": dataset, **totals,
                                                             "gate": result.as_dict()})
    if not result.passed:
        if storage.remove_partition(validated):
            log.info("removed %s: written by an earlier run whose data passed", validated)
        raise GateFailed(result)
    with storage.replaced_partition(validated) as valid_dir:
        for index, (item, valid) in enumerate(zip(inputs, valid_tables, strict=True)):
            name = f"part-{index:05d}.parquet"
            valid_dir.write_parquet(valid.drop_columns(["species"]) if by_species else valid,
                                    f"species={item['species']}/{name}" if by_species else name,
                                    row_group_size=VALIDATED_ROW_GROUP)
    return {"validated": validated, "quarantine": quarantine, **totals, "skip": totals["valid"] == 0,
            "gate": {"passed": True, "warnings": [o.line() for o in result.warnings]}, "report": report["summary_md"],
            "data_docs": report.get("data_docs")}


def _raw_inputs(raw: storage.Folder) -> list[dict[str, Any]]:
    """The raw partition's files: as its ``_inputs.json`` lists them, or, for a partition a plain copy
    filled (ADF's Copy activity in production), its files that ingestion would take (FASTA names, nothing
    hidden: :func:`pipeline.ingest.is_taken`), unlabelled, in name order. None for a missing partition."""
    from .ingest import is_taken

    if raw.fs.exists(f"{raw.path}/{lake_layout.INPUTS_FILE}"):
        return raw.read_json(lake_layout.INPUTS_FILE)["inputs"]
    if not raw.fs.exists(raw.path):
        return []
    found = sorted(path for path in raw.fs.find(raw.path) if is_taken(path[len(raw.path) + 1:]))
    log.info("%s has no %s: validating its %d FASTA file(s)", raw.uri, lake_layout.INPUTS_FILE, len(found))
    return [{"name": path[len(raw.path) + 1:], "path": path if _is_local(raw) else f"{raw.uri}{path[len(raw.path):]}",
             "label": None, "species": None} for path in found]


def _nothing_landed(step: str, raw: str) -> dict:
    """A date whose raw partition holds no input: the step skips and writes nothing.

    Under Airflow the ingest task skips such a date and its downstream tasks with it; ADF runs every
    activity regardless (its Copy then copies no file), so each step sees the empty partition itself.
    """
    log.info("%s: nothing landed in %s: skipped, nothing written", step, raw)
    return {"skip": True, "raw": raw, "reason": "nothing landed"}


def _count(totals: dict[str, Any], name: str, records: list, rejections: list) -> None:
    totals["records"] += len(records) + len(rejections)
    totals["valid"] += len(records)
    totals["rejected"] += len(rejections)
    for rejection in rejections:
        totals["reasons"][rejection.reason] = totals["reasons"].get(rejection.reason, 0) + 1
    for record in records:
        for warning in record.warnings:
            totals["warnings"][warning] = totals["warnings"].get(warning, 0) + 1
    totals["files"].append({"name": name, "records": len(records) + len(rejections), "valid": len(records),
                            "rejected": len(rejections)})
    log.info("%s: %d valid, %d rejected", name, len(records), len(rejections))


def _safe(name: str) -> str:
    return name.replace("/", "__")


# ----------------------------------------------------------------------------------------- features
def build_features(date: str, dataset: str, lake: str | None = None, engine: str | None = None,
                   run_dir: str | None = None) -> dict:
    """Model-independent features of every validated record, into ``features/DATASET/date=DATE``.

    ``engine`` ``spark`` (default, ``$CODING_POTENTIAL_FEATURES_ENGINE``) runs the Spark job (local Spark
    here, the cluster's on Databricks); ``inprocess`` computes the same table in this process (small
    inputs). Both call the same per-batch function. The partition is replaced whole.
    """
    from spark_jobs import features_job

    raw = lake_layout.partition("raw", dataset, date, lake)
    if not _raw_inputs(storage.folder(raw)):
        return _nothing_landed("features", raw)
    validated = lake_layout.partition("validated", dataset, date, lake)
    features = lake_layout.partition("features", dataset, date, lake)
    engine = engine or settings.features_engine()
    if engine == "spark":
        master = settings.spark_master()
        spark = features_job.spark_session(master)
        try:
            result = features_job.featurise_validated(validated, features, spark)
        finally:
            if master:  # a local JVM of this task's own; a cluster's session is left alone
                spark.stop()
    elif engine == "inprocess":
        featured = features_job.featurise_validated_table(storage.read_partition(validated))
        with storage.replaced_partition(features) as staging:
            _write_partitioned(featured, staging, by_species=_species_known(featured))
        result = {"validated": validated, "features": features, "rows": featured.num_rows}
    else:
        raise ValueError(f"unknown features engine {engine!r}; available: {', '.join(settings.FEATURE_ENGINES)}")
    log.info("features (%s): %d rows into %s", engine, result["rows"], features)
    return {**result, "engine": engine}


def _write_partitioned(table: pa.Table, folder: storage.Folder, by_species: bool) -> None:
    """One file, or one ``species=NAME/`` folder per species (Hive style, as Spark's ``partitionBy``)."""
    if not by_species:
        folder.write_parquet(table, "part-00000.parquet")
        return
    for species in sorted(set(table.column("species").to_pylist())):
        rows = table.filter(pc.equal(table.column("species"), species)).drop_columns(["species"])
        folder.write_parquet(rows, f"species={species}/part-00000.parquet")


def _species_known(table: pa.Table) -> bool:
    return table.num_rows > 0 and table.column("species").null_count == 0


def _records_with_features(dataset: str, date: str, lake: str | None) -> tuple[pa.Table, pa.Table]:
    """The validated records and their features, aligned row by row, in (source, record number) order."""
    keys = [("source", "ascending"), ("record_number", "ascending")]
    records = storage.read_partition(lake_layout.partition("validated", dataset, date, lake)).sort_by(keys)
    features = storage.read_partition(lake_layout.partition("features", dataset, date, lake)).sort_by(keys)
    if records.num_rows != features.num_rows or not all(
            records.column(key).to_pylist() == features.column(key).to_pylist() for key in ("source", "record_number")):
        raise RuntimeError(f"the validated and features partitions of {dataset} {date} do not hold the same "
                           f"records ({records.num_rows} vs {features.num_rows} rows): rerun the features step")
    return records, features


def _feature_arrays(table: pa.Table) -> dict[str, np.ndarray]:
    from spark_jobs.features_job import feature_names

    return {name: table.column(name).to_numpy() for name in feature_names()}


# -------------------------------------------------------------------------------------------- train
def train_candidate(run_dir: str, date: str, lake: str | None = None, params: dict | None = None) -> dict:
    """Fit every model family on the sequence-disjoint train side; keep the best by validation AUROC.

    ``params`` may carry ``tuned`` (settings a tuning study chose, see :func:`tune_candidate`) and
    ``sequence`` (the sequence model's settings)."""
    from models.train import train

    params = params or {}
    config = _training_config(params)
    out = Path(run_dir) / "model"
    records, features, n_short, n_excluded = _training_rows(date, lake, params, out)
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
        "n_excluded_near_evaluation": n_excluded, "n_excluded_too_short": n_short,
    }


def _training_config(params: dict):
    """The :class:`models.train.TrainingConfig` of a run's params (families, seed, sequence, tuned)."""
    from models.train import TrainingConfig
    from models.tuning import apply

    config = TrainingConfig(
        families=tuple(params.get("model_families") or settings.MODEL_FAMILIES),
        seed=int(params.get("seed", 0)),
        sequence=dict(params.get("sequence") or {}),
    )
    return apply(config, params.get("tuned") or {})


def _training_rows(date: str, lake: str | None, params: dict, out: Path) -> tuple[pa.Table, dict, int, int]:
    """The training records and feature arrays, short records and evaluation-set relatives left out."""
    records, features = _records_with_features("training", date, lake)
    records, features, n_short = _exclude_too_short(records, features, params.get("min_length"))
    records, features, n_excluded = _exclude_evaluation_relatives(
        records, features, params.get("evaluation_sets", list(settings.EVALUATION_SETS)), out)
    return records, _feature_arrays(features), n_short, n_excluded


def tune_candidate(run_dir: str, date: str, family: str, lake: str | None = None, params: dict | None = None) -> dict:
    """An Optuna study of ``family`` on the training partition (``models.tuning``), each trial an MLflow run.

    ``params``: ``n_trials`` (default 20), ``timeout_s`` (default none), ``seed`` and the training params.
    Writes ``tuning/<family>.json`` (best settings, every trial), ``.png`` and ``.html`` under ``run_dir``;
    pass the JSON's ``best_params`` as ``tuned`` to :func:`train_candidate`.
    """
    from models.tuning import mlflow_trial_logger, tune, write_study

    params = params or {}
    out = Path(run_dir) / "tuning"
    records, _, _, _ = _training_rows(date, lake, params, out)
    study = f"{Path(run_dir).name}-{family}"
    result = tune(records.column("id").to_pylist(), records.column("sequence").to_pylist(),
                  records.column("label").to_numpy(), family, n_trials=int(params.get("n_trials", 20)),
                  timeout_s=params.get("timeout_s"), seed=int(params.get("seed", 0)), base=_training_config(params),
                  progress=log.info, on_trial=mlflow_trial_logger(study, family))
    paths = write_study(result, out)
    return {"family": family, "study": study, "best_params": result.best_params, "best_auroc": result.best_auroc,
            "n_trials": len(result.trials), "n_pruned": sum(t["state"] == "PRUNED" for t in result.trials),
            **{name: str(path) for name, path in paths.items()}}


def _exclude_too_short(records: pa.Table, features: pa.Table, min_length: int | None) -> tuple[pa.Table, pa.Table, int]:
    """Leave out valid records under ``min_length`` nt (default: the gate's): shorter than the usual lncRNA
    bound, they are reported by the gate as ``excluded_too_short``, not rejected."""
    from validation.settings import thresholds

    limit = thresholds({"min_length": min_length}).min_length
    keep = pc.greater_equal(pc.utf8_length(records.column("sequence")), limit)
    n_short = records.num_rows - pc.sum(keep).as_py() if records.num_rows else 0
    log.info("excluded_too_short: %d training records under %d nt left out", n_short, limit)
    return records.filter(keep), features.filter(keep), n_short


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
    report = write_report(sections, out, f"coding-potential candidate ({model.spec.family})",
                          trained.get("candidates"))
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
def predict(date: str, model_uri: str | None = None, lake: str | None = None, run_dir: str | None = None) -> dict:
    """Score the day's featurised records with the champion (or ``model_uri``) into
    ``predictions/scoring/date=DATE/predictions.parquet``, which names the model and version in every
    row and in ``_SUCCESS.json``. The partition is replaced whole: a rerun never appends."""
    from models import registry

    raw = lake_layout.partition("raw", "scoring", date, lake)
    if not _raw_inputs(storage.folder(raw)):
        return _nothing_landed("predict", raw)
    model_ref = model_uri or registry.DEFAULT_MODEL_URI
    model = registry.load_model(model_ref)
    version = registry.resolve_version(model_ref) if model_ref.startswith("models:/") else "bundle"
    name = registry.MODEL_NAME if model_ref.startswith("models:/") else model_ref
    records, features_tbl = _records_with_features("scoring", date, lake)
    table = _prediction_table(model, records, features_tbl).append_column(
        "model_name", pa.array([name] * records.num_rows, pa.string())).append_column(
        "model_version", pa.array([version] * records.num_rows, pa.string()))
    partition = lake_layout.partition("predictions", "scoring", date, lake)
    with storage.replaced_partition(partition) as staging:
        staging.write_parquet(table, "predictions.parquet")
        staging.write_json("_SUCCESS.json", {"date": date, "rows": table.num_rows, "model": model_ref,
                                             "model_name": name, "model_version": version})
    log.info("scored %d records of %s with %s (version %s) into %s", table.num_rows, date, model_ref, version,
             partition)
    return {"predictions": partition, "rows": table.num_rows, "model": model_ref, "model_name": name,
            "model_version": version}


def _prediction_table(model, records: pa.Table, features_tbl: pa.Table) -> pa.Table:
    """The ``predict`` columns (``models.predictions``) for aligned validated records and features, after the
    record's ``source`` and ``record_number``; GC to 4 decimals, undefined values null."""
    from models.predictions import PREDICTION_COLUMNS, from_features

    features = _feature_arrays(features_tbl)
    sequences = records.column("sequence").to_pylist()
    features.update(model.hexamer.score_columns(sequences))
    p = from_features(model, records.column("id").to_pylist(), records.column("warnings").to_pylist(), features,
                      sequences)
    columns = {name: getattr(p, name) for name in PREDICTION_COLUMNS}
    columns["gc_content"] = pa.array(np.round(p.gc_content, 4), mask=p.gc_missing)
    columns["orf_start"] = pa.array(p.orf_start, mask=p.orf_missing)
    columns["orf_frame"] = pa.array(p.orf_frame, mask=p.orf_missing)
    return pa.table({"source": records.column("source"), "record_number": records.column("record_number"),
                     **columns})
