"""Shared fixtures: the reference folder, and an isolated var/ per test that writes."""

from __future__ import annotations

import gzip
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from coding_potential import config


@pytest.fixture(scope="session")
def shared() -> Path:
    """The reference folder; tests that need it skip, saying why, only where it is absent."""
    folder = config.shared_dir()
    if not (folder / "data" / "manifest.tsv").is_file():
        pytest.skip(f"reference folder not found at {folder} (set CODING_POTENTIAL_SHARED)")
    return folder


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh var/ (data copies, MLflow store, runs) for one test."""
    folder = tmp_path / "var"
    monkeypatch.setenv("CODING_POTENTIAL_VAR", str(folder))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return folder


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite MLflow store (and var/, artifact root) for one test; MLflow's process-wide URIs,
    which ``models.registry.client()`` sets, are put back afterwards. Returns the store's URI."""
    import mlflow

    for module, name in ((mlflow.tracking._tracking_service.utils, "_tracking_uri"),
                         (mlflow.tracking._model_registry.utils, "_registry_uri")):
        monkeypatch.setattr(module, name, getattr(module, name))
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)  # set_registry_uri exports it too
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("CODING_POTENTIAL_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("CODING_POTENTIAL_ARTIFACT_ROOT", (tmp_path / "artifacts").as_uri())
    return uri


@pytest.fixture(scope="module")
def spark():
    """A local[2] Spark session for one test module (stopped after it)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from spark_jobs.features_job import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()
    # py4j logs "Closing down clientserver connection" at interpreter exit, after pytest closed its streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)


def read_plain_fasta(path: Path) -> list[tuple[str, str]]:
    """A deliberately naive reader for well-formed test files: (header, upper-case sequence) pairs."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    records: list[tuple[str, list[str]]] = []
    with opener(path, "rt") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith(">"):
                records.append((line[1:], []))
            elif line:
                records[-1][1].append(line.upper().replace("U", "T"))
    return [(header, "".join(parts)) for header, parts in records]


def synthetic_transcripts(n: int = 240, seed: int = 0) -> tuple[list[str], list[str], list[int]]:
    """IDs, sequences and labels of made-up transcripts: coding ones hold a long ORF, noncoding ones are
    random (stops every ~21 codons). Enough to train a small real model without the reference data."""
    rng = np.random.default_rng(seed)
    sense = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG", "TGA")]
    ids, sequences, labels = [], [], []
    for i in range(n):
        utr = "".join(rng.choice(list("ACGT"), size=int(rng.integers(30, 120))))
        if i % 2 == 0:
            body = "ATG" + "".join(rng.choice(sense, size=int(rng.integers(100, 300)))) + "TAA"
        else:
            body = "".join(rng.choice(list("ACGT"), size=int(rng.integers(300, 900))))
        ids.append(f"t{i}")
        sequences.append(utr + body + utr[::-1])
        labels.append(1 if i % 2 == 0 else 0)
    return ids, sequences, labels


def small_model(folder: Path):
    """A logistic-regression bundle trained on :func:`synthetic_transcripts`, saved under ``folder``."""
    from models.bundle import CodingModel
    from models.train import TrainingConfig, train

    ids, sequences, labels = synthetic_transcripts()
    result = train(ids, sequences, np.asarray(labels), TrainingConfig(families=("logistic_regression",)))
    return CodingModel.load(result.model.save(folder / "bundle"))
