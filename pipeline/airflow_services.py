"""A real Airflow 3 deployment on this machine, for a test or a person: API server, scheduler, DAG processor.

``airflow dags test`` (see :mod:`pipeline.airflow_runner`) runs one DAG run in one process; a backfill
needs the real thing: the scheduler creates and queues the runs, the LocalExecutor runs their tasks, the
tasks talk to the API server's Execution API, and the DAG processor serializes the DAGs. This module
starts the three processes against a fresh Airflow home, waits until they are ready, and talks to
them over the REST API (see ``shared/reference/airflow-3-backfill.md`` for why each knob is set).

Usage::

    with AirflowServices(var_dir) as airflow:
        airflow.unpause("coding_potential_scoring")
        backfill = airflow.create_backfill("coding_potential_scoring", "2026-01-01", "2026-01-03")
        airflow.wait_backfill(backfill["id"], timeout=300)
        runs = airflow.dag_runs("coding_potential_scoring")
        print(airflow.base_url)  # the UI, open to anyone (all-admins mode)

Everything binds 127.0.0.1 (but the scheduler's log server, which Airflow binds on all interfaces, on
a free port); each process writes its output to ``<AIRFLOW_HOME>/services/<name>.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import httpx

from .airflow_runner import REPO_ROOT, SCORING_DAG, airflow_env, init_airflow_home

#: The three processes, in the order they start (tasks need the API server's Execution API).
SERVICES = ("api-server", "dag-processor", "scheduler")
#: DAG run states after which nothing more happens to a run.
FINISHED_RUN_STATES = frozenset({"success", "failed"})
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
ADMIN_USER = "admin"


class AirflowServicesError(RuntimeError):
    """The services did not start, a request failed, or something did not finish in time."""


@dataclass(frozen=True)
class DagRun:
    """One DAG run as the REST API reports it.

    Attributes
    ----------
    run_id, state, run_type : str
        The run's id, state (``queued``, ``running``, ``success``, ``failed``) and type (``backfill``...).
    logical_date : str
        ISO 8601 logical date (``2026-01-01T00:00:00Z``); :attr:`day` is its ``YYYY-MM-DD``.
    start_date, end_date : str | None
        When the run (last) started and ended, ISO 8601; ``None`` while not started or not ended.
    """

    run_id: str
    state: str
    run_type: str
    logical_date: str
    start_date: str | None = None
    end_date: str | None = None

    @property
    def day(self) -> str:
        """The logical date's day, ``YYYY-MM-DD``."""
        return self.logical_date[:10]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it).

    Returns
    -------
    int
        The port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(
    var_dir: str | Path,
    base: Mapping[str, str] | None = None,
    *,
    api_port: int,
    log_server_port: int,
    parallelism: int = 2,
    all_admins: bool = True,
    scheduled_runs: bool = False,
) -> dict[str, str]:
    """:func:`pipeline.airflow_runner.airflow_env` plus what the three long-running processes need.

    Parameters
    ----------
    var_dir : str | Path
        The run-time folder; the Airflow home is ``<var_dir>/airflow``.
    base : Mapping[str, str] | None
        Environment to extend; ``None`` uses ``os.environ``.
    api_port, log_server_port : int
        Loopback port of the API server; port of the scheduler's log server.
    parallelism : int
        Task slots of the whole deployment and of one DAG (2 suits a 2-core machine).
    all_admins : bool
        Everyone is an admin without logging in (Airflow's ``simple_auth_manager_all_admins``), so a
        person can open the UI; ``False`` keeps the login page and the generated admin password.
    scheduled_runs : bool
        Let the scheduler create the DAGs' scheduled runs; ``False`` (default) leaves only the runs asked
        for (backfills, triggers), so unpausing a DAG does not also start today's run.

    Returns
    -------
    dict[str, str]
        A complete environment for :mod:`subprocess`.
    """
    env = airflow_env(var_dir, base=base, api_port=api_port)
    slots = str(parallelism)
    env.update(
        {
            "AIRFLOW__CORE__PARALLELISM": slots,
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": slots,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_port),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(all_admins),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(scheduled_runs),
        }
    )
    return env


def _day(value: str | date | datetime) -> str:
    """``YYYY-MM-DD`` of a date, datetime or ISO string (validated)."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)[:10]).isoformat()


def _log_tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log file, headed by its path."""
    if not path.is_file():
        return f"==> {path} (missing)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join([f"==> {path} (last {len(text)} lines)", *text])


