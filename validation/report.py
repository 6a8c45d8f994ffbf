"""A gate run's report folder: ``summary.json``, ``summary.md``, two histograms and a copy of Data Docs.

Usage::

    result = run_gate(table.to_pandas(), "training", thresholds, records_read, "training 2026-01-01")
    paths = write_report(result, table, "var/reports/training-2026-01-01")
    # {"summary_json": ".../summary.json", "summary_md": ..., "length_png": ..., "gc_png": ...,
    #  "data_docs": ".../data_docs/index.html"}

Every file is written under a temporary name in the folder and moved into place, so a rerun into the
same folder replaces each file whole. ``summary.json`` names the other files relative to the folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator

from .docs_site import copy_site
from .gate import GateResult
from .suites import HARD

#: File names in a report folder, by the keys :func:`write_report` returns.
FILES = {"summary_json": "summary.json", "summary_md": "summary.md", "length_png": "length.png",
         "gc_png": "gc.png", "data_docs": "data_docs/index.html"}
#: Label values as the plots name them.
LABELS = {1: "coding", 0: "noncoding"}


def write_report(result: GateResult, table: pa.Table, out_dir: str | Path, *,
                 excluded_too_short: int | None = None) -> dict[str, str]:
    """Write the report of one gate run into ``out_dir`` (created; earlier files there are replaced).

    Parameters
    ----------
    result : GateResult
        The gate's outcome (:func:`validation.gate.run_gate`).
    table : pyarrow.Table
        The records table the gate checked (:func:`validation.records.gate_table`); ``sequence`` may be
        absent.
    out_dir : str | Path
        The report folder.
    excluded_too_short : int | None
        Valid records left out of training for being shorter than ``min_length`` (``None``: counted
        from ``table``). A prediction gate reports the count as ``short_scored_with_warning``.

    Returns
    -------
    dict[str, str]
        Absolute paths by name: ``summary_json``, ``summary_md``, ``length_png``, ``gc_png`` and, when
        the result has Data Docs, ``data_docs`` (the copied ``index.html``; without Data Docs an earlier
        copy in ``out_dir`` is removed).
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / file for name, file in FILES.items()}
    if result.docs_index is None:
        del paths["data_docs"]
        shutil.rmtree(out / "data_docs", ignore_errors=True)  # an earlier run's copy would mislead
    else:
        paths["data_docs"] = copy_site(result.docs_index, out / "data_docs")
    summary = summarize(result, table, excluded_too_short)
    summary["files"] = {name: path.relative_to(out).as_posix() for name, path in paths.items()}
    valid = _valid_rows(table)
    min_length = int(result.thresholds.get("min_length") or 0)
    _write(paths["length_png"], length_plot(valid, min_length))
    _write(paths["gc_png"], gc_plot(valid))
    _write(paths["summary_md"], render_markdown(summary).encode())
    _write(paths["summary_json"], (json.dumps(summary, indent=2, default=str) + "\n").encode())
    return {name: str(path) for name, path in paths.items()}


# ---------------------------------------------------------------------------------------------- summary
def summarize(result: GateResult, table: pa.Table, excluded_too_short: int | None = None) -> dict[str, Any]:
    """What ``summary.json`` holds, without its ``files``.

    Parameters
    ----------
    result : GateResult
        The gate's outcome.
    table : pyarrow.Table
        The records table the gate checked.
    excluded_too_short : int | None
        As for :func:`write_report`.

    Returns
    -------
    dict[str, Any]
        ``gate``, ``run_name``, ``passed``, ``thresholds``, ``records`` (totals and ``per_source``),
        ``rejected_by_reason``, ``excluded_too_short`` (training) or ``short_scored_with_warning``
        (prediction), ``length`` and ``gc_fraction`` statistics of the valid records, ``outcomes`` and
        ``docs_source`` (the GX site's own index).
    """
    done = result.as_dict()
    valid = _valid_rows(table)
    short = excluded_too_short if excluded_too_short is not None else count_short(
        valid, int(result.thresholds.get("min_length") or 0))
    short_key = "excluded_too_short" if result.gate == "training" else "short_scored_with_warning"
    return {
        "gate": result.gate, "run_name": result.run_name, "passed": result.passed,
        "thresholds": dict(result.thresholds),
        "records": record_counts(table),
        "rejected_by_reason": rejected_by_reason(table),
        short_key: int(short),
        "length": stats(valid.column("length")),
        "gc_fraction": stats(valid.column("gc_fraction")),
        "outcomes": done["outcomes"],
        "docs_source": result.docs_index,
    }


