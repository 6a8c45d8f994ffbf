"""Training with the sequence model: the held-out calibration part, calibrated candidates, the ensemble bundle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coding_potential.features import HexamerTable, compute_features
from models.bundle import ENSEMBLE_FAMILY, CodingModel, ModelSpec, input_columns, model_matrix
from models.calibration import Calibrator
from models.sequence import SequenceConfig, SequenceModel
from models.split import hold_out_groups
from models.train import TrainingConfig, make_estimator, train
from tests.conftest import synthetic_transcripts

SMALL_SEQUENCE = {"max_length": 600, "channels": 8, "dilations": (1, 2), "feature_width": 8, "head_width": 8,
                  "epochs": 2, "batch_size": 32, "device": "cpu"}


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(2)
    ids, sequences, labels = synthetic_transcripts(300, seed=4)
    return ids, sequences, np.asarray(labels)


@pytest.fixture(scope="module")
def result(data):
    ids, sequences, labels = data
    config = TrainingConfig(families=("logistic_regression", "sequence_cnn", ENSEMBLE_FAMILY),
                            sequence=SMALL_SEQUENCE, seed=1)
    return train(ids, sequences, labels, config)


def test_every_candidate_is_judged_on_the_validation_split(result, data, tmp_path) -> None:
    _, sequences, labels = data
    assert set(result.candidates) == {"logistic_regression", "sequence_cnn", ENSEMBLE_FAMILY}
    best = max(result.candidates, key=lambda f: result.candidates[f]["auroc"])
    model = result.model
    assert model.spec.family == best and model.spec.metadata["n_calibration"] > 0
    assert set(model.spec.calibration) == set(model.spec.metadata["components"])
    validation = [sequences[i] for i in result.split.validation]
    # what was judged is what the saved model predicts
    loaded = CodingModel.load(model.save(tmp_path / "bundle"))
    np.testing.assert_allclose(loaded.predict_proba(validation), result.validation_probabilities, atol=1e-6)
    assert result.candidates[best]["n"] == len(validation) == int(labels[result.split.validation].size)


def test_the_calibration_part_shares_no_group_with_the_rest() -> None:
    groups = np.repeat(np.arange(100), 3)  # 100 groups of 3 rows
    labels = np.tile([0, 1, 1], 100)
    rows = np.arange(240)  # 80 groups on the train side
    kept, held = hold_out_groups(rows, groups, labels, 0.25, seed=2)
    assert sorted(np.concatenate([kept, held]).tolist()) == rows.tolist()
    assert not set(groups[kept]) & set(groups[held])
    assert 0.2 <= held.size / rows.size <= 0.3
    with pytest.raises(ValueError, match="fraction"):
        hold_out_groups(rows, groups, labels, 1.0)


def test_an_ensemble_bundle_is_the_mean_of_its_calibrated_parts(data, tmp_path) -> None:
    _, sequences, labels = data
    ensemble = _ensemble(sequences, labels)
    rest = sequences[250:]
    features = ensemble.features(rest)
    matrix = model_matrix(features, ensemble.spec.input_columns)
    calibrators = ensemble.calibrators
    expected = (calibrators["features"].transform(ensemble.estimator.predict_proba(matrix)[:, 1])
                + calibrators["sequence"].transform(
                    ensemble.sequence_model.predict_proba(rest, features["orf_start"], matrix))) / 2
    np.testing.assert_allclose(ensemble.predict_proba(rest), expected, atol=1e-12)
    loaded = CodingModel.load(ensemble.save(tmp_path / "b"))  # predicts with the numpy form: no torch
    np.testing.assert_allclose(loaded.predict_proba(rest), expected, atol=1e-5)
    assert type(loaded.sequence_model).__name__ == "NumpySequenceModel" and loaded.reads_sequences
    with pytest.raises(ValueError, match="reads the sequences too"):
        loaded.predict_features(loaded.features(rest))
    with pytest.raises(ValueError, match="holds"):
        CodingModel(ensemble.spec, ensemble.hexamer, ensemble.estimator)  # an ensemble without its sequence part


def test_bad_family_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown model families \\['cnn'\\]"):
        TrainingConfig(families=("cnn",))
    with pytest.raises(ValueError, match="name a feature family too"):
        TrainingConfig(families=("sequence_cnn", ENSEMBLE_FAMILY))


SERVING_SCRIPT = """
import sys, json, numpy as np
from models.export import load_export
exported = load_export(sys.argv[1])
sequences = json.loads(open(sys.argv[2]).read())
np.save(sys.argv[3], exported.model.predict_proba(sequences))
print(np.__version__, "torch" in sys.modules)
"""


def test_an_ensemble_is_exported_and_scored_the_same_without_torch(data, tmp_path, mlflow_store) -> None:
    """Registered, exported, then scored by the serving environment (numpy 1.26, no torch) exactly as the
    platform scores it with the network itself."""
    import json
    import subprocess

    from models import registry
    from models.export import export_model, load_export
    from seldon.local import SERVING_PYTHON

    _, sequences, labels = data
    bundle = tmp_path / "trained" / "bundle"
    _ensemble(sequences, labels).save(bundle)
    _, version = registry.log_candidate(bundle, {}, {}, {}, {})
    registry.promote(version, 0.9, lambda _champion: 0.0, 0.0)
    info = export_model(tmp_path / "export")
    assert sorted(info["files"]) == ["bundle/hexamer.tsv", "bundle/inference.npz", "bundle/model.json",
                                     "bundle/sequence/inference.npz"]  # no weights, no pickle
    network = CodingModel.load(bundle, with_estimator=True)  # the PyTorch network itself
    held_out = sequences[250:]
    expected = network.predict_proba(held_out)
    np.testing.assert_allclose(load_export(tmp_path / "export").model.predict_proba(held_out), expected, atol=1e-5)
    (tmp_path / "in.json").write_text(json.dumps(held_out))
    done = subprocess.run([str(SERVING_PYTHON), "-c", SERVING_SCRIPT, str(tmp_path / "export"),
                           str(tmp_path / "in.json"), str(tmp_path / "out.npy")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1.26.4", "False"]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)


def _ensemble(sequences: list[str], labels: np.ndarray) -> CodingModel:
    """A small ensemble: logistic regression and a sequence model fitted on the first 200 records, each
    calibrated on the next 50."""
    hexamer = HexamerTable.fit([s for s, y in zip(sequences[:200], labels[:200], strict=True) if y],
                               [s for s, y in zip(sequences[:200], labels[:200], strict=True) if not y])
    features = compute_features(sequences, hexamer=hexamer)
    columns = input_columns((1, 2, 3))
    matrix = model_matrix(features, columns)
    estimator = make_estimator("logistic_regression", TrainingConfig()).fit(matrix[:200], labels[:200])
    sequence_model = SequenceModel.fit(sequences[:200], features["orf_start"][:200], matrix[:200], labels[:200],
                                       SequenceConfig(**SMALL_SEQUENCE))
    calibrators = {
        "features": Calibrator.fit(estimator.predict_proba(matrix[200:250])[:, 1], labels[200:250], "platt"),
        "sequence": Calibrator.fit(sequence_model.predict_proba(sequences[200:250], features["orf_start"][200:250],
                                                                matrix[200:250]), labels[200:250], "isotonic"),
    }
    spec = ModelSpec(ENSEMBLE_FAMILY, 0.5, [1, 2, 3], columns,
                     calibration={name: c.to_dict() for name, c in calibrators.items()})
    return CodingModel(spec, hexamer, estimator, sequence_model=sequence_model)


def test_the_cli_knows_every_family() -> None:
    from models.train import ALL_FAMILIES
    from pipeline.settings import KNOWN_MODEL_FAMILIES

    assert KNOWN_MODEL_FAMILIES == ALL_FAMILIES


def test_every_candidate_is_kept_as_a_model_of_its_own(result, data) -> None:
    """Each candidate model reproduces the validation metrics it was judged by."""
    from models.evaluate import classification_metrics

    _, sequences, labels = data
    validation = [sequences[i] for i in result.split.validation]
    assert set(result.candidate_models) == set(result.candidates)
    for family, model in result.candidate_models.items():
        assert model.spec.family == family
        again = classification_metrics(labels[result.split.validation], model.predict_proba(validation),
                                       model.threshold)
        assert again == pytest.approx(result.candidates[family])
