"""CPAT-style hexamer usage bias: in-frame hexamer frequencies of coding vs non-coding transcripts.

The hexamers of a sequence are read in frame (step 3) from the start of its *scored region* (the same
region :mod:`.fickett` scores in the feature table):

1. the longer of its longest complete ORF (stop codon included) and its longest open ORF (whole
   codons); the complete ORF wins a tie; else, when it has neither,
2. its longest stop-free stretch (:func:`~.orfs.longest_stop_free`: any frame, no ATG needed, whole
   codons); else, when that is empty too,
3. the whole sequence, frame 1.

A hexamer holding an ambiguity code is skipped. The score is the mean of
``log((coding + PSEUDO_FREQUENCY) / (noncoding + PSEUDO_FREQUENCY))`` over the hexamers read; a sequence
with no hexamer scores 0.0, the neutral value (no evidence either way). :meth:`HexamerTable.score_regions`
scores any other region the same way (the feature table's ``stopfree_hexamer_score`` reads the
stop-free stretch).
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
from .orfs import N_CODONS, OrfCalls, codon_codes, longest_orfs, longest_stop_free, stop_positions

#: Number of hexamers.
N_HEXAMERS = 4096
#: Neutral hexamer score (no hexamer read).
NEUTRAL_HEXAMER = 0.0
#: Added to both frequencies before the log ratio, so that a hexamer never seen in one class (CPAT's
#: human table has 109 such) gives a large but finite log ratio.
PSEUDO_FREQUENCY = 1e-6
TSV_HEADER = "hexamer\tcoding\tnoncoding"
#: Feature-table columns a table scores: the scored region, then the longest stop-free stretch.
HEXAMER_COLUMNS = ("hexamer_score", "stopfree_hexamer_score")


def _codon_to_index64() -> np.ndarray:
    """``table[15-ary codon index]`` = 0..63 for A/C/G/T codons, -1 for codons with an ambiguity code."""
    table = np.full(N_CODONS, -1, dtype=np.int16)
    for a in range(4):
        for b in range(4):
            for c in range(4):
                table[(a * N_CODES + b) * N_CODES + c] = a * 16 + b * 4 + c
    return table


_CODON64 = _codon_to_index64()
#: As :data:`_CODON64`, with 64 for codons holding an ambiguity code: ``65 * first + second`` then
#: indexes a (65 * 65) table of codon pairs where every pair with a 64 is an ambiguous hexamer.
_CODON65 = np.where(_CODON64 >= 0, _CODON64, 64).astype(np.int16)
_PAIR_IS_HEXAMER = ((np.arange(65)[:, None] < 64) & (np.arange(65)[None, :] < 64)).ravel()


def scored_regions(
    orfs: OrfCalls, stop_free: tuple[np.ndarray, np.ndarray], lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of each sequence's scored region, per the module's rule.

    Parameters
    ----------
    orfs
        Output of :func:`~.orfs.longest_orfs`.
    stop_free
        ``(length, start)``, the output of :func:`~.orfs.longest_stop_free`.
    lengths
        Sequence lengths.
    """
    stop_free_length, stop_free_start = stop_free
    use_open = orfs.open_length > orfs.length  # the complete ORF wins ties
    orf_length = np.where(use_open, orfs.open_length, orfs.length)
    orf_start = np.where(use_open, orfs.open_start, orfs.start)
    has_orf, has_stop_free = orf_length > 0, stop_free_length > 0
    start = np.where(has_orf, orf_start, np.where(has_stop_free, stop_free_start, 0))
    length = np.where(has_orf, orf_length, np.where(has_stop_free, stop_free_length, lengths))
    return start, length


