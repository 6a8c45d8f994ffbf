"""DAG ``coding_potential_scoring``: score each day's landed FASTA with the champion model.

Wiring only: every task is one function of ``pipeline.steps`` (see ``docs/architecture.md``), built by
``coding_potential_operators.step_operator`` for the profile in ``$CODING_POTENTIAL_PROFILE``.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

# The operators live in <repo>/plugins, which is on sys.path when Airflow's plugins_folder points there;
# add it here too so that the DAG parses in any Airflow home (tests, a scheduler with defaults).
_PLUGINS = str(Path(__file__).resolve().parent.parent / "plugins")
if _PLUGINS not in sys.path:
    sys.path.append(_PLUGINS)

import pendulum  # noqa: E402
from airflow.sdk import DAG, Param  # noqa: E402
from coding_potential_operators import step_operator  # noqa: E402
from coding_potential_operators.gate_params import gate_arguments, gate_params  # noqa: E402

DOC_MD = """
### Daily coding-potential scoring

For the run's logical date (`ds`), ingests the FASTA files that landed under the day's `YYYY-MM-DD/`
prefix of the landing source (a folder, or an Azure Blob Storage container), validates them, computes
features, and predicts each transcript's coding probability with the registered **champion** model (or
`model_uri`). Every task reads and writes the lake's partitions for that date (`pipeline/lake.py`), each
replaced whole, so a rerun or a backfill of a date replaces its partitions and never appends.

Tasks, in order (each runs the `pipeline.steps` function named in brackets):

1. `ingest` (`ingest_landing`): copies the day's FASTA into `raw/scoring/date=<ds>/` and records what it
   copied (a rerun copies only new or changed files); **skips the rest of the run** when nothing landed.
2. `validate` (`validate_inputs`): valid records to `validated/`, rejected ones with their reason to
   `quarantine/`, with a summary that reconciles records = valid + rejected; then the prediction quality
   gate (Great Expectations): a hard failure (e.g. over `max_rejected_share` rejected) fails the task
   with the expectation, the failing count and example IDs; its report's path is in the task log.
3. `features` (`build_features`): the feature table, on local Spark (or in-process), into `features/`.
4. `predict` (`predict`): scores every valid record into `predictions/scoring/date=<ds>/`, each row
   naming the model and version that produced it.

Params: `landing` (null: `$CODING_POTENTIAL_LANDING` or the lake's `landing/`; `wasb://CONTAINER` reads
Blob Storage through the `wasb_default` connection), `lake` (null: the profile's lake root),
`model_uri` (null: the registry's champion), `features_engine` (null: `spark`), and the gate's
thresholds `max_rejected_share`, `max_ambiguous_fraction`, `min_length` (rerun a day with a looser gate
by triggering it with other values). Past dates are
(re)scored with `airflow backfill create --dag-id coding_potential_scoring --from-date ... --to-date ...`
(catchup is off; see the README's backfill recipe).
"""

with DAG(
    dag_id="coding_potential_scoring",
    description="Score the day's landed transcripts with the champion model into the lake's date partition.",
    doc_md=DOC_MD,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["coding-potential", "scoring"],
    default_args={"owner": "coding-potential", "retries": 1, "retry_delay": timedelta(minutes=1)},
    render_template_as_native_obj=True,
    params={
        "landing": Param(
            None,
            description="Where files land, one YYYY-MM-DD/ folder a day: a folder, file:// or wasb://CONTAINER "
                        "(null: $CODING_POTENTIAL_LANDING or the lake's landing/).",
            type=["null", "string"],
        ),
        "lake": Param(None, description="Lake root URI (null: the profile's).", type=["null", "string"]),
        "model_uri": Param(
            None,
            description="MLflow model URI to score with (null: the registered champion).",
            type=["null", "string"],
        ),
        "features_engine": Param(
            None, description="'spark' or 'inprocess' (null: $CODING_POTENTIAL_FEATURES_ENGINE, else spark).",
            type=["null", "string"], enum=[None, "spark", "inprocess"],
        ),
        **gate_params("prediction"),
    },
):
    DAY = {"date": "{{ ds }}", "lake": "{{ params.lake }}"}
    ingest = step_operator("ingest", "ingest_landing", {**DAY, "source": "{{ params.landing }}"})
    validate = step_operator(
        "validate", "validate_inputs", {**DAY, "dataset": "scoring", "thresholds": gate_arguments("prediction")})
    features = step_operator(
        "features", "build_features", {**DAY, "dataset": "scoring", "engine": "{{ params.features_engine }}"})
    predict = step_operator("predict", "predict", {**DAY, "model_uri": "{{ params.model_uri }}"})

    ingest >> validate >> features >> predict
