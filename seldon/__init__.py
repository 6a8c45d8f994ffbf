"""The Seldon Core REST endpoint of the coding-potential model (its own environment: requirements/serving.lock)."""
