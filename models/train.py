"""Training: sequence-disjoint split, hexamer table, model families, selection by validation AUROC.

Feature families alone (the default) are fitted on the whole train side, and each one's decision
threshold comes from out-of-fold predictions there. When the sequence model (``sequence_cnn``) or the
``ensemble`` is asked for, every candidate is trained the same way instead, so they compete on the same
footing: a sequence-disjoint calibration part (``calibration_fraction`` of the train side, whole
groups) is held out; the hexamer table and every model are fitted on the rest; each model is
calibrated on the calibration part (Platt by default: strictly monotone, so a model's ranking and AUROC
are untouched, and steady on small parts, where isotonic steps tie scores) and its threshold is where
sensitivity equals specificity there. The ``ensemble`` is the mean of the calibrated probabilities of
the sequence model and the feature family best on the calibration part. A network is too costly to
refit per fold, hence the held-out part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from coding_potential.features import HexamerTable, compute_features

from .bundle import (
    ENSEMBLE_FAMILY,
    FEATURE_FAMILIES,
    FEATURES,
    SEQUENCE,
    SEQUENCE_FAMILY,
    CodingModel,
    ModelSpec,
    input_columns,
    model_matrix,
)
from .calibration import Calibrator
from .evaluate import classification_metrics
from .split import Split, hold_out_groups, sequence_disjoint_split

FAMILIES = FEATURE_FAMILIES
ALL_FAMILIES = (*FEATURE_FAMILIES, SEQUENCE_FAMILY, ENSEMBLE_FAMILY)

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
    forest_min_samples_leaf: int = 2
    boosting_rounds: int = 300
    boosting_learning_rate: float = 0.1
    boosting_max_leaf_nodes: int = 31
    boosting_l2: float = 0.0
    #: Only with a sequence family: the train side's share held out to calibrate and set thresholds.
    calibration_fraction: float = 0.15
    calibration_method: str = "platt"
    sequence: dict = field(default_factory=dict)  # models.sequence.SequenceConfig fields

    def __post_init__(self) -> None:
        unknown = sorted(set(self.families) - set(ALL_FAMILIES))
        if unknown or not self.families:
            raise ValueError(f"unknown model families {unknown or '(none)'}; known: {', '.join(ALL_FAMILIES)}")
        if ENSEMBLE_FAMILY in self.families and not set(self.families) & set(FEATURE_FAMILIES):
            raise ValueError("the ensemble joins the best feature family with the sequence model: "
                             "name a feature family too")

    @property
    def held_out(self) -> bool:
        """Whether candidates are calibrated on a held-out part (a sequence family is asked for)."""
        return bool({SEQUENCE_FAMILY, ENSEMBLE_FAMILY} & set(self.families))


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
    candidate_models : dict
        With a sequence family (held-out calibration): every candidate as a model of its own, calibrated
        and thresholded on the calibration part (for side-by-side benchmarks); otherwise the selected
        model alone.
    """

    model: CodingModel
    split: Split
    fingerprint: str
    validation_probabilities: np.ndarray
    candidates: dict[str, dict] = field(default_factory=dict)
    candidate_models: dict[str, CodingModel] = field(default_factory=dict)


def learned_features(sequences: Sequence[str], labels: np.ndarray, rows: np.ndarray, kmer_sizes: Sequence[int],
                     base_features: dict[str, np.ndarray] | None = None,
                     ) -> tuple[HexamerTable, dict[str, np.ndarray], list[str], np.ndarray]:
    """The hexamer table learned on ``rows`` alone, every row's features with its scores, and the model
    matrix: (hexamer, features, columns, matrix). ``base_features``: hexamer-free features already computed."""
    hexamer = HexamerTable.fit([sequences[i] for i in rows if labels[i] == 1],
                               [sequences[i] for i in rows if labels[i] == 0])
    features = dict(base_features) if base_features is not None else compute_features(
        list(sequences), kmer_sizes=tuple(kmer_sizes))
    features.update(hexamer.score_columns(list(sequences)))
    columns = input_columns(kmer_sizes)
    return hexamer, features, columns, model_matrix(features, columns)


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
            n_estimators=config.forest_trees, min_samples_leaf=config.forest_min_samples_leaf,
            class_weight="balanced_subsample",
            n_jobs=-1, random_state=config.seed,
        )
    if family == "gradient_boosting":
        return HistGradientBoostingClassifier(
            max_iter=config.boosting_rounds, learning_rate=config.boosting_learning_rate, class_weight="balanced",
            max_leaf_nodes=config.boosting_max_leaf_nodes, l2_regularization=config.boosting_l2,
            random_state=config.seed,
        )
    raise ValueError(f"unknown feature model family {family!r}; known: {', '.join(FAMILIES)}")


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
    if config.held_out:
        return _train_held_out(ids, sequences, y, split, fingerprint, config, base_features, say)
    hexamer, _, columns, matrix = learned_features(sequences, y, split.train, config.kmer_sizes, base_features)
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
    model = CodingModel(spec, hexamer, estimator)
    return TrainResult(model, split, fingerprint, probabilities, candidates, {best: model})


def balanced_threshold(family: str, config: TrainingConfig, matrix: np.ndarray, labels: np.ndarray,
                       groups: np.ndarray) -> float:
    """Threshold where sensitivity equals specificity on group-disjoint out-of-fold predictions."""
    from sklearn.model_selection import GroupKFold

    out_of_fold = np.empty(labels.size)
    for fit_rows, held_rows in GroupKFold(n_splits=THRESHOLD_FOLDS).split(matrix, labels, groups):
        estimator = make_estimator(family, config).fit(matrix[fit_rows], labels[fit_rows])
        out_of_fold[held_rows] = estimator.predict_proba(matrix[held_rows])[:, 1]
    return _balanced(labels, out_of_fold)


