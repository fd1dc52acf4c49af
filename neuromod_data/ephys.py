"""Intrinsic neuron parameters per cell type from Patch-seq electrophysiology.

Three steps, each usable on its own:

1. :func:`read_ephys` joins a table of electrophysiological features (one row per cell) to the
   cells' metadata (transcriptomic labels, layer, ...).
2. :func:`summarize_ephys` gives robust per-type summaries of every feature: the median, a robust
   spread (1.4826 × the median absolute deviation, MAD, which equals the standard deviation for
   normally distributed values) and the number of cells with a value.
3. :func:`intrinsic_from_ephys` maps the features onto the parameters of the model's LIF/ALIF
   neurons (:mod:`neuromod_models.neurons`: dt = 1 ms, LSNN convention) and returns
   :class:`~neuromod_data.structure.IntrinsicParameters`, which a
   :class:`~neuromod_data.structure.CellTypeStructure` carries to the network.

Too few cells
    A type needs ``min_cells`` cells (default 5) with a value for a feature. With fewer, its value
    comes from its parent: the most common label of its cells in the next ``fallback`` column
    (e.g. ``RNA type`` → ``RNA family``), then the next one. If no level has ``min_cells`` cells,
    the level with the most cells is used (the finest on ties) and a warning says so; a type with
    no cell at all gets the paper's value (level ``"default"``), also with a warning. The level and
    the group used are reported per type and parameter.

Feature → parameter mapping (units; ``ref`` is the median over all cells of the table, labelled or
not, unless given)
    ``tau_m`` (ms)
        ``Membrane time constant (ms)``, taken as it is (dt = 1 ms: one step is one ms);
        ``ParameterMap(tau_m="relative")`` scales the paper's 20 ms instead:
        ``20 · τ / ref``.
    ``beta`` (model voltage per unit of the adaptation trace)
        From ``Spike frequency adaptation`` ``s`` (spikes in the second half of the 600 ms step
        divided by spikes in the first half, on the step with most spikes; 1: no adaptation).
        A threshold-adapting neuron whose rate falls from ``r0`` to ``r0 / (1 + g β)`` has
        ``1/s − 1 ∝ β`` to first order, so ``β = 1.8 · (1/s − 1) / (1/ref − 1)``: the paper's
        1.8 for a cell that adapts like the reference cell, 0 for ``s ≥ 1``.
    ``adaptive`` (fraction)
        The fraction of the type's cells with ``s < 0.9`` (at least 10 % fewer spikes in the second
        half); the type is ALIF when it is ≥ 0.5 (then ``beta`` applies, otherwise ``beta`` is 0).
    ``tau_a`` (ms)
        No feature measures the adaptation time scale (the step lasts 600 ms, the paper's
        τ_a is 2,000 ms): the paper's value for every type (``ParameterMap(tau_a=...)`` to change).
    ``v_th`` (model voltage)
        The paper's 0.01 scaled by the type's distance from rest to threshold relative to the
        reference cell: ``0.01 · (V_thr − V_rest) / ref`` with ``AP threshold (mV)`` and
        ``Resting membrane potential (mV)`` (the model's membrane potential is 0 at rest and
        spikes at ``v_th``). ``ParameterMap(threshold="rheobase")`` uses ``Rheobase (pA)`` /
        ref instead, which also folds in the input resistance (use it only when the synaptic
        weights are currents, not PSP amplitudes in mV, or the resistance counts twice).
    ``n_ref`` (steps of 1 ms)
        The paper's 5 steps scaled by the action-potential width relative to the reference cell:
        ``5 · AP width / ref`` (``AP width (ms)``), rounded to whole steps when used.

    Every value is clipped to :data:`~neuromod_data.structure.BOUNDS`. A type's value is the
    mapping of its median feature value; its spread is the robust standard deviation (1.4826 ×
    MAD) of the natural log of the mapped per-cell values (cells of the group used, values > 0),
    which is the σ of the per-neuron log-normal draws of
    :meth:`~neuromod_data.structure.CellTypeStructure.sample_intrinsic`. Invalid per-cell values
    (a time constant, width or threshold distance ≤ 0, a negative SFA or rheobase, any infinite
    value) count as missing, with a warning. The same rules are written down in docs/design.md,
    "Intrinsic parameters from electrophysiology".

Examples
--------
>>> import pandas as pd
>>> feats = pd.DataFrame({"cell id": ["a", "b", "c"], "Membrane time constant (ms)": [10.0, 20.0, 30.0]})
>>> meta = pd.DataFrame({"Cell": ["a", "b", "c"], "RNA family": ["Sst", "Sst", "Pvalb"]})
>>> cells = read_ephys(feats, meta, labels=["RNA family"])
>>> summarize_ephys(cells, "RNA family", min_cells=1, features=["Membrane time constant (ms)"])[
...     ["type", "median", "n_cells"]].to_dict("records")
[{'type': 'Pvalb', 'median': 30.0, 'n_cells': 1}, {'type': 'Sst', 'median': 15.0, 'n_cells': 2}]
"""