def record_counts(table: pa.Table) -> dict[str, Any]:
    """Records in, valid and rejected: in total and per source file.

    Parameters
    ----------
    table : pyarrow.Table
        A records table (``source`` and ``valid`` columns).

    Returns
    -------
    dict[str, Any]
        ``{"in": n, "valid": v, "rejected": r, "per_source": {source: {"in", "valid", "rejected"}}}``,
        sources in name order.
    """
    grouped = table.group_by("source").aggregate([("valid", "count"), ("valid", "sum")])
    per_source = {}
    for row in sorted(grouped.to_pylist(), key=lambda r: str(r["source"])):
        total, valid = int(row["valid_count"]), int(row["valid_sum"] or 0)
        per_source[str(row["source"])] = {"in": total, "valid": valid, "rejected": total - valid}
    totals = {key: sum(counts[key] for counts in per_source.values()) for key in ("in", "valid", "rejected")}
    return {**totals, "per_source": per_source}


def rejected_by_reason(table: pa.Table) -> dict[str, int]:
    """Rejected records per reason code, most frequent first (ties by name).

    Parameters
    ----------
    table : pyarrow.Table
        A records table.

    Returns
    -------
    dict[str, int]
        ``{reason: count}``; a rejection without a reason counts as ``unknown``.
    """
    rejected = table.filter(pc.invert(table.column("valid")))
    reasons = pc.fill_null(rejected.column("reason"), "unknown")
    counts = pc.value_counts(reasons).to_pylist()
    ordered = sorted(counts, key=lambda c: (-c["counts"], c["values"]))
    return {str(c["values"]): int(c["counts"]) for c in ordered}


def count_short(valid: pa.Table, min_length: int) -> int:
    """Valid records shorter than ``min_length`` nt.

    Parameters
    ----------
    valid : pyarrow.Table
        Valid rows of a records table.
    min_length : int
        The gate's threshold.

    Returns
    -------
    int
        The count.
    """
    return int(pc.sum(pc.less(valid.column("length"), min_length)).as_py() or 0)


def stats(values: pa.ChunkedArray | pa.Array) -> dict[str, float | int | None]:
    """Minimum, median, mean and maximum of the non-null values (all ``None`` when there are none).

    Parameters
    ----------
    values : pyarrow.ChunkedArray | pyarrow.Array
        Numbers.

    Returns
    -------
    dict[str, float | int | None]
        ``{"count", "min", "median", "mean", "max"}``; the median is exact (midpoint of the two middle
        values for an even count).
    """
    present = pc.drop_null(values)
    if len(present) == 0:
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None}
    extremes = pc.min_max(present).as_py()
    return {"count": len(present), "min": extremes["min"],
            "median": pc.quantile(present, q=0.5, interpolation="midpoint")[0].as_py(),
            "mean": pc.mean(present).as_py(), "max": extremes["max"]}


def _valid_rows(table: pa.Table) -> pa.Table:
    """The valid rows, with the columns the report reads (``label`` may be all null)."""
    columns = ["source", "id", "length", "gc_fraction", "label"]
    return table.filter(pc.equal(table.column("valid"), True)).select(columns)


