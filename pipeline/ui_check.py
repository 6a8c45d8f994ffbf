"""Look at a web page as a person would, in headless Chromium: wait until it shows something, read it, save a PNG.

Drives Debian's ``chromium`` over the Chrome DevTools protocol (``--remote-debugging-port``) with the
``websockets`` package the platform environment already has: no browser download, no driver. The page
is a live one (the Airflow UI is a React app that renders after its API calls return), so a check
waits until a JavaScript condition holds before it reads the DOM or takes the screenshot.

Usage::

    runs = grid_runs("http://127.0.0.1:8080", "coding_potential_scoring", Path("grid.png"), expected=3)
    # [GridRun(run_id='backfill__2026-01-01T00:00:00+00:00', state='success', ...), ...]

    screenshot("http://127.0.0.1:8080/dags", Path("dags.png"))
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
#: Headless, and quiet on a machine without outside network (no background connections at all).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-proxy-server",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class UiCheckError(RuntimeError):
    """Chromium did not start, a DevTools command failed, or the page never showed what was awaited."""


@dataclass(frozen=True)
class GridRun:
    """One run as the Airflow grid view shows it, read from the tooltip of its bar.

    Attributes
    ----------
    run_id : str
        The run's id (``Run ID:`` line of the tooltip).
    state : str
        The state the tooltip says (``State:`` line), lower case: ``success``, ``failed``, ``running``...
    logical_date : str
        The date the tooltip shows, as its ``<time datetime>`` (ISO 8601, e.g. ``2026-01-01T00:00:00Z``).
    text : str
        The tooltip's whole text (date, run id, state, duration), as a person reads it.
    """

    run_id: str
    state: str
    logical_date: str
    text: str

    @property
    def day(self) -> str:
        """The logical date's day, ``YYYY-MM-DD``."""
        return self.logical_date[:10]


