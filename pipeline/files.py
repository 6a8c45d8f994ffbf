"""Atomic file writes (standard library only, so the predict path does not import pyarrow)."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from coding_potential.fasta import Rejection

#: Rejected records, as written beside every output that drops them.
REJECTED_COLUMNS = ("record_number", "id", "reason", "message")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` when the block succeeds."""
    target = Path(target)
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
    with atomic_path(target) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(REJECTED_COLUMNS)
        for rejection in rejections:
            writer.writerow([rejection.number, rejection.id, rejection.reason, rejection.message])
    return Path(target)
