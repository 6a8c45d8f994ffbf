"""Spark jobs: the core's reader and features run over many files on local Spark or Databricks."""