def _train_held_out(ids: Sequence[str], sequences: Sequence[str], y: np.ndarray, split: Split, fingerprint: str,
                    config: TrainingConfig, base_features: dict[str, np.ndarray] | None,
                    say: Callable[[str], None]) -> TrainResult:
    """Every candidate fitted on the train side less a calibration part, calibrated there (module notes)."""
    from .sequence import SequenceConfig, SequenceModel

    fit_rows, calibration_rows = hold_out_groups(split.train, split.groups, y, config.calibration_fraction,
                                                 config.seed)
    say(f"calibration part held out of the train side: {calibration_rows.size:,} rows "
        f"({fit_rows.size:,} left to fit on)")
    hexamer, features, columns, matrix = learned_features(sequences, y, fit_rows, config.kmer_sizes, base_features)
    judged = np.concatenate([calibration_rows, split.validation])  # scored once, split after
    raw: dict[str, np.ndarray] = {}
    estimators: dict[str, object] = {}
    for family in (f for f in config.families if f in FEATURE_FAMILIES):
        say(f"fitting {family}")
        estimators[family] = make_estimator(family, config).fit(matrix[fit_rows], y[fit_rows])
        raw[family] = estimators[family].predict_proba(matrix[judged])[:, 1]
    say("fitting the sequence model")
    sequence_model = SequenceModel.fit([sequences[i] for i in fit_rows], features["orf_start"][fit_rows],
                                       matrix[fit_rows], y[fit_rows], SequenceConfig(**config.sequence), say)
    raw[SEQUENCE_FAMILY] = sequence_model.predict_proba([sequences[i] for i in judged],
                                                        features["orf_start"][judged], matrix[judged])
    n_calibration = calibration_rows.size
    calibrators = {name: Calibrator.fit(p[:n_calibration], y[calibration_rows], config.calibration_method)
                   for name, p in raw.items()}
    calibrated = {name: calibrators[name].transform(p) for name, p in raw.items()}
    # the ensemble's feature part is chosen on the calibration part: the validation split only judges
    feature_best = max(estimators, key=lambda f: classification_metrics(
        y[calibration_rows], calibrated[f][:n_calibration], 0.5)["auroc"]) if estimators else None
    if ENSEMBLE_FAMILY in config.families:
        calibrated[ENSEMBLE_FAMILY] = (calibrated[feature_best] + calibrated[SEQUENCE_FAMILY]) / 2
    candidates, thresholds = {}, {}
    for family in config.families:
        thresholds[family] = _balanced(y[calibration_rows], calibrated[family][:n_calibration]) \
            if config.threshold == "balanced" else float(config.threshold)
        candidates[family] = classification_metrics(y[split.validation], calibrated[family][n_calibration:],
                                                    thresholds[family])
        say(f"{family}: validation AUROC {candidates[family]['auroc']:.4f}")
    models = {family: _candidate_model(family, feature_best, thresholds[family], candidates, calibrators, estimators,
                                       sequence_model, hexamer, columns, config, fingerprint, n_calibration,
                                       fit_rows.size, split.validation.size)
              for family in candidates}
    best = max(candidates, key=lambda family: candidates[family]["auroc"])
    return TrainResult(models[best], split, fingerprint, calibrated[best][n_calibration:], candidates, models)


def _candidate_model(family: str, feature_best: str | None, threshold: float, candidates: dict, calibrators: dict,
                     estimators: dict, sequence_model, hexamer: HexamerTable, columns: list[str],
                     config: TrainingConfig, fingerprint: str, n_calibration: int, n_fit: int,
                     n_validation: int) -> CodingModel:
    """One held-out-mode candidate as a model: its components, their calibrators, its threshold."""
    # the component each part of the model comes from
    chosen = {FEATURES: feature_best, SEQUENCE: SEQUENCE_FAMILY} if family == ENSEMBLE_FAMILY else \
        {SEQUENCE if family == SEQUENCE_FAMILY else FEATURES: family}
    spec = ModelSpec(
        family=family, threshold=threshold, kmer_sizes=list(config.kmer_sizes), input_columns=columns,
        calibration={part: calibrators[name].to_dict() for part, name in chosen.items()},
        metadata={
            "validation_fingerprint": fingerprint, "validation_metrics": candidates[family],
            "candidates": {f: m["auroc"] for f, m in candidates.items()},
            "n_train": int(n_fit), "n_calibration": int(n_calibration), "n_validation": int(n_validation),
            "seed": config.seed, "components": chosen, "calibration_method": config.calibration_method,
            "sequence_history": sequence_model.history,
        },
    )
    return CodingModel(spec, hexamer, estimators.get(chosen.get(FEATURES, "")),
                       sequence_model=sequence_model if SEQUENCE in chosen else None)


def _balanced(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Threshold where sensitivity equals specificity on ``probabilities``."""
    from sklearn.metrics import roc_curve

    false_positive, true_positive, thresholds = roc_curve(labels, probabilities)
    # sensitivity = tpr, specificity = 1 - fpr: pick the ROC point where they are closest.
    best = np.argmin(np.abs(true_positive - (1.0 - false_positive))[1:]) + 1  # skip the +inf point
    return float(np.clip(thresholds[best], 0.0, 1.0))
