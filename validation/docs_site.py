"""Copy a GX Data Docs site into a report folder so that it reads offline.

Data Docs pages load jQuery, bootstrap-table, Bootstrap and Font Awesome from public CDNs: without them
the index shows an empty results table and no status icons. :func:`copy_site` copies the site, adds
the copies shipped in ``validation/data_docs_static/`` (see its README) under ``static/vendor/``, and
points every page at them. Addresses it has no copy for (vega, the dark theme) are left as they are.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .gate import gx_lock, gx_root

#: The shipped assets (see the folder's README for versions and licenses).
STATIC = Path(__file__).with_name("data_docs_static")
#: Where a copied site holds them, relative to its root.
VENDOR = "static/vendor"

#: The CDN addresses of the GX 1.24 Data Docs templates, and the shipped file for each (under STATIC).
CDN_FILES = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "js/jquery-3.7.1.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "js/popper-1.12.9.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "js/bootstrap-4.3.1.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "css/bootstrap-4.3.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "js/bootstrap-table-1.19.1.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "css/bootstrap-table-1.19.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "js/bootstrap-table-filter-control-1.19.1.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "css/bootstrap-table-filter-control-1.19.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "css/bootstrap-table-filter-control-1.19.1.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "js/bootstrap-datepicker-1.9.0.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "css/bootstrap-datepicker-1.9.0.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "css/fontawesome-6.6.0.all.min.css",
}
#: The GX logo, fetched from GX's web-assets bucket with the context's id in the query: the site has a copy.
_LOGO = re.compile(r"https://great-expectations-web-assets\.[^\"'\s]*/logo-long\.png[^\"'\s]*")
#: An ``src``/``href`` attribute with one of :data:`CDN_FILES`, and the integrity and crossorigin attributes
#: that follow it (a local file must not carry them: a ``file://`` page cannot make CORS requests).
_ASSET = re.compile(r'(?P<attr>src|href)="(?P<url>https://[^"]+)"(?:\s+integrity="[^"]*")?(?:\s+crossorigin="[^"]*")?')


def copy_site(index_html: str | Path, dest: str | Path) -> Path:
    """Copy the Data Docs site of ``index_html`` to ``dest``, with its CDN assets shipped alongside.

    The copy is made beside ``dest`` and moved into place, replacing an earlier copy, so a reader never
    sees a half-written site.

    Parameters
    ----------
    index_html : str | Path
        The site's ``index.html`` (its folder is the site).
    dest : str | Path
        The folder the copy becomes.

    Returns
    -------
    Path
        The copy's ``index.html``.
    """
    site, dest = Path(index_html).parent, Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with _gx_lock(site):
            shutil.copytree(site, staging, dirs_exist_ok=True)
        shutil.copytree(STATIC, staging / VENDOR, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("README.md"))
        localize(staging)
        _swap(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest / Path(index_html).name


def localize(site: str | Path) -> int:
    """Point every page of a site (which holds :data:`VENDOR`) at the shipped assets.

    Parameters
    ----------
    site : str | Path
        The site's root folder.

    Returns
    -------
    int
        The number of pages changed.
    """
    root = Path(site)
    return sum(_localize_page(page, root) for page in sorted(root.rglob("*.html")))


def _localize_page(page: Path, root: Path) -> bool:
    """Rewrite one page's asset addresses relative to it; True if it changed."""
    up = Path(os.path.relpath(root, page.parent)).as_posix()

    def local(match: re.Match[str]) -> str:
        shipped = CDN_FILES.get(match["url"])
        return f'{match["attr"]}="{up}/{VENDOR}/{shipped}"' if shipped else match[0]

    text = page.read_text(encoding="utf-8")
    changed = _LOGO.sub(f"{up}/static/images/logo-long.png", _ASSET.sub(local, text))
    if changed == text:
        return False
    page.write_text(changed, encoding="utf-8")
    return True


def _swap(staging: Path, dest: Path) -> None:
    """Move ``staging`` to ``dest``; an existing ``dest`` is moved aside first, then deleted."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
        os.replace(dest, old / dest.name)
    os.replace(staging, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _gx_lock(site: Path) -> Iterator[None]:
    """Hold the GX context's lock (:func:`validation.gate.gx_lock`) while reading a site under it."""
    if not (gx_root() / ".lock").is_file() or not site.resolve().is_relative_to(gx_root().resolve()):
        yield
        return
    with gx_lock():
        yield
