"""Robust per-type summaries of every feature (median, 1.4826 × MAD, cells), with fallbacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from neuromod_data.ephys._common import _warn, robust_spread
from neuromod_data.ephys.fallback import (
    _add_event,
    _chains,
    _check_args,
    _fallback_warnings,
    _labels,
    _new_events,
    _report_unlabelled,
    _select,
    _types,
)
from neuromod_data.errors import ColumnError


def summarize_ephys(
    cells: pd.DataFrame,
    label: str,
    *,
    fallback: Sequence[str] = (),
    min_cells: int = 5,
    types: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    missing: Literal["raise", "default"] = "raise",
) -> pd.DataFrame:
    """Robust per-type summary of each feature, with the parent-level fallback.

    Parameters
    ----------
    cells
        Table from :func:`read_ephys` (or any table with the label and feature columns).
    label
        Label column defining the types (e.g. ``"RNA type"``).
    fallback
        Coarser label columns, in order, for types with fewer than ``min_cells`` cells with a value
        (e.g. ``["RNA family"]``).
    min_cells
        Fewest cells with a value a group needs for its summary to be used.
    types
        Types to summarise (default: every label of ``label``); types without any cell raise
        (``missing="raise"``) or get NaN (``missing="default"``), with a warning.
    features
        Feature columns (default: every feature of the table).

    Returns
    -------
    A long table, one row per (type, feature): ``type``, ``feature``, ``median``, ``spread``
    (1.4826 × MAD, the feature's unit), ``n_cells`` (cells with a value in the group used),
    ``level`` (label column of the group, or ``"default"``) and ``group`` (its label), sorted by
    type then feature order. Warnings name every type that falls back.
    """
    fallback = _check_args(min_cells, label, fallback)
    where = (cells.attrs.get("neuromod_ephys") or {}).get("features_file", "the ephys table")
    if features is None:
        features = (cells.attrs.get("neuromod_ephys") or {}).get("features") or [
            c for c in cells.columns if pd.api.types.is_numeric_dtype(cells[c])
        ]
    absent = [f for f in features if f not in cells.columns]
    if absent:
        raise ColumnError(f"{where}: feature column(s) {absent} not found")
    labels = _labels(cells, [label, *fallback])
    _report_unlabelled(labels[label], label, where)
    type_list, absent_types = _types(labels[label], label, types, missing, where)
    chains, _ = _chains(labels, label, fallback, type_list)
    rows, events = [], _new_events()
    values = {
        f: pd.to_numeric(cells[f], errors="coerce").to_numpy(dtype=np.float64) for f in features
    }
    n_nan = {f: int(np.isnan(values[f]).sum()) for f in features}
    if any(n_nan.values()):
        listed = ", ".join(f"{f!r} ({n})" for f, n in n_nan.items() if n)
        _warn(
            f"{where}: cells without a value (NaN) are left out of the summaries of {listed} "
            f"(of {len(cells)} cells)"
        )
    for t in type_list:
        for f in features:
            x = values[f]
            level, group, mask, how = _select(np.isfinite(x), labels, chains[t], min_cells)
            sel = x[mask]
            if how != "own":
                _add_event(events, how, t, f, level, group, int(mask.sum()))
            rows.append(
                {
                    "type": t,
                    "feature": f,
                    "median": float(np.median(sel)) if sel.size else np.nan,
                    "spread": robust_spread(sel),
                    "n_cells": int(sel.size),
                    "level": level,
                    "group": group,
                }
            )
    if absent_types:
        _warn(f"{where}: no cell labelled {absent_types}; their summaries are NaN")
    _fallback_warnings(events, min_cells, label, where, len(features))
    return pd.DataFrame(
        rows, columns=["type", "feature", "median", "spread", "n_cells", "level", "group"]
    )