# --------------------------------------------------------------------------------------------- markdown
def render_markdown(summary: dict[str, Any]) -> str:
    """``summary.md``: the summary as a compact Markdown page.

    Parameters
    ----------
    summary : dict[str, Any]
        What :func:`summarize` returns, with ``files``.

    Returns
    -------
    str
        The page.
    """
    parts = [_md_head(summary), _md_counts(summary), _md_reasons(summary["rejected_by_reason"]),
             _md_stats(summary), _md_outcomes(summary["outcomes"]), _md_links(summary.get("files", {}))]
    return "\n\n".join(part for part in parts if part) + "\n"


def _md_head(summary: dict[str, Any]) -> str:
    verdict = "PASSED" if summary["passed"] else "FAILED"
    thresholds = ", ".join(f"{name} = {value}" for name, value in summary["thresholds"].items())
    return (f"# {summary['gate'].capitalize()} gate: {summary['run_name']}\n\n"
            f"**{verdict}**: {summary['gate']} gate, run `{summary['run_name']}`\n\nThresholds: {thresholds}")


def _md_counts(summary: dict[str, Any]) -> str:
    records = summary["records"]
    rows = [[_cell(source), *(f"{counts[k]:,}" for k in ("in", "valid", "rejected"))]
            for source, counts in records["per_source"].items()]
    rows.append(["**all**", *(f"**{records[k]:,}**" for k in ("in", "valid", "rejected"))])
    return "## Records\n\n" + _md_table(["source", "records in", "valid", "rejected"], rows) + _md_short(summary)


def _md_short(summary: dict[str, Any]) -> str:
    """The line on valid records below ``min_length``: left out of training, or scored with a warning."""
    min_length = summary["thresholds"].get("min_length")
    if "excluded_too_short" in summary:
        return (f"\n\nexcluded_too_short: {summary['excluded_too_short']:,} valid records shorter than "
                f"{min_length} nt are left out of training")
    if "short_scored_with_warning" in summary:
        return (f"\n\nshort_scored_with_warning: {summary['short_scored_with_warning']:,} valid records shorter "
                f"than {min_length} nt are scored with a warning")
    return ""


def _md_reasons(reasons: dict[str, int]) -> str:
    if not reasons:
        return "## Rejections by reason\n\nnone"
    return "## Rejections by reason\n\n" + _md_table(["reason", "records"],
                                                      [[_cell(r), f"{n:,}"] for r, n in reasons.items()])


def _md_stats(summary: dict[str, Any]) -> str:
    rows = [[name, *(_number(summary[key][stat], digits) for stat in ("min", "median", "mean", "max"))]
            for name, key, digits in (("length (nt)", "length", 1), ("GC fraction", "gc_fraction", 3))]
    return "## Valid records\n\n" + _md_table(["", "min", "median", "mean", "max"], rows)


def _md_outcomes(outcomes: Sequence[dict[str, Any]]) -> str:
    rows = [[f"`{o['expectation']}`", _cell(o["description"]), "hard" if o["severity"] == HARD else "soft",
             _verdict(o), "" if o["failing"] is None else f"{o['failing']:,} of {o['checked']:,}",
             _observed(o),
             _cell(", ".join(o["examples"]))] for o in outcomes]
    return "## Expectations\n\n" + _md_table(
        ["expectation", "rule", "severity", "result", "failing", "observed", "examples"], rows)


def _observed(outcome: dict[str, Any]) -> str:
    """The observed value of an aggregate rule (a map rule's is its failing count)."""
    value = outcome["observed"]
    if value is None or outcome["failing"] is not None:
        return ""
    return _number(value, 3) if isinstance(value, int | float) else _cell(str(value))


def _verdict(outcome: dict[str, Any]) -> str:
    """``pass``; a failed hard rule is **FAIL** (the run stops), a failed soft one **warn** (reported)."""
    if outcome["success"]:
        return "pass"
    return "**FAIL**" if outcome["severity"] == HARD else "**warn**"


