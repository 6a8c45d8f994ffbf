"""Requests and answers of the endpoint, free of Seldon: what the model class (``CodingPotential``) calls.

A request is a Seldon message with one of

- ``strData``: FASTA text, read by the core's reader exactly as ``coding-potential predict`` reads a file;
- ``jsonData``: ``{"sequences": [{"id": ..., "sequence": ...}, ...]}``;
- ``data.ndarray``: sequence strings, named ``seq_1`` ... ``seq_n``.

Every record gets the reader's checks (IDs unique, nucleotide alphabet, ...). The answer (HTTP 200) is
``jsonData`` with one prediction per valid record, under the CLI's column names, and every rejected
record with its reason code: nothing is dropped. A request with nothing usable (not FASTA, empty, no
valid record, the wrong shape) or over the limits is a :class:`RequestError`: HTTP 400 with a JSON body
naming the reason and, where records were read, each record's reason code.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from coding_potential import codes
from coding_potential.fasta import FastaFormatError, RawRecord, Record, Rejection, read_records, validate
from models.export import ExportedModel
from models.predictions import PREDICTION_COLUMNS, predict_records

#: Reason codes of a refused request (besides the reader's whole-input codes, ``codes.FILE_ERRORS``).
WRONG_SHAPE = "wrong_shape"
NO_VALID_RECORD = "no_valid_record"
TOO_MANY_TRANSCRIPTS = "too_many_transcripts"
TOO_MANY_BYTES = "too_many_bytes"


class RequestError(ValueError):
    """A request the endpoint refuses (HTTP 400), with a stable reason code and the records it read."""

    status_code = 400

    def __init__(self, reason: str, message: str, rejected: list[Rejection] | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.rejected = reason, message, rejected or []

    def body(self) -> dict[str, Any]:
        """The Seldon message of the refusal: ``status`` (Seldon sets the HTTP code from it) and the detail."""
        return {"status": {"code": self.status_code, "status": "FAILURE", "reason": self.reason,
                           "info": self.message},
                "jsonData": {"error": {"reason": self.reason, "message": self.message},
                             "rejected": rejected_rows(self.rejected)}}


@dataclass(frozen=True)
class Limits:
    max_transcripts: int
    max_bytes: int


@dataclass
class Parsed:
    """The records of one request, in order: valid ones and rejections."""

    kind: str
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def rejected_rows(rejected: Iterable[Rejection]) -> list[dict[str, Any]]:
    """The rejected records as the CLI's rejected-records TSV lists them."""
    return [{"record_number": r.number, "id": r.id, "reason": r.reason, "message": r.message} for r in rejected]


# ------------------------------------------------------------------------------------------ parsing
def parse(request: Any, limits: Limits) -> Parsed:
    """Read the records of a Seldon request (``strData``, ``jsonData`` or ``data.ndarray``).

    Raises
    ------
    RequestError
        The request holds none of these, the wrong shape, no valid record, or more than ``limits``.
    """
    if not isinstance(request, dict):
        raise RequestError(WRONG_SHAPE, "the request body is not a JSON object with strData, jsonData or data")
    given = [key for key in ("strData", "jsonData", "data", "binData") if key in request]
    if len(given) != 1:
        raise RequestError(WRONG_SHAPE, "give exactly one of strData (FASTA text), jsonData ({\"sequences\": "
                                        f"[{{\"id\", \"sequence\"}}, ...]}}) or data.ndarray; got {given or 'none'}")
    kind = given[0]
    if kind == "strData":
        outputs = _fasta(request["strData"], limits)
    elif kind == "jsonData":
        outputs = validate(_raw_records(_json_items(request["jsonData"]), limits))
    elif kind == "data":
        outputs = validate(_raw_records(_ndarray_items(request["data"]), limits))
    else:
        raise RequestError(WRONG_SHAPE, "binData is not read: send FASTA as strData")
    parsed = Parsed(kind)
    try:
        for number, item in enumerate(outputs, start=1):
            if number > limits.max_transcripts:
                raise RequestError(TOO_MANY_TRANSCRIPTS, f"more than {limits.max_transcripts:,} records in one "
                                                         "request: split it")
            (parsed.records if isinstance(item, Record) else parsed.rejected).append(item)
    except FastaFormatError as error:  # the whole input is not FASTA (empty, FASTQ, no header, binary)
        raise RequestError(error.code, f"strData: {error}") from error
    if not parsed.records:
        what = f"none of the {len(parsed.rejected):,} records is valid" if parsed.rejected else "no record"
        raise RequestError(NO_VALID_RECORD, f"{what}: nothing to score", parsed.rejected)
    return parsed


