"""Tests of the FASTA reader and record validation (coding_potential/fasta.py).

The first part checks the shared cases (inputs that broke other tools) against their expected outcomes;
the rest are unit tests of line ends, block boundaries, compression, encodings and record policies.
"""

from __future__ import annotations

import codecs
import gzip
import inspect
import io
import json
import os
import random
import threading
from pathlib import Path

import pytest

from coding_potential import codes
from coding_potential.config import shared_dir
from coding_potential.fasta import (
    FastaFormatError,
    RawRecord,
    Record,
    Rejection,
    ValidationSummary,
    read_fasta,
    read_records,
    summarise,
    validate,
)

CASES_DIR = shared_dir() / "cases" / "fasta"
EXPECTED_FILE = CASES_DIR / "expected.json"
MISSING_SHARED = f"shared FASTA cases not found at {CASES_DIR} (set CODING_POTENTIAL_SHARED)"


# ------------------------------------------------------------------------------------------- helpers


def _records(data: bytes, block_size: int = 1 << 22) -> list[RawRecord]:
    return list(read_fasta(io.BytesIO(data), block_size=block_size))


def _outputs(data: bytes, block_size: int = 1 << 22) -> list[Record | Rejection]:
    return list(read_records(io.BytesIO(data), block_size=block_size))


def _error_code(data: bytes, block_size: int = 1 << 22) -> str:
    with pytest.raises(FastaFormatError) as caught:
        _records(data, block_size)
    return caught.value.code


def _gc_fraction(sequence: str) -> float:
    """(G+C)/(A+C+G+T) over unambiguous bases, 4 decimals; independent of the code under test."""
    gc = sequence.count("G") + sequence.count("C")
    acgt = gc + sequence.count("A") + sequence.count("T")
    return round(gc / acgt, 4) if acgt else 0.0


def _naive_parse(text: str) -> list[tuple[str, str]]:
    """Reference parser, line by line: (header, sequence) pairs; blank lines and line ends dropped."""
    records: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.startswith(">"):
            records.append((line[1:].strip(), ""))
        elif records:
            records[-1] = (records[-1][0], records[-1][1] + "".join(line.split()))
    return records


# ------------------------------------------------------------------------------------- shared cases


def _case_names() -> list[object]:
    if not EXPECTED_FILE.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING_SHARED))]
    expected = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    return [name for name in expected if not name.startswith("_")]


@pytest.fixture(scope="module")
def expected() -> dict[str, dict]:
    if not EXPECTED_FILE.is_file():
        pytest.skip(MISSING_SHARED)
    return json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))


def _reason_code(text: str) -> str:
    """The rejection code that a free-text reason in expected.json stands for."""
    lowered = text.lower()
    for phrase, code in (
        ("empty id", codes.EMPTY_ID),
        ("missing id", codes.EMPTY_ID),
        ("empty sequence", codes.EMPTY_SEQUENCE),
        ("invalid character", codes.INVALID_CHARACTER),
        ("duplicate id", codes.DUPLICATE_ID),
    ):
        if phrase in lowered:
            return code
    raise AssertionError(f"no rejection code known for the expected reason {text!r}")


def _file_error_code(path: Path, case: dict) -> str:
    """The whole-file error a case calls for: FASTQ, empty input, or no FASTA record."""
    if "FASTQ" in case["notes"]:
        return codes.FASTQ_INPUT
    if not path.read_bytes().strip():
        return codes.EMPTY_INPUT
    return codes.NO_FASTA_RECORD


@pytest.mark.parametrize("name", _case_names())
def test_shared_case(name: str, expected: dict[str, dict]) -> None:
    case, path = expected[name], CASES_DIR / "inputs" / name
    if case["expected_rejected"] == "whole file":
        with pytest.raises(FastaFormatError) as caught:
            list(read_records(path))
        assert caught.value.code == _file_error_code(path, case), str(caught.value)
        return
    raw = list(read_fasta(path))
    outputs = list(validate(raw))
    assert len(raw) == len(outputs) == case["records_in_file"]
    assert [output.number for output in outputs] == list(range(1, len(outputs) + 1))
    summary = summarise(outputs)
    assert (summary.valid, summary.rejected) == (case["expected_valid"], case["expected_rejected"])
    for want, raw_record, output in zip(case["records"], raw, outputs, strict=True):
        _check_case_record(want, raw_record, output)


