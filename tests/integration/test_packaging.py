"""`pip install .` puts one package, `vast`, into site-packages: the wheel holds nothing else."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_contains_only_the_vast_package(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("vast-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"vast", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, tops
    for folder in ("actors", "replay", "learner", "common", "envs", "vast"):  # every module of every folder
        for path in (ROOT / folder).rglob("*.py"):
            inside = path.relative_to(ROOT / folder).as_posix()
            expected = f"vast/{inside}" if folder == "vast" else f"vast/{folder}/{inside}"
            assert expected in names, f"{path.relative_to(ROOT)} is missing from the wheel"
    assert not [n for n in names if n.startswith("vast/tests") or "/__pycache__/" in n]
