"""Units of recorded features, checked before any work.

A feature the model takes in a fixed unit (the membrane time constant, in ms) is clipped to its
parameter's bounds (:data:`~neuromod_data.structure.BOUNDS`) cell by cell. A few cells beyond the
bounds are real outliers; a column whose values lie outside them *en masse* was written in another
unit (time constants in seconds all lie below the 2-ms bound) and would be clipped to the bound
without a word. :func:`check_units` refuses such a column, naming it and the unit its values look
like. The feature mapping (:mod:`neuromod_data.ephys.mapping`) and the fit
(:mod:`neuromod_data.fitting`) both call it on the columns they read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuromod_data.errors import DataValueError
from neuromod_data.structure import BOUNDS

__all__ = ["OUT_OF_RANGE", "UNITS", "check_units"]

#: the unit each parameter's feature is read in (the bounds of the parameter are in this unit)
UNITS: dict[str, str] = {"tau_m": "ms"}
#: a column with more than this fraction of its cells outside the bounds is in another unit. In
#: the M1 Patch-seq tables no cell's membrane time constant lies outside 2–100 ms (1,328 cells at
#: room temperature, 184 at 34 °C), so a quarter is far from real data and still catches a table
#: in which half the cells were written in seconds
OUT_OF_RANGE = 0.25
#: other units a value in the expected unit may have been written in, with the factor to it
_OTHER_UNITS: dict[str, tuple[tuple[str, float], ...]] = {
    "ms": (("s", 1000.0), ("µs", 1e-3), ("min", 60_000.0)),
}


def check_units(
    values: Any, column: str, *, parameter: str = "tau_m", where: str = "the ephys table"
) -> None:
    """Refuse a feature column whose values lie outside the parameter's bounds en masse.

    Parameters
    ----------
    values
        The column's values; missing, non-positive and non-finite ones are not counted (they are
        reported elsewhere as impossible or missing).
    column
        Its name, for the message.
    parameter
        The model parameter it becomes (a key of :data:`UNITS`).
    where
        The table, for the message.

    Raises
    ------
    DataValueError
        More than :data:`OUT_OF_RANGE` of the values lie outside the bounds; the message names
        the column, the unit expected and the one the values look like (s vs ms).

    Examples
    --------
    >>> check_units([12.0, 8.5, 30.0], "Membrane time constant (ms)")
    >>> check_units([0.012, 0.0085, 0.030], "Membrane time constant (ms)")
    Traceback (most recent call last):
    ...
    neuromod_data.errors.DataValueError: the ephys table: column 'Membrane time constant (ms)': 3 of 3 cells (100%) ...
    """
    unit = UNITS[parameter]
    lo, hi = BOUNDS[parameter]
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x) & (x > 0)]
    if x.size == 0:
        return
    outside = x[(x < lo) | (x > hi)]
    if outside.size <= OUT_OF_RANGE * x.size:
        return
    median = float(np.median(outside))
    guess = ""
    for other, factor in _OTHER_UNITS.get(unit, ()):
        converted = outside * factor
        if np.mean((converted >= lo) & (converted <= hi)) > 0.5:
            guess = f"; they look like {other}, not {unit}: convert them (× {factor:g}) to {unit}"
            break
    if not guess:
        guess = f"; check the column's unit ({unit} expected)"
    raise DataValueError(
        f"{where}: column {column!r}: {outside.size} of {x.size} cells "
        f"({outside.size / x.size:.0%}) lie outside {lo:g}–{hi:g} {unit}, the range of the "
        f"model's {parameter} (their median {median:.3g}){guess}; refused rather than clipped "
        "to the bound"
    )