def _check_case_record(want: dict, raw: RawRecord, output: Record | Rejection) -> None:
    label = f"record {output.number} ({want['id']})"
    want_id = "" if want["id"].startswith("(empty") else want["id"]
    assert output.id == raw.id == want_id, label
    if want["status"] == "rejected":
        assert isinstance(output, Rejection), label
        assert output.reason == _reason_code(want["reason"]), f"{label}: {output.message}"
        assert len(raw.sequence) == want.get("length_nt", 0), label
        return
    assert isinstance(output, Record), f"{label}: {output}"
    assert len(output.sequence) == want["length_nt"], label
    assert _gc_fraction(output.sequence) == want["gc_fraction"], label
    assert output.n_ambiguous == want["ambiguous_or_nonACGT_count"], label
    assert set(output.sequence) <= set("ACGTRYSWKMBDHVN"), label
    reason = want.get("reason", "")
    warnings = {codes.MIXED_T_AND_U} if "mixed T/U" in reason else set()
    if want["ambiguous_or_nonACGT_count"]:
        warnings.add(codes.AMBIGUOUS_BASES)
    if want["length_nt"] < 200:
        warnings.add(codes.SHORT_SEQUENCE)
    assert set(output.warnings) == warnings, label


# ---------------------------------------------------------------------------------- line ends, blocks

LF_TEXT = ">a first one\nACGTAC\nGTAC\n\n>b\nGG\nCC\n>c\n\n>d  spaced  description \nAC GT\tNN\n"
EXPECTED_LF = [
    ("a", "first one", "ACGTACGTAC"),
    ("b", "", "GGCC"),
    ("c", "", ""),
    ("d", "spaced  description", "ACGTNN"),
]


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_line_ends(line_end: str) -> None:
    data = LF_TEXT.replace("\n", line_end).encode()
    assert [(r.id, r.description, r.sequence) for r in _records(data)] == EXPECTED_LF


def test_mixed_line_ends() -> None:
    ends = ["\n", "\r\n", "\r"]
    lines = LF_TEXT.split("\n")
    data = "".join(line + ends[i % 3] for i, line in enumerate(lines)).encode()
    assert [(r.id, r.description, r.sequence) for r in _records(data)] == EXPECTED_LF


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_every_block_boundary(line_end: str) -> None:
    """Every block size from 1 byte up puts a CR, an LF or a '>' at some block edge."""
    data = LF_TEXT.replace("\n", line_end).encode()
    for block_size in range(1, len(data) + 2):
        got = [(r.id, r.description, r.sequence) for r in _records(data, block_size)]
        assert got == EXPECTED_LF, f"block size {block_size}"


def test_cr_as_last_byte_of_a_block() -> None:
    data = b">a\r\nAC\r\n>b\r\nGT\r\n"
    cut = data.index(b"\r\n>b") + 1  # the first block ends on the CR of CRLF, the next starts with LF
    assert [(r.id, r.sequence) for r in _records(data, cut)] == [("a", "AC"), ("b", "GT")]


def test_blank_lines_before_between_and_inside() -> None:
    data = b"\n\n  \n>a\n\nAC\n   \nGT\n\n\n>b\nTT\n\n"
    assert [(r.id, r.sequence) for r in _records(data)] == [("a", "ACGT"), ("b", "TT")]


def test_header_is_only_split_at_line_start() -> None:
    assert [(r.id, r.description) for r in _records(b">a x>y\nAC>GT\n")] == [("a", "x>y")]
    [output] = _outputs(b">a x>y\nAC>GT\n")
    assert isinstance(output, Rejection) and output.reason == codes.INVALID_CHARACTER


