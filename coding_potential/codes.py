"""Every rejection reason and warning the reader can give, documented in one place.

Codes are stable strings: reports, TSV files and dashboards key on them. A record gets at most one
rejection reason, the first that applies in the order of :data:`REJECTION_ORDER`.
"""

from __future__ import annotations

# Record-level rejections, in the order they are checked.
EMPTY_ID = "empty_id"
EMPTY_SEQUENCE = "empty_sequence"
INVALID_CHARACTER = "invalid_character"
NOT_NUCLEOTIDE = "not_nucleotide"
DUPLICATE_ID = "duplicate_id"

REJECTION_ORDER: tuple[str, ...] = (EMPTY_ID, EMPTY_SEQUENCE, INVALID_CHARACTER, NOT_NUCLEOTIDE, DUPLICATE_ID)

REJECTIONS: dict[str, str] = {
    EMPTY_ID: "the header line has no ID ('>' alone or followed by whitespace)",
    EMPTY_SEQUENCE: "the header is followed by no sequence",
    INVALID_CHARACTER: "the sequence holds a character outside the nucleotide IUPAC alphabet ('-', '*', digits, ...)",
    NOT_NUCLEOTIDE: "only IUPAC letters, but under 90% A/C/G/T/U/N: a protein or other non-nucleotide text",
    DUPLICATE_ID: "an earlier valid record in the same file has the same ID (the first one is kept)",
}

# Record-level warnings: the record is kept and scored.
MIXED_T_AND_U = "mixed_t_and_u"
AMBIGUOUS_BASES = "ambiguous_bases"
SHORT_SEQUENCE = "short_sequence"
#: Below this length (nt) a record is flagged: 200 nt is the usual lower bound of a lncRNA, and few
#: training transcripts are shorter, so a prediction there is an extrapolation.
SHORT_SEQUENCE_NT = 200

WARNINGS: dict[str, str] = {
    MIXED_T_AND_U: "the record holds both T and U; U was read as T",
    AMBIGUOUS_BASES: "the record holds IUPAC ambiguity codes (N, R, Y, ...): excluded from GC, never a start codon",
    SHORT_SEQUENCE: f"shorter than {SHORT_SEQUENCE_NT} nt: scored, but outside what the model was trained on",
}

# Whole-file errors: the input cannot be read as FASTA at all.
EMPTY_INPUT = "empty_input"
FASTQ_INPUT = "fastq_input"
NO_FASTA_RECORD = "no_fasta_record"
UNDECODABLE_INPUT = "undecodable_input"

FILE_ERRORS: dict[str, str] = {
    EMPTY_INPUT: "the input is empty",
    FASTQ_INPUT: "the input is FASTQ, not FASTA",
    NO_FASTA_RECORD: "no FASTA record found: the first non-blank line is not a '>' header",
    UNDECODABLE_INPUT: "the input is neither text nor gzip-compressed text",
}
