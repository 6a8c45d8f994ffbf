"""Ingestion: copy one day's FASTA from the landing zone into the raw partition, and record what came.

The landing zone (``source``) is either

- a local folder (``file:///.../landing`` or a plain path): the day's files are in ``<source>/<YYYY-MM-DD>/``;
- an Azure Blob Storage container, ``wasb://<container>`` or ``wasb://<container>/<prefix>``, reached through
  the Airflow Azure provider's ``WasbHook`` and its connection (``AIRFLOW_CONN_WASB_DEFAULT`` by default): the
  day's blobs are those under ``<prefix>/<YYYY-MM-DD>/``.

Only FASTA names are taken (:data:`FASTA_NAME`); anything else under the day's prefix is reported as
``ignored``, as are hidden names (a path component starting with ``.``). Each file keeps its base name in the
raw partition; base names that clash keep their path under the day's prefix instead (``a/b.fa`` ->
``a__b.fa``), and characters outside ``[A-Za-z0-9._+-]`` become ``_``.

The raw partition mirrors the day's listing: a rerun downloads only new or changed files (a blob's etag and
size, a local file's ``mtime_ns`` and size, against ``_inputs.json``) and deletes the files it wrote earlier
whose source is gone. Files in the partition that ``_inputs.json`` does not list are left alone.

A day with no FASTA is a clean no-op (``skip: True``): the raw partition, whether or not an earlier run
filled it, is left exactly as it is, so an upstream outage that empties the listing cannot wipe ingested data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import date as Date
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol
from urllib.parse import urlparse

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from . import lake

log = logging.getLogger(__name__)

#: FASTA file names: these suffixes, each optionally gzipped, in any case.
FASTA_NAME = re.compile(r"\.(fa|fasta|fna|fas|txt)(\.gz)?$", re.IGNORECASE)
#: Bytes read or downloaded per request: the most of one file held in memory at a time.
CHUNK_SIZE = 4 * 1024 * 1024
#: Bounds on every Blob Storage request (per call; they override the client's retry count and timeouts).
#: Back-off between retries is the client's (15 s, then 18 s, by default); a connection's extras can set
#: ``initial_backoff``, ``increment_base`` and ``random_jitter_range``.
CALL_OPTIONS: dict[str, Any] = {"retry_total": 2, "connection_timeout": 10, "read_timeout": 60}
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
_TEMP_MARK = ".ingest-"


class SourceError(RuntimeError):
    """The landing source cannot be reached, does not exist, or changed while it was being read."""


@dataclass(frozen=True)
class Landed:
    """One file found under the day's prefix of the landing zone.

    Attributes
    ----------
    relative
        Its path under the day's prefix (``/``-separated).
    origin
        The blob's URL, or the local file's absolute path.
    etag
        The blob's etag, or the local file's ``mtime_ns`` (as text).
    size
        Its size in bytes.
    last_modified
        When it last changed (ISO 8601, UTC).
    md5
        The blob's ``Content-MD5`` in hex, where it has one.
    """

    relative: str
    origin: str
    etag: str
    size: int
    last_modified: str
    md5: str | None = None


class Source(Protocol):
    """A landing zone narrowed to one day: what is there, and each file's bytes."""

    where: str

    def listing(self) -> list[Landed]:
        """Every file under the day's prefix, FASTA or not."""
        ...

    def chunks(self, item: Landed) -> Iterator[bytes]:
        """The bytes of one listed file, in pieces of at most :data:`CHUNK_SIZE`."""
        ...


