"""Classification metrics against scikit-learn's independent implementations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from models.evaluate import classification_metrics, save_plots, write_report


def test_metrics_match_hand_counts():
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    probabilities = [0.9, 0.6, 0.4, 0.7, 0.2, 0.1, 0.5, 0.8]
    m = classification_metrics(labels, probabilities, threshold=0.5)
    # called coding: 0.9, 0.6, 0.7, 0.5, 0.8 -> tp 3, fp 2; noncoding: 0.4, 0.2, 0.1 -> fn 1, tn 2
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 2, 2, 1)
    assert m["sensitivity"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(2 / 4)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["accuracy"] == pytest.approx(5 / 8)


def test_metrics_match_sklearn_on_random_scores():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 500)
    probabilities = np.clip(labels * 0.3 + rng.random(500) * 0.7, 0, 1)
    m = classification_metrics(labels, probabilities, threshold=0.45)
    called = (probabilities >= 0.45).astype(int)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(labels, called))
    assert m["precision"] == pytest.approx(skm.precision_score(labels, called))
    assert m["sensitivity"] == pytest.approx(skm.recall_score(labels, called))
    assert m["specificity"] == pytest.approx(skm.recall_score(labels, called, pos_label=0))
    assert m["f1"] == pytest.approx(skm.f1_score(labels, called))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(labels, called))
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(labels, probabilities))
    assert m["auprc"] == pytest.approx(skm.average_precision_score(labels, probabilities))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(labels, probabilities))


def test_degenerate_inputs_give_zero_not_nan():
    m = classification_metrics([1, 1], [0.1, 0.2], threshold=0.5)
    assert m["precision"] == 0.0 and m["mcc"] == 0.0 and m["auroc"] == 0.0
    assert not any(isinstance(v, float) and np.isnan(v) for v in m.values())


def test_plots_and_report_are_written(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    probabilities = np.clip(labels * 0.5 + rng.random(200) * 0.5, 0, 1)
    plots = save_plots(labels, probabilities, 0.5, tmp_path, "test")
    for path in plots.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = classification_metrics(labels, probabilities, 0.5)
    others = {"a_family": metrics, "b_family": classification_metrics(labels, probabilities[::-1], 0.5)}
    report = write_report({"test": {"metrics": metrics, "plots": plots}}, tmp_path, "report", others)
    text = report["html"].read_text()
    assert text.count("data:image/png;base64,") == 4 and "auroc" in text and "brier" in text
    assert set(plots) == {"roc", "pr", "confusion", "reliability"}
    assert "Candidates on the validation split" in text and f"{others['b_family']['auroc']:.4f}" in text
    assert json.loads((tmp_path / "candidates.json").read_text()) == others
