"""Metrics and plots for a binary coding (1) / noncoding (0) classifier."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

METRIC_NAMES = (
    "accuracy", "precision", "sensitivity", "specificity", "f1", "mcc", "auroc", "auprc", "brier", "ece",
)


def classification_metrics(labels: Sequence[int], probabilities: Sequence[float], threshold: float) -> dict:
    """Threshold metrics (class 1 = coding is the positive class) and ranking metrics.

    Parameters
    ----------
    labels : sequence of int
        True classes, 1 coding, 0 noncoding.
    probabilities : sequence of float
        Predicted coding probability.
    threshold : float
        Calls coding when the probability is at or above it.

    Returns
    -------
    dict
        ``accuracy, precision, sensitivity, specificity, f1, mcc, auroc, auprc``, the calibration
        measures ``brier`` (Brier score) and ``ece`` (expected calibration error, 10 bins), plus the
        confusion counts ``tp, fp, tn, fn``, ``n`` and ``threshold``. Undefined ratios (0/0) are 0.0.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    from .calibration import brier_score, expected_calibration_error

    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    called = p >= threshold
    tp = int(np.sum(called & (y == 1)))
    fp = int(np.sum(called & (y == 0)))
    tn = int(np.sum(~called & (y == 0)))
    fn = int(np.sum(~called & (y == 1)))
    precision = _ratio(tp, tp + fp)
    sensitivity = _ratio(tp, tp + fn)
    mcc_denominator = np.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    both_classes = len(np.unique(y)) == 2
    return {
        "n": int(y.size),
        "threshold": float(threshold),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "accuracy": _ratio(tp + tn, y.size),
        "precision": precision,
        "sensitivity": sensitivity,
        "specificity": _ratio(tn, tn + fp),
        "f1": _ratio(2 * precision * sensitivity, precision + sensitivity),
        "mcc": float((tp * tn - fp * fn) / mcc_denominator) if mcc_denominator else 0.0,
        "auroc": float(roc_auc_score(y, p)) if both_classes else 0.0,
        "auprc": float(average_precision_score(y, p)) if both_classes else 0.0,
        "brier": brier_score(y, p),
        "ece": expected_calibration_error(y, p),
    }


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def save_plots(labels: Sequence[int], probabilities: Sequence[float], threshold: float,
               out_dir: str | Path, title: str) -> dict[str, Path]:
    """ROC curve, precision-recall curve, confusion matrix and reliability diagram as PNG files in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    metrics = classification_metrics(y, p, threshold)
    paths = {}

    fig, ax = plt.subplots(figsize=(5, 5))
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, label=f"AUROC {metrics['auroc']:.4f}")
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.scatter([1 - metrics["specificity"]], [metrics["sensitivity"]], color="red", zorder=3,
               label=f"threshold {threshold:.3f}")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC: {title}")
    ax.legend(loc="lower right")
    paths["roc"] = _save(fig, out / "roc.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    precision, recall, _ = precision_recall_curve(y, p)
    ax.plot(recall, precision, label=f"AUPRC {metrics['auprc']:.4f}")
    ax.axhline(y.mean(), ls=":", color="grey", label="chance")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision", title=f"Precision-recall: {title}")
    ax.legend(loc="lower left")
    paths["pr"] = _save(fig, out / "pr.png")

    fig, ax = plt.subplots(figsize=(4.5, 4))
    matrix = np.array([[metrics["tn"], metrics["fp"]], [metrics["fn"], metrics["tp"]]])
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:,}", ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["noncoding", "coding"],
           yticklabels=["noncoding", "coding"], xlabel="predicted", ylabel="true",
           title=f"Confusion at {threshold:.3f}")
    paths["confusion"] = _save(fig, out / "confusion.png")
    from .calibration import save_reliability_plot

    paths["reliability"] = save_reliability_plot(y, {"model": p}, out / "reliability.png", title)
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(sections: dict[str, dict], out_dir: str | Path, title: str,
                 candidates: dict[str, dict] | None = None) -> dict[str, Path]:
    """A JSON and an HTML report: the candidates side by side, then one section per evaluation set, each
    with metrics and plots.

    Parameters
    ----------
    sections : dict
        ``{name: {"metrics": {...}, "plots": {kind: png_path}}}``.
    candidates : dict, optional
        ``{family: metrics}`` of every family the run trained, on the validation split (a table, and
        ``candidates.json``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "metrics.json"
    json_path.write_text(json.dumps({k: v["metrics"] for k, v in sections.items()}, indent=2, sort_keys=True))
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if candidates:
        (out / "candidates.json").write_text(json.dumps(candidates, indent=2, sort_keys=True))
        header = "".join(f"<th>{key}</th>" for key in METRIC_NAMES)
        rows = "".join(
            f"<tr><th>{html.escape(family)}</th>" + "".join(f"<td>{metrics[key]:.4f}</td>" for key in METRIC_NAMES)
            + "</tr>" for family, metrics in candidates.items()
        )
        parts.append(f"<h2>Candidates on the validation split</h2><table><tr><th>family</th>{header}</tr>{rows}"
                     "</table>")
    for name, section in sections.items():
        metrics = section["metrics"]
        rows = "".join(
            f"<tr><th>{key}</th><td>{metrics[key]:.4f}</td></tr>" for key in METRIC_NAMES
        )
        counts = ", ".join(f"{key}={metrics[key]:,}" for key in ("n", "tp", "fp", "tn", "fn"))
        images = "".join(
            f'<img alt="{kind}" src="data:image/png;base64,{base64.b64encode(Path(p).read_bytes()).decode()}">'
            for kind, p in section.get("plots", {}).items()
        )
        parts.append(
            f"<h2>{html.escape(name)}</h2><p>threshold {metrics['threshold']:.3f}; {counts}</p>"
            f"<table>{rows}</table><div>{images}</div>"
        )
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}img{width:32%;min-width:300px}")
    html_path = out / "report.html"
    html_path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
                         f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
    return {"json": json_path, "html": html_path}
