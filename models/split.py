"""Sequence-disjoint train/validation splits.

Isoforms of one gene, or one transcript from two annotation releases, share long identical stretches.
A random split puts them on both sides and inflates every validation metric. Here sequences are
grouped by shared k-mers (a FracMinHash sketch: only k-mers whose hash falls under a fixed fraction of
the hash space are kept, so the sketch scales with length and is comparable between any two
sequences), and whole groups are assigned to one side of the split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coding_potential.features import encode

#: k-mer size: long enough that a shared k-mer means shared sequence, not chance (4^21 >> genome).
KMER = 21
#: keep one k-mer in SCALE (on average) in the sketch.
SCALE = 64
#: two sequences are linked when this fraction of the smaller sketch is shared.
MIN_CONTAINMENT = 0.3
#: and at least this many sketch k-mers are shared (guards against one chance hit).
MIN_SHARED = 2
#: sketch k-mers present in more sequences than this are repeats (Alu, ...), not evidence of kinship.
MAX_POSTING = 200

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class Split:
    """Indices of a train/validation split and the groups behind it.

    Attributes
    ----------
    train, validation : numpy.ndarray
        Row indices into the input, sorted.
    groups : numpy.ndarray
        Group label per input row: rows sharing a label are near-identical or share long stretches.
    """

    train: np.ndarray
    validation: np.ndarray
    groups: np.ndarray

    def fingerprint(self, ids: Sequence[str], sequences: Sequence[str]) -> str:
        """sha256 over the validation side's IDs and sequences: equal fingerprints, equal data."""
        digest = hashlib.sha256()
        for i in self.validation:
            digest.update(ids[i].encode())
            digest.update(b"\t")
            digest.update(hashlib.sha256(sequences[i].encode()).digest())
            digest.update(b"\n")
        return digest.hexdigest()


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads 2-bit-packed k-mers uniformly over 64 bits."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK64