def chromium_executable() -> str:
    """``$CODING_POTENTIAL_CHROMIUM``, else Debian's ``/usr/bin/chromium``, else ``chromium`` on the PATH.

    Returns
    -------
    str
        The browser's path.

    Raises
    ------
    UiCheckError
        If no Chromium is installed.
    """
    for candidate in (os.environ.get("CODING_POTENTIAL_CHROMIUM"), CHROMIUM, shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise UiCheckError("Chromium is not installed (Debian: apt-get install chromium)")


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol; a context manager.

    Parameters
    ----------
    width, height : int
        The viewport, in CSS pixels.
    timeout : float
        Seconds allowed for Chromium to start and for each DevTools command.
    executable : str | None
        The browser (``None``: :func:`chromium_executable`).
    """

    def __init__(self, width: int = 1600, height: int = 1000, timeout: float = 30.0, executable: str | None = None):
        self.width, self.height, self.timeout = width, height, timeout
        self.executable = executable or chromium_executable()
        self._profile: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        self._ids = itertools.count(1)

    def __enter__(self) -> Browser:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start Chromium with a fresh profile and attach to its page.

        Raises
        ------
        UiCheckError
            If Chromium exits or does not open its DevTools port in time.
        """
        self._profile = Path(tempfile.mkdtemp(prefix="cp-chromium-"))
        command = [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
                   f"--window-size={self.width},{self.height}", "about:blank"]
        log = (self._profile / "chromium.log").open("wb")
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        log.close()
        try:
            url = self._page_socket_url()
            self._socket = self._stack.enter_context(connect(url, max_size=None, open_timeout=self.timeout))
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.set_viewport(self.width, self.height)
        except BaseException:
            self.close()
            raise

    def _page_socket_url(self) -> str:
        """The DevTools WebSocket of the page Chromium opened (its port read from ``DevToolsActivePort``)."""
        port_file = self._profile / "DevToolsActivePort" if self._profile else None
        deadline = time.monotonic() + self.timeout
        while port_file is not None and time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            text = port_file.read_text() if port_file.is_file() else ""
            if text.count("\n") >= 1:
                page = self._first_page(int(text.splitlines()[0]))
                if page:
                    return page
            time.sleep(0.1)
        raise UiCheckError(f"Chromium did not open its DevTools port within {self.timeout:.0f} s\n{self.log_tail()}")

    def _first_page(self, port: int) -> str | None:
        """The WebSocket URL of the first page target listed on the DevTools HTTP endpoint, if any."""
        import urllib.request

        request = urllib.request.Request(f"http://127.0.0.1:{port}/json/list")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=5) as response:
                targets = json.load(response)
        except OSError:
            return None
        pages = [target for target in targets if target.get("type") == "page"]
        return str(pages[0]["webSocketDebuggerUrl"]) if pages else None

    def log_tail(self, lines: int = 20) -> str:
        """The end of Chromium's own output (for error messages)."""
        path = self._profile / "chromium.log" if self._profile else None
        if path is None or not path.is_file():
            return "(no Chromium log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """Close the connection, stop Chromium (its whole process group) and delete the profile."""
        self._stack.close()
        self._socket = None
        if self._process is not None:
            _stop_group(self._process, grace=5.0)
            self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    # ------------------------------------------------------------------------------ protocol
    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one DevTools command and return its result (events that arrive meanwhile are dropped).

        Parameters
        ----------
        method : str
            E.g. ``Page.navigate``.
        params : dict[str, Any] | None
            The command's parameters.

        Returns
        -------
        dict[str, Any]
            The command's ``result``.

        Raises
        ------
        UiCheckError
            If the command fails or gets no answer in time.
        """
        if self._socket is None:
            raise UiCheckError("the browser is not started")
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            reply = json.loads(self._socket.recv(timeout=left))
            if reply.get("id") != message_id:
                continue
            if "error" in reply:
                raise UiCheckError(f"{method} failed: {reply['error']}")
            return dict(reply.get("result", {}))
        raise UiCheckError(f"{method}: no answer within {self.timeout:.0f} s")

    def set_viewport(self, width: int, height: int) -> None:
        """Resize the page's viewport (CSS pixels).

        Parameters
        ----------
        width, height : int
            The new size.
        """
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def open(self, url: str) -> None:
        """Navigate the page to ``url`` (returns once the navigation has started; wait with :meth:`wait_for`).

        Parameters
        ----------
        url : str
            The address.

        Raises
        ------
        UiCheckError
            If the navigation fails outright (e.g. connection refused).
        """
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise UiCheckError(f"could not open {url}: {result['errorText']}")

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page and return its value (JSON-compatible).

        Parameters
        ----------
        expression : str
            The expression (a promise is awaited).

        Returns
        -------
        Any
            Its value.

        Raises
        ------
        UiCheckError
            If the expression throws.
        """
        result = self.send("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise UiCheckError(f"JavaScript error: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, what: str, interval: float = 0.5) -> Any:
        """Evaluate ``expression`` until it is truthy; return its value.

        Parameters
        ----------
        expression : str
            A JavaScript expression.
        timeout : float
            Seconds allowed.
        what : str
            What is awaited, for the error message.
        interval : float
            Seconds between tries.

        Returns
        -------
        Any
            The first truthy value.

        Raises
        ------
        UiCheckError
            After ``timeout`` seconds, with the page's address and visible text.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                shown = self.evaluate("location.href + '\\n' + (document.body ? document.body.innerText : '')")
                raise UiCheckError(f"timed out after {timeout:.0f} s waiting for {what}; the page shows:\n"
                                   f"{str(shown)[:3000]}")
            time.sleep(interval)

    def hover(self, x: float, y: float) -> None:
        """Move the mouse to a point of the viewport (CSS pixels), as a person pointing at something.

        Parameters
        ----------
        x, y : float
            The point.
        """
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def set_cookie(self, url: str, name: str, value: str) -> None:
        """Set a cookie for ``url``'s site (e.g. a login token) before opening it.

        Parameters
        ----------
        url : str
            An address of the site.
        name, value : str
            The cookie.
        """
        self.send("Network.setCookie", {"url": url, "name": name, "value": value, "path": "/"})

    def screenshot(self, png_path: str | Path, full_page: bool = True) -> Path:
        """Save the page as a PNG (the whole page, not just the viewport, with ``full_page``).

        Parameters
        ----------
        png_path : str | Path
            Where to write it (folders are created).
        full_page : bool
            Grow the viewport to the page's full size first (restored afterwards).

        Returns
        -------
        Path
            The PNG written.
        """
        path = Path(png_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            self.set_viewport(max(self.width, int(size["width"])), max(self.height, int(size["height"])))
        try:
            shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page})
        finally:
            if full_page:
                self.set_viewport(self.width, self.height)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process's group, SIGKILL it after ``grace`` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
            return


def screenshot(url: str, png_path: str | Path, *, ready: str = "document.readyState === 'complete'",
               timeout: float = 60.0, width: int = 1600, height: int = 1000) -> Path:
    """Open ``url`` in headless Chromium, wait until ``ready`` holds, and save a full-page PNG.

    Parameters
    ----------
    url : str
        The page.
    png_path : str | Path
        Where to write the PNG.
    ready : str
        A JavaScript expression that is truthy once the page shows what matters (default: loaded).
    timeout : float
        Seconds allowed for ``ready``.
    width, height : int
        The viewport.

    Returns
    -------
    Path
        The PNG written.
    """
    with Browser(width, height) as browser:
        browser.open(url)
        browser.wait_for(ready, timeout, f"{url} to be ready")
        return browser.screenshot(png_path)


