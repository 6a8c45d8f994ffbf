"""The training and prediction suites, built from a gate's thresholds.

Hard expectations have severity ``critical`` (they fail the run); soft ones ``warning`` (they are
reported). Each has a ``description`` that says the rule in words: Data Docs and gate messages show it.
A gate's rules go in two suites, ``coding_potential.GATE.hard`` and ``coding_potential.GATE.soft``,
because Great Expectations marks a validation failed when any expectation fails: in Data Docs, a run
whose data passed with warnings shows its hard suite succeeded and its soft suite failed.
"""

from __future__ import annotations

import great_expectations as gx
from great_expectations.expectations.row_conditions import Column

from . import expectations as custom
from .settings import GATES, GateThresholds

HARD = "critical"
SOFT = "warning"

#: Expectations on valid records only (the reader's rejections have no sequence, length or label).
VALID_ONLY = Column("valid") == True  # noqa: E712 (a GX condition, not a comparison)


def suite_name(gate: str, severity: str) -> str:
    """``coding_potential.GATE.hard`` or ``coding_potential.GATE.soft``."""
    return f"coding_potential.{gate}.{'hard' if severity == HARD else 'soft'}"


def build_suites(gate: str, thresholds: GateThresholds, records_read: dict[str, int]) -> list[gx.ExpectationSuite]:
    """The hard and the soft suite of ``gate`` (``training`` or ``prediction``) for one run.

    ``records_read`` is what the reader counted per input file, for the reconciliation rule.
    """
    rules = _rules(gate, thresholds, records_read)
    return [gx.ExpectationSuite(name=suite_name(gate, severity), expectations=[
        rule for rule in rules if str(getattr(rule.severity, "value", rule.severity)) == severity])
        for severity in (HARD, SOFT)]


def _rules(gate: str, thresholds: GateThresholds, records_read: dict[str, int]) -> list:
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; available: {', '.join(GATES)}")
    t = thresholds
    # Labels are judged on what training keeps: valid records of at least min_length nt.
    trainable = VALID_ONLY & (Column("length") >= t.min_length)
    rules = [
        custom.ExpectRecordsToReconcileWithReader(
            records_read=dict(records_read), severity=HARD,
            description="every record read is kept or quarantined: per file, records = valid + rejected"),
        custom.ExpectRecordsToPassTheReader(
            column="valid", mostly=1.0 - t.max_rejected_share, severity=HARD,
            description=f"at most {t.max_rejected_share:.1%} of the records are rejected by the reader"),
        custom.ExpectSequencesToBeValidNucleotides(
            column="sequence", row_condition=VALID_ONLY, severity=HARD,
            description="valid sequences hold IUPAC nucleotide letters only"),
        custom.ExpectAmbiguousBaseFractionToBeAtMost(
            column="ambiguous_fraction", max_value=t.max_ambiguous_fraction, row_condition=VALID_ONLY,
            severity=SOFT,
            description=f"at most {t.max_ambiguous_fraction:.1%} ambiguous bases (N, R, Y, ...) per record"),
    ]
    if gate == "training":
        rules += [
            gx.expectations.ExpectColumnValuesToBeUnique(
                column="id", row_condition=VALID_ONLY, severity=HARD,
                description="transcript IDs are unique across all files of the training set"),
            gx.expectations.ExpectColumnDistinctValuesToContainSet(
                column="label", value_set=[0, 1], row_condition=trainable, severity=HARD,
                description=f"both labels are present among the records training keeps (valid, at least "
                            f"{t.min_length} nt): coding (1) and noncoding (0)"),
            gx.expectations.ExpectColumnMeanToBeBetween(
                column="label", min_value=t.min_coding_share, max_value=t.max_coding_share,
                row_condition=trainable, severity=SOFT,
                description=f"the coding share of the records training keeps is between {t.min_coding_share:.0%} "
                            f"and {t.max_coding_share:.0%}"),
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="length", min_value=t.min_length, row_condition=VALID_ONLY, severity=SOFT,
                description=f"records of at least {t.min_length} nt; shorter ones are left out of training "
                            f"(excluded_too_short)"),
        ]
    else:
        rules.append(gx.expectations.ExpectColumnValuesToBeBetween(
            column="length", min_value=t.min_length, row_condition=VALID_ONLY, severity=SOFT,
            description=f"records of at least {t.min_length} nt; shorter ones are scored with a warning"))
    return rules
