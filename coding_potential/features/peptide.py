"""Isoelectric point of the peptide an ORF encodes (CPC2's ``pI`` feature, Kang et al. 2017).

The peptides of chance ORFs in noncoding RNA have pIs distributed differently from those of real
proteins, which is why CPC2 uses it beside ORF length, ORF integrity and Fickett.

The pI is the pH where the peptide's net charge is zero, with Bjellqvist's pK values (Bjellqvist et al.
1993, Electrophoresis 14:1023; the set ExPASy's Compute pI/Mw uses): side chains of D, E, C, Y (acidic)
and H, K, R (basic), the N-terminal amine (pK 7.0 for methionine: every ORF starts with ATG) and the
C-terminal carboxyl (4.55 after D, 4.75 after E, else 3.55). It is found by bisection on [4.05, 12]
(no peptide's pI lies outside) for all peptides at once.

A codon holding an ambiguity code adds no charged residue (its residue is unknown).
"""

from __future__ import annotations

from itertools import product

import numpy as np

from .encoding import ALPHABET, N_CODES
from .orfs import orf_codons

#: The standard genetic code, codons in ``TCAG`` order (NCBI table 1); ``*`` is a stop.
_CODE_TCAG = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
GENETIC_CODE: dict[str, str] = {
    "".join(codon): residue for codon, residue in zip(product("TCAG", repeat=3), _CODE_TCAG, strict=True)
}

#: Charged residues, in column order of :func:`charged_residue_counts`.
ACIDIC = ("D", "E", "C", "Y")
BASIC = ("H", "K", "R")
CHARGED = ACIDIC + BASIC
#: Side-chain pK values (Bjellqvist).
SIDE_CHAIN_PK = {"D": 4.05, "E": 4.45, "C": 9.0, "Y": 10.0, "H": 5.98, "K": 10.0, "R": 12.0}
#: N-terminal pK of a peptide starting with methionine.
N_TERMINAL_PK = 7.0
#: C-terminal pK by last residue (default for any other residue).
C_TERMINAL_PK = {"D": 4.55, "E": 4.75}
C_TERMINAL_PK_DEFAULT = 3.55
#: Search interval and precision of the bisection.
PH_MIN, PH_MAX, PH_TOLERANCE = 4.05, 12.0, 1e-4
#: pI given to a sequence without a complete ORF: neutral pH.
NEUTRAL_PI = 7.0


def _charged_class_table() -> np.ndarray:
    """``table[codon_index]``: 1 + index into :data:`CHARGED` of the codon's residue; 0 if uncharged or unknown."""
    table = np.zeros(N_CODES**3, dtype=np.uint8)
    for codon, residue in GENETIC_CODE.items():
        if residue in CHARGED:
            a, b, c = (ALPHABET.index(letter) for letter in codon)
            table[(a * N_CODES + b) * N_CODES + c] = 1 + CHARGED.index(residue)
    return table


#: Codon index (see :func:`.orfs.codon_index`) -> charged class (0: none).
CHARGED_CLASS = _charged_class_table()


def charged_residue_counts(codons: np.ndarray, seq_offsets: np.ndarray, orf_start: np.ndarray,
                           orf_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Charged residues of each ORF's peptide (stop codon excluded) and its last residue's class.

    Parameters
    ----------
    codons
        Codon index at every position of the concatenated sequences (:func:`.orfs.codon_codes`).
    seq_offsets
        Start of each sequence in the concatenation (``offsets[:-1]`` of :func:`.encoding.encode`).
    orf_start, orf_length
        0-based start within each sequence and length (stop included) of the ORF; length 0: none.

    Returns
    -------
    counts : np.ndarray
        ``int64`` of shape ``(n, 7)``: residues D, E, C, Y, H, K, R.
    last : np.ndarray
        Class (as in :data:`CHARGED_CLASS`) of each peptide's last residue; 0 without a peptide.
    """
    n = len(orf_length)
    owner, values = orf_codons(codons, seq_offsets, orf_start, orf_length)
    counts = np.bincount(owner * 8 + CHARGED_CLASS[values], minlength=n * 8).reshape(n, 8)[:, 1:]
    last = np.zeros(n, dtype=np.uint8)
    n_codons = np.bincount(owner, minlength=n)
    has_peptide = n_codons > 0
    first = seq_offsets + np.maximum(orf_start, 0)
    last[has_peptide] = CHARGED_CLASS[codons[(first + 3 * (n_codons - 1))[has_peptide]]]
    return counts, last


def isoelectric_point(counts: np.ndarray, last: np.ndarray) -> np.ndarray:
    """pI of each peptide from its charged-residue counts (see the module's notes).

    Parameters
    ----------
    counts
        ``(n, 7)`` counts of D, E, C, Y, H, K, R (:func:`charged_residue_counts`).
    last
        Class of each peptide's last residue (1 = D, 2 = E, ...).
    """
    counts = np.asarray(counts, dtype=np.float64)
    acidic_pk = np.array([SIDE_CHAIN_PK[r] for r in ACIDIC])
    basic_pk = np.array([SIDE_CHAIN_PK[r] for r in BASIC])
    c_term_pk = np.full(len(counts), C_TERMINAL_PK_DEFAULT)
    for residue, pk in C_TERMINAL_PK.items():
        c_term_pk[last == 1 + CHARGED.index(residue)] = pk
    low, high = np.full(len(counts), PH_MIN), np.full(len(counts), PH_MAX)
    while True:
        ph = (low + high) / 2
        positive = 1 / (1 + 10 ** (ph - N_TERMINAL_PK))
        positive += (counts[:, len(ACIDIC):] / (1 + 10 ** (ph[:, None] - basic_pk))).sum(axis=1)
        negative = 1 / (1 + 10 ** (c_term_pk - ph))
        negative += (counts[:, : len(ACIDIC)] / (1 + 10 ** (acidic_pk - ph[:, None]))).sum(axis=1)
        basic_side = positive > negative  # still positive: the pI lies above
        low = np.where(basic_side, ph, low)
        high = np.where(basic_side, high, ph)
        if (high - low).max(initial=0.0) <= PH_TOLERANCE:
            return (low + high) / 2


def orf_isoelectric_point(codons: np.ndarray, seq_offsets: np.ndarray, orf_start: np.ndarray,
                          orf_length: np.ndarray) -> np.ndarray:
    """pI of the peptide of each sequence's ORF; :data:`NEUTRAL_PI` where there is no complete ORF."""
    counts, last = charged_residue_counts(codons, seq_offsets, orf_start, orf_length)
    return np.where(orf_length > 0, isoelectric_point(counts, last), NEUTRAL_PI)
