"""Azurite, the Azure Storage emulator, for tests: a session fixture that runs its blob service.

Azurite is pinned in ``tools/azurite/package-lock.json`` and installed (``make azurite``, or by the fixture
itself on a fresh clone) under the git-ignored ``tools/azurite/node_modules/``. Import the fixture into a
test module::

    from tests.azurite import azurite  # noqa: F401  (a fixture)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "azurite"
BINARY = TOOLS / "node_modules" / ".bin" / "azurite-blob"
#: The emulator's well-known development account (public, documented by Microsoft; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#: Bounds, in seconds: installing from the lock, the emulator answering, the emulator stopping.
INSTALL_TIMEOUT = 300
START_TIMEOUT = 30
STOP_TIMEOUT = 10


def connection_string(port: int) -> str:
    """The connection string of the emulator's development account on ``127.0.0.1:port``."""
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_installed() -> Path:
    """The ``azurite-blob`` launcher, installed from the lock (``npm ci``) when missing.

    Fails the test (not a skip) when npm is not on the PATH or the install does not succeed.
    """
    if BINARY.exists():
        return BINARY
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"Azurite is not installed ({BINARY} is missing) and npm is not on the PATH: install "
                    "Node.js 20 with npm, then run `make azurite`", pytrace=False)
    command = [npm, "ci", "--prefix", str(TOOLS), "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(command)}` did not finish in {INSTALL_TIMEOUT} s", pytrace=False)
    if done.returncode != 0 or not BINARY.exists():
        pytest.fail(f"`{' '.join(command)}` failed (exit {done.returncode}):\n{done.stderr[-2000:]}", pytrace=False)
    return BINARY


def _wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    """Return once ``127.0.0.1:port`` accepts connections; fail if the process exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Azurite exited with status {process.returncode}:\n{log.read_text()[-2000:]}",
                        pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"Azurite did not answer on 127.0.0.1:{port} within {START_TIMEOUT} s:\n{log.read_text()[-2000:]}",
                pytrace=False)


def _stop(process: subprocess.Popen) -> None:
    """Terminate the emulator's whole process group (SIGTERM, then SIGKILL after a bounded wait)."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Azurite blob service on a free local port; yields its connection string."""
    binary = ensure_installed()
    workspace = tmp_path_factory.mktemp("azurite")
    log = workspace / "azurite.log"
    port = free_port()
    command = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(workspace),
               "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        _wait_until_listening(process, port, log)
        yield connection_string(port)
    finally:
        _stop(process)
