"""The feature table: column order, neutral values, and :func:`compute_features`.

Columns, in order (one row per input sequence, input order, never NaN):

======================  =======  =====================================================================
column                  dtype    meaning
======================  =======  =====================================================================
length                  int64    number of letters
n_ambiguous             int64    letters other than A/C/G/T (IUPAC ambiguity codes)
gc_content              float64  (G+C)/(A+C+G+T) over unambiguous letters; **0.5** when there is none
                                 (blank it where ``n_unambiguous == 0``)
n_unambiguous           int64    A/C/G/T letters
orf_length              int64    longest complete ORF (ATG..stop, stop included, IUPAC-aware); 0 if none
orf_start               int64    its 1-based start; 0 if none
orf_frame               int64    its frame, ``(orf_start - 1) % 3 + 1``; 0 if none
orf_coverage            float64  ``orf_length / length``; 0.0 if none
open_orf_length         int64    longest ATG.. reaching the end with no in-frame stop, whole codons;
                                 0 if none
stopfree_length         int64    longest in-frame stretch with no stop codon, any frame, no ATG needed,
                                 whole codons, stop excluded (IUPAC-aware stops); 0 if none. Long in
                                 5'- or 3'-truncated coding fragments whose ATG-anchored ORFs are short
stopfree_coverage       float64  ``stopfree_length / length``; 0.0 when the length is 0
fickett                 float64  Fickett TESTCODE of the *scored region*: the longer of the longest
                                 complete and the longest open ORF (the complete ORF wins ties); when
                                 there is neither, the longest stop-free stretch; when that is empty
                                 too, the whole sequence. **0.845** (middle of Fickett's no-opinion
                                 band) when the region has fewer than 3 A/C/G/T letters
stopfree_fickett        float64  Fickett TESTCODE of the longest stop-free stretch; **0.845** as above
hexamer_score           float64  only with a hexamer table: mean in-frame log(coding/noncoding) hexamer
                                 ratio over the scored region (see :mod:`.hexamer`); **0.0** when no
                                 hexamer can be read
stopfree_hexamer_score  float64  only with a hexamer table: the same over the in-frame hexamers of the
                                 longest stop-free stretch, read from its start; **0.0** when none
kmer{k}_{KMER}          float64  for each k of ``kmer_sizes``: count of the k-mer / number of
                                 unambiguous k-mers, 4**k columns in lexicographic ACGT order; **0.0**
                                 when none
codon_{XYZ}             float64  only with ``codon_usage=True``: frequency of each of the 61 sense
                                 codons over the longest complete ORF (:mod:`.codon_usage`); **0.0**
                                 without one
======================  =======  =====================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from . import encoding
from .codon_usage import CODON_USAGE_COLUMNS, codon_usage
from .composition import MAX_K, frequencies, gc_content, kmer_counts, kmer_names
from .encoding import chunk_bounds, encode, sequence_lengths
from .fickett import NEUTRAL_FICKETT, fickett_from_phase_counts, region_phase_counts
from .hexamer import HEXAMER_COLUMNS, NEUTRAL_HEXAMER, HexamerTable, scored_regions
from .orfs import codon_codes, longest_orfs, longest_stop_free, stop_positions
from .peptide import NEUTRAL_PI, orf_isoelectric_point

BASE_COLUMNS: tuple[str, ...] = (
    "length", "n_ambiguous", "gc_content", "n_unambiguous",
    "orf_length", "orf_start", "orf_frame", "orf_coverage", "open_orf_length",
    "stopfree_length", "stopfree_coverage", "fickett", "stopfree_fickett", "orf_pi",
)  # fmt: skip
#: The hexamer-table columns (``hexamer_score``, ``stopfree_hexamer_score``), after BASE_COLUMNS.
HEXAMER_COLUMN, STOPFREE_HEXAMER_COLUMN = HEXAMER_COLUMNS
DEFAULT_KMER_SIZES: tuple[int, ...] = (1, 2, 3)

#: Value a column takes where a sequence gives it no information (too short, no ORF, no unambiguous
#: base). ``"kmer"`` stands for every ``kmer{k}_*`` column, ``"codon"`` for every
#: ``codon_*`` column.
NEUTRAL_VALUES: dict[str, float] = {
    "gc_content": 0.5,
    "orf_coverage": 0.0,
    "stopfree_coverage": 0.0,
    "fickett": NEUTRAL_FICKETT,
    "stopfree_fickett": NEUTRAL_FICKETT,
    "orf_pi": NEUTRAL_PI,
    HEXAMER_COLUMN: NEUTRAL_HEXAMER,
    STOPFREE_HEXAMER_COLUMN: NEUTRAL_HEXAMER,
    "kmer": 0.0,
    "codon": 0.0,
}

#: Bases encoded and processed at once (see :data:`.encoding.CHUNK_BASES`).
CHUNK_BASES = encoding.CHUNK_BASES
#: Bound on (sequences in a chunk) * 4**max(k): the size of the k-mer count array.
CHUNK_KMER_BINS = 1 << 23


def _check_kmer_sizes(kmer_sizes: Iterable[int]) -> tuple[int, ...]:
    """Validated k-mer sizes, in the caller's order."""
    sizes = tuple(int(k) for k in kmer_sizes)
    if len(set(sizes)) != len(sizes) or any(not 1 <= k <= MAX_K for k in sizes):
        raise ValueError(f"kmer_sizes must be distinct integers in 1..{MAX_K}, got {sizes}")
    return sizes