def test_random_inputs_match_a_line_parser_and_keep_the_invariant() -> None:
    rng = random.Random(20240601)
    alphabet = ["A", "C", "G", "T", "U", "n", "r", "-", "*", "E", " ", "\t", "\n", "\r", "\r\n", ">", ">x"]
    for trial in range(300):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        text = ">" + body
        records = _records(text.encode(), block_size=rng.randint(1, 40))
        assert [(r.header, r.sequence) for r in records] == _naive_parse(text), f"trial {trial}: {text!r}"
        assert [r.number for r in records] == list(range(1, len(records) + 1))
        summary = summarise(validate(records))
        assert summary.records == len(records) == summary.valid + summary.rejected
        assert sum(summary.reasons.values()) == summary.rejected


# ------------------------------------------------------------------------------- compression, encodings

SMALL = b">tx1 one\nACGTAC\nGTAC\n>tx2\nGGCCA\n>tx3\nTTTT\n"
SMALL_RECORDS = [("tx1", "ACGTACGTAC"), ("tx2", "GGCCA"), ("tx3", "TTTT")]


def _ids_and_sequences(data: bytes, block_size: int = 1 << 22) -> list[tuple[str, str]]:
    return [(r.id, r.sequence) for r in _records(data, block_size)]


@pytest.mark.parametrize("block_size", [1, 2, 7, 1 << 20])
def test_gzip_of_several_members(block_size: int) -> None:
    cut1, cut2 = SMALL.index(b"GTAC"), SMALL.index(b">tx3") + 2  # members split mid-line and mid-header
    data = gzip.compress(SMALL[:cut1]) + gzip.compress(SMALL[cut1:cut2]) + gzip.compress(SMALL[cut2:])
    assert _ids_and_sequences(data, block_size) == SMALL_RECORDS
    assert _ids_and_sequences(data + b"\x00" * 512, block_size) == SMALL_RECORDS  # zero padding


def test_gzip_is_found_by_content_not_by_name(tmp_path: Path) -> None:
    plain, packed = tmp_path / "plain.fa.gz", tmp_path / "packed.txt"
    plain.write_bytes(SMALL)
    packed.write_bytes(gzip.compress(SMALL))
    assert [(r.id, r.sequence) for r in read_fasta(plain)] == SMALL_RECORDS
    assert [(r.id, r.sequence) for r in read_fasta(str(packed))] == SMALL_RECORDS


def test_broken_gzip_is_undecodable() -> None:
    packed = gzip.compress(SMALL)
    assert _error_code(packed[: len(packed) // 2]) == codes.UNDECODABLE_INPUT
    assert _error_code(packed + b"trailing garbage") == codes.UNDECODABLE_INPUT
    assert _error_code(b"\x1f\x8b" + bytes(range(256))) == codes.UNDECODABLE_INPUT


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", codecs.BOM_UTF32_LE),
    ],
)
@pytest.mark.parametrize("block_size", [1, 3, 1 << 20])
def test_byte_order_marks(encoding: str, bom: bytes, block_size: int) -> None:
    data = bom + ">tx1 café\r\nACGU\r\n>tx2\r\nac\r\n".encode(encoding)
    records = _records(data, block_size)
    assert [(r.id, r.description, r.sequence) for r in records] == [("tx1", "café", "ACGU"), ("tx2", "", "ac")]


def test_utf16_be_gzipped() -> None:
    data = gzip.compress(codecs.BOM_UTF16_BE + SMALL.decode().encode("utf-16-be"))
    assert _ids_and_sequences(data) == SMALL_RECORDS


def test_multibyte_character_cut_by_a_block() -> None:
    [record] = _records(">tx1 naïve ünïcödé\nAC\n".encode(), block_size=1)
    assert record.description == "naïve ünïcödé"


