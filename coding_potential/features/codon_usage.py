"""Codon usage of each sequence's longest complete ORF, for all sequences at once.

Real proteins are written with a species' preferred codons, and chance ORFs in noncoding RNA are not:
the frequencies of the 61 sense codons over the ORF (its start codon included, its stop excluded)
carry that signal where the ORF is too short for the hexamer score to be sure. Each frequency is the
codon's count over the ORF's sense codons read on A/C/G/T letters; a codon holding an ambiguity code
is not counted. Without a complete ORF (or without one unambiguous sense codon) every column is
**0.0**.

Columns ``codon_{XYZ}``, the 61 sense codons in lexicographic ACGT order (:data:`SENSE_CODONS`).
"""

from __future__ import annotations

from itertools import product

import numpy as np

from .orfs import N_CODONS, STOP_CODONS, codon_index, orf_codons

#: The 61 sense codons, lexicographic ACGT order: the column order.
SENSE_CODONS: tuple[str, ...] = tuple(
    "".join(letters) for letters in product("ACGT", repeat=3) if "".join(letters) not in STOP_CODONS
)
#: Column names, in order.
CODON_USAGE_COLUMNS: tuple[str, ...] = tuple(f"codon_{codon}" for codon in SENSE_CODONS)


def _sense_table() -> np.ndarray:
    """``table[codon_index]``: 1 + the codon's position in :data:`SENSE_CODONS`; 0 for stops and ambiguity."""
    table = np.zeros(N_CODONS, dtype=np.int64)
    for position, codon in enumerate(SENSE_CODONS):
        table[codon_index(codon)] = position + 1
    return table


SENSE_INDEX = _sense_table()


def codon_usage(codons: np.ndarray, seq_offsets: np.ndarray, orf_start: np.ndarray,
                orf_length: np.ndarray) -> np.ndarray:
    """Sense-codon frequencies of each ORF.

    Parameters
    ----------
    codons
        Codon index at every position of the concatenated sequences (:func:`.orfs.codon_codes`).
    seq_offsets
        Start of each sequence in the concatenation (``offsets[:-1]`` of the encoding).
    orf_start, orf_length
        0-based start and length (stop included) of each sequence's ORF; length 0: none.

    Returns
    -------
    np.ndarray
        ``float64`` of shape ``(n, 61)``, columns in :data:`SENSE_CODONS` order; each row sums to 1, or is
        all 0.0 where the ORF has no unambiguous sense codon.
    """
    n = len(orf_length)
    width = len(SENSE_CODONS) + 1
    owner, values = orf_codons(codons, seq_offsets, orf_start, orf_length)
    counts = np.bincount(owner * width + SENSE_INDEX[values], minlength=n * width).reshape(n, width)[:, 1:]
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
