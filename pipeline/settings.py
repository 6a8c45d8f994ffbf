"""Pipeline settings from the environment, with embedded local defaults."""

from __future__ import annotations

import os
import re

from coding_potential import config

# Training defaults, read by the training DAG's params, `coding-potential train` and the main job.
#: Human (imbalanced 1:4.4) plus mouse: adding mouse raised the mouse-validation AUROC (0.9668 -> 0.9714)
#: and left the human holdout unchanged (0.9880 / 0.9879), before orf_pi; see the README's results.
TRAINING_DATASETS = (
    "human/train_coding.fa.gz", "human/train_noncoding.fa.gz",
    "mouse/train_coding.fa.gz", "mouse/train_noncoding.fa.gz",
)
#: Held-out labelled sets: scored after training, and their relatives are kept out of training.
EVALUATION_SETS = ("mouse/validation_coding.fa.gz", "mouse/validation_noncoding.fa.gz")
#: Families trained in every run; the best on the validation split becomes the candidate.
MODEL_FAMILIES = ("logistic_regression", "random_forest", "gradient_boosting")
#: Every family a run may name (``models.train.ALL_FAMILIES``, spelled out so that reading settings, a DAG
#: or the command line imports no model code): the sequence model and the ensemble of it with the best
#: feature family too.
KNOWN_MODEL_FAMILIES = (*MODEL_FAMILIES, "sequence_cnn", "ensemble")
#: A candidate must beat the champion's AUROC on its validation split by more than this to be promoted.
PROMOTION_MARGIN = 0.002

#: ``local`` runs every step on this machine; ``azure`` runs validation, features and prediction on
#: Databricks and keeps the lake in ADLS Gen2 (see ``plugins/coding_potential_operators/profiles.py``).
PROFILES = ("local", "azure")


def profile() -> str:
    """The execution profile: ``$CODING_POTENTIAL_PROFILE`` (default ``local``)."""
    name = (os.environ.get("CODING_POTENTIAL_PROFILE") or "local").strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; available: {', '.join(PROFILES)}")
    return name


def run_dir_for(dag_id: str, run_id: str) -> str:
    """Folder of one DAG run's intermediate files (run IDs hold ':' and '+': made path-safe)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return str(config.var_dir() / "runs" / dag_id / safe)


def landing_root() -> str:
    """Where the day's new FASTA lands, one ``YYYY-MM-DD/`` folder a day: ``$CODING_POTENTIAL_LANDING``
    (a folder, a ``file://`` URI, or ``wasb://CONTAINER[/PREFIX]`` for Azure Blob Storage) or the lake's
    landing zone."""
    from . import lake

    return os.environ.get("CODING_POTENTIAL_LANDING") or lake.landing()


#: ``spark`` (local Spark here, the cluster's on Databricks) or ``inprocess`` (small inputs, tests).
FEATURE_ENGINES = ("spark", "inprocess")


def features_engine() -> str:
    """The engine of the features step: ``$CODING_POTENTIAL_FEATURES_ENGINE`` (default ``spark``)."""
    name = (os.environ.get("CODING_POTENTIAL_FEATURES_ENGINE") or "spark").strip().lower()
    if name not in FEATURE_ENGINES:
        raise ValueError(f"unknown features engine {name!r}; available: {', '.join(FEATURE_ENGINES)}")
    return name


def spark_master() -> str | None:
    """Spark master of the pipeline's jobs: ``$CODING_POTENTIAL_SPARK_MASTER`` (default ``local[*]``);
    ``None`` (the cluster's own session) in the ``azure`` profile, where the job runs on Databricks."""
    if profile() == "azure":
        return None
    return os.environ.get("CODING_POTENTIAL_SPARK_MASTER") or "local[*]"
