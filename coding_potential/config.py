"""Where the project finds its reference material and writes its run-time files.

Settings come from the environment, with defaults resolved from the repository's root (never from
the current directory), so every entry point agrees on the same folders.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository's root when the package runs from a checkout or an editable install.
REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """Folder of reference material: ``$CODING_POTENTIAL_SHARED`` or ``shared`` beside the repository."""
    configured = os.environ.get("CODING_POTENTIAL_SHARED")
    if configured:
        return Path(configured).expanduser().resolve()
    return (REPO_ROOT.parent / "shared").resolve()


def var_dir() -> Path:
    """Git-ignored folder for everything written at run time: ``$CODING_POTENTIAL_VAR`` or ``var/``."""
    configured = os.environ.get("CODING_POTENTIAL_VAR")
    path = Path(configured).expanduser() if configured else REPO_ROOT / "var"
    return path.resolve()
