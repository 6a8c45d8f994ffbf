"""Training: sequence-disjoint split, hexamer table, baseline families, selection by validation AUROC."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from coding_potential.features import HexamerTable, compute_features

from .bundle import CodingModel, ModelSpec, input_columns, model_matrix
from .evaluate import classification_metrics
from .split import Split, sequence_disjoint_split

FAMILIES = ("logistic_regression", "random_forest", "gradient_boosting")

#: Classes are weighted to equal total weight, so probabilities are read against an equal prior
#: (transcriptomes differ in their coding fraction). The decision threshold is then chosen where
#: sensitivity equals specificity on out-of-fold predictions of the train side (``"balanced"``),
#: never on the validation split that judges the model.
DEFAULT_THRESHOLD = "balanced"
THRESHOLD_FOLDS = 3


@dataclass
class TrainingConfig:
    """Knobs of one training run (all recorded with the run)."""

    families: tuple[str, ...] = FAMILIES
    kmer_sizes: tuple[int, ...] = (1, 2, 3)
    validation_fraction: float = 0.2
    seed: int = 0
    threshold: float | str = DEFAULT_THRESHOLD
    forest_trees: int = 300
    boosting_rounds: int = 300
    boosting_learning_rate: float = 0.1


@dataclass
class TrainResult:
    """The selected model and what it was judged on.

    Attributes
    ----------
    model : CodingModel
        The best family by validation AUROC, refit on nothing else (the train side only).
    split : Split
    fingerprint : str
        Identifies the validation side (IDs and sequences).
    validation_probabilities : numpy.ndarray
        The selected model's probabilities on the validation rows, in ``split.validation`` order.
    candidates : dict
        Validation metrics of every family tried.
    """

    model: CodingModel
    split: Split
    fingerprint: str
    validation_probabilities: np.ndarray
    candidates: dict[str, dict] = field(default_factory=dict)


def make_estimator(family: str, config: TrainingConfig):
    """An unfitted scikit-learn pipeline for ``family``, with balanced class weights."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000, C=1.0))
    if family == "random_forest":
        return RandomForestClassifier(
            n_estimators=config.forest_trees, min_samples_leaf=2, class_weight="balanced_subsample",
            n_jobs=-1, random_state=config.seed,
        )
    if family == "gradient_boosting":
        return HistGradientBoostingClassifier(
            max_iter=config.boosting_rounds, learning_rate=config.boosting_learning_rate, class_weight="balanced",
            random_state=config.seed,
        )
    raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")


def train(
    ids: Sequence[str],
    sequences: Sequence[str],
    labels: Sequence[int],
    config: TrainingConfig | None = None,
    base_features: dict[str, np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Split, learn the hexamer table on the train side, fit every family, keep the best.

    Parameters
    ----------
    ids, sequences, labels : sequences of equal length
        Validated, normalised records and their class (1 coding, 0 noncoding).
    config : TrainingConfig, optional
    base_features : dict, optional
        Hexamer-free features already computed for these rows (by the pipeline's features step);
        computed here when absent.
    progress : callable, optional
        Receives one line per stage.
    """
    config = config or TrainingConfig()
    say = progress or (lambda _message: None)
    y = np.asarray(labels, dtype=int)
    if set(np.unique(y)) != {0, 1}:
        raise ValueError("training needs both coding (1) and noncoding (0) records")
    say(f"grouping {len(sequences):,} sequences into sequence-disjoint clusters")
    split = sequence_disjoint_split(sequences, y, config.validation_fraction, config.seed)
    fingerprint = split.fingerprint(ids, sequences)
    say(f"split: {split.train.size:,} train, {split.validation.size:,} validation rows, "
        f"{int(split.groups.max()) + 1:,} groups")
    train_seqs = [sequences[i] for i in split.train]
    hexamer = HexamerTable.fit(
        [s for s, label in zip(train_seqs, y[split.train], strict=True) if label == 1],
        [s for s, label in zip(train_seqs, y[split.train], strict=True) if label == 0],
    )
    features = dict(base_features) if base_features is not None else compute_features(
        list(sequences), kmer_sizes=config.kmer_sizes)
    features.update(hexamer.score_columns(list(sequences)))
    columns = input_columns(config.kmer_sizes)
    matrix = model_matrix(features, columns)
    candidates: dict[str, dict] = {}
    fitted: dict[str, tuple[object, np.ndarray]] = {}
    for family in config.families:
        say(f"fitting {family}")
        estimator = make_estimator(family, config).fit(matrix[split.train], y[split.train])
        probabilities = estimator.predict_proba(matrix[split.validation])[:, 1]
        candidates[family] = classification_metrics(y[split.validation], probabilities, 0.5)
        fitted[family] = (estimator, probabilities)
        say(f"{family}: validation AUROC {candidates[family]['auroc']:.4f}")
    best = max(candidates, key=lambda family: candidates[family]["auroc"])
    estimator, probabilities = fitted[best]
    threshold = config.threshold
    if threshold == "balanced":
        say(f"choosing the threshold of {best} on {THRESHOLD_FOLDS}-fold out-of-fold predictions")
        threshold = balanced_threshold(best, config, matrix[split.train], y[split.train], split.groups[split.train])
    threshold = float(threshold)
    candidates[best] = classification_metrics(y[split.validation], probabilities, threshold)
    spec = ModelSpec(
        family=best, threshold=threshold, kmer_sizes=list(config.kmer_sizes), input_columns=columns,
        metadata={
            "validation_fingerprint": fingerprint,
            "validation_metrics": candidates[best],
            "candidates": {f: m["auroc"] for f, m in candidates.items()},
            "n_train": int(split.train.size), "n_validation": int(split.validation.size),
            "seed": config.seed,
        },
    )
    return TrainResult(CodingModel(spec, hexamer, estimator), split, fingerprint, probabilities, candidates)


def balanced_threshold(family: str, config: TrainingConfig, matrix: np.ndarray, labels: np.ndarray,
                       groups: np.ndarray) -> float:
    """Threshold where sensitivity equals specificity on group-disjoint out-of-fold predictions."""
    from sklearn.metrics import roc_curve
    from sklearn.model_selection import GroupKFold

    out_of_fold = np.empty(labels.size)
    for fit_rows, held_rows in GroupKFold(n_splits=THRESHOLD_FOLDS).split(matrix, labels, groups):
        estimator = make_estimator(family, config).fit(matrix[fit_rows], labels[fit_rows])
        out_of_fold[held_rows] = estimator.predict_proba(matrix[held_rows])[:, 1]
    false_positive, true_positive, thresholds = roc_curve(labels, out_of_fold)
    # sensitivity = tpr, specificity = 1 - fpr: pick the ROC point where they are closest.
    best = np.argmin(np.abs(true_positive - (1.0 - false_positive))[1:]) + 1  # skip the +inf point
    return float(np.clip(thresholds[best], 0.0, 1.0))
