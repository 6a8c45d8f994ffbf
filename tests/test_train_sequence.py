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
    hexamer = HexamerTable.fit([s for s, y in zip(sequences, labels, strict=True) if y],
                               [s for s, y in zip(sequences, labels, strict=True) if not y])
    features = compute_features(sequences, hexamer=hexamer)
    columns = input_columns((1, 2, 3))
    matrix = model_matrix(features, columns)
    estimator = make_estimator("logistic_regression", TrainingConfig()).fit(matrix[:200], labels[:200])
    sequence_model = SequenceModel.fit(sequences[:200], features["orf_start"][:200], matrix[:200], labels[:200],
                                       SequenceConfig(**SMALL_SEQUENCE))
    feature_p = estimator.predict_proba(matrix[200:250])[:, 1]
    sequence_p = sequence_model.predict_proba(sequences[200:250], features["orf_start"][200:250], matrix[200:250])
    calibrators = {"features": Calibrator.fit(feature_p, labels[200:250], "platt"),
                   "sequence": Calibrator.fit(sequence_p, labels[200:250], "isotonic")}
    spec = ModelSpec(ENSEMBLE_FAMILY, 0.5, [1, 2, 3], columns,
                     calibration={name: c.to_dict() for name, c in calibrators.items()})
    model = CodingModel.load(CodingModel(spec, hexamer, estimator, sequence_model=sequence_model).save(tmp_path / "b"))
    rest = sequences[250:]
    expected = (calibrators["features"].transform(estimator.predict_proba(matrix[250:])[:, 1])
                + calibrators["sequence"].transform(
                    sequence_model.predict_proba(rest, features["orf_start"][250:], matrix[250:]))) / 2
    np.testing.assert_allclose(model.predict_proba(rest), expected, atol=1e-9)
    assert model.reads_sequences
    with pytest.raises(ValueError, match="reads the sequences too"):
        model.predict_features(model.features(rest))
    with pytest.raises(ValueError, match="holds"):
        CodingModel(spec, hexamer, estimator)  # an ensemble without its sequence part


def test_bad_family_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown model families \\['cnn'\\]"):
        TrainingConfig(families=("cnn",))
    with pytest.raises(ValueError, match="name a feature family too"):
        TrainingConfig(families=("sequence_cnn", ENSEMBLE_FAMILY))


def test_a_sequence_model_is_registered_but_not_exported_for_serving(result, tmp_path, monkeypatch) -> None:
    """MLflow keeps the whole bundle; the export refuses it, saying why (serving has no torch yet)."""
    import mlflow

    from models import registry
    from models.export import ExportError, export_model

    # registry.client() sets MLflow's process-wide URIs: put them back for the tests that follow
    for module, name in ((mlflow.tracking._tracking_service.utils, "_tracking_uri"),
                         (mlflow.tracking._model_registry.utils, "_registry_uri")):
        monkeypatch.setattr(module, name, getattr(module, name))
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)  # set_registry_uri exports it too
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CODING_POTENTIAL_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("CODING_POTENTIAL_ARTIFACT_ROOT", (tmp_path / "artifacts").as_uri())
    spec = ModelSpec("sequence_cnn", 0.5, [1, 2, 3], result.model.spec.input_columns,
                     calibration={"sequence": Calibrator("platt").to_dict()})
    _, sequences, labels = synthetic_transcripts(120, seed=9)
    features = compute_features(sequences, hexamer=result.model.hexamer)
    matrix = model_matrix(features, spec.input_columns)
    sequence_model = SequenceModel.fit(sequences, features["orf_start"], matrix, np.asarray(labels),
                                       SequenceConfig(**SMALL_SEQUENCE))
    bundle = CodingModel(spec, result.model.hexamer, sequence_model=sequence_model).save(tmp_path / "bundle")
    _, version = registry.log_candidate(bundle, {}, {}, {}, {})
    registry.promote(version, 0.9, lambda _champion: 0.0, 0.0)
    assert (registry.bundle_folder(f"models:/coding-potential/{version}") / "sequence" / "sequence_model.pt").is_file()
    with pytest.raises(ExportError, match="sequence_cnn model: serving reads feature models only"):
        export_model(tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_the_cli_knows_every_family() -> None:
    from models.train import ALL_FAMILIES
    from pipeline.settings import KNOWN_MODEL_FAMILIES

    assert KNOWN_MODEL_FAMILIES == ALL_FAMILIES