def sketch(sequences: Sequence[str], k: int = KMER, scale: int = SCALE) -> tuple[np.ndarray, np.ndarray]:
    """FracMinHash sketch of every sequence.

    Returns
    -------
    owner, hashes : numpy.ndarray
        Parallel arrays: ``hashes[i]`` is a kept k-mer hash of sequence ``owner[i]``; duplicates within
        one sequence are removed.
    """
    codes, offsets = encode(list(sequences))
    n_total = codes.size
    if n_total < k:
        return np.empty(0, np.int64), np.empty(0, np.uint64)
    n_windows = n_total - k + 1
    packed = np.zeros(n_windows, dtype=np.uint64)
    bad = np.zeros(n_windows, dtype=bool)
    for j in range(k):
        window = codes[j : j + n_windows]
        bad |= window > 3
        packed = (packed << np.uint64(2)) | (window & 3).astype(np.uint64)
    owner = np.searchsorted(offsets, np.arange(n_windows), side="right") - 1
    # A window is valid when it lies inside one sequence and holds only A/C/G/T.
    valid = ~bad & (np.arange(n_windows) + k <= offsets[owner + 1])
    hashes = _mix(packed[valid])
    owner = owner[valid]
    keep = hashes < np.uint64(np.iinfo(np.uint64).max // np.uint64(scale))
    pairs = np.unique(np.stack([owner[keep].astype(np.uint64), hashes[keep]]), axis=1)
    return pairs[0].astype(np.int64), pairs[1]


def group_sequences(sequences: Sequence[str]) -> np.ndarray:
    """Group label per sequence: connected components of the 'shares long stretches' relation.

    Exact duplicates always share a group; sequences too short to have a sketch k-mer are grouped with
    their exact duplicates only.
    """
    n = len(sequences)
    parent = np.arange(n)
    for a, b in _linked_pairs(sequences):
        _union(parent, a, b)
    _link_exact_duplicates(sequences, parent)
    roots = np.array([_find(parent, i) for i in range(n)])
    return np.unique(roots, return_inverse=True)[1]


def related_to(sequences: Sequence[str], held_out: Sequence[str]) -> np.ndarray:
    """Mask of ``sequences`` that share a group with any of ``held_out`` (same relation as the split).

    Used to keep held-out evaluation sets out of training: a transcript sharing long stretches with an
    evaluation transcript (an isoform, or the same one from another release) would make that set judge
    recall, not generalisation.
    """
    if not len(sequences) or not len(held_out):
        return np.zeros(len(sequences), dtype=bool)
    groups = group_sequences([*sequences, *held_out])
    held_groups = np.unique(groups[len(sequences):])
    return np.isin(groups[: len(sequences)], held_groups)


def _linked_pairs(sequences: Sequence[str]) -> list[tuple[int, int]]:
    owner, hashes = sketch(sequences)
    if owner.size == 0:
        return []
    sketch_size = np.bincount(owner, minlength=len(sequences))
    order = np.argsort(hashes, kind="stable")
    owner, hashes = owner[order], hashes[order]
    starts = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
    sizes = np.diff(np.r_[starts, hashes.size])
    pair_codes = []
    n = len(sequences)
    # Postings of equal size form a (groups x size) matrix: all pairs come from its upper triangle.
    for size in np.unique(sizes[(sizes > 1) & (sizes <= MAX_POSTING)]):
        group_starts = starts[sizes == size]
        members = owner[group_starts[:, None] + np.arange(size)[None, :]]
        i, j = np.triu_indices(size, k=1)
        a, b = members[:, i].ravel(), members[:, j].ravel()
        pair_codes.append(np.minimum(a, b) * n + np.maximum(a, b))
    if not pair_codes:
        return []
    pairs, counts = np.unique(np.concatenate(pair_codes), return_counts=True)
    a, b = pairs // n, pairs % n
    smaller = np.minimum(sketch_size[a], sketch_size[b])
    linked = (counts >= MIN_SHARED) & (counts >= MIN_CONTAINMENT * smaller)
    return list(zip(a[linked].tolist(), b[linked].tolist(), strict=True))


def _link_exact_duplicates(sequences: Sequence[str], parent: np.ndarray) -> None:
    first: dict[str, int] = {}
    for i, seq in enumerate(sequences):
        j = first.setdefault(seq, i)
        if j != i:
            _union(parent, i, j)


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression keeps later look-ups O(1)
        parent[i], i = root, parent[i]
    return int(root)


def _union(parent: np.ndarray, a: int, b: int) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


def sequence_disjoint_split(
    sequences: Sequence[str], labels: Sequence[int], validation_fraction: float = 0.2, seed: int = 0
) -> Split:
    """Split rows so that no group straddles train and validation.

    A group is named by the smallest seeded hash of its members' sequences and goes to validation
    when that name, hashed again, falls in the lowest ``validation_fraction`` of the hash space.
    The side of a transcript therefore depends on its sequence (and its relatives), not on which
    other files were loaded: a model trained on a sample and one trained on the whole set agree on
    which transcripts they never saw, which is what the champion/candidate comparison needs. With
    thousands of groups each class keeps close to ``validation_fraction`` of its rows.
    """
    groups = group_sequences(sequences)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    keys = np.array([_sequence_hash(seq, seed) for seq in sequences], dtype=np.uint64)
    group_key = np.full(n_groups, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(group_key, groups, keys)
    cut = np.uint64(int(validation_fraction * float(np.iinfo(np.uint64).max)))
    # The smallest member hash names the group; hashing it again makes it uniform whatever the
    # group's size (a minimum over k members is biased low), so big families are not over-drawn.
    rows_validation = (_mix(group_key) < cut)[groups]
    labels = np.asarray(labels)
    for label in np.unique(labels):
        # Guard tiny inputs: each class needs a row on both sides to be trained and judged.
        members = labels == label
        if members.sum() > 1 and not (rows_validation & members).any():
            rows_validation[groups == groups[np.flatnonzero(members)[np.argmin(keys[members])]]] = True
    return Split(
        train=np.flatnonzero(~rows_validation),
        validation=np.flatnonzero(rows_validation),
        groups=groups,
    )


def _sequence_hash(sequence: str, seed: int) -> int:
    digest = hashlib.blake2b(sequence.encode("ascii"), digest_size=8, salt=seed.to_bytes(8, "little"))
    return int.from_bytes(digest.digest(), "little")


def hold_out_groups(rows: np.ndarray, groups: np.ndarray, labels: Sequence[int], fraction: float,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rows`` into (kept, held out) by whole groups, about ``fraction`` of the rows held out.

    Used to hold a calibration part out of a train side: no group straddles the two, so the held-out
    part is as new to a model fitted on the rest as the validation split is. Groups are drawn in a
    seeded random order until the held-out part reaches ``fraction`` of the rows; each class keeps a
    row on both sides when it has two.
    """
    rows = np.asarray(rows)
    labels = np.asarray(labels)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    present = np.unique(groups[rows])
    order = np.random.default_rng(seed).permutation(present)
    sizes = np.bincount(groups[rows], minlength=int(groups.max()) + 1)[order]
    chosen = order[: int(np.searchsorted(np.cumsum(sizes), fraction * rows.size)) + 1]
    held = np.isin(groups[rows], chosen)
    row_groups = groups[rows]
    for label in np.unique(labels[rows]):  # guards tiny inputs: whole groups move, never a lone row
        members = labels[rows] == label
        if members.sum() > 1 and not (held & members).any():
            held |= row_groups == row_groups[np.flatnonzero(members)[0]]
        if members.sum() > 1 and (held & members).all():
            held &= row_groups != row_groups[np.flatnonzero(members)[0]]
    return rows[~held], rows[held]
