"""Hyperparameter search (``models.tuning``): the search-space file, the study's budget, pruning, MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.split import sequence_disjoint_split
from models.train import TrainingConfig
from models.tuning import SearchSpaceError, _tuning_data, apply, load_search_space, mlflow_trial_logger, tune
from tests.conftest import synthetic_transcripts

BOOSTING_SPACE = {"fixed": {"boosting_rounds": 100},
                  "search": {"boosting_learning_rate": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
                             "boosting_max_leaf_nodes": {"type": "int", "low": 4, "high": 31}}}


@pytest.fixture(scope="module")
def data():
    ids, sequences, labels = synthetic_transcripts(200, seed=11)
    return ids, sequences, np.asarray(labels)


def test_the_committed_search_space_loads_and_bad_ones_are_refused(tmp_path) -> None:
    spaces = load_search_space()
    assert {"gradient_boosting", "sequence_cnn"} <= set(spaces)
    assert spaces["sequence_cnn"]["search"]["sequence.channels"]["type"] == "categorical"
    for text, message in (("svm: {fixed: {}, search: {}}", "unknown family 'svm'"),
                          ("gradient_boosting: {search: {boosting_depth: {type: int, low: 1, high: 3}}}",
                           "boosting_depth is not a setting"),
                          ("sequence_cnn: {search: {sequence.channels: {type: int, low: 9, high: 3}}}",
                           "low < high")):
        bad = tmp_path / "space.yaml"
        bad.write_text(text)
        with pytest.raises(SearchSpaceError, match=message):
            load_search_space(bad)


def test_apply_sets_config_and_sequence_fields() -> None:
    config = apply(TrainingConfig(), {"boosting_rounds": 50, "sequence.channels": 16})
    assert config.boosting_rounds == 50 and config.sequence == {"channels": 16}
    assert TrainingConfig().boosting_rounds == 300  # the base is untouched


def test_tuning_never_sees_the_validation_split(data) -> None:
    ids, sequences, labels = data
    base = TrainingConfig(seed=3)
    held = _tuning_data(ids, sequences, labels, base, 0.2, lambda _m: None)
    validation = sequence_disjoint_split(sequences, labels, base.validation_fraction, base.seed).validation
    assert not (set(held.fit) | set(held.tune)) & set(validation)
    assert not set(held.fit) & set(held.tune)


def test_a_seeded_study_is_repeatable_and_reports_its_best(data, tmp_path) -> None:
    ids, sequences, labels = data
    first = tune(ids, sequences, labels, "gradient_boosting", n_trials=4, seed=5, space=BOOSTING_SPACE)
    again = tune(ids, sequences, labels, "gradient_boosting", n_trials=4, seed=5, space=BOOSTING_SPACE)
    assert [t["params"] for t in first.trials] == [t["params"] for t in again.trials]
    assert len(first.trials) == 4 and all(t["params"]["boosting_rounds"] == 100 for t in first.trials)
    completed = [t for t in first.trials if t["state"] == "COMPLETE"]
    assert first.best_auroc == max(t["auroc"] for t in completed)
    assert first.best_params == max(completed, key=lambda t: t["auroc"])["params"]
    import json

    from models.tuning import write_study

    paths = write_study(first, tmp_path)
    assert json.loads(paths["json"].read_text())["best_params"] == first.best_params
    assert paths["png"].read_bytes()[:4] == b"\x89PNG" and "best AUROC" in paths["html"].read_text()


def test_pruned_trials_stop_early_and_are_recorded(data) -> None:
    import optuna

    class PruneAfterTheFirstTrial(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return trial.number > 0

    ids, sequences, labels = data
    result = tune(ids, sequences, labels, "gradient_boosting", n_trials=3, seed=1, pruner=PruneAfterTheFirstTrial(),
                  space={**BOOSTING_SPACE, "fixed": {"boosting_rounds": 200}})
    assert [t["state"] for t in result.trials] == ["COMPLETE", "PRUNED", "PRUNED"]


def test_the_sequence_model_is_tuned_epoch_by_epoch(data) -> None:
    ids, sequences, labels = data
    space = {"fixed": {"sequence.epochs": 2, "sequence.channels": 8, "sequence.dilations": [1, 2],
                       "sequence.max_length": 600, "sequence.device": "cpu"},
             "search": {"sequence.learning_rate": {"type": "float", "low": 0.001, "high": 0.01, "log": True}}}
    result = tune(ids, sequences, labels, "sequence_cnn", n_trials=2, seed=0, space=space)
    assert [t["state"] for t in result.trials] == ["COMPLETE", "COMPLETE"]
    assert 0.5 < result.best_auroc <= 1.0


def test_each_trial_is_an_mlflow_run(data, mlflow_store) -> None:
    import mlflow

    uri = mlflow_store
    ids, sequences, labels = data
    result = tune(ids, sequences, labels, "gradient_boosting", n_trials=3, seed=2, space=BOOSTING_SPACE,
                  on_trial=mlflow_trial_logger("study-1", "gradient_boosting"))
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("coding-potential").experiment_id],
                              "tags.`coding_potential.study` = 'study-1'")
    assert len(runs) == 3
    logged = sorted(r.data.metrics["tuning_auroc"] for r in runs)
    assert logged == pytest.approx(sorted(t["auroc"] for t in result.trials))
    assert {r.data.params["boosting_rounds"] for r in runs} == {"100"}


def test_tune_then_train_with_the_chosen_settings_from_the_cli(shared, tmp_path) -> None:
    """`coding-potential tune` on real records, then `train --tuned` fits the family with what it chose."""
    import json

    import mlflow

    from models.bundle import CodingModel
    from tests.test_cli import run_cli

    var = tmp_path / "var"
    tuned = run_cli("tune", "--family", "gradient_boosting", "--trials", "3", "--sample-per-file", "80", var=var)
    assert tuned.returncode == 0, tuned.stderr.decode()
    result = json.loads(tuned.stdout.decode().strip().splitlines()[-1])
    assert result["n_trials"] == 3 and set(result["best_params"]) == set(
        load_search_space()["gradient_boosting"]["search"])
    chosen = json.loads(Path(result["json"]).read_text())
    assert chosen["best_params"] == result["best_params"] and len(chosen["trials"]) == 3
    uri = f"sqlite:///{var / 'mlflow' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    trials = client.search_runs([client.get_experiment_by_name("coding-potential").experiment_id],
                                f"tags.`coding_potential.study` = '{result['study']}'")
    assert len(trials) == 3

    trained = run_cli("train", "--families", "gradient_boosting", "--tuned", result["json"], "--sample-per-file", "80",
                      var=var)
    assert trained.returncode == 0, trained.stderr.decode()
    run_dir = Path(json.loads(trained.stdout.decode().strip().splitlines()[-1])["run_dir"])
    estimator = CodingModel.load(run_dir / "model" / "bundle", with_estimator=True).estimator
    assert estimator.learning_rate == pytest.approx(result["best_params"]["boosting_learning_rate"])
    assert estimator.max_iter == result["best_params"]["boosting_rounds"]

    bad = tmp_path / "not-tuning.json"
    bad.write_text("{}")
    refused = run_cli("train", "--tuned", str(bad), var=var)
    assert refused.returncode == 3 and b"not a tuning result" in refused.stderr
