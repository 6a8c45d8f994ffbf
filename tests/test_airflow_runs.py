"""Real runs of both DAGs with ``airflow dags test`` on a small subset of the real data (slow, ~2 min).

One fresh var/ and Airflow home for the module: train on 150 records per default training file, stage
the two mouse validation files as 2026-01-01's landed input, score that date twice (the second run must
replace the partition, not add to it), and score a date where nothing landed (every task skipped).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.airflow_runner import (
    SCORING_DAG,
    TRAINING_DAG,
    DagRunFailed,
    DagTestResult,
    airflow_env,
    dags_test,
    run_dags_test,
    stage_landing,
)
from tests.conftest import read_plain_fasta

pytestmark = pytest.mark.slow

DAY = "2026-01-01"
EMPTY_DAY = "2026-01-02"
BAD_DAY = "2026-01-03"  # a protein file landed with real transcripts: over the 1% rule
FEW_BAD_DAY = "2026-01-04"  # one protein record among 300 real transcripts: under it
PROTEIN = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMK"
TRAINING_TASKS = {"resolve_inputs", "validate", "features", "train", "evaluate", "register"}
SCORING_TASKS = {"ingest", "validate", "features", "predict"}


@dataclass
class Runs:
    var: Path
    env: dict[str, str]
    training: DagTestResult
    staged: list[Path]
    scoring: DagTestResult
    first_partition: dict[str, object]
    rescoring: DagTestResult
    empty_day: DagTestResult
    bad_day: DagTestResult
    few_bad_day: DagTestResult
    bad_training: DagTestResult


def _predictions(result: DagTestResult) -> Path:
    from pipeline.lake import local_path

    return local_path(result.results["predict"]["predictions"])


def _partition_snapshot(partition: Path) -> dict[str, object]:
    import pyarrow.parquet as pq

    table = pq.read_table(partition / "predictions.parquet")
    return {
        "files": sorted(p.name for p in partition.iterdir()),
        "rows": table.num_rows,
        "ids": sorted(table.column("id").to_pylist()),
        "versions": sorted(set(table.column("model_version").to_pylist())),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Runs:
    var = tmp_path_factory.mktemp("airflow-runs") / "var"
    # Isolate from the caller's settings: the steps must use the defaults under this var/.
    dropped = {"MLFLOW_TRACKING_URI", "CODING_POTENTIAL_LANDING", "CODING_POTENTIAL_LAKE", "AIRFLOW_HOME",
               "CODING_POTENTIAL_FEATURES_ENGINE"}
    base = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("AIRFLOW__")}
    base["CODING_POTENTIAL_SHARED"] = str(shared)
    env = airflow_env(var, base=base)

    training = run_dags_test(TRAINING_DAG, None, {"sample_per_file": 150, "seed": 0}, env=env, echo=None)
    assert training.ok, (training.states, training.log_path)
    staged = stage_landing(DAY, landing_root=var / "lake" / "landing")
    scoring = run_dags_test(SCORING_DAG, DAY, None, env=env, echo=None)
    assert scoring.ok, (scoring.states, scoring.log_path)
    first = _partition_snapshot(_predictions(scoring))
    rescoring = run_dags_test(SCORING_DAG, DAY, None, env=env, echo=None)
    empty_day = run_dags_test(SCORING_DAG, EMPTY_DAY, None, env=env, echo=None)
    bad_day, few_bad_day, bad_training = _gate_runs(var, env, staged)
    return Runs(var, env, training, staged, scoring, first, rescoring, empty_day, bad_day, few_bad_day, bad_training)


def _gate_runs(var: Path, env: dict[str, str], staged: list[Path]) -> tuple[DagTestResult, ...]:
    """Runs the quality gate must stop or let through: a scoring day with a protein file (10 of 310
    records), a day with one protein record of 301, and a training run whose coding set holds proteins."""
    real = "".join(f">{h}\n{s}\n" for h, s in read_plain_fasta(staged[0])[:300])
    proteins = "".join(f">prot{i} a protein\n{PROTEIN[i:]}\n" for i in range(10))
    folder = var / "inputs"
    folder.mkdir()
    for day, text in ((BAD_DAY, proteins), (FEW_BAD_DAY, proteins.split(">prot1 ")[0])):
        (folder / f"real-{day}.fa").write_text(real)
        (folder / f"proteins-{day}.fa").write_text(text)
        stage_landing(day, [folder / f"real-{day}.fa", folder / f"proteins-{day}.fa"], var / "lake" / "landing")
    bad_day = run_dags_test(SCORING_DAG, BAD_DAY, None, env=env, echo=None)
    few_bad_day = run_dags_test(SCORING_DAG, FEW_BAD_DAY, None, env=env, echo=None)
    manifest = folder / "training.tsv"
    (folder / "proteins.fa").write_text(proteins)
    manifest.write_text(f"path\tlabel\n{staged[0]}\tcoding\nproteins.fa\tcoding\n{staged[1]}\tnoncoding\n")
    bad_training = run_dags_test(TRAINING_DAG, None, {"manifest": str(manifest), "sample_per_file": 100}, env=env,
                                 echo=None)
    return bad_day, few_bad_day, bad_training


def _count_records(path: Path) -> int:
    with gzip.open(path, "rt") as handle:
        return sum(1 for line in handle if line.startswith(">"))


def test_training_run_registers_and_promotes_a_champion(runs: Runs) -> None:
    import mlflow

    from models.registry import CHAMPION_ALIAS, MODEL_NAME

    assert runs.training.returncode == 0
    assert runs.training.states == dict.fromkeys(TRAINING_TASKS, "success")
    registered = runs.training.results["register_candidate"]
    assert registered["promoted"] is True, registered
    uri = f"sqlite:///{runs.var / 'mlflow' / 'mlflow.db'}"
    assert registered["tracking_uri"] == uri
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert str(champion.version) == str(registered["version"])
    assert len(client.search_model_versions(f"name='{MODEL_NAME}'")) == 1
    # the training run's params reached the steps natively (sampled inputs, not the whole files)
    resolved = runs.training.results["resolve_training_inputs"]["inputs"]
    assert [item["name"] for item in resolved] == [
        "human/train_coding.fa.gz", "human/train_noncoding.fa.gz",
        "mouse/train_coding.fa.gz", "mouse/train_noncoding.fa.gz",
    ]
    assert runs.training.results["validate_inputs"]["records"] == 4 * 150


def test_scoring_run_publishes_one_row_per_valid_record(runs: Runs) -> None:
    assert runs.scoring.returncode == 0
    assert runs.scoring.states == dict.fromkeys(SCORING_TASKS, "success")
    records = sum(_count_records(path) for path in runs.staged)
    assert records == 2426 + 2414  # the manifest's counts for mouse/validation_{coding,noncoding}
    rejected = runs.scoring.results["validate_inputs"]["rejected"]
    partition = runs.var / "lake" / "predictions" / "scoring" / f"date={DAY}"
    predicted = runs.scoring.results["predict"]
    assert _predictions(runs.scoring) == partition
    assert predicted["rows"] == records - rejected
    assert runs.first_partition["rows"] == records - rejected
    assert len(set(runs.first_partition["ids"])) == records - rejected  # type: ignore[arg-type]
    # every row names the champion that scored it
    version = runs.training.results["register_candidate"]["version"]
    assert runs.first_partition["versions"] == [str(version)]
    assert predicted["model_version"] == str(version)
    # the features went through Spark, and every landed record is valid or quarantined
    assert runs.scoring.results["build_features"]["engine"] == "spark"
    assert runs.scoring.results["build_features"]["rows"] == records - rejected


def test_rescoring_a_date_replaces_its_partition(runs: Runs) -> None:
    assert runs.rescoring.ok, (runs.rescoring.states, runs.rescoring.log_path)
    partition = _predictions(runs.rescoring)
    assert _partition_snapshot(partition) == runs.first_partition
    assert sorted(p.name for p in partition.parent.iterdir()) == [f"date={DAY}", f"date={FEW_BAD_DAY}"]  # no leftovers
    assert runs.rescoring.run_dir != runs.scoring.run_dir  # a new run, its own folder


def test_a_day_without_input_skips_every_task(runs: Runs) -> None:
    assert runs.empty_day.returncode == 0
    assert runs.empty_day.states == dict.fromkeys(SCORING_TASKS, "skipped")
    assert not (runs.var / "lake" / "predictions" / "scoring" / f"date={EMPTY_DAY}").exists()


def test_an_invalid_conf_fails_loudly(runs: Runs) -> None:
    with pytest.raises(DagRunFailed, match=r"(?s)no task instances.*sample_per_file: 0 is less than the minimum"):
        dags_test(TRAINING_DAG, None, {"sample_per_file": 0}, env=runs.env, echo=None)


def test_a_protein_file_fails_the_scoring_run_at_the_gate(runs: Runs) -> None:
    assert runs.bad_day.returncode != 0
    assert runs.bad_day.states == {"ingest": "success", "validate": "failed", "features": "upstream_failed",
                                   "predict": "upstream_failed"}
    log = runs.bad_day.log_path.read_text(errors="replace")
    assert "prediction gate failed (scoring 2026-01-03)" in log
    assert "expect_records_to_pass_the_reader" in log and "10 of 310 records fail (3.2%)" in log
    assert "e.g. prot0, prot1, prot2, prot3, prot4" in log
    assert not (runs.var / "lake" / "predictions" / "scoring" / f"date={BAD_DAY}").exists()
    report = runs.var / "reports" / "scoring" / f"date={BAD_DAY}"
    assert "FAILED" in (report / "summary.md").read_text()
    assert len((report / "rejected.tsv").read_text().splitlines()) == 1 + 10


def test_a_few_bad_records_pass_quarantined_and_listed(runs: Runs) -> None:
    assert runs.few_bad_day.ok, (runs.few_bad_day.states, runs.few_bad_day.log_path)
    validated = runs.few_bad_day.results["validate_inputs"]
    assert (validated["records"], validated["valid"], validated["rejected"]) == (301, 300, 1)
    assert runs.few_bad_day.results["predict"]["rows"] == 300
    report = Path(validated["report"]).parent
    assert (report / "rejected.tsv").read_text().splitlines()[1].split("\t")[1:4] == ["1", "prot0", "invalid_character"]


def test_a_protein_file_in_the_coding_set_fails_the_training_run(runs: Runs) -> None:
    assert runs.bad_training.states["resolve_inputs"] == "success"
    assert runs.bad_training.states["validate"] == "failed"
    assert runs.bad_training.states["register"] == "upstream_failed"
    log = runs.bad_training.log_path.read_text(errors="replace")
    assert "training gate failed" in log and "expect_records_to_pass_the_reader" in log
    assert "10 of 210 records fail (4.8%)" in log
