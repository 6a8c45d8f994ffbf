"""Tests of coding_potential.features against slow, obviously-correct scalar references.

The references below loop over every base and every ATG in plain Python; they share no code with the
vectorised implementation, only the definitions (see the docstrings of coding_potential.features).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from coding_potential.config import shared_dir
from coding_potential.fasta import Record, read_records
from coding_potential.features import (
    CODON_USAGE_COLUMNS,
    FEATURE_COLUMNS,
    IS_STOP,
    NEUTRAL_VALUES,
    PSEUDO_FREQUENCY,
    SENSE_CODONS,
    HexamerTable,
    codon_index,
    compute_features,
    decode,
    encode,
    feature_columns,
    fickett_from_phase_counts,
    kmer_counts,
    kmer_names,
    longest_orfs,
    longest_stop_free,
)
from coding_potential.features import encoding as feature_encoding
from coding_potential.features import table as feature_table
from coding_potential.features.peptide import NEUTRAL_PI

# --------------------------------------------------------------------------- scalar references

EXPANSIONS = {
    "A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
    "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip
STOPS = {"TAA", "TAG", "TGA"}


def ref_is_stop(codon: str) -> bool:
    return all("".join(bases) in STOPS for bases in product(*(EXPANSIONS[c] for c in codon)))


def ref_orfs(seq: str) -> tuple[int, int, int, int]:
    """(complete length, 0-based start or -1, open length, 0-based open start or -1), by trying every ATG."""
    best, best_start, best_open, best_open_start = 0, -1, 0, -1
    for i in range(len(seq) - 2):
        if seq[i : i + 3] != "ATG":
            continue
        j = i + 3
        while j + 3 <= len(seq) and not ref_is_stop(seq[j : j + 3]):
            j += 3
        if j + 3 <= len(seq):
            if j + 3 - i > best:  # strict: the earliest start wins ties
                best, best_start = j + 3 - i, i
        elif (len(seq) - i) // 3 * 3 > best_open:
            best_open, best_open_start = (len(seq) - i) // 3 * 3, i
    return best, best_start, best_open, best_open_start


def ref_stop_free(seq: str) -> tuple[int, int]:
    """(length, 0-based start or -1) of the longest stop-free in-frame stretch, by trying every start."""
    best, best_start = 0, -1
    for i in range(len(seq)):
        j = i
        while j + 3 <= len(seq) and not ref_is_stop(seq[j : j + 3]):
            j += 3
        if j - i > best:  # strict: the earliest start wins ties
            best, best_start = j - i, i
    return best, best_start


def ref_gc(seq: str) -> float:
    unambiguous = sum(seq.count(b) for b in "ACGT")
    return (seq.count("G") + seq.count("C")) / unambiguous if unambiguous else 0.5


def ref_kmer_freqs(seq: str, k: int) -> dict[str, float]:
    counts = dict.fromkeys(("".join(p) for p in product("ACGT", repeat=k)), 0)
    for i in range(len(seq) - k + 1):
        word = seq[i : i + k]
        if word in counts:
            counts[word] += 1
    total = sum(counts.values())
    return {word: (c / total if total else 0.0) for word, c in counts.items()}


# Fickett (1982) tables, transcribed per base: probabilities for thresholds in decreasing order.
FICKETT_POSITION_THRESHOLDS = [1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 0.0]
FICKETT_CONTENT_THRESHOLDS = [0.33, 0.31, 0.29, 0.27, 0.25, 0.23, 0.21, 0.19, 0.17, 0.0]
FICKETT_POSITION_PROB = {
    "A": [0.94, 0.68, 0.84, 0.93, 0.58, 0.68, 0.45, 0.34, 0.20, 0.22],
    "C": [0.80, 0.70, 0.70, 0.81, 0.66, 0.48, 0.51, 0.33, 0.30, 0.23],
    "G": [0.90, 0.88, 0.74, 0.64, 0.53, 0.48, 0.27, 0.16, 0.08, 0.08],
    "T": [0.97, 0.97, 0.91, 0.68, 0.69, 0.44, 0.54, 0.20, 0.09, 0.09],
}
FICKETT_CONTENT_PROB = {
    "A": [0.28, 0.49, 0.44, 0.55, 0.62, 0.49, 0.67, 0.65, 0.81, 0.21],
    "C": [0.82, 0.64, 0.51, 0.64, 0.59, 0.59, 0.43, 0.44, 0.39, 0.31],
    "G": [0.40, 0.54, 0.47, 0.64, 0.64, 0.73, 0.41, 0.41, 0.33, 0.29],
    "T": [0.28, 0.24, 0.39, 0.40, 0.55, 0.75, 0.56, 0.69, 0.51, 0.58],
}
FICKETT_POSITION_WEIGHT = {"A": 0.26, "C": 0.18, "G": 0.31, "T": 0.33}
FICKETT_CONTENT_WEIGHT = {"A": 0.11, "C": 0.12, "G": 0.15, "T": 0.14}


def ref_lookup(value: float, thresholds: list[float], probabilities: list[float]) -> float:
    for threshold, probability in zip(thresholds, probabilities, strict=False):
        if value >= threshold:
            return probability
    raise AssertionError("unreachable: the last threshold is 0")


def ref_fickett(region: str) -> float:
    letters = [(i, b) for i, b in enumerate(region) if b in "ACGT"]
    if len(letters) < 3:
        return NEUTRAL_VALUES["fickett"]
    score = 0.0
    for base in "ACGT":
        phases = [sum(1 for i, b in letters if b == base and i % 3 == p) for p in range(3)]
        position = max(phases) / (min(phases) + 1.0)
        content = sum(phases) / len(letters)
        position_probability = ref_lookup(position, FICKETT_POSITION_THRESHOLDS, FICKETT_POSITION_PROB[base])
        content_probability = ref_lookup(content, FICKETT_CONTENT_THRESHOLDS, FICKETT_CONTENT_PROB[base])
        score += position_probability * FICKETT_POSITION_WEIGHT[base]
        score += content_probability * FICKETT_CONTENT_WEIGHT[base]
    return score


def ref_region(seq: str) -> str:
    """The scored region: the longer of the complete and the open ORF (complete wins ties), else the
    longest stop-free stretch, else the whole sequence."""
    length, start, open_length, open_start = ref_orfs(seq)
    if length and length >= open_length:
        return seq[start : start + length]
    if open_length:
        return seq[open_start : open_start + open_length]
    stop_free, stop_free_start = ref_stop_free(seq)
    if stop_free:
        return seq[stop_free_start : stop_free_start + stop_free]
    return seq


def ref_stop_free_region(seq: str) -> str:
    length, start = ref_stop_free(seq)
    return seq[start : start + length] if length else ""


def ref_hexamers(region: str) -> list[str]:
    """In-frame (step 3) unambiguous hexamers of a region, read from its start."""
    words = (region[i : i + 6] for i in range(0, len(region) - 5, 3))
    return [w for w in words if all(b in "ACGT" for b in w)]


def ref_hexamer_score(region: str, coding: dict[str, float], noncoding: dict[str, float]) -> float:
    words = ref_hexamers(region)
    ratios = [math.log((coding[w] + PSEUDO_FREQUENCY) / (noncoding[w] + PSEUDO_FREQUENCY)) for w in words]
    return sum(ratios) / len(ratios) if ratios else 0.0


# --------------------------------------------------------------------------- test data


def random_sequences(seed: int = 7, count: int = 500) -> list[str]:
    """Short and long sequences, some codon-structured (many ATGs and stops), with IUPAC codes."""
    rng = random.Random(seed)
    codons = ["ATG", "TAA", "TAG", "TGA", "TAR", "TRA", "YAA", "ATN", "GCC", "AAA", "CTG"]
    sequences = [""]
    for i in range(count):
        ambiguity = rng.choice([0.0, 0.0, 0.02, 0.2])
        length = rng.randint(0, 10) if i % 3 == 0 else rng.randint(11, 400)
        if i % 4 == 1:
            seq = "".join(rng.choice(codons) for _ in range(length // 3 + 1))[:length]
            if rng.random() < 0.5:
                seq = rng.choice("ACGT" * 3 + "N") * rng.randint(0, 2) + seq  # shift the frame
        else:
            seq = "".join(rng.choice("ACGT") for _ in range(length))
        seq = "".join(rng.choice("RYSWKMBDHVN") if rng.random() < ambiguity else b for b in seq)
        sequences.append(seq)
    return sequences


@pytest.fixture(scope="module")
def sequences() -> list[str]:
    return random_sequences()


@pytest.fixture(scope="module")
def hexamer_table() -> HexamerTable:
    rng = np.random.default_rng(3)
    coding, noncoding = rng.random(4096), rng.random(4096)
    coding[rng.choice(4096, 50, replace=False)] = 0.0  # exercise the pseudo-frequency
    return HexamerTable(coding / coding.sum(), noncoding / noncoding.sum())


def shared_or_skip() -> Path:
    folder = shared_dir()
    if not folder.is_dir():
        pytest.skip(f"shared reference folder not found at {folder} (set CODING_POTENTIAL_SHARED)")
    return folder


# --------------------------------------------------------------------------- encoding and codons


def test_encode_concatenates_with_offsets() -> None:
    codes, offsets = encode(["ACGT", "", "NRY", "T"])
    assert offsets.tolist() == [0, 4, 4, 7, 8]
    assert codes[:4].tolist() == [0, 1, 2, 3]
    assert (codes[4:7] >= 4).all() and len(set(codes[4:7].tolist())) == 3
    assert decode(codes) == "ACGTNRYT"


def test_encode_rejects_characters_outside_the_alphabet() -> None:
    with pytest.raises(ValueError, match="'-'"):
        encode(["ACGT", "AC-GT"])
    with pytest.raises(ValueError):
        encode(["ACGTé"])


def test_stop_table_is_iupac_aware() -> None:
    expected = {"".join(c) for c in product(EXPANSIONS, repeat=3) if ref_is_stop("".join(c))}
    found = {c for c in ("".join(p) for p in product(EXPANSIONS, repeat=3)) if IS_STOP[codon_index(c)]}
    assert found == expected == {"TAA", "TAG", "TGA", "TAR", "TRA"}


@pytest.mark.parametrize(
    ("seq", "length", "start"),
    [
        ("ATGAAATARCC", 9, 0),  # TAR = TAA/TAG: a stop
        ("ATGAAATRACC", 9, 0),  # TRA = TAA/TGA: a stop
        ("ATGAAAYAATAG", 12, 0),  # YAA may be CAA: read through
        ("ATGNNNTAA", 9, 0),  # ambiguous codon inside the ORF: read through
        ("ATNAAATAG", 0, -1),  # ATN is never a start
        ("CATGTAAATGTAA", 6, 1),  # two ORFs of 6 nt: the earliest start wins
        ("GGATGATGCCCTGA", 12, 2),  # the first in-frame ATG, not the inner one
    ],
)
def test_orf_rules(seq: str, length: int, start: int) -> None:
    orfs = longest_orfs(*encode([seq]))
    assert (orfs.length[0], orfs.start[0]) == (length, start)


# --------------------------------------------------------------------------- against the references


def test_orfs_match_brute_force(sequences: list[str]) -> None:
    orfs = longest_orfs(*encode(sequences))
    for i, seq in enumerate(sequences):
        expected = ref_orfs(seq)
        got = (orfs.length[i], orfs.start[i], orfs.open_length[i], orfs.open_start[i])
        assert got == expected, seq


def test_stop_free_matches_brute_force(sequences: list[str]) -> None:
    length, start = longest_stop_free(*encode(sequences))
    for i, seq in enumerate(sequences):
        assert (length[i], start[i]) == ref_stop_free(seq), seq


def test_stop_free_columns_match_brute_force(sequences: list[str]) -> None:
    features = compute_features(sequences, kmer_sizes=())
    assert features["stopfree_length"].dtype == np.int64 and features["stopfree_coverage"].dtype == np.float64
    for i, seq in enumerate(sequences):
        length, _ = ref_stop_free(seq)
        assert features["stopfree_length"][i] == length, seq
        assert features["stopfree_coverage"][i] == pytest.approx(length / len(seq) if seq else 0.0)


@pytest.mark.parametrize(
    ("seq", "length", "start"),
    [
        ("", 0, -1),
        ("TA", 0, -1),
        ("TAA", 0, -1),  # a lone stop: nothing stop-free
        ("TAR", 0, -1),  # TAR = TAA/TAG: a stop
        ("AAAA", 3, 0),  # frames 1 and 2 tie at 3 nt: the earliest start wins
        ("TARCCC", 3, 1),  # frame 1: TAR|CCC (3 from 3); frame 2: ARC (3 from 1); the earliest wins
        ("YAACCTGA", 6, 0),  # YAA may be CAA: read through; TGA ends the frame-1 stretch
        ("TGATAACCCCCC", 9, 1),  # frame 1: TGA TAA, then 6 nt; frames 2 and 3 tie at 9: the earliest wins
    ],
)
def test_stop_free_rules(seq: str, length: int, start: int) -> None:
    got = longest_stop_free(*encode([seq]))
    assert (got[0][0], got[1][0]) == ref_stop_free(seq) == (length, start)


def test_orf_columns_match_brute_force(sequences: list[str]) -> None:
    features = compute_features(sequences, kmer_sizes=())
    for i, seq in enumerate(sequences):
        length, start, open_length, _ = ref_orfs(seq)
        assert features["orf_length"][i] == length
        assert features["orf_start"][i] == start + 1
        assert features["orf_frame"][i] == (start % 3 + 1 if length else 0)
        assert features["orf_coverage"][i] == pytest.approx(length / len(seq) if length else 0.0)
        assert features["open_orf_length"][i] == open_length


def test_composition_matches_brute_force(sequences: list[str]) -> None:
    features = compute_features(sequences, kmer_sizes=(1, 2, 3, 4))
    for i, seq in enumerate(sequences):
        unambiguous = sum(seq.count(b) for b in "ACGT")
        assert features["length"][i] == len(seq)
        assert features["n_unambiguous"][i] == unambiguous
        assert features["n_ambiguous"][i] == len(seq) - unambiguous
        assert features["gc_content"][i] == pytest.approx(ref_gc(seq))
        for k in (1, 2, 3, 4):
            for word, value in ref_kmer_freqs(seq, k).items():
                assert features[f"kmer{k}_{word}"][i] == pytest.approx(value), (seq, word)


def test_kmer_counts_for_each_largest_k(sequences: list[str]) -> None:
    codes, offsets = encode(sequences)
    for sizes in [(1,), (2,), (1, 5), (6,)]:
        counts = kmer_counts(codes, offsets, sizes)
        for k in sizes:
            for i in range(0, len(sequences), 7):
                seq = sequences[i]
                total = sum(1 for j in range(len(seq) - k + 1) if set(seq[j : j + k]) <= set("ACGT"))
                assert counts[k][i].sum() == total
                freqs = ref_kmer_freqs(seq, k)
                got = counts[k][i] / max(total, 1)
                assert np.allclose(got, [freqs[w] for w in kmer_names(k)])


def test_fickett_matches_scalar_reference(sequences: list[str]) -> None:
    features = compute_features(sequences, kmer_sizes=())
    for i, seq in enumerate(sequences):
        assert features["fickett"][i] == pytest.approx(ref_fickett(ref_region(seq))), seq
        assert features["stopfree_fickett"][i] == pytest.approx(ref_fickett(ref_stop_free_region(seq))), seq


def test_fickett_cpat_variant_differs_only_below_content_021() -> None:
    counts = np.array([[[1, 4, 5, 5], [0, 4, 5, 5], [0, 4, 5, 5]]])  # A content 1/43 ~ 0.023
    published = fickett_from_phase_counts(counts)[0]
    cpat = fickett_from_phase_counts(counts, cpat_compatible=True)[0]
    # Published: A content falls in the last row (">= 0", 0.21); CPAT has no 0.19 threshold, so it
    # lands one row higher (0.81). C, G and T contents (>= 0.27) use the same rows in both.
    assert cpat - published == pytest.approx((0.81 - 0.21) * 0.11)


def test_hexamer_score_matches_scalar_reference(sequences: list[str], hexamer_table: HexamerTable) -> None:
    coding = dict(zip(kmer_names(6), hexamer_table.coding, strict=True))
    noncoding = dict(zip(kmer_names(6), hexamer_table.noncoding, strict=True))
    features = compute_features(sequences, hexamer=hexamer_table, kmer_sizes=())
    scores = hexamer_table.score(sequences)
    columns = hexamer_table.score_columns(sequences)
    assert list(columns) == ["hexamer_score", "stopfree_hexamer_score"]
    for i, seq in enumerate(sequences):
        expected = ref_hexamer_score(ref_region(seq), coding, noncoding)
        assert features["hexamer_score"][i] == pytest.approx(expected), seq
        assert scores[i] == pytest.approx(expected)
        expected = ref_hexamer_score(ref_stop_free_region(seq), coding, noncoding)
        assert features["stopfree_hexamer_score"][i] == pytest.approx(expected), seq
    for name, values in columns.items():
        np.testing.assert_array_equal(values, features[name], err_msg=name)


def test_score_regions_reads_any_region(hexamer_table: HexamerTable) -> None:
    coding = dict(zip(kmer_names(6), hexamer_table.coding, strict=True))
    noncoding = dict(zip(kmer_names(6), hexamer_table.noncoding, strict=True))
    seqs = ["ACGTTGCANNAGGCTTACCGAT", "GGGCCCAAATTT", "", "ACGTAC"]
    start, length = np.array([1, 0, 0, 0]), np.array([20, 12, 0, 5])
    codes, offsets = encode(seqs)
    got = hexamer_table.score_regions(codes, offsets, None, start, length)
    for i, seq in enumerate(seqs):
        region = seq[start[i] : start[i] + length[i]]
        assert got[i] == pytest.approx(ref_hexamer_score(region, coding, noncoding)), seq
    assert got[2:].tolist() == [NEUTRAL_VALUES["stopfree_hexamer_score"]] * 2


def test_hexamer_fit_counts_in_frame_hexamers_of_the_scored_region(sequences: list[str]) -> None:
    coding_seqs, noncoding_seqs = sequences[::2], sequences[1::2]
    table = HexamerTable.fit(coding_seqs, noncoding_seqs)
    for seqs, fitted in ((coding_seqs, table.coding), (noncoding_seqs, table.noncoding)):
        words = [w for s in seqs for w in ref_hexamers(ref_region(s))]
        expected = np.array([words.count(w) for w in kmer_names(6)]) / len(words)
        assert np.allclose(fitted, expected, rtol=0, atol=1e-15)


def test_hexamer_fit_needs_hexamers() -> None:
    with pytest.raises(ValueError, match="no unambiguous"):
        HexamerTable.fit(["ATGAAATAA"], ["ACG", "NNNNNNNN"])


def test_chunking_does_not_change_results(
    sequences: list[str], hexamer_table: HexamerTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = compute_features(sequences, hexamer=hexamer_table)
    fitted = HexamerTable.fit(sequences[::2], sequences[1::2])
    scores = hexamer_table.score(sequences)
    monkeypatch.setattr(feature_table, "CHUNK_BASES", 500)
    monkeypatch.setattr(feature_table, "CHUNK_KMER_BINS", 64 * 17)
    monkeypatch.setattr(feature_encoding, "CHUNK_BASES", 500)
    chunked = compute_features(sequences, hexamer=hexamer_table)
    assert list(chunked) == list(whole)
    for name in whole:
        np.testing.assert_array_equal(chunked[name], whole[name], err_msg=name)
    assert HexamerTable.fit(sequences[::2], sequences[1::2]).fingerprint() == fitted.fingerprint()
    np.testing.assert_array_equal(hexamer_table.score(sequences), scores)


# --------------------------------------------------------------------------- table contract


def test_columns_order_and_types(hexamer_table: HexamerTable) -> None:
    features = compute_features(["ATGAAATAG", "CC"], hexamer=hexamer_table)
    assert list(features) == list(FEATURE_COLUMNS) == feature_columns((1, 2, 3), with_hexamer=True)
    assert FEATURE_COLUMNS[:16] == (
        "length", "n_ambiguous", "gc_content", "n_unambiguous", "orf_length", "orf_start",
        "orf_frame", "orf_coverage", "open_orf_length", "stopfree_length", "stopfree_coverage",
        "fickett", "stopfree_fickett", "orf_pi", "hexamer_score", "stopfree_hexamer_score",
    )  # fmt: skip
    assert FEATURE_COLUMNS[16:20] == ("kmer1_A", "kmer1_C", "kmer1_G", "kmer1_T")
    assert FEATURE_COLUMNS[-1] == "kmer3_TTT" and len(FEATURE_COLUMNS) == 16 + 4 + 16 + 64
    assert all(v.shape == (2,) for v in features.values())
    int_columns = ("length", "n_ambiguous", "n_unambiguous", "orf_length", "orf_start", "orf_frame",
                   "open_orf_length", "stopfree_length")  # fmt: skip
    for name, values in features.items():
        assert values.dtype == (np.int64 if name in int_columns else np.float64), name
    without = compute_features(["ACGT"])
    assert "hexamer_score" not in without and "stopfree_hexamer_score" not in without
    assert feature_columns((2,), with_hexamer=False)[-16:] == [f"kmer2_{w}" for w in kmer_names(2)]


def test_empty_input_gives_empty_columns() -> None:
    features = compute_features([])
    assert list(features) == feature_columns(with_hexamer=False)
    assert all(v.shape == (0,) for v in features.values())


@pytest.mark.parametrize("sizes", [(0,), (7,), (2, 2)])
def test_bad_kmer_sizes_are_refused(sizes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="kmer_sizes"):
        compute_features(["ACGT"], kmer_sizes=sizes)


def test_no_nan_for_short_and_ambiguous_sequences(hexamer_table: HexamerTable) -> None:
    short = ["", "A", "NN", "ATG", "NNN", "ATGTA", "NNNNN", "ACGTN", "TAG"]
    features = compute_features(short, hexamer=hexamer_table, kmer_sizes=(1, 2, 3, 4, 5, 6))
    for name, values in features.items():
        assert not np.isnan(values.astype(float)).any(), name
    assert features["gc_content"][[0, 2, 4]].tolist() == [NEUTRAL_VALUES["gc_content"]] * 3
    assert features["fickett"][[0, 1, 2, 4]].tolist() == [NEUTRAL_VALUES["fickett"]] * 4
    assert features["hexamer_score"].tolist() == [NEUTRAL_VALUES["hexamer_score"]] * len(short)
    assert features["stopfree_hexamer_score"].tolist() == [NEUTRAL_VALUES["stopfree_hexamer_score"]] * len(short)
    assert features["open_orf_length"][[3, 5]].tolist() == [3, 3]
    # "" "A" "NN" have no stop-free codon; "NNN" and "NNNNN" have one, but no A/C/G/T; "TAG" is a stop.
    assert features["stopfree_length"].tolist() == [0, 0, 0, 3, 3, 3, 3, 3, 0]
    assert features["stopfree_coverage"][[0, 8]].tolist() == [NEUTRAL_VALUES["stopfree_coverage"]] * 2
    assert features["stopfree_fickett"][[0, 1, 2, 4, 6, 8]].tolist() == [NEUTRAL_VALUES["stopfree_fickett"]] * 6
    # "TAG": no ORF and nothing stop-free, so fickett scores the whole sequence (3 letters).
    assert features["fickett"][8] == pytest.approx(ref_fickett("TAG"))


def test_truncated_coding_fragment_is_seen_by_the_stop_free_columns(hexamer_table: HexamerTable) -> None:
    # A 5'-truncated CDS: it starts mid-codon-stream with no ATG anywhere, ends with a stop and a 3' UTR.
    # Its other two frames meet a stop every 30 nt (GCT AAG: TAA; CTG AAG: TGA).
    cds = "GCTAAGCTGAAGGAGCAGCGCTTCAAGGAG" * 10
    utr = "TAAGCGGCCCCGCCGCC"
    fragment = "CC" + cds + utr
    assert "ATG" not in fragment
    features = compute_features([fragment], hexamer=hexamer_table, kmer_sizes=())
    assert features["orf_length"][0] == 0 and features["open_orf_length"][0] == 0
    assert features["stopfree_length"][0] == len(cds) == ref_stop_free(fragment)[0]
    assert ref_stop_free(fragment)[1] == 2
    assert features["stopfree_coverage"][0] == pytest.approx(len(cds) / len(fragment))
    # No ORF at all: the scored region is the stop-free stretch, so both pairs of scores agree.
    assert features["fickett"][0] == features["stopfree_fickett"][0] == pytest.approx(ref_fickett(cds))
    assert features["hexamer_score"][0] == features["stopfree_hexamer_score"][0] != 0.0


# --------------------------------------------------------------------------- CPAT's hexamer table


def test_cpat_table_loads_and_round_trips(tmp_path: Path) -> None:
    path = shared_or_skip() / "reference" / "cpat" / "Human_Hexamer.tsv"
    table = HexamerTable.load(path)
    assert table.coding[0] == pytest.approx(0.000647111) and table.noncoding[0] == pytest.approx(0.002072893)
    assert table.coding.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.isfinite(table.log_ratio).all()
    saved = tmp_path / "table.tsv"
    table.save(saved)
    assert saved.read_text().splitlines()[0] == "hexamer\tcoding\tnoncoding"
    assert len(saved.read_text().splitlines()) == 4097
    again = HexamerTable.load(saved)
    np.testing.assert_array_equal(again.coding, table.coding)
    np.testing.assert_array_equal(again.noncoding, table.noncoding)
    assert again.fingerprint() == table.fingerprint() == hashlib.sha256(saved.read_bytes()).hexdigest()


def test_fitted_table_round_trips(tmp_path: Path, sequences: list[str]) -> None:
    table = HexamerTable.fit(sequences[::2], sequences[1::2])
    table.save(tmp_path / "fitted.tsv")
    again = HexamerTable.load(tmp_path / "fitted.tsv")
    np.testing.assert_array_equal(again.coding, table.coding)
    assert again.fingerprint() == table.fingerprint()
    np.testing.assert_array_equal(again.score(sequences), table.score(sequences))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "kmer\tcoding\tnoncoding\n",
        "hexamer\tcoding\tnoncoding\nAAAAAA\t0.1\t0.2\n",
        "hexamer\tcoding\tnoncoding\nAAAAAX\t0.1\t0.2\n",
        "hexamer\tcoding\tnoncoding\nAAAAAA\tx\t0.2\n",
    ],
)
def test_malformed_tables_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="hexamer table"):
        HexamerTable.from_tsv(text)


# --------------------------------------------------------------------------- shared FASTA cases


def read_plain_fasta(path: Path) -> dict[str, str]:
    """Tiny reader for the plain-text cases: ID = first word; sequence upper-cased, U read as T."""
    records: dict[str, list[str]] = {}
    current: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            current = records.setdefault(line[1:].split()[0], [])
        else:
            current.append(line.strip())
    return {rid: "".join(parts).upper().replace("U", "T") for rid, parts in records.items()}


CASES = {
    "c01_softmasked_lowercase.fa": None,
    "c03_iupac_gaps.fa": {"tx1", "tx2", "tx3"},
    "c15_too_short.fa": None,
    "c16_orf_edge_cases.fa": None,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shared_fasta_cases(case: str) -> None:
    folder = shared_or_skip() / "cases" / "fasta"
    expected = json.loads((folder / "expected.json").read_text())[case]
    records = read_plain_fasta(folder / "inputs" / case)
    wanted = [r for r in expected["records"] if CASES[case] is None or r["id"] in CASES[case]]
    features = compute_features([records[r["id"]] for r in wanted])
    for i, record in enumerate(wanted):
        assert features["length"][i] == record["length_nt"]
        assert round(float(features["gc_content"][i]), 4) == record["gc_fraction"]
        orf = record.get("longest_orf_nt_iupac_aware", record["longest_orf_nt"])
        open_orf = record.get("longest_open_orf_nt_iupac_aware", record["longest_open_orf_nt"])
        assert (features["orf_length"][i], features["open_orf_length"][i]) == (orf, open_orf), record["id"]
        assert features["n_ambiguous"][i] == record["ambiguous_or_nonACGT_count"]
    positions = dict(expected.get("orf_positions_1based", {}))
    if "uppercase_reference_orf_positions_1based" in expected:
        positions["tx1"] = positions["tx2"] = expected["uppercase_reference_orf_positions_1based"]
    for rid, (first, last) in positions.items():
        i = [r["id"] for r in wanted].index(rid)
        start, length = features["orf_start"][i], features["orf_length"][i]
        assert (start or None, (start + length - 1) if length else None) == (first, last), rid


# --------------------------------------------------------------------------- peptide pI


def test_orf_pi_matches_biopython_on_real_transcripts() -> None:
    """Biopython's ProteinAnalysis (Bjellqvist pKs, its own bisection) is the independent reference."""
    from Bio.Seq import Seq
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    data = shared_or_skip() / "data" / "human"
    sequences = []
    for name in ("train_coding.fa.gz", "train_noncoding.fa.gz"):
        sequences += [r.sequence for r, _ in zip(read_records(data / name), range(300), strict=False)
                      if isinstance(r, Record)]
    features = compute_features(sequences)
    checked = 0
    for sequence, start, length, pi in zip(sequences, features["orf_start"], features["orf_length"],
                                           features["orf_pi"], strict=True):
        if length == 0:
            assert pi == NEUTRAL_PI
            continue
        peptide = str(Seq(sequence[start - 1 : start - 1 + length - 3]).translate())
        if "X" not in peptide:  # ambiguous codons: Biopython would guess nothing either
            assert pi == pytest.approx(ProteinAnalysis(peptide).isoelectric_point(), abs=1e-3), peptide
            checked += 1
    assert checked > 500


