"""Atomic file writes (standard library only, so the predict path does not import pyarrow)."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from coding_potential.fasta import Rejection

#: Rejected records, as written beside every output that drops them.
REJECTED_COLUMNS = ("record_number", "id", "reason", "message")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` when the block succeeds.

    A symlink is written through (its target is replaced, not the link). Something that is not a
    regular file (``/dev/null``, a named pipe, ``/dev/stdout``) is written in place: renaming a file
    onto it would replace the device or pipe.
    """
    target = Path(target)
    if target.exists() and not target.is_file():
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(target))
        yield target
        return
    target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


@cache
def _umask() -> int:
    """The process umask, read once (reading it means setting it, so not again and again)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_rejected(rejections: Iterable[Rejection], target: str | os.PathLike[str]) -> Path:
    """The rejected-records TSV: record_number, id, reason, message."""
    rows = ((rejection.number, rejection.id, rejection.reason, rejection.message) for rejection in rejections)
    return write_tsv(REJECTED_COLUMNS, rows, target)


def write_tsv(columns: Sequence[str], rows: Iterable[Sequence[object]], target: str | os.PathLike[str]) -> Path:
    """A TSV with a header, atomically. Fields are written as they are, like the predictions TSV: no
    quoting (an ID holds no whitespace, and messages are ours); a tab or line end inside one becomes a space."""
    with atomic_path(target) as tmp, tmp.open("w", encoding="utf-8") as handle:
        handle.write("\t".join(columns) + "\n")
        for row in rows:
            fields = ("" if field is None else str(field) for field in row)
            handle.write("\t".join(" ".join(field.split("\t")).replace("\n", " ") for field in fields) + "\n")
    return Path(target)


@contextmanager
def replaced_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; when the block succeeds it replaces ``target``.

    Renames only, so a reader sees the old folder or the new one, never a mix; a failed block leaves
    ``target`` as it was. Leftovers of an earlier run of the same target that was killed midway
    (``_staging-NAME-*``, ``_replaced-NAME-*``) are removed first, never another target's.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for pattern in (f"_staging-{target.name}-*", f"_replaced-{target.name}-*"):
        for leftover in target.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)
    staging = target.with_name(f"_staging-{target.name}-{uuid.uuid4().hex}")
    staging.mkdir()
    try:
        yield staging
        old = target.with_name(f"_replaced-{target.name}-{uuid.uuid4().hex}")
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
