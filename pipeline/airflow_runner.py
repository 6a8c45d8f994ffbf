"""Run the project's Airflow DAGs end to end on this machine, with ``airflow dags test``.

The main job's Airflow part: train a model with the ``coding_potential_training`` DAG, stage a day's
input (the two mouse validation files) in the landing folder, score it with the
``coding_potential_scoring`` DAG, and say where everything went.

``airflow dags test`` runs one DAG run in one process (no scheduler, API server or executor), against
an Airflow home of its own under ``<var>/airflow`` (SQLite metadata database, configuration from the
environment only, see :func:`airflow_env`).

Usage::

    python -m pipeline.airflow_runner                       # whole human + mouse training sets, 2026-01-01
    python -m pipeline.airflow_runner --sample-per-file 150  # quick run
    python -m pipeline.airflow_runner --date 2026-01-02 --var /tmp/cp-var --quiet
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from coding_potential import config

from . import lake, settings

#: The repository's root (DAGs, plugins and the ``pipeline`` package live here).
REPO_ROOT = config.REPO_ROOT
TRAINING_DAG = "coding_potential_training"
SCORING_DAG = "coding_potential_scoring"
#: Default logical date of the scoring run: the scoring DAG's ``start_date``, its first interval.
DEFAULT_SCORING_DATE = "2026-01-01"
#: The day's input staged for scoring, relative to ``shared/data``.
SCORING_INPUTS = ("mouse/validation_coding.fa.gz", "mouse/validation_noncoding.fa.gz")
#: Task states that count as a good outcome.
OK_STATES = frozenset({"success", "skipped"})

_MIGRATED_MARKER = ".coding-potential-db-migrated"
_RESULT_RE = re.compile(r"Result of (?P<step>[A-Za-z_][A-Za-z0-9_]*): ")
_RUN_DIR_RE = re.compile(r"Running step [A-Za-z_][A-Za-z0-9_]* in (?P<run_dir>\S+) with arguments")
_TASK_RE = re.compile(r"\[DAG TEST\] (?P<what>starting|end) task task_id=(?P<task>\S+)")


class DagRunFailed(RuntimeError):
    """An ``airflow dags test`` run exited non-zero or left a task in a state other than success/skipped."""


@dataclass
class DagTestResult:
    """What one ``airflow dags test`` run did.

    Attributes
    ----------
    dag_id, logical_date : str
        The run's DAG and logical date (ISO 8601).
    returncode : int
        Exit status of ``airflow dags test``.
    states : dict[str, str]
        Final state of every task instance of the run, by task id (empty if none was found).
    results : dict[str, dict[str, Any]]
        The JSON result each step logged, by step name.
    run_dir : str | None
        The run's folder, as the operator logged it.
    seconds : float
        Wall time of ``airflow dags test``.
    log_path : Path
        Where its whole output was saved.
    """

    dag_id: str
    logical_date: str
    returncode: int
    states: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_dir: str | None = None
    seconds: float = 0.0
    log_path: Path | None = None

    @property
    def failures(self) -> dict[str, str]:
        """Tasks whose final state is neither success nor skipped."""
        return {task: state for task, state in self.states.items() if state not in OK_STATES}

    @property
    def ok(self) -> bool:
        """The run exited 0, has task instances, and every one succeeded or was skipped."""
        return self.returncode == 0 and bool(self.states) and not self.failures


def airflow_home(var_dir: str | Path | None = None) -> Path:
    """The runner's Airflow home: ``<var>/airflow``.

    Parameters
    ----------
    var_dir : str | Path | None
        The run-time folder; ``None`` uses :func:`coding_potential.config.var_dir`.

    Returns
    -------
    Path
        Absolute path (not created here).
    """
    return Path(var_dir or config.var_dir()).resolve() / "airflow"


def airflow_env(
    var_dir: str | Path | None = None,
    base: Mapping[str, str] | None = None,
    api_port: int = 8080,
) -> dict[str, str]:
    """Environment for Airflow commands run against this repository's DAGs.

    Everything is configured through ``AIRFLOW__SECTION__KEY`` variables (they override the
    ``airflow.cfg`` Airflow writes into its home on first use):

    - ``AIRFLOW_HOME=<var>/airflow`` with the SQLite metadata database ``airflow.db`` inside it;
    - ``dags/`` and ``plugins/`` of this repository, no example DAGs, ``PARALLELISM=2``;
    - loopback only: the API server (not used by ``dags test``) binds 127.0.0.1 and tasks reach it there,
      OpenLineage is disabled, Spark binds 127.0.0.1, proxies are bypassed for local addresses;
    - ``CODING_POTENTIAL_VAR`` pinned to ``var_dir`` so the steps write where the runner looks;
    - ``PYTHONPATH`` starting with the repository's root; ``PYSPARK_PYTHON`` this interpreter;
      ``PYTHONWARNINGS`` silences the graphviz warning of ``airflow dags`` (graphs are not rendered).

    Parameters
    ----------
    var_dir : str | Path | None
        The run-time folder; ``None`` uses :func:`coding_potential.config.var_dir`.
    base : Mapping[str, str] | None
        Environment to extend; ``None`` uses ``os.environ``.
    api_port : int
        Loopback port of the API server, should one be started with this environment.

    Returns
    -------
    dict[str, str]
        A complete environment for :mod:`subprocess`.
    """
    var = Path(var_dir or config.var_dir()).resolve()
    home = airflow_home(var)
    env = dict(os.environ if base is None else base)
    python_path = [str(REPO_ROOT), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    no_proxy = ",".join(dict.fromkeys(["127.0.0.1", "localhost", "::1", *_split(env.get("NO_PROXY", ""))]))
    # `airflow dags` imports its graph renderer, which warns about the absent (unused) graphviz.
    warning_filters = [*_split(env.get("PYTHONWARNINGS", "")), "ignore:Could not import graphviz"]
    env.update(
        {
            "CODING_POTENTIAL_VAR": str(var),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            "SPARK_LOCAL_IP": "127.0.0.1",
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path)),
            "PYSPARK_PYTHON": sys.executable,
            "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": ",".join(dict.fromkeys(warning_filters)),
        }
    )
    return env


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _airflow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def init_airflow_home(env: Mapping[str, str] | None = None, *, out: TextIO | None = None) -> Path:
    """Create the Airflow home and its metadata database (``airflow db migrate``), once.

    Idempotent: a marker file records the Airflow version the database was migrated with; the command
    runs again only when the database or the marker is missing or the version changed.

    Parameters
    ----------
    env : Mapping[str, str] | None
        An environment from :func:`airflow_env`; ``None`` builds the default one.
    out : TextIO | None
        Where the command's output goes when it runs (``None``: captured, shown only on failure).

    Returns
    -------
    Path
        The Airflow home.

    Raises
    ------
    DagRunFailed
        If ``airflow db migrate`` fails.
    """
    env = dict(env or airflow_env())
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / _MIGRATED_MARKER
    version = _airflow_version()
    database = _sqlite_path(env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
    if marker.is_file() and marker.read_text().strip() == version and (database is None or database.exists()):
        return home
    completed = subprocess.run(
        _airflow_command("db", "migrate"),
        env=env,
        cwd=REPO_ROOT,
        stdout=out if out is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise DagRunFailed(f"airflow db migrate failed (exit {completed.returncode}):\n{completed.stdout or ''}")
    marker.write_text(version + "\n")
    return home


def _airflow_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apache-airflow")
    except PackageNotFoundError:  # pragma: no cover - the platform environment always has it
        return "unknown"


def _sqlite_path(url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


def _logical_date_iso(logical_date: str | date | datetime | None) -> str:
    """An explicit logical date (UTC ISO 8601), so the run can be found again after it ends."""
    if logical_date is None:
        return datetime.now(UTC).replace(microsecond=0).isoformat()
    if isinstance(logical_date, datetime):
        moment = logical_date if logical_date.tzinfo else logical_date.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    if isinstance(logical_date, date):
        return datetime(logical_date.year, logical_date.month, logical_date.day, tzinfo=UTC).isoformat()
    text = str(logical_date)
    parsed = datetime.fromisoformat(text)
    return _logical_date_iso(parsed if "T" in text or " " in text else parsed.date())


def task_states(dag_id: str, logical_date: str, env: Mapping[str, str]) -> dict[str, str]:
    """Final state of every task instance of a DAG's run at a logical date.

    Uses ``airflow tasks states-for-dag-run -o json`` (``airflow dags test`` replaces any earlier run
    at the same logical date, so there is one).

    Parameters
    ----------
    dag_id : str
        The DAG's id.
    logical_date : str
        The run's logical date (ISO 8601).
    env : Mapping[str, str]
        An environment from :func:`airflow_env`.

    Returns
    -------
    dict[str, str]
        Task id → state (``"none"`` for a task instance without one); empty if the run was not found.
    """
    completed = subprocess.run(
        _airflow_command("tasks", "states-for-dag-run", "-o", "json", dag_id, logical_date),
        env=dict(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        return {}
    rows = _json_array(completed.stdout)
    return {str(row["task_id"]): str(row.get("state") or "none") for row in rows}


def _json_array(text: str) -> list[dict[str, Any]]:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("["):
            try:
                rows = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rows, list):
                return [row for row in rows if isinstance(row, dict)]
    return []


def _scan_line(line: str, result: DagTestResult) -> str | None:
    """Collect step results and the run folder from one output line; return a task event if any."""
    match = _RESULT_RE.search(line)
    if match:
        try:
            value, _ = json.JSONDecoder().raw_decode(line, match.end())
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            result.results[match.group("step")] = value
    match = _RUN_DIR_RE.search(line)
    if match and result.run_dir is None:
        result.run_dir = match.group("run_dir")
    match = _TASK_RE.search(line)
    if match:
        return f"{match.group('what')} {match.group('task')}"
    return None


def run_dags_test(
    dag_id: str,
    logical_date: str | date | datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    echo: TextIO | None = sys.stdout,
    on_event: Callable[[str], None] | None = None,
) -> DagTestResult:
    """Run ``airflow dags test`` and report what happened (without raising on failure).

    Parameters
    ----------
    dag_id : str
        The DAG to run.
    logical_date : str | date | datetime | None
        Logical date (``YYYY-MM-DD`` or ISO 8601, UTC); ``None`` means now.
    conf : Mapping[str, Any] | None
        The run's conf (overrides the DAG's params).
    env : Mapping[str, str] | None
        An environment from :func:`airflow_env`; ``None`` builds the default one.
    echo : TextIO | None
        Where the command's output is streamed as it comes (``None``: only saved to the log file).
    on_event : Callable[[str], None] | None
        Called with ``"starting <task>"`` / ``"end <task>"`` as tasks start and end.

    Returns
    -------
    DagTestResult
        Exit status, task states, step results, run folder, timing and log file.
    """
    env = dict(env or airflow_env())
    init_airflow_home(env)
    when = _logical_date_iso(logical_date)
    log_dir = Path(env["AIRFLOW_HOME"]) / "runner-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    log_path = log_dir / f"{dag_id}__{re.sub(r'[^A-Za-z0-9._-]', '_', when)}__{stamp}.log"
    command = _airflow_command("dags", "test", dag_id, when)
    if conf is not None:
        command += ["--conf", json.dumps(dict(conf))]
    result = DagTestResult(dag_id=dag_id, logical_date=when, returncode=-1, log_path=log_path)
    started = time.monotonic()
    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            command,
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if echo is not None:
                echo.write(line)
                echo.flush()
            event = _scan_line(line, result)
            if event and on_event is not None:
                on_event(event)
        result.returncode = process.wait()
    result.seconds = time.monotonic() - started
    result.states = task_states(dag_id, when, env)
    return result


def dags_test(
    dag_id: str,
    logical_date: str | date | datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    echo: TextIO | None = sys.stdout,
    check: bool = True,
) -> int:
    """Run one DAG run with ``airflow dags test`` and fail loudly unless every task succeeded or skipped.

    Parameters
    ----------
    dag_id : str
        The DAG to run.
    logical_date : str | date | datetime | None
        Logical date (``YYYY-MM-DD`` or ISO 8601, UTC); ``None`` means now.
    conf : Mapping[str, Any] | None
        The run's conf (overrides the DAG's params).
    env : Mapping[str, str] | None
        An environment from :func:`airflow_env`; ``None`` builds the default one.
    echo : TextIO | None
        Where the command's output is streamed (``None``: only to the log file in the Airflow home).
    check : bool
        Raise :class:`DagRunFailed` on failure (default) rather than return a non-zero status.

    Returns
    -------
    int
        0 when the run succeeded; otherwise the command's exit status, or 1 if it exited 0 but a task
        failed or no task instance was found (only with ``check=False``).

    Raises
    ------
    DagRunFailed
        With ``check=True``, when the run failed.
    """
    result = run_dags_test(dag_id, logical_date, conf, env=env, echo=echo)
    if result.ok:
        return 0
    if check:
        raise DagRunFailed(_failure_message(result))
    return result.returncode or 1


def _failure_message(result: DagTestResult, tail_lines: int = 15) -> str:
    states = ", ".join(f"{task}={state}" for task, state in result.states.items()) or "no task instances"
    message = (
        f"DAG {result.dag_id} at {result.logical_date}: airflow dags test exited {result.returncode}; "
        f"tasks: {states}; log: {result.log_path}"
    )
    if result.log_path is not None and result.log_path.is_file():
        tail = result.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-tail_lines:]
        message += "\n" + "\n".join(tail)
    return message


def stage_landing(
    day: str, sources: Sequence[str | Path] | None = None, landing_root: str | Path | None = None
) -> list[Path]:
    """Copy the day's input files into ``<landing>/<day>/``, each atomically (temporary name, rename).

    A file already there with the same size and content is left alone, so staging twice is harmless.

    Parameters
    ----------
    day : str
        The date folder, ``YYYY-MM-DD``.
    sources : Sequence[str | Path] | None
        Files to stage; ``None`` stages :data:`SCORING_INPUTS` from ``shared/data``.
    landing_root : str | Path | None
        The landing root, a folder or ``file://`` URI; ``None`` uses ``pipeline.settings.landing_root()``
        (the lake's ``landing/`` zone).

    Returns
    -------
    list[Path]
        The staged files.
    """
    date.fromisoformat(day)  # validates the folder name
    if sources is None:
        data = config.shared_dir() / "data"
        sources = [data / name for name in SCORING_INPUTS]
    if landing_root is None:
        landing_root = settings.landing_root()
    target_dir = lake.local_path(lake.as_uri(landing_root)) / day
    target_dir.mkdir(parents=True, exist_ok=True)
    staged = []
    for source in map(Path, sources):
        target = target_dir / source.name
        if not (target.is_file() and _same_file_content(source, target)):
            handle, temporary = tempfile.mkstemp(prefix=f".{source.name}.", dir=target_dir)
            os.close(handle)
            try:
                shutil.copyfile(source, temporary)
                os.replace(temporary, target)
            finally:
                Path(temporary).unlink(missing_ok=True)
        staged.append(target)
    return staged


def _same_file_content(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as left, b.open("rb") as right:
        while True:
            chunk = left.read(1 << 20)
            if chunk != right.read(1 << 20):
                return False
            if not chunk:
                return True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.airflow_runner",
        description=(
            "Train a coding-potential model with the Airflow training DAG, stage the mouse validation "
            "files as one day's landed input, and score them with the scoring DAG (airflow dags test)."
        ),
    )
    parser.add_argument(
        "--sample-per-file",
        type=int,
        default=None,
        metavar="N",
        help="train on N records per training file (default: every record of the human and mouse training sets)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling and training (default 0)")
    parser.add_argument(
        "--date",
        default=DEFAULT_SCORING_DATE,
        type=lambda text: date.fromisoformat(text).isoformat(),
        help=f"logical date of the scoring run and landing folder (default {DEFAULT_SCORING_DATE})",
    )
    parser.add_argument(
        "--var", type=Path, default=None, help="run-time folder (default: $CODING_POTENTIAL_VAR or var/)"
    )
    parser.add_argument("--skip-training", action="store_true", help="score with the current champion only")
    parser.add_argument("--quiet", action="store_true", help="do not stream Airflow's output (it is still saved)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Train, stage, score, and print where the results are.

    Parameters
    ----------
    argv : Sequence[str] | None
        Command-line arguments (``None``: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when both DAG runs succeeded, 1 otherwise.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    args = _parser().parse_args(argv)
    if args.sample_per_file is not None and args.sample_per_file < 1:
        _parser().error("--sample-per-file must be at least 1")
    if args.var is not None:
        os.environ["CODING_POTENTIAL_VAR"] = str(args.var.expanduser().resolve())
    var = config.var_dir()
    env = airflow_env(var)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)  # unwrapped paths in logs
    console.rule("[bold]coding-potential: Airflow runs")
    console.print(f"var folder: {var}\nAirflow home: {env['AIRFLOW_HOME']}")

    with console.status("Preparing the Airflow home (airflow db migrate, first time only)"):
        init_airflow_home(env)

    runs: list[DagTestResult] = []

    def run(dag_id: str, logical_date: str | None, conf: dict[str, Any]) -> DagTestResult:
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed} tasks done"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            bar = progress.add_task(f"{dag_id}: starting", total=None)

            def on_event(event: str) -> None:
                what, task = event.split(" ", 1)
                if what == "starting":
                    progress.update(bar, description=f"{dag_id}: {task}")
                else:
                    progress.advance(bar)

            result = run_dags_test(
                dag_id,
                logical_date,
                conf,
                env=env,
                echo=None if args.quiet else sys.stdout,
                on_event=on_event,
            )
            verdict = "done" if result.ok else "FAILED"
            progress.update(bar, description=f"{dag_id}: {verdict}", total=max(progress.tasks[0].completed, 1))
        runs.append(result)
        _print_run(console, result)
        return result

    if not args.skip_training:
        conf: dict[str, Any] = {"datasets": list(settings.TRAINING_DATASETS), "seed": args.seed}
        conf["sample_per_file"] = args.sample_per_file
        if not run(TRAINING_DAG, None, conf).ok:
            _print_summary(console, runs, var, args.date)
            return 1

    staged = stage_landing(args.date, landing_root=settings.landing_root())
    console.print(f"Staged {len(staged)} file(s) in {staged[0].parent}" if staged else "Nothing staged")
    scoring = run(SCORING_DAG, args.date, {"landing": str(settings.landing_root())})
    _print_summary(console, runs, var, args.date)
    return 0 if scoring.ok else 1


def _print_run(console: Any, result: DagTestResult) -> None:
    from rich.table import Table

    console.print(
        f"[bold]{result.dag_id}[/bold] at {result.logical_date}: airflow dags test took {result.seconds:.0f} s"
    )
    table = Table()
    table.add_column("task", overflow="fold")
    table.add_column("state")
    for task, state in result.states.items():
        style = "green" if state == "success" else "yellow" if state == "skipped" else "bold red"
        table.add_row(task, f"[{style}]{state}[/{style}]")
    if not result.states:
        table.add_row("(no task instances found)", "[bold red]failed[/bold red]")
    console.print(table)
    if not result.ok:
        console.print(_failure_message(result), style="bold red", markup=False, highlight=False)


def _print_summary(console: Any, runs: Sequence[DagTestResult], var: Path, day: str) -> None:
    from rich.table import Table

    table = Table(title="Where the results are", show_header=False)
    table.add_column("what", style="bold", overflow="fold")
    table.add_column("where", overflow="fold")
    try:
        from models.registry import tracking_uri

        table.add_row("MLflow tracking/registry", tracking_uri())
    except ImportError:  # pragma: no cover - models is part of the repository
        pass
    for result in runs:
        register = result.results.get("register_candidate")
        if register is not None:
            verdict = "promoted to champion" if register.get("promoted") else "not promoted"
            table.add_row(
                "registered model version",
                f"{register.get('version')} ({verdict}: {register.get('reason', 'no reason given')})",
            )
        validated = result.results.get("validate_inputs")
        if validated is not None and validated.get("report"):
            warnings = len(validated.get("gate", {}).get("warnings", []))
            table.add_row(f"data-quality report ({_short(result.dag_id)})",
                          f"{validated['report']} (gate passed, {warnings} warning(s); Data Docs: "
                          f"{validated.get('data_docs')})")
        predict = result.results.get("predict")
        if predict is not None and predict.get("predictions"):
            table.add_row("predictions partition", f"{predict['predictions']} ({predict.get('rows')} rows)")
            table.add_row("scored with model", f"{predict.get('model')} (version {predict.get('model_version')})")
        if result.run_dir:
            table.add_row(f"run folder ({_short(result.dag_id)})", result.run_dir)
        if result.log_path:
            table.add_row(f"Airflow log ({_short(result.dag_id)})", str(result.log_path))
    table.add_row("scoring date", day)
    table.add_row("var folder", str(var))
    console.print(table)


def _short(dag_id: str) -> str:
    return dag_id.removeprefix("coding_potential_")


if __name__ == "__main__":
    sys.exit(main())