@pytest.mark.parametrize(
    ("sequence", "peptide"),
    [
        ("CCATGTAACC", "M"),
        ("ATGGATTAA", "MD"),  # C-terminal D: its own C-terminal pK
        ("ATGGAGTGA", "ME"),
        ("ATGAAAAGGCATTAG", "MKRH"),
        ("ATGGACGAATGTTATTAA", "MDECY"),
    ],
)
def test_orf_pi_by_hand(sequence: str, peptide: str) -> None:
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    [pi] = compute_features([sequence])["orf_pi"]
    assert pi == pytest.approx(ProteinAnalysis(peptide).isoelectric_point(), abs=1e-3)


def test_orf_pi_skips_ambiguous_codons_and_is_neutral_without_orf() -> None:
    features = compute_features(["ATGGANAAATAA", "ATGAAATAA", "CCCCCC", "ATGAAA"])
    assert features["orf_pi"][0] == pytest.approx(features["orf_pi"][1], abs=1e-9)  # GAN adds no residue
    assert features["orf_pi"][2:].tolist() == [NEUTRAL_PI, NEUTRAL_PI]  # no complete ORF (open only)


# ------------------------------------------------------------------------------------- codon usage
def ref_codon_usage(seq: str) -> dict[str, float]:
    """Sense-codon frequencies over the brute-force longest ORF, start in, stop out, ambiguous codons skipped."""
    length, start, _, _ = ref_orfs(seq)
    codons = [seq[i:i + 3] for i in range(start, start + length - 3, 3)] if length else []
    sense = [c for c in codons if set(c) <= set("ACGT") and c not in ("TAA", "TAG", "TGA")]
    return {c: sense.count(c) / len(sense) for c in set(sense)}


