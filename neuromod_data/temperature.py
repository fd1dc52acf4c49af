"""Recordings at two temperatures: which cells a type's neurons are fitted to.

Patch-seq sets are often recorded at room temperature, while a model of the living cortex wants
physiological temperature (≈ 34 °C); membrane time constants, rheobases and firing differ between
the two (docs/design.md, "Temperature"). :func:`choose_temperature` takes a type's cells from the
physiological-temperature table where it has at least ``min_cells`` of them, and otherwise corrects
its room-temperature cells by a factor per feature estimated from the types present in both tables
(the geometric mean over those types of the ratio of medians, also reported as a Q10).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from neuromod_data.errors import DataValueError

__all__ = ["choose_temperature", "temperature_factors"]


def temperature_factors(
    room: pd.DataFrame,
    warm: pd.DataFrame,
    label: str,
    *,
    roles: Sequence[str],
    min_cells: int = 5,
    types: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per-feature ratio warm ÷ room, from the types with ``min_cells`` valid cells in both.

    ``room`` and ``warm`` hold the label column and one column per role (NaN where missing);
    ``types`` limits the estimate to those labels (e.g. a structure's types, leaving out labels
    such as "low quality").
    Returns one row per role: ``factor`` (geometric mean of the per-type ratios of medians),
    ``n_types`` and ``types`` (the types it comes from).

    Examples
    --------
    >>> room = pd.DataFrame({"t": ["A"] * 3 + ["B"] * 3, "tau_m": [20.0, 22, 18, 10, 11, 9]})
    >>> warm = pd.DataFrame({"t": ["A"] * 3 + ["B"] * 3, "tau_m": [10.0, 11, 9, 5, 5.5, 4.5]})
    >>> temperature_factors(room, warm, "t", roles=["tau_m"], min_cells=3)["factor"].round(3).tolist()
    [0.5]
    """
    rows = []
    for role in roles:
        ratios, used = [], []
        shared = set(room[label].dropna()) & set(warm[label].dropna())
        if types is not None:
            shared &= {str(t) for t in types}
        for t in sorted(shared):
            a = room.loc[room[label] == t, role].dropna()
            b = warm.loc[warm[label] == t, role].dropna()
            if len(a) >= min_cells and len(b) >= min_cells and a.median() > 0 and b.median() > 0:
                ratios.append(np.log(b.median() / a.median()))
                used.append(str(t))
        rows.append(
            {
                "role": role,
                "factor": float(np.exp(np.mean(ratios))) if ratios else np.nan,
                "n_types": len(used),
                "types": ", ".join(used),
            }
        )
    return pd.DataFrame(rows).set_index("role")


def choose_temperature(
    room: pd.DataFrame,
    warm: pd.DataFrame | None,
    label: str,
    *,
    types: Sequence[str],
    roles: Sequence[str],
    min_cells: int = 5,
    room_celsius: float = 25.0,
    warm_celsius: float = 34.0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """The cells each type is fitted to, and where they came from.

    Returns ``(cells, record, factors)``: ``cells`` holds the room-temperature cells of the types
    without enough physiological-temperature cells (their features multiplied by the factors)
    followed by the warm cells of the others, with a column ``temperature`` (``"34 °C"`` or
    ``"25 °C corrected"``); ``record`` has one row per type (``source``, ``n_warm``,
    ``n_room``); ``factors`` is :func:`temperature_factors` with a ``q10`` column (None without a
    warm table). Without a warm table every type keeps its room-temperature cells, uncorrected,
    and the record says so.
    """
    room = room.copy()
    if warm is None:
        room["temperature"] = f"{room_celsius:g} °C (uncorrected)"
        record = pd.DataFrame(
            {
                "type": list(types),
                "source": f"{room_celsius:g} °C recordings, not corrected",
                "n_warm": 0,
                "n_room": [int((room[label] == t).sum()) for t in types],
            }
        )
        return room, record, None
    if not warm_celsius > room_celsius:
        raise DataValueError(
            f"the physiological temperature ({warm_celsius:g} °C) must exceed the room "
            f"temperature ({room_celsius:g} °C)"
        )
    factors = temperature_factors(room, warm, label, roles=roles, min_cells=min_cells, types=types)
    factors["q10"] = factors["factor"] ** (10.0 / (warm_celsius - room_celsius))
    valid_warm = warm[list(roles)].notna().any(axis=1)
    parts, rows = [], []
    for t in types:
        w = warm[(warm[label] == t) & valid_warm]
        r = room[room[label] == t]
        if len(w) >= min_cells:
            w = w.assign(temperature=f"{warm_celsius:g} °C")
            parts.append(w)
            source = f"{warm_celsius:g} °C recordings"
        else:
            missing = [role for role in roles if not np.isfinite(factors.loc[role, "factor"])]
            if missing:
                raise DataValueError(
                    f"type {t!r} has {len(w)} cells at {warm_celsius:g} °C (fewer than "
                    f"{min_cells}) and no type has {min_cells} cells at both temperatures to "
                    f"estimate a correction of {missing}; lower min_cells or give no "
                    "physiological-temperature table"
                )
            r = r.copy()
            for role in roles:
                r[role] = r[role] * factors.loc[role, "factor"]
            r["temperature"] = f"{room_celsius:g} °C corrected"
            parts.append(r)
            source = f"{room_celsius:g} °C recordings × Q10 factors"
        rows.append({"type": t, "source": source, "n_warm": len(w), "n_room": len(r)})
    cells = pd.concat(parts) if parts else room.iloc[:0]
    return cells, pd.DataFrame(rows), factors
