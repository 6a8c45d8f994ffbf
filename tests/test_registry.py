"""The promotion rule, and the real MLflow registry applying it."""

from __future__ import annotations

import json

from models.registry import decide_promotion
from tests.test_cli import run_cli


def test_rule_promotes_without_champion_or_past_the_margin():
    assert decide_promotion(0.90, None, 0.002).promoted
    assert decide_promotion(0.953, 0.950, 0.002).promoted
    assert not decide_promotion(0.951, 0.950, 0.002).promoted
    assert not decide_promotion(0.94, 0.95, 0.0).promoted
    assert "does not beat" in decide_promotion(0.951, 0.950, 0.002).reason


def test_registry_keeps_the_champion_unless_beaten(shared, tmp_path):
    import mlflow

    var = tmp_path / "var"
    args = ("train", "--sample-per-file", "120", "--families", "logistic_regression")
    first = json.loads(run_cli(*args, var=var).stdout.decode().splitlines()[-1])
    # Same data and seed: same AUROC as the champion, so it cannot beat it by the margin.
    second = json.loads(run_cli(*args, var=var).stdout.decode().splitlines()[-1])
    # A negative margin lets an equal candidate through: the alias must move.
    third = json.loads(run_cli(*args, "--margin", "-1", var=var).stdout.decode().splitlines()[-1])
    assert (first["version"], second["version"], third["version"]) == ("1", "2", "3")
    assert first["promoted"] and not second["promoted"] and third["promoted"]
    uri = f"sqlite:///{var / 'mlflow' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)  # not the process-wide URIs
    assert str(client.get_model_version_by_alias("coding-potential", "champion").version) == "3"
    assert "does not beat" in client.get_model_version("coding-potential", "2").tags["promotion"]
