"""Sequences as token arrays for sequence models: a window around the ORF, bases or k-mers as integers.

A sequence model reads at most ``max_length`` bases of each transcript. Which ones matters: a coding
transcript's signal is its ORF, so a longer sequence is cropped to a window that starts ``upstream``
bases before its longest complete ORF (clipped to the sequence), and the window is moved back when it
would run past the end (it may then stop up to 2 bases before the end: a full window in frame is worth
more). The window always starts in the ORF's reading frame, so a model that reads
codons (stride 3 from the window's start) reads the ORF's own codons. A sequence without a complete
ORF is read from its start. A sequence no longer than ``max_length`` (plus its frame offset) is read
whole, from its ORF's frame.

Tokens:

- **bases** (:func:`base_tokens`): A, C, G, T are 0..3; an ambiguity code is :data:`AMBIGUOUS` (4);
  padding is :data:`PAD` (5).
- **k-mers** (:func:`kmer_tokens`): the k-mer at every position of the window, ``1 + its base-4
  index`` (1..4**k); a k-mer holding an ambiguity code, or running past the window, is
  :data:`KMER_UNKNOWN` (``4**k + 1``); padding is 0.

Everything is numpy on the concatenated codes of :func:`.encoding.encode`; no Python loop over bases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .encoding import encode

#: Token of an ambiguity code, and of padding, in :func:`base_tokens`.
AMBIGUOUS, PAD = 4, 5
#: Bases read before the ORF's start codon when a sequence is cropped.
DEFAULT_UPSTREAM = 99


def crop_windows(lengths: np.ndarray, orf_start: np.ndarray, max_length: int,
                 upstream: int = DEFAULT_UPSTREAM) -> tuple[np.ndarray, np.ndarray]:
    """The window each sequence is read in.

    Parameters
    ----------
    lengths
        Sequence lengths.
    orf_start
        1-based start of each sequence's longest complete ORF, 0 where there is none (the feature
        table's ``orf_start``).
    max_length
        Most bases a window holds.
    upstream
        Bases kept before the start codon when the sequence is cropped (rounded down to the frame).

    Returns
    -------
    start, length : np.ndarray
        0-based start and length of each window; ``start`` is in the ORF's frame.
    """
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3, got {max_length}")
    lengths = np.asarray(lengths, dtype=np.int64)
    orf = np.asarray(orf_start, dtype=np.int64) - 1  # 0-based; -1 without an ORF
    has_orf = orf >= 0
    frame = np.where(has_orf, orf % 3, 0)
    wanted = np.where(has_orf, np.maximum(orf - upstream, frame), 0)
    latest = np.maximum(lengths - max_length, frame)  # a window ending at the sequence's end
    start = np.minimum(wanted, latest)
    start -= (start - frame) % 3  # back into the frame
    length = np.clip(lengths - start, 0, max_length)
    return start, length


def base_tokens(sequences: Sequence[str], orf_start: np.ndarray, max_length: int,
                upstream: int = DEFAULT_UPSTREAM) -> tuple[np.ndarray, np.ndarray]:
    """Each sequence's window as base tokens, padded to the longest window.

    Returns
    -------
    tokens : np.ndarray
        ``uint8`` of shape ``(n, longest window)`` (at least 3 wide: one codon, padding if need be):
        0..3 for ACGT, :data:`AMBIGUOUS`, :data:`PAD`.
    lengths : np.ndarray
        Each window's length (its tokens before the padding).
    """
    codes, offsets = encode(list(sequences))
    start, length = crop_windows(np.diff(offsets), orf_start, max_length, upstream)
    width = max(int(length.max(initial=0)), 3)
    column = np.arange(width)
    inside = column[None, :] < length[:, None]
    positions = (offsets[:-1] + start)[:, None] + column[None, :]
    tokens = np.full((len(length), width), PAD, dtype=np.uint8)
    read = codes[positions[inside]]
    tokens[inside] = np.where(read < 4, read, AMBIGUOUS)
    return tokens, length


def kmer_tokens(base: np.ndarray, lengths: np.ndarray, k: int) -> np.ndarray:
    """k-mer tokens of :func:`base_tokens` output: the k-mer starting at each position of the window.

    Returns
    -------
    np.ndarray
        ``int64`` of the same shape as ``base``: ``1 + base-4 index`` of each k-mer; ``4**k + 1``
        (:func:`kmer_unknown`) where the k-mer holds an ambiguity code or runs past the window; 0 in
        the padding.
    """
    if not 1 <= k <= 8:
        raise ValueError(f"k must be in 1..8, got {k}")
    n, width = base.shape
    index = np.zeros((n, width), dtype=np.int64)
    unknown = np.zeros((n, width), dtype=bool)
    for offset in range(k):
        shifted = np.full((n, width), PAD, dtype=np.int64)
        shifted[:, : width - offset] = base[:, offset:]
        unknown |= shifted >= AMBIGUOUS
        index = index * 4 + np.minimum(shifted, 3)
    tokens = np.where(unknown, kmer_unknown(k), index + 1)
    tokens[np.arange(width)[None, :] >= np.asarray(lengths)[:, None]] = 0
    return tokens


def kmer_unknown(k: int) -> int:
    """The token of a k-mer holding an ambiguity code or running past its window."""
    return 4**k + 1
