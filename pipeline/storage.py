"""Reading and replacing lake partitions through one interface, on this machine or in ADLS Gen2.

A step writes a partition inside :func:`replaced_partition`: into a staging folder beside it, which
replaces the partition when the step succeeds. Locally the swap is two renames
(:func:`pipeline.files.replaced_folder`): a reader sees the old partition or the new one. Through the Blob
API (``adlfs``, which ``abfss://`` URIs use, and Azurite in the tests) a folder move copies each file, so
the swap is short but not atomic: readers of a remote lake should read after the task succeeded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from . import lake
from .files import replaced_folder


@dataclass(frozen=True)
class Folder:
    """A folder of the lake: its file system, its path there, and its URI."""

    fs: AbstractFileSystem
    path: str
    uri: str

    def child(self, name: str) -> Folder:
        """The folder (or file) ``name`` inside this one."""
        return Folder(self.fs, f"{self.path}/{name}", f"{self.uri}/{name}")

    def open(self, name: str, mode: str = "rb") -> IO[Any]:
        """Open the file ``name`` of this folder (its parent folders are created for writing)."""
        path = f"{self.path}/{name}"
        if "w" in mode:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        return self.fs.open(path, mode)

    def write_parquet(self, table: pa.Table, name: str, row_group_size: int | None = None) -> None:
        with self.open(name, "wb") as handle:
            pq.write_table(table, handle, row_group_size=row_group_size)

    def write_json(self, name: str, document: dict[str, Any]) -> None:
        with self.open(name, "wb") as handle:
            handle.write(json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")

    def read_json(self, name: str) -> dict[str, Any]:
        with self.open(name) as handle:
            return json.load(handle)

    def put(self, local: str | Path, name: str) -> None:
        """Copy the local file ``local`` to ``name`` in this folder."""
        self.fs.makedirs(self.path, exist_ok=True)
        self.fs.put_file(str(local), f"{self.path}/{name}")


def folder(uri: str) -> Folder:
    """The lake folder at ``uri``."""
    fs, path = lake.filesystem(uri)
    return Folder(fs, path, uri.rstrip("/"))


def open_input(uri_or_path: str) -> IO[bytes]:
    """Open an input file named in ``_inputs.json`` (a local path or a lake URI) for reading."""
    fs, path = lake.filesystem(uri_or_path)
    return fs.open(path, "rb")


def read_partition(uri: str, columns: list[str] | None = None) -> pa.Table:
    """A partition as one table; ``species=NAME/`` folders come back as the ``species`` column.

    Files whose names start with ``_`` or ``.`` (summaries, Spark's markers, staging) are not data.
    """
    import pyarrow.dataset as ds

    fs, path = lake.filesystem(uri)
    filesystem = None if isinstance(fs, LocalFileSystem) else fs
    table = ds.dataset(path, filesystem=filesystem, format="parquet", partitioning="hive").to_table(columns=columns)
    if "species" in table.column_names and table.schema.field("species").type != pa.string():
        table = table.set_column(table.column_names.index("species"), "species",
                                 table.column("species").cast(pa.string()))
    return table


@contextmanager
def replaced_partition(uri: str) -> Iterator[Folder]:
    """Yield an empty staging folder beside the partition ``uri``; it replaces the partition when the
    block succeeds (see the module docstring); a failed block leaves the partition as it was."""
    fs, path = lake.filesystem(uri)
    if isinstance(fs, LocalFileSystem):
        with replaced_folder(path) as staging:
            yield Folder(fs, str(staging), staging.as_uri())
        return
    parent, name = path.rsplit("/", 1)
    parent_uri = uri.rstrip("/").rsplit("/", 1)[0]
    for pattern in (f"_staging-{name}-*", f"_replaced-{name}-*"):  # leftovers of a killed run of this partition
        for leftover in fs.glob(f"{parent}/{pattern}"):
            fs.rm(leftover, recursive=True)
    staging_name = f"_staging-{name}-{uuid.uuid4().hex}"
    staging = Folder(fs, f"{parent}/{staging_name}", f"{parent_uri}/{staging_name}")
    try:
        yield staging
        old = f"{parent}/_replaced-{name}-{uuid.uuid4().hex}"
        _move_files(fs, path, old)
        _move_files(fs, staging.path, path)
        if fs.exists(old):
            fs.rm(old, recursive=True)
    finally:
        if fs.exists(staging.path):
            fs.rm(staging.path, recursive=True)


def remove_partition(uri: str) -> bool:
    """Remove the partition ``uri`` (a date whose data failed its gate must not keep an older run's
    data there); ``True`` if there was one."""
    fs, path = lake.filesystem(uri)
    if not fs.exists(path):
        return False
    fs.rm(path, recursive=True)
    return True


def _move_files(fs: AbstractFileSystem, source: str, target: str) -> None:
    """Move every file under ``source`` to the same place under ``target`` (an object store has files,
    not folders: fsspec's recursive move would try to copy the folder itself)."""
    if not fs.exists(source):
        return
    for path in fs.find(source):
        fs.mv(path, target + path[len(source):])
