"""Whole-process benchmark: ``coding-potential predict`` side by side with CPAT 3.0.5.

The script

1. builds a deterministic (seeded) input of 10,000 labelled mouse transcripts: all of the mouse
   validation set plus a stratified random sample of the mouse training set, written as one plain
   FASTA with unique IDs (``c_NNNNN`` coding, ``n_NNNNN`` noncoding) and a labels TSV;
2. runs each tool as a whole process (``time.perf_counter`` around ``subprocess.run``), ``--repeats``
   times, and once per repeat on a one-record file to measure start-up;
3. scores the outputs (AUROC on all records and on the validation records alone, the held-out part
   for our default model, which trains on the mouse training files; sensitivity and specificity at
   each tool's own cutoff);
4. writes ``bench.json``, ``bench.md``, ``roc.png`` and ``bench.html`` under ``var/bench/results``
   and prints the table.

Run it with the project's virtualenv after ``bash bench/setup_cpat.sh``::

    .venv/bin/python bench/predict_vs_cpat.py [--skip-ours] [--cpat-human] [--repeats 3]
"""

from __future__ import annotations

import argparse
import base64
import csv
import gzip
import hashlib
import html
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = REPO_ROOT / "var" / "bench"
DEFAULT_OURS = REPO_ROOT / ".venv" / "bin" / "coding-potential"
DEFAULT_CPAT = BENCH_VAR / "cpat-venv" / "bin" / "cpat"

#: CPAT's published cutoffs (coding when ``Coding_prob >= cutoff``).
CPAT_CUTOFFS: dict[str, float] = {"Human": 0.364, "Mouse": 0.44}

#: The benchmark set: every validation record plus this many sampled from the training set.
N_TOTAL = 10_000
DEFAULT_SEED = 20_240_601
FASTA_WIDTH = 60


# ----------------------------------------------------------------------------------------------
# Input
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One labelled transcript of the benchmark set.

    Attributes
    ----------
    source_file : str
        Name of the FASTA file it was read from.
    source_id : str
        First whitespace-delimited token of its original header.
    sequence : str
        The sequence, as read (line breaks removed).
    label : int
        1 protein-coding, 0 noncoding.
    """

    source_file: str
    source_id: str
    sequence: str
    label: int


def shared_dir() -> Path:
    """Return the shared reference folder.

    Returns
    -------
    Path
        ``$CODING_POTENTIAL_SHARED`` when set, otherwise ``shared`` beside the repository.
    """
    configured = os.environ.get("CODING_POTENTIAL_SHARED")
    if configured:
        return Path(configured).expanduser().resolve()
    return (REPO_ROOT.parent / "shared").resolve()


def read_fasta(path: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(header, sequence)`` pairs from a plain or gzip-compressed FASTA file.

    Parameters
    ----------
    path : Path
        FASTA file; gzip is detected from its magic bytes, not its name.

    Yields
    ------
    tuple of (str, str)
        The header without ``>`` and the sequence with whitespace removed.
    """
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if is_gzip else open
    header: str | None = None
    chunks: list[str] = []
    with opener(path, "rt", encoding="ascii", errors="replace") as handle:
        for raw in handle:
            line = raw.strip()
            if not line:
                continue
            if line.startswith(">"):
                if header is not None:
                    yield header, "".join(chunks)
                header, chunks = line[1:].strip(), []
            elif header is not None:
                chunks.append("".join(line.split()))
    if header is not None:
        yield header, "".join(chunks)


def load_records(path: Path, label: int) -> list[Record]:
    """Read every record of one labelled FASTA file.

    Parameters
    ----------
    path : Path
        FASTA file (gzip or plain).
    label : int
        Label given to every record of the file.

    Returns
    -------
    list of Record
        The records in file order.
    """
    return [Record(path.name, (header.split() or [""])[0], seq, label) for header, seq in read_fasta(path)]


def stratified_sample(
    coding: Sequence[Record], noncoding: Sequence[Record], n: int, rng: np.random.Generator
) -> list[Record]:
    """Draw ``n`` records without replacement, keeping the coding/noncoding ratio of the pool.

    Parameters
    ----------
    coding, noncoding : sequence of Record
        The two strata.
    n : int
        Total number of records to draw.
    rng : numpy.random.Generator
        Seeded generator.

    Returns
    -------
    list of Record
        Sampled records, each stratum in its file order.
    """
    pool = len(coding) + len(noncoding)
    if n > pool:
        raise ValueError(f"cannot sample {n} records from a pool of {pool}")
    n_coding = round(n * len(coding) / pool)
    picked: list[Record] = []
    for stratum, k in ((coding, n_coding), (noncoding, n - n_coding)):
        index = np.sort(rng.choice(len(stratum), size=k, replace=False))
        picked.extend(stratum[i] for i in index)
    return picked


