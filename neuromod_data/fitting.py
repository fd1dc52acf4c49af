"""Fit the model's LIF/ALIF neuron to each cell's recordings (docs/design.md, "Neurons fitted to
their recordings").

The features of a Patch-seq table come from 600-ms current steps. Instead of mapping each feature
onto a parameter by a formula, this module simulates the package's own neuron equations
(:mod:`neuromod_models.neurons`, dt = 1 ms) on that protocol and picks the parameters whose
simulated features match the recorded ones.

Units
    The model neuron is simulated in *threshold units* (``v_th = 1``): a step of current ``I`` (pA)
    is the input ``I / rheobase_model``, where the model's rheobase on a step of ``T`` steps is
    ``1 / (1 − α^T)`` (the membrane charges as ``v_t = I (1 − α^(t+1))``). Adaptation is the
    threshold increment per spike in units of ``v_th``, ``δ = β (1 − ρ) / v_th``. The input
    convention that turns these into the model's units is in :func:`input_scale`.

What is fitted (per cell and per type)
    ``tau_m``
        the recorded membrane time constant (the model's subthreshold response is exactly
        exponential with τ_m, so the fit is the measurement).
    ``v_th``
        from the rheobase and the input resistance: the smallest step that makes the model spike
        within the step is the recorded rheobase (:func:`input_scale`).
    ``beta``, ``tau_a``, ``adaptive``
        a grid search over (δ, τ_a) minimising the standardised mismatch of two features: the
        spike-frequency adaptation (spikes in the second half ÷ first half) on the step whose
        spike count is the recorded maximum count, and the ISI adaptation index (second ISI ÷ first
        ISI, median over the first ``isi_sweeps`` steps above rheobase with at least three spikes,
        steps ``step_pa`` apart). A cell (or type) is adaptive when the best non-adapting neuron
        (δ = 0) is worse than the best fit by more than ``adaptive_margin`` (in squared
        standardised units). τ_a values whose best loss lies within ``tau_a_margin`` of the best
        form the *constrained range*; when it spans the whole grid, τ_a is not constrained by the
        features and the report says so.
    ``n_ref``
        no feature of a step protocol measures the refractory period: the paper's 5 steps scaled
        by the action-potential width relative to the table's median (a mapping, as before), but
        never so long that the recorded maximum spike count cannot fit into the step (a spike
        takes at least n_ref + 1 steps; 10 % spare).

Latency (time to the first spike one current step above rheobase) is simulated and reported for
validation; it is not fitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from neuromod_data.ephys.units import check_units
from neuromod_data.errors import ColumnError

try:  # numba is a core dependency, but the module must still import where it is broken
    from numba import njit, prange
except ImportError:  # pragma: no cover - exercised only without numba

    def njit(*args: Any, **kwargs: Any):  # type: ignore[misc]
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

    prange = range  # type: ignore[assignment]

__all__ = [
    "FIT_FEATURES",
    "FitOptions",
    "fi_curve",
    "fit_cells",
    "input_scale",
    "simulate_features",
    "spike_train",
]

#: recorded features the fit reads, by role, as the M1 Patch-seq tables name them
FIT_FEATURES: dict[str, str] = {
    "tau_m": "Membrane time constant (ms)",
    "r_in": "Input resistance (MOhm)",
    "rheobase": "Rheobase (pA)",
    "max_spikes": "Max number of APs",
    "sfa": "Spike frequency adaptation",
    "isi_index": "ISI adaptation index",
    "latency": "Latency (ms)",
    "ap_width": "AP width (ms)",
}


@dataclass(frozen=True)
class FitOptions:
    """The recording protocol and the search grid of the fit.

    Parameters
    ----------
    duration
        Length of the current step in steps of 1 ms (600 in the M1 Patch-seq protocol).
    step_pa
        Increment between successive current steps, pA (20 in the M1 protocol).
    isi_sweeps
        Number of steps above rheobase (with ≥ 3 spikes) whose ISI adaptation index is averaged
        (median), as in the features' extraction.
    tau_a
        Adaptation time constants tried, ms.
    increments
        Threshold increments per spike tried, in units of v_th (0 is the non-adapting neuron).
    adaptive_margin
        A neuron is adaptive when δ = 0 costs more than this over the best fit.
    tau_a_margin
        τ_a values whose best loss is within this of the best are reported as its range.
    refine
        Points of the fine δ grid laid, at each τ_a, between the neighbours of its best coarse δ.
    """

    duration: int = 600
    step_pa: float = 20.0
    isi_sweeps: int = 5
    tau_a: tuple[float, ...] = (20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
    increments: tuple[float, ...] = field(
        default_factory=lambda: (0.0, *np.round(np.geomspace(0.002, 1.0, 22), 5).tolist())
    )
    adaptive_margin: float = 1.0
    tau_a_margin: float = 1.0
    refine: int = 9

    def __post_init__(self) -> None:
        if int(self.duration) < 20:
            raise ValueError(f"duration must be at least 20 steps, got {self.duration}")
        if not self.step_pa > 0:
            raise ValueError(f"step_pa must be positive, got {self.step_pa}")
        if int(self.isi_sweeps) < 1:
            raise ValueError(f"isi_sweeps must be at least 1, got {self.isi_sweeps}")
        if not self.tau_a or min(self.tau_a) <= 0:
            raise ValueError("tau_a must hold positive time constants")
        if not self.increments or min(self.increments) < 0 or 0.0 not in self.increments:
            raise ValueError("increments must be non-negative and include 0 (no adaptation)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tau_a"] = [float(x) for x in self.tau_a]
        d["increments"] = [float(x) for x in self.increments]
        return d


# ------------------------------------------------------------------ the neuron, in numba
@njit(cache=True, nogil=True)
def _run(drive, alpha, rho, beta_rel, n_ref, duration, stop_at):  # pragma: no cover - compiled
    """One neuron (v_th = 1) on a constant input for ``duration`` steps, the documented
    equations step by step. Returns (spikes in the first half, in the second half, first three
    spike steps or -1). Stops early once ``stop_at`` > 0 spikes were counted."""
    v = 0.0
    b = 0.0
    z = 0.0
    ref = 0
    half = duration // 2
    n1 = 0
    n2 = 0
    t1 = -1
    t2 = -1
    t3 = -1
    for t in range(duration):
        b = rho * b + (1.0 - rho) * z
        v = alpha * v + (1.0 - alpha) * drive - z
        d = v - 1.0 - beta_rel * b
        if ref <= 0 and d > 0.0:
            z = 1.0
            ref = n_ref
            if t < half:
                n1 += 1
            else:
                n2 += 1
            if t1 < 0:
                t1 = t
            elif t2 < 0:
                t2 = t
            elif t3 < 0:
                t3 = t
            if stop_at > 0 and n1 + n2 >= stop_at:
                break
        else:
            z = 0.0
            if ref > 0:
                ref -= 1
    return n1, n2, t1, t2, t3


@njit(cache=True, nogil=True)
def _features(
    alpha, rho, increment, n_ref, duration, target, drive_step, isi_sweeps
):  # pragma: no cover
    """Simulated (sfa, isi_index, latency, drive at the target count) of one neuron; drives in
    units of the model's rheobase, ``drive_step`` = the protocol's step ÷ rheobase."""
    rheo = 1.0 / (1.0 - alpha**duration)
    beta_rel = increment / (1.0 - rho) if increment > 0.0 else 0.0
    # the smallest drive reaching the target count: double, then bisect (the count grows with
    # the drive; early stops keep the searches cheap)
    lo = rheo
    hi = rheo * 2.0
    for _ in range(60):
        n1, n2, t1, t2, t3 = _run(hi, alpha, rho, beta_rel, n_ref, duration, target)
        if n1 + n2 >= target:
            break
        lo = hi
        hi *= 2.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        n1, n2, t1, t2, t3 = _run(mid, alpha, rho, beta_rel, n_ref, duration, target)
        if n1 + n2 >= target:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-6 * hi:
            break
    n1, n2, t1, t2, t3 = _run(hi, alpha, rho, beta_rel, n_ref, duration, 0)
    sfa = n2 / n1 if n1 > 0 else np.nan
    # ISI adaptation index on the steps above rheobase
    ratios = np.empty(isi_sweeps)
    found = 0
    latency = np.nan
    k = 1
    while found < isi_sweeps and k <= 400:
        drive = rheo * (1.0 + k * drive_step)
        m1, m2, s1, s2, s3 = _run(drive, alpha, rho, beta_rel, n_ref, duration, 0)
        if k == 1 and s1 >= 0:
            latency = s1 + 1.0  # spike at step index t is t + 1 ms after the step's onset
        if s3 >= 0:
            ratios[found] = (s3 - s2) / (s2 - s1)
            found += 1
        k += 1
    isi = np.median(ratios[:found]) if found > 0 else np.nan
    return sfa, isi, latency, hi / rheo


@njit(cache=True, parallel=True)
def _grid(
    alpha, rho, increment, n_ref, duration, target, drive_step, isi_sweeps
):  # pragma: no cover
    m = alpha.size
    out = np.empty((m, 4))
    for i in prange(m):
        r = _features(
            alpha[i],
            rho[i],
            increment[i],
            n_ref[i],
            duration,
            target[i],
            drive_step[i],
            isi_sweeps,
        )
        out[i, 0] = r[0]
        out[i, 1] = r[1]
        out[i, 2] = r[2]
        out[i, 3] = r[3]
    return out


# ------------------------------------------------------------------ public helpers
def spike_train(
    drive: float,
    *,
    tau_m: float,
    tau_a: float = 2000.0,
    increment: float = 0.0,
    n_ref: int = 5,
    duration: int = 600,
) -> tuple[int, int, int, int, int]:
    """Spikes of one model neuron on a current step, in threshold units (v_th = 1).

    Returns ``(spikes in the first half, spikes in the second half, first, second, third spike
    step or -1)``; ``drive`` is the step in units of v_th (the model's rheobase is
    ``1 / (1 − exp(−duration/τ_m))``).

    Examples
    --------
    >>> spike_train(0.5, tau_m=20.0)[:2]          # below threshold: silent
    (0, 0)
    >>> n1, n2, *_ = spike_train(3.0, tau_m=20.0, increment=0.2, tau_a=200.0)
    >>> n2 < n1                                    # the threshold adapts: fewer spikes later
    True
    """
    alpha = float(np.exp(-1.0 / tau_m))
    rho = float(np.exp(-1.0 / tau_a))
    beta_rel = increment / (1.0 - rho) if increment > 0 else 0.0
    r = _run(float(drive), alpha, rho, beta_rel, int(n_ref), int(duration), 0)
    return tuple(int(x) for x in r)  # type: ignore[return-value]


def fi_curve(
    currents_pa: Any,
    *,
    rheobase_pa: float,
    tau_m: float,
    tau_a: float = 2000.0,
    increment: float = 0.0,
    n_ref: int = 5,
    duration: int = 600,
) -> np.ndarray:
    """Spike counts of a model neuron on steps of the given currents (pA), for a neuron whose
    rheobase on the step is ``rheobase_pa``.

    Examples
    --------
    >>> fi_curve([50.0, 99.0, 101.0, 300.0], rheobase_pa=100.0, tau_m=10.0).tolist()[:2]
    [0, 0]
    """
    alpha = float(np.exp(-1.0 / tau_m))
    rheo = 1.0 / (1.0 - alpha**duration)
    out = [
        sum(spike_train(rheo * float(i) / rheobase_pa, tau_m=tau_m, tau_a=tau_a,
                        increment=increment, n_ref=n_ref, duration=duration)[:2])
        for i in np.asarray(currents_pa, dtype=np.float64).ravel()
    ]  # fmt: skip
    return np.asarray(out, dtype=np.int64)


def simulate_features(
    *,
    tau_m: Any,
    tau_a: Any,
    increment: Any,
    n_ref: Any,
    max_spikes: Any,
    rheobase: Any,
    options: FitOptions | None = None,
) -> pd.DataFrame:
    """Simulated step-protocol features of model neurons (arrays broadcast together).

    Returns a table with ``sfa``, ``isi_index``, ``latency`` (ms, one current step above
    rheobase) and ``drive`` (the step, in multiples of the rheobase, whose spike count is
    ``max_spikes``).

    Examples
    --------
    >>> f = simulate_features(tau_m=15.0, tau_a=[200.0, 200.0], increment=[0.0, 0.3], n_ref=3,
    ...                       max_spikes=20, rheobase=100.0)
    >>> bool(f.loc[0, "sfa"] >= 0.95), bool(f.loc[1, "sfa"] < f.loc[0, "sfa"])
    (True, True)
    """
    opt = options or FitOptions()
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (tau_m, tau_a, increment, n_ref, max_spikes,
                                                    rheobase))
    )  # fmt: skip
    tm, ta, inc, nr, target, rheo = (a.ravel() for a in arrays)
    out = _grid(
        np.exp(-1.0 / tm),
        np.exp(-1.0 / ta),
        inc.copy(),
        np.maximum(np.round(nr), 0).astype(np.int64),
        int(opt.duration),
        np.maximum(np.round(target), 1).astype(np.int64),
        opt.step_pa / rheo,
        int(opt.isi_sweeps),
    )
    return pd.DataFrame(out, columns=["sfa", "isi_index", "latency", "drive"])


def input_scale(r_in_mohm: Any, rheobase_pa: Any, tau_m: Any, *, duration: int = 600) -> np.ndarray:
    """The voltage (mV) a cell's membrane must rise from rest to spike, as the model sees it.

    The model's input convention (docs/design.md, "One input convention"): a current ``I`` (pA)
    into a cell of input resistance ``R_in`` is the model input ``R_in · I`` (mV, divided by the
    network's voltage scale), and a presynaptic spike of weight ``w`` raises the membrane by
    ``(1 − α) w``. The model spikes within a step of ``duration`` ms when
    ``R_in · I · (1 − α^duration) > v_th``, so the recorded rheobase fixes
    ``v_th = R_in · rheobase · (1 − α^duration)`` (mV).

    Examples
    --------
    >>> round(float(input_scale(100.0, 150.0, 20.0)), 3)   # 100 MΩ × 150 pA = 15 mV
    15.0
    """
    alpha = np.exp(-1.0 / np.asarray(tau_m, dtype=np.float64))
    g = np.asarray(r_in_mohm, dtype=np.float64) * np.asarray(rheobase_pa, dtype=np.float64) * 1e-3
    return g * (1.0 - alpha**duration)


# ------------------------------------------------------------------ the fit
def _columns(table: pd.DataFrame, columns: Mapping[str, str], where: str) -> pd.DataFrame:
    absent = {r: c for r, c in columns.items() if c not in table.columns}
    if absent:
        raise ColumnError(
            f"{where}: feature column(s) {sorted(absent.values())} not found (needed to fit "
            f"{', '.join(sorted(absent))}); available: {', '.join(map(str, table.columns))}"
        )
    out = pd.DataFrame(index=table.index)
    for role, col in columns.items():
        x = pd.to_numeric(table[col], errors="coerce").astype(np.float64)
        if role == "tau_m":  # the same unit check as the feature mapping's
            check_units(x, col, parameter="tau_m", where=where)
        ok = np.isfinite(x) & ((x >= 0) if role == "sfa" else (x > 0))
        out[role] = x.where(ok)
    return out


def _scales(features: pd.DataFrame) -> tuple[float, float]:
    """Robust spreads of SFA and of log ISI index over the cells: the loss's units."""

    def spread(x: np.ndarray, floor: float) -> float:
        x = x[np.isfinite(x)]
        if x.size < 3:
            return floor
        return max(float(1.4826 * np.median(np.abs(x - np.median(x)))), floor)

    return (
        spread(features["sfa"].to_numpy(), 0.02),
        spread(np.log(features["isi_index"].to_numpy()), 0.02),
    )


def fit_cells(
    features: pd.DataFrame,
    *,
    n_ref: Any,
    options: FitOptions | None = None,
    scales: tuple[float, float] | None = None,
    columns: Mapping[str, str] | None = None,
    where: str = "the ephys table",
) -> pd.DataFrame:
    """Fit (δ, τ_a) of the model neuron to each row's recorded features.

    Parameters
    ----------
    features
        One row per cell (or per type, e.g. the type medians), with the columns of
        :data:`FIT_FEATURES` (or ``columns``); impossible values (≤ 0, a negative SFA, infinite)
        count as missing.
    n_ref
        Refractory steps of each row (or one number): part of the neuron that is simulated.
    options
        Protocol and grid (:class:`FitOptions`).
    scales
        Units of the loss: (SFA spread, log ISI-index spread); default the robust spreads over
        the rows (pass the whole table's when fitting type medians, so both fits weigh alike).
    columns
        Feature column of each role, default :data:`FIT_FEATURES`.
    where
        Name of the table in messages.

    Returns
    -------
    DataFrame, one row per input row: ``increment`` (δ), ``tau_a``, ``adaptive`` (bool),
    ``tau_a_lo`` / ``tau_a_hi`` (the constrained range; the three are NaN for a neuron that does
    not adapt), ``tau_a_constrained``, ``loss`` and
    ``loss_nonadaptive``, the simulated ``sfa_model``, ``isi_index_model``, ``latency_model``,
    ``drive_max`` (multiples of rheobase), and ``fitted`` (False where a needed feature is
    missing; the other columns are NaN there).

    Examples
    --------
    >>> cells = pd.DataFrame({"Membrane time constant (ms)": [15.0, 15.0],
    ...     "Input resistance (MOhm)": [100.0, 100.0], "Rheobase (pA)": [100.0, 100.0],
    ...     "Max number of APs": [20, 20], "Spike frequency adaptation": [1.0, 0.7],
    ...     "ISI adaptation index": [1.0, 1.4], "Latency (ms)": [60.0, 60.0],
    ...     "AP width (ms)": [1.0, 1.0]})
    >>> fit = fit_cells(cells, n_ref=3)
    >>> fit["adaptive"].tolist()
    [False, True]
    """
    opt = options or FitOptions()
    cols = dict(FIT_FEATURES if columns is None else columns)
    x = _columns(features, cols, where)
    n = len(x)
    nref = np.broadcast_to(np.asarray(n_ref, dtype=np.float64), (n,)).copy()
    usable = (
        x[["tau_m", "max_spikes", "rheobase"]].notna().all(axis=1)
        & (x["sfa"].notna() | x["isi_index"].notna())
        & np.isfinite(nref)
    ).to_numpy()
    s_sfa, s_isi = scales if scales is not None else _scales(x)
    tau_grid = np.asarray(opt.tau_a, dtype=np.float64)
    inc_grid = np.asarray(opt.increments, dtype=np.float64)
    g_tau, g_inc = (a.ravel() for a in np.meshgrid(tau_grid, inc_grid, indexing="ij"))
    rows = np.flatnonzero(usable)
    cols_out = [
        "increment", "tau_a", "adaptive", "tau_a_lo", "tau_a_hi", "tau_a_constrained", "loss",
        "loss_nonadaptive", "sfa_model", "isi_index_model", "latency_model", "drive_max", "fitted",
    ]  # fmt: skip
    result = pd.DataFrame(np.nan, index=x.index, columns=cols_out)
    result["fitted"] = False
    result["adaptive"] = False
    result["tau_a_constrained"] = False
    if rows.size == 0:
        return result
    xs = x.iloc[rows]
    sfa_r = xs["sfa"].to_numpy()[:, None]
    isi_r = xs["isi_index"].to_numpy()[:, None]

    def evaluate(tau: np.ndarray, inc: np.ndarray) -> dict[str, np.ndarray]:
        """Simulated features and loss of every row at candidates ``tau``/``inc`` (rows × C)."""
        c = tau.shape[1]
        rep = lambda a: np.repeat(np.asarray(a, dtype=np.float64), c)  # noqa: E731
        sim = simulate_features(
            tau_m=rep(xs["tau_m"]), tau_a=tau.ravel(), increment=inc.ravel(),
            n_ref=rep(nref[rows]), max_spikes=rep(xs["max_spikes"]),
            rheobase=rep(xs["rheobase"]), options=opt,
        )  # fmt: skip
        out = {k: sim[k].to_numpy().reshape(rows.size, c) for k in sim.columns}
        with np.errstate(invalid="ignore", divide="ignore"):
            e_sfa = ((out["sfa"] - sfa_r) / s_sfa) ** 2
            e_isi = ((np.log(out["isi_index"]) - np.log(isi_r)) / s_isi) ** 2
        # a recorded feature that is missing adds nothing; a recorded one the model cannot
        # produce (e.g. fewer than three spikes) costs a fixed penalty
        penalty = 25.0
        e_sfa = np.where(np.isnan(sfa_r), 0.0, np.where(np.isnan(e_sfa), penalty, e_sfa))
        e_isi = np.where(np.isnan(isi_r), 0.0, np.where(np.isnan(e_isi), penalty, e_isi))
        out["loss"] = e_sfa + e_isi
        out["tau"], out["inc"] = tau, inc
        return out

    coarse = evaluate(np.tile(g_tau, (rows.size, 1)), np.tile(g_inc, (rows.size, 1)))
    loss = coarse["loss"]
    best = np.argmin(loss, axis=1)
    nonadaptive = np.min(np.where(g_inc[None, :] == 0, loss, np.inf), axis=1)
    # the best loss per τ_a (over δ): the τ_a values within the margin are its range
    per_tau = loss.reshape(rows.size, tau_grid.size, inc_grid.size).min(axis=2)
    # refinement: spike counts are integers, so the loss is a step function of δ and the coarse
    # grid can step over the best value (and make another τ_a look best); a fine δ grid between
    # the neighbours of each τ_a's best coarse δ finds it
    by_tau = loss.reshape(rows.size, tau_grid.size, inc_grid.size)
    ii = np.argmin(by_tau, axis=2)  # rows × τ_a
    fine = np.linspace(0.0, 1.0, opt.refine)
    lo_i = inc_grid[np.clip(ii - 1, 0, inc_grid.size - 1)]
    hi_i = inc_grid[np.clip(ii + 1, 0, inc_grid.size - 1)]
    inc_c = (lo_i[:, :, None] + (hi_i - lo_i)[:, :, None] * fine).reshape(rows.size, -1)
    tau_c = np.repeat(np.broadcast_to(tau_grid, (rows.size, tau_grid.size)), fine.size, axis=1)
    refined = evaluate(tau_c, inc_c)
    both = {k: np.concatenate([coarse[k], refined[k]], axis=1) for k in coarse}
    best = np.argmin(both["loss"], axis=1)
    idx = np.arange(rows.size)
    best_loss = both["loss"][idx, best]
    for t_i in range(tau_grid.size):  # refined points count towards their τ_a's best loss
        at = both["tau"] == tau_grid[t_i]
        per_tau[:, t_i] = np.minimum(per_tau[:, t_i], np.where(at, both["loss"], np.inf).min(1))
    adaptive = (both["inc"][idx, best] > 0) & (nonadaptive - best_loss > opt.adaptive_margin)
    within = per_tau <= best_loss[:, None] + opt.tau_a_margin
    lo = np.array([tau_grid[w].min() for w in within])
    hi = np.array([tau_grid[w].max() for w in within])
    nonadaptive_pick = np.argmin(np.where(both["inc"] == 0, both["loss"], np.inf), axis=1)
    pick = np.where(adaptive, best, nonadaptive_pick)
    values = {
        "increment": np.where(adaptive, both["inc"][idx, pick], 0.0),
        # a neuron that does not adapt has no adaptation time constant
        "tau_a": np.where(adaptive, both["tau"][idx, pick], np.nan),
        "adaptive": adaptive,
        "tau_a_lo": np.where(adaptive, lo, np.nan),
        "tau_a_hi": np.where(adaptive, hi, np.nan),
        "tau_a_constrained": adaptive & ~((lo <= tau_grid.min()) & (hi >= tau_grid.max())),
        "loss": both["loss"][idx, pick],
        "loss_nonadaptive": nonadaptive,
        "sfa_model": both["sfa"][idx, pick],
        "isi_index_model": both["isi_index"][idx, pick],
        "latency_model": both["latency"][idx, pick],
        "drive_max": both["drive"][idx, pick],
        "fitted": True,
    }
    for k, v in values.items():
        result.loc[result.index[rows], k] = v
    for k in ("adaptive", "tau_a_constrained", "fitted"):
        result[k] = result[k].astype(bool)
    return result


def feature_table(
    table: pd.DataFrame, *, columns: Mapping[str, str] | None = None, where: str = "the table"
) -> pd.DataFrame:
    """The fit's features by role (``tau_m``, ``r_in``, ...), impossible values as NaN."""
    return _columns(table, dict(FIT_FEATURES if columns is None else columns), where)
