"""Sequence features of RNA transcripts, computed with numpy for many sequences at once.

Every function works on one concatenated array of base codes (:func:`encode`) so that numpy, not
Python, loops over bases. The column order and the neutral values are documented in :mod:`.table`.
"""

from .codon_usage import CODON_USAGE_COLUMNS, SENSE_CODONS, codon_usage
from .composition import MAX_K, kmer_counts, kmer_names
from .encoding import ALPHABET, AMBIGUITY_CODES, decode, encode
from .fickett import NEUTRAL_FICKETT, fickett_from_phase_counts, region_phase_counts
from .hexamer import HEXAMER_COLUMNS, PSEUDO_FREQUENCY, HexamerTable, region_hexamers, scored_regions
from .orfs import IS_STOP, OrfCalls, codon_codes, codon_index, longest_orfs, longest_stop_free
from .table import FEATURE_COLUMNS, NEUTRAL_VALUES, compute_features, feature_columns

__all__ = [
    "ALPHABET",
    "AMBIGUITY_CODES",
    "CODON_USAGE_COLUMNS",
    "FEATURE_COLUMNS",
    "HEXAMER_COLUMNS",
    "IS_STOP",
    "MAX_K",
    "NEUTRAL_FICKETT",
    "NEUTRAL_VALUES",
    "PSEUDO_FREQUENCY",
    "SENSE_CODONS",
    "HexamerTable",
    "OrfCalls",
    "codon_codes",
    "codon_index",
    "codon_usage",
    "compute_features",
    "decode",
    "encode",
    "feature_columns",
    "fickett_from_phase_counts",
    "kmer_counts",
    "kmer_names",
    "longest_orfs",
    "longest_stop_free",
    "region_hexamers",
    "region_phase_counts",
    "scored_regions",
]
