"""Whole-process benchmark: the Spark features job on ``local[2]`` against the single-process core path.

For 1k, 10k and 100k real transcripts (the human training files, repeated with new IDs past their
27,321 records), each path runs as a whole process, ``--repeats`` times:

- Spark: ``python -m spark_jobs.features_job --input FA --output DIR --date D --master local[2]``;
- single process: ``coding-potential features FA --output DIR --date D``.

A one-record input measures each path's fixed start-up. The report gives wall time (median), records/s,
and the per-record cost after start-up, (wall - start-up) / records, which should stay flat from 10k to
100k. The start-up and runs of up to 10,000 records are repeated at least ``--small-repeats`` times (at
10k a second of noise is 100 µs per record), and all runs are taken in rounds (start-up, 1k, 10k,
100k, again), so that a change of load during the benchmark falls on every size alike. Results:
``var/bench/spark/results/{spark_features.json,spark_features.md,spark_features.png}`` (every wall time
and the load averages before and after are in the JSON).

Run: ``.venv/bin/python bench/spark_features.py [--repeats 3] [--small-repeats 5] [--sizes 1000 10000 100000]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "var" / "bench" / "spark"
SOURCES = ("human/train_coding.fa.gz", "human/train_noncoding.fa.gz")


def build_input(size: int, shared: Path, folder: Path) -> Path:
    """``size`` real transcripts as one plain FASTA; repeats get new IDs (``r2_…``) to stay unique."""
    sys.path.insert(0, str(REPO_ROOT))
    from coding_potential.fasta import Record, read_records

    path = folder / f"human_{size}.fa"
    if path.is_file():
        return path
    records = [r for name in SOURCES for r in read_records(shared / "data" / name) if isinstance(r, Record)]
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for i in range(size):
            record = records[i % len(records)]
            copy = i // len(records)
            prefix = f"r{copy + 1}_" if copy else ""
            handle.write(f">{prefix}{record.id}\n{record.sequence}\n")
    return path


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - start


def commands(fasta: Path, out: Path) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "spark local[2]": [python, "-m", "spark_jobs.features_job", "--input", str(fasta), "--output",
                           str(out / "spark"), "--date", "2026-01-01", "--master", "local[2]"],
        "single process": [python, "-m", "cli", "features", str(fasta), "--output", str(out / "local"),
                           "--date", "2026-01-01"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small-repeats", type=int, default=5,
                        help="at least this many runs for the start-up and for sizes up to 10,000 records")
    parser.add_argument("--shared", type=Path,
                        default=Path(os.environ.get("CODING_POTENTIAL_SHARED", REPO_ROOT.parent / "shared")))
    options = parser.parse_args(argv)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": str(REPO_ROOT)}
    inputs = OUT / "input"
    work = OUT / "work"
    load_before = os.getloadavg()
    small = max(options.repeats, options.small_repeats)
    # Runs per size (1: the start-up), taken in rounds, so that a change of load over the minutes the
    # benchmark lasts falls on every size alike, not on the start-up alone.
    runs = {1: small, **{size: small if size <= 10_000 else options.repeats for size in options.sizes}}
    fastas = {size: build_input(size, options.shared, inputs) for size in runs}
    walls: dict[tuple[str, int], list[float]] = {}
    for round_ in range(max(runs.values())):
        for size, count in runs.items():
            if round_ < count:
                for tool, command in commands(fastas[size], work).items():
                    walls.setdefault((tool, size), []).append(timed(command, env))
        print(f"round {round_ + 1}: " + ", ".join(f"{tool} {size:,}: {times[-1]:.2f} s"
                                                  for (tool, size), times in walls.items()
                                                  if len(times) == round_ + 1), flush=True)
    startup = {tool: statistics.median(times) for (tool, size), times in walls.items() if size == 1}
    rows = []
    for (tool, size), times in walls.items():
        if size == 1:
            continue
        wall = statistics.median(times)
        rows.append({"tool": tool, "records": size, "wall_s": wall, "walls_s": times,
                     "startup_s": startup[tool], "startup_walls_s": walls[tool, 1], "records_per_s": size / wall,
                     "us_per_record_after_startup": 1e6 * max(wall - startup[tool], 0.0) / size})
    rows.sort(key=lambda r: (r["records"], r["tool"] != "spark local[2]"))
    shutil.rmtree(work, ignore_errors=True)
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"load averages (1, 5, 15 min): before {load['before']}, after {load['after']}")
    report(rows, startup, load)
    return 0


def report(rows: list[dict], startup: dict[str, float], load: dict[str, tuple[float, ...]]) -> None:
    results = OUT / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "spark_features.json").write_text(json.dumps({"startup_s": startup, "runs": rows, "load": load},
                                                            indent=2))
    lines = ["| path | records | wall (s, median) | start-up (s) | records/s | µs/record after start-up |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['tool']} | {r['records']:,} | {r['wall_s']:.2f} | {r['startup_s']:.2f} | "
              f"{r['records_per_s']:,.0f} | {r['us_per_record_after_startup']:.1f} |" for r in rows]
    (results / "spark_features.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for tool in startup:
        mine = [r for r in rows if r["tool"] == tool]
        axis.plot([r["records"] for r in mine], [r["us_per_record_after_startup"] for r in mine], marker="o",
                  label=tool)
    axis.set_xscale("log")
    axis.set_xlabel("records")
    axis.set_ylabel("µs per record after start-up")
    axis.set_title("Features: Spark job vs single process")
    axis.legend()
    figure.tight_layout()
    figure.savefig(results / "spark_features.png", dpi=100)


if __name__ == "__main__":
    sys.exit(main())
