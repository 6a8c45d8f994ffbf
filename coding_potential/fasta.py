"""Streaming FASTA reader and record validation: the entry point of every sequence into the project.

:func:`read_fasta` turns a file, path or binary stream into :class:`RawRecord` objects, one at a time,
whatever its compression (gzip, found by its magic bytes), encoding (UTF-8 with or without a BOM,
UTF-16/32 with a BOM) or line ends (LF, CRLF, CR, mixed). Problems with the file as a whole raise
:class:`FastaFormatError`. :func:`validate` then gives exactly one :class:`Record` or :class:`Rejection`
per raw record, in order, so that records in = valid + rejected always holds.

The reader works on large binary blocks and leaves per-byte work to C-level ``bytes`` methods
(``split``, ``translate``, ``replace``): it is the hot path of scoring and of training.
"""

from __future__ import annotations

import codecs
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from coding_potential import codes

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "IUPAC_NUCLEOTIDES",
    "FastaFormatError",
    "RawRecord",
    "Record",
    "Rejection",
    "ValidationSummary",
    "read_fasta",
    "read_records",
    "summarise",
    "validate",
]

#: Bytes read from the input per call: large enough that Python-level work per block is negligible.
DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 31  # zlib: expect a gzip header and trailer
_WHITESPACE = b" \t\r\n\v\f"
# Byte-order marks, longest first: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str | None], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, None),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SNIFF_BYTES = 64 * 1024  # how much of the start is checked to be text

# GENCODE/Ensembl transcript IDs (ENST, ENSMUST, ENSDART, ...), with GENCODE's PAR_Y suffix.
_ENSEMBL_TRANSCRIPT = re.compile(r"ENS[A-Z]*T\d+(?:\.\d+)?(?:_PAR_Y)?")

_IUPAC = b"ACGTURYSWKMBDHVN"
#: The alphabet of a valid record's sequence: upper case, U read as T.
IUPAC_NUCLEOTIDES = "ACGTRYSWKMBDHVN"
_IUPAC_BOTH_CASES = _IUPAC + _IUPAC.lower()
_CORE_BOTH_CASES = b"ACGTUNacgtun"  # letters a nucleotide sequence is mostly made of
_UPPER = bytes.maketrans(_IUPAC.lower(), _IUPAC)
_MIN_CORE_PERCENT = 90  # share of A/C/G/T/U/N below which IUPAC-only text is not nucleotide
_DELETE_IUPAC = dict.fromkeys(_IUPAC_BOTH_CASES)  # for str.translate: code points to delete
_MAX_LISTED_CHARACTERS = 10


class FastaFormatError(ValueError):
    """The input cannot be read as FASTA at all.

    Parameters
    ----------
    code : str
        One of :data:`coding_potential.codes.FILE_ERRORS`.
    message : str
        What is wrong, for a person.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in codes.FILE_ERRORS:
            raise ValueError(f"unknown file error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One FASTA record as read, before validation.

    Attributes
    ----------
    number : int
        1-based position of the record in the file.
    header : str
        The header line after '>', without surrounding whitespace.
    id : str
        The record's ID ('' when the header has none).
    description : str
        The header after the ID; the whole header for GENCODE-style '|' headers.
    sequence : str
        The sequence lines joined, whitespace removed, case untouched.
    """

    number: int
    header: str
    id: str
    description: str
    sequence: str


