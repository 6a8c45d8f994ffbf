"""Data-quality gates on FASTA inputs (Great Expectations): suites, custom expectations, reports."""

import warnings

# Great Expectations imports pyspark, which warns on every import that it does not yet support pandas 3
# (the platform's pinned pandas): noise in every task log and CLI run, not something a user can act on.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
