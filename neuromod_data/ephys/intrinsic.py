"""Per-type LIF/ALIF parameters from electrophysiology: the mapping applied to each type's cells,
with the parent-level fallback (the rules: the docstring of :mod:`neuromod_data.ephys`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from neuromod_data.ephys._common import _warn, robust_spread
from neuromod_data.ephys.fallback import (
    _add_event,
    _chains,
    _check_args,
    _Events,
    _fallback_warnings,
    _labels,
    _new_events,
    _report_unlabelled,
    _select,
    _types,
)
from neuromod_data.ephys.mapping import (
    _INPUT_OF,
    ParameterMap,
    _inputs,
    _reference,
    map_features,
)
from neuromod_data.structure import BOUNDS, PAPER_VALUES, PARAMETERS, IntrinsicParameters


def _report_inputs(
    inputs: pd.DataFrame, invalid: dict[str, int], pmap: ParameterMap, where: str, n_table: int
) -> dict[str, int]:
    """Warn about impossible and missing values of each mapping input; the NaN count per input."""
    for name, n in invalid.items():
        if n:
            limit = "< 0 or infinite" if name == "sfa" else "≤ 0 or infinite"
            _warn(
                f"{where}: {n} cell(s) have an impossible value ({limit}) of "
                f"{pmap.describe(name)!r}; they are left out of the parameters computed from it"
            )
    n_nan = {k: int(inputs[k].isna().sum()) for k in inputs.columns}
    for name, n in n_nan.items():
        if n - invalid[name]:
            _warn(
                f"{where}: {n - invalid[name]} of {n_table} cells have no value (NaN) of "
                f"{pmap.describe(name)!r}; they are left out of the parameters computed from it"
            )
    return n_nan


@dataclass
class _Table:
    """Per (type, parameter): value, log-spread, cells used, and the level and group they came from."""

    median: np.ndarray
    spread: np.ndarray
    n_cells: np.ndarray
    level: np.ndarray
    group: np.ndarray

    @classmethod
    def empty(cls, k: int, p: int) -> _Table:
        return cls(
            median=np.zeros((k, p)),
            spread=np.zeros((k, p)),
            n_cells=np.zeros((k, p), dtype=np.int64),
            level=np.full((k, p), "default", dtype=object),
            group=np.full((k, p), "", dtype=object),
        )


def _one_parameter(
    out: _Table,
    i: int,
    j: int,
    t: str,
    chain: list[tuple[str, str]],
    *,
    inputs: pd.DataFrame,
    per_cell: Mapping[str, np.ndarray],
    ref: Mapping[str, float],
    labels: dict[str, pd.Series],
    pmap: ParameterMap,
    min_cells: int,
    events: _Events,
) -> None:
    """Parameter ``PARAMETERS[j]`` of type ``t``: the mapping of the median input of the cells
    chosen for it (own type, a parent, or the paper's value), and the spread of their log values."""
    name = PARAMETERS[j]
    inp = _INPUT_OF[name]
    if inp is None:  # no feature measures it: the mapping's constant
        out.median[i, j] = float(np.clip(pmap.tau_a, *BOUNDS[name]))
        out.level[i, j], out.group[i, j] = "constant", t
        return
    x = inputs[inp].to_numpy()
    lev, grp, mask, how = _select(np.isfinite(x), labels, chain, min_cells)
    if how != "own" and name != "adaptive":  # adaptive shares beta's input: one report
        _add_event(events, how, t, name, lev, grp, int(mask.sum()))
    if how == "default":
        out.median[i, j] = PAPER_VALUES[name]
        out.group[i, j] = t
        return
    out.level[i, j], out.group[i, j], out.n_cells[i, j] = lev, grp, int(mask.sum())
    if name == "adaptive":
        out.median[i, j] = float(np.mean(per_cell[name][mask]))
        return
    typed = map_features(
        {
            kk: float(np.median(inputs[kk].to_numpy()[mask])) if kk == inp else ref[kk]
            for kk in inputs.columns
        },
        mapping=pmap,
        reference=ref,
    )
    out.median[i, j] = float(typed[name])
    vals = per_cell[name][mask]
    vals = vals[vals > 0]
    out.spread[i, j] = robust_spread(np.log(vals)) if vals.size else 0.0


def intrinsic_from_ephys(
    cells: pd.DataFrame,
    label: str,
    *,
    fallback: Sequence[str] = (),
    min_cells: int = 5,
    types: Sequence[str] | None = None,
    mapping: ParameterMap | None = None,
    missing: Literal["raise", "default"] = "raise",
) -> IntrinsicParameters:
    """Per-type LIF/ALIF parameters from electrophysiology (mapping: see the module docstring).

    Parameters
    ----------
    cells
        Table from :func:`read_ephys`.
    label
        Label column defining the types (e.g. ``"RNA family"``).
    fallback
        Coarser label columns, in order, for types with fewer than ``min_cells`` cells with a value.
    min_cells
        Fewest cells with a value a group needs (default 5).
    types
        Types in the order wanted (e.g. ``structure.names``); default every label of ``label``.
    mapping
        :class:`ParameterMap` (default: the documented mapping, references from this table).
    missing
        A type of ``types`` without any labelled cell: ``"raise"`` (default) or ``"default"`` (the
        paper's values, with a warning).

    Returns
    -------
    :class:`~neuromod_data.structure.IntrinsicParameters` for ``types``; its ``meta`` records the
    files, the label levels, ``min_cells``, the mapping, the reference values, the numbers of
    unlabelled and invalid cells and every fallback.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({
    ...     "family": ["A"] * 3 + ["B"] * 3,
    ...     "Membrane time constant (ms)": [10.0, 12.0, 14.0, 20.0, 20.0, 26.0],
    ...     "Spike frequency adaptation": [0.5, 0.6, 0.7, 1.0, 0.95, 0.9],
    ...     "AP threshold (mV)": [-40.0] * 6, "Resting membrane potential (mV)": [-60.0] * 6,
    ...     "AP width (ms)": [1.0] * 6})
    >>> ip = intrinsic_from_ephys(cells, "family", min_cells=3)
    >>> v = ip.values()
    >>> v["tau_m"].tolist(), v["adaptive"].tolist(), v["v_th"].tolist(), v["n_ref"].tolist()
    ([12.0, 20.0], [True, False], [0.01, 0.01], [5, 5])
    """
    fallback = _check_args(min_cells, label, fallback)
    pmap = mapping or ParameterMap()
    record = cells.attrs.get("neuromod_ephys") or {}
    where = record.get("features_file", "the ephys table")
    labels = _labels(cells, [label, *fallback])
    n_unlabelled = _report_unlabelled(labels[label], label, where)
    type_list, absent_types = _types(labels[label], label, types, missing, where)
    inputs, invalid = _inputs(cells, pmap)
    n_nan = _report_inputs(inputs, invalid, pmap, where, len(cells))
    ref = _reference(inputs, pmap)
    per_cell = map_features(
        {k: inputs[k].to_numpy() for k in inputs.columns}, mapping=pmap, reference=ref
    )
    chains, mixed = _chains(labels, label, fallback, type_list)
    table = _Table.empty(len(type_list), len(PARAMETERS))
    events = _new_events()
    for i, t in enumerate(type_list):
        for j in range(len(PARAMETERS)):
            _one_parameter(
                table, i, j, t, chains[t], inputs=inputs, per_cell=per_cell, ref=ref,
                labels=labels, pmap=pmap, min_cells=min_cells, events=events,
            )  # fmt: skip
    if absent_types:
        _warn(f"{where}: no cell labelled {absent_types}; they get the paper's values")
    # tau_a has no input and adaptive shares beta's: 4 parameters can fall back
    msgs = _fallback_warnings(events, min_cells, label, where, 4)
    meta = {
        "source": {k: record[k] for k in ("features_file", "metadata_file") if k in record},
        "label": label,
        "fallback": list(fallback),
        "min_cells": int(min_cells),
        "mapping": pmap.to_dict(),
        "reference": ref,
        "n_cells_table": int(len(cells)),
        "n_unlabelled": n_unlabelled,
        "n_missing": n_nan,
        "n_invalid": invalid,
        "types_without_cells": absent_types,
        "parents_mixed": mixed,
        "fallbacks": msgs,
        "units": {"tau_m": "ms", "tau_a": "ms", "v_th": "model voltage", "n_ref": "steps of 1 ms"},
    }
    return IntrinsicParameters(
        types=tuple(type_list),
        params=PARAMETERS,
        median=table.median,
        spread=table.spread,
        n_cells=table.n_cells,
        level=table.level.astype(str),
        group=table.group.astype(str),
        bounds=np.array([BOUNDS[q] for q in PARAMETERS]),
        meta=meta,
    )
