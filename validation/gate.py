"""Run a gate: the suite of :mod:`validation.suites` over a records table, in a file-mode GX context.

The context lives under ``var/gx`` (``$CODING_POTENTIAL_GX_ROOT`` overrides); every run's results are
stored there and rendered into its Data Docs. The same call takes a pandas DataFrame (single process)
or a Spark DataFrame (inside the Spark job).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coding_potential import config

from .settings import GateThresholds
from .suites import HARD, build_suites, suite_name

log = logging.getLogger(__name__)

#: Example records a gate message and the report list per failing expectation.
EXAMPLES = 5
#: What names an example record: its ID, or its file and number when it has no ID.
EXAMPLE_COLUMNS = ("id", "source", "record_number")


class GateFailed(RuntimeError):
    """A hard expectation failed; ``result`` holds every outcome and where the reports are."""

    #: Rerunning on the same data fails the same way: orchestrators should not retry (loosen the gate).
    retryable = False

    def __init__(self, result: GateResult) -> None:
        super().__init__(result.message())
        self.result = result


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, in the terms a person reads."""

    expectation: str
    description: str
    severity: str
    success: bool
    failing: int | None = None
    checked: int | None = None
    examples: list[str] = field(default_factory=list)
    observed: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def hard(self) -> bool:
        return self.severity == HARD

    def line(self) -> str:
        """``expectation (description): N of M failing records, e.g. A, B`` or the observed value."""
        text = f"{self.expectation} ({self.description})"
        if self.failing is not None:
            share = self.failing / self.checked if self.checked else 0.0
            text += f": {self.failing:,} of {self.checked:,} records fail ({share:.1%})"
            if self.examples:
                text += ", e.g. " + ", ".join(self.examples)
        elif self.details.get("differing"):
            text += f": {self.details['differing']}"
        elif self.observed is not None:
            text += f": observed {self.observed}"
        return text


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate run."""

    gate: str
    run_name: str
    thresholds: dict[str, Any]
    outcomes: list[Outcome]
    docs_index: str | None = None

    @property
    def passed(self) -> bool:
        return not self.hard_failures

    @property
    def hard_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.hard and not o.success]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.hard and not o.success]

    def message(self) -> str:
        """One line per failed expectation, hard ones first."""
        if self.passed:
            head = f"{self.gate} gate passed ({self.run_name})"
        else:
            head = f"{self.gate} gate failed ({self.run_name}): {len(self.hard_failures)} hard expectation(s) failed"
        lines = [head] + [f"  FAILED {o.line()}" for o in self.hard_failures]
        lines += [f"  warning {o.line()}" for o in self.warnings]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "run_name": self.run_name, "passed": self.passed,
                "thresholds": self.thresholds, "docs_index": self.docs_index,
                "outcomes": [asdict(o) for o in self.outcomes]}


def gx_root() -> Path:
    """The file-mode GX project folder: ``$CODING_POTENTIAL_GX_ROOT`` or ``var/gx``."""
    return Path(os.environ.get("CODING_POTENTIAL_GX_ROOT") or config.var_dir() / "gx")


def run_gate(frame: Any, gate: str, thresholds: GateThresholds, records_read: dict[str, int],
             run_name: str) -> GateResult:
    """Validate ``frame`` (a records table as a pandas or Spark DataFrame) with the suite of ``gate``.

    Parameters
    ----------
    frame : pandas.DataFrame or pyspark.sql.DataFrame
        One row per record read (:mod:`validation.records`).
    records_read : dict of str to int
        Records the reader counted per input file.
    run_name : str
        Names the run in Data Docs (e.g. ``scoring 2026-01-01``).

    Returns
    -------
    GateResult
        Never raises for failed expectations: the caller decides (see :class:`GateFailed`).
    """
    import great_expectations as gx

    from . import expectations  # noqa: F401 (registers the custom expectations)

    spark = not hasattr(frame, "iloc")
    suites = build_suites(gate, thresholds, records_read)
    with _locked_context() as context:
        source_name = "records_spark" if spark else "records_pandas"
        source = (context.data_sources.add_or_update_spark(source_name) if spark
                  else context.data_sources.add_or_update_pandas(source_name))
        asset = source.add_dataframe_asset(gate)
        batch = asset.add_batch_definition_whole_dataframe("whole")
        definitions = [context.validation_definitions.add_or_update(gx.ValidationDefinition(
            name=f"{suite.name}_{source_name}", data=batch, suite=context.suites.add_or_update(suite)))
            for suite in suites]
        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name=f"{gate}_{source_name}", validation_definitions=definitions,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 4 * EXAMPLES,
                           "unexpected_index_column_names": list(EXAMPLE_COLUMNS)}))
        run = checkpoint.run(batch_parameters={"dataframe": frame},
                             run_id=gx.RunIdentifier(run_name=run_name))
        docs = context.get_docs_sites_urls()
    by_suite = {validation.suite_name: validation for validation in run.run_results.values()}
    outcomes = [_outcome(result) for suite in suites for result in by_suite[suite.name].results]
    index = docs[0]["site_url"].removeprefix("file://") if docs else None
    result = GateResult(gate=gate, run_name=run_name, thresholds=thresholds.as_dict(), outcomes=outcomes,
                        docs_index=index)
    log.info("%s", result.message())
    return result


@contextlib.contextmanager
def gx_lock() -> Iterator[None]:
    """The GX context's lock: one process at a time writes it or copies its site (backfill tasks run
    gates side by side)."""
    root = gx_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _locked_context() -> Iterator[Any]:
    """The file-mode GX context, under :func:`gx_lock`, with its progress bars off."""
    import great_expectations as gx

    with gx_lock():
        context = gx.get_context(mode="file", project_root_dir=str(gx_root()))
        bars = context.variables.progress_bars  # a dict once read back from great_expectations.yml
        if (bars.get("globally", True) if isinstance(bars, dict) else getattr(bars, "globally", True)):
            from great_expectations.data_context.types.base import ProgressBarsConfig

            # Metric progress bars go to stderr: noise in task logs and in the CLI's output.
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            context.variables.save()
        yield context


def _outcome(result: Any) -> Outcome:
    config_ = result.expectation_config
    details = result.result or {}
    examples = _examples(details.get("partial_unexpected_index_list") or [])
    map_like = "unexpected_count" in details
    return Outcome(
        expectation=config_.type,
        description=config_.description or "",
        severity=str(getattr(config_.severity, "value", config_.severity)),
        success=bool(result.success),
        # Spark gives None (pandas 0) for a table with no rows: nothing fails there.
        failing=int(details["unexpected_count"] or 0) if map_like else None,
        checked=int(details.get("element_count") or 0) if map_like else None,
        examples=examples,
        observed=_plain(details.get("observed_value")),
        details=_plain(details.get("details") or {}),
    )


def _examples(rows: list[dict[str, Any]]) -> list[str]:
    """Up to :data:`EXAMPLES` distinct records: the ID, or ``FILE record N (no ID)``."""
    named = [str(row.get("id")) if row.get("id") else f"{row.get('source')} record {row.get('record_number')} (no ID)"
             for row in rows]
    return list(dict.fromkeys(named))[:EXAMPLES]


def _plain(value: Any) -> Any:
    """JSON-friendly: numpy scalars to Python, containers recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


__all__ = ["GateFailed", "GateResult", "Outcome", "gx_root", "run_gate", "suite_name"]