def write_fasta(path: Path, records: Sequence[tuple[str, str]]) -> None:
    """Write ``(id, sequence)`` pairs as a plain FASTA file with fixed line width.

    Parameters
    ----------
    path : Path
        Output file (parent folders are created).
    records : sequence of (str, str)
        Identifiers and sequences.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="ascii") as out:
        for ident, seq in records:
            out.write(f">{ident}\n")
            for start in range(0, len(seq), FASTA_WIDTH):
                out.write(seq[start : start + FASTA_WIDTH] + "\n")
    tmp.replace(path)


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 digest of a file.

    Parameters
    ----------
    path : Path
        File to hash.

    Returns
    -------
    str
        Hex digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_mouse_input(data_dir: Path, out_dir: Path, seed: int) -> tuple[Path, Path, dict[str, Any]]:
    """Build the 10k mouse benchmark FASTA and its labels TSV.

    All of ``validation_{coding,noncoding}.fa.gz`` plus a stratified sample of
    ``train_{coding,noncoding}.fa.gz`` up to :data:`N_TOTAL` records; the records are shuffled with
    the same seed and renamed ``c_NNNNN`` / ``n_NNNNN`` (running number over the file).

    Parameters
    ----------
    data_dir : Path
        ``shared/data/mouse``.
    out_dir : Path
        Folder for ``mouse_10k.fa`` and ``mouse_10k.labels.tsv``.
    seed : int
        Seed of the sample and the shuffle.

    Returns
    -------
    fasta : Path
        The written FASTA.
    labels : Path
        The labels TSV (``id``, ``label``, ``source_file``, ``source_id``, ``length``).
    info : dict
        Description of the set for ``bench.json``.
    """
    rng = np.random.default_rng(seed)
    validation = load_records(data_dir / "validation_coding.fa.gz", 1) + load_records(
        data_dir / "validation_noncoding.fa.gz", 0
    )
    train_coding = load_records(data_dir / "train_coding.fa.gz", 1)
    train_noncoding = load_records(data_dir / "train_noncoding.fa.gz", 0)
    sampled = stratified_sample(train_coding, train_noncoding, N_TOTAL - len(validation), rng)
    records = validation + sampled
    order = rng.permutation(len(records))
    width = len(str(len(records)))

    rows: list[dict[str, Any]] = []
    fasta_records: list[tuple[str, str]] = []
    for number, i in enumerate(order, start=1):
        rec = records[i]
        ident = f"{'c' if rec.label else 'n'}_{number:0{width}d}"
        fasta_records.append((ident, rec.sequence))
        rows.append(
            {
                "id": ident,
                "label": rec.label,
                "source_file": rec.source_file,
                "source_id": rec.source_id,
                "length": len(rec.sequence),
            }
        )
    fasta = out_dir / "mouse_10k.fa"
    labels = out_dir / "mouse_10k.labels.tsv"
    write_fasta(fasta, fasta_records)
    pd.DataFrame(rows).to_csv(labels, sep="\t", index=False)

    sequences = [seq.upper() for _, seq in fasta_records]
    info = {
        "fasta": str(fasta),
        "labels": str(labels),
        "sha256": sha256_of(fasta),
        "seed": seed,
        "n_records": len(records),
        "n_coding": int(sum(r.label for r in records)),
        "n_noncoding": int(sum(1 - r.label for r in records)),
        "from_validation": len(validation),
        "from_train_sample": len(sampled),
        "train_pool": {"coding": len(train_coding), "noncoding": len(train_noncoding)},
        "duplicate_sequences": len(sequences) - len(set(sequences)),
        "nucleotides": int(sum(len(s) for s in sequences)),
    }
    return fasta, labels, info


def load_given_input(fasta: Path, labels: Path) -> dict[str, Any]:
    """Describe a user-supplied FASTA + labels TSV (``id`` and ``label`` columns).

    Parameters
    ----------
    fasta : Path
        Input FASTA; its IDs (first header token) must match the labels TSV.
    labels : Path
        TSV with at least ``id`` and ``label`` (1 coding, 0 noncoding), one row per FASTA record.

    Returns
    -------
    dict
        Description of the set for ``bench.json``.
    """
    table = read_labels(labels)
    fasta_ids = [(header.split() or [""])[0] for header, _ in read_fasta(fasta)]
    missing = set(table["id"]) - set(fasta_ids)
    unlabelled = set(fasta_ids) - set(table["id"])
    if missing or unlabelled or len(fasta_ids) != len(set(fasta_ids)):
        raise SystemExit(
            f"{fasta} and {labels} must hold the same unique IDs: {len(missing)} labelled IDs not in the "
            f"FASTA, {len(unlabelled)} FASTA IDs without a label, "
            f"{len(fasta_ids) - len(set(fasta_ids))} duplicate FASTA IDs"
        )
    return {
        "fasta": str(fasta),
        "labels": str(labels),
        "sha256": sha256_of(fasta),
        "n_records": len(fasta_ids),
        "n_coding": int(table["label"].sum()),
        "n_noncoding": int((table["label"] == 0).sum()),
    }


def read_labels(path: Path) -> pd.DataFrame:
    """Read a labels TSV and check it.

    Parameters
    ----------
    path : Path
        TSV with ``id`` and ``label`` columns.

    Returns
    -------
    pandas.DataFrame
        ``id`` (str) and ``label`` (int, 0/1), plus any other columns of the file.
    """
    table = pd.read_csv(path, sep="\t", dtype={"id": str})
    if not {"id", "label"} <= set(table.columns):
        raise SystemExit(f"{path} needs the columns id and label")
    if table["id"].duplicated().any():
        raise SystemExit(f"{path} has duplicate IDs")
    table["label"] = table["label"].astype(int)
    if not set(table["label"].unique()) <= {0, 1}:
        raise SystemExit(f"{path}: labels must be 0 or 1")
    return table


def write_first_record(fasta: Path, out: Path) -> Path:
    """Write the first record of ``fasta`` alone, for the start-up measurement.

    Parameters
    ----------
    fasta : Path
        Benchmark input.
    out : Path
        One-record FASTA to write.

    Returns
    -------
    Path
        ``out``.
    """
    header, seq = next(read_fasta(fasta))
    write_fasta(out, [((header.split() or ["x"])[0], seq)])
    return out


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------


@dataclass
class Tool:
    """One tool configuration to benchmark.

    Attributes
    ----------
    key : str
        Short name used for folders and JSON keys.
    title : str
        Name shown in the table.
    kind : str
        ``"ours"`` or ``"cpat"``.
    model : str
        Model shown in the table.
    cutoff : float or None
        Decision cutoff on the probability (``None``: the tool's own ``label`` column).
    hexamer, logit : Path or None
        CPAT's model files.
    extra_args : list of str
        Extra arguments passed to ``coding-potential predict``.
    """

    key: str
    title: str
    kind: str
    model: str
    cutoff: float | None = None
    hexamer: Path | None = None
    logit: Path | None = None
    extra_args: list[str] = field(default_factory=list)


@dataclass
class Timing:
    """Wall times of one tool.

    Attributes
    ----------
    full_s : list of float
        Whole-process wall time on the full input, per repeat.
    startup_s : list of float
        Whole-process wall time on the one-record input, per repeat.
    command : list of str
        The full-input command line of the last repeat.
    """

    full_s: list[float] = field(default_factory=list)
    startup_s: list[float] = field(default_factory=list)
    command: list[str] = field(default_factory=list)


def tool_command(tool: Tool, exe: Path, fasta: Path, run_dir: Path) -> tuple[list[str], Path]:
    """Return the command line for one run and the file (or prefix) it writes.

    Parameters
    ----------
    tool : Tool
        Tool configuration.
    exe : Path
        The tool's executable.
    fasta : Path
        Input FASTA.
    run_dir : Path
        Fresh folder for this run's outputs.

    Returns
    -------
    command : list of str
        Arguments for :func:`subprocess.run`.
    output : Path
        ``predictions.tsv`` for ours; the output prefix for CPAT.
    """
    if tool.kind == "ours":
        out = run_dir / "predictions.tsv"
        return [str(exe), "predict", str(fasta), "-o", str(out), *tool.extra_args], out
    assert tool.hexamer is not None and tool.logit is not None
    prefix = run_dir / "cpat"
    command = [
        str(exe),
        "-x", str(tool.hexamer),
        "-d", str(tool.logit),
        "-g", str(fasta),
        "-o", str(prefix),
        "--log-file", str(run_dir / "cpat_run_info.log"),
    ]  # fmt: skip
    return command, prefix


def run_once(command: list[str], run_dir: Path) -> float:
    """Run one whole process in ``run_dir`` and return its wall time.

    Parameters
    ----------
    command : list of str
        Command line.
    run_dir : Path
        Working folder; stdout and stderr go to files in it.

    Returns
    -------
    float
        Seconds from just before the process starts to just after it ends.
    """
    with (run_dir / "stdout.txt").open("wb") as out, (run_dir / "stderr.txt").open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=run_dir, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (run_dir / "stderr.txt").read_text(errors="replace")[-2000:]
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(command)}\n{tail}")
    return elapsed


def fresh_dir(path: Path) -> Path:
    """Remove and recreate a folder, so no stale output can be read.

    Parameters
    ----------
    path : Path
        Folder.

    Returns
    -------
    Path
        ``path``, empty.
    """
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def check_outputs(tool: Tool, output: Path) -> None:
    """Fail loudly when a run that exited 0 left no result file.

    CPAT calls ``Rscript`` through the shell and ignores its failures, so an exit status of 0 does
    not prove that probabilities were written.

    Parameters
    ----------
    tool : Tool
        Tool configuration.
    output : Path
        What :func:`tool_command` returned as the output.
    """
    target = output if tool.kind == "ours" else Path(f"{output}.ORF_prob.best.tsv")
    if not target.is_file():
        raise SystemExit(f"{tool.title}: expected output {target} is missing (is Rscript working?)")


def benchmark(
    tool: Tool, exe: Path, fasta: Path, startup_fasta: Path, repeats: int, runs_dir: Path
) -> tuple[Timing, Path]:
    """Time ``repeats`` full runs and ``repeats`` one-record runs of one tool.

    Full and start-up runs alternate, so slow drift of the machine affects both alike.

    Parameters
    ----------
    tool : Tool
        Tool configuration.
    exe : Path
        Its executable.
    fasta : Path
        Full benchmark input.
    startup_fasta : Path
        One-record input.
    repeats : int
        Number of repeats of each.
    runs_dir : Path
        Parent folder of the run folders.

    Returns
    -------
    timing : Timing
        Wall times.
    output : Path
        Output of the last full run, to be scored.
    """
    timing = Timing()
    output = Path()
    for rep in range(1, repeats + 1):
        run_dir = fresh_dir(runs_dir / tool.key / f"full_{rep}")
        command, output = tool_command(tool, exe, fasta, run_dir)
        timing.full_s.append(run_once(command, run_dir))
        timing.command = command
        check_outputs(tool, output)
        print(f"  {tool.title}: full run {rep}/{repeats}: {timing.full_s[-1]:.2f} s", file=sys.stderr)

        su_dir = fresh_dir(runs_dir / tool.key / f"startup_{rep}")
        su_command, su_output = tool_command(tool, exe, startup_fasta, su_dir)
        timing.startup_s.append(run_once(su_command, su_dir))
        check_outputs(tool, su_output)
        print(f"  {tool.title}: start-up run {rep}/{repeats}: {timing.startup_s[-1]:.2f} s", file=sys.stderr)
    return timing, output


# ----------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------


@dataclass
class Scores:
    """Per-record scores of one tool, aligned with the labels table.

    Attributes
    ----------
    probability : numpy.ndarray
        Coding probability per record (0 where the tool gave none).
    predicted : numpy.ndarray
        0/1 call per record.
    n_no_orf : int or None
        Records the tool listed as having no ORF, scored 0 (``None``: the tool has no such list).
    n_missing : int
        Records absent from every output of the tool, scored 0.
    """

    probability: np.ndarray
    predicted: np.ndarray
    n_no_orf: int | None = None
    n_missing: int = 0


_LABEL_WORDS = {
    "1": 1, "true": 1, "coding": 1, "protein_coding": 1, "mrna": 1, "pc": 1,
    "0": 0, "false": 0, "noncoding": 0, "non-coding": 0, "non_coding": 0, "lncrna": 0, "nc": 0,
}  # fmt: skip


def parse_label(value: Any) -> int:
    """Turn a ``label`` cell of our output into 0/1.

    Parameters
    ----------
    value : Any
        Cell value: a number, a boolean or a word such as ``coding`` / ``noncoding``.

    Returns
    -------
    int
        1 coding, 0 noncoding.
    """
    word = str(value).strip().lower()
    if word in _LABEL_WORDS:
        return _LABEL_WORDS[word]
    try:
        return int(float(word) >= 0.5)
    except ValueError:
        raise ValueError(f"unrecognised label {value!r} in our predictions") from None


def score_ours(output: Path, ids: Sequence[str]) -> Scores:
    """Read ``coding-potential predict`` output (``id``, ``coding_probability``, ``label``).

    Parameters
    ----------
    output : Path
        The TSV it wrote.
    ids : sequence of str
        Benchmark IDs in label order.

    Returns
    -------
    Scores
        Probabilities and calls aligned with ``ids``.
    """
    table = pd.read_csv(output, sep="\t", dtype={"id": str})
    for column in ("id", "coding_probability", "label"):
        if column not in table.columns:
            raise SystemExit(f"{output}: no column {column!r} (columns: {list(table.columns)})")
    table["id"] = table["id"].str.split().str[0]
    table = table.drop_duplicates("id").set_index("id")
    present = pd.Index(ids).isin(table.index)
    prob = table["coding_probability"].reindex(ids).astype(float).fillna(0.0).to_numpy()
    calls = table["label"].reindex(ids).map(parse_label, na_action="ignore").fillna(0).astype(int)
    return Scores(prob, calls.to_numpy(), n_missing=int((~present).sum()))


def score_cpat(prefix: Path, ids: Sequence[str], cutoff: float) -> Scores:
    """Read CPAT 3.0.5 output: ``PREFIX.ORF_prob.best.tsv`` and ``PREFIX.no_ORF.txt``.

    CPAT upper-cases IDs (it upper-cases whole header lines), so IDs are matched case-insensitively.
    Records without an ORF, and records CPAT dropped silently (it skips sequence lines with letters
    other than ACGTN), score 0.

    Parameters
    ----------
    prefix : Path
        The ``-o`` prefix of the run.
    ids : sequence of str
        Benchmark IDs in label order.
    cutoff : float
        Published cutoff: coding when ``Coding_prob >= cutoff``.

    Returns
    -------
    Scores
        Probabilities and calls aligned with ``ids``.
    """
    upper = [i.upper() for i in ids]
    if len(set(upper)) != len(upper):
        raise SystemExit("benchmark IDs collide once upper-cased; CPAT cannot tell them apart")
    best = pd.read_csv(f"{prefix}.ORF_prob.best.tsv", sep="\t", dtype={"seq_ID": str}, quoting=csv.QUOTE_NONE)
    prob_by_id = best.drop_duplicates("seq_ID").set_index("seq_ID")["Coding_prob"].astype(float)
    no_orf_path = Path(f"{prefix}.no_ORF.txt")
    no_orf = {line.strip() for line in no_orf_path.read_text().splitlines() if line.strip()}
    series = prob_by_id.reindex(upper)
    in_no_orf = pd.Index(upper).isin(list(no_orf))
    n_missing = int((series.isna() & ~in_no_orf).sum())
    prob = series.fillna(0.0).to_numpy()
    return Scores(prob, (prob >= cutoff).astype(int), n_no_orf=int(in_no_orf.sum()), n_missing=n_missing)


def metrics(labels: np.ndarray, scores: Scores) -> dict[str, float | int | None]:
    """AUROC and the confusion-derived rates at the tool's own calls.

    Parameters
    ----------
    labels : numpy.ndarray
        True labels (1 coding).
    scores : Scores
        The tool's scores.

    Returns
    -------
    dict
        ``auroc``, ``sensitivity``, ``specificity``, ``accuracy``, ``mcc`` and the counts.
    """
    pred = scores.predicted
    tp = int(((pred == 1) & (labels == 1)).sum())
    tn = int(((pred == 0) & (labels == 0)).sum())
    fp = int(((pred == 1) & (labels == 0)).sum())
    fn = int(((pred == 0) & (labels == 1)).sum())
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "auroc": float(roc_auc_score(labels, scores.probability)),
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "accuracy": (tp + tn) / len(labels),
        "mcc": (tp * tn - fp * fn) / denom if denom else 0.0,
        "tp": tp,
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "n_no_orf": scores.n_no_orf,
        "n_missing": scores.n_missing,
    }


def validation_subset_auroc(labels_table: pd.DataFrame, labels: np.ndarray, scores: Scores) -> float | None:
    """AUROC on the records drawn from the mouse validation files alone.

    The default model trains on the mouse training files (less their relatives of the validation set),
    so on the sampled training records its AUROC is not a held-out figure; this one is.

    Parameters
    ----------
    labels_table : pandas.DataFrame
        The labels TSV; without a ``source_file`` column (a ``--input`` set) there is no subset.
    labels : numpy.ndarray
        True labels, in the same order.
    scores : Scores
        The tool's scores.

    Returns
    -------
    float or None
        The subset's AUROC, or ``None`` when the input has no such subset.
    """
    if "source_file" not in labels_table.columns:
        return None
    subset = labels_table["source_file"].astype(str).str.startswith("validation_").to_numpy()
    if not subset.any():
        return None
    return float(roc_auc_score(labels[subset], scores.probability[subset]))


# ----------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------


def summarise(tool: Tool, timing: Timing, result: dict[str, float | int | None], n_records: int) -> dict[str, Any]:
    """Collect everything reported about one tool.

    Parameters
    ----------
    tool : Tool
        Tool configuration.
    timing : Timing
        Its wall times.
    result : dict
        Output of :func:`metrics`.
    n_records : int
        Records in the benchmark input.

    Returns
    -------
    dict
        One entry of ``bench.json``'s ``tools``.
    """
    wall = statistics.median(timing.full_s)
    startup = statistics.median(timing.startup_s)
    work = wall - startup
    return {
        "key": tool.key,
        "tool": tool.title,
        "model": tool.model,
        "cutoff": tool.cutoff if tool.cutoff is not None else "label column",
        "command": timing.command,
        "wall_s": timing.full_s,
        "wall_median_s": wall,
        "startup_s": timing.startup_s,
        "startup_median_s": startup,
        "throughput_whole_per_s": n_records / wall,
        "throughput_after_startup_per_s": n_records / work if work > 0 else None,
        **result,
    }


def fmt(value: Any, digits: int = 3) -> str:
    """Format a number for the tables (``-`` for missing values).

    Parameters
    ----------
    value : Any
        Number or ``None``.
    digits : int
        Decimal places.

    Returns
    -------
    str
        Formatted text.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


TABLE_COLUMNS = [
    "tool", "model", "cutoff", "wall (s, median)", "start-up (s)", "tx/s whole", "tx/s after start-up",
    "AUROC", "AUROC mouse validation", "sensitivity", "specificity", "no ORF", "missing", "speed-up (CPAT/ours)",
]  # fmt: skip


def table_rows(tools: list[dict[str, Any]], speedups: dict[str, float]) -> list[list[str]]:
    """Rows of the result table, as text.

    Parameters
    ----------
    tools : list of dict
        Entries from :func:`summarise`.
    speedups : dict
        CPAT tool key to CPAT wall / ours wall.

    Returns
    -------
    list of list of str
        One row per tool, in :data:`TABLE_COLUMNS` order.
    """
    return [
        [
            t["tool"],
            t["model"],
            fmt(t["cutoff"]),
            fmt(t["wall_median_s"], 2),
            fmt(t["startup_median_s"], 2),
            fmt(t["throughput_whole_per_s"], 0),
            fmt(t["throughput_after_startup_per_s"], 0),
            fmt(t["auroc"], 4),
            fmt(t.get("auroc_mouse_validation"), 4),
            fmt(t["sensitivity"], 4),
            fmt(t["specificity"], 4),
            fmt(t["n_no_orf"]),
            fmt(t["n_missing"]),
            fmt(speedups.get(t["key"]), 2) if t["key"] in speedups else "-",
        ]
        for t in tools
    ]


def markdown_table(rows: list[list[str]]) -> str:
    """Render rows as a GitHub-flavoured Markdown table.

    Parameters
    ----------
    rows : list of list of str
        Rows from :func:`table_rows`.

    Returns
    -------
    str
        The table.
    """
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_roc(labels: np.ndarray, curves: dict[str, Scores], aucs: dict[str, float], path: Path) -> None:
    """Draw the ROC curves of every tool into one PNG.

    Parameters
    ----------
    labels : numpy.ndarray
        True labels.
    curves : dict
        Legend name to scores.
    aucs : dict
        Legend name to AUROC.
    path : Path
        PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6), dpi=120)
    for name, scores in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores.probability)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {aucs[name]:.4f})", linewidth=1.5)
        sens = float(((scores.predicted == 1) & (labels == 1)).sum() / max(1, (labels == 1).sum()))
        spec = float(((scores.predicted == 0) & (labels == 0)).sum() / max(1, (labels == 0).sum()))
        ax.plot([1 - spec], [sens], marker="o", color=ax.lines[-1].get_color())
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    ax.set_xlabel("1 - specificity (false-positive rate)")
    ax.set_ylabel("sensitivity (true-positive rate)")
    ax.set_title("ROC on the benchmark set (dots: each tool's own cutoff)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_html(path: Path, rows: list[list[str]], png: Path, report: dict[str, Any]) -> None:
    """Write a self-contained HTML page with the table and the ROC plot (inlined as base64).

    Parameters
    ----------
    path : Path
        HTML file to write.
    rows : list of list of str
        Table rows.
    png : Path
        ROC plot.
    report : dict
        The JSON report (input description and environment are shown).
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in TABLE_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    image = base64.b64encode(png.read_bytes()).decode("ascii")
    details = html.escape(json.dumps({"input": report["input"], "environment": report["environment"]}, indent=2))
    path.write_text(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>coding-potential vs CPAT 3.0.5</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) {{ text-align: left; }}
</style></head><body>
<h1>coding-potential vs CPAT 3.0.5</h1>
<p>{html.escape(str(report["input"]["n_records"]))} transcripts; whole-process wall time, median of
{html.escape(str(report["repeats"]))} runs; generated {html.escape(report["generated"])}.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p><img alt="ROC curves" src="data:image/png;base64,{image}"></p>
<details><summary>input and environment</summary><pre>{details}</pre></details>
</body></html>
""",
        encoding="utf-8",
    )


def print_rich_table(rows: list[list[str]], title: str) -> None:
    """Print the result table with rich.

    Parameters
    ----------
    rows : list of list of str
        Table rows.
    title : str
        Table title.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, column in enumerate(TABLE_COLUMNS):
        table.add_column(column, justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*row)
    # Never narrower than the table needs, also when stdout is a pipe or a narrow terminal.
    width = max(shutil.get_terminal_size((200, 24)).columns, 200)
    Console(width=width).print(table)


def tool_version(command: list[str]) -> str:
    """Return the first line a ``--version`` style command prints, or ``unknown``.

    Parameters
    ----------
    command : list of str
        Command to run.

    Returns
    -------
    str
        First non-empty output line.
    """
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return lines[0].strip() if lines else "unknown"


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        Parsed options.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, help="use this FASTA instead of building the mouse 10k set")
    parser.add_argument("--labels", type=Path, help="labels TSV (id, label) for --input")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per tool (default 3)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the input sample")
    parser.add_argument("--skip-ours", action="store_true", help="benchmark CPAT only")
    parser.add_argument("--cpat-human", action="store_true", help="also run CPAT with its Human model")
    parser.add_argument("--model", help="passed to coding-potential predict as --model URI")
    parser.add_argument("--ours-exe", type=Path, default=DEFAULT_OURS, help="coding-potential executable")
    parser.add_argument("--cpat-exe", type=Path, default=DEFAULT_CPAT, help="cpat executable")
    parser.add_argument("--shared", type=Path, default=None, help="shared folder (default: as the project)")
    parser.add_argument("--out", type=Path, default=BENCH_VAR, help="output root (default var/bench)")
    args = parser.parse_args(argv)
    if (args.input is None) != (args.labels is None):
        parser.error("--input and --labels go together")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments.

    Returns
    -------
    int
        Exit status.
    """
    args = parse_args(argv)
    shared = (args.shared or shared_dir()).resolve()
    out_root: Path = args.out.resolve()
    results_dir = out_root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)

    # Input.
    if args.input is not None:
        fasta, labels_path = args.input.resolve(), args.labels.resolve()
        input_info = load_given_input(fasta, labels_path)
    else:
        print("building the mouse 10k input ...", file=sys.stderr)
        fasta, labels_path, input_info = build_mouse_input(shared / "data" / "mouse", out_root / "input", args.seed)
    labels_table = read_labels(labels_path)
    ids = labels_table["id"].tolist()
    labels = labels_table["label"].to_numpy()
    startup_fasta = write_first_record(fasta, out_root / "input" / f"{fasta.stem}.first_record.fa")

    # Tools.
    cpat_dir = shared / "reference" / "cpat"
    tools: list[Tool] = []
    if not args.skip_ours:
        extra = ["--model", args.model] if args.model else []
        tools.append(Tool("ours", "coding-potential", "ours", args.model or "default", None, extra_args=extra))
    species = ["Mouse", "Human"] if args.cpat_human else ["Mouse"]
    for sp in species:
        tools.append(
            Tool(
                f"cpat_{sp.lower()}", "CPAT 3.0.5", "cpat", sp, CPAT_CUTOFFS[sp],
                hexamer=cpat_dir / f"{sp}_Hexamer.tsv", logit=cpat_dir / f"{sp}_logitModel.RData",
            )
        )  # fmt: skip
    for tool in tools:
        exe = args.ours_exe if tool.kind == "ours" else args.cpat_exe
        if not Path(exe).exists():
            hint = "run bash bench/setup_cpat.sh" if tool.kind == "cpat" else "install the project or --skip-ours"
            raise SystemExit(f"{exe} not found: {hint}")
        for model_file in (tool.hexamer, tool.logit):
            if model_file is not None and not model_file.is_file():
                raise SystemExit(f"CPAT model file missing: {model_file}")
    if shutil.which("Rscript") is None and any(t.kind == "cpat" for t in tools):
        raise SystemExit("Rscript not found on PATH: run bash bench/setup_cpat.sh")

    # Runs.
    summaries: list[dict[str, Any]] = []
    curves: dict[str, Scores] = {}
    aucs: dict[str, float] = {}
    per_record = labels_table[["id", "label"]].copy()
    for tool in tools:
        exe = args.ours_exe if tool.kind == "ours" else args.cpat_exe
        print(f"running {tool.title} ({tool.model}) x{args.repeats} ...", file=sys.stderr)
        timing, output = benchmark(tool, exe, fasta, startup_fasta, args.repeats, out_root / "runs")
        if tool.kind == "ours":
            scores = score_ours(output, ids)
        else:
            assert tool.cutoff is not None
            scores = score_cpat(output, ids, tool.cutoff)
        result = metrics(labels, scores)
        result["auroc_mouse_validation"] = validation_subset_auroc(labels_table, labels, scores)
        summaries.append(summarise(tool, timing, result, len(ids)))
        name = f"{tool.title} ({tool.model})"
        curves[name], aucs[name] = scores, float(result["auroc"])
        per_record[f"{tool.key}_probability"] = scores.probability
        per_record[f"{tool.key}_call"] = scores.predicted

    ours = next((s for s in summaries if s["key"] == "ours"), None)
    speedups = (
        {s["key"]: s["wall_median_s"] / ours["wall_median_s"] for s in summaries if s["key"] != "ours"} if ours else {}
    )

    # Reports.
    report: dict[str, Any] = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeats": args.repeats,
        "input": input_info,
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "cpat": tool_version([str(args.cpat_exe), "--version"]) if args.cpat_exe.exists() else None,
            "rscript": tool_version(["Rscript", "--version"]),
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        },
        "tools": summaries,
        "speedup_cpat_over_ours": speedups,
    }
    rows = table_rows(summaries, speedups)
    (results_dir / "bench.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    per_record.to_csv(results_dir / "scores.tsv", sep="\t", index=False)
    md = (
        f"# coding-potential vs CPAT 3.0.5\n\n{input_info['n_records']} transcripts "
        f"({input_info['n_coding']} coding, {input_info['n_noncoding']} noncoding); whole-process wall time, "
        f"median of {args.repeats} runs; {report['generated']}.\n\n" + markdown_table(rows)
    )
    (results_dir / "bench.md").write_text(md)
    png = results_dir / "roc.png"
    plot_roc(labels, curves, aucs, png)
    write_html(results_dir / "bench.html", rows, png, report)
    print_rich_table(rows, f"coding-potential vs CPAT 3.0.5 ({input_info['n_records']} transcripts)")
    print(f"results in {results_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
