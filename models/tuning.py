"""Hyperparameter search with Optuna: seeded, bounded, pruned, every trial logged to MLflow.

The search space is configuration, not code: :data:`SEARCH_SPACE_FILE` (``models/search_space.yaml``)
names, per family, the :class:`~models.train.TrainingConfig` fields (``sequence.FIELD`` for the
sequence model) to draw and how. A study:

- splits the records as training does (the same sequence-disjoint validation side, which tuning never
  sees), then holds a sequence-disjoint tuning part (``tuning_fraction``) out of the train side;
- fits the hexamer table on the rest, and each trial's model there, and scores it by AUROC on the
  tuning part;
- reports intermediate AUROCs so the median pruner can stop a poor trial early: after each epoch of the
  sequence model, and after each 100 rounds of gradient boosting (grown with ``warm_start``);
- stops after ``n_trials`` trials or ``timeout_s`` seconds, whichever comes first (TPE sampler seeded
  with ``seed``: the same inputs draw the same trials).

The best trial's settings go to :func:`apply` and then to :func:`models.train.train`, whose candidates
face the promotion rule like any other.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import SEQUENCE_FAMILY
from .evaluate import classification_metrics
from .split import hold_out_groups, sequence_disjoint_split
from .train import FAMILIES, TrainingConfig, learned_features, make_estimator

SEARCH_SPACE_FILE = Path(__file__).with_name("search_space.yaml")
TUNABLE_FAMILIES = (*FAMILIES, SEQUENCE_FAMILY)
#: Gradient boosting reports to the pruner every this many rounds.
BOOSTING_STEP = 100


class SearchSpaceError(ValueError):
    """The search-space file names an unknown family or field, or a parameter badly."""


@dataclass
class TuningResult:
    """A finished study.

    Attributes
    ----------
    family : str
    best_params : dict
        The best trial's drawn settings (``field`` or ``sequence.field`` -> value), ``fixed`` ones included.
    best_auroc : float
        Its AUROC on the tuning part.
    trials : list of dict
        Every trial: number, state (``COMPLETE``, ``PRUNED``, ``FAIL``), params, AUROC, seconds.
    """

    family: str
    best_params: dict[str, Any]
    best_auroc: float
    trials: list[dict[str, Any]] = field(default_factory=list)


def load_search_space(path: str | Path | None = None) -> dict[str, dict[str, dict]]:
    """Every family's ``{"fixed": {...}, "search": {...}}``, checked against the config's fields."""
    import yaml

    path = Path(path) if path else SEARCH_SPACE_FILE
    spaces = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for family, space in spaces.items():
        if family not in TUNABLE_FAMILIES:
            raise SearchSpaceError(f"{path}: unknown family {family!r}; known: {', '.join(TUNABLE_FAMILIES)}")
        if not isinstance(space, dict) or set(space) - {"fixed", "search"}:
            raise SearchSpaceError(f"{path}: {family} must hold 'fixed' and 'search' mappings")
        for name in [*(space.get("fixed") or {}), *(space.get("search") or {})]:
            _check_field(path, family, name)
        for name, spec in (space.get("search") or {}).items():
            _check_distribution(path, family, name, spec)
    return spaces


def _check_field(path: Path, family: str, name: str) -> None:
    from .sequence import SequenceConfig

    owner, _, attribute = name.rpartition(".")
    known = {f.name for f in fields(SequenceConfig if owner == "sequence" else TrainingConfig)}
    if owner not in ("", "sequence") or attribute not in known:
        raise SearchSpaceError(f"{path}: {family}.{name} is not a setting (TrainingConfig field or sequence.FIELD)")


def _check_distribution(path: Path, family: str, name: str, spec: Any) -> None:
    kind = spec.get("type") if isinstance(spec, dict) else None
    ok = (kind in ("int", "float") and {"low", "high"} <= set(spec) and spec["low"] < spec["high"]) or (
        kind == "categorical" and isinstance(spec.get("choices"), list) and spec["choices"])
    if not ok:
        raise SearchSpaceError(f"{path}: {family}.{name} must be {{type: int|float, low, high}} with low < high "
                               f"or {{type: categorical, choices: [...]}}, not {spec!r}")


def suggest(trial: Any, space: dict[str, dict]) -> dict[str, Any]:
    """One trial's settings: the ``fixed`` ones and a draw of each ``search`` one."""
    params = dict(space.get("fixed") or {})
    for name, spec in (space.get("search") or {}).items():
        if spec["type"] == "int":
            params[name] = trial.suggest_int(name, spec["low"], spec["high"], step=spec.get("step", 1),
                                             log=spec.get("log", False))
        elif spec["type"] == "float":
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
        else:
            params[name] = trial.suggest_categorical(name, spec["choices"])
    return params


