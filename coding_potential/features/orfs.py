"""Open reading frames on the forward strand, found for all sequences at once.

Definitions (shared with ``shared/cases/fasta/expected.json``):

* a **complete ORF** runs from an ATG to the first in-frame stop codon, stop included; in each frame
  it starts at the first ATG after the previous in-frame stop, so it is the longest ORF ending at
  that stop. The longest complete ORF over the 3 frames is reported; ties go to the earliest start.
* an **open ORF** starts at an ATG and reaches the end of the sequence with no in-frame stop; its
  length counts whole codons only (a trailing 1-2 nt partial codon is not counted).
* IUPAC-aware codons: a codon holding an ambiguity code is never a start, and is a stop only when
  every expansion is a stop (``TAR`` = TAA/TAG, ``TRA`` = TAA/TGA); otherwise it is read through.

Everything works on the concatenated codes of :func:`~coding_potential.features.encoding.encode`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from .encoding import ALPHABET, IUPAC_EXPANSIONS, N_CODES

STOP_CODONS = frozenset({"TAA", "TAG", "TGA"})
START_CODON = "ATG"


def codon_index(codon: str) -> int:
    """Base-15 index of a three-letter codon over the full alphabet (``ALPHABET`` order)."""
    a, b, c = (ALPHABET.index(letter) for letter in codon)
    return (a * N_CODES + b) * N_CODES + c


#: Number of codon indices (15**3).
N_CODONS = N_CODES**3
#: Index of ATG.
ATG = codon_index(START_CODON)
#: Index given to positions whose codon would run past the end of its sequence (NNN: neither start
#: nor stop, never part of a hexamer).
NO_CODON = codon_index("NNN")


def _all_stop_table() -> np.ndarray:
    """``table[codon_index]`` is True when every expansion of the codon is a stop codon."""
    table = np.zeros(N_CODONS, dtype=bool)
    for letters in product(ALPHABET, repeat=3):
        expansions = product(*(IUPAC_EXPANSIONS[letter] for letter in letters))
        table[codon_index("".join(letters))] = all("".join(e) in STOP_CODONS for e in expansions)
    return table


#: ``IS_STOP[codon_index]``: the codon is a stop whatever its ambiguity codes stand for.
IS_STOP = _all_stop_table()


def codon_codes(codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Index of the codon starting at every position of the concatenated codes.

    Parameters
    ----------
    codes, offsets
        Output of :func:`~coding_potential.features.encoding.encode`.

    Returns
    -------
    np.ndarray
        ``uint16`` array of ``max(len(codes) - 2, 0)`` codon indices; positions whose codon would run
        past the end of their own sequence hold :data:`NO_CODON`.
    """
    size = codes.size - 2
    if size <= 0:
        return np.empty(0, dtype=np.uint16)
    # Widen before multiplying: numpy 1.x keeps uint8 * uint16-scalar in uint8 (value-based casting), and
    # the serving environment runs numpy 1.26.
    codons = codes[:-2].astype(np.uint16) * np.uint16(N_CODES * N_CODES)
    codons += codes[1:-1].astype(np.uint16) * np.uint16(N_CODES)
    codons += codes[2:]
    starts, ends = offsets[:-1], offsets[1:]
    for back in (1, 2):
        cut = ends - back
        codons[cut[(cut >= starts) & (cut < size)]] = NO_CODON
    return codons


