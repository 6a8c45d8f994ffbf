"""The dataset manifest covers the reference data and catches altered copies."""

from __future__ import annotations

import csv

import pytest

from coding_potential import datasets


def test_manifest_covers_the_reference_manifest(shared):
    with (shared / "data" / "manifest.tsv").open() as handle:
        reference = {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}
    ours = {d.path: d for d in datasets.load_manifest()}
    assert set(ours) == set(reference)
    for path, row in reference.items():
        assert ours[path].sha256 == row["sha256"]
        assert ours[path].n_records == int(row["n_records"])
        assert ours[path].label == int(row["label"])


def test_select_by_glob_and_unknown_names():
    names = [d.name for d in datasets.select(["human/*"])]
    assert names == ["human/train_coding.fa.gz", "human/train_noncoding.fa.gz"]
    with pytest.raises(datasets.DatasetError, match="no dataset matches"):
        datasets.select(["human/typo*"])


def test_fetch_verifies_and_replaces_an_altered_copy(shared, var):
    (cow,) = datasets.select(["cow/train_coding.fa.gz"])
    (path,) = datasets.fetch([cow])
    assert path == var / "data" / "cow" / "train_coding.fa.gz"
    assert datasets.sha256_of(path) == cow.sha256
    assert datasets.count_records(path) == 995
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(datasets.DatasetError, match="sha256"):
        datasets.verify(cow, path)
    datasets.fetch([cow])
    datasets.verify(cow, path)
