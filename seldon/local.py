"""Run the endpoint as a local process on loopback, from any environment: the tests and the load bench.

:func:`start` launches ``python -m seldon.launch`` with the serving environment's interpreter on free
127.0.0.1 ports, waits (bounded) until ``/health/status`` answers 200, and returns a :class:`LocalServer`
that sends requests and stops the whole process group. Nothing here imports Seldon.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coding_potential.config import REPO_ROOT

SERVING_PYTHON = REPO_ROOT / ".venv-serving" / "bin" / "python"
PREDICT_PATH = "/api/v1.0/predictions"
METRICS_PATH = "/prometheus"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    """A running microservice: its ports, its process (group leader) and its log file."""

    process: subprocess.Popen
    port: int
    metrics_port: int
    log: Path

    def url(self, path: str, metrics: bool = False) -> str:
        return f"http://127.0.0.1:{self.metrics_port if metrics else self.port}{path}"

    def get(self, path: str, metrics: bool = False, timeout: float = 10) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path, metrics), timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post(self, body: Any = None, raw: bytes | None = None, timeout: float = 30) -> tuple[int, Any]:
        """POST a Seldon message (or ``raw`` bytes) to the predictions path; (status, decoded JSON answer)."""
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(self.url(PREDICT_PATH), data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM the process group (gunicorn's master and workers), SIGKILL after ``timeout``; the exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


def start(model_dir: str | Path, log: str | Path, workers: int = 2, settings: Mapping[str, str] | None = None,
          timeout: float = 90, python: Path = SERVING_PYTHON) -> LocalServer:
    """Start the endpoint serving the export ``model_dir``; its output goes to ``log``.

    Raises
    ------
    FileNotFoundError
        The serving environment is not built (``make serving-env``).
    RuntimeError
        The server exited, or was not healthy within ``timeout`` seconds (the log's end is in the message).
    """
    if not Path(python).is_file():
        raise FileNotFoundError(f"{python} is missing: build the serving environment with `make serving-env`")
    port, metrics_port = free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CODING_POTENTIAL_SERVING_")},
           "SERVE_HOST": "127.0.0.1", "SERVE_PORT": str(port), "SERVE_METRICS_PORT": str(metrics_port),
           "SERVE_WORKERS": str(workers), "CODING_POTENTIAL_SERVING_MODEL_DIR": str(model_dir), **(settings or {})}
    log = Path(log)
    with log.open("w") as handle:
        process = subprocess.Popen([str(python), "-m", "seldon.launch"], cwd=REPO_ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = LocalServer(process, port, metrics_port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if server.get("/health/status", timeout=2)[0] == 200:
                return server
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"the server was not healthy after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(model_dir: str | Path, log: str | Path, **options: Any) -> Iterator[LocalServer]:
    """:func:`start`, then stop on the way out, whatever happened."""
    server = start(model_dir, log, **options)
    try:
        yield server
    finally:
        server.stop()