def encoded_scored_regions(
    codes: np.ndarray,
    offsets: np.ndarray,
    codons: np.ndarray | None = None,
    orfs: OrfCalls | None = None,
    stop_free: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`scored_regions` of encoded sequences, computing what the caller does not pass."""
    if codons is None:
        codons = codon_codes(codes, offsets)
    stops = stop_positions(codes, codons) if orfs is None or stop_free is None else None
    if orfs is None:
        orfs = longest_orfs(codes, offsets, codons, stops)
    if stop_free is None:
        stop_free = longest_stop_free(codes, offsets, codons, stops)
    return scored_regions(orfs, stop_free, np.diff(offsets))


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
    n_hexamers, position = _hexamer_positions(offsets, region_start, region_length)
    seq = np.repeat(np.arange(len(n_hexamers)), n_hexamers)
    first = _CODON64.take(codons.take(position))
    second = _CODON64.take(codons.take(position + 3))
    unambiguous = (first >= 0) & (second >= 0)
    hexamer = first[unambiguous].astype(np.int64) * 64 + second[unambiguous]
    return seq[unambiguous], hexamer


def _hexamer_positions(
    offsets: np.ndarray, region_start: np.ndarray, region_length: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(hexamers per region, global position of each hexamer, region after region)."""
    n_hexamers = np.where(region_length >= 6, (region_length - 6) // 3 + 1, 0)
    total = int(n_hexamers.sum())
    before = np.cumsum(n_hexamers) - n_hexamers
    position = np.repeat(offsets[:-1] + region_start - 3 * before, n_hexamers)
    position += 3 * np.arange(total)
    return n_hexamers, position


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
        # log_ratio by codon pair (see _CODON65); 0.0 for ambiguous hexamers, which are not counted.
        pair_log_ratio = np.zeros((65, 65))
        pair_log_ratio[:64, :64] = self.log_ratio.reshape(64, 64)
        self._pair_log_ratio = pair_log_ratio.ravel()
        self._pair_log_ratio.flags.writeable = False

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
        """Hexamer score of each sequence's scored region (see the module docstring)."""
        scores = [
            self.score_encoded(*encode(sequences[lo:hi]))
            for lo, hi in chunk_bounds(sequence_lengths(sequences), encoding.CHUNK_BASES)
        ]
        return np.concatenate(scores) if scores else np.zeros(0)

    def score_columns(self, sequences: Sequence[str]) -> dict[str, np.ndarray]:
        """Both hexamer columns of the feature table (:data:`HEXAMER_COLUMNS`), for callers that add them
        to features computed without a table: ``features.update(table.score_columns(sequences))``."""
        parts = [
            self._score_chunk(*encode(sequences[lo:hi]))
            for lo, hi in chunk_bounds(sequence_lengths(sequences), encoding.CHUNK_BASES)
        ]
        return {
            name: np.concatenate([part[j] for part in parts]) if parts else np.zeros(0)
            for j, name in enumerate(HEXAMER_COLUMNS)
        }

    def _score_chunk(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scored-region score, stop-free score) of encoded sequences."""
        codons = codon_codes(codes, offsets)
        stops = stop_positions(codes, codons)
        orfs = longest_orfs(codes, offsets, codons, stops)
        stop_free = longest_stop_free(codes, offsets, codons, stops)
        return (
            self.score_encoded(codes, offsets, codons, orfs, stop_free),
            self.score_regions(codes, offsets, codons, stop_free[1], stop_free[0]),
        )

    def score_encoded(
        self,
        codes: np.ndarray,
        offsets: np.ndarray,
        codons: np.ndarray | None = None,
        orfs: OrfCalls | None = None,
        stop_free: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """:meth:`score` on already encoded sequences, reusing codons, ORFs (:func:`~.orfs.longest_orfs`)
        and stop-free stretches (:func:`~.orfs.longest_stop_free`) when the caller has them."""
        if codons is None:
            codons = codon_codes(codes, offsets)
        start, length = encoded_scored_regions(codes, offsets, codons, orfs, stop_free)
        return self.score_regions(codes, offsets, codons, start, length)

    def score_regions(
        self,
        codes: np.ndarray,
        offsets: np.ndarray,
        codons: np.ndarray | None,
        start: np.ndarray,
        length: np.ndarray,
    ) -> np.ndarray:
        """Mean log ratio of the in-frame hexamers of one region per encoded sequence.

        Parameters
        ----------
        codes, offsets
            Output of :func:`~.encoding.encode`.
        codons
            Output of :func:`~.orfs.codon_codes`, or None to compute it.
        start, length
            Region of each sequence: 0-based start within the sequence, length in nt (hexamers are read
            from ``start`` in steps of 3 while they fit in the region).

        Returns
        -------
        np.ndarray
            ``float64`` scores; :data:`NEUTRAL_HEXAMER` where the region holds no unambiguous hexamer.
        """
        if codons is None:
            codons = codon_codes(codes, offsets)
        # As mean_log_ratio(*region_hexamers(...)), without dropping the ambiguous hexamers first: they
        # add 0.0 to the sum and 0 to the count. Regions are contiguous runs, so sums are reductions.
        n_hexamers, position = _hexamer_positions(offsets, np.asarray(start), np.asarray(length))
        pair = _CODON65.take(codons.take(position)) * np.int16(65)
        pair += _CODON65.take(codons.take(position + 3))
        scores = np.full(len(n_hexamers), NEUTRAL_HEXAMER)
        some = n_hexamers > 0
        if some.any():
            first = (np.cumsum(n_hexamers) - n_hexamers)[some]
            count = np.add.reduceat(_PAIR_IS_HEXAMER.take(pair), first, dtype=np.int64)
            total = np.add.reduceat(self._pair_log_ratio.take(pair), first)
            scores[some] = np.where(count > 0, total / np.maximum(count, 1), NEUTRAL_HEXAMER)
        return scores


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
        start, length = encoded_scored_regions(codes, offsets, codons)
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
