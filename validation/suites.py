"""The training and prediction suites, built from a gate's thresholds.

Hard expectations have severity ``critical`` (they fail the run); soft ones ``warning`` (they are
reported). Each has a ``description`` that says the rule in words: Data Docs and gate messages show it.
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


def suite_name(gate: str) -> str:
    return f"coding_potential.{gate}"


def build_suite(gate: str, thresholds: GateThresholds, records_read: dict[str, int]) -> gx.ExpectationSuite:
    """The suite of ``gate`` (``training`` or ``prediction``) for one run.

    ``records_read`` is what the reader counted per input file, for the reconciliation rule.
    """
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; available: {', '.join(GATES)}")
    t = thresholds
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
                column="label", value_set=[0, 1], row_condition=VALID_ONLY, severity=HARD,
                description="both labels are present: coding (1) and noncoding (0)"),
            gx.expectations.ExpectColumnMeanToBeBetween(
                column="label", min_value=t.min_coding_share, max_value=t.max_coding_share,
                row_condition=VALID_ONLY, severity=SOFT,
                description=f"the coding share is between {t.min_coding_share:.0%} and {t.max_coding_share:.0%}"),
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="length", min_value=t.min_length, row_condition=VALID_ONLY, severity=SOFT,
                description=f"records of at least {t.min_length} nt; shorter ones are left out of training "
                            f"(excluded_too_short)"),
        ]
    else:
        rules.append(gx.expectations.ExpectColumnValuesToBeBetween(
            column="length", min_value=t.min_length, row_condition=VALID_ONLY, severity=SOFT,
            description=f"records of at least {t.min_length} nt; shorter ones are scored with a warning"))
    return gx.ExpectationSuite(name=suite_name(gate), expectations=rules)