def apply(config: TrainingConfig, params: dict[str, Any]) -> TrainingConfig:
    """A copy of ``config`` with ``params`` (``field`` or ``sequence.field``) set."""
    updated = copy.deepcopy(config)
    for name, value in params.items():
        owner, _, attribute = name.rpartition(".")
        if owner == "sequence":
            updated.sequence = {**updated.sequence, attribute: value}
        else:
            setattr(updated, attribute, value)
    return updated


def tune(ids: Sequence[str], sequences: Sequence[str], labels: Sequence[int], family: str, n_trials: int = 20,
         timeout_s: float | None = None, seed: int = 0, base: TrainingConfig | None = None,
         space: dict[str, dict] | None = None, tuning_fraction: float = 0.2,
         progress: Callable[[str], None] | None = None,
         on_trial: Callable[[dict[str, Any]], None] | None = None, pruner: Any = None) -> TuningResult:
    """Search ``family``'s space for the settings with the best AUROC on a held-out tuning part.

    Parameters
    ----------
    ids, sequences, labels
        Validated records, as :func:`models.train.train` takes them.
    family : str
        One of :data:`TUNABLE_FAMILIES`.
    n_trials, timeout_s
        The budget: whichever ends first.
    base : TrainingConfig, optional
        Settings the search starts from (seed and k-mer sizes come from it).
    space : dict, optional
        The family's ``{"fixed", "search"}`` (default: from :data:`SEARCH_SPACE_FILE`).
    on_trial : callable, optional
        Receives each finished trial's record (MLflow logging, progress).
    pruner : optuna.pruners.BasePruner, optional
        Default: the median pruner, after 3 trials and 1 step.
    """
    import optuna

    if family not in TUNABLE_FAMILIES:
        raise ValueError(f"cannot tune {family!r}; tunable: {', '.join(TUNABLE_FAMILIES)}")
    say = progress or (lambda _message: None)
    base = base or TrainingConfig(families=(family,), seed=seed)
    space = space if space is not None else load_search_space().get(family, {"fixed": {}, "search": {}})
    data = _tuning_data(ids, sequences, np.asarray(labels, dtype=int), base, tuning_fraction, say)
    records: list[dict[str, Any]] = []

    def objective(trial) -> float:
        params = suggest(trial, space)
        config = apply(base, params)
        trial.set_user_attr("params", params)
        if family == SEQUENCE_FAMILY:
            return _sequence_trial(trial, config, data)
        if family == "gradient_boosting":
            return _boosting_trial(trial, config, data)
        estimator = make_estimator(family, config).fit(data.matrix[data.fit], data.labels[data.fit])
        return data.auroc(estimator.predict_proba(data.matrix[data.tune])[:, 1])

    def finished(_study, trial) -> None:
        record = {"number": trial.number, "state": trial.state.name, "auroc": trial.value,
                  "params": trial.user_attrs.get("params", {}), "seconds": trial.duration.total_seconds()
                  if trial.duration else None}
        records.append(record)
        say(f"trial {trial.number}: {record['state']}" + (f", AUROC {trial.value:.4f}" if trial.value else ""))
        if on_trial is not None:
            on_trial(record)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, callbacks=[finished])
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not completed:
        raise RuntimeError(f"no {family} trial completed within the budget ({len(study.trials)} tried)")
    best = study.best_trial
    return TuningResult(family, best.user_attrs["params"], float(best.value), records)


@dataclass
class _TuningData:
    matrix: np.ndarray
    labels: np.ndarray
    sequences: list[str]
    orf_start: np.ndarray
    fit: np.ndarray
    tune: np.ndarray

    def auroc(self, probabilities: np.ndarray) -> float:
        return classification_metrics(self.labels[self.tune], probabilities, 0.5)["auroc"]


def _tuning_data(ids: Sequence[str], sequences: Sequence[str], labels: np.ndarray, base: TrainingConfig,
                 fraction: float, say: Callable[[str], None]) -> _TuningData:
    """The train side of training's split, less a tuning part; features with a hexamer table fitted on the rest."""
    split = sequence_disjoint_split(sequences, labels, base.validation_fraction, base.seed)
    fit, held = hold_out_groups(split.train, split.groups, labels, fraction, base.seed)
    say(f"tuning on {fit.size:,} rows, judged on {held.size:,} (the {split.validation.size:,} validation rows "
        "are left out)")
    _, features, _, matrix = learned_features(sequences, labels, fit, base.kmer_sizes)
    return _TuningData(matrix, labels, list(sequences), features["orf_start"], fit, held)