from __future__ import annotations

import csv
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    FormatError,
    NeuromodWarning,
)
from neuromod_data.io._common import refuse_repeated_columns
from neuromod_data.structure import BOUNDS, PAPER_VALUES, PARAMETERS, IntrinsicParameters

__all__ = [
    "FEATURE_COLUMNS",
    "MAD_SCALE",
    "ParameterMap",
    "cell_parameters",
    "intrinsic_from_ephys",
    "map_features",
    "read_ephys",
    "robust_spread",
    "summarize_ephys",
]

#: feature columns the mapping reads, by role, as the M1 Patch-seq tables name them (Scala et al.
#: 2021; features extracted from 600 ms current steps)
FEATURE_COLUMNS: dict[str, str] = {
    "tau_m": "Membrane time constant (ms)",
    "sfa": "Spike frequency adaptation",
    "ap_threshold": "AP threshold (mV)",
    "v_rest": "Resting membrane potential (mV)",
    "rheobase": "Rheobase (pA)",
    "ap_width": "AP width (ms)",
}

#: the largest beta the feature mapping gives (5 times the paper's 1.8)
_MAP_BETA_MAX = 9.0

#: 1.4826 × MAD estimates the standard deviation of normally distributed values
MAD_SCALE = 1.4826

#: the mapping input each parameter is computed from (``tau_a`` has none)
_INPUT_OF = {
    "tau_m": "tau_m",
    "tau_a": None,
    "beta": "sfa",
    "adaptive": "sfa",
    "v_th": "threshold",
    "n_ref": "ap_width",
}


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
    pkg = os.path.dirname(os.path.abspath(__file__))
    level, frame = 1, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(pkg):
        frame = frame.f_back
        level += 1
    return level


def _warn(message: str) -> None:
    warnings.warn(message, NeuromodWarning, stacklevel=_user_stacklevel())


