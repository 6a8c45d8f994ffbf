"""coding-potential core: FASTA reading, record validation and sequence features.

The core depends on numpy only. It knows nothing of Airflow, Spark, MLflow or Seldon, so batch jobs,
Spark executors and the serving endpoint all compute features through this one package.
"""

__version__ = "0.1.0"
