"""Sequence-disjoint splits: isoforms never straddle train and validation."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models.split import group_sequences, related_to, sequence_disjoint_split
from tests.conftest import read_plain_fasta


def _random_seq(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def _gene_family(rng: random.Random, n_isoforms: int) -> list[str]:
    """Isoforms of one gene: two constitutive exons plus a random subset of four alternative ones."""
    exons = [_random_seq(rng, rng.randint(150, 400)) for _ in range(6)]
    isoforms = []
    for _ in range(n_isoforms):
        kept = exons[:2] + [e for e in exons[2:] if rng.random() < 0.6]
        isoforms.append("".join(kept))
    return isoforms


def test_isoforms_share_a_group_and_unrelated_genes_do_not():
    rng = random.Random(7)
    families = [_gene_family(rng, rng.randint(1, 5)) for _ in range(30)]
    sequences = [s for family in families for s in family]
    truth = [i for i, family in enumerate(families) for _ in family]
    groups = group_sequences(sequences)
    for i in range(len(sequences)):
        for j in range(len(sequences)):
            assert (groups[i] == groups[j]) == (truth[i] == truth[j]), (i, j)


def test_related_to_marks_exactly_the_training_isoforms_of_held_out_genes():
    rng = random.Random(11)
    families = [_gene_family(rng, 3) for _ in range(20)]
    # Held out: one isoform of each of the first 8 genes; training: the other isoforms of every gene.
    held_out = [family[0] for family in families[:8]]
    training = [s for family in families for s in family[1:]]
    truth = np.array([i < 8 for i, _ in enumerate(families) for _ in range(2)])
    assert np.array_equal(related_to(training, held_out), truth)
    assert not related_to(training, []).any()
    assert related_to([], held_out).shape == (0,)


def test_exact_duplicates_and_short_sequences():
    sequences = ["ACGT", "ACGT", "TTTT", "A" * 10]
    groups = group_sequences(sequences)
    assert groups[0] == groups[1]
    assert len({groups[0], groups[2], groups[3]}) == 3


def test_split_never_straddles_a_group_and_keeps_the_fraction():
    rng = random.Random(3)
    families = [_gene_family(rng, rng.randint(1, 4)) for _ in range(400)]
    sequences = [s for family in families for s in family]
    labels = [i % 2 for i, family in enumerate(families) for _ in family]
    split = sequence_disjoint_split(sequences, labels, validation_fraction=0.25, seed=1)
    assert set(split.groups[split.train]).isdisjoint(split.groups[split.validation])
    assert split.train.size + split.validation.size == len(sequences)
    assert 0.19 < split.validation.size / len(sequences) < 0.31
    for label in (0, 1):
        assert np.sum(np.asarray(labels)[split.validation] == label) > 0
    again = sequence_disjoint_split(sequences, labels, validation_fraction=0.25, seed=1)
    ids = [str(i) for i in range(len(sequences))]
    assert split.fingerprint(ids, sequences) == again.fingerprint(ids, sequences)


def _kmers(sequence: str, k: int = 21) -> set[str]:
    return {sequence[i : i + k] for i in range(len(sequence) - k + 1)}


def test_no_near_identical_pair_straddles_a_split_of_real_human_transcripts(shared):
    """Independent check with plain k-mer sets: no validation transcript shares half its 21-mers
    with a training transcript."""
    rng = random.Random(0)
    records = read_plain_fasta(shared / "data" / "human" / "train_coding.fa.gz")
    sample = rng.sample(records, 600)
    sequences = [s for _, s in sample]
    split = sequence_disjoint_split(sequences, [1] * len(sequences), validation_fraction=0.2, seed=0)
    train_sets = [_kmers(sequences[i]) for i in split.train]
    for i in split.validation:
        query = _kmers(sequences[i])
        if not query:
            continue
        best = max(len(query & other) / min(len(query), len(other) or 1) for other in train_sets)
        assert best < 0.5, f"validation transcript {sample[i][0]} shares {best:.0%} of its 21-mers with train"


def test_split_sides_do_not_depend_on_the_other_records():
    """A transcript lands on the same side whether the whole set or a sample is split."""
    rng = random.Random(11)
    families = [_gene_family(rng, rng.randint(1, 3)) for _ in range(200)]
    sequences = [s for family in families for s in family]
    labels = [i % 2 for i, family in enumerate(families) for _ in family]
    whole = sequence_disjoint_split(sequences, labels, validation_fraction=0.2, seed=4)
    in_validation = set(whole.validation.tolist())
    # A sample that keeps whole families (as near-identical isoforms are kept together).
    kept = [i for i, family in enumerate(families) for _ in family if i % 3 == 0]
    rows = [j for j, f in enumerate(i for i, family in enumerate(families) for _ in family) if f % 3 == 0]
    assert len(kept) == len(rows)
    sample = sequence_disjoint_split([sequences[j] for j in rows], [labels[j] for j in rows], 0.2, seed=4)
    assert {rows[j] for j in sample.validation} == in_validation & set(rows)


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_split_fraction_holds_per_label_on_large_inputs(fraction):
    rng = random.Random(11)
    sequences = [_random_seq(rng, 120) for _ in range(4000)]
    labels = [1] * 1000 + [0] * 3000
    split = sequence_disjoint_split(sequences, labels, validation_fraction=fraction, seed=2)
    y = np.asarray(labels)
    for label in (0, 1):
        share = np.sum(y[split.validation] == label) / np.sum(y == label)
        assert abs(share - fraction) < 0.04
