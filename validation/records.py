"""The table a gate checks: one row per record the reader read, valid or rejected.

Built from the two tables a validation writes (validated records, quarantined rejections), so the gate
checks what flows on, not a second reading. Columns:

======================  =============================================================================
``source``              the input file's name
``record_number``       1-based position in its file
``id``                  the record's ID
``valid``               False when the reader rejected the record
``reason``              the rejection code (null when valid)
``length``              sequence length in nt (null when rejected)
``n_ambiguous``         IUPAC ambiguity codes in the sequence (null when rejected)
``ambiguous_fraction``  ``n_ambiguous / length``
``gc_fraction``         G+C over unambiguous bases (null when there are none)
``label``               1 coding, 0 noncoding; null in a prediction input
``sequence``            the normalised sequence (null when rejected)
======================  =============================================================================
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = ("source", "record_number", "id", "valid", "reason", "length", "n_ambiguous", "ambiguous_fraction",
           "gc_fraction", "label", "sequence")

SCHEMA = pa.schema([
    ("source", pa.string()), ("record_number", pa.int64()), ("id", pa.string()), ("valid", pa.bool_()),
    ("reason", pa.string()), ("length", pa.int64()), ("n_ambiguous", pa.int64()),
    ("ambiguous_fraction", pa.float64()), ("gc_fraction", pa.float64()), ("label", pa.int64()),
    ("sequence", pa.large_string()),
])


def gate_table(validated: pa.Table, rejected: pa.Table) -> pa.Table:
    """The records table of a gate from validated records and rejections.

    Parameters
    ----------
    validated : pyarrow.Table
        Valid records: ``source``, ``record_number``, ``id``, ``sequence`` and, when labelled, ``label``.
    rejected : pyarrow.Table
        Rejections: ``source``, ``record_number``, ``id``, ``reason`` (and, when labelled, ``label``).

    Returns
    -------
    pyarrow.Table
        Rows of ``validated`` then of ``rejected``, with the columns of :data:`SCHEMA`.
    """
    sequences = validated.column("sequence").cast(pa.large_string())
    lengths = pc.utf8_length(sequences)
    # Letters counted one by one (a literal search): about 9x faster than removing them with a regex.
    bases = {base: pc.count_substring(sequences, base) for base in "ACGT"}
    gc = pc.add(bases["G"], bases["C"])
    unambiguous = pc.add(gc, pc.add(bases["A"], bases["T"]))
    ambiguous = pc.subtract(lengths, unambiguous)
    n = validated.num_rows
    valid = pa.table({
        "source": validated.column("source").cast(pa.string()),
        "record_number": validated.column("record_number").cast(pa.int64()),
        "id": validated.column("id").cast(pa.string()),
        "valid": pa.array([True] * n, pa.bool_()),
        "reason": pa.nulls(n, pa.string()),
        "length": lengths.cast(pa.int64()),
        "n_ambiguous": ambiguous.cast(pa.int64()),
        "ambiguous_fraction": _ratio(ambiguous, lengths),
        "gc_fraction": _ratio(gc, unambiguous),
        "label": _labels(validated),
        "sequence": sequences,
    }, schema=SCHEMA)
    m = rejected.num_rows
    dropped = pa.table({
        "source": rejected.column("source").cast(pa.string()),
        "record_number": rejected.column("record_number").cast(pa.int64()),
        "id": rejected.column("id").cast(pa.string()),
        "valid": pa.array([False] * m, pa.bool_()),
        "reason": rejected.column("reason").cast(pa.string()),
        "length": pa.nulls(m, pa.int64()),
        "n_ambiguous": pa.nulls(m, pa.int64()),
        "ambiguous_fraction": pa.nulls(m, pa.float64()),
        "gc_fraction": pa.nulls(m, pa.float64()),
        "label": _labels(rejected),
        "sequence": pa.nulls(m, pa.large_string()),
    }, schema=SCHEMA)
    return pa.concat_tables([valid, dropped])


def _ratio(numerator: pa.Array, denominator: pa.Array) -> pa.Array:
    """``numerator / denominator`` as floats, null where the denominator is 0."""
    denominator = pc.if_else(pc.equal(denominator, 0), pa.scalar(None, denominator.type), denominator)
    return pc.divide(numerator.cast(pa.float64()), denominator.cast(pa.float64()))


def _labels(table: pa.Table) -> pa.Array:
    if "label" in table.column_names:
        return table.column("label").cast(pa.int64())
    return pa.nulls(table.num_rows, pa.int64())