def feature_columns(kmer_sizes: Iterable[int] = DEFAULT_KMER_SIZES, with_hexamer: bool = True,
                    with_codon_usage: bool = False) -> list[str]:
    """Column names, in the order :func:`compute_features` returns them."""
    columns = list(BASE_COLUMNS)
    if with_hexamer:
        columns += HEXAMER_COLUMNS
    for k in _check_kmer_sizes(kmer_sizes):
        columns += [f"kmer{k}_{name}" for name in kmer_names(k)]
    if with_codon_usage:
        columns += CODON_USAGE_COLUMNS
    return columns


#: The default column order (k = 1, 2, 3 and the hexamer score).
FEATURE_COLUMNS: tuple[str, ...] = tuple(feature_columns())


def compute_features(
    sequences: Sequence[str], hexamer: HexamerTable | None = None, kmer_sizes: Iterable[int] = DEFAULT_KMER_SIZES,
    codon_usage: bool = False,
) -> dict[str, np.ndarray]:
    """Compute every feature of every sequence.

    Parameters
    ----------
    sequences
        Normalised sequences: upper case, ``ACGT`` plus IUPAC codes ``RYSWKMBDHVN``.
    hexamer
        Hexamer table; without one there are no ``hexamer_score`` and ``stopfree_hexamer_score``
        columns (:meth:`.HexamerTable.score_columns` computes both later).
    kmer_sizes
        k-mer sizes (each 1..6, no repeats), in column order.
    codon_usage
        Add the 61 ``codon_*`` columns (:mod:`.codon_usage`).

    Returns
    -------
    dict[str, np.ndarray]
        One array per column of :func:`feature_columns`, in that order, one row per sequence.

    Raises
    ------
    ValueError
        On a character outside the alphabet or a bad k-mer size.
    """
    sizes = _check_kmer_sizes(kmer_sizes)
    max_sequences = max(CHUNK_KMER_BINS >> (2 * max(sizes, default=1)), 1)
    bounds = chunk_bounds(sequence_lengths(sequences), CHUNK_BASES, max_sequences)
    parts = [_chunk_features(sequences[lo:hi], hexamer, sizes, codon_usage) for lo, hi in bounds]
    columns = feature_columns(sizes, hexamer is not None, codon_usage)
    if not parts:
        parts = [_chunk_features([], hexamer, sizes, codon_usage)]
    if len(parts) == 1:
        return {name: parts[0][name] for name in columns}
    return {name: np.concatenate([part[name] for part in parts]) for name in columns}


def _chunk_features(
    sequences: Sequence[str], hexamer: HexamerTable | None, sizes: tuple[int, ...], with_codon_usage: bool = False
) -> dict[str, np.ndarray]:
    """Every column for one chunk of sequences."""
    codes, offsets = encode(sequences)
    lengths = np.diff(offsets)
    counts = kmer_counts(codes, offsets, {1, *sizes})
    n_unambiguous = counts[1].sum(axis=1)
    codons = codon_codes(codes, offsets)
    stops = stop_positions(codes, codons)
    orfs = longest_orfs(codes, offsets, codons, stops)
    stop_free = stopfree_length, stopfree_start = longest_stop_free(codes, offsets, codons, stops)
    scored_start, scored_length = scored_regions(orfs, stop_free, lengths)
    has_orf = orfs.length > 0
    columns = {
        "length": lengths,
        "n_ambiguous": lengths - n_unambiguous,
        "gc_content": gc_content(counts[1], NEUTRAL_VALUES["gc_content"]),
        "n_unambiguous": n_unambiguous,
        "orf_length": orfs.length,
        "orf_start": np.where(has_orf, orfs.start + 1, 0),
        "orf_frame": np.where(has_orf, orfs.start % 3 + 1, 0),
        "orf_coverage": np.where(has_orf, orfs.length / np.maximum(lengths, 1), 0.0),
        "open_orf_length": orfs.open_length,
        "stopfree_length": stopfree_length,
        "stopfree_coverage": stopfree_length / np.maximum(lengths, 1),
        "fickett": fickett_from_phase_counts(region_phase_counts(codes, offsets, scored_start, scored_length)),
        "stopfree_fickett": fickett_from_phase_counts(
            region_phase_counts(codes, offsets, np.maximum(stopfree_start, 0), stopfree_length)
        ),
        "orf_pi": orf_isoelectric_point(codons, offsets[:-1], orfs.start, orfs.length),
    }
    if hexamer is not None:
        columns[HEXAMER_COLUMN] = hexamer.score_regions(codes, offsets, codons, scored_start, scored_length)
        columns[STOPFREE_HEXAMER_COLUMN] = hexamer.score_regions(
            codes, offsets, codons, np.maximum(stopfree_start, 0), stopfree_length
        )
    for k in sizes:
        by_kmer = np.ascontiguousarray(frequencies(counts[k]).T)  # one contiguous row per column
        columns.update(zip((f"kmer{k}_{name}" for name in kmer_names(k)), by_kmer, strict=True))
    if with_codon_usage:
        by_codon = np.ascontiguousarray(codon_usage(codons, offsets[:-1], orfs.start, orfs.length).T)
        columns.update(zip(CODON_USAGE_COLUMNS, by_codon, strict=True))
    return columns