# ------------------------------------------------------------------------------------ whole-file errors


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", codes.EMPTY_INPUT),
        (b" \n\r\n\t\n", codes.EMPTY_INPUT),
        (gzip.compress(b""), codes.EMPTY_INPUT),
        (codecs.BOM_UTF8, codes.EMPTY_INPUT),
        (codecs.BOM_UTF16_LE + "\n".encode("utf-16-le"), codes.EMPTY_INPUT),
        (b"@r1\nACGT\n+\nIIII\n", codes.FASTQ_INPUT),
        (b"\n\n@r1\nACGT\n+\n>III\n", codes.FASTQ_INPUT),
        (gzip.compress(b"@r1\nACGT\n+\nIIII\n"), codes.FASTQ_INPUT),
        (b"ACGTACGT\nACGT\n>tx1\nAC\n", codes.NO_FASTA_RECORD),
        (b"chr1\tsrc\texon\t1\t10\n", codes.NO_FASTA_RECORD),
        (b"  >tx1\nACGT\n", codes.NO_FASTA_RECORD),
        (b">tx1\x00\nACGT\n", codes.UNDECODABLE_INPUT),
        (">tx1\nACGT\n".encode("utf-16-le"), codes.UNDECODABLE_INPUT),  # UTF-16 without a BOM
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), codes.UNDECODABLE_INPUT),
        (b"\xfa\xfb\xfc garbage", codes.UNDECODABLE_INPUT),
        (codecs.BOM_UTF16_LE + b">\x00\x00\xd8", codes.UNDECODABLE_INPUT),  # lone surrogate
    ],
)
def test_whole_file_errors(data: bytes, code: str) -> None:
    assert _error_code(data) == code
    assert _error_code(data, block_size=1) == code


def test_error_at_the_start_comes_before_any_record() -> None:
    reader = read_fasta(io.BytesIO(b"@r1\nACGT\n+\n>III\n"))
    with pytest.raises(FastaFormatError, match="input is FASTQ, not FASTA"):
        next(reader)


def test_binary_data_later_is_raised_when_reached() -> None:
    data = SMALL + b">tx4\nAC\x00GT\n"
    reader = read_fasta(io.BytesIO(data), block_size=len(SMALL))
    assert [r.id for r in (next(reader), next(reader))] == ["tx1", "tx2"]
    with pytest.raises(FastaFormatError) as caught:
        list(reader)
    assert caught.value.code == codes.UNDECODABLE_INPUT


def test_non_utf8_bytes_are_undecodable_wherever_they_are() -> None:
    data = b">tx1\nAC\n>tx2 caf\xe9\nGT\n"
    assert _error_code(data) == codes.UNDECODABLE_INPUT  # seen by the check of the start
    with pytest.raises(FastaFormatError, match="record 2") as caught:
        _records(data, block_size=8)  # the start is clean: found when record 2 is reached
    assert caught.value.code == codes.UNDECODABLE_INPUT


def test_format_error_needs_a_known_code() -> None:
    error = FastaFormatError(codes.EMPTY_INPUT, "input is empty")
    assert isinstance(error, ValueError) and error.code == codes.EMPTY_INPUT and str(error) == "input is empty"
    with pytest.raises(ValueError, match="unknown"):
        FastaFormatError("no_such_code", "x")


def test_text_stream_is_refused() -> None:
    with pytest.raises(TypeError, match="binary"):
        list(read_fasta(io.StringIO(">a\nAC\n")))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ header IDs


@pytest.mark.parametrize(
    ("header", "record_id", "description"),
    [
        ("ENSMUST00000193812.2|ENSMUSG00000102693.2|-|-|4933401J01Rik-201|TEC|1070|", "ENSMUST00000193812.2", None),
        ("ENST00000456328.2|ENSG00000290825.1|-|-|DDX11L2-202|DDX11L2|1657|lncRNA|", "ENST00000456328.2", None),
        ("ENST00000381567.8_PAR_Y|ENSG00000002586.20_PAR_Y|x|", "ENST00000381567.8_PAR_Y", None),
        ("ENSDART00000000004|ENSDARG00000000002|", "ENSDART00000000004", None),
        ("ENSG00000290825.1|ENST00000456328.2|", "ENSG00000290825.1|ENST00000456328.2|", ""),
        ("asm1|isoA", "asm1|isoA", ""),
        ("sp|P12345|NAME_HUMAN some protein", "sp|P12345|NAME_HUMAN", "some protein"),
        ("tx1 ENST00000456328.2|x", "tx1", "ENST00000456328.2|x"),
        ("  tx1\tdesc  more ", "tx1", "desc  more"),
        ("", "", ""),
        (" \t ", "", ""),
    ],
)
def test_header_ids(header: str, record_id: str, description: str | None) -> None:
    [record] = _records(f">{header}\nACGT\n".encode())
    assert record.id == record_id
    assert record.header == header.strip()
    assert record.description == (header.strip() if description is None else description)


