"""Every model family side by side with CPAT, on the holdouts, the short-ORF subsets and other species.

    .venv/bin/python bench/compare_models.py [--sample-per-file N] [--epochs 4] [--out DIR]

1. Reads the default training data as `coding-potential train` does (human + mouse ``train_*``, records
   under 200 nt and relatives of ``mouse/validation_*`` left out) and trains every family in one run
   (``models.train.train`` with ``sequence_cnn`` and ``ensemble``: all candidates fitted on the train
   side less a calibration part, calibrated and thresholded there). Each family's training wall time is
   the run's log stamps.
2. Scores the evaluation sets with every candidate and with CPAT 3.0.5 (its published human model, its
   mouse model for mouse sets): the sequence-disjoint human and mouse holdouts (the validation split),
   ``mouse/validation_*``, and the arabidopsis, cow and rice ``train_*`` files (never trained on). Each
   set also gets its short-ORF subset: coding records whose longest ORF is under 300 nt, with every
   noncoding record of the set.
3. Reports n, AUROC, F1 and MCC (each model at its own threshold, CPAT at its published cutoff) and the
   sequence model's inference throughput (numpy form, as predictions use it, and the PyTorch network)
   in ``compare-models.json``, ``.md``, ``.html`` and ``.png`` under ``--out`` (default
   ``var/bench/compare-models``).

Needs ``bash bench/setup_cpat.sh`` first (R and CPAT in their own venv).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.predict_vs_cpat import CPAT_CUTOFFS, DEFAULT_CPAT  # noqa: E402
from coding_potential import config, datasets  # noqa: E402
from coding_potential.fasta import Record, read_records  # noqa: E402
from models.evaluate import classification_metrics  # noqa: E402
from models.split import related_to  # noqa: E402
from models.train import TrainingConfig, train  # noqa: E402

CPAT = DEFAULT_CPAT
FAMILIES = ("logistic_regression", "random_forest", "gradient_boosting", "sequence_cnn", "ensemble")
SHORT_ORF = 300
MIN_LENGTH = 200
OTHER_SPECIES = ("arabidopsis", "cow", "rice")


def labelled(patterns: list[str], sample: int | None = None, seed: int = 0) -> list[tuple[str, str, int, str]]:
    """(id, sequence, label, species) of the valid records of the manifest's files, at least MIN_LENGTH nt."""
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in datasets.select(patterns):
        path = datasets.fetch([dataset], link=True)[0]
        records = [r for r in read_records(path) if isinstance(r, Record) and len(r.sequence) >= MIN_LENGTH]
        if sample and len(records) > sample:
            records = [records[i] for i in sorted(rng.choice(len(records), sample, replace=False))]
        rows += [(r.id, r.sequence, dataset.label, dataset.species) for r in records]
    return rows


def run_cpat(species: str, sequences: list[str], work: Path) -> np.ndarray:
    """CPAT's coding probability per sequence (0 where it finds no ORF), IDs R0..Rn."""
    import pandas as pd

    fasta = work / f"cpat-{species}-{len(sequences)}.fa"
    fasta.write_text("".join(f">R{i}\n{s}\n" for i, s in enumerate(sequences)))
    prefix = work / fasta.stem
    reference = config.shared_dir() / "reference" / "cpat"
    subprocess.run([str(CPAT), "-x", str(reference / f"{species}_Hexamer.tsv"), "-d",
                    str(reference / f"{species}_logitModel.RData"), "-g", str(fasta), "-o", str(prefix),
                    "--log-file", str(work / f"{fasta.stem}.log")], check=True, capture_output=True, timeout=3600)
    best = pd.read_csv(f"{prefix}.ORF_prob.best.tsv", sep="\t", dtype={"seq_ID": str})
    by_id = best.drop_duplicates("seq_ID").set_index("seq_ID")["Coding_prob"].astype(float)
    return by_id.reindex([f"R{i}" for i in range(len(sequences))]).fillna(0.0).to_numpy()


