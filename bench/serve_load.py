"""Load on the live REST endpoint over loopback: latency and throughput, whole process, bounded in time.

    .venv/bin/python bench/serve_load.py --model-dir var/serving/model [--duration 20] [--out DIR]

Starts ``python -m seldon.launch`` (serving environment, ``--workers`` gunicorn workers of ``--threads``
threads each) on free 127.0.0.1 ports, warms it up, then runs two scenarios for ``--duration`` seconds
each with an asyncio client (aiohttp), every request a real mouse transcript set drawn from ``shared/data``:

- ``single``: one transcript per request (strData FASTA), ``--concurrency`` clients (default 8);
- ``batch``: 100 transcripts per request, ``--batch-concurrency`` clients (default 4).

Reports per scenario p50/p90/p99/max latency, requests/s, transcripts/s and errors (any answer other
than 200). Writes ``serve-load.json``, ``serve-load.png`` (latency distributions) and ``serve-load.html``
under ``--out`` (default ``var/bench/serve-load``). Targets on a 2-core machine: p99 <= 50 ms for
``single`` at 8 clients, >= 2,000 transcripts/s for ``batch``.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import platform
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coding_potential import config  # noqa: E402
from coding_potential.fasta import Record, read_records  # noqa: E402
from seldon import local  # noqa: E402

MAX_DURATION = 300


def transcripts(limit: int = 4000) -> list[tuple[str, str]]:
    """Real mouse transcripts (validation sets, coding and noncoding), as (id, sequence)."""
    data = config.shared_dir() / "data" / "mouse"
    found = []
    for name in ("validation_coding.fa.gz", "validation_noncoding.fa.gz"):
        found += [(r.id, r.sequence) for r in read_records(data / name) if isinstance(r, Record)][: limit // 2]
    return found


def bodies(pool: list[tuple[str, str]], size: int, count: int, seed: int) -> list[bytes]:
    """``count`` request bodies of ``size`` transcripts each (strData FASTA), drawn with a fixed seed."""
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        chosen = rng.sample(pool, size)
        result.append(json.dumps({"strData": "".join(f">{i}\n{s}\n" for i, s in chosen)}).encode())
    return result


async def run_scenario(url: str, payloads: list[bytes], size: int, concurrency: int, duration: float) -> dict:
    """``concurrency`` clients POST in a loop for ``duration`` seconds; every latency and status recorded."""
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + duration
    timeout = aiohttp.ClientTimeout(total=10)

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        index = number
        while time.perf_counter() < stop_at:
            body = payloads[index % len(payloads)]
            index += concurrency
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as answer:
                    await answer.read()
                    status = answer.status
            except (TimeoutError, aiohttp.ClientError):
                status = 0
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        await asyncio.gather(*(client(n, session) for n in range(concurrency)))
        elapsed = time.perf_counter() - began
    values = np.array(latencies) * 1000
    ok = statuses.get(200, 0)
    return {
        "transcripts_per_request": size, "concurrency": concurrency, "seconds": round(elapsed, 2),
        "requests": len(latencies), "errors": len(latencies) - ok, "statuses": {str(k): v for k, v in statuses.items()},
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "transcripts_per_second": round(ok * size / elapsed, 1),
        "latency_ms": {name: round(float(np.percentile(values, q)), 2) for name, q in
                       (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
        "latency_ms_mean": round(float(values.mean()), 2),
        "_latencies_ms": values.tolist(),
    }


def write_outputs(out: Path, result: dict) -> None:
    """JSON (without the raw latencies), a PNG of the latency distributions, and an HTML summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, len(result["scenarios"]), figsize=(6 * len(result["scenarios"]), 4))
    for axis, (name, scenario) in zip(np.atleast_1d(axes), result["scenarios"].items(), strict=True):
        values = np.sort(scenario.pop("_latencies_ms"))
        axis.plot(values, np.arange(1, values.size + 1) / values.size)
        for label, value in scenario["latency_ms"].items():
            if label != "max":
                axis.axvline(value, linestyle=":", color="grey")
                axis.text(value, 0.05, f" {label} {value:.1f} ms", rotation=90, fontsize=8)
        axis.set(title=f"{name}: {scenario['transcripts_per_request']} transcript(s)/request, "
                       f"{scenario['concurrency']} clients", xlabel="latency (ms)", ylabel="fraction of requests")
        axis.set_xscale("log")
    figure.tight_layout()
    figure.savefig(out / "serve-load.png", dpi=110)
    plt.close(figure)
    (out / "serve-load.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{s['transcripts_per_request']}</td><td>{s['concurrency']}</td>"
        f"<td>{s['requests']:,}</td><td>{s['errors']}</td><td>{s['latency_ms']['p50']}</td>"
        f"<td>{s['latency_ms']['p99']}</td><td>{s['requests_per_second']:,}</td><td>{s['transcripts_per_second']:,}</td></tr>"
        for name, s in result["scenarios"].items())
    (out / "serve-load.html").write_text(
        "<!doctype html><meta charset=utf-8><title>coding-potential: serving load</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:right}</style>"
        f"<h1>Serving load</h1><p>{html.escape(result['machine'])}; model {html.escape(result['model'])}; "
        f"{result['workers']} gunicorn workers of {result['threads']} threads.</p>"
        "<table><tr><th>scenario</th><th>transcripts/request</th>"
        "<th>clients</th><th>requests</th><th>errors</th><th>p50 ms</th><th>p99 ms</th><th>requests/s</th>"
        f"<th>transcripts/s</th></tr>{rows}</table><img src=serve-load.png alt='latency distributions'>\n")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=str(config.var_dir() / "serving" / "model"),
                        help="an export of `coding-potential export-model` (default: var/serving/model)")
    parser.add_argument("--duration", type=float, default=20, help=f"seconds per scenario (at most {MAX_DURATION})")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (processes)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--out", default=str(config.var_dir() / "bench" / "serve-load"))
    options = parser.parse_args(argv)
    duration = options.duration
    if not 0 < duration <= MAX_DURATION:
        parser.error(f"--duration {duration:g}: give seconds above 0 and at most {MAX_DURATION}")
    for name in ("concurrency", "batch_concurrency", "workers", "threads"):
        if not 1 <= getattr(options, name) <= 64:
            parser.error(f"--{name.replace('_', '-')} {getattr(options, name)}: give a whole number from 1 to 64")
    model_dir = Path(options.model_dir)
    if not (model_dir / "export.json").is_file():
        parser.error(f"{model_dir} is not a model export: run `coding-potential export-model --out {model_dir}`")
    pool = transcripts()
    single, batch = bodies(pool, 1, 2000, seed=1), bodies(pool, 100, 200, seed=2)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    info = json.loads((model_dir / "export.json").read_text())
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              "model": f"{info['model_name']} v{info['model_version']} ({info['family']})",
              "workers": options.workers, "threads": options.threads, "duration_s": duration, "scenarios": {}}
    # SIGTERM (a CI job's time-out, kill) unwinds like Ctrl-C, so the server below is stopped too.
    signal.signal(signal.SIGTERM, _interrupt)
    with local.running(model_dir, out / "server.log", workers=options.workers,
                       settings={"SERVE_THREADS": str(options.threads)}) as server:
        url = server.url(local.PREDICT_PATH)
        asyncio.run(run_scenario(url, single[:200], 1, 2, 2))  # warm-up: imports, caches, connections
        result["scenarios"]["single"] = asyncio.run(run_scenario(url, single, 1, options.concurrency, duration))
        result["scenarios"]["batch"] = asyncio.run(run_scenario(url, batch, 100, options.batch_concurrency, duration))
    write_outputs(out, result)
    for name, scenario in result["scenarios"].items():
        print(f"{name:>6}: {scenario['requests']:,} requests, {scenario['errors']} errors, p50 "
              f"{scenario['latency_ms']['p50']} ms, p99 {scenario['latency_ms']['p99']} ms, "
              f"{scenario['requests_per_second']:,} req/s, {scenario['transcripts_per_second']:,} transcripts/s")
    print(f"results: {out / 'serve-load.json'}, {out / 'serve-load.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
