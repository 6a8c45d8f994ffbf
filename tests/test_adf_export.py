"""The committed factory (adf_export/factory/) is what the generator writes from today's DAGs: no drift."""

from __future__ import annotations

import json
from pathlib import Path

from adf_export.export import COMMITTED, export
from cli.main import main as cli_main


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.json"))}


def test_the_committed_factory_matches_the_dags(tmp_path: Path) -> None:
    written = export(tmp_path / "factory")
    assert written == sorted(written)
    fresh, committed = _tree(tmp_path / "factory"), _tree(COMMITTED)
    assert set(fresh) == set(committed), "regenerate: coding-potential adf-export --out adf_export/factory"
    drifted = [name for name in fresh if fresh[name] != committed[name]]
    assert not drifted, f"{drifted} drifted from the DAGs: coding-potential adf-export --out adf_export/factory"


def test_the_export_is_deterministic_and_replaces_stale_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "adf"
    assert cli_main(["adf-export", "--out", str(out)]) == 0
    first = _tree(out)
    (out / "pipeline" / "pl_removed.json").write_text(json.dumps({"name": "pl_removed", "properties": {}}))
    assert cli_main(["adf-export", "--out", str(out)]) == 0
    assert _tree(out) == first
    assert f"{len(first)} files under {out}" in capsys.readouterr().out
    assert not any(b"\r" in content for content in first.values())


def test_an_output_that_cannot_be_a_folder_is_refused(tmp_path: Path, capsys) -> None:
    taken = tmp_path / "file"
    taken.write_text("x")
    assert cli_main(["adf-export", "--out", str(taken)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