def ingest(date: str, raw_partition: str, source: str, conn_id: str = "wasb_default") -> dict[str, Any]:
    """Copy the day's FASTA files from ``source`` into ``raw_partition`` and record them in ``_inputs.json``.

    Parameters
    ----------
    date
        The logical date, ``YYYY-MM-DD``: the name of the day's folder (or blob prefix) in the landing zone.
    raw_partition
        The raw partition's URI (``file://`` or a plain path; another fsspec URI such as ``abfss://``
        where its filesystem is installed), from :func:`pipeline.lake.partition`.
    source
        The landing zone: a local folder (URI or path), or ``wasb://<container>[/<prefix>]``.
    conn_id
        The Airflow connection of a ``wasb://`` source.

    Returns
    -------
    dict
        ``date``, ``raw`` (the partition), ``inputs`` (the entries of ``_inputs.json``), ``ingested`` (files
        copied this time), ``unchanged``, ``removed``, ``ignored`` (names under the day's prefix that are not
        FASTA, or hidden) and ``skip`` (true when no FASTA landed for the date: nothing was touched).

    Raises
    ------
    SourceError
        When the source cannot be reached or does not exist, or a file changes while it is copied.
    ValueError
        For a date that is not ``YYYY-MM-DD``, an unknown source scheme, or two files that would get the
        same name in the raw partition.
    """
    _check_date(date)
    landing = open_source(source, date, conn_id)
    wanted, ignored = select(landing.listing())
    for name in ignored:
        log.info("ignoring %s/%s: hidden, or not a FASTA name", landing.where.rstrip("/"), name)
    if not wanted:
        log.warning("nothing landed for %s: no FASTA under %s; raw partition %s left as it is",
                    date, landing.where, raw_partition)
        return _result(date, raw_partition, [], ignored, skip=True)
    fs, root = _raw_fs(raw_partition)
    counts, inputs = _sync(fs, root, landing, raw_names(wanted))
    _write_json(fs, _join(root, lake.INPUTS_FILE), {"date": date, "source": source, "inputs": inputs})
    log.info("ingested %s for %s from %s: %d copied, %d unchanged, %d removed, %d ignored", raw_partition,
             date, landing.where, counts["ingested"], counts["unchanged"], counts["removed"], len(ignored))
    return _result(date, raw_partition, inputs, ignored, skip=False, **counts)


def open_source(source: str, date: str, conn_id: str = "wasb_default") -> Source:
    """The landing zone ``source`` narrowed to ``date``: a :class:`BlobSource` or a :class:`LocalSource`.

    In ``wasb://<container>@<account>.blob.core.windows.net/<prefix>`` only the container and prefix count:
    the storage account is the connection's.

    Raises
    ------
    ValueError
        For a scheme that is neither ``wasb``/``wasbs``, ``file`` nor a plain path.
    """
    parsed = urlparse(source)
    if parsed.scheme in ("wasb", "wasbs"):
        container = parsed.netloc.split("@")[0]
        return BlobSource(container, parsed.path.strip("/"), date, conn_id)
    if parsed.scheme in ("", "file"):
        return LocalSource(lake.local_path(source), date)
    raise ValueError(f"unsupported landing source {source!r}: use wasb://<container>[/<prefix>] or a local folder")


def is_taken(relative: str) -> bool:
    """Whether a landed file is ingested: a FASTA name (:data:`FASTA_NAME`), no hidden path component."""
    parts = PurePosixPath(relative).parts
    return bool(parts) and not any(part.startswith(".") for part in parts) and bool(FASTA_NAME.search(parts[-1]))


def select(listing: list[Landed]) -> tuple[list[Landed], list[str]]:
    """Split a day's listing into the FASTA files to take and the names to ignore (sorted)."""
    wanted = [item for item in listing if is_taken(item.relative)]
    ignored = [item.relative for item in listing if not is_taken(item.relative)]
    return wanted, sorted(ignored)


def raw_names(wanted: list[Landed]) -> dict[str, Landed]:
    """The name each file gets in the raw partition: its base name, or its flattened path where base names clash.

    Raises
    ------
    ValueError
        When two files would still get the same name.
    """
    clashes = Counter(PurePosixPath(item.relative).name for item in wanted)
    names: dict[str, Landed] = {}
    for item in wanted:
        base = PurePosixPath(item.relative).name
        name = _UNSAFE.sub("_", base if clashes[base] == 1 else item.relative.replace("/", "__"))
        if name in names:
            raise ValueError(f"{item.relative!r} and {names[name].relative!r} would both be {name!r} in raw")
        names[name] = item
    return names