@dataclass(frozen=True, slots=True)
class Record:
    """A valid record: its sequence is upper case, U read as T, alphabet ACGT + RYSWKMBDHVN.

    Attributes
    ----------
    number, id, description
        As in :class:`RawRecord`.
    sequence : str
        The normalised sequence.
    warnings : tuple of str
        Warning codes from :data:`coding_potential.codes.WARNINGS`.
    n_ambiguous : int
        How many letters are IUPAC ambiguity codes (not A/C/G/T).
    """

    number: int
    id: str
    description: str
    sequence: str
    warnings: tuple[str, ...] = ()
    n_ambiguous: int = 0


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that is not scored, with the first reason that applies.

    Attributes
    ----------
    number, id
        As in :class:`RawRecord`.
    reason : str
        A code from :data:`coding_potential.codes.REJECTIONS`.
    message : str
        The record and the reason, for a person.
    """

    number: int
    id: str
    reason: str
    message: str


# --------------------------------------------------------------------------------------------- reading


def read_fasta(
    source: str | os.PathLike[str] | BinaryIO, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[RawRecord]:
    """Read FASTA records one at a time, never holding more than a block or a record in memory.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A path, or an open binary stream (it need not be seekable: a pipe works). A stream is not
        closed; a file opened here is closed when the iterator ends or is closed.
    block_size : int
        Bytes read per call.

    Yields
    ------
    RawRecord
        In file order, numbered from 1.

    Raises
    ------
    FastaFormatError
        When the input is empty, FASTQ, not FASTA, or not text. Problems at the start of the file are
        raised before any record is yielded; binary data later in the file when it is reached.
    """
    if block_size < 1:
        raise ValueError("block_size must be positive")
    if isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as handle:
            yield from _read_stream(handle, block_size)
    else:
        yield from _read_stream(source, block_size)


def _read_stream(handle: BinaryIO, block_size: int) -> Iterator[RawRecord]:
    blocks = _text_blocks(_raw_blocks(handle, block_size), block_size)
    record_texts = _split_records(_check_start(blocks))
    next(record_texts, None)  # the blank lines before the first '>' (checked by _check_start)
    for number, text in enumerate(record_texts, start=1):
        yield _parse_record(number, text)


def _raw_blocks(handle: BinaryIO, block_size: int) -> Iterator[bytes]:
    while block := handle.read(block_size):
        if not isinstance(block, bytes | bytearray | memoryview):
            raise TypeError("read_fasta needs a binary stream (open the file with 'rb')")
        yield bytes(block)


#: Other compressed formats, recognised to say so (magic bytes, name).
_OTHER_COMPRESSION = ((b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
                      (b"PK\x03\x04", "zip"))


def _text_blocks(raw: Iterator[bytes], block_size: int) -> Iterator[bytes]:
    """Uncompress and decode as needed: UTF-8 bytes with LF line ends, no BOM, no NUL bytes."""
    head, raw = _peek(raw, 6)
    if head.startswith(_GZIP_MAGIC):
        raw = _gunzip(raw, block_size)
    else:
        for magic, kind in _OTHER_COMPRESSION:
            if head.startswith(magic):
                raise FastaFormatError(codes.UNDECODABLE_INPUT,
                                       f"input is {kind}-compressed: only gzip is read; decompress it first")
    head, raw = _peek(raw, 4)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            raw = _skip(raw, len(bom))
            if encoding is not None:
                raw = _recode(raw, encoding)
            break
    for block in raw:
        if b"\x00" in block:
            raise FastaFormatError(
                codes.UNDECODABLE_INPUT,
                "input holds NUL bytes: binary data, or UTF-16 text without a byte-order mark",
            )
        if b"\r" in block:
            # A CRLF split across two blocks becomes two LFs: a blank line, which is harmless.
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        yield block


def _peek(blocks: Iterator[bytes], n: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``n`` bytes (fewer at the end), and an iterator that still yields them."""
    parts: list[bytes] = []
    have = 0
    for block in blocks:
        parts.append(block)
        have += len(block)
        if have >= n:
            break
    head = b"".join(parts)
    return head[:n], chain([head] if head else [], blocks)


def _skip(blocks: Iterator[bytes], n: int) -> Iterator[bytes]:
    for block in blocks:
        if n:
            block, n = block[n:], max(0, n - len(block))
        if block:
            yield block


def _gunzip(raw: Iterator[bytes], block_size: int) -> Iterator[bytes]:
    """Uncompress one or more concatenated gzip members; output at most ``block_size`` per piece."""
    member = zlib.decompressobj(_GZIP_WBITS)
    fresh = True  # nothing fed to ``member`` yet
    try:
        for data in raw:
            while data:
                if fresh:
                    data = data.lstrip(b"\x00")  # zero padding after the last member, as gzip allows
                    if not data:
                        break
                    fresh = False
                out = member.decompress(data, block_size)
                if out:
                    yield out
                while len(out) == block_size and not member.eof and not member.unconsumed_tail:
                    out = member.decompress(b"", block_size)  # output still held by zlib
                    if out:
                        yield out
                if member.eof:
                    data = member.unused_data
                    member, fresh = zlib.decompressobj(_GZIP_WBITS), True
                else:
                    data = member.unconsumed_tail
    except zlib.error as error:
        raise FastaFormatError(codes.UNDECODABLE_INPUT, f"input is not valid gzip data ({error})") from None
    if not fresh:
        raise FastaFormatError(codes.UNDECODABLE_INPUT, "input is a truncated gzip stream")


