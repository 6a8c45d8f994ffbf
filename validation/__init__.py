"""Data-quality gates on FASTA inputs (Great Expectations): suites, custom expectations, reports."""
