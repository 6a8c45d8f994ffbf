"""The steps the Airflow DAGs run, as plain functions of JSON arguments.

No Airflow import here: a step runs the same under ``airflow dags test``, from the command line
(``python -m pipeline run STEP --args JSON``) or inside a remote job (Databricks, Azure ML).
"""