def orf_codons(codons: np.ndarray, seq_offsets: np.ndarray, orf_start: np.ndarray,
               orf_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The codons each ORF reads, stop codon excluded, for all sequences at once.

    Parameters
    ----------
    codons
        Codon index at every position of the concatenated sequences (:func:`codon_codes`).
    seq_offsets
        Start of each sequence in the concatenation (``offsets[:-1]`` of the encoding).
    orf_start, orf_length
        0-based start within each sequence and length (stop included) of the ORF; length 0: none.

    Returns
    -------
    owner : np.ndarray
        ``int64``: the sequence each codon belongs to, in sequence order then codon order.
    values : np.ndarray
        The codon indices (start codon first).
    """
    n = len(orf_length)
    n_codons = np.where(orf_length >= 6, orf_length // 3 - 1, 0)
    first = seq_offsets + np.maximum(orf_start, 0)
    owner = np.repeat(np.arange(n, dtype=np.int64), n_codons)
    step = np.arange(int(n_codons.sum()), dtype=np.int64) - np.repeat(np.cumsum(n_codons) - n_codons, n_codons)
    return owner, codons[np.repeat(first, n_codons) + 3 * step]


@dataclass(frozen=True)
class OrfCalls:
    """Longest ORFs, one entry per sequence.

    Attributes
    ----------
    length
        Length of the longest complete ORF, stop codon included (0 when none).
    start
        Its 0-based start within the sequence (-1 when none).
    open_length
        Length of the longest open ORF, whole codons only (0 when none).
    open_start
        Its 0-based start within the sequence (-1 when none).
    """

    length: np.ndarray
    start: np.ndarray
    open_length: np.ndarray
    open_start: np.ndarray


def longest_orfs(
    codes: np.ndarray, offsets: np.ndarray, codons: np.ndarray | None = None, stops: np.ndarray | None = None
) -> OrfCalls:
    """Find the longest complete and the longest open ORF of every sequence.

    Parameters
    ----------
    codes, offsets
        Output of :func:`~coding_potential.features.encoding.encode`.
    codons
        Output of :func:`codon_codes` when the caller already has it.
    stops
        Output of :func:`stop_positions` when the caller already has it.

    Returns
    -------
    OrfCalls
    """
    if codons is None:
        codons = codon_codes(codes, offsets)
    starts, ends = offsets[:-1], offsets[1:]
    scale = codes.size + 1  # packs (length, start) into one int64 that sorts by length, then start
    if stops is None:
        stops = stop_positions(codes, codons)
    atgs = np.flatnonzero(codons == ATG)
    # Work per phase of the concatenated array: within one sequence each phase is one reading frame.
    stop_phase, atg_phase = stops % 3, atgs % 3
    best = np.full(len(starts), -1, dtype=np.int64)
    best_open = best.copy()
    for phase in range(3):
        phase_stops, phase_atgs = stops[stop_phase == phase], atgs[atg_phase == phase]
        seq = _owner(phase_stops, starts)
        best = np.maximum(best, _complete(phase_stops, seq, phase_atgs, starts, scale))
        best_open = np.maximum(best_open, _open(phase_stops, phase_atgs, starts, ends, scale))
    length, start = _unpack(best, starts, scale)
    open_length, open_start = _unpack(best_open, starts, scale)
    return OrfCalls(length, start, open_length, open_start)


def stop_positions(codes: np.ndarray, codons: np.ndarray) -> np.ndarray:
    """Sorted positions of (all-expansion) stop codons; each starts with a T, so look there only."""
    candidates = np.flatnonzero(codes[: codons.size] == ALPHABET.index("T"))
    return candidates[IS_STOP.take(codons.take(candidates))]


def _owner(positions: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Index of the sequence holding each of the sorted ``positions``."""
    first = np.searchsorted(positions, starts)
    counts = np.diff(np.append(first, positions.size))
    return np.repeat(np.arange(starts.size), counts)


def _first_atg_after(atgs: np.ndarray, after: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First ATG position in ``(after, before)`` for each pair; returns (positions, found)."""
    index = np.searchsorted(atgs, after, side="right")
    found = index < atgs.size
    position = atgs[np.minimum(index, atgs.size - 1)] if atgs.size else np.zeros_like(after)
    return position, found & (position < before)


def _complete(stops: np.ndarray, seq: np.ndarray, atgs: np.ndarray, starts: np.ndarray, scale: int) -> np.ndarray:
    """Best packed complete ORF per sequence within one phase (-1 where none).

    ``stops`` are sorted, so ``seq`` is too, and the previous stop of the same sequence (or the
    sequence start) bounds where the ORF ending at each stop may begin.
    """
    best = np.full(len(starts), -1, dtype=np.int64)
    if stops.size == 0:
        return best
    first_of_seq = np.ones(stops.size, dtype=bool)
    first_of_seq[1:] = seq[1:] != seq[:-1]
    previous = np.empty_like(stops)
    previous[1:] = stops[:-1]
    previous = np.where(first_of_seq, starts[seq] - 1, previous)
    atg, found = _first_atg_after(atgs, previous, stops)
    if not found.any():
        return best
    seq, packed = seq[found], _pack(stops[found] + 3 - atg[found], atg[found], scale)
    group = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    best[seq[group]] = np.maximum.reduceat(packed, group)
    return best


def _open(stops: np.ndarray, atgs: np.ndarray, starts: np.ndarray, ends: np.ndarray, scale: int) -> np.ndarray:
    """Packed open ORF per sequence within one phase (-1 where none): first ATG after the last stop."""
    last = np.searchsorted(stops, ends, side="left") - 1
    last_stop = stops[np.maximum(last, 0)] if stops.size else np.zeros_like(starts)
    after = np.where((last >= 0) & (last_stop >= starts), last_stop, starts - 1)
    atg, found = _first_atg_after(atgs, after, ends)
    return np.where(found, _pack((ends - atg) // 3 * 3, atg, scale), -1)


def _pack(length: np.ndarray, start: np.ndarray, scale: int) -> np.ndarray:
    """One int64 per ORF: larger means longer, then earlier (``start`` is a global position)."""
    return length * scale + (scale - 1 - start)


def _unpack(packed: np.ndarray, starts: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`_pack`; start made relative to its sequence; (0, -1) where none."""
    none = packed < 0
    length = np.where(none, 0, packed // scale)
    start = np.where(none, -1, scale - 1 - packed % scale - starts)
    return length, start


def longest_stop_free(
    codes: np.ndarray, offsets: np.ndarray, codons: np.ndarray | None = None, stops: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Longest in-frame stretch without a stop codon, in any frame, whole codons; no ATG needed.

    A transcript cut inside its coding sequence (5'- or 3'-truncated, common in assemblies and
    annotation sets) has a short ATG-anchored ORF but a long stop-free stretch.

    Parameters
    ----------
    codes, offsets
        Output of :func:`~coding_potential.features.encoding.encode`.
    codons, stops
        Output of :func:`codon_codes` and :func:`stop_positions` when the caller already has them.

    Returns
    -------
    length, start : numpy.ndarray
        Length in nt (whole codons, stop excluded) and 0-based start; ties go to the earliest start.
    """
    if codons is None:
        codons = codon_codes(codes, offsets)
    starts, ends = offsets[:-1], offsets[1:]
    scale = codes.size + 1
    if stops is None:
        stops = stop_positions(codes, codons)
    best = np.full(len(starts), -1, dtype=np.int64)
    for phase in range(3):
        phase_stops = stops[stops % 3 == phase]
        first = starts + (phase - starts) % 3  # first position of this phase in each sequence
        seq = _owner(phase_stops, starts)
        # Stretch ending at each stop: from the previous stop's end (or the frame's first position).
        begin = np.empty_like(phase_stops)
        begin[1:] = phase_stops[:-1] + 3
        first_of_seq = np.ones(phase_stops.size, dtype=bool)
        first_of_seq[1:] = seq[1:] != seq[:-1]
        begin = np.where(first_of_seq, first[seq], begin)
        packed = _pack(phase_stops - begin, begin, scale)
        if packed.size:
            group = np.flatnonzero(first_of_seq)
            best[seq[group]] = np.maximum(best[seq[group]], np.maximum.reduceat(packed, group))
        # The last stretch runs from the last stop (or the frame's start) to the end of the sequence.
        last = np.searchsorted(phase_stops, ends, side="left") - 1
        last_stop = phase_stops[np.maximum(last, 0)] if phase_stops.size else np.zeros_like(starts)
        tail_begin = np.where((last >= 0) & (last_stop >= starts), last_stop + 3, first)
        tail = np.maximum(ends - tail_begin, 0) // 3 * 3
        best = np.maximum(best, np.where(first < ends, _pack(tail, tail_begin, scale), -1))
    length, start = _unpack(best, starts, scale)
    return length, np.where(length > 0, start, -1)
