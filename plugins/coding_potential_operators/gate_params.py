"""The quality gate's thresholds as DAG params, so a run (or a rerun of a day) can loosen or tighten them.

Defaults are the deployment's (``validation.settings``: embedded values, then
``$CODING_POTENTIAL_GATE_*`` when the DAG is parsed); the validate task receives the run's values.
"""

from __future__ import annotations

from airflow.sdk import Param

from validation.settings import GateThresholds

_DESCRIPTIONS = {
    "max_rejected_share": ("Hard: the run fails when the reader rejects more than this share of the records "
                           "(0.01 = 1%)."),
    "max_ambiguous_fraction": "Soft: records with more ambiguous bases (N, R, Y, ...) than this share are reported.",
    "min_length": ("Soft: records shorter than this (nt) are reported; training leaves them out "
                   "(excluded_too_short), scoring scores them with a warning."),
    "min_coding_share": "Soft (training): a coding share below this is reported.",
    "max_coding_share": "Soft (training): a coding share above this is reported.",
}
_TRAINING_ONLY = ("min_coding_share", "max_coding_share")


def gate_params(gate: str) -> dict[str, Param]:
    """Params of the ``training`` or ``prediction`` gate, defaulting to the deployment's thresholds."""
    defaults = GateThresholds.from_environment().as_dict()
    params = {}
    for name, description in _DESCRIPTIONS.items():
        if gate != "training" and name in _TRAINING_ONLY:
            continue
        integer = name == "min_length"
        params[name] = Param(defaults[name], description=description, type="integer" if integer else "number",
                             minimum=0, **({} if integer else {"maximum": 1}))
    return params


def gate_arguments(gate: str) -> dict[str, str]:
    """The validate task's ``thresholds`` argument: each param, rendered natively."""
    return {name: f"{{{{ params.{name} }}}}" for name in gate_params(gate)}
