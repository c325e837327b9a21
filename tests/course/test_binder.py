"""binder/ stays small (2 GB instance) and in step with pyproject's runtime dependencies."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
HEAVY = ("jupyter-book", "jupyter_book", "playwright", "pytest", "nbval", "mystmd")


def _names(lines: list[str]) -> set[str]:
    """Package names from requirement lines (comments and options dropped), normalised."""
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_requirements_have_runtime_deps_but_no_test_tools() -> None:
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = _names(deps) - {"torch"}  # torch comes from the CPU index in postBuild
    have = _names((BINDER / "requirements.txt").read_text().splitlines())
    assert wanted <= have, f"binder/requirements.txt lacks {sorted(wanted - have)}"
    assert not have & set(HEAVY), f"keep test tools out of Binder: {sorted(have & set(HEAVY))}"


def test_post_build_installs_cpu_torch_and_the_package() -> None:
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert re.search(r"pip install .*torch==\S+ .*--index-url https://download\.pytorch\.org/whl/cpu",
                     text), "postBuild must install the CPU torch wheel"
    assert re.search(r"pip install .*-e \.", text), "postBuild must install ppedu itself"
    assert not any(tool in text for tool in HEAVY)