def _recode(raw: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """Decode UTF-16/32 to UTF-8 block by block (a character may straddle two blocks)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        for block in raw:
            text = decoder.decode(block)
            if text:
                yield text.encode("utf-8")
        decoder.decode(b"", final=True)
    except UnicodeError as error:
        message = f"input has a {encoding.upper()} byte-order mark but is not {encoding.upper()} text"
        raise FastaFormatError(codes.UNDECODABLE_INPUT, f"{message} ({error.reason})") from None


def _check_start(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Raise the whole-file errors that the start shows; yield the blocks behind a virtual LF."""
    parts: list[bytes] = []
    for block in blocks:
        parts.append(block)
        if block.strip(_WHITESPACE):
            break
    head = b"".join(parts)
    start = len(head) - len(head.lstrip(_WHITESPACE))
    if start == len(head):
        raise FastaFormatError(codes.EMPTY_INPUT, "input is empty (no bytes, or only whitespace)")
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(head[:_SNIFF_BYTES])  # not final: a character may be cut at the end
    except UnicodeDecodeError:
        raise FastaFormatError(
            codes.UNDECODABLE_INPUT, "input is neither UTF-8/UTF-16 text nor gzip-compressed text"
        ) from None
    line_start = head.rfind(b"\n", 0, start) + 1
    first = head[line_start : start + 1]
    if first == b"@":
        raise FastaFormatError(codes.FASTQ_INPUT, "input is FASTQ, not FASTA (it starts with an '@' line)")
    if first != b">":
        line = head[line_start:].split(b"\n", 1)[0][:60].decode("utf-8", "replace")
        raise FastaFormatError(
            codes.NO_FASTA_RECORD,
            f"no FASTA record found: the first non-blank line does not start with '>' ({line!r})",
        )
    # The LF makes the first header look like every other one: b'\n>'.
    yield b"\n"
    yield head
    yield from blocks


def _split_records(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Cut the text at every b'\\n>': yields what precedes the first header, then each record's text."""
    pending: list[bytes] = []  # the record being read, when it spans blocks
    for block in blocks:
        if block.startswith(b">") and pending and pending[-1].endswith(b"\n"):
            block = b"\n" + block  # a header starting a block: the LF is in the previous block
        parts = block.split(b"\n>")
        pending.append(parts[0])
        if len(parts) > 1:
            yield b"".join(pending)
            yield from parts[1:-1]
            pending = [parts[-1]]
    yield b"".join(pending)


def _parse_record(number: int, text: bytes) -> RawRecord:
    header_bytes, _, sequence = text.partition(b"\n")
    header = _decode(header_bytes, number, "header").strip(" \t\v\f\r")
    sequence_text = _decode(sequence.translate(None, _WHITESPACE), number, "sequence")
    record_id, description = _split_header(header)
    return RawRecord(number, header, record_id, description, sequence_text)


def _decode(data: bytes, number: int, part: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FastaFormatError(
            codes.UNDECODABLE_INPUT, f"record {number}: the {part} is not UTF-8 text (binary data?)"
        ) from None


#: What separates the ID from the description: ASCII blanks only. Unicode spaces (no-break space, em
#: space) and control characters stay in the ID, so IDs that differ there never collide.
_ID_SEPARATOR = re.compile(r"[ \t\v\f]+")


def _split_header(header: str) -> tuple[str, str]:
    """ID and description: the first word and the rest, or the transcript ID of a GENCODE header."""
    words = _ID_SEPARATOR.split(header.strip(" \t\v\f"), maxsplit=1)
    if not words[0]:
        return "", ""
    token = words[0]
    if "|" in token:
        first = token.split("|", 1)[0]
        if _ENSEMBL_TRANSCRIPT.fullmatch(first):
            return first, header  # GENCODE: the other fields (gene, name, CDS range) stay readable
    return token, words[1] if len(words) > 1 else ""


# ------------------------------------------------------------------------------------------ validation


def validate(raw: Iterable[RawRecord]) -> Iterator[Record | Rejection]:
    """Check and normalise records: one :class:`Record` or :class:`Rejection` per input, in order.

    Parameters
    ----------
    raw : iterable of RawRecord
        Records of one file.

    Yields
    ------
    Record or Rejection
        A record gets the first reason that applies, in :data:`coding_potential.codes.REJECTION_ORDER`.
        Of records sharing an ID, the first valid one is kept and later ones are rejected.
    """
    # ID -> (record number, length, hash) of the kept record: sequences themselves could fill memory.
    kept: dict[str, tuple[int, int, int]] = {}
    for record in raw:
        result = _check(record)
        if isinstance(result, Record):
            fingerprint = (len(result.sequence), hash(result.sequence))
            first = kept.get(result.id)
            if first is not None:
                result = _duplicate(record, first[0], same=first[1:] == fingerprint)
            else:
                kept[result.id] = (record.number, *fingerprint)
        yield result


def read_records(
    source: str | os.PathLike[str] | BinaryIO, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[Record | Rejection]:
    """``validate(read_fasta(source))``: see :func:`read_fasta` and :func:`validate`."""
    return validate(read_fasta(source, block_size=block_size))


def _check(record: RawRecord) -> Record | Rejection:
    """Every check except duplicates, which need the records already kept."""
    sequence = record.sequence
    if not record.id:
        detail = f"{len(sequence)} nt sequence" if sequence else "and empty sequence"
        return _reject(record, codes.EMPTY_ID, f"empty ID ({detail})")
    if not sequence:
        return _reject(record, codes.EMPTY_SEQUENCE, "empty sequence (the header is followed by none)")
    letters = sequence.encode("utf-8")
    if not letters.translate(None, b"ACGT"):  # upper-case DNA, most input: already normal
        return Record(record.number, record.id, record.description, sequence, _length_warnings(len(letters)))
    upper = letters.translate(_UPPER)
    # Usually short: the later checks read only these letters, not the whole sequence.
    other = upper.translate(None, b"ACGT")
    if other.translate(None, _IUPAC):
        return _reject(record, codes.INVALID_CHARACTER, _describe_invalid(sequence))
    core = len(upper) - len(other.translate(None, b"UN"))
    if core * 100 < _MIN_CORE_PERCENT * len(upper):  # integers: no rounding at the threshold
        share = f"{core / len(upper):.0%} of {len(upper)} letters are A/C/G/T/U/N"
        what = f"not a nucleotide sequence ({share}; {_MIN_CORE_PERCENT}% needed)"
        return _reject(record, codes.NOT_NUCLEOTIDE, what)
    return _normalise(record, upper, other)


def _length_warnings(length: int) -> tuple[str, ...]:
    return (codes.SHORT_SEQUENCE,) if length < codes.SHORT_SEQUENCE_NT else ()


def _normalise(record: RawRecord, upper: bytes, other: bytes) -> Record:
    """A :class:`Record` from upper-case letters; ``other`` holds those that are not A/C/G/T."""
    warnings: list[str] = []
    n_u = other.count(b"U")
    if n_u:
        if b"T" in upper:
            warnings.append(codes.MIXED_T_AND_U)
        upper = upper.replace(b"U", b"T")
    n_ambiguous = len(other) - n_u
    if n_ambiguous:
        warnings.append(codes.AMBIGUOUS_BASES)
    warnings.extend(_length_warnings(len(upper)))
    sequence = upper.decode("ascii")
    return Record(record.number, record.id, record.description, sequence, tuple(warnings), n_ambiguous)


def _describe_invalid(sequence: str) -> str:
    counts = Counter(sequence.translate(_DELETE_IUPAC))
    listed = [f"{character!r} ({count}x)" for character, count in counts.most_common(_MAX_LISTED_CHARACTERS)]
    more = f" and {len(counts) - len(listed)} more" if len(counts) > len(listed) else ""
    noun = "character" if len(counts) == 1 else "characters"
    return f"invalid {noun} {', '.join(listed)}{more}"


def _duplicate(record: RawRecord, first_number: int, *, same: bool) -> Rejection:
    sequence = "identical" if same else "different"
    what = f"duplicate ID: record {first_number} has it ({sequence} sequence)"
    return _reject(record, codes.DUPLICATE_ID, what)


def _reject(record: RawRecord, reason: str, what: str) -> Rejection:
    name = f"record {record.number} {record.id!r}" if record.id else f"record {record.number} (no ID)"
    return Rejection(record.number, record.id, reason, f"{name}: {what}")


# --------------------------------------------------------------------------------------------- summary


@dataclass(slots=True)
class ValidationSummary:
    """Counts of one validation run; ``records == valid + rejected`` always.

    Attributes
    ----------
    records, valid, rejected : int
        Records read, kept and rejected.
    reasons : dict of str to int
        Rejections per reason code, every code of :data:`codes.REJECTION_ORDER` present, in that order.
    warnings : dict of str to int
        Kept records per warning code, every code of :data:`codes.WARNINGS` present.
    """

    records: int = 0
    valid: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(codes.REJECTION_ORDER, 0))
    warnings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(codes.WARNINGS, 0))

    def add(self, output: Record | Rejection) -> None:
        """Count one output of :func:`validate` (lets a streaming consumer tally as it goes)."""
        self.records += 1
        if isinstance(output, Rejection):
            self.rejected += 1
            self.reasons[output.reason] = self.reasons.get(output.reason, 0) + 1
        else:
            self.valid += 1
            for warning in output.warnings:
                self.warnings[warning] = self.warnings.get(warning, 0) + 1

    def as_dict(self) -> dict[str, object]:
        """A JSON-serialisable copy: ``{"records", "valid", "rejected", "reasons", "warnings"}``."""
        return {
            "records": self.records,
            "valid": self.valid,
            "rejected": self.rejected,
            "reasons": dict(self.reasons),
            "warnings": dict(self.warnings),
        }


def summarise(outputs: Iterable[Record | Rejection]) -> ValidationSummary:
    """Count the outputs of :func:`validate` (consumes them).

    Parameters
    ----------
    outputs : iterable of Record or Rejection

    Returns
    -------
    ValidationSummary
    """
    summary = ValidationSummary()
    for output in outputs:
        summary.add(output)
    return summary