def _md_links(files: dict[str, str]) -> str:
    lines = [f"![{name}]({files[key]})" for key, name in (("length_png", "Length"), ("gc_png", "GC fraction"))
             if key in files]
    title = "## Plots"
    if "data_docs" in files:
        lines.append(f"[Great Expectations Data Docs]({files['data_docs']})")
        title += " and Data Docs"
    return title + "\n\n" + "\n\n".join(lines)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _cell(text: Any) -> str:
    """Text made safe for one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.{digits}f}"


# ------------------------------------------------------------------------------------------------ plots
def length_plot(valid: pa.Table, min_length: int) -> bytes:
    """A PNG histogram of valid records' lengths (log-scaled), by label, with ``min_length`` marked.

    Parameters
    ----------
    valid : pyarrow.Table
        Valid rows (``length``, ``label``).
    min_length : int
        Drawn as a vertical line (when above 0).

    Returns
    -------
    bytes
        The PNG.
    """
    groups = _by_label(valid, "length")
    values = np.concatenate(list(groups.values())) if groups else np.array([])
    low = float(min(values.min(initial=np.inf), min_length if min_length > 0 else np.inf))
    low = max(1.0, low if np.isfinite(low) else 100.0)
    high = max(values.max(initial=0.0), float(min_length), low * 10)
    figure, ax = _figure("Length of valid records", "length (nt, log scale)")
    ax.set_xscale("log")
    ax.set_xlim(low / 1.2, high * 1.2)
    ax.xaxis.set_major_formatter(LogFormatter())
    ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    _histograms(ax, groups, np.geomspace(low, high, 41))
    if min_length > 0:
        ax.axvline(min_length, color="crimson", linestyle="--", label=f"min_length = {min_length} nt")
    return _png(figure, ax, bool(groups))


def gc_plot(valid: pa.Table) -> bytes:
    """A PNG histogram of valid records' GC fraction, by label.

    Parameters
    ----------
    valid : pyarrow.Table
        Valid rows (``gc_fraction``, ``label``).

    Returns
    -------
    bytes
        The PNG.
    """
    groups = _by_label(valid, "gc_fraction")
    figure, ax = _figure("GC fraction of valid records", "GC fraction (of unambiguous bases)")
    ax.set_xlim(0.0, 1.0)
    _histograms(ax, groups, np.linspace(0.0, 1.0, 41))
    return _png(figure, ax, bool(groups))


def _by_label(valid: pa.Table, column: str) -> dict[str, np.ndarray]:
    """Non-null values of ``column`` per label name (``all`` when the table has no labels); no empty groups."""
    labels = valid.column("label")
    if labels.null_count == len(labels):
        groups = {"all": valid.column(column)}
    else:
        groups = {name: valid.filter(pc.equal(labels, value)).column(column) for value, name in LABELS.items()}
    arrays = {name: pc.drop_null(values).to_numpy().astype(float) for name, values in groups.items()}
    return {name: values for name, values in arrays.items() if len(values)}


def _figure(title: str, xlabel: str) -> tuple[Any, Any]:
    """A figure with one axes (Agg canvas, no pyplot state)."""
    figure = Figure(figsize=(7, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("records")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure, ax


def _histograms(ax: Any, groups: dict[str, np.ndarray], bins: np.ndarray) -> None:
    colors = {"coding": "tab:blue", "noncoding": "tab:orange", "all": "tab:gray"}
    for name, values in groups.items():
        ax.hist(values, bins=bins, alpha=0.6, color=colors.get(name), label=f"{name} ({len(values):,})")


def _png(figure: Any, ax: Any, has_data: bool) -> bytes:
    """The figure as PNG bytes, with a legend, or a ``no valid records`` note when there is nothing to show."""
    if not has_data:
        ax.text(0.5, 0.5, "no valid records", transform=ax.transAxes, ha="center", va="center", fontsize=14)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# -------------------------------------------------------------------------------------------------- files
def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then :func:`os.replace`."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