# ---------------------------------------------------------------------------------- the Airflow grid
#: Each run's bar in the grid (the column header linking to ``/dags/<dag>/runs/<run_id>/``), with the
#: centre of its link: ``[{runId, x, y}]`` in the order shown (oldest left).
_RUN_BARS_JS = """(() => {
  const seen = new Set(), bars = [];
  for (const cell of document.querySelectorAll('[data-run-id]:not([data-task-id])')) {
    const runId = cell.dataset.runId;
    const link = [...cell.querySelectorAll('a[href]')].find(
      a => a.getAttribute('href').endsWith('/runs/' + runId + '/'));
    if (!link || seen.has(runId)) continue;
    seen.add(runId);
    link.scrollIntoView({block: 'nearest', inline: 'nearest'});
    const r = link.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) bars.push({runId, x: r.x + r.width / 2, y: r.y + r.height / 2});
  }
  return bars;
})()"""

#: The hover tooltip of run ``%s``: ``{text, datetime}`` or null while it is not shown.
_RUN_TOOLTIP_JS = """(() => {
  const runId = %s;
  const tip = [...document.querySelectorAll('[data-testid=basic-tooltip]')].find(
    e => e.innerText.includes('Run ID: ' + runId));
  if (!tip) return null;
  const time = tip.querySelector('time[datetime]');
  return {text: tip.innerText, datetime: time ? time.getAttribute('datetime') : ''};
})()"""


def grid_url(base_url: str, dag_id: str) -> str:
    """The Airflow 3 UI page of a DAG, whose left panel is the grid of its runs.

    Parameters
    ----------
    base_url : str
        The API server's address (``http://127.0.0.1:8080``).
    dag_id : str
        The DAG's id.

    Returns
    -------
    str
        ``<base_url>/dags/<dag_id>``.
    """
    return f"{base_url.rstrip('/')}/dags/{dag_id}"


def read_grid(browser: Browser, expected: int, timeout: float = 60.0) -> list[GridRun]:
    """Wait until the open grid shows at least ``expected`` runs; read each from its bar's tooltip.

    Each run bar is pointed at with the mouse, as a person would, and its tooltip (date, run id,
    state, duration) is read.

    Parameters
    ----------
    browser : Browser
        A browser showing a DAG's page (:func:`grid_url`).
    expected : int
        Runs to wait for.
    timeout : float
        Seconds allowed for the runs to appear (and for each tooltip).

    Returns
    -------
    list[GridRun]
        The runs shown, in the page's order (Airflow 3.3: newest first).

    Raises
    ------
    UiCheckError
        If fewer runs appear in time, or a tooltip does not.
    """
    check = f"(() => {{ const bars = {_RUN_BARS_JS}; return bars.length >= {int(expected)} ? bars : null; }})()"
    bars = browser.wait_for(check, timeout, f"{expected} runs in the grid")
    runs = [_read_run_bar(browser, bar, timeout) for bar in bars]
    browser.hover(0, 0)  # the tooltip goes away before any screenshot
    return runs


def _read_run_bar(browser: Browser, bar: dict[str, Any], timeout: float) -> GridRun:
    """Point at one run bar and read its tooltip."""
    browser.hover(float(bar["x"]), float(bar["y"]))
    tooltip = browser.wait_for(_RUN_TOOLTIP_JS % json.dumps(bar["runId"]), timeout,
                               f"the tooltip of run {bar['runId']}", interval=0.2)
    fields = dict(line.split(": ", 1) for line in tooltip["text"].splitlines() if ": " in line)
    return GridRun(run_id=fields.get("Run ID", bar["runId"]).strip(),
                   state=fields.get("State", "").strip().lower().replace(" ", "_"),
                   logical_date=str(tooltip["datetime"]), text=str(tooltip["text"]))


def grid_runs(base_url: str, dag_id: str, png_path: str | Path | None = None, *, expected: int = 1,
              timeout: float = 60.0, token: str | None = None,
              settled: Sequence[str] = ()) -> list[GridRun]:
    """Open a DAG's grid in headless Chromium, read what it shows for each run, save a full-page PNG.

    Parameters
    ----------
    base_url : str
        The Airflow API server (which serves the UI).
    dag_id : str
        The DAG.
    png_path : str | Path | None
        Where to save the screenshot (``None``: none).
    expected : int
        Runs to wait for.
    timeout : float
        Seconds allowed for the page (and again for ``settled``).
    token : str | None
        A JWT to log in with (cookie ``_token``); not needed in all-admins mode.
    settled : Sequence[str]
        If given, reload until every run shown is in one of these states (e.g. ``("success",
        "failed")``), within ``timeout``.

    Returns
    -------
    list[GridRun]
        The runs, in the page's order (Airflow 3.3: newest first).
    """
    url = grid_url(base_url, dag_id)
    with Browser() as browser:
        if token:
            browser.set_cookie(url, "_token", token)
        deadline = time.monotonic() + timeout
        while True:
            browser.open(url)
            runs = read_grid(browser, expected, timeout)
            if not settled or all(run.state in settled for run in runs) or time.monotonic() > deadline:
                break
            time.sleep(2)
        if png_path is not None:
            browser.screenshot(png_path)
    return runs