def test_codon_usage_matches_brute_force(sequences: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    ambiguous = ["CCATGAARGCCNNNAAATAGG", "ATGTAA", "GGGG", "ATGRRRTGA"]
    features = compute_features(sequences + ambiguous, kmer_sizes=(), codon_usage=True)
    assert list(features)[-61:] == list(CODON_USAGE_COLUMNS) == [f"codon_{c}" for c in SENSE_CODONS]
    assert len(SENSE_CODONS) == 61 and not {"TAA", "TAG", "TGA"} & set(SENSE_CODONS)
    for i, seq in enumerate(sequences + ambiguous):
        expected = ref_codon_usage(seq)
        got = {c: features[f"codon_{c}"][i] for c in SENSE_CODONS if features[f"codon_{c}"][i]}
        assert got == pytest.approx(expected), seq
    # ATG AAR GCC NNN AAA TAG: the ambiguous codons are not counted
    assert {c: features[f"codon_{c}"][len(sequences)] for c in ("ATG", "GCC", "AAA")} == pytest.approx(
        {"ATG": 1 / 3, "GCC": 1 / 3, "AAA": 1 / 3})
    assert all(features[f"codon_{c}"][-3:].sum() == 0 for c in SENSE_CODONS if c != "ATG")  # no sense codon
    monkeypatch.setattr(feature_encoding, "CHUNK_BASES", 500)
    monkeypatch.setattr(feature_table, "CHUNK_BASES", 500)
    chunked = compute_features(sequences + ambiguous, kmer_sizes=(), codon_usage=True)
    for name in CODON_USAGE_COLUMNS:
        np.testing.assert_array_equal(chunked[name], features[name], err_msg=name)
    assert "codon_ATG" not in compute_features(sequences[:2])  # opt-in
