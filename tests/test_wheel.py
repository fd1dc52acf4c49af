"""The built wheel installs and works on its own, away from the source tree.

A module that setuptools does not find, or a shipped file that ``package-data`` misses, passes
every other test (they import from the source tree) and fails only for someone who installs the
package. So: build the wheel from a copy of the packaged files, install it into a fresh virtual
environment that sees this interpreter's packages (``--system-site-packages``: nothing is
downloaded), and, from a folder outside the repository, import every module the wheel holds and read
the shipped tables (CSV, and the toy dataset's JSON design) through
``importlib.resources``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("neuromod_data", "neuromod_models")

# run in the fresh environment: import each module, report where it came from, read the resources
_PROBE = r"""
import importlib, json, sys
from importlib import resources
names = json.loads(sys.argv[1])
files = {}
for name in names:
    files[name] = importlib.import_module(name).__file__
shipped = {
    p.name: p.read_text(encoding="utf-8").splitlines()[0]
    for p in resources.files("neuromod_data._shipped").iterdir()
    if p.name.endswith((".csv", ".json"))
}
print(json.dumps({"files": files, "shipped": shipped}))
"""


def _module_names(wheel: Path) -> list[str]:
    """Dotted names of every Python module in the wheel, from its file list."""
    names = []
    for member in zipfile.ZipFile(wheel).namelist():
        parts = member.split("/")
        if parts[0] not in PACKAGES or not member.endswith(".py"):
            continue
        if parts[-1] == "__main__.py":  # running it would start the command
            continue
        parts[-1] = parts[-1][: -len(".py")]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return sorted(names)


def _source_modules() -> set[str]:
    out = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__main__":
                continue
            out.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


@pytest.mark.slow
def test_wheel_installs_and_imports(tmp_path):
    # build from a copy: an in-tree build would write build/ and *.egg-info into the repository
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["-q", "-w", str(dist), str(src)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("neuromod-*.whl")
    names = _module_names(wheel)
    # every source module is in the wheel (a subpackage without __init__.py would be missing)
    assert set(names) == _source_modules()
    members = set(zipfile.ZipFile(wheel).namelist())
    folder = ROOT / "neuromod_data" / "_shipped"
    shipped = sorted(p.name for p in [*folder.glob("*.csv"), *folder.glob("*.json")])
    assert shipped and {f"neuromod_data/_shipped/{n}" for n in shipped} <= members

    # a fresh environment; pip comes from this interpreter's site-packages, as do the dependencies
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # --ignore-installed: the editable install of this checkout is visible too; never touch it
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed"]
        + [str(wheel)],
        check=True,
        cwd=tmp_path,
    )
    run = tmp_path / "elsewhere"  # not the repository: its folders must not shadow the wheel
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [str(python), "-c", _PROBE, json.dumps(names)],
        check=True,
        cwd=run,
        env=env,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    site = str(venv.resolve())
    # each module came from the installed wheel, not from the source tree
    outside = {
        n: f for n, f in result["files"].items() if not str(Path(f).resolve()).startswith(site)
    }
    assert not outside, outside
    assert sorted(result["shipped"]) == shipped
    for name, header in result["shipped"].items():
        assert (
            header
            == (ROOT / "neuromod_data" / "_shipped" / name)
            .read_text(encoding="utf-8")
            .splitlines()[0]
        )
