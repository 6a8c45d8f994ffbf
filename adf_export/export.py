"""``coding-potential adf-export --out DIR``: the factory in ADF's Git layout plus its ARM template.

Pipelines come from the azure-profile DAGs (:mod:`adf_export.generate`), the rest from
:mod:`adf_export.resources`. Every resource is validated against Microsoft's Data Factory schema
(:mod:`adf_export.schema`) before anything is written; the output is deterministic (stable order, no
timestamps), so the committed copy under ``adf_export/factory/`` can be checked for drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import resources, schema
from .generate import PIPELINES, pipelines

#: Where the generated factory is committed, beside this code.
COMMITTED = Path(__file__).resolve().parent / "factory"
SCORING = PIPELINES["coding_potential_scoring"]


class InvalidFactoryError(ValueError):
    """A generated resource does not validate against the Data Factory schema."""


def build() -> tuple[dict[str, list[dict[str, Any]]], tuple[dict[str, Any], dict[str, Any]]]:
    """The Git-layout resources and the ARM template (with its parameters file), validated."""
    generated = pipelines()
    git = resources.factory_resources(resources.git_values(), generated, SCORING)
    arm = resources.arm_template(resources.factory_resources(resources.arm_values(), generated, SCORING))
    errors = [message for folder, items in git.items() if folder in schema.KINDS
              for item in items for message in schema.validate_resource(folder, item)]
    errors += schema.validate_arm_template(arm[0])
    if errors:
        raise InvalidFactoryError("the generated factory does not validate:\n  " + "\n  ".join(errors))
    return git, arm


def export(out: str | Path) -> list[Path]:
    """Write the factory under ``out`` (replacing an earlier export there); the written files, sorted."""
    git, arm = build()
    return resources.write_factory(Path(out), git, arm)