def _fasta(text: Any, limits: Limits) -> Iterator[Record | Rejection]:
    if not isinstance(text, str):
        raise RequestError(WRONG_SHAPE, f"strData must be FASTA text, not {type(text).__name__}")
    data = _utf8(text, "strData")
    if len(data) > limits.max_bytes:
        raise RequestError(TOO_MANY_BYTES, f"strData holds {len(data):,} bytes, over {limits.max_bytes:,}: split it")
    return read_records(io.BytesIO(data))


def _utf8(text: str, where: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (JSON can carry one, no text file can) refuses the request."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RequestError(codes.UNDECODABLE_INPUT, f"{where} is not valid Unicode text (a lone surrogate "
                                                    f"{text[error.start]!r} at character {error.start + 1})") from None


def _json_items(payload: Any) -> list[tuple[Any, Any, str]]:
    sequences = payload.get("sequences") if isinstance(payload, dict) else None
    if not isinstance(sequences, list):
        raise RequestError(WRONG_SHAPE, 'jsonData must be {"sequences": [{"id": ..., "sequence": ...}, ...]}')
    items = []
    for index, item in enumerate(sequences):
        if not isinstance(item, dict) or set(item) - {"id", "sequence", "description"} or "sequence" not in item:
            raise RequestError(WRONG_SHAPE, f"jsonData.sequences[{index}] must be an object with \"id\" and "
                                            f"\"sequence\" (and optionally \"description\"), not {_preview(item)}")
        identifier, description = item.get("id", ""), item.get("description", "")
        if not isinstance(description, str):
            raise RequestError(WRONG_SHAPE, f"jsonData.sequences[{index}].description must be a string, "
                                            f"not {_preview(description)}")
        if isinstance(identifier, str) and len(identifier.split()) > 1:
            # An ID is one word, as in a FASTA header: taking the first word would merge "gene 1" and "gene 2".
            raise RequestError(WRONG_SHAPE, f"jsonData.sequences[{index}].id {_preview(identifier)} holds "
                                            "whitespace: an ID is one word (put the rest in \"description\")")
        items.append((identifier, item["sequence"], description))
    return items


def _ndarray_items(data: Any) -> list[tuple[Any, Any, str]]:
    array = data.get("ndarray") if isinstance(data, dict) else None
    if not isinstance(array, list):
        raise RequestError(WRONG_SHAPE, "data must be {\"ndarray\": [\"SEQUENCE\", ...]} (tensor data is not read)")
    flat = [row[0] if isinstance(row, list) and len(row) == 1 else row for row in array]  # (n,) or (n, 1)
    return [(f"seq_{i}", item, "") for i, item in enumerate(flat, start=1)]


def _raw_records(items: list[tuple[Any, Any, str]], limits: Limits) -> Iterator[RawRecord]:
    """Records as the reader would read them from FASTA: whitespace in a sequence removed, the ID one word;
    a value that is not text is the wrong shape."""
    total = 0
    for number, (identifier, sequence, description) in enumerate(items, start=1):
        if not isinstance(identifier, str) or not isinstance(sequence, str):
            raise RequestError(WRONG_SHAPE, f"record {number}: id and sequence must be strings, not "
                                            f"{_preview(identifier)} and {_preview(sequence)}")
        for text, where in ((identifier, "id"), (description, "description"), (sequence, "sequence")):
            _utf8(text, f"record {number}'s {where}")
        total += len(sequence)
        if total > limits.max_bytes:
            raise RequestError(TOO_MANY_BYTES, f"over {limits.max_bytes:,} bytes of sequence in one request: split it")
        identifier, description = identifier.strip(), " ".join(description.split())
        yield RawRecord(number, f"{identifier} {description}".strip(), identifier, description,
                        "".join(sequence.split()))


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------------------ answers
@dataclass
class Answer:
    """The answer's Seldon message and what the metrics count."""

    message: dict[str, Any]
    scored: int
    rejected: int
    coding: int
    seconds: float


def answer(exported: ExportedModel, parsed: Parsed) -> Answer:
    """Score the valid records; the ``jsonData`` answer with predictions, rejections and a summary."""
    started = time.perf_counter()
    predictions = predict_records(exported.model, parsed.records)
    rows = predictions.rows()
    message = {"jsonData": {
        "model": {"name": exported.name, "version": exported.version, "threshold": exported.model.threshold},
        "columns": list(PREDICTION_COLUMNS),
        "predictions": rows,
        "rejected": rejected_rows(parsed.rejected),
        "summary": {"records": len(rows) + len(parsed.rejected), "valid": len(rows),
                    "rejected": len(parsed.rejected), "coding": predictions.coding,
                    "reasons": _reasons(parsed.rejected)},
    }}
    return Answer(message, len(rows), len(parsed.rejected), predictions.coding, time.perf_counter() - started)


def _reasons(rejected: list[Rejection]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rejection in rejected:
        counts[rejection.reason] = counts.get(rejection.reason, 0) + 1
    return {reason: counts[reason] for reason in codes.REJECTION_ORDER if reason in counts}