def _boosting_trial(trial: Any, config: TrainingConfig, data: _TuningData) -> float:
    """Grow the booster ``BOOSTING_STEP`` rounds at a time, reporting the AUROC after each step."""
    import optuna

    estimator = make_estimator("gradient_boosting", config)
    estimator.set_params(warm_start=True, early_stopping=False)
    value = 0.0
    for step, rounds in enumerate(range(BOOSTING_STEP, config.boosting_rounds + BOOSTING_STEP, BOOSTING_STEP)):
        estimator.set_params(max_iter=min(rounds, config.boosting_rounds))
        estimator.fit(data.matrix[data.fit], data.labels[data.fit])
        value = data.auroc(estimator.predict_proba(data.matrix[data.tune])[:, 1])
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def _sequence_trial(trial: Any, config: TrainingConfig, data: _TuningData) -> float:
    """Train the sequence model, reporting the tuning part's AUROC after each epoch."""
    import optuna

    from .sequence import SequenceConfig, SequenceModel

    scores: list[float] = []

    def after_epoch(epoch: int, model: SequenceModel) -> None:
        scores.append(data.auroc(model.predict_proba([data.sequences[i] for i in data.tune],
                                                     data.orf_start[data.tune], data.matrix[data.tune])))
        trial.report(scores[-1], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()

    started = time.monotonic()
    SequenceModel.fit([data.sequences[i] for i in data.fit], data.orf_start[data.fit], data.matrix[data.fit],
                      data.labels[data.fit], SequenceConfig(**config.sequence), after_epoch=after_epoch)
    trial.set_user_attr("seconds", time.monotonic() - started)
    return scores[-1]


def mlflow_trial_logger(study_name: str, family: str) -> Callable[[dict[str, Any]], None]:
    """An ``on_trial`` callback logging each trial as an MLflow run (tags: study, family, state) in the
    project's experiment, on the configured tracking store."""
    import mlflow

    from . import registry

    experiment_id = registry.experiment_id()

    def log(record: dict[str, Any]) -> None:
        tags = {"coding_potential.study": study_name, "coding_potential.family": family,
                "coding_potential.trial_state": record["state"], "coding_potential.kind": "tuning_trial"}
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{study_name}-trial-{record['number']}",
                              tags=tags):
            mlflow.log_params({k: str(v) for k, v in record["params"].items()})
            if record["auroc"] is not None:
                mlflow.log_metric("tuning_auroc", record["auroc"])
            if record["seconds"] is not None:
                mlflow.log_metric("trial_seconds", record["seconds"])

    return log


def write_study(result: TuningResult, out_dir: str | Path) -> dict[str, Path]:
    """``<family>.json`` (best settings and every trial), ``<family>.png`` (AUROC per trial) and
    ``<family>.html`` (both) in ``out_dir``."""
    import base64
    import html
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / result.family
    document = {"family": result.family, "best_params": result.best_params, "best_auroc": result.best_auroc,
                "trials": result.trials}
    stem.with_suffix(".json").write_text(json.dumps(document, indent=2, sort_keys=True))
    fig, ax = plt.subplots(figsize=(6, 4))
    for state, marker in (("COMPLETE", "o"), ("PRUNED", "x")):
        shown = [t for t in result.trials if t["state"] == state and t["auroc"] is not None]
        ax.scatter([t["number"] for t in shown], [t["auroc"] for t in shown], marker=marker, label=state.lower())
    ax.set(xlabel="trial", ylabel="AUROC on the tuning part", title=f"Tuning {result.family}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=110)
    plt.close(fig)
    rows = "".join(
        f"<tr><td>{t['number']}</td><td>{t['state']}</td><td>{_score(t['auroc'])}</td>"
        f"<td>{html.escape(json.dumps(t['params']))}</td></tr>" for t in result.trials)
    image = base64.b64encode(stem.with_suffix(".png").read_bytes()).decode()
    stem.with_suffix(".html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Tuning {result.family}</title></head><body>"
        f"<h1>Tuning {html.escape(result.family)}</h1><p>best AUROC {result.best_auroc:.4f} with "
        f"<code>{html.escape(json.dumps(result.best_params))}</code></p><img src='data:image/png;base64,{image}'>"
        f"<table border='1'><tr><th>trial</th><th>state</th><th>AUROC</th><th>settings</th></tr>{rows}</table>"
        "</body></html>")
    return {"json": stem.with_suffix(".json"), "png": stem.with_suffix(".png"), "html": stem.with_suffix(".html")}


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
