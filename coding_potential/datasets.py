"""The dataset manifest: which labelled FASTA files exist, and their checksums.

The manifest (``datasets.tsv`` beside this module) lists every labelled file under
``$CODING_POTENTIAL_SHARED/data``. :func:`fetch` materialises them into ``var/data/`` after checking
sha256 and record counts, so a corrupted or replaced file never reaches training silently.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import config

MANIFEST_PATH = Path(__file__).with_name("datasets.tsv")


@dataclass(frozen=True, slots=True)
class Dataset:
    """One labelled FASTA file of the manifest.

    Attributes
    ----------
    name : str
        Stable name, the file's path relative to the data folder (``human/train_coding.fa.gz``).
    species : str
    label : int
        1 protein-coding, 0 noncoding: one label per file.
    role : str
        ``train`` or ``validation``.
    path : str
        Path relative to ``$CODING_POTENTIAL_SHARED/data``.
    n_records : int
        Number of FASTA records the file holds.
    sha256 : str
    licence : str
    """

    name: str
    species: str
    label: int
    role: str
    path: str
    n_records: int
    sha256: str
    licence: str

    def source_path(self) -> Path:
        """Where the file lies in the shared reference folder."""
        return config.shared_dir() / "data" / self.path

    def local_path(self) -> Path:
        """Where :func:`fetch` materialises it."""
        return config.var_dir() / "data" / self.path


class DatasetError(RuntimeError):
    """A dataset is missing, unknown, or does not match its manifest entry."""


def load_manifest(path: Path = MANIFEST_PATH) -> list[Dataset]:
    """Read the manifest into :class:`Dataset` entries, in file order."""
    with path.open(encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        rows = list(csv.DictReader(lines, delimiter="\t"))
    return [
        Dataset(
            name=row["name"],
            species=row["species"],
            label=int(row["label"]),
            role=row["role"],
            path=row["path"],
            n_records=int(row["n_records"]),
            sha256=row["sha256"],
            licence=row["licence"],
        )
        for row in rows
    ]


def select(patterns: Iterable[str], manifest: list[Dataset] | None = None) -> list[Dataset]:
    """Datasets whose names match any of ``patterns`` (exact names or shell globs), manifest order.

    Raises
    ------
    DatasetError
        When a pattern matches nothing: a typo must not silently train on less data.
    """
    manifest = load_manifest() if manifest is None else manifest
    patterns = list(patterns)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(d.name, pattern) for d in manifest):
            known = ", ".join(d.name for d in manifest)
            raise DatasetError(f"no dataset matches {pattern!r}; known datasets: {known}")
    return [d for d in manifest if any(fnmatch.fnmatchcase(d.name, p) for p in patterns)]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_records(path: Path) -> int:
    """Number of FASTA records the project's reader sees in ``path``."""
    from .fasta import read_fasta

    return sum(1 for _ in read_fasta(path))


def verify(dataset: Dataset, path: Path) -> None:
    """Check ``path`` against the manifest's sha256 and record count.

    Raises
    ------
    DatasetError
        Naming the dataset and what differs.
    """
    if not path.is_file():
        raise DatasetError(f"{dataset.name}: file not found at {path}")
    digest = sha256_of(path)
    if digest != dataset.sha256:
        raise DatasetError(f"{dataset.name}: sha256 {digest} differs from the manifest's {dataset.sha256}")
    n_records = count_records(path)
    if n_records != dataset.n_records:
        raise DatasetError(f"{dataset.name}: {n_records} records, the manifest says {dataset.n_records}")


def fetch(
    datasets: Iterable[Dataset],
    link: bool = False,
    on_done: Callable[[Dataset, Path], None] | None = None,
) -> list[Path]:
    """Materialise datasets into ``var/data/``, verified; files already there and valid are kept.

    Parameters
    ----------
    datasets : iterable of Dataset
    link : bool
        Symlink to the shared copy instead of copying it.
    on_done : callable, optional
        Called with each dataset and its local path (progress reporting).

    Returns
    -------
    list of Path
        The local paths, in input order.
    """
    paths = []
    for dataset in datasets:
        target = dataset.local_path()
        if not _is_valid_copy(dataset, target):
            _materialise(dataset, target, link)
        paths.append(target)
        if on_done is not None:
            on_done(dataset, target)
    return paths


def _is_valid_copy(dataset: Dataset, target: Path) -> bool:
    try:
        verify(dataset, target)
    except DatasetError:
        return False
    return True


def _materialise(dataset: Dataset, target: Path, link: bool) -> None:
    source = dataset.source_path()
    if not source.is_file():
        raise DatasetError(
            f"{dataset.name}: not found at {source}; set CODING_POTENTIAL_SHARED to the reference folder"
        )
    verify(dataset, source)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a crash never leaves a half-written file in place.
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if link:
            tmp.unlink()
            tmp.symlink_to(source)
        else:
            shutil.copyfile(source, tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
