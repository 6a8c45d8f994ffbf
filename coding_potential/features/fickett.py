"""Fickett's TESTCODE statistic (Fickett 1982, Nucleic Acids Res. 10:5303-5318).

For each base b, over the A/C/G/T letters of the scored region:

* position value = max(b1, b2, b3) / (min(b1, b2, b3) + 1), where bi counts b at codon position i;
* content value = count of b / number of A/C/G/T letters.

Each value is turned into a probability of coding through Fickett's look-up tables (first threshold the
value reaches, thresholds in decreasing order), weighted per base, and the 8 terms are summed. Fickett
reads < 0.74 as non-coding, >= 0.95 as coding and the band between as "no opinion".

Variant: the published content thresholds ``0.33 0.31 0.29 0.27 0.25 0.23 0.21 0.19 0.17 0``. CPAT's
``fickett.py`` (and tools copied from it) omits the 0.19 threshold, which shifts content values below
0.21 by one table row; ``cpat_compatible=True`` reproduces that.
"""

from __future__ import annotations

import numpy as np

#: Score given when the scored region has fewer than 3 A/C/G/T letters: the middle of Fickett's
#: "no opinion" band [0.74, 0.95).
NEUTRAL_FICKETT = 0.845
#: Fewest A/C/G/T letters a region needs to be scored.
MIN_BASES = 3

# Rows follow the thresholds; columns are A, C, G, T.
POSITION_THRESHOLDS = np.array([1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 0.0])
POSITION_PROBABILITIES = np.array([
    [0.94, 0.80, 0.90, 0.97],
    [0.68, 0.70, 0.88, 0.97],
    [0.84, 0.70, 0.74, 0.91],
    [0.93, 0.81, 0.64, 0.68],
    [0.58, 0.66, 0.53, 0.69],
    [0.68, 0.48, 0.48, 0.44],
    [0.45, 0.51, 0.27, 0.54],
    [0.34, 0.33, 0.16, 0.20],
    [0.20, 0.30, 0.08, 0.09],
    [0.22, 0.23, 0.08, 0.09],
])  # fmt: skip
POSITION_WEIGHTS = np.array([0.26, 0.18, 0.31, 0.33])

CONTENT_THRESHOLDS = np.array([0.33, 0.31, 0.29, 0.27, 0.25, 0.23, 0.21, 0.19, 0.17, 0.0])
CPAT_CONTENT_THRESHOLDS = np.array([0.33, 0.31, 0.29, 0.27, 0.25, 0.23, 0.21, 0.17, 0.0])
CONTENT_PROBABILITIES = np.array([
    [0.28, 0.82, 0.40, 0.28],
    [0.49, 0.64, 0.54, 0.24],
    [0.44, 0.51, 0.47, 0.39],
    [0.55, 0.64, 0.64, 0.40],
    [0.62, 0.59, 0.64, 0.55],
    [0.49, 0.59, 0.73, 0.75],
    [0.67, 0.43, 0.41, 0.56],
    [0.65, 0.44, 0.41, 0.69],
    [0.81, 0.39, 0.33, 0.51],
    [0.21, 0.31, 0.29, 0.58],
])  # fmt: skip
CONTENT_WEIGHTS = np.array([0.11, 0.12, 0.15, 0.14])


def _row(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Index of the first (decreasing) threshold each value reaches: the number of thresholds above it."""
    ascending = thresholds[::-1]
    return thresholds.size - np.searchsorted(ascending, values, side="right")


def fickett_from_phase_counts(counts: np.ndarray, cpat_compatible: bool = False) -> np.ndarray:
    """TESTCODE scores from per-sequence base counts by codon position.

    Parameters
    ----------
    counts
        ``(n, 3, 4)`` counts: sequence, codon position (any rotation: only max and min are used),
        base (A, C, G, T).
    cpat_compatible
        Use CPAT's content thresholds (no 0.19 row) instead of the published ones.

    Returns
    -------
    np.ndarray
        ``float64`` scores; :data:`NEUTRAL_FICKETT` where fewer than :data:`MIN_BASES` letters count.
    """
    counts = np.asarray(counts, dtype=np.int64)
    totals = counts.sum(axis=(1, 2))
    content = counts.sum(axis=1) / np.maximum(totals, 1)[:, None]
    position = counts.max(axis=1) / (counts.min(axis=1) + 1.0)
    content_thresholds = CPAT_CONTENT_THRESHOLDS if cpat_compatible else CONTENT_THRESHOLDS
    position_row = _row(position, POSITION_THRESHOLDS)
    content_row = _row(content, content_thresholds)
    score = np.zeros(len(counts))
    for base in range(4):  # term by term, not a matrix product: same rounding whatever the batch
        score += POSITION_PROBABILITIES[position_row[:, base], base] * POSITION_WEIGHTS[base]
        score += CONTENT_PROBABILITIES[content_row[:, base], base] * CONTENT_WEIGHTS[base]
    return np.where(totals >= MIN_BASES, score, NEUTRAL_FICKETT)


def region_phase_counts(
    codes: np.ndarray, offsets: np.ndarray, region_start: np.ndarray, region_length: np.ndarray
) -> np.ndarray:
    """Count A/C/G/T by codon position within one region of each sequence.

    Parameters
    ----------
    codes, offsets
        Output of :func:`~coding_potential.features.encoding.encode`.
    region_start, region_length
        The region of each sequence: 0-based start within the sequence and length.

    Returns
    -------
    np.ndarray
        ``int64`` counts of shape ``(n, 3, 4)``: sequence, codon position, base. Codon positions may be
        rotated within a region (Fickett's max/min ignore the rotation).
    """
    n = len(offsets) - 1
    total = int(region_length.sum())
    before = np.cumsum(region_length) - region_length
    position = np.repeat(offsets[:-1] + region_start - before, region_length)
    position += np.arange(total)
    # Codon position is taken along the regions laid end to end: a fixed rotation within each region.
    key = np.repeat(np.arange(n, dtype=np.int64) << 6, region_length)
    key += _phase16(total) + codes.take(position)
    counts = np.bincount(key, minlength=n << 6).reshape(n, 64)
    return counts[:, :48].reshape(n, 3, 16)[:, :, :4]


_PHASE16 = np.zeros(0, dtype=np.uint8)


def _phase16(size: int) -> np.ndarray:
    """``(i % 3) * 16`` for ``i < size``, cached: a modulo over millions of positions is slow."""
    global _PHASE16
    if _PHASE16.size < size:
        _PHASE16 = np.tile(np.array([0, 16, 32], dtype=np.uint8), size // 3 + 1024)
    return _PHASE16[:size]
