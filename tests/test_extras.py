"""The optional extras install what their users need and nothing that replaces the CPU torch."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _names(extra: str) -> set[str]:
    return {req.split(">")[0].split("=")[0].split("[")[0].strip().lower() for req in EXTRAS[extra]}


def test_no_extra_pulls_torchvision():
    # norse's metadata requires torchvision, whose wheels pin a CUDA torch: `pip install
    # .[bench]` replaced the CPU build; it is installed with --no-deps instead
    for extra in EXTRAS:
        assert not _names(extra) & {"norse", "torchvision"}, extra


def test_notebook_extra_can_convert_notebooks():
    assert {"nbformat", "nbclient", "nbconvert", "ipykernel"} <= _names("notebooks")


def test_nest_is_optional_and_outside_the_test_extra():
    # NEST is GPL: an extra of its own, never pulled in by the extras CI installs
    assert _names("nest") == {"nest-simulator"}
    assert "nest-simulator" not in _names("test") and "nir" in _names("nir")
