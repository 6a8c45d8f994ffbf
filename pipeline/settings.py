"""Pipeline settings from the environment, with embedded local defaults."""

from __future__ import annotations

import os
import re
from pathlib import Path

from coding_potential import config

#: ``local`` runs every step on this machine; ``azure`` (a later issue) swaps the operators.
PROFILES = ("local",)


def profile() -> str:
    """The execution profile: ``$CODING_POTENTIAL_PROFILE`` (default ``local``)."""
    name = os.environ.get("CODING_POTENTIAL_PROFILE", "local")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; available: {', '.join(PROFILES)}")
    return name


def run_dir_for(dag_id: str, run_id: str) -> str:
    """Folder of one DAG run's intermediate files (run IDs hold ':' and '+': made path-safe)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return str(config.var_dir() / "runs" / dag_id / safe)


def landing_root() -> Path:
    """Where the day's new FASTA lands, one ``YYYY-MM-DD/`` folder a day."""
    return Path(os.environ.get("CODING_POTENTIAL_LANDING", config.var_dir() / "landing"))


def predictions_root() -> Path:
    """Where scoring publishes, one ``date=YYYY-MM-DD/`` partition a day."""
    return Path(os.environ.get("CODING_POTENTIAL_PREDICTIONS", config.var_dir() / "predictions"))
