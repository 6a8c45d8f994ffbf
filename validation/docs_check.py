"""Read GX Data Docs as a person would, in headless Chromium: wait for the results, read them, save a PNG.

Uses :class:`pipeline.ui_check.Browser`. The index page draws its results table with jQuery and
bootstrap-table once its scripts have loaded; a status is shown as an icon (Font Awesome's check or
cross, with GX's ``ge-success-icon`` / ``ge-failed-icon`` class), which is read from the DOM. Open a
copy made by :func:`validation.docs_site.copy_site` (as :func:`validation.report.write_report` makes):
GX's own site loads those scripts from CDNs, and the check blocks every outside address by default.

Usage::

    shown = check_data_docs("report/data_docs/index.html", "index.png", ["coding_potential.training"])
    shown["suites"]   # {"coding_potential.training": ["failed"]}
    page = check_validation_page(shown["runs"][0]["page"], "run.png")
    page["status"], [e["rule"] for e in page["expectations"] if e["status"] == "failed"]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pipeline.ui_check import Browser, UiCheckError

#: What a page may fetch: its own files only (a report folder must read offline).
BLOCKED = ["http://*", "https://*"]

#: The runs shown in the index's results table, or null until bootstrap-table has drawn its rows.
_INDEX_RUNS_JS = """(() => {
  const table = document.querySelector('table.ge-index-page-validation-results-table');
  if (!table || !window.jQuery || !jQuery.fn.bootstrapTable) return null;
  const fields = [...table.querySelectorAll('thead th[data-field]')].map(th => th.dataset.field);
  const rows = [...table.querySelectorAll('tbody tr[data-index]')];
  if (!rows.length) return null;
  return rows.map(tr => {
    const cells = {};
    [...tr.children].forEach((td, i) => { cells[fields[i]] = td; });
    const text = field => cells[field] ? cells[field].innerText.trim() : '';
    const icon = cells.validation_success ? cells.validation_success.querySelector('i') : null;
    return {suite: text('expectation_suite_name'), run_name: text('run_name'), run_time: text('run_time'),
            asset: text('asset_name'), batch: text('batch_identifier'),
            icon: icon ? icon.className : '', href: tr.dataset.href || ''};
  });
})()"""

#: Scripts that never loaded: the table stays empty, for good.
_SCRIPTS_MISSING_JS = "document.readyState === 'complete' && !(window.jQuery && jQuery.fn.bootstrapTable)"

#: A validation result page: its overall status icon and one entry per expectation row.
_RESULT_PAGE_JS = """(() => {
  const label = [...document.querySelectorAll('span.h6')].find(s => s.innerText.trim() === 'Status:');
  const statusIcon = label && label.nextElementSibling && label.nextElementSibling.tagName === 'I'
    ? label.nextElementSibling.className : '';
  const expectations = [];
  for (const td of document.querySelectorAll('td')) {
    const icon = td.querySelector(':scope > div > span > i.fas, :scope > span > i.fas');
    const rule = td.nextElementSibling;
    if (!icon || !rule || td.previousElementSibling) continue;
    const first = rule.querySelector('span');
    expectations.push({icon: icon.className, rule: (first ? first.innerText : rule.innerText).trim(),
                       text: rule.innerText.trim()});
  }
  return {status_icon: statusIcon, expectations, title: document.title};
})()"""

#: Fonts (the icon font among them) loaded: an icon is visible in a screenshot only then.
_FONTS_JS = "document.fonts.ready.then(() => document.fonts.status === 'loaded')"
_ICON_FONT_JS = "document.fonts.check('900 16px \"Font Awesome 6 Free\"')"


def check_data_docs(index_html: str | Path, png_path: str | Path, suite_names: list[str], *,
                    timeout: float = 30.0, offline: bool = True) -> dict[str, Any]:
    """Open a Data Docs index in headless Chromium, read its validation results, save a screenshot.

    Parameters
    ----------
    index_html : str | Path
        The site's ``index.html`` (a copy made by :func:`validation.docs_site.copy_site`).
    png_path : str | Path
        Where to save the full-page screenshot.
    suite_names : list[str]
        The expectation suites to report on (e.g. ``["coding_potential.training"]``).
    timeout : float
        Seconds allowed for the results table to appear.
    offline : bool
        Block every ``http(s)`` address, as a reader without network would see the page.

    Returns
    -------
    dict[str, Any]
        ``url``; ``screenshot`` (the PNG's path); ``text`` (the page's visible text); ``runs``: one dict
        per row of the results table's first page, newest first, with ``suite``, ``run_name``,
        ``run_time``, ``asset``, ``status`` (``succeeded``/``failed``, from its icon) and ``page`` (the
        run's result page, an absolute path); ``suites``: for each of ``suite_names``, the statuses of its
        rows in page order (empty when not shown); ``missing``: the suite names with no row;
        ``icons_rendered``: whether the icon font loaded (the screenshot shows the status icons).

    Raises
    ------
    UiCheckError
        If Chromium is missing, or the results table is not drawn in time (e.g. its scripts did not load).
    """
    index = Path(index_html).resolve()
    with _browser(offline) as browser:
        browser.open(index.as_uri())
        rows = browser.wait_for(f"{_INDEX_RUNS_JS} || ({_SCRIPTS_MISSING_JS} ? 'missing' : null)", timeout,
                                f"the validation results table of {index}")
        if rows == "missing":
            raise UiCheckError(f"{index}: the page's scripts (jQuery, bootstrap-table) did not load, so it shows "
                               f"no results table; open a copy made by validation.docs_site.copy_site")
        shown = _read_page(browser, png_path)
    runs = [_run(row, index.parent) for row in rows]
    suites = {name: [run["status"] for run in runs if run["suite"] == name] for name in suite_names}
    return {"url": index.as_uri(), **shown, "runs": runs, "suites": suites,
            "missing": [name for name, statuses in suites.items() if not statuses]}


def check_validation_page(page_html: str | Path, png_path: str | Path, *, timeout: float = 30.0,
                          offline: bool = True) -> dict[str, Any]:
    """Open one validation result page of Data Docs, read its status and expectations, save a screenshot.

    Parameters
    ----------
    page_html : str | Path
        The page (``runs[i]["page"]`` of :func:`check_data_docs`).
    png_path : str | Path
        Where to save the full-page screenshot.
    timeout : float
        Seconds allowed for the page to load.
    offline : bool
        Block every ``http(s)`` address.

    Returns
    -------
    dict[str, Any]
        ``url``, ``screenshot``, ``text``, ``icons_rendered`` as for :func:`check_data_docs`; ``status``
        (``succeeded``/``failed``, from the icon after "Status:"); ``expectations``: one dict per
        expectation row, in page order, with ``status``, ``rule`` (what the row says the rule is: its
        description) and ``text`` (the whole cell, with the unexpected values).
    """
    page = Path(page_html).resolve()
    with _browser(offline) as browser:
        browser.open(page.as_uri())
        browser.wait_for("document.readyState === 'complete'", timeout, f"{page} to load")
        read = browser.evaluate(_RESULT_PAGE_JS)
        shown = _read_page(browser, png_path)
    expectations = [{"status": _status(e["icon"]), "rule": e["rule"], "text": e["text"]}
                    for e in read["expectations"]]
    return {"url": page.as_uri(), **shown, "status": _status(read["status_icon"]), "expectations": expectations}


@contextlib.contextmanager
def _browser(offline: bool) -> Iterator[Browser]:
    """A started browser; with ``offline``, every outside address is blocked."""
    with Browser(width=1400, height=900) as browser:
        if offline:
            browser.send("Network.enable")
            browser.send("Network.setBlockedURLs", {"urls": BLOCKED})
        yield browser


def _read_page(browser: Browser, png_path: str | Path) -> dict[str, Any]:
    """Wait for the fonts, then the page's text, whether the icon font rendered, and a full-page PNG."""
    browser.wait_for(_FONTS_JS, 10.0, "the page's fonts")
    return {"text": browser.evaluate("document.body.innerText"),
            "icons_rendered": bool(browser.evaluate(_ICON_FONT_JS)),
            "screenshot": str(browser.screenshot(png_path))}


def _run(row: dict[str, Any], site: Path) -> dict[str, Any]:
    """One row of the results table: its fields, the status its icon shows, and its page's path."""
    return {"suite": row["suite"], "run_name": row["run_name"], "run_time": row["run_time"],
            "asset": row["asset"], "status": _status(row["icon"]),
            "page": str(site / unquote(row["href"])) if row["href"] else None}


def _status(icon_classes: str) -> str:
    """``succeeded``, ``failed`` or ``unknown``, from a GX status icon's classes."""
    classes = set(icon_classes.split())
    if classes & {"ge-success-icon", "fa-check-circle", "text-success"}:
        return "succeeded"
    if classes & {"ge-failed-icon", "fa-times", "text-danger"}:
        return "failed"
    return "unknown"
