"""Fixtures of the model tests."""

from __future__ import annotations

import pytest

from neuromod_models import _fast
from neuromod_models._kernels import kernels


@pytest.fixture(params=["compiled", "torch"])
def sequence_backend(request, monkeypatch) -> str:
    """Run a test once with the compiled (numba) CPU kernels and once with the torch loops.

    On the CPU the fused rules use the kernels whenever numba is there, so without this the torch
    loops (what CUDA runs) would go untested here.
    """
    if request.param == "compiled" and kernels() is None:
        pytest.skip("numba is not installed")
    if request.param == "torch":
        monkeypatch.setattr(_fast, "kernels", lambda: None)
    return request.param
