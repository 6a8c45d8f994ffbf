"""The domain rules of a FASTA gate as named Great Expectations expectations.

Each rule has one definition here, with a pandas and a Spark implementation of its metric, so the
same suite checks a pandas DataFrame in the single-process path and a Spark DataFrame inside the Spark
job. They run on the *records table* of :mod:`validation.records`: one row per record the reader read.

Importing this module registers the expectations and their metrics with Great Expectations.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.compatibility import pydantic
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import PandasExecutionEngine, SparkDFExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation, ColumnMapExpectation
from great_expectations.expectations.metrics import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider

from coding_potential.fasta import IUPAC_NUCLEOTIDES

#: A sequence the model may see: IUPAC nucleotide letters only (the reader's alphabet, upper case).
VALID_NUCLEOTIDES = f"^[{IUPAC_NUCLEOTIDES}]+$"


# ------------------------------------------------------------------------------------------- metrics
class ColumnValuesValidNucleotides(ColumnMapMetricProvider):
    """True where a sequence holds IUPAC nucleotide letters only (null sequences are not checked)."""

    condition_metric_name = "column_values.valid_nucleotides"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return column.astype(str).str.fullmatch(VALID_NUCLEOTIDES)

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        return column.rlike(VALID_NUCLEOTIDES)


class ColumnValuesAtMost(ColumnMapMetricProvider):
    """True where a value is at most ``max_value``."""

    condition_metric_name = "column_values.at_most"
    condition_value_keys = ("max_value",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, max_value, **kwargs):
        return column <= max_value

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, max_value, **kwargs):
        return column <= max_value


class ColumnValuesTrue(ColumnMapMetricProvider):
    """True where a boolean column is true."""

    condition_metric_name = "column_values.true"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return column.astype(bool)

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        return column


class TableRecordsPerSource(TableMetricProvider):
    """Rows of the table per ``source`` value (the input file), as ``{source: rows}``."""

    metric_name = "table.records_per_source"

    @metric_value(engine=PandasExecutionEngine)
    def _pandas(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        frame, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        return {str(k): int(v) for k, v in frame["source"].value_counts(sort=False).items()}

    @metric_value(engine=SparkDFExecutionEngine)
    def _spark(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics, runtime_configuration):
        frame, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        return {row["source"]: int(row["count"]) for row in frame.groupBy("source").count().collect()}


# -------------------------------------------------------------------------------------- expectations
class ExpectRecordsToReconcileWithReader(BatchExpectation):
    """Every record the reader read is in the table, once: per input file, rows = valid + rejected.

    ``records_read`` maps each file to the number of records the reader counted in it; a file with
    rows in the table but not in ``records_read`` (or the other way round) fails too.
    """

    records_read: dict[str, int] = pydantic.Field(description="records the reader read, per input file")

    metric_dependencies = ("table.records_per_source",)
    domain_keys: ClassVar[tuple[str, ...]] = ()
    success_keys = ("records_read",)
    args_keys = ("records_read",)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None) -> dict:
        expected = {name: count for name, count in self.records_read.items() if count}
        observed = metrics["table.records_per_source"]
        differing = {name: {"read": expected.get(name, 0), "in_table": observed.get(name, 0)}
                     for name in sorted(set(expected) | set(observed))
                     if expected.get(name, 0) != observed.get(name, 0)}
        return {"success": not differing,
                "result": {"observed_value": sum(observed.values()), "details": {"differing": differing}}}


class ExpectRecordsToPassTheReader(ColumnMapExpectation):
    """At least ``mostly`` of the records are valid: the share the reader rejected stays under a limit.

    Runs on the boolean ``valid`` column; a suite sets ``mostly = 1 - max_rejected_share``. Only the
    reader's rejections count (records left out for length are valid records).
    """

    map_metric = "column_values.true"
    success_keys = ("mostly",)


class ExpectSequencesToBeValidNucleotides(ColumnMapExpectation):
    """Sequences hold IUPAC nucleotide letters only (``ACGT`` and ``RYSWKMBDHVN``, upper case)."""

    map_metric = "column_values.valid_nucleotides"
    success_keys = ("mostly",)


class ExpectAmbiguousBaseFractionToBeAtMost(ColumnMapExpectation):
    """The share of IUPAC ambiguity codes in a record's sequence is at most ``max_value``."""

    max_value: float = pydantic.Field(description="highest ambiguous-base fraction of a record")

    map_metric = "column_values.at_most"
    success_keys = ("max_value", "mostly")
    args_keys = ("column", "max_value")


#: Every custom expectation, by its snake-case type (as reports name it).
CUSTOM: dict[str, type[Any]] = {
    cls.expectation_type: cls for cls in (
        ExpectRecordsToReconcileWithReader, ExpectRecordsToPassTheReader, ExpectSequencesToBeValidNucleotides,
        ExpectAmbiguousBaseFractionToBeAtMost)
}
