"""The sequence model (``models.sequence``) on synthetic transcripts whose classes only the sequence tells apart.

Coding and noncoding transcripts here have ORFs of the same lengths in the same places; only the codons
differ (coding ORFs use a biased codon set, noncoding ones any sense codon). The feature matrix holds the
length alone, so whatever separates the classes, the network learned from the bases.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from coding_potential.features import compute_features
from coding_potential.features.codon_usage import SENSE_CODONS
from models.sequence import SequenceConfig, SequenceModel

PREFERRED = ("GCC", "AAG", "GAG", "CTG", "GGC", "ACC", "GAC", "ATC", "TTC", "CAG", "AGC", "TGG")
SMALL = SequenceConfig(max_length=450, channels=16, dilations=(1, 2, 4), feature_width=8, head_width=16, epochs=4,
                       batch_size=32, learning_rate=5e-3, device="cpu")


def transcripts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    sense = [c for c in SENSE_CODONS if c != "ATG"]
    sequences, labels = [], []
    for i in range(n):
        label = i % 2
        pool = PREFERRED if label else sense
        codons = rng.choice(pool, rng.integers(60, 150))
        utr5 = "".join(rng.choice(list("ACGT"), rng.integers(20, 200)))
        utr3 = "".join(rng.choice(list("ACGT"), rng.integers(20, 300)))
        sequences.append(utr5 + "ATG" + "".join(codons) + "TAA" + utr3)
        labels.append(label)
    return sequences, np.array(labels)


def inputs(sequences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    features = compute_features(sequences, kmer_sizes=())
    return features["orf_start"], np.log1p(features["length"]).reshape(-1, 1)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(2)
    train, test = transcripts(600, 1), transcripts(200, 2)
    return train, test


@pytest.fixture(scope="module")
def model(data) -> SequenceModel:
    (sequences, labels), _ = data
    orf_start, features = inputs(sequences)
    return SequenceModel.fit(sequences, orf_start, features, labels, SMALL)


def test_it_learns_what_only_the_sequence_tells(model: SequenceModel, data) -> None:
    _, (sequences, labels) = data
    orf_start, features = inputs(sequences)
    assert roc_auc_score(labels, features[:, 0]) < 0.65  # the feature alone barely ranks
    assert roc_auc_score(labels, model.predict_proba(sequences, orf_start, features)) > 0.95
    assert [h["epoch"] for h in model.history] == [1, 2, 3, 4]
    assert model.history[-1]["loss"] < model.history[0]["loss"]


def test_a_score_does_not_depend_on_its_batch(model: SequenceModel, data) -> None:
    _, (sequences, _) = data
    orf_start, features = inputs(sequences)
    together = model.predict_proba(sequences, orf_start, features)
    for i in (0, 1, 7):  # alone, with no padding at all
        alone = model.predict_proba([sequences[i]], orf_start[i:i + 1], features[i:i + 1])
        assert alone[0] == pytest.approx(together[i], abs=1e-5)


def test_save_load_and_seeded_refit_give_the_same_model(model: SequenceModel, data, tmp_path) -> None:
    (train, labels), (sequences, _) = data
    orf_start, features = inputs(sequences)
    expected = model.predict_proba(sequences, orf_start, features)
    loaded = SequenceModel.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(sequences, orf_start, features), expected)
    assert loaded.config == model.config and loaded.history == model.history
    train_start, train_features = inputs(train)
    again = SequenceModel.fit(train, train_start, train_features, labels, SMALL)
    np.testing.assert_allclose(again.predict_proba(sequences, orf_start, features), expected, atol=1e-6)


def test_the_time_budget_stops_training_between_epochs(data) -> None:
    (sequences, labels), _ = data
    orf_start, features = inputs(sequences[:100])
    budget = SequenceConfig(**{**SMALL.__dict__, "epochs": 50, "time_budget_s": 0.01})
    model = SequenceModel.fit(sequences[:100], orf_start, features, labels[:100], budget)
    assert len(model.history) == 1


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        SequenceConfig(max_length=10)


def test_the_numpy_form_predicts_what_the_network_does(model: SequenceModel, data, tmp_path) -> None:
    """Prediction uses the compiled arrays (no torch): the same probabilities, for odd inputs too."""
    from models.sequence_inference import NumpySequenceModel, compile_sequence_model

    _, (sequences, _) = data
    odd = ["AC", "ATGNNNGCCRYTAA" * 5, "N" * 40, "ATG" + "GCC" * 700 + "TAA"]  # tiny, ambiguous, no base, cropped
    everything = sequences + odd
    orf_start, features = inputs(everything)
    compiled = NumpySequenceModel(compile_sequence_model(model))
    np.testing.assert_allclose(compiled.predict_proba(everything, orf_start, features),
                               model.predict_proba(everything, orf_start, features), atol=1e-5)
    loaded = NumpySequenceModel.load(model.save(tmp_path / "saved"))
    np.testing.assert_array_equal(loaded.predict_proba(everything, orf_start, features),
                                  compiled.predict_proba(everything, orf_start, features))
    assert compiled.predict_proba([], np.empty(0), np.empty((0, 1))).shape == (0,)
