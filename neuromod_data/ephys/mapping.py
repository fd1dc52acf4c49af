"""The feature → parameter mapping (formulas: the docstring of :mod:`neuromod_data.ephys` and
docs/design.md, "Intrinsic parameters from electrophysiology")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from neuromod_data.ephys.units import check_units
from neuromod_data.errors import ColumnError, DataValueError
from neuromod_data.structure import BOUNDS, PAPER_VALUES, PARAMETERS

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

#: the mapping input each parameter is computed from (``tau_a`` has none)
_INPUT_OF = {
    "tau_m": "tau_m",
    "tau_a": None,
    "beta": "sfa",
    "adaptive": "sfa",
    "v_th": "threshold",
    "n_ref": "ap_width",
}


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

    # a column in another unit (seconds) would be clipped to the bound cell by cell: refused
    check_units(num(col["tau_m"]), col["tau_m"], parameter="tau_m", where=where)
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
