"""Per-type intrinsic parameters fitted to the recordings (docs/design.md, "Neurons fitted to their
recordings").

:func:`fit_intrinsic` takes the cells of :func:`neuromod_data.ephys.read_ephys` (and optionally the
same kind of table recorded at physiological temperature), fits every cell and every type's median
cell with :func:`neuromod_data.fitting.fit_cells`, and returns
:class:`~neuromod_data.structure.IntrinsicParameters` together with a validation table: per type,
each recorded feature against the fitted neuron's simulated one, with the error.

Type values are the fit of the type's median features (so the structure's neuron reproduces the
type's median recordings); per-neuron spreads are the spreads of the per-cell fits; a type's
``adaptive`` value is the fraction of its cells whose fit needs adaptation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from neuromod_data.errors import CellTypeError, ColumnError, NeuromodWarning
from neuromod_data.fitting import FIT_FEATURES, FitOptions, _scales, feature_table, fit_cells
from neuromod_data.fitting import input_scale as _gap
from neuromod_data.structure import BOUNDS, PAPER_VALUES, PARAMETERS, IntrinsicParameters
from neuromod_data.temperature import choose_temperature

__all__ = ["IntrinsicFit", "fit_intrinsic"]


class IntrinsicFit(NamedTuple):
    """What :func:`fit_intrinsic` returns.

    ``intrinsic``: the per-type parameters; ``validation``: one row per (type, feature), recorded
    against the fitted type neuron; ``cells``: one row per cell fitted (its label, temperature,
    features by role, fitted ``tau_m``, ``tau_a``, ``beta``, ``adaptive``, ``v_th``, ``n_ref``,
    ``increment`` and the simulated features).
    """

    intrinsic: IntrinsicParameters
    validation: pd.DataFrame
    cells: pd.DataFrame


#: validation rows: (feature, recorded role, model column)
_VALIDATED = (
    ("spike-frequency adaptation", "sfa", "sfa_model"),
    ("ISI adaptation index", "isi_index", "isi_index_model"),
    ("latency (ms)", "latency", "latency_model"),
    ("rheobase (pA)", "rheobase", "rheobase_model"),
    ("max spikes", "max_spikes", "max_spikes_model"),
    ("tau_m (ms)", "tau_m", "tau_m_model"),
)


def _warn(message: str) -> None:
    warnings.warn(message, NeuromodWarning, stacklevel=3)


def _spread(values: np.ndarray) -> float:
    v = values[np.isfinite(values) & (values > 0)]
    if v.size < 2:
        return 0.0
    x = np.log(v)
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _refractory(
    ap_width: pd.Series, max_spikes: pd.Series, width_ref: float, duration: int
) -> pd.Series:
    """Refractory steps: the paper's 5 scaled by the AP width, but short enough that the recorded
    maximum spike count fits into the step (a spike takes n_ref + 1 steps at least; 10 % spare,
    since adaptation slows the neuron below its ceiling)."""
    mapped = np.clip(PAPER_VALUES["n_ref"] * ap_width / width_ref, *BOUNDS["n_ref"])
    mapped = np.rint(mapped.fillna(PAPER_VALUES["n_ref"]))
    ceiling = np.floor(duration / (1.1 * max_spikes.clip(lower=1))) - 1
    return np.maximum(np.minimum(mapped, ceiling.fillna(np.inf)), BOUNDS["n_ref"][0])


def _roles_table(cells: pd.DataFrame, label: str, where: str) -> pd.DataFrame:
    if label not in cells.columns:
        raise ColumnError(
            f"{where}: label column {label!r} not found; available: "
            + ", ".join(map(str, cells.columns))
        )
    x = feature_table(cells, where=where)
    x.insert(0, label, cells[label].where(cells[label].isna(), cells[label].astype(str)))
    return x


def fit_intrinsic(
    cells: pd.DataFrame,
    label: str,
    *,
    warm: pd.DataFrame | None = None,
    types: Sequence[str] | None = None,
    min_cells: int = 5,
    options: FitOptions | None = None,
    room_celsius: float = 25.0,
    warm_celsius: float = 34.0,
    missing: Literal["raise", "default"] = "raise",
) -> IntrinsicFit:
    """Fit the model neuron to each cell and each type's median recordings.

    Parameters
    ----------
    cells
        Cells with their features and labels (:func:`neuromod_data.ephys.read_ephys`), recorded
        at room temperature (or at any one temperature when ``warm`` is None).
    label
        Label column defining the types (e.g. ``"RNA family"``).
    warm
        The same kind of table recorded at physiological temperature: a type with ``min_cells``
        cells there is fitted to them; the others to their room-temperature cells corrected by
        the per-feature factors of :func:`neuromod_data.temperature.temperature_factors`.
    types
        Types in the order wanted (e.g. ``structure.names``); default every label of ``cells``.
    min_cells
        Fewest fitted cells a type needs (fewer: its cells are used with a warning).
    options
        Protocol and search grid (:class:`~neuromod_data.fitting.FitOptions`).
    room_celsius, warm_celsius
        The two temperatures (used for the Q10 that is reported; the correction itself is the
        measured ratio).
    missing
        A type without any cell: ``"raise"`` or ``"default"`` (the paper's values, with a warning).

    Returns
    -------
    IntrinsicFit
        ``validation`` has one row per (type, feature): ``recorded`` (the median over the type's
        cells), ``model`` (the fitted type neuron, simulated), ``error`` (model − recorded), and
        the type's ``source``, ``n_cells``, ``adaptive_fraction``, ``tau_a``, ``tau_a_lo``,
        ``tau_a_hi``, ``tau_a_constrained``.

    Examples
    --------
    >>> from neuromod_data.datasets.toy_ephys import toy_ephys
    >>> ip, val, per_cell = fit_intrinsic(toy_ephys(seed=0), "type", min_cells=3)
    >>> sorted(set(val["feature"]))[:2]
    ['ISI adaptation index', 'latency (ms)']
    """
    opt = options or FitOptions()
    where = (cells.attrs.get("neuromod_ephys") or {}).get("features_file", "the ephys table")
    room = _roles_table(cells, label, where)
    warm_where = None
    warm_t = None
    if warm is not None:
        warm_where = (warm.attrs.get("neuromod_ephys") or {}).get(
            "features_file", "the physiological-temperature table"
        )
        warm_t = _roles_table(warm, label, warm_where)
    present = sorted(
        set(room[label].dropna()) | (set(warm_t[label].dropna()) if warm_t is not None else set())
    )
    type_list = list(present) if types is None else [str(t) for t in types]
    absent = [t for t in type_list if t not in present]
    if absent and missing == "raise":
        raise CellTypeError(
            f"{where}: no cell labelled {absent} in column {label!r} (labels there: "
            f"{', '.join(present[:20])}); pick the label column the types come from, or give them "
            "the paper's values (missing='default'; on the command line --missing-types default)"
        )
    roles = list(FIT_FEATURES)
    chosen, record, factors = choose_temperature(
        room, warm_t, label, types=[t for t in type_list if t not in absent], roles=roles,
        min_cells=min_cells, room_celsius=room_celsius, warm_celsius=warm_celsius,
    )  # fmt: skip
    chosen = chosen.reset_index(drop=True)
    # references over every chosen cell: the voltage scale and the AP width of the paper's neuron
    gap = _gap(chosen["r_in"], chosen["rheobase"], chosen["tau_m"], duration=opt.duration)
    gap_ref = float(np.nanmedian(gap))
    width_ref = float(np.nanmedian(chosen["ap_width"]))
    if not (np.isfinite(gap_ref) and gap_ref > 0 and np.isfinite(width_ref) and width_ref > 0):
        raise ColumnError(
            f"{where}: no cell has a valid input resistance, rheobase, membrane time constant and "
            "AP width, so the model's input scale cannot be set"
        )
    n_ref = _refractory(chosen["ap_width"], chosen["max_spikes"], width_ref, opt.duration)
    scales = _scales(chosen)
    per_cell = fit_cells(chosen, n_ref=n_ref, options=opt, scales=scales, columns=dict(
        zip(roles, roles, strict=True)), where=where)  # fmt: skip
    v_th_cell = PAPER_VALUES["v_th"] * gap / gap_ref

    k, p = len(type_list), len(PARAMETERS)
    med, spread = np.zeros((k, p)), np.zeros((k, p))
    n_cells = np.zeros((k, p), dtype=np.int64)
    level = np.full((k, p), "default", dtype=object)
    group = np.array([[t] * p for t in type_list], dtype=object)
    rows = []
    col = {name: j for j, name in enumerate(PARAMETERS)}
    for i, t in enumerate(type_list):
        mine = (chosen[label] == t).to_numpy() & per_cell["fitted"].to_numpy()
        n = int(mine.sum())
        if n == 0:
            if t not in absent:
                _warn(f"{where}: type {t!r} has no cell with the features the fit needs")
            med[i] = [PAPER_VALUES[q] for q in PARAMETERS]
            continue
        if n < min_cells:
            _warn(f"{where}: type {t!r} has {n} fitted cells (fewer than {min_cells}); used anyway")
        typed = chosen.loc[mine, roles].median().to_frame().T
        nref_t = float(_refractory(typed["ap_width"], typed["max_spikes"], width_ref,
                                   opt.duration).iloc[0])  # fmt: skip
        fit = fit_cells(typed, n_ref=nref_t, options=opt, scales=scales,
                        columns=dict(zip(roles, roles, strict=True)), where=where).iloc[0]  # fmt: skip
        gap_t = float(np.nanmedian(gap[mine]))
        v_th = float(np.clip(PAPER_VALUES["v_th"] * gap_t / gap_ref, *BOUNDS["v_th"]))
        # a type that does not adapt keeps the paper's τ_a (it has no effect with β = 0)
        tau_a = (
            float(np.clip(fit["tau_a"], *BOUNDS["tau_a"]))
            if fit["adaptive"]
            else PAPER_VALUES["tau_a"]
        )
        rho = np.exp(-1.0 / tau_a)
        beta = float(np.clip(fit["increment"] * v_th / (1.0 - rho), *BOUNDS["beta"]))
        frac = float(per_cell.loc[mine, "adaptive"].mean())
        tau_m = float(np.clip(typed["tau_m"].iloc[0], *BOUNDS["tau_m"]))
        values = {"tau_m": tau_m, "tau_a": tau_a, "beta": beta, "adaptive": frac, "v_th": v_th,
                  "n_ref": nref_t}  # fmt: skip
        cell_values = {
            "tau_m": chosen.loc[mine, "tau_m"].to_numpy(),
            "tau_a": per_cell.loc[mine, "tau_a"].to_numpy(),
            # β's spread is that of the increment per spike (what the draws keep; see
            # IntrinsicParameters.sample), over the cells that adapt
            "beta": per_cell.loc[mine, "increment"].to_numpy(),
            "v_th": v_th_cell[mine],
            "n_ref": n_ref[mine].to_numpy(),
        }
        for q in PARAMETERS:
            med[i, col[q]] = values[q]
            n_cells[i, col[q]] = n
            level[i, col[q]] = label
            if q in cell_values:
                spread[i, col[q]] = _spread(cell_values[q])
        source = record.loc[record["type"] == t, "source"].iloc[0]
        # the type neuron's own features, for the validation table
        alpha = np.exp(-1.0 / tau_m)
        model = {
            "sfa_model": fit["sfa_model"],
            "isi_index_model": fit["isi_index_model"],
            "latency_model": fit["latency_model"],
            # the model's rheobase (pA) for the type's median input resistance: v_th in mV over
            # R_in, charged for the whole step
            "rheobase_model": v_th
            / PAPER_VALUES["v_th"]
            * gap_ref
            / (float(typed["r_in"].iloc[0]) * 1e-3 * (1.0 - alpha**opt.duration)),
            "max_spikes_model": float(typed["max_spikes"].iloc[0]),  # the drive is chosen so
            "tau_m_model": tau_m,
        }
        for feature, role, mcol in _VALIDATED:
            recorded = float(typed[role].iloc[0])
            rows.append({
                "type": t, "feature": feature, "recorded": recorded, "model": float(model[mcol]),
                "error": float(model[mcol]) - recorded, "source": source, "n_cells": n,
                "adaptive_fraction": frac, "increment": float(fit["increment"]),
                "tau_a": tau_a, "n_ref": nref_t, "tau_a_lo": float(fit["tau_a_lo"]), "tau_a_hi": float(fit["tau_a_hi"]),
                "tau_a_constrained": bool(fit["tau_a_constrained"]),
            })  # fmt: skip
    if absent:
        _warn(f"{where}: no cell labelled {absent}; they get the paper's values")
    unconstrained = sorted({r["type"] for r in rows if not r["tau_a_constrained"]
                            and r["adaptive_fraction"] >= 0.5})  # fmt: skip
    if unconstrained:
        lo, hi = min(opt.tau_a), max(opt.tau_a)
        _warn(
            f"{where}: the recordings do not constrain the adaptation time constant of "
            f"{unconstrained} (every τ_a tried, {lo:g}-{hi:g} ms, fits about as well); the best "
            "one is used"
        )
    meta = {
        "method": "fit",
        "source": {
            k2: v
            for k2, v in (cells.attrs.get("neuromod_ephys") or {}).items()
            if k2 in ("features_file", "metadata_file")
        },
        "warm_source": warm_where,
        "label": label,
        "min_cells": int(min_cells),
        "fit": opt.to_dict(),
        "voltage_scale_mv": gap_ref / PAPER_VALUES["v_th"],
        "reference": {"gap_mv": gap_ref, "ap_width_ms": width_ref},
        "loss_scales": {"sfa": scales[0], "log_isi_index": scales[1]},
        "temperature": record.to_dict("records"),
        "temperature_factors": None
        if factors is None
        else factors.reset_index().replace({np.nan: None}).to_dict("records"),
        "n_cells_fitted": int(per_cell["fitted"].sum()),
        "types_without_cells": absent,
        "units": {"tau_m": "ms", "tau_a": "ms", "v_th": "model voltage", "n_ref": "steps of 1 ms"},
    }
    ip = IntrinsicParameters(
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
    rho_all = np.exp(-1.0 / per_cell["tau_a"].fillna(PAPER_VALUES["tau_a"]).to_numpy())
    cell_table = chosen.assign(
        tau_a=per_cell["tau_a"].to_numpy(),
        beta=np.clip(per_cell["increment"].to_numpy() * v_th_cell / (1 - rho_all), *BOUNDS["beta"]),
        adaptive=per_cell["adaptive"].to_numpy().astype(float),
        v_th=np.clip(v_th_cell, *BOUNDS["v_th"]),
        n_ref=n_ref.to_numpy(),
        **{c: per_cell[c].to_numpy() for c in ("increment", "loss", "sfa_model",
                                                 "isi_index_model", "latency_model", "fitted")},
    )  # fmt: skip
    return IntrinsicFit(ip, pd.DataFrame(rows), cell_table)
