"""Gate thresholds: embedded defaults, overridden by the environment, then by a run's own values.

``CODING_POTENTIAL_GATE_MAX_REJECTED_SHARE``, ``..._MAX_AMBIGUOUS_FRACTION``, ``..._MIN_LENGTH``,
``..._MIN_CODING_SHARE`` and ``..._MAX_CODING_SHARE`` set the defaults of a deployment; a DAG run's
params and the CLI's options set one run's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from coding_potential.codes import SHORT_SEQUENCE_NT

#: The two gates: a labelled training set, or the inputs of one scoring run.
GATES = ("training", "prediction")
_ENV_PREFIX = "CODING_POTENTIAL_GATE_"
#: Longer than any transcript (the longest known are ~100 kb): a min_length above is a typo.
MAX_MIN_LENGTH = 10**9


@dataclass(frozen=True)
class GateThresholds:
    """The limits a gate checks.

    Attributes
    ----------
    max_rejected_share : float
        Hard: the share of records the reader rejects, at most (a protein file in a training set trips it).
    max_ambiguous_fraction : float
        Soft: the share of IUPAC ambiguity codes in one record's sequence, at most.
    min_length : int
        Soft: records shorter (nt) are valid; training leaves them out (``excluded_too_short``), scoring
        scores them with a warning.
    min_coding_share, max_coding_share : float
        Soft (training): bounds on the share of coding records among the valid ones.
    """

    max_rejected_share: float = 0.01
    max_ambiguous_fraction: float = 0.05
    min_length: int = SHORT_SEQUENCE_NT
    min_coding_share: float = 0.1
    max_coding_share: float = 0.9

    def __post_init__(self) -> None:
        for name in ("max_rejected_share", "max_ambiguous_fraction", "min_coding_share", "max_coding_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"gate threshold {name} must be in [0, 1], not {value!r}")
        if not 0 <= self.min_length <= MAX_MIN_LENGTH:
            raise ValueError(f"gate threshold min_length must be >= 0 and <= {MAX_MIN_LENGTH:,}, "
                             f"not {self.min_length!r}")
        if self.min_coding_share > self.max_coding_share:
            raise ValueError(f"gate threshold min_coding_share ({self.min_coding_share}) is above "
                             f"max_coding_share ({self.max_coding_share})")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> GateThresholds:
        """The defaults, with any ``CODING_POTENTIAL_GATE_<NAME>`` variable applied."""
        environ = os.environ if environ is None else environ
        values = {f.name: environ[_ENV_PREFIX + f.name.upper()] for f in fields(cls)
                  if environ.get(_ENV_PREFIX + f.name.upper(), "").strip()}
        return cls().updated(values)

    def updated(self, values: Mapping[str, Any] | None) -> GateThresholds:
        """A copy with ``values`` applied (``None`` values are skipped; unknown names are an error)."""
        known = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, value in (values or {}).items():
            if name not in known:
                raise ValueError(f"unknown gate threshold {name!r}; known: {', '.join(known)}")
            if value is None or value == "":
                continue
            try:
                changes[name] = int(value) if name == "min_length" else float(value)
            except (TypeError, ValueError) as error:
                raise ValueError(f"gate threshold {name} is not a number: {value!r}") from error
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def thresholds(values: Mapping[str, Any] | None = None) -> GateThresholds:
    """The environment's thresholds with one run's ``values`` applied."""
    return GateThresholds.from_environment().updated(values)