# ------------------------------------------------------------------------------------------- validation


def _validate_one(sequence: str, record_id: str = "tx") -> Record | Rejection:
    [output] = validate([RawRecord(1, record_id, record_id, "", sequence)])
    return output


def test_lower_case_u_is_read_as_t() -> None:
    record = _validate_one("acguuAGU")
    assert isinstance(record, Record)
    assert record.sequence == "ACGTTAGT" and record.warnings == (codes.SHORT_SEQUENCE,) and record.n_ambiguous == 0


def test_mixed_t_and_u_warns() -> None:
    record = _validate_one("ACGTu")
    assert isinstance(record, Record)
    assert record.sequence == "ACGTT" and record.warnings == (codes.MIXED_T_AND_U, codes.SHORT_SEQUENCE)


def test_ambiguity_codes_are_kept_and_counted() -> None:
    record = _validate_one("ACGTNNNNNNACGTACGTACGTACGTACGTACGTACGTACGTrykm" + "A" * 160)
    assert isinstance(record, Record)
    assert record.n_ambiguous == 10 and record.warnings == (codes.AMBIGUOUS_BASES,)
    assert "RYKM" in record.sequence


def test_upper_case_dna_is_returned_as_is() -> None:
    record = _validate_one("ACGTTGCA" * 25)
    assert isinstance(record, Record) and record.sequence == "ACGTTGCA" * 25 and record.warnings == ()


@pytest.mark.parametrize("text", ["ACGT" * 50, "acgt" * 50, "ACGU" * 50])
def test_short_sequence_warning_below_200_nt(text: str) -> None:
    assert codes.SHORT_SEQUENCE_NT == 200
    at_limit, below = _validate_one(text), _validate_one(text[:-1])
    assert isinstance(at_limit, Record) and isinstance(below, Record)
    assert codes.SHORT_SEQUENCE not in at_limit.warnings
    assert codes.SHORT_SEQUENCE in below.warnings and len(below.sequence) == 199


def test_protein_is_invalid_character() -> None:
    rejection = _validate_one("MKVLAAGIVGHWDLLEFQP*")
    assert isinstance(rejection, Rejection) and rejection.reason == codes.INVALID_CHARACTER
    for listed in ("'L' (3x)", "'E' (1x)", "'*' (1x)", "'I' (1x)"):
        assert listed in rejection.message


def test_invalid_character_message() -> None:
    raw = RawRecord(4, "tx4", "tx4", "", "ACGT---ACGT")
    [rejection] = validate([raw])
    assert rejection == Rejection(4, "tx4", codes.INVALID_CHARACTER, "record 4 'tx4': invalid character '-' (3x)")


def test_non_ascii_letter_is_invalid_character() -> None:
    rejection = _validate_one("ACGTÅCGT")
    assert isinstance(rejection, Rejection) and rejection.reason == codes.INVALID_CHARACTER
    assert "'Å' (1x)" in rejection.message


def test_iupac_only_text_is_not_nucleotide() -> None:
    rejection = _validate_one("SWKMBDHVRYSWKM")
    assert isinstance(rejection, Rejection) and rejection.reason == codes.NOT_NUCLEOTIDE


def test_not_nucleotide_threshold_is_90_percent() -> None:
    assert isinstance(_validate_one("A" * 9 + "R"), Record)  # exactly 90%
    assert isinstance(_validate_one("a" * 89 + "Y" * 11), Rejection)  # 89%
    assert isinstance(_validate_one("N" * 95 + "ACGTU"), Record)  # N counts as nucleotide


