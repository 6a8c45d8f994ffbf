"""The ``predict`` columns (``models.predictions``): one derivation, formatted three ways."""

from __future__ import annotations

import numpy as np
import pytest

from coding_potential.fasta import Record
from models.predictions import PREDICTION_COLUMNS, predict_records
from pipeline.scoring import prediction_rows


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tests.conftest import small_model

    return small_model(tmp_path_factory.mktemp("model"))


RECORDS = [
    Record(1, "orf", "", "ATGGCCAAGTTTGGCGCATAA" * 12, ()),  # an ORF from position 0
    Record(2, "ns", "", "N" * 240, ("ambiguous_bases",)),  # no unambiguous base: GC undefined
    Record(3, "stops", "", "TAA" * 80, ()),  # stop codons only: no ORF
]


def test_rows_hold_the_columns_in_order_with_undefined_values_as_none(model) -> None:
    predictions = predict_records(model, RECORDS)
    rows = predictions.rows()
    assert [list(row) for row in rows] == [list(PREDICTION_COLUMNS)] * 3
    orf, ns, stops = rows
    assert (orf["id"], orf["length"], orf["warnings"]) == ("orf", 252, "")
    assert orf["gc_content"] == pytest.approx(sum(c in "GC" for c in RECORDS[0].sequence) / 252)
    assert ns["gc_content"] is None and ns["warnings"] == "ambiguous_bases"
    assert stops["orf_start"] is None and stops["orf_frame"] is None and stops["longest_orf_nt"] == 0
    assert isinstance(orf["orf_start"], int) and isinstance(orf["coding_probability"], float)
    threshold = model.threshold
    assert [r["label"] for r in rows] == ["coding" if r["coding_probability"] >= threshold else "noncoding"
                                          for r in rows]
    assert predictions.coding == sum(r["label"] == "coding" for r in rows)


def test_the_tsv_prints_the_same_values(model) -> None:
    rows = predict_records(model, RECORDS).rows()
    for line, row in zip(prediction_rows(model, RECORDS), rows, strict=True):
        fields = dict(zip(PREDICTION_COLUMNS, line.split("\t"), strict=True))
        assert float(fields["coding_probability"]) == pytest.approx(row["coding_probability"], abs=5e-7)
        assert fields["gc_content"] == ("" if row["gc_content"] is None else f"{row['gc_content']:.4f}")
        assert fields["orf_start"] == ("" if row["orf_start"] is None else str(row["orf_start"]))
        assert (fields["id"], fields["label"], int(fields["length"])) == (row["id"], row["label"], row["length"])
        assert np.isclose(float(fields["hexamer_score"]), row["hexamer_score"], atol=5e-5)