def score_row(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict:
    metrics = classification_metrics(labels, probabilities, threshold)
    return {key: metrics[key] for key in ("n", "auroc", "f1", "mcc", "sensitivity", "specificity")}


def throughput(model, sequences: list[str], repeats: int = 3) -> dict:
    """Transcripts per second of the sequence component alone, numpy form and PyTorch network."""
    from models.bundle import model_matrix
    from models.sequence_inference import NumpySequenceModel, compile_sequence_model

    features = model.features(sequences)
    matrix = model_matrix(features, model.spec.input_columns)
    forms = {"numpy": NumpySequenceModel(compile_sequence_model(model.sequence_model)),
             "torch": model.sequence_model}
    out = {}
    for name, form in forms.items():
        best = min(_timed(lambda f=form: f.predict_proba(sequences, features["orf_start"], matrix))
                   for _ in range(repeats))
        out[f"{name}_transcripts_per_second"] = round(len(sequences) / best, 1)
    started = time.perf_counter()
    model.features(sequences)
    out["features_transcripts_per_second"] = round(len(sequences) / (time.perf_counter() - started), 1)
    out["n"] = len(sequences)
    return out


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample-per-file", type=int, help="train on N records a file (default: all)")
    parser.add_argument("--epochs", type=int, default=4, help="sequence model epochs (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(config.var_dir() / "bench" / "compare-models"))
    options = parser.parse_args(argv)
    if not CPAT.exists():
        parser.error(f"{CPAT} is missing: run bash bench/setup_cpat.sh")
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    say = lambda message: print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)  # noqa: E731

    say("reading the training data and the evaluation sets")
    evaluation = labelled(["mouse/validation_*"])
    training = labelled(["human/train_*", "mouse/train_*"], options.sample_per_file, options.seed)
    related = related_to([s for _, s, _, _ in training], [s for _, s, _, _ in evaluation])
    training = [row for row, near in zip(training, related, strict=True) if not near]
    ids, sequences, labels, species = (list(column) for column in zip(*training, strict=True))
    labels = np.asarray(labels)
    stamps: list[tuple[float, str]] = []

    def log(message: str) -> None:
        stamps.append((time.perf_counter(), message))
        say(message)

    started = time.perf_counter()
    config_ = TrainingConfig(families=FAMILIES, seed=options.seed, sequence={"epochs": options.epochs})
    result = train(ids, sequences, labels, config_, progress=log)
    training_seconds = time.perf_counter() - started

    sets: dict[str, tuple[list[str], np.ndarray, str]] = {}
    validation_species = np.asarray(species)[result.split.validation]
    for name, cpat_species in (("human", "Human"), ("mouse", "Mouse")):
        rows = result.split.validation[validation_species == name]
        sets[f"{name} holdout"] = ([sequences[i] for i in rows], labels[rows], cpat_species)
    sets["mouse/validation_*"] = ([s for _, s, _, _ in evaluation], np.array([y for _, _, y, _ in evaluation]),
                                  "Mouse")
    for name in OTHER_SPECIES:
        rows = labelled([f"{name}/train_*"])
        sets[name] = ([s for _, s, _, _ in rows], np.array([y for _, _, y, _ in rows]), "Human")

    table: dict[str, dict[str, dict]] = {}
    cpat_dir = out / "cpat"  # CPAT's inputs and outputs
    cpat_dir.mkdir(exist_ok=True)
    for set_name, (set_sequences, set_labels, cpat_species) in sets.items():
        say(f"scoring {set_name} ({len(set_sequences):,} records)")
        orf = result.model.features(set_sequences)["orf_length"]
        short = (set_labels == 0) | (orf < SHORT_ORF)
        scores = {family: (model.predict_proba(set_sequences), model.threshold)
                  for family, model in result.candidate_models.items()}
        scores["CPAT"] = (run_cpat(cpat_species, set_sequences, cpat_dir), CPAT_CUTOFFS[cpat_species])
        for subset, rows in ((set_name, np.ones(len(set_labels), bool)), (f"{set_name}, short ORF", short)):
            table[subset] = {model: score_row(set_labels[rows], p[rows], threshold)
                             for model, (p, threshold) in scores.items()}
            table[subset]["_coding"] = int(set_labels[rows].sum())

    say("measuring the sequence model's inference throughput")
    sample = sets["mouse/validation_*"][0][:2000]
    speed = throughput(result.candidate_models["sequence_cnn"], sample)
    report = {"machine": f"{platform.machine()}, {platform.python_version()}", "seed": options.seed,
              "n_train": int(result.candidate_models["sequence_cnn"].spec.metadata["n_train"]),
              "n_calibration": int(result.candidate_models["sequence_cnn"].spec.metadata["n_calibration"]),
              "training_seconds": round(training_seconds, 1), "training_log": _durations(stamps, started),
              "validation_candidates": result.candidates, "sets": table, "throughput": speed,
              "sequence_history": result.candidate_models["sequence_cnn"].spec.metadata["sequence_history"]}
    (out / "compare-models.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    markdown = _markdown(table)
    (out / "compare-models.md").write_text(markdown)
    _plot(table, out / "compare-models.png")
    _html(report, markdown, out)
    print(markdown)
    print(json.dumps(speed))
    say(f"results: {out / 'compare-models.json'}, {out / 'compare-models.html'}")
    return 0


def _durations(stamps: list[tuple[float, str]], started: float) -> list[dict]:
    """Seconds from the start of training to each progress line (when each family finished)."""
    return [{"seconds": round(at - started, 1), "message": message} for at, message in stamps]


def _markdown(table: dict[str, dict[str, dict]]) -> str:
    models = [m for m in next(iter(table.values())) if not m.startswith("_")]
    lines = ["| set (n, coding) | metric | " + " | ".join(models) + " |",
             "|---|---|" + "---|" * len(models)]
    for subset, row in table.items():
        n = row[models[0]]["n"]
        for metric in ("auroc", "f1", "mcc"):
            best = max(row[m][metric] for m in models)
            cells = [f"**{row[m][metric]:.4f}**" if row[m][metric] == best else f"{row[m][metric]:.4f}" for m in models]
            label = f"{subset} ({n:,}, {row['_coding']:,})" if metric == "auroc" else ""
            lines.append(f"| {label} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plot(table: dict[str, dict[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subsets = list(table)
    models = [m for m in table[subsets[0]] if not m.startswith("_")]
    fig, ax = plt.subplots(figsize=(max(8, len(subsets) * 0.9), 4.5))
    width = 0.8 / len(models)
    for k, model in enumerate(models):
        ax.bar(np.arange(len(subsets)) + k * width, [table[s][model]["auroc"] for s in subsets], width, label=model)
    ax.set_xticks(np.arange(len(subsets)) + 0.4 - width / 2, subsets, rotation=40, ha="right", fontsize=8)
    ax.set(ylabel="AUROC", ylim=(0.5, 1.0), title="AUROC by evaluation set")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _html(report: dict, markdown: str, out: Path) -> None:
    image = base64.b64encode((out / "compare-models.png").read_bytes()).decode()
    rows = "".join(f"<tr>{''.join(f'<td>{html.escape(c.strip())}</td>' for c in line.strip('|').split('|'))}</tr>"
                   for line in markdown.splitlines()[2:])
    header = "".join(f"<th>{html.escape(c.strip())}</th>" for c in markdown.splitlines()[0].strip("|").split("|"))
    (out / "compare-models.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Models side by side</title><style>"
        "body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>"
        f"<h1>Models side by side with CPAT</h1><p>{html.escape(report['machine'])}; trained in "
        f"{report['training_seconds']:.0f} s; sequence model throughput {html.escape(json.dumps(report['throughput']))}"
        f"</p><img src='data:image/png;base64,{image}'><table><tr>{header}</tr>{rows}</table></body></html>")


if __name__ == "__main__":
    sys.exit(main())
