"""Fixtures shared by the whole suite: the real public data in ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuromod_data._files import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public files (outside the repository; its README.md describes them).

    Tests that need it skip where it is absent (set ``NEUROMOD_SHARED_DATA``).
    """
    path = shared_data_dir()
    if path is None:
        pytest.skip(
            "real data not found: set NEUROMOD_SHARED_DATA or place shared/data beside the repo"
        )
    return path
