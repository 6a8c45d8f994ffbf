"""CPAT-style hexamer usage bias: in-frame hexamer frequencies of coding vs non-coding transcripts.

The hexamers of a sequence are read in frame (step 3) from the start of its *scored region*:

1. its longest complete ORF (stop codon included), else
2. its longest open ORF (whole codons), else
3. the whole sequence, frame 1.

A hexamer holding an ambiguity code is skipped. The score is the mean of
``log((coding + PSEUDO_FREQUENCY) / (noncoding + PSEUDO_FREQUENCY))`` over the hexamers read; a sequence
with no hexamer scores 0.0, the neutral value (no evidence either way).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import encoding
from .composition import kmer_names
from .encoding import N_CODES, chunk_bounds, encode, sequence_lengths
from .orfs import N_CODONS, OrfCalls, codon_codes, longest_orfs

#: Number of hexamers.
N_HEXAMERS = 4096
#: Neutral hexamer score (no hexamer read).
NEUTRAL_HEXAMER = 0.0
#: Added to both frequencies before the log ratio, so that a hexamer never seen in one class (CPAT's
#: human table has 109 such) gives a large but finite log ratio.
PSEUDO_FREQUENCY = 1e-6
TSV_HEADER = "hexamer\tcoding\tnoncoding"


def _codon_to_index64() -> np.ndarray:
    """``table[15-ary codon index]`` = 0..63 for A/C/G/T codons, -1 for codons with an ambiguity code."""
    table = np.full(N_CODONS, -1, dtype=np.int16)
    for a in range(4):
        for b in range(4):
            for c in range(4):
                table[(a * N_CODES + b) * N_CODES + c] = a * 16 + b * 4 + c
    return table


_CODON64 = _codon_to_index64()


def scored_regions(orfs: OrfCalls, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of the region hexamers are read from, per the module's rule."""
    has_complete = orfs.length > 0
    has_open = orfs.open_length > 0
    start = np.where(has_complete, orfs.start, np.where(has_open, orfs.open_start, 0))
    length = np.where(has_complete, orfs.length, np.where(has_open, orfs.open_length, lengths))
    return start, length