def test_first_reason_wins() -> None:
    [rejection] = validate([RawRecord(1, "", "", "", "AC-GT")])
    assert isinstance(rejection, Rejection) and rejection.reason == codes.EMPTY_ID
    assert rejection.message == "record 1 (no ID): empty ID (5 nt sequence)"
    assert _validate_one("").reason == codes.EMPTY_SEQUENCE  # type: ignore[union-attr]


def test_first_valid_duplicate_wins() -> None:
    outputs = _outputs(b">a\nAC-GT\n>a\nACGT\n>b\nGG\n>a\nacgu\n>a\nACGA\n>b\n\n")
    kinds = [getattr(o, "reason", "kept") for o in outputs]
    dup, bad, empty = codes.DUPLICATE_ID, codes.INVALID_CHARACTER, codes.EMPTY_SEQUENCE
    assert kinds == [bad, "kept", "kept", dup, dup, empty]
    assert outputs[1].sequence == "ACGT"  # type: ignore[union-attr]
    assert "record 2" in outputs[3].message and "(identical sequence)" in outputs[3].message  # type: ignore[union-attr]
    assert "(different sequence)" in outputs[4].message  # type: ignore[union-attr]


def test_summary_as_dict() -> None:
    summary = summarise(_outputs(b">a\nACGU\n>a\nACGT\n>\nAC\n>c\nACGTN\n>d\nACGT\n"))
    assert summary.as_dict() == {
        "records": 5,
        "valid": 3,
        "rejected": 2,
        "reasons": {
            codes.EMPTY_ID: 1,
            codes.EMPTY_SEQUENCE: 0,
            codes.INVALID_CHARACTER: 0,
            codes.NOT_NUCLEOTIDE: 0,
            codes.DUPLICATE_ID: 1,
        },
        "warnings": {codes.MIXED_T_AND_U: 0, codes.AMBIGUOUS_BASES: 1, codes.SHORT_SEQUENCE: 3},
    }
    assert json.loads(json.dumps(summary.as_dict())) == summary.as_dict()
    assert ValidationSummary().as_dict()["records"] == 0


# ------------------------------------------------------------------------------------------- streaming


def _generated_fasta(n_records: int) -> bytes:
    rng = random.Random(7)
    lines = []
    for i in range(n_records):
        sequence = "".join(rng.choices("ACGT", k=rng.randint(60, 180)))
        lines.append(f">gen{i} generated\n{sequence[:60]}\n{sequence[60:]}\n")
    return "".join(lines).encode()


def test_reads_50000_records_from_an_unseekable_pipe() -> None:
    data = _generated_fasta(50_000)
    read_end, write_end = os.pipe()
    finished = threading.Event()

    def write() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            for start in range(0, len(data), 8192):
                pipe.write(data[start : start + 8192])
        finished.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with os.fdopen(read_end, "rb") as pipe:
        assert isinstance(pipe, io.BufferedReader) and not pipe.seekable()
        reader = read_fasta(pipe, block_size=64 * 1024)
        assert inspect.isgenerator(reader)
        first = next(reader)
        # The first record arrives while most of the file is still unwritten: nothing waits for EOF.
        assert first.id == "gen0" and not finished.is_set()
        count = 1 + sum(1 for _ in reader)
    writer.join(timeout=30)
    assert count == 50_000 and finished.is_set()


def test_read_records_streams_gzip_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "generated.fa.gz"
    path.write_bytes(gzip.compress(_generated_fasta(5_000), compresslevel=1))
    summary = summarise(read_records(path, block_size=32 * 1024))
    assert summary.records == summary.valid == 5_000


def test_ids_split_at_ascii_blanks_only() -> None:
    """Unicode spaces and control characters belong to the ID: two such IDs must not collide."""
    text = ">a\u00a0b x\nACGT\n>a\u00a0c\tdesc here\nACGT\n>a\x1fd\nACGT\n>\u2003e f\nACGT\n"
    records = _records(text.encode())
    assert [(r.id, r.description) for r in records] == [
        ("a\u00a0b", "x"), ("a\u00a0c", "desc here"), ("a\x1fd", ""), ("\u2003e", "f")]
