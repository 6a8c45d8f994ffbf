"""Base and k-mer composition of every sequence, counted on the concatenated codes.

One ``np.bincount`` over all windows of the largest k gives every smaller k by summing over the trailing
letters; the few windows where that is wrong (those touching an ambiguous base or a sequence's end, and
the last windows of the array) are then corrected one by one. Ambiguous bases never count: a k-mer
holding one is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .encoding import BASES, FIRST_AMBIGUOUS

#: Largest k-mer size supported (4**6 = 4096 columns).
MAX_K = 6


def kmer_names(k: int) -> list[str]:
    """The ``4**k`` k-mers in lexicographic ``ACGT`` order (the order of the count columns)."""
    names = [""]
    for _ in range(k):
        names = [prefix + base for prefix in names for base in BASES]
    return names


def kmer_counts(codes: np.ndarray, offsets: np.ndarray, sizes: Iterable[int]) -> dict[int, np.ndarray]:
    """Count the unambiguous k-mers of every sequence, for several k at once.

    Parameters
    ----------
    codes, offsets
        Output of :func:`~coding_potential.features.encoding.encode`.
    sizes
        k values, each in ``1..MAX_K``.

    Returns
    -------
    dict[int, np.ndarray]
        For each k, an ``int64`` array of shape ``(n_sequences, 4**k)``; column ``j`` counts the k-mer
        whose base-4 digits (A=0, C=1, G=2, T=3) spell ``j``.
    """
    sizes = sorted(set(sizes))
    if not sizes:
        return {}
    if sizes[0] < 1 or sizes[-1] > MAX_K:
        raise ValueError(f"k-mer sizes must be in 1..{MAX_K}, got {sizes}")
    largest = sizes[-1]
    raw = _raw_window_counts(codes, offsets, largest)
    n = len(offsets) - 1
    ambiguous = np.flatnonzero(codes >= FIRST_AMBIGUOUS)
    result = {}
    for k in sizes:
        counts = raw.reshape(n, 4**k, 4 ** (largest - k)).sum(axis=2)
        _correct_windows(counts, codes, offsets, ambiguous, k, largest)
        result[k] = counts
    return result


def _raw_window_counts(codes: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """Count every window ``[i, i + k)`` with ``i <= len(codes) - k`` under the sequence holding ``i``.

    Ambiguous codes are read as ``code & 3`` and windows may cross sequence ends: both are wrong on
    purpose (it keeps this one pass cheap) and :func:`_correct_windows` undoes them.
    """
    n = len(offsets) - 1
    windows = codes.size - k + 1
    if windows <= 0:
        return np.zeros((n, 4**k), dtype=np.int64)
    bases = codes & np.uint8(3)
    code = bases[:windows].astype(np.uint16)
    for shift in range(1, k):
        code <<= 2
        code |= bases[shift : shift + windows]
    key = np.repeat(np.arange(n, dtype=np.int64) << (2 * k), np.diff(offsets))[:windows]
    key += code
    return np.bincount(key, minlength=n << (2 * k)).reshape(n, 4**k)


def _correct_windows(
    counts: np.ndarray, codes: np.ndarray, offsets: np.ndarray, ambiguous: np.ndarray, k: int, largest: int
) -> None:
    """Turn counts of raw windows of size ``largest``, summed down to size ``k``, into exact counts.

    Only windows touching an ambiguous base or a sequence end, and the last windows of the array (no
    raw window of size ``largest`` starts there), can be wrong; each is checked and fixed in place.
    """
    size = codes.size
    ends = offsets[1:]
    candidates = [ambiguous - back for back in range(k)]
    candidates += [ends - back for back in range(1, k)]
    candidates.append(np.arange(max(size - largest + 1, 0), size - k + 1))
    start = np.unique(np.concatenate(candidates))
    start = start[(start >= 0) & (start <= size - k)]
    if start.size == 0:
        return
    seq = np.searchsorted(offsets, start, side="right") - 1
    n_ambiguous = np.searchsorted(ambiguous, start + k) - np.searchsorted(ambiguous, start)
    valid = (start + k <= ends[seq]) & (n_ambiguous == 0)
    delta = valid.astype(np.int64) - (start <= size - largest)
    fix = delta != 0
    start, seq, delta = start[fix], seq[fix], delta[fix]
    code = np.zeros(start.size, dtype=np.int64)
    for shift in range(k):
        code = (code << 2) | (codes[start + shift] & 3)
    np.add.at(counts.reshape(-1), (seq << (2 * k)) + code, delta)


def frequencies(counts: np.ndarray) -> np.ndarray:
    """Row-normalise counts; rows with no count stay 0.0 (the neutral value)."""
    totals = counts.sum(axis=1, keepdims=True)
    return counts / np.maximum(totals, 1)


def gc_content(base_counts: np.ndarray, neutral: float) -> np.ndarray:
    """(G+C)/(A+C+G+T) from ``(n, 4)`` base counts; ``neutral`` where there is no unambiguous base."""
    total = base_counts.sum(axis=1)
    gc = base_counts[:, 1] + base_counts[:, 2]
    return np.where(total > 0, gc / np.maximum(total, 1), neutral)
