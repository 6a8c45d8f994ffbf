"""DAG ``coding_potential_training``: train, evaluate and (maybe) promote a coding-potential model.

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

from airflow.sdk import DAG, Param  # noqa: E402
from coding_potential_operators import step_operator  # noqa: E402
from coding_potential_operators.gate_params import gate_arguments, gate_params  # noqa: E402

from pipeline import settings  # noqa: E402

DOC_MD = """
### Coding-potential model training (on demand)

Trains candidate models that predict whether an RNA transcript codes for a protein, evaluates them,
and registers the best one in the MLflow model registry, promoting it to **champion** only if it beats
the current champion by at least `promotion_margin`.

Tasks, in order (each runs the `pipeline.steps` function named in brackets):

1. `resolve_inputs` (`resolve_training_inputs`): copies the labelled FASTA files named by `datasets`
   (manifest names or globs such as `human/train_*`), or those of your own `manifest` TSV, optionally
   sampled (`sample_per_file`, `seed`), into the lake's `raw/training/date=<ds>/`.
2. `validate` (`validate_inputs`): valid records to `validated/training/date=<ds>/` (by species),
   rejected ones with their reason to `quarantine/`; then the training quality gate (Great
   Expectations). Hard rules fail the task with the expectation, the failing count and example IDs:
   records reconcile, at most `max_rejected_share` rejected (a protein file in the set trips it), IDs
   unique across files, both labels present. Soft rules are reported: ambiguous bases per record
   (`max_ambiguous_fraction`), the coding share (`min_coding_share`..`max_coding_share`), and records
   under `min_length` nt, which training leaves out (`excluded_too_short`). The report's path is in the
   task log. Rerun with looser thresholds by triggering with other values.
3. `features` (`build_features`): the feature table, on local Spark (or in-process), into `features/`.
4. `train` (`train_candidate`): trains the `model_families` on a sequence-disjoint split; the best is
   the candidate.
5. `evaluate` (`evaluate_candidate`): scores the candidate on held-out data.
6. `register` (`register_candidate`): registers the candidate as a new model version; its log says
   whether it was promoted to champion and why.

The first three tasks replace the lake's partitions of the run's logical date; the others write under the
run's folder `<var>/runs/coding_potential_training/<run_id>/`, atomically, so a retry or a rerun is safe.
Trigger with a conf, e.g. `{"sample_per_file": 150}` for a quick run.
"""

# The run's parameters, as one JSON dict for the training, evaluation and registration steps.
RUN_PARAMS = {
    "datasets": "{{ params.datasets }}",
    "sample_per_file": "{{ params.sample_per_file }}",
    "seed": "{{ params.seed }}",
    "promotion_margin": "{{ params.promotion_margin }}",
    "model_families": "{{ params.model_families }}",
    "min_length": "{{ params.min_length }}",
}

with DAG(
    dag_id="coding_potential_training",
    description="Train, evaluate and register a coding-potential model; promote it if it is better.",
    doc_md=DOC_MD,
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["coding-potential", "training"],
    default_args={"owner": "coding-potential", "retries": 1, "retry_delay": timedelta(minutes=1)},
    render_template_as_native_obj=True,
    params={
        "datasets": Param(
            list(settings.TRAINING_DATASETS),
            description="Training files: manifest names or globs (e.g. 'human/train_*') of shared/data.",
            type="array",
            items={"type": "string", "minLength": 1},
            minItems=1,
        ),
        "manifest": Param(
            None,
            description="A TSV of your own labelled FASTA files (columns path, label = 1/coding or "
                        "0/noncoding, optional species), used instead of datasets (null: datasets).",
            type=["null", "string"],
        ),
        "sample_per_file": Param(
            None,
            description="Records sampled per file (null: every record). Small values give quick runs.",
            type=["null", "integer"],
            minimum=1,
        ),
        "seed": Param(0, description="Seed for sampling, splitting and training.", type="integer", minimum=0),
        "promotion_margin": Param(
            settings.PROMOTION_MARGIN,
            description="How much the candidate must beat the champion's metric by to be promoted.",
            type="number",
            minimum=0,
        ),
        "lake": Param(None, description="Lake root URI (null: the profile's).", type=["null", "string"]),
        "features_engine": Param(
            None, description="'spark' or 'inprocess' (null: $CODING_POTENTIAL_FEATURES_ENGINE, else spark).",
            type=["null", "string"], enum=[None, "spark", "inprocess"],
        ),
        "model_families": Param(
            list(settings.MODEL_FAMILIES),
            description="Model families to train (also sequence_cnn, ensemble); the best on validation becomes "
                        "the candidate.",
            type="array",
            items={"type": "string", "enum": list(settings.KNOWN_MODEL_FAMILIES)},
            minItems=1,
            uniqueItems=True,
        ),
        **gate_params("training"),
    },
):
    DAY = {"date": "{{ ds }}", "lake": "{{ params.lake }}"}
    resolve_inputs = step_operator(
        "resolve_inputs",
        "resolve_training_inputs",
        {**DAY, "datasets": "{{ params.datasets }}", "sample_per_file": "{{ params.sample_per_file }}",
         "seed": "{{ params.seed }}", "manifest_file": "{{ params.manifest }}"},
    )
    validate = step_operator(
        "validate", "validate_inputs", {**DAY, "dataset": "training", "thresholds": gate_arguments("training")})
    features = step_operator(
        "features", "build_features", {**DAY, "dataset": "training", "engine": "{{ params.features_engine }}"})
    train = step_operator("train", "train_candidate", {**DAY, "params": RUN_PARAMS})
    evaluate = step_operator("evaluate", "evaluate_candidate", {"trained": train.output, "params": RUN_PARAMS})
    register = step_operator(
        "register",
        "register_candidate",
        {"trained": train.output, "evaluated": evaluate.output, "params": RUN_PARAMS},
    )

    resolve_inputs >> validate >> features >> train >> evaluate >> register
