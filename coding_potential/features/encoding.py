"""Encode many sequences into one concatenated ``uint8`` array of base codes.

Every feature is computed on this one array (plus the sequences' offsets into it), so numpy works on
millions of bases per call instead of Python working base by base.

Codes: ``A=0, C=1, G=2, T=3`` (so ``code & 3`` and ``code << 2`` build k-mer indices directly), then the
IUPAC ambiguity codes ``R Y S W K M B D H V N`` = 4..14 (:data:`AMBIGUITY_CODES`). Any code ``>= 4`` is
"ambiguous".
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

#: Unambiguous bases, in code order.
BASES = "ACGT"
#: IUPAC ambiguity codes, in code order (code = 4 + index).
AMBIGUITY_CODES = "RYSWKMBDHV" + "N"
#: Every letter of the alphabet, indexed by code.
ALPHABET = BASES + AMBIGUITY_CODES
#: Number of distinct codes.
N_CODES = len(ALPHABET)
#: First ambiguous code: ``code >= FIRST_AMBIGUOUS`` means not A/C/G/T.
FIRST_AMBIGUOUS = 4

#: The bases each letter stands for.
IUPAC_EXPANSIONS: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip

_INVALID = 255

#: Bases encoded and processed at once by the batch functions. Bounds memory (about 40 bytes a base at
#: the peak); arrays of this size are also recycled by the allocator instead of being mapped afresh
#: (page faults) for every chunk, which makes 2 M faster than larger chunks.
CHUNK_BASES = 2_000_000


def _build_lookup() -> np.ndarray:
    """256-entry byte -> code table; lower case and U are tolerated (read as upper case and T)."""
    lut = np.full(256, _INVALID, dtype=np.uint8)
    for code, letter in enumerate(ALPHABET):
        lut[ord(letter)] = code
        lut[ord(letter.lower())] = code
    lut[ord("U")] = lut[ord("u")] = ALPHABET.index("T")
    return lut


_LOOKUP = _build_lookup()
_TRANSLATION = _LOOKUP.tobytes()  # bytes.translate maps bytes several times faster than a numpy gather


def encode(sequences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate and encode sequences.

    Parameters
    ----------
    sequences
        Normalised sequences (upper case, ``ACGT`` plus IUPAC codes ``RYSWKMBDHVN``).

    Returns
    -------
    codes : np.ndarray
        Read-only ``uint8`` codes of all sequences, one after the other (see module docstring).
    offsets : np.ndarray
        ``int64`` array of ``len(sequences) + 1`` entries: sequence ``i`` is
        ``codes[offsets[i]:offsets[i + 1]]``.

    Raises
    ------
    ValueError
        If a sequence holds a character outside the alphabet.
    """
    lengths = sequence_lengths(sequences)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    try:
        raw = "".join(sequences).encode("ascii")
    except UnicodeEncodeError as exc:
        raise ValueError(f"non-ASCII character in a sequence: {exc.object[exc.start]!r}") from exc
    codes = np.frombuffer(raw.translate(_TRANSLATION), dtype=np.uint8)
    if codes.size and codes.max() == _INVALID:
        _raise_invalid(codes, offsets, raw)
    return codes, offsets


def _raise_invalid(codes: np.ndarray, offsets: np.ndarray, raw: bytes) -> None:
    """Name the first character outside the alphabet and the sequence holding it."""
    position = int(np.argmax(codes == _INVALID))
    index = int(np.searchsorted(offsets, position, side="right")) - 1
    raise ValueError(
        f"sequence {index} holds {chr(raw[position])!r} at position {position - offsets[index] + 1}, "
        f"which is not a nucleotide IUPAC code"
    )


def decode(codes: np.ndarray) -> str:
    """Turn codes back into letters (for tests and error messages)."""
    return np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)[codes].tobytes().decode("ascii")


def chunk_bounds(lengths: np.ndarray, max_bases: int, max_sequences: int | None = None) -> list[tuple[int, int]]:
    """Split sequence indices into ``(lo, hi)`` runs of about ``max_bases`` bases.

    A run starts a new block whenever its first base passes a multiple of ``max_bases`` (so a run holds
    at most ``max_bases`` plus one sequence's bases) and holds at most ``max_sequences`` sequences.
    """
    n = len(lengths)
    if n == 0:
        return []
    by_bases = (np.cumsum(lengths) - lengths) // max(max_bases, 1)
    cuts = np.flatnonzero(np.diff(by_bases)) + 1
    if max_sequences is not None:
        cuts = np.union1d(cuts, np.arange(max_sequences, n, max(max_sequences, 1)))
    return list(pairwise([0, *cuts.tolist(), n]))


def sequence_lengths(sequences: Sequence[str]) -> np.ndarray:
    """``int64`` lengths of the sequences."""
    return np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
