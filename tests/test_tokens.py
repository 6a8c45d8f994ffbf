"""Token arrays for sequence models (``coding_potential.features.tokens``) against a plain-Python reading."""

from __future__ import annotations

import random

import numpy as np
import pytest

from coding_potential.features import compute_features
from coding_potential.features.tokens import AMBIGUOUS, PAD, base_tokens, crop_windows, kmer_tokens, kmer_unknown


def ref_window(seq: str, orf_start: int, max_length: int, upstream: int) -> str:
    """The window by its definition: start ``upstream`` before the ORF, in frame, moved back (in frame) to
    hold ``max_length`` bases where the sequence has them."""
    if orf_start == 0:
        return seq[:max_length]
    orf = orf_start - 1
    frame = orf % 3
    candidates = [s for s in range(frame, max(orf - upstream, frame) + 1, 3)]  # in frame, not after wanted
    fitting = [s for s in candidates if s + max_length <= len(seq)]
    start = max(fitting) if fitting else frame
    return seq[start:start + max_length]


@pytest.fixture(scope="module")
def sequences() -> list[str]:
    rng = random.Random(7)
    made = ["".join(rng.choice("ACGT") for _ in range(rng.randint(3, 700))) for _ in range(150)]
    made += ["CC" + "ATG" + "GCC" * 200 + "TAA" + "A" * 50, "NNATGRCCTAG", "ACG", "GGGGGGGG" * 40]
    return made


@pytest.mark.parametrize(("max_length", "upstream"), [(90, 0), (300, 99), (1000, 99), (3, 30)])
def test_windows_and_base_tokens_match_a_plain_reading(sequences: list[str], max_length: int, upstream: int) -> None:
    orf_start = compute_features(sequences, kmer_sizes=())["orf_start"]
    tokens, lengths = base_tokens(sequences, orf_start, max_length, upstream)
    starts, _ = crop_windows(np.array([len(s) for s in sequences]), orf_start, max_length, upstream)
    assert tokens.shape == (len(sequences), max(lengths)) and tokens.dtype == np.uint8
    for i, seq in enumerate(sequences):
        window = ref_window(seq, int(orf_start[i]), max_length, upstream)
        assert lengths[i] == len(window), seq
        assert seq[starts[i]:starts[i] + lengths[i]] == window
        if orf_start[i]:
            assert (orf_start[i] - 1 - starts[i]) % 3 == 0  # read in the ORF's frame
        expected = ["ACGT".index(b) if b in "ACGT" else AMBIGUOUS for b in window]
        assert tokens[i, :lengths[i]].tolist() == expected
        assert (tokens[i, lengths[i]:] == PAD).all()


def test_a_long_transcript_is_read_around_its_orf() -> None:
    seq = "T" * 5000 + "ATG" + "GCA" * 400 + "TGA" + "T" * 3000
    orf_start = compute_features([seq], kmer_sizes=())["orf_start"]
    tokens, lengths = base_tokens([seq], orf_start, 1500, upstream=99)
    start = int(orf_start[0]) - 1 - 99
    assert lengths[0] == 1500 and "".join("ACGT"[t] for t in tokens[0]) == seq[start:start + 1500]


@pytest.mark.parametrize("k", [1, 3, 6])
def test_kmer_tokens_match_a_plain_reading(sequences: list[str], k: int) -> None:
    orf_start = compute_features(sequences, kmer_sizes=())["orf_start"]
    base, lengths = base_tokens(sequences, orf_start, 400)
    tokens = kmer_tokens(base, lengths, k)
    for i in range(len(sequences)):
        window = "".join("ACGTN"[t] for t in base[i, :lengths[i]])
        expected = []
        for p in range(len(window)):
            kmer = window[p:p + k]
            if len(kmer) < k or set(kmer) - set("ACGT"):
                expected.append(kmer_unknown(k))
            else:
                expected.append(1 + int("".join(str("ACGT".index(b)) for b in kmer), 4))
        assert tokens[i, :lengths[i]].tolist() == expected
        assert (tokens[i, lengths[i]:] == 0).all()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_length"):
        crop_windows(np.array([10]), np.array([1]), 2)
    with pytest.raises(ValueError, match="k must be"):
        kmer_tokens(np.zeros((1, 4), dtype=np.uint8), np.array([4]), 0)
