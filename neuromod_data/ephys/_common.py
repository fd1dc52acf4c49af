"""What every step of :mod:`neuromod_data.ephys` shares: the robust spread and the warnings."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import numpy as np

from neuromod_data.errors import NeuromodWarning

#: 1.4826 × MAD estimates the standard deviation of normally distributed values
MAD_SCALE = 1.4826


def robust_spread(values: Any) -> float:
    """1.4826 × the median absolute deviation of the finite ``values`` (0 for fewer than 2).

    Examples
    --------
    >>> robust_spread([1.0, 2.0, 4.0, np.nan])
    1.4826
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return 0.0
    return float(MAD_SCALE * np.median(np.abs(x - np.median(x))))


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside this package (the user's own line)."""
    # the package is neuromod_data/, two folders up from this file
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(pkg):
        frame = frame.f_back
        level += 1
    return level


def _warn(message: str) -> None:
    warnings.warn(message, NeuromodWarning, stacklevel=_user_stacklevel())