class AirflowServices:
    """Start ``airflow api-server``, ``scheduler`` and ``dag-processor`` for one Airflow home; stop them.

    A context manager: entering migrates the metadata database (first time only), starts the three
    processes (each in its own process group, output to ``<home>/services/<name>.log``) and waits until
    the API server answers its health check, the scheduler and the DAG processor report healthy and
    ``dag_ids`` are serialized; leaving always stops all three (SIGTERM to each group, SIGKILL after
    ``stop_timeout``). Requests use a JWT from ``POST /auth/token``.

    Parameters
    ----------
    var_dir : str | Path
        The run-time folder (use a fresh one: its ``airflow/`` is the Airflow home).
    base : Mapping[str, str] | None
        Environment to extend (``None``: ``os.environ``).
    dag_ids : Sequence[str]
        DAGs that must be serialized before the services count as ready.
    startup_timeout, stop_timeout : float
        Seconds allowed to become ready, and for each process group to exit after SIGTERM.
    extra_env : Mapping[str, str] | None
        Last-word overrides of the environment (e.g. ``CODING_POTENTIAL_LANDING``).
    **options : Any
        ``parallelism``, ``all_admins``, ``scheduled_runs``: see :func:`service_env`.
    """

    def __init__(
        self,
        var_dir: str | Path,
        base: Mapping[str, str] | None = None,
        *,
        dag_ids: Sequence[str] = (SCORING_DAG,),
        startup_timeout: float = 180.0,
        stop_timeout: float = 20.0,
        extra_env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        self.api_port = free_port()
        self.log_server_port = free_port()
        self.env = service_env(
            var_dir, base, api_port=self.api_port, log_server_port=self.log_server_port, **options
        )
        self.env.update(extra_env or {})
        self.home = Path(self.env["AIRFLOW_HOME"])
        self.log_dir = self.home / "services"
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.dag_ids = tuple(dag_ids)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, TextIO] = {}
        self._token: str | None = None

    # ------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> AirflowServices:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Migrate the database, start the three processes and wait until they are ready.

        Raises
        ------
        AirflowServicesError
            If a process exits or the services are not ready within ``startup_timeout`` (the message
            has the tail of every log); everything started is stopped first.
        """
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with (self.log_dir / "db-migrate.log").open("w", encoding="utf-8") as out:
                init_airflow_home(self.env, out=out)
            for name in SERVICES:
                self._spawn(name)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str) -> None:
        """Start ``airflow <name>`` in a new process group, output to its log file."""
        log = (self.log_dir / f"{name}.log").open("w", encoding="utf-8")
        self._logs[name] = log
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", name],
            env=self.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """Stop every process started: SIGTERM to its group, SIGKILL after ``stop_timeout``; idempotent."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)  # stragglers of the group too (task runners, workers)
            process.wait()
        for log in self._logs.values():
            log.close()
        self.processes.clear()
        self._logs.clear()

    def log_tails(self, lines: int = 40) -> str:
        """The last ``lines`` lines of each process's log.

        Parameters
        ----------
        lines : int
            Lines per log.

        Returns
        -------
        str
            One block per process.
        """
        return "\n".join(_log_tail(self.log_dir / f"{name}.log", lines) for name in SERVICES)

    # ------------------------------------------------------------------------------ readiness
    def _wait_ready(self) -> None:
        """Poll until the health check passes and the DAGs are serialized, or raise."""
        self.wait_for(self._ready, self.startup_timeout, "the Airflow services to become ready")

    def _ready(self) -> bool:
        """One readiness check; raise if a process has exited."""
        self._check_alive()
        try:
            health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        except httpx.HTTPError:
            return False
        if health.status_code != 200 or not _healthy(health.json()):
            return False
        return all(self._serialized(dag_id) for dag_id in self.dag_ids)

    def _serialized(self, dag_id: str) -> bool:
        """The DAG is known to the API server (serialized by the DAG processor)."""
        response = self.request("GET", f"/api/v2/dags/{dag_id}/details", check=False)
        return response.status_code == 200

    def _check_alive(self) -> None:
        """Raise if any of the processes has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AirflowServicesError(
                    f"airflow {name} exited with status {process.returncode}\n{self.log_tails()}"
                )

    def wait_for(self, condition: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
        """Poll ``condition`` until it returns something truthy; return that.

        Parameters
        ----------
        condition : Callable[[], Any]
            Checked every ``interval`` seconds (and once more at the deadline).
        timeout : float
            Seconds allowed.
        what : str
            What is awaited, for the error message.
        interval : float
            Seconds between checks.

        Returns
        -------
        Any
            The first truthy result.

        Raises
        ------
        AirflowServicesError
            After ``timeout`` seconds, with the tail of the logs; or as soon as a process exits.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AirflowServicesError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.log_tails()}")
            time.sleep(interval)
            self._check_alive()

    # ------------------------------------------------------------------------------ REST
    def token(self) -> str:
        """A JWT for the REST API (``POST /auth/token``, fetched once).

        With the login page on, it logs in as ``admin`` with the password Airflow generated into
        ``<home>/simple_auth_manager_passwords.json.generated``; in all-admins mode Airflow issues an
        admin token for any credentials.

        Returns
        -------
        str
            The access token.
        """
        if self._token is None:
            body = {"username": ADMIN_USER, "password": self._admin_password()}
            response = httpx.post(f"{self.base_url}/auth/token", json=body, timeout=30)
            _raise_for_status(response)
            self._token = str(response.json()["access_token"])
        return self._token

    def _admin_password(self) -> str:
        """The generated admin password, or ``""`` where none was generated (all-admins mode)."""
        path = self.home / PASSWORDS_FILE
        if not path.is_file():
            return ""
        return str(json.loads(path.read_text()).get(ADMIN_USER, ""))

    def request(self, method: str, path: str, *, check: bool = True, **kwargs: Any) -> httpx.Response:
        """One authenticated request to the API server.

        Parameters
        ----------
        method, path : str
            HTTP method and path (``/api/v2/...``).
        check : bool
            Raise on a status of 400 or more.
        **kwargs : Any
            Passed to :func:`httpx.request` (``json``, ``params``...).

        Returns
        -------
        httpx.Response
            The response.

        Raises
        ------
        AirflowServicesError
            With ``check``, for an error status (the message has the response body).
        """
        headers = {"Authorization": f"Bearer {self.token()}"}
        response = httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=60, **kwargs)
        if check:
            _raise_for_status(response)
        return response

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG (a backfill of a paused DAG never runs).

        Parameters
        ----------
        dag_id : str
            The DAG's id.
        """
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def create_backfill(
        self,
        dag_id: str,
        from_date: str | date | datetime,
        to_date: str | date | datetime,
        reprocess_behavior: str = "none",
        *,
        dag_run_conf: Mapping[str, Any] | None = None,
        max_active_runs: int = 3,
    ) -> dict[str, Any]:
        """Create a backfill (``POST /api/v2/backfills``) of the days ``from_date`` .. ``to_date``.

        Parameters
        ----------
        dag_id : str
            The DAG's id (unpause it first).
        from_date, to_date : str | date | datetime
            First and last logical day, inclusive (``@daily``: one run a day).
        reprocess_behavior : str
            ``none`` (skip days that have a run), ``failed`` or ``completed`` (rerun them too).
        dag_run_conf : Mapping[str, Any] | None
            Conf of every run (overrides the DAG's params).
        max_active_runs : int
            Runs of this backfill allowed at once.

        Returns
        -------
        dict[str, Any]
            The backfill (``id``, ``completed_at``...).

        Raises
        ------
        AirflowServicesError
            E.g. 409 while another backfill of the DAG has not completed.
        """
        body = {
            "dag_id": dag_id,
            "from_date": f"{_day(from_date)}T00:00:00Z",
            "to_date": f"{_day(to_date)}T00:00:00Z",
            "reprocess_behavior": reprocess_behavior,
            "max_active_runs": max_active_runs,
            "dag_run_conf": dict(dag_run_conf or {}),
        }
        return dict(self.request("POST", "/api/v2/backfills", json=body).json())

    def backfill(self, backfill_id: int) -> dict[str, Any]:
        """A backfill as the REST API reports it (``GET /api/v2/backfills/<id>``).

        Parameters
        ----------
        backfill_id : int
            The backfill's id.

        Returns
        -------
        dict[str, Any]
            The backfill.
        """
        return dict(self.request("GET", f"/api/v2/backfills/{backfill_id}").json())

    def wait_backfill(self, backfill_id: int, timeout: float = 300.0) -> dict[str, Any]:
        """Wait until the scheduler marks a backfill completed (it checks every 30 s).

        Parameters
        ----------
        backfill_id : int
            The backfill's id.
        timeout : float
            Seconds allowed.

        Returns
        -------
        dict[str, Any]
            The completed backfill (``completed_at`` set).

        Raises
        ------
        AirflowServicesError
            If it is not completed in time (with the logs' tails).
        """

        def completed() -> dict[str, Any] | None:
            found = self.backfill(backfill_id)
            return found if found.get("completed_at") else None

        return dict(self.wait_for(completed, timeout, f"backfill {backfill_id} to complete", interval=2.0))

    def dag_runs(self, dag_id: str, run_type: str | None = "backfill") -> list[DagRun]:
        """The DAG's runs, oldest logical date first.

        Parameters
        ----------
        dag_id : str
            The DAG's id.
        run_type : str | None
            Only runs of this type (``backfill``, ``scheduled``, ``manual``); ``None``: all.

        Returns
        -------
        list[DagRun]
            Run id, state, type and logical date of each run.
        """
        params: dict[str, Any] = {"limit": 100, "order_by": "logical_date"}
        if run_type:
            params["run_type"] = run_type
        found = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params).json()
        return [_dag_run(run) for run in found["dag_runs"]]

    def wait_runs(
        self, dag_id: str, count: int, timeout: float = 300.0, run_type: str | None = "backfill"
    ) -> list[DagRun]:
        """Wait until the DAG has at least ``count`` runs (of ``run_type``) and every one has finished.

        Finished means success or failed: a backfill's runs finish before the scheduler marks the
        backfill completed (see :meth:`wait_backfill`).

        Parameters
        ----------
        dag_id : str
            The DAG's id.
        count : int
            Runs expected.
        timeout : float
            Seconds allowed.
        run_type : str | None
            As for :meth:`dag_runs`.

        Returns
        -------
        list[DagRun]
            The runs, finished.
        """

        def finished() -> list[DagRun] | None:
            runs = self.dag_runs(dag_id, run_type)
            done = len(runs) >= count and all(run.state in FINISHED_RUN_STATES for run in runs)
            return runs if done else None

        return list(self.wait_for(finished, timeout, f"{count} {run_type or ''} runs of {dag_id} to finish", 2.0))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """State of each task instance of a run.

        Parameters
        ----------
        dag_id, run_id : str
            The DAG and the run.

        Returns
        -------
        dict[str, str]
            Task id → state (``"none"`` for a task instance without one; map indexes are not told apart).
        """
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        found = self.request("GET", path, params={"limit": 100}).json()
        return {str(ti["task_id"]): str(ti.get("state") or "none") for ti in found["task_instances"]}


def _dag_run(run: Mapping[str, Any]) -> DagRun:
    """A :class:`DagRun` from the REST API's JSON."""
    return DagRun(
        run_id=str(run["dag_run_id"]),
        state=str(run["state"]),
        run_type=str(run["run_type"]),
        logical_date=str(run["logical_date"]),
        start_date=run.get("start_date"),
        end_date=run.get("end_date"),
    )


def _healthy(health: Mapping[str, Any]) -> bool:
    """The metadatabase, the scheduler and the DAG processor report ``healthy``."""
    parts = ("metadatabase", "scheduler", "dag_processor")
    return all((health.get(part) or {}).get("status") == "healthy" for part in parts)


def _raise_for_status(response: httpx.Response) -> None:
    """Raise :class:`AirflowServicesError` for a status of 400 or more, with the body."""
    if response.status_code >= 400:
        request = response.request
        raise AirflowServicesError(
            f"{request.method} {request.url} -> {response.status_code}: {response.text[:2000]}"
        )


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the process's group (it leads one: ``start_new_session``), if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


#: What a second shell needs to reach the same deployment with the ``airflow`` command.
_EXPORTED = ("AIRFLOW", "CODING_POTENTIAL", "MLFLOW", "PYTHONPATH", "PYSPARK")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.airflow_services``: serve Airflow on loopback until Ctrl-C (``make airflow``).

    Prints the UI's address and an ``env`` file to source in another shell, so that ``airflow backfill
    create ...`` talks to the same home and database.
    """
    import argparse

    from coding_potential import config

    parser = argparse.ArgumentParser(prog="python -m pipeline.airflow_services", description=main.__doc__)
    parser.add_argument("--var", type=Path, default=config.var_dir(), help="run-time folder (default: var/)")
    options = parser.parse_args(argv)
    services = AirflowServices(options.var, dag_ids=(SCORING_DAG,))
    env_file = services.home / "services" / "env"
    with services:
        env_file.write_text("".join(f"export {name}={shlex.quote(value)}\n"
                                    for name, value in sorted(services.env.items()) if name.startswith(_EXPORTED)))
        services.unpause(SCORING_DAG)  # a backfill of a paused DAG would wait forever
        print(f"Airflow UI: {services.base_url}/dags/{SCORING_DAG} (no login: every user is admin)")
        print(f"In another shell: . .venv/bin/activate && . {env_file}")
        print("then e.g. airflow backfill create --dag-id coding_potential_scoring "
              "--from-date 2026-01-01 --to-date 2026-01-03")
        print(f"Logs: {services.log_dir}/. Ctrl-C stops the three services.", flush=True)
        try:
            while True:
                services._check_alive()
                time.sleep(2)
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
