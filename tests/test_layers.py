"""The import rules of docs/architecture.md, enforced.

    vast/ (entry points) -> actors | replay | learner -> common -> envs

- envs imports no other vast package, and no torch when its modules are imported;
- common imports no role package and no entry point;
- actors, replay and learner never import each other (shared pieces live in common or envs);
- only vast/ (the entry points) imports the roles;
- heavy libraries (torch, matplotlib, numba) are not imported by `vast --help` / `vast train --help`.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"envs", "common", "actors", "replay", "learner", "vast"}
ROLES = {"actors", "replay", "learner"}
ENTRY = "vast"  # the vast/ folder: vast.cli, vast.launch


def _target_package(module: str) -> str | None:
    """Which of our folders an absolute import `vast.x.y` points into (None: not ours)."""
    parts = module.split(".")
    if parts[0] != "vast":
        return None
    if len(parts) > 1 and parts[1] in PACKAGES - {"vast"}:
        return parts[1]
    return ENTRY


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement in a file."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, id(node) in top))
    return out


def violations(root: Path) -> list[str]:
    found = []
    for package in sorted(PACKAGES):
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root)
            for module, module_level in _imports(path):
                target = _target_package(module)
                if module.split(".")[0] in PACKAGES - {"vast"}:
                    found.append(f"{where}: bare `import {module}` (use vast.{module})")
                elif package == "envs" and target not in (None, "envs"):
                    found.append(f"{where}: envs imports {module}")
                elif package == "envs" and module_level and module.split(".")[0] == "torch":
                    found.append(f"{where}: envs imports torch at module import")
                elif package == "common" and target in ROLES | {ENTRY}:
                    found.append(f"{where}: common imports {module}")
                elif package in ROLES and target in ROLES - {package}:
                    found.append(f"{where}: {package} imports {module}")
                elif package in ROLES and target == ENTRY:
                    found.append(f"{where}: {package} imports the entry point {module}")
    return found


def test_the_code_follows_the_import_rules():
    assert violations(ROOT) == []


@pytest.mark.parametrize(
    "package, line",
    [
        ("envs", "import torch"),
        ("envs", "from vast.common.config import Config"),
        ("common", "from vast.learner.trainer import Trainer"),
        ("actors", "from vast.learner.batch import build_batch"),
        ("replay", "import vast.actors.sender"),
        ("learner", "from vast.launch.local import LocalCluster"),
        ("learner", "from common.config import Config"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path, package, line):
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / package / "intruder.py").write_text(f"{line}\n")
    found = violations(tmp_path)
    assert len(found) == 1 and f"{package}/intruder.py" in found[0], found


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["actor", "--help"]])
def test_help_imports_no_heavy_library(argv):
    code = (
        "import sys, vast.cli\n"
        f"assert vast.cli.main({argv!r}) == 0\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'numba', 'zmq', 'redis') if m in sys.modules))"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    elapsed = time.perf_counter() - start
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
    print(f"vast {' '.join(argv)}: {elapsed:.2f} s")
