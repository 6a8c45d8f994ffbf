"""The Dockerfiles (``docker/``), read as instructions: there is no Docker engine here to build them.

Checked: pinned bases, a numeric non-root user, no secret in ENV or ARG, the locks installed, every
COPY source present in the build context (and not excluded by ``.dockerignore``), and the entry points.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import pytest

from coding_potential.config import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
IMAGES = {"serving": DOCKER / "serving.Dockerfile", "airflow": DOCKER / "airflow.Dockerfile"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def ignored(relative: str) -> bool:
    patterns = [p.strip() for p in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    return any(fnmatch.fnmatch(relative, p) or relative.startswith(p.rstrip("/") + "/") for p in patterns)


@pytest.mark.parametrize("image", list(IMAGES))
def test_the_base_is_pinned_and_the_user_is_not_root(image: str) -> None:
    steps = instructions(IMAGES[image])
    bases = [args for keyword, args in steps if keyword == "FROM"]
    assert bases == ["python:3.11.7-slim-bookworm"]  # an exact Python release, never a floating tag
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", users[-1]), users  # numeric: runAsNonRoot can check
    last_user = max(i for i, (keyword, _) in enumerate(steps) if keyword == "USER")
    assert all(keyword not in ("RUN", "COPY") for keyword, _ in steps[last_user + 1:])  # nothing runs as root after


@pytest.mark.parametrize("image", list(IMAGES))
def test_no_secret_is_baked_in(image: str) -> None:
    for keyword, args in instructions(IMAGES[image]):
        if keyword in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split("=")[0]]
            assert not [n for n in names if re.search(r"SECRET|PASSWORD|TOKEN|KEY|CONNECTION_STRING", n, re.I)]


@pytest.mark.parametrize("image", list(IMAGES))
def test_every_copied_path_is_in_the_build_context(image: str) -> None:
    steps = instructions(IMAGES[image])
    args = {a.split("=")[0]: a.split("=", 1)[1] for keyword, a in steps if keyword == "ARG" and "=" in a}
    for keyword, rest in steps:
        if keyword != "COPY":
            continue
        parts = [p for p in shlex.split(rest) if not p.startswith("--")]
        for source in parts[:-1]:
            source = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], source).rstrip("/")
            assert (REPO_ROOT / source).exists(), f"{image}: COPY {source}: not in the repository"
            assert not ignored(source), f"{image}: COPY {source}: excluded by .dockerignore"


def test_the_serving_image_installs_its_lock_and_runs_the_model_class() -> None:
    steps = instructions(IMAGES["serving"])
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "pip install -r requirements/serving.lock" in runs
    assert "pip install --no-deps --no-build-isolation ." in runs
    (command,) = [args for keyword, args in steps if keyword == "CMD"]
    assert command.startswith('["seldon-core-microservice", "seldon.model.CodingPotential"')
    assert [args for keyword, args in steps if keyword == "EXPOSE"] == ["9000 6000"]
    env = " ".join(args for keyword, args in steps if keyword == "ENV")
    assert "CODING_POTENTIAL_SERVING_MODEL_DIR=/opt/model" in env
    assert "PREDICTIVE_UNIT_METRICS_ENDPOINT=/prometheus" in env
    assert "CODING_POTENTIAL_VAR=/tmp/coding-potential" in env  # a read-only root: run-time files under /tmp


def test_the_airflow_image_installs_the_platform_lock_and_java() -> None:
    steps = instructions(IMAGES["airflow"])
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "openjdk-17-jre-headless" in runs and "requirements/platform.lock" in runs
    env = " ".join(args for keyword, args in steps if keyword == "ENV")
    assert "AIRFLOW__CORE__DAGS_FOLDER=/app/dags" in env and "CODING_POTENTIAL_PROFILE=azure" in env


def test_the_packages_the_images_install_are_the_projects() -> None:
    """pyproject's package list is what the images copy (a package missing there breaks `pip install .`)."""
    import tomllib

    packages = {p.split(".")[0] for p in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"][
        "setuptools"]["packages"]}
    for image, path in IMAGES.items():
        copied = {shlex.split(rest)[0] for keyword, rest in instructions(path) if keyword == "COPY"}
        assert packages <= copied, f"{image} lacks {sorted(packages - copied)}"