def region_hexamers(
    codons: np.ndarray, offsets: np.ndarray, region_start: np.ndarray, region_length: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """In-frame hexamers (step 3) of one region per sequence.

    Parameters
    ----------
    codons
        Output of :func:`~coding_potential.features.orfs.codon_codes`.
    offsets
        Sequence offsets into the concatenated codes.
    region_start, region_length
        Region of each sequence (0-based start within the sequence, length).

    Returns
    -------
    seq : np.ndarray
        Index of the sequence each unambiguous hexamer comes from (sorted).
    hexamer : np.ndarray
        Hexamer index 0..4095 (base-4 digits, A=0 C=1 G=2 T=3).
    """
    n_hexamers = np.where(region_length >= 6, (region_length - 6) // 3 + 1, 0)
    total = int(n_hexamers.sum())
    before = np.cumsum(n_hexamers) - n_hexamers
    seq = np.repeat(np.arange(len(n_hexamers)), n_hexamers)
    position = np.repeat(offsets[:-1] + region_start - 3 * before, n_hexamers)
    position += 3 * np.arange(total)
    first = _CODON64.take(codons.take(position))
    second = _CODON64.take(codons.take(position + 3))
    unambiguous = (first >= 0) & (second >= 0)
    hexamer = first[unambiguous].astype(np.int64) * 64 + second[unambiguous]
    return seq[unambiguous], hexamer


def mean_log_ratio(seq: np.ndarray, hexamer: np.ndarray, log_ratio: np.ndarray, n: int) -> np.ndarray:
    """Mean log ratio of each sequence's hexamers; :data:`NEUTRAL_HEXAMER` where it has none."""
    count = np.bincount(seq, minlength=n)
    total = np.bincount(seq, weights=log_ratio.take(hexamer), minlength=n)
    return np.where(count > 0, total / np.maximum(count, 1), NEUTRAL_HEXAMER)


class HexamerTable:
    """In-frame hexamer frequencies of coding and non-coding transcripts (CPAT's hexamer table).

    Parameters
    ----------
    coding, noncoding
        4096 non-negative frequencies each, indexed like :func:`kmer_names` ``(6)``.
    """

    def __init__(self, coding: np.ndarray, noncoding: np.ndarray) -> None:
        self.coding = _frequencies(coding, "coding")
        self.noncoding = _frequencies(noncoding, "noncoding")
        self.log_ratio = np.log((self.coding + PSEUDO_FREQUENCY) / (self.noncoding + PSEUDO_FREQUENCY))
        self.log_ratio.flags.writeable = False

    def __repr__(self) -> str:
        return f"HexamerTable(fingerprint={self.fingerprint()[:12]})"

    @classmethod
    def fit(cls, coding_seqs: Sequence[str], noncoding_seqs: Sequence[str]) -> HexamerTable:
        """Frequencies of the in-frame hexamers of each class's scored regions.

        Raises
        ------
        ValueError
            If a class yields no unambiguous hexamer.
        """
        return cls(_hexamer_frequencies(coding_seqs, "coding"), _hexamer_frequencies(noncoding_seqs, "noncoding"))

    def to_tsv(self) -> str:
        """The table in CPAT's format: header, then 4096 ``hexamer<TAB>coding<TAB>noncoding`` rows."""
        rows = (
            f"{name}\t{c!r}\t{nc!r}"
            for name, c, nc in zip(kmer_names(6), self.coding.tolist(), self.noncoding.tolist(), strict=True)
        )
        return "\n".join([TSV_HEADER, *rows]) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_tsv` to ``path`` (atomically: a temporary file, then a rename)."""
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(self.to_tsv(), encoding="ascii")
        temporary.replace(path)

    @classmethod
    def from_tsv(cls, text: str) -> HexamerTable:
        """Parse CPAT's format (any row order; every one of the 4096 hexamers must be present once).

        Raises
        ------
        ValueError
            On a wrong header, a malformed row, or missing or repeated hexamers.
        """
        lines = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
        if not lines or lines[0].split() != TSV_HEADER.split("\t"):
            raise ValueError(f"hexamer table: the first line must be {TSV_HEADER!r}")
        index = {name: i for i, name in enumerate(kmer_names(6))}
        values = np.full((N_HEXAMERS, 2), np.nan)
        for number, line in enumerate(lines[1:], start=2):
            values[_parse_row(line, number, index)] = _parse_values(line, number)
        missing = int(np.isnan(values[:, 0]).sum())
        if missing or len(lines) - 1 != N_HEXAMERS:
            raise ValueError(f"hexamer table: {len(lines) - 1} rows, {missing} hexamers missing (need all 4096)")
        return cls(values[:, 0], values[:, 1])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HexamerTable:
        """Read a table written by :meth:`save` or by CPAT's ``make_hexamer_tab``."""
        return cls.from_tsv(Path(path).read_text(encoding="utf-8-sig"))

    def fingerprint(self) -> str:
        """sha256 (hex) of :meth:`to_tsv`: identifies the table whatever file it came from."""
        return hashlib.sha256(self.to_tsv().encode("ascii")).hexdigest()

    def score(self, sequences: Sequence[str]) -> np.ndarray:
        """Hexamer score of each sequence (see the module docstring)."""
        scores = [
            self.score_encoded(*encode(sequences[lo:hi]))
            for lo, hi in chunk_bounds(sequence_lengths(sequences), encoding.CHUNK_BASES)
        ]
        return np.concatenate(scores) if scores else np.zeros(0)

    def score_encoded(
        self, codes: np.ndarray, offsets: np.ndarray, codons: np.ndarray | None = None, orfs: OrfCalls | None = None
    ) -> np.ndarray:
        """:meth:`score` on already encoded sequences, reusing codons and ORFs when the caller has them."""
        if codons is None:
            codons = codon_codes(codes, offsets)
        if orfs is None:
            orfs = longest_orfs(codes, offsets, codons)
        start, length = scored_regions(orfs, np.diff(offsets))
        seq, hexamer = region_hexamers(codons, offsets, start, length)
        return mean_log_ratio(seq, hexamer, self.log_ratio, len(offsets) - 1)


def _frequencies(values: np.ndarray, name: str) -> np.ndarray:
    """Validated read-only copy of 4096 frequencies."""
    array = np.array(values, dtype=np.float64)
    if array.shape != (N_HEXAMERS,) or not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"hexamer table: {name} must be {N_HEXAMERS} finite non-negative frequencies")
    array.flags.writeable = False
    return array


def _hexamer_frequencies(sequences: Sequence[str], name: str) -> np.ndarray:
    """Frequency of each in-frame hexamer over the scored regions of ``sequences``."""
    counts = np.zeros(N_HEXAMERS, dtype=np.int64)
    for lo, hi in chunk_bounds(sequence_lengths(sequences), encoding.CHUNK_BASES):
        codes, offsets = encode(sequences[lo:hi])
        codons = codon_codes(codes, offsets)
        start, length = scored_regions(longest_orfs(codes, offsets, codons), np.diff(offsets))
        counts += np.bincount(region_hexamers(codons, offsets, start, length)[1], minlength=N_HEXAMERS)
    if counts.sum() == 0:
        raise ValueError(f"hexamer table: the {name} sequences hold no unambiguous in-frame hexamer")
    return counts / counts.sum()


def _parse_row(line: str, number: int, index: dict[str, int]) -> int:
    """Index of the hexamer a row describes."""
    name = line.split("\t", 1)[0].strip().upper().replace("U", "T")
    if name not in index:
        raise ValueError(f"hexamer table line {number}: {name!r} is not a hexamer of A/C/G/T")
    return index[name]


def _parse_values(line: str, number: int) -> tuple[float, float]:
    """The coding and non-coding frequencies of a row."""
    fields = line.split("\t")
    if len(fields) != 3:
        raise ValueError(f"hexamer table line {number}: expected 3 tab-separated fields, got {len(fields)}")
    try:
        return float(fields[1]), float(fields[2])
    except ValueError as exc:
        raise ValueError(f"hexamer table line {number}: {exc}") from None