# --------------------------------------------------------------------------- reading
def _read_table(obj: str | os.PathLike | pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    """A table and a name for messages; the delimiter (comma or TAB) is sniffed from the header."""
    if isinstance(obj, pd.DataFrame):
        return obj.copy(), f"the {what} table"
    p = require_file(obj, f"{what} file")
    with open(p, encoding="utf-8", errors="replace", newline="") as fh:
        header = fh.readline()
    sep = "\t" if header.count("\t") > header.count(",") else ","
    try:
        table = pd.read_csv(p, sep=sep, low_memory=False)
        refuse_repeated_columns(table, p, sep=sep)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FormatError(f"{p}: cannot read as a {what} table ({first})") from None
    return table, str(p)


def _keyed(table: pd.DataFrame, key: str, where: str, what: str) -> pd.DataFrame:
    if key not in table.columns:
        avail = ", ".join(map(str, table.columns[:12])) + (" ..." if table.shape[1] > 12 else "")
        raise ColumnError(f"{where}: {what} column {key!r} not found; available: {avail}")
    ids = table[key]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataValueError(f"{where}: {what} column {key!r} is empty in row {row + 2}")
    ids = ids.astype(str).str.strip()
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise DataValueError(
            f"{where}: {len(dup)} cell(s) appear more than once in column {key!r}: "
            + ", ".join(map(str, dup[:5]))
        )
    out = table.drop(columns=[key])
    out.index = pd.Index(ids, name="cell")
    return out


def _numeric_features(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """Every column as float; a column with some non-numeric entries is an error, a column with
    none numeric is not a feature (left out, with a warning)."""
    out, skipped = {}, []
    for col in table.columns:
        raw = table[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & num.isna()
        if bad.any():
            if bad.sum() == raw.notna().sum():
                skipped.append(str(col))
                continue
            cell = bad.index[bad.to_numpy()][0]
            raise FormatError(
                f"{where}: feature {col!r} of cell {cell!r} is {raw[cell]!r}, not a number "
                f"({int(bad.sum())} such value(s) in that column)"
            )
        out[col] = num.astype(np.float64)
    if skipped:
        _warn(f"{where}: column(s) without numbers are not features and are left out: {skipped}")
    if not out:
        raise FormatError(f"{where}: no numeric feature column")
    return pd.DataFrame(out, index=table.index)


def read_ephys(
    features: str | os.PathLike | pd.DataFrame,
    metadata: str | os.PathLike | pd.DataFrame,
    *,
    features_key: str = "cell id",
    metadata_key: str = "Cell",
    labels: Sequence[str] = (),
) -> pd.DataFrame:
    """Join a per-cell feature table to the cells' metadata.

    Parameters
    ----------
    features
        Features file (comma- or TAB-separated; e.g. ``m1_patchseq_ephys_features.csv``) or table:
        one row per cell, the ``features_key`` column and numeric feature columns.
    metadata
        Metadata file or table: one row per cell, the ``metadata_key`` column and label columns
        (e.g. ``RNA family``, ``RNA type``, ``Inferred layer``).
    features_key, metadata_key
        Columns holding the cell names in each table.
    labels
        Label columns that must be present in the metadata (checked here, so that a typo fails
        before any work).

    Returns
    -------
    One row per cell of the features table (index: cell name), the feature columns (float) then
    the metadata columns (labels stripped of stray spaces; empty labels are missing). Cells without
    metadata are kept without labels, with a warning; metadata rows without features are ignored,
    with a warning. ``.attrs["neuromod_ephys"]`` records the files, the feature columns and these
    counts.
    """
    ftab, fwhere = _read_table(features, "features")
    mtab, mwhere = _read_table(metadata, "metadata")
    ftab = _keyed(ftab, features_key, fwhere, "cell name")
    mtab = _keyed(mtab, metadata_key, mwhere, "cell name")
    missing = [c for c in labels if c not in mtab.columns]
    if missing:
        avail = ", ".join(map(str, mtab.columns))
        raise ColumnError(f"{mwhere}: label column(s) {missing} not found; available: {avail}")
    feats = _numeric_features(ftab, fwhere)
    common = feats.index.intersection(mtab.index)
    if len(common) == 0:
        raise DataValueError(
            f"no cell of {fwhere} (column {features_key!r}, e.g. {list(feats.index[:2])}) has a row "
            f"in {mwhere} (column {metadata_key!r}, e.g. {list(mtab.index[:2])})"
        )
    no_meta = feats.index.difference(mtab.index, sort=False)
    no_feat = mtab.index.difference(feats.index, sort=False)
    if len(no_meta):
        _warn(
            f"{len(no_meta)} of {len(feats)} cells of {fwhere} have no row in {mwhere} and no "
            f"labels, e.g. {', '.join(map(str, no_meta[:3]))}"
        )
    if len(no_feat):
        _warn(
            f"{len(no_feat)} cell(s) of {mwhere} have no features in {fwhere} and are ignored, "
            f"e.g. {', '.join(map(str, no_feat[:3]))}"
        )
    meta = mtab.reindex(feats.index)
    clash = [c for c in meta.columns if c in feats.columns]
    meta = meta.rename(columns={c: f"{c} (metadata)" for c in clash})
    for col in meta.columns:
        if meta[col].dtype == object:  # labels typed by hand: stray spaces, empty cells
            stripped = meta[col].map(lambda v: v.strip() if isinstance(v, str) else v)
            meta[col] = stripped.replace("", np.nan)
    cells = pd.concat([feats, meta], axis=1)
    cells.attrs["neuromod_ephys"] = {
        "features_file": fwhere,
        "metadata_file": mwhere,
        "features": list(map(str, feats.columns)),
        "n_cells": int(len(cells)),
        "cells_without_metadata": int(len(no_meta)),
        "metadata_rows_without_features": int(len(no_feat)),
    }
    return cells


# --------------------------------------------------------------------- the mapping
@dataclass(frozen=True)
class ParameterMap:
    """How features become model parameters (see the module docstring for every formula).

    Parameters
    ----------
    columns
        Feature column of each role (``tau_m``, ``sfa``, ``ap_threshold``, ``v_rest``,
        ``rheobase``, ``ap_width``); default :data:`FEATURE_COLUMNS`.
    threshold
        ``"gap"``: ``v_th`` from AP threshold − resting potential (mV); ``"rheobase"``: from the
        rheobase (pA).
    tau_m
        ``"absolute"``: τ_m is the measured membrane time constant in ms; ``"relative"``: the
        paper's 20 ms scaled by τ / reference.
    sfa_adaptive
        A cell adapts when its spike-frequency adaptation ratio is below this (default 0.9).
    tau_a
        Adaptation time constant of every type, ms (no feature measures it).
    reference
        Reference value of each mapping input (``tau_m``, ``sfa``, ``threshold``, ``ap_width``);
        missing ones are the median over all cells of the table.
    """

    columns: Mapping[str, str] = field(default_factory=lambda: dict(FEATURE_COLUMNS))
    threshold: Literal["gap", "rheobase"] = "gap"
    tau_m: Literal["absolute", "relative"] = "absolute"
    sfa_adaptive: float = 0.9
    tau_a: float = PAPER_VALUES["tau_a"]
    reference: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.threshold not in ("gap", "rheobase"):
            raise ValueError(f"threshold must be 'gap' or 'rheobase', got {self.threshold!r}")
        if self.tau_m not in ("absolute", "relative"):
            raise ValueError(f"tau_m must be 'absolute' or 'relative', got {self.tau_m!r}")
        if not 0 < self.sfa_adaptive <= 1:
            raise ValueError(f"sfa_adaptive must lie in (0, 1], got {self.sfa_adaptive}")
        lo, hi = BOUNDS["tau_a"]
        if not lo <= self.tau_a <= hi:
            raise ValueError(f"tau_a must lie in [{lo:g}, {hi:g}] ms, got {self.tau_a}")
        unknown = set(self.columns) - set(FEATURE_COLUMNS)
        if unknown:
            raise ValueError(
                f"unknown feature roles {sorted(unknown)}; roles: {list(FEATURE_COLUMNS)}"
            )
        object.__setattr__(self, "columns", {**FEATURE_COLUMNS, **dict(self.columns)})

    def describe(self, name: str) -> str:
        """The feature (or difference of features) a mapping input is read from."""
        c = self.columns
        if name == "threshold":
            if self.threshold == "gap":
                return f"{c['ap_threshold']} − {c['v_rest']}"
            return c["rheobase"]
        return c[name]

    def needed_columns(self) -> dict[str, str]:
        """Feature columns this mapping reads, by role."""
        roles = ["tau_m", "sfa", "ap_width"]
        roles += ["ap_threshold", "v_rest"] if self.threshold == "gap" else ["rheobase"]
        return {r: self.columns[r] for r in roles}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["columns"] = dict(self.columns)
        d["reference"] = dict(self.reference) if self.reference is not None else None
        return d


def _inputs(cells: pd.DataFrame, pmap: ParameterMap) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per-cell mapping inputs (tau_m ms, sfa, threshold mV or pA, ap_width ms); invalid values are
    NaN. Also the number of invalid (present but impossible) values per input."""
    col = pmap.columns
    where = (cells.attrs.get("neuromod_ephys") or {}).get("features_file", "the ephys table")
    need = pmap.needed_columns()
    absent = {r: c for r, c in need.items() if c not in cells.columns}
    if absent:
        feats = (cells.attrs.get("neuromod_ephys") or {}).get("features") or list(cells.columns)
        raise ColumnError(
            f"{where}: feature column(s) {sorted(absent.values())} not found (needed for "
            f"{', '.join(sorted(absent))}); available: {', '.join(map(str, feats))}"
        )

    def num(name: str) -> pd.Series:
        return pd.to_numeric(cells[name], errors="coerce").astype(np.float64)

    if pmap.threshold == "gap":
        thr = num(col["ap_threshold"]) - num(col["v_rest"])
    else:
        thr = num(col["rheobase"])
    raw = {
        "tau_m": (num(col["tau_m"]), lambda x: x > 0),
        "sfa": (num(col["sfa"]), lambda x: x >= 0),
        "threshold": (thr, lambda x: x > 0),
        "ap_width": (num(col["ap_width"]), lambda x: x > 0),
    }
    out, invalid = {}, {}
    for name, (x, ok) in raw.items():
        bad = x.notna() & ~(ok(x) & np.isfinite(x))  # an infinite value is as impossible
        invalid[name] = int(bad.sum())
        out[name] = x.mask(bad)
    return pd.DataFrame(out, index=cells.index), invalid


def map_features(
    inputs: Mapping[str, Any],
    *,
    mapping: ParameterMap | None = None,
    reference: Mapping[str, float],
) -> dict[str, np.ndarray]:
    """Model parameters from mapping inputs, element by element (scalars or arrays).

    ``inputs``: ``tau_m`` (ms), ``sfa`` (ratio), ``threshold`` (mV distance from rest to threshold,
    or pA rheobase), ``ap_width`` (ms); ``reference``: the reference value of each. Returns
    ``tau_m``, ``tau_a``, ``beta``, ``adaptive`` (1.0 / 0.0 per cell, NaN where ``sfa`` is), ``v_th``,
    ``n_ref`` (not rounded), clipped to their bounds; NaN where the input is NaN.

    Examples
    --------
    >>> ref = {"tau_m": 12.0, "sfa": 0.75, "threshold": 25.0, "ap_width": 1.0}
    >>> p = map_features({"tau_m": 12.0, "sfa": 0.6, "threshold": 50.0, "ap_width": 0.5},
    ...                  reference=ref)
    >>> {k: round(float(v), 4) for k, v in p.items()}
    {'tau_m': 12.0, 'tau_a': 2000.0, 'beta': 3.6, 'adaptive': 1.0, 'v_th': 0.02, 'n_ref': 2.5}
    """
    pmap = mapping or ParameterMap()
    x = {
        k: np.asarray(inputs[k], dtype=np.float64)
        for k in ("tau_m", "sfa", "threshold", "ap_width")
    }
    ref = {k: float(reference[k]) for k in x}
    for k, v in ref.items():
        if not np.isfinite(v) or v <= 0:
            raise DataValueError(f"the reference {k} is {v:g}; a positive number is needed")
    if ref["sfa"] >= 1:
        raise DataValueError(
            f"the reference spike-frequency adaptation is {ref['sfa']:g} (≥ 1: the reference cell "
            "does not adapt), so β cannot be scaled to it; pass ParameterMap(reference={'sfa': ...})"
        )

    def clip(name: str, v: np.ndarray) -> np.ndarray:
        return np.clip(v, *BOUNDS[name])  # NaN stays NaN

    out: dict[str, np.ndarray] = {}
    tau = (
        x["tau_m"]
        if pmap.tau_m == "absolute"
        else PAPER_VALUES["tau_m"] * x["tau_m"] / ref["tau_m"]
    )
    out["tau_m"] = clip("tau_m", tau)
    out["tau_a"] = clip("tau_a", np.full(np.shape(x["tau_m"]), float(pmap.tau_a)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (1.0 / x["sfa"] - 1.0) / (1.0 / ref["sfa"] - 1.0)  # s = 0: +inf, clipped below
    # the mapping caps beta at 5 times the paper's (a silent second half maps to the cap)
    out["beta"] = np.clip(PAPER_VALUES["beta"] * ratio, BOUNDS["beta"][0], _MAP_BETA_MAX)
    out["adaptive"] = np.where(np.isnan(x["sfa"]), np.nan, (x["sfa"] < pmap.sfa_adaptive) * 1.0)
    out["v_th"] = clip("v_th", PAPER_VALUES["v_th"] * x["threshold"] / ref["threshold"])
    out["n_ref"] = clip("n_ref", PAPER_VALUES["n_ref"] * x["ap_width"] / ref["ap_width"])
    return out


def _reference(inputs: pd.DataFrame, pmap: ParameterMap) -> dict[str, float]:
    given = dict(pmap.reference or {})
    unknown = set(given) - set(inputs.columns)
    if unknown:
        raise ValueError(
            f"unknown reference inputs {sorted(unknown)}; inputs: {list(inputs.columns)}"
        )
    ref = {}
    for name in inputs.columns:
        if name in given:
            ref[name] = float(given[name])
        elif inputs[name].notna().any():
            ref[name] = float(inputs[name].median())
        else:
            raise DataValueError(f"no cell has a valid {name!r} value, so it has no reference")
    return ref


def cell_parameters(
    cells: pd.DataFrame,
    *,
    mapping: ParameterMap | None = None,
    reference: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Per-cell model parameters (one column per parameter, NaN where a feature is missing).

    ``reference`` defaults to the medians of the table (as in :func:`intrinsic_from_ephys`; pass
    ``ip.meta["reference"]`` to reproduce the values behind an
    :class:`~neuromod_data.structure.IntrinsicParameters`).
    """
    pmap = mapping or ParameterMap()
    inputs, _ = _inputs(cells, pmap)
    ref = dict(reference) if reference is not None else _reference(inputs, pmap)
    params = map_features(
        {k: inputs[k].to_numpy() for k in inputs.columns}, mapping=pmap, reference=ref
    )
    return pd.DataFrame({p: params[p] for p in PARAMETERS}, index=cells.index)


# ------------------------------------------------------------- types and their parents
def _labels(cells: pd.DataFrame, columns: Sequence[str]) -> dict[str, pd.Series]:
    where = (cells.attrs.get("neuromod_ephys") or {}).get("metadata_file", "the ephys table")
    out = {}
    for c in columns:
        if c not in cells.columns:
            raise ColumnError(
                f"{where}: label column {c!r} not found; available: "
                + ", ".join(map(str, cells.columns))
            )
        s = cells[c]
        out[c] = s.where(s.isna(), s.astype(str))
    return out


def _chains(
    labels: dict[str, pd.Series], label: str, fallback: Sequence[str], types: Sequence[str]
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, dict[str, Any]]]:
    """For each type: [(level, group)] from its own label up through its parents; the parent at a
    level is the most common label of the type's own cells there (alphabetical first on ties)."""
    chains, mixed = {}, {}
    for t in types:
        own = (labels[label] == t).to_numpy()
        chain = [(label, t)]
        for col in fallback:
            vals = labels[col][own].dropna()
            if vals.empty:
                break
            counts = vals.value_counts()
            top = sorted(counts.index[counts == counts.max()])[0]
            if len(counts) > 1:
                mixed.setdefault(t, {})[col] = {str(k): int(v) for k, v in counts.items()}
            chain.append((col, str(top)))
        chains[t] = chain
    return chains, mixed


def _select(
    valid: np.ndarray,
    labels: dict[str, pd.Series],
    chain: list[tuple[str, str]],
    min_cells: int,
) -> tuple[str, str, np.ndarray, str]:
    """(level, group, cell mask, how) for one type and one input; how: own, parent, few, default."""
    tried = []
    for depth, (level, group) in enumerate(chain):
        mask = (labels[level] == group).to_numpy() & valid
        n = int(mask.sum())
        if n >= min_cells:
            return level, group, mask, "own" if depth == 0 else "parent"
        tried.append((n, -depth, level, group, mask))
    n, _, level, group, mask = max(tried, key=lambda r: (r[0], r[1]))
    if n == 0:
        return "default", "", mask, "default"
    return level, group, mask, "few"


def _check_args(min_cells: int, label: str, fallback: Sequence[str]) -> tuple[str, ...]:
    if isinstance(fallback, str):
        fallback = (fallback,)
    fallback = tuple(c for c in fallback if c != label)
    if int(min_cells) < 1:
        raise ValueError(f"min_cells must be at least 1, got {min_cells}")
    return fallback


def _types(
    labels: pd.Series, label: str, types: Sequence[str] | None, missing: str, where: str
) -> tuple[list[str], list[str]]:
    present = sorted(labels.dropna().unique().tolist())
    if types is None:
        return present, []
    types = [str(t) for t in types]
    absent = [t for t in types if t not in set(present)]
    if absent and missing == "raise":
        raise CellTypeError(
            f"{where}: no cell labelled {absent} in column {label!r} (labels there: "
            f"{', '.join(present[:20])}{' ...' if len(present) > 20 else ''}); pick the label column "
            "the types come from, or give them the paper's values (missing='default'; on the command "
            "line --missing-types default)"
        )
    return types, absent


def _report_unlabelled(labels: pd.Series, label: str, where: str) -> int:
    n = int(labels.isna().sum())
    if n:
        ex = ", ".join(map(str, labels.index[labels.isna()][:3]))
        _warn(
            f"{where}: {n} of {len(labels)} cells have no {label!r} label (e.g. {ex}); they belong "
            "to no type (they still count in the reference medians)"
        )
    return n


_Events = dict[str, dict[tuple[str, str, str], list[str]]]


def _new_events() -> _Events:
    return {"parent": {}, "few": {}, "default": {}}


def _add_event(
    events: _Events, how: str, t: str, what: str, level: str, group: str, n: int
) -> None:
    text = what if how == "default" else f"{what} ({n} cells)"
    events[how].setdefault((t, level, group), []).append(text)


def _fallback_warnings(
    events: _Events, min_cells: int, label: str, where: str, n_total: int
) -> list[str]:
    """One warning per kind of fallback, naming every type, what fell back (``all`` when all
    ``n_total`` features or parameters did) and where to."""

    def listing(how: str) -> str:
        parts = []
        for (t, level, group), whats in events[how].items():
            what = "all" if len(whats) == n_total and n_total > 1 else ", ".join(whats)
            parts.append(f"{t}: {what}" if how == "default" else f"{t} → {group} [{level}]: {what}")
        return "; ".join(parts)

    msgs = []
    if events["parent"]:
        msgs.append(
            f"{where}: fewer than {min_cells} cells with a value at level {label!r}; the parent "
            f"level's cells are used for {listing('parent')}"
        )
    if events["few"]:
        msgs.append(
            f"{where}: fewer than {min_cells} cells with a value at every level; the level with "
            f"the most cells is used for {listing('few')}"
        )
    if events["default"]:
        msgs.append(
            f"{where}: no cell with a value; the paper's value is used for {listing('default')}"
        )
    for m in msgs:
        _warn(m)
    return msgs


# ------------------------------------------------------------------------ summaries
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


# ------------------------------------------------------------------- parameters
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
                f"{where}: {n - invalid[name]} of {len(cells)} cells have no value (NaN) of "
                f"{pmap.describe(name)!r}; they are left out of the parameters computed from it"
            )
    ref = _reference(inputs, pmap)
    per_cell = map_features(
        {k: inputs[k].to_numpy() for k in inputs.columns}, mapping=pmap, reference=ref
    )
    chains, mixed = _chains(labels, label, fallback, type_list)
    k, p = len(type_list), len(PARAMETERS)
    med, spread = np.zeros((k, p)), np.zeros((k, p))
    n_cells = np.zeros((k, p), dtype=np.int64)
    level = np.full((k, p), "default", dtype=object)
    group = np.full((k, p), "", dtype=object)
    events = _new_events()
    for i, t in enumerate(type_list):
        for j, name in enumerate(PARAMETERS):
            inp = _INPUT_OF[name]
            if inp is None:  # no feature measures it: the mapping's constant
                med[i, j] = float(np.clip(pmap.tau_a, *BOUNDS[name]))
                level[i, j], group[i, j] = "constant", t
                continue
            x = inputs[inp].to_numpy()
            lev, grp, mask, how = _select(np.isfinite(x), labels, chains[t], min_cells)
            if how != "own" and name != "adaptive":  # adaptive shares beta's input: one report
                _add_event(events, how, t, name, lev, grp, int(mask.sum()))
            if how == "default":
                med[i, j] = PAPER_VALUES[name]
                group[i, j] = t
                continue
            level[i, j], group[i, j], n_cells[i, j] = lev, grp, int(mask.sum())
            if name == "adaptive":
                med[i, j] = float(np.mean(per_cell[name][mask]))
                continue
            typed = map_features(
                {
                    kk: float(np.median(inputs[kk].to_numpy()[mask])) if kk == inp else ref[kk]
                    for kk in inputs.columns
                },
                mapping=pmap,
                reference=ref,
            )
            med[i, j] = float(typed[name])
            vals = per_cell[name][mask]
            vals = vals[vals > 0]
            spread[i, j] = robust_spread(np.log(vals)) if vals.size else 0.0
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
        median=med,
        spread=spread,
        n_cells=n_cells,
        level=level.astype(str),
        group=group.astype(str),
        bounds=np.array([BOUNDS[q] for q in PARAMETERS]),
        meta=meta,
    )