class LocalSource:
    """A landing folder on this machine; the day's files are in ``<folder>/<date>/`` (and below)."""

    def __init__(self, folder: Path, date: str) -> None:
        self.folder = Path(folder).expanduser().absolute()
        self.day = self.folder / date
        self.where = f"{self.day}/"

    def listing(self) -> list[Landed]:
        """Every file under the day's folder; none when that folder does not exist.

        Raises
        ------
        SourceError
            When the landing folder itself does not exist.
        """
        if not self.folder.is_dir():
            raise SourceError(f"landing folder {self.folder} does not exist (or is not a folder)")
        if not self.day.is_dir():
            return []
        return [self._landed(path) for path in sorted(self.day.rglob("*")) if path.is_file()]

    def chunks(self, item: Landed) -> Iterator[bytes]:
        """The file's bytes, read :data:`CHUNK_SIZE` at a time."""
        with open(item.origin, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    def _landed(self, path: Path) -> Landed:
        stat = path.stat()
        modified = datetime.fromtimestamp(stat.st_mtime_ns / 1e9, UTC).isoformat()
        return Landed(path.relative_to(self.day).as_posix(), str(path), str(stat.st_mtime_ns), stat.st_size,
                      modified)


class BlobSource:
    """An Azure Blob Storage container, through ``WasbHook``; the day's blobs are under ``<prefix>/<date>/``."""

    def __init__(self, container: str, prefix: str, date: str, conn_id: str = "wasb_default") -> None:
        from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

        self.container = container
        self.day_prefix = f"{prefix}/{date}/" if prefix else f"{date}/"
        self.where = f"wasb://{container}/{self.day_prefix}"
        self.conn_id = conn_id
        self.hook = WasbHook(wasb_conn_id=conn_id)

    def listing(self) -> list[Landed]:
        """Every blob under the day's prefix (directory markers, names ending in ``/``, left out).

        Raises
        ------
        SourceError
            When the connection is not defined, the storage account cannot be reached or refuses the
            request, or the container does not exist.
        """
        with self._errors("list"):
            client = self.hook.blob_service_client.get_container_client(self.container)
            blobs = list(client.list_blobs(name_starts_with=self.day_prefix, **CALL_OPTIONS))
            return [self._landed(client, blob) for blob in blobs if not blob.name.endswith("/")]

    def chunks(self, item: Landed) -> Iterator[bytes]:
        """The blob's bytes, one ranged request per :data:`CHUNK_SIZE`, each pinned to the listed etag.

        Raises
        ------
        SourceError
            When the blob changed or vanished since it was listed, or the download fails.
        """
        from azure.core import MatchConditions

        name = self.day_prefix + item.relative
        with self._errors(f"download {name} from"):
            for offset in range(0, item.size, CHUNK_SIZE):
                stream = self.hook.download(self.container, name, offset=offset,
                                            length=min(CHUNK_SIZE, item.size - offset), etag=item.etag,
                                            match_condition=MatchConditions.IfNotModified, **CALL_OPTIONS)
                yield from stream.chunks()

    def _landed(self, client: Any, blob: Any) -> Landed:
        md5 = blob.content_settings.content_md5
        # A listing's etag is bare (0x8D...), a blob's ETag header quoted ("0x8D..."): keep the bare form.
        return Landed(blob.name[len(self.day_prefix):], client.get_blob_client(blob.name).url, blob.etag.strip('"'),
                      blob.size, blob.last_modified.isoformat(), bytes(md5).hex() if md5 else None)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn the provider's and the storage client's errors into a :class:`SourceError` naming the source."""
        from airflow.exceptions import AirflowNotFoundException
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError

        try:
            yield
        except AirflowNotFoundException as error:
            raise SourceError(f"cannot {action} {self.where}: Airflow connection {self.conn_id!r} is not defined "
                              f"(set AIRFLOW_CONN_{self.conn_id.upper()})") from error
        except ResourceModifiedError as error:
            raise SourceError(f"cannot {action} {self.where}: the blob changed while it was being ingested; "
                              "run again") from error
        except ResourceNotFoundError as error:
            what = "container does not exist" if error.error_code == "ContainerNotFound" else "not found"
            raise SourceError(f"cannot {action} {self.where}: {what} (connection {self.conn_id!r})") from error
        except AzureError as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise SourceError(f"cannot {action} {self.where} (connection {self.conn_id!r}): {reason}") from error


def _check_date(date: str) -> None:
    """Raise ``ValueError`` unless ``date`` is a real ``YYYY-MM-DD`` date."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date or ""):
        raise ValueError(f"logical date must be YYYY-MM-DD, not {date!r}")
    Date.fromisoformat(date)


def _raw_fs(raw_partition: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem and root path of the raw partition (see :func:`pipeline.lake.filesystem`)."""
    return lake.filesystem(raw_partition)


def _join(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}"


def _sync(fs: AbstractFileSystem, root: str, landing: Source,
          names: dict[str, Landed]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Make the raw partition hold exactly ``names``: copy what is new or changed, delete what is gone."""
    fs.makedirs(root, exist_ok=True)
    _remove_stale_temps(fs, root)
    previous = _read_record(fs, _join(root, lake.INPUTS_FILE))
    counts = {"ingested": 0, "unchanged": 0, "removed": 0}
    inputs = []
    for name, item in sorted(names.items()):
        path, entry = _join(root, name), previous.get(name)
        if _unchanged(fs, path, entry, item):
            counts["unchanged"] += 1
        else:
            _copy(fs, landing, item, path)
            counts["ingested"] += 1
        inputs.append(_entry(fs, name, path, item, entry))
    counts["removed"] = _remove_gone(fs, root, set(previous) - set(names))
    return counts, inputs


def _unchanged(fs: AbstractFileSystem, path: str, entry: dict[str, Any] | None, item: Landed) -> bool:
    """Whether the recorded copy of ``item`` is still current (same origin, etag and size; file present)."""
    recorded = entry and (entry.get("origin"), entry.get("etag"), entry.get("size"))
    if recorded != (item.origin, item.etag, item.size):
        return False
    return fs.exists(path) and fs.size(path) == item.size


def _copy(fs: AbstractFileSystem, landing: Source, item: Landed, path: str) -> None:
    """Stream ``item`` into a temporary file beside ``path``, check its size and MD5, then rename it."""
    digest, size = hashlib.md5(usedforsecurity=False), 0
    with _atomic(fs, path) as handle:
        for chunk in landing.chunks(item):
            digest.update(chunk)
            size += len(chunk)
            handle.write(chunk)
        if size != item.size or (item.md5 and digest.hexdigest() != item.md5):
            raise SourceError(f"{item.origin}: got {size} bytes (MD5 {digest.hexdigest()}), listed as "
                              f"{item.size} bytes (MD5 {item.md5}); it changed while it was copied, run again")
    log.info("copied %s (%d bytes) to %s", item.origin, size, path)


def _entry(fs: AbstractFileSystem, name: str, path: str, item: Landed,
           previous: dict[str, Any] | None) -> dict[str, Any]:
    """The ``_inputs.json`` entry of one file (a label or species set earlier is kept)."""
    previous = previous or {}
    return {"name": name, "path": path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path),
            "label": previous.get("label"), "species": previous.get("species"), "origin": item.origin,
            "etag": item.etag, "size": item.size, "last_modified": item.last_modified, "md5": item.md5}


def _remove_gone(fs: AbstractFileSystem, root: str, gone: set[str]) -> int:
    """Delete the recorded files whose source is gone; their number."""
    for name in sorted(gone):
        path = _join(root, name)
        if fs.exists(path):
            fs.rm(path)
        log.info("removed %s: it is no longer in the landing zone", path)
    return len(gone)


def _remove_stale_temps(fs: AbstractFileSystem, root: str) -> None:
    """Delete temporary files an interrupted run left behind."""
    try:
        listed = fs.ls(root, detail=False)
    except FileNotFoundError:  # an object store has no empty folders: nothing was written there yet
        return
    for path in listed:
        name = PurePosixPath(path).name
        if name.startswith(".") and _TEMP_MARK in name and name.endswith(".tmp"):
            fs.rm(path)


def _read_record(fs: AbstractFileSystem, path: str) -> dict[str, dict[str, Any]]:
    """The entries of an earlier ``_inputs.json`` by name; none when it is missing or unreadable."""
    if not fs.exists(path):
        return {}
    try:
        with fs.open(path, "rb") as handle:
            return {entry["name"]: entry for entry in json.load(handle)["inputs"]}
    except (ValueError, KeyError, TypeError) as error:
        log.warning("ignoring unreadable %s (%s): every file is copied again", path, error)
        return {}


def _write_json(fs: AbstractFileSystem, path: str, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically."""
    with _atomic(fs, path) as handle:
        handle.write(json.dumps(document, indent=2).encode() + b"\n")


@contextmanager
def _atomic(fs: AbstractFileSystem, path: str) -> Iterator[IO[bytes]]:
    """Yield a handle on a hidden temporary file beside ``path``; rename it onto ``path`` when the block succeeds."""
    parent, name = path.rsplit("/", 1)
    temp = f"{parent}/.{name}{_TEMP_MARK}{uuid.uuid4().hex}.tmp"
    try:
        with fs.open(temp, "wb") as handle:
            yield handle
        fs.mv(temp, path)
    finally:
        if fs.exists(temp):
            fs.rm(temp)


def _result(date: str, raw: str, inputs: list[dict[str, Any]], ignored: list[str], *, skip: bool,
            ingested: int = 0, unchanged: int = 0, removed: int = 0) -> dict[str, Any]:
    return {"date": date, "raw": raw, "inputs": inputs, "ingested": ingested, "unchanged": unchanged,
            "removed": removed, "ignored": ignored, "skip": skip}
