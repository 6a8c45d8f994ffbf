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

DOC_MD = """
### Daily coding-potential scoring

For the run's logical date (`ds`), picks up the FASTA files that landed in `<landing>/<ds>/`, validates
them, computes features, predicts each transcript's coding probability with the registered **champion**
model (or `model_uri`), and publishes the predictions as the partition for that date.

Tasks, in order (each runs the `pipeline.steps` function named in brackets):

1. `ingest` (`ingest_landing`): lists the day's landed files; **skips the rest of the run** when
   nothing landed that day.
2. `validate` (`validate_inputs`): reads and validates every record and counts rejections by reason.
3. `features` (`build_features`): computes the feature table.
4. `predict` (`predict`): scores every valid record with the model.
5. `publish` (`publish`): writes the date's partition under `output_root`, replacing any earlier one,
   so a rerun of a date is idempotent.

Params: `landing` (null: `<var>/landing`), `output_root` (null: `<var>/predictions`), `model_uri`
(null: the registry's champion). Past dates are (re)scored with `airflow backfill create --dag-id
coding_potential_scoring --from-date ... --to-date ...` (catchup is off); rerunning a date replaces its
partition.
"""

with DAG(
    dag_id="coding_potential_scoring",
    description="Score the day's landed transcripts with the champion model and publish the partition.",
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
            description="Landing root holding one <ds>/ folder of FASTA files per day (null: <var>/landing).",
            type=["null", "string"],
        ),
        "output_root": Param(
            None,
            description="Root of the published prediction partitions (null: <var>/predictions).",
            type=["null", "string"],
        ),
        "model_uri": Param(
            None,
            description="MLflow model URI to score with (null: the registered champion).",
            type=["null", "string"],
        ),
    },
):
    ingest = step_operator("ingest", "ingest_landing", {"date": "{{ ds }}", "landing": "{{ params.landing }}"})
    validate = step_operator("validate", "validate_inputs", {"resolved": ingest.output})
    features = step_operator("features", "build_features", {"validated": validate.output})
    predict = step_operator("predict", "predict", {"featured": features.output, "model_uri": "{{ params.model_uri }}"})
    publish = step_operator(
        "publish",
        "publish",
        {"predicted": predict.output, "date": "{{ ds }}", "output_root": "{{ params.output_root }}"},
    )

    ingest >> validate >> features >> predict >> publish
