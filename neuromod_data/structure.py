"""The hand-off from the data side to the models: cell types, their abundances, E/I signs, the
modulation tensor and, optionally, per-type intrinsic parameters and type-to-type connectivity.
Plain numpy, no torch (importing this module loads neither pandas nor anndata).

Orientation conventions used everywhere:

* ``modulation[p, a, b]`` is the coupling of ligand-receptor pair ``p`` from **sender** type ``a``
  (expresses the ligand) to **receiver** type ``b`` (expresses the receptor);
* ``connectivity.probability[a, b]`` and ``connectivity.strength[a, b]`` describe synapses from
  **presynaptic** type ``a`` onto **postsynaptic** type ``b`` (row = pre, column = post; the
  network's ``w_rec[post, pre]`` is the transpose).

Intrinsic parameters are in the model's units (dt = 1 ms, LSNN convention, see
:mod:`neuromod_models.neurons`); where they come from is written down in docs/design.md,
"Intrinsic parameters from electrophysiology", and in :mod:`neuromod_data.ephys`.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuromod_data._files import atomic_path, require_file
from neuromod_data.controls import control_gate
from neuromod_data.errors import CellTypeError, FormatError

#: version written by :meth:`CellTypeStructure.save`; 2 added intrinsic parameters and connectivity
_FORMAT_VERSION = 2
#: versions :meth:`CellTypeStructure.load` reads (1: without intrinsic parameters or connectivity)
_READABLE_VERSIONS = (1, 2)

# ------------------------------------------------------------ intrinsic parameters
#: intrinsic parameters of a LIF/ALIF neuron (:mod:`neuromod_models.neurons`), in this order
PARAMETERS: tuple[str, ...] = ("tau_m", "tau_a", "beta", "adaptive", "v_th", "n_ref")

#: unit of each parameter in the model (dt = 1 ms)
PARAMETER_UNITS: dict[str, str] = {
    "tau_m": "ms (membrane time constant; alpha = exp(-dt/tau_m))",
    "tau_a": "ms (threshold-adaptation time constant; rho = exp(-dt/tau_a))",
    "beta": "model voltage per unit of the adaptation trace b (threshold A = v_th + beta*b)",
    "adaptive": "fraction of the type's cells that adapt (ALIF)",
    "v_th": "model voltage (the paper's threshold is 0.01)",
    "n_ref": "time steps of dt = 1 ms",
}

#: the paper's constants (LSNN convention); the references of the relative mappings and the values
#: of types without data (half of the paper's neurons are adaptive)
PAPER_VALUES: dict[str, float] = {
    "tau_m": 20.0,
    "tau_a": 2000.0,
    "beta": 1.8,
    "adaptive": 0.5,
    "v_th": 0.01,
    "n_ref": 5.0,
}

#: bounds every derived or drawn value is clipped to (v_th: 1/4 to 4 times the paper's; n_ref: at
#: least one step; beta: wide, because a fitted neuron's beta = increment · v_th / (1 − rho) grows
#: with tau_a — the threshold increment per spike in units of v_th, which is what the recordings
#: constrain, stays at most 1; the feature mapping caps its own beta at 5 times the paper's)
BOUNDS: dict[str, tuple[float, float]] = {
    "tau_m": (2.0, 100.0),
    "tau_a": (20.0, 20000.0),
    "beta": (0.0, 200.0),
    "adaptive": (0.0, 1.0),
    "v_th": (0.0025, 0.04),
    "n_ref": (1.0, 20.0),
}

#: parameters drawn log-normally per neuron when heterogeneity is asked for
_LOGNORMAL = ("tau_m", "tau_a", "beta", "v_th", "n_ref")


def _str_array(values: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=str)
    if arr.shape != shape:
        raise CellTypeError(f"{what} has shape {arr.shape}, expected {shape}")
    return arr


def sample_lognormal(
    median: np.ndarray,
    sigma: np.ndarray,
    counts: np.ndarray,
    *,
    bounds: tuple[float, float],
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Per-neuron values, type by type: ``median[k] · exp(sigma[k] · ε)``, clipped to ``bounds``.

    ``counts[k]`` neurons of type ``k`` in contiguous blocks (type order). Without ``rng`` (or with
    ``sigma`` 0) every neuron takes its type's median. A median of 0 stays 0.

    Examples
    --------
    >>> sample_lognormal(np.array([10.0, 0.0]), np.array([0.0, 1.0]), np.array([2, 1]), bounds=(0, 50))
    array([10., 10.,  0.])
    >>> x = sample_lognormal(np.array([10.0]), np.array([0.5]), np.array([20000]), bounds=(0, 1e9),
    ...                      rng=np.random.default_rng(0))
    >>> round(float(np.median(x)), 1), round(float(np.std(np.log(x))), 2)
    (10.0, 0.5)
    """
    counts = np.asarray(counts, dtype=np.int64)
    med = np.repeat(np.asarray(median, dtype=np.float64), counts)
    if rng is None:
        out = med
    else:
        sig = np.repeat(np.asarray(sigma, dtype=np.float64), counts)
        out = med * np.exp(sig * rng.standard_normal(med.size))
    return np.clip(out, bounds[0], bounds[1])


@dataclass(frozen=True, eq=False)
class IntrinsicParameters:
    """Per-type intrinsic neuron parameters, their spread and the cells behind them.

    Built from electrophysiology by :func:`neuromod_data.ephys.intrinsic_from_ephys`; carried by
    :class:`CellTypeStructure` (field ``intrinsic``).

    Parameters
    ----------
    types
        Type names (K), in the structure's order.
    params
        Parameter names (P), a subset of :data:`PARAMETERS`.
    median
        Type value of each parameter, shape (K, P), in the model's units (:data:`PARAMETER_UNITS`);
        for ``adaptive`` the fraction of the type's cells that adapt.
    spread
        Robust standard deviation of the natural log of the per-cell values (1.4826 × MAD of
        ``ln x``), shape (K, P); per-neuron draws are log-normal around the median with this σ
        (for ``beta``: the σ of the threshold increment per spike, see :meth:`sample`).
        0: no spread (one cell, or a value not measured per cell).
    n_cells
        Number of cells behind each value, shape (K, P); 0 where the paper's value is used.
    level
        Label column the cells were taken from, shape (K, P): the type's own level, a coarser
        (parent) level when the type has too few cells, or ``"default"`` (the paper's value).
    group
        The label at that level (the type itself, or its parent), shape (K, P).
    bounds
        Lower and upper bound of each parameter, shape (P, 2).
    meta
        JSON-serialisable provenance (files, label levels, ``min_cells``, references, mapping).

    Examples
    --------
    >>> ip = IntrinsicParameters.constant(("E", "I"), tau_m=[20.0, 10.0], adaptive=[1.0, 0.0])
    >>> v = ip.values()
    >>> v["tau_m"].tolist(), v["beta"].tolist(), v["adaptive"].tolist(), v["n_ref"].tolist()
    ([20.0, 10.0], [1.8, 0.0], [True, False], [5, 5])
    """

    types: tuple[str, ...]
    params: tuple[str, ...]
    median: np.ndarray
    spread: np.ndarray
    n_cells: np.ndarray
    level: np.ndarray
    group: np.ndarray
    bounds: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        types = tuple(str(t) for t in self.types)
        params = tuple(str(p) for p in self.params)
        unknown = [p for p in params if p not in PARAMETERS]
        if unknown or len(set(params)) != len(params) or not params:
            raise CellTypeError(
                f"intrinsic parameters must be distinct names among {PARAMETERS}, got {params}"
            )
        shape = (len(types), len(params))
        med = np.asarray(self.median, dtype=np.float64)
        spread = np.asarray(self.spread, dtype=np.float64)
        n = np.asarray(self.n_cells)
        bounds = np.asarray(self.bounds, dtype=np.float64)
        for what, arr in (("median", med), ("spread", spread), ("n_cells", n)):
            if arr.shape != shape:
                raise CellTypeError(f"intrinsic {what} has shape {arr.shape}, expected {shape}")
        if bounds.shape != (len(params), 2) or np.any(bounds[:, 0] > bounds[:, 1]):
            raise CellTypeError(f"intrinsic bounds must be (P={len(params)}, 2) with lower ≤ upper")
        if not np.all(np.isfinite(med)):
            bad = sorted({types[i] for i in np.argwhere(~np.isfinite(med))[:, 0]})
            raise CellTypeError(f"intrinsic parameters are not finite for types {bad}")
        outside = (med < bounds[:, 0] - 1e-12) | (med > bounds[:, 1] + 1e-12)
        if np.any(outside):
            i, j = np.argwhere(outside)[0]
            raise CellTypeError(
                f"intrinsic parameter {params[j]!r} of type {types[i]!r} is {med[i, j]:g}, outside "
                f"its bounds [{bounds[j, 0]:g}, {bounds[j, 1]:g}]"
            )
        if not np.all(np.isfinite(spread)) or np.any(spread < 0):
            raise CellTypeError("intrinsic spreads must be finite and non-negative")
        if np.any(n < 0) or not np.all(np.equal(np.mod(n, 1), 0)):
            raise CellTypeError("intrinsic n_cells must be non-negative integers")
        object.__setattr__(self, "types", types)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "median", med)
        object.__setattr__(self, "spread", spread)
        object.__setattr__(self, "n_cells", n.astype(np.int64))
        object.__setattr__(self, "level", _str_array(self.level, shape, "intrinsic level"))
        object.__setattr__(self, "group", _str_array(self.group, shape, "intrinsic group"))
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "meta", dict(self.meta))

    @classmethod
    def constant(cls, types: tuple[str, ...] | list[str], **values: Any) -> IntrinsicParameters:
        """Every parameter at the paper's value except those given (a number or one per type).

        No spread and no cells behind the values (level ``"default"``, or ``"given"`` for values
        passed here); useful for tests and hand-made structures.
        """
        types = tuple(types)
        k = len(types)
        unknown = sorted(set(values) - set(PARAMETERS))
        if unknown:
            raise CellTypeError(f"unknown intrinsic parameters {unknown}; choose from {PARAMETERS}")
        med = np.empty((k, len(PARAMETERS)))
        level = np.full((k, len(PARAMETERS)), "default", dtype=object)
        for j, name in enumerate(PARAMETERS):
            med[:, j] = np.broadcast_to(
                np.asarray(values.get(name, PAPER_VALUES[name]), float), (k,)
            )
            if name in values:
                level[:, j] = "given"
        return cls(
            types=types,
            params=PARAMETERS,
            median=med,
            spread=np.zeros_like(med),
            n_cells=np.zeros(med.shape, dtype=np.int64),
            level=level.astype(str),
            group=np.repeat(np.array(types, dtype=str)[:, None], len(PARAMETERS), axis=1),
            bounds=np.array([BOUNDS[p] for p in PARAMETERS]),
            meta={"source": "constant"},
        )

    # ------------------------------------------------------------------ views
    def _col(self, name: str) -> int:
        if name not in self.params:
            raise CellTypeError(
                f"the intrinsic parameters hold no {name!r} (they hold {', '.join(self.params)})"
            )
        return self.params.index(name)

    def _bounds(self, name: str) -> tuple[float, float]:
        lo, hi = self.bounds[self._col(name)]
        return float(lo), float(hi)

    def _adaptive_fraction(self) -> np.ndarray:
        if "adaptive" in self.params:
            return self.median[:, self._col("adaptive")]
        if "beta" in self.params:
            return (self.median[:, self._col("beta")] > 0).astype(np.float64)
        return np.full(len(self.types), PAPER_VALUES["adaptive"])

    def values(self, names: tuple[str, ...] | list[str] = PARAMETERS) -> dict[str, np.ndarray]:
        """Type-level values ready for the model, shape (K,) each.

        ``tau_m``, ``tau_a`` (ms), ``v_th`` (float64); ``adaptive`` (bool: most of the type's cells
        adapt, fraction ≥ 0.5); ``beta`` (0 for types that are not adaptive); ``n_ref`` (int64,
        rounded to whole steps).
        """
        out: dict[str, np.ndarray] = {}
        adaptive = self._adaptive_fraction() >= 0.5
        for name in names:
            if name == "adaptive":
                out[name] = adaptive.copy()
                continue
            val = np.clip(self.median[:, self._col(name)], *self._bounds(name))
            if name == "beta":
                val = val * adaptive
            elif name == "n_ref":
                val = np.rint(val).astype(np.int64)
            out[name] = val
        return out

    def sample(
        self,
        counts_per_type: Any,
        *,
        heterogeneity: bool = False,
        seed: int = 0,
        names: tuple[str, ...] | list[str] = PARAMETERS,
    ) -> dict[str, np.ndarray]:
        """Per-neuron values, shape (N,) each with N = sum of ``counts_per_type`` (type blocks in order).

        Without ``heterogeneity`` every neuron takes its type's values (:meth:`values`). With it,
        ``tau_m``, ``tau_a``, ``beta``, ``v_th`` and ``n_ref`` are drawn log-normally around the
        type's median with the type's spread (σ of the log), clipped to the bounds, ``n_ref``
        rounded to whole steps; each neuron is adaptive with probability equal to its type's
        fraction of adapting cells (``beta`` is 0 for the others). ``beta`` is drawn through the
        threshold increment per spike in units of v_th, ``δ = β (1 − ρ) / v_th``: the type's
        ``δ`` (from its median β, τ_a and v_th) times ``exp(σ_β ε)``, then
        ``β = δ v_th / (1 − ρ)`` with the neuron's own v_th and τ_a — independent draws of β,
        τ_a and v_th would pair a short τ_a and a low threshold with a large β, an increment far
        beyond any recorded cell's (and gradients that explode through the adaptation). Draws use
        ``numpy.random.default_rng(seed)``, one vector per parameter in the order of
        :data:`PARAMETERS`, so a given seed always gives the same neurons.

        Examples
        --------
        >>> ip = IntrinsicParameters.constant(("E", "I"), tau_m=[20.0, 10.0])
        >>> ip.sample([2, 1])["tau_m"].tolist()
        [20.0, 20.0, 10.0]
        """
        counts = np.asarray(counts_per_type)
        if counts.shape != (len(self.types),) or np.any(counts < 0):
            raise CellTypeError(
                f"counts_per_type needs one non-negative count for each of the {len(self.types)} "
                f"types, got {counts.tolist()}"
            )
        counts = counts.astype(np.int64)
        for name in names:
            if name != "adaptive":
                self._col(name)  # a clear error for a parameter the table does not hold
        rng = np.random.default_rng(seed) if heterogeneity else None
        drawn: dict[str, np.ndarray] = {}
        # every parameter is drawn, in a fixed order, whichever are asked for: a seed always gives
        # the same neurons
        for name in PARAMETERS:
            if name == "adaptive":
                p = self._adaptive_fraction()
                if rng is None:
                    drawn[name] = np.repeat(p >= 0.5, counts)
                else:
                    drawn[name] = rng.random(int(counts.sum())) < np.repeat(p, counts)
            elif name == "beta" and rng is not None and {"tau_a", "v_th"} <= set(self.params):
                # the factor exp(σ ε) of the increment; β follows once v_th is drawn
                j = self._col(name)
                drawn[name] = sample_lognormal(
                    np.ones(len(self.types)), self.spread[:, j], counts, bounds=(0, np.inf),
                    rng=rng,
                )  # fmt: skip
            elif name in self.params:
                j = self._col(name)
                drawn[name] = sample_lognormal(
                    self.median[:, j], self.spread[:, j], counts, bounds=self._bounds(name), rng=rng
                )
        if rng is not None and "beta" in self.params and {"tau_a", "v_th"} <= set(self.params):
            med = {q: self.median[:, self._col(q)] for q in ("beta", "tau_a", "v_th")}
            increment = med["beta"] * (1 - np.exp(-1.0 / med["tau_a"])) / med["v_th"]
            delta = np.repeat(increment, counts) * drawn["beta"]
            drawn["beta"] = np.clip(
                delta * drawn["v_th"] / (1 - np.exp(-1.0 / drawn["tau_a"])), *self._bounds("beta")
            )
        out: dict[str, np.ndarray] = {}
        for name in names:
            val = drawn[name]
            if name == "beta":
                val = val * drawn["adaptive"]
            elif name == "n_ref":
                val = np.rint(val).astype(np.int64)
            out[name] = val
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready record per (type, parameter): value, spread, n_cells, level, group."""
        return [
            {
                "type": t,
                "parameter": p,
                "value": float(self.median[i, j]),
                "spread": float(self.spread[i, j]),
                "n_cells": int(self.n_cells[i, j]),
                "level": str(self.level[i, j]),
                "group": str(self.group[i, j]),
            }
            for i, t in enumerate(self.types)
            for j, p in enumerate(self.params)
        ]


# -------------------------------------------------------------------- connectivity
@dataclass(frozen=True, eq=False)
class Connectivity:
    """Type-to-type connection probability and strength, presynaptic type → postsynaptic type.

    Built from a published table by :func:`neuromod_data.connectivity.type_connectivity`; carried by
    :class:`CellTypeStructure` (field ``connectivity``).

    Parameters
    ----------
    types
        Type names (K), in the structure's order.
    probability
        ``probability[pre, post]``: probability that a neuron of type ``pre`` makes a synapse onto a
        given neuron of type ``post``, shape (K, K), in [0, 1].
    strength
        ``strength[pre, post]``: magnitude of such a synapse (non-negative; the table's unit, e.g.
        unitary PSP in mV, recorded in ``meta["units"]``); the sign comes from the presynaptic
        type (Dale's law). 0 where ``probability`` is 0.
    meta
        JSON-serialisable provenance (table, columns, population mapping, layer distributions).

    Examples
    --------
    >>> c = Connectivity(("E", "I"), [[0.1, 0.4], [0.4, 0.5]], [[0.4, 1.5], [0.5, 0.7]])
    >>> float(c.probability[0, 1])  # E → I
    0.4
    """

    types: tuple[str, ...]
    probability: np.ndarray
    strength: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        types = tuple(str(t) for t in self.types)
        k = len(types)
        prob = np.asarray(self.probability, dtype=np.float64)
        strength = np.asarray(self.strength, dtype=np.float64)
        for what, arr in (("probability", prob), ("strength", strength)):
            if arr.shape != (k, k):
                raise CellTypeError(
                    f"connectivity {what} has shape {arr.shape}, expected ({k}, {k})"
                )
        bad = ~np.isfinite(prob) | (prob < 0) | (prob > 1)
        if np.any(bad):
            i, j = np.argwhere(bad)[0]
            raise CellTypeError(
                f"connection probability {types[i]} → {types[j]} is {prob[i, j]:g}, not in [0, 1]"
            )
        bad = ~np.isfinite(strength) | (strength < 0)
        if np.any(bad):
            i, j = np.argwhere(bad)[0]
            raise CellTypeError(
                f"connection strength {types[i]} → {types[j]} is {strength[i, j]:g}; strengths are "
                "non-negative magnitudes (the sign comes from the presynaptic type)"
            )
        object.__setattr__(self, "types", types)
        object.__setattr__(self, "probability", prob)
        object.__setattr__(self, "strength", strength)
        object.__setattr__(self, "meta", dict(self.meta))


# ------------------------------------------------------------ pooling (the "ei" control)
def _pool_intrinsic(
    ip: IntrinsicParameters, groups: list[np.ndarray], weights: np.ndarray, names: tuple[str, ...]
) -> IntrinsicParameters:
    """Pool types into groups, weighting each type by its abundance within its group.

    Positive parameters: the median is the weighted geometric mean and the spread the log-scale
    standard deviation of the mixture, sqrt(Σ w (σ² + (ln m − ln m̄)²)), so that the pooled
    log-normal has the mixture's first two log moments. Parameters with a zero value
    (``beta`` of a type that does not adapt) and ``adaptive``: weighted arithmetic means.
    """
    med = np.zeros((len(groups), len(ip.params)))
    spread = np.zeros_like(med)
    n = np.zeros(med.shape, dtype=np.int64)
    for g, idx in enumerate(groups):
        w = weights[idx] / weights[idx].sum()
        for j, name in enumerate(ip.params):
            m, s = ip.median[idx, j], ip.spread[idx, j]
            if name != "adaptive" and np.all(m > 0):
                mu = float(np.sum(w * np.log(m)))
                med[g, j] = np.exp(mu)
                spread[g, j] = np.sqrt(np.sum(w * (s**2 + (np.log(m) - mu) ** 2)))
            else:
                med[g, j] = float(np.sum(w * m))
                spread[g, j] = float(np.sum(w * s)) if name != "adaptive" else 0.0
            n[g, j] = int(ip.n_cells[idx, j].sum())
    med = np.clip(med, ip.bounds[:, 0], ip.bounds[:, 1])
    level = np.full(med.shape, "pooled by sign", dtype=object).astype(str)
    group = np.repeat(np.array(names, dtype=str)[:, None], len(ip.params), axis=1)
    meta = {**ip.meta, "pooled_from": list(ip.types)}
    return IntrinsicParameters(names, ip.params, med, spread, n, level, group, ip.bounds, meta)


def _pool_connectivity(
    c: Connectivity, groups: list[np.ndarray], weights: np.ndarray, names: tuple[str, ...]
) -> Connectivity:
    """Pool type blocks: the probability of the pooled block is the abundance-weighted mean of its
    blocks' probabilities (the same expected number of synapses), its strength the mean strength
    of those synapses (weighted by abundance × probability)."""
    k = len(groups)
    prob, strength = np.zeros((k, k)), np.zeros((k, k))
    for g, gi in enumerate(groups):
        for h, hi in enumerate(groups):
            w = np.outer(weights[gi], weights[hi])
            p = c.probability[np.ix_(gi, hi)]
            prob[g, h] = float(np.sum(w * p) / w.sum())
            mass = float(np.sum(w * p))
            strength[g, h] = (
                float(np.sum(w * p * c.strength[np.ix_(gi, hi)]) / mass) if mass else 0.0
            )
    return Connectivity(names, prob, strength, {**c.meta, "pooled_from": list(c.types)})


@dataclass(frozen=True)
class CellTypeStructure:
    """Cell types and the modulation between them, ready for a network model.

    Parameters
    ----------
    names
        Ordered type names (K).
    abundances
        Relative abundance of each type, shape (K,); normalised to sum to one.
    signs
        Dale sign of each type, +1 excitatory, -1 inhibitory, shape (K,).
    modulation
        Coupling per ligand-receptor pair, shape (P, K, K), ``[pair, sender, receiver]``, non-negative.
    pairs
        Interaction names (P), e.g. ``"Npy→Npy1r"``.
    classes
        Optional higher-level label of each type (e.g. ``GABAergic``).
    colors
        Optional hex colour of each type.
    meta
        JSON-serialisable provenance (dataset, label level, method, thresholds ...).
    intrinsic
        Optional per-type intrinsic neuron parameters (:class:`IntrinsicParameters`), e.g. from
        Patch-seq electrophysiology; read them with :meth:`intrinsic_parameters` and
        :meth:`sample_intrinsic`.
    connectivity
        Optional type-to-type connection probability and strength (:class:`Connectivity`,
        ``[pre, post]``).

    Every method that returns a modified structure keeps ``intrinsic`` and ``connectivity``
    (the ``ei`` control pools them by sign).

    Examples
    --------
    >>> s = CellTypeStructure.ei(frac_excitatory=0.8)
    >>> s.names, s.signs.tolist(), s.gate().tolist()
    (('E', 'I'), [1, -1], [[1.0, 1.0], [1.0, 1.0]])
    >>> s = s.with_intrinsic(IntrinsicParameters.constant(s.names, tau_m=[20.0, 10.0]))
    >>> s.intrinsic_parameters(("tau_m", "n_ref"))["tau_m"].tolist()
    [20.0, 10.0]
    """

    names: tuple[str, ...]
    abundances: np.ndarray
    signs: np.ndarray
    modulation: np.ndarray
    pairs: tuple[str, ...]
    classes: tuple[str, ...] | None = None
    colors: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    intrinsic: IntrinsicParameters | None = None
    connectivity: Connectivity | None = None

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        k = len(names)
        if k == 0:
            raise CellTypeError("CellTypeStructure needs at least one cell type")
        if len(set(names)) != k:
            dup = sorted({n for n in names if names.count(n) > 1})
            raise CellTypeError(f"duplicated cell type names: {dup}")
        ab = np.asarray(self.abundances, dtype=np.float64).reshape(-1)
        if ab.shape != (k,):
            raise CellTypeError(f"abundances has {ab.size} entries for {k} types")
        if not np.all(np.isfinite(ab)) or np.any(ab < 0) or ab.sum() <= 0:
            bad = [names[i] for i in np.flatnonzero(~np.isfinite(ab) | (ab < 0))]
            raise CellTypeError(
                f"abundances must be finite, non-negative and not all zero (types {bad})"
            )
        sg = np.asarray(self.signs).reshape(-1).astype(np.int8)
        if sg.shape != (k,) or not np.all(np.isin(sg, (-1, 1))):
            raise CellTypeError(
                f"signs must be +1 or -1 for each of the {k} types, got {sg.tolist()}"
            )
        mod = np.asarray(self.modulation, dtype=np.float64)
        pairs = tuple(str(p) for p in self.pairs)
        if mod.ndim == 2:
            mod = mod[None]
        if mod.shape != (len(pairs), k, k):
            raise CellTypeError(
                f"modulation has shape {mod.shape}, expected (n_pairs={len(pairs)}, {k}, {k})"
            )
        if not np.all(np.isfinite(mod)) or np.any(mod < 0):
            raise CellTypeError("modulation must be finite and non-negative")
        for attr in ("classes", "colors"):
            val = getattr(self, attr)
            if val is not None:
                val = tuple(str(v) for v in val)
                if len(val) != k:
                    raise CellTypeError(f"{attr} has {len(val)} entries for {k} types")
                object.__setattr__(self, attr, val)
        for attr, kind in (("intrinsic", IntrinsicParameters), ("connectivity", Connectivity)):
            val = getattr(self, attr)
            if val is None:
                continue
            if not isinstance(val, kind):
                raise CellTypeError(f"{attr} must be a {kind.__name__}, got {type(val).__name__}")
            if val.types != names:
                raise CellTypeError(
                    f"{attr} is for types {list(val.types)}, the structure has {list(names)} "
                    "(same names in the same order needed)"
                )
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "abundances", ab / ab.sum())
        object.__setattr__(self, "signs", sg)
        object.__setattr__(self, "modulation", mod)
        object.__setattr__(self, "meta", dict(self.meta))

    # ------------------------------------------------------------------ views
    @property
    def n_types(self) -> int:
        return len(self.names)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def gate(
        self, *, kind: Literal["weighted", "binary"] = "weighted", normalize: bool = True
    ) -> np.ndarray:
        """Collapse the modulation tensor over pairs to a K × K sender → receiver matrix.

        ``weighted`` sums the pair couplings (scaled so the largest entry is 1 when ``normalize``;
        a control structure from :meth:`control` uses the scale of its data); ``binary`` is 1 where
        any pair couples the two types.
        """
        summed = self.modulation.sum(axis=0)
        if kind == "binary":
            return (summed > 0).astype(np.float64)
        if kind != "weighted":
            raise ValueError(f"kind must be 'weighted' or 'binary', got {kind!r}")
        # a control keeps the scale of the data it came from (its own maximum may be smaller)
        scale = float(self.meta.get("gate_scale", summed.max()))
        if normalize and scale > 0:
            summed = summed / scale
        return summed

    def control(self, kind: str, *, seed: int = 0) -> CellTypeStructure:
        """The structure with its gate replaced by control ``kind`` (:mod:`neuromod_data.controls`).

        ``label-permuted``, ``grid-shuffled``, ``uniform``: the same types with one pseudo-pair
        ``control:<kind>`` holding the control's gate, on the data gate's scale (``gate()`` of the
        result equals the control of ``gate()``); ``ei``: two types, excitatory and inhibitory, with
        abundances pooled by sign; ``data``: the structure itself.

        Examples
        --------
        >>> s = CellTypeStructure.ei()
        >>> s.control("ei").names
        ('E', 'I')
        """
        if kind == "data":
            return self
        # the one door to the controls (names checked there); "ei" has no K × K gate: it pools
        # the types by sign instead
        g, by_sign = control_gate(self.gate(kind="weighted"), kind, seed=seed)
        if by_sign:
            exc = float(self.abundances[self.signs > 0].sum())
            ei = CellTypeStructure.ei(frac_excitatory=exc, meta={**self.meta, "control": "ei"})
            return self._pooled_by_sign(ei)
        scale = float(self.modulation.sum(axis=0).max())
        return self._replace(
            modulation=(g * scale)[None],
            pairs=(f"control:{kind}",),
            meta={**self.meta, "control": kind, "seed": seed, "gate_scale": scale},
        )

    def with_abundances(
        self,
        abundances: Mapping[str, float],
        *,
        source: str | None = None,
        clusters: Mapping[str, Mapping[str, float]] | None = None,
    ) -> CellTypeStructure:
        """The same structure with each type's abundance taken from ``abundances`` (by name).

        Use it to replace sampled cell numbers by tissue counts (see
        :func:`neuromod_data.abundances.tissue_abundances`); ``source`` is recorded in ``meta``
        (``abundances_source``), the abundances before in ``meta["sampled_abundances"]`` and,
        when given, the taxonomy labels each type was counted from in
        ``meta["abundance_clusters"]`` (``{type: {label: cells}}``, e.g. from
        :func:`neuromod_data.abundances.tissue_clusters`; saved with the structure, as all of
        ``meta``).

        Examples
        --------
        >>> s = CellTypeStructure.ei().with_abundances({"E": 3, "I": 1}, source="by hand")
        >>> s.abundances.tolist(), s.meta["abundances_source"]
        ([0.75, 0.25], 'by hand')
        >>> s = s.with_abundances({"E": 3, "I": 1}, clusters={"E": {"a": 2, "b": 1}, "I": {"c": 1}})
        >>> s.meta["abundance_clusters"]["E"]
        {'a': 2.0, 'b': 1.0}
        """
        missing = [n for n in self.names if n not in abundances]
        if missing:
            raise CellTypeError(f"no abundance given for types {missing}")
        meta = {**self.meta, "sampled_abundances": self.abundances.tolist()}
        if source is not None:
            meta["abundances_source"] = source
        ab = np.array([float(abundances[n]) for n in self.names])
        if clusters is not None:
            record = {
                n: {str(k): float(v) for k, v in clusters.get(n, {}).items()} for n in self.names
            }
            off = [
                n
                for n in self.names
                if not np.isclose(sum(record[n].values()), float(abundances[n]))
            ]
            if off:
                raise CellTypeError(f"the clusters of types {off} do not add up to their abundance")
            meta["abundance_clusters"] = record
        else:
            meta.pop("abundance_clusters", None)  # they described the abundances replaced here
        return self._replace(abundances=ab, meta=meta)

    def with_intrinsic(self, intrinsic: IntrinsicParameters | None) -> CellTypeStructure:
        """The same structure carrying ``intrinsic`` (``None`` removes them)."""
        return self._replace(intrinsic=intrinsic)

    def with_connectivity(self, connectivity: Connectivity | None) -> CellTypeStructure:
        """The same structure carrying ``connectivity`` (``None`` removes it)."""
        return self._replace(connectivity=connectivity)

    # ---------------------------------------------------- physiology accessors
    def intrinsic_parameters(
        self, names: tuple[str, ...] | list[str] = ("tau_m", "tau_a", "beta", "v_th", "n_ref")
    ) -> dict[str, np.ndarray]:
        """Type-level intrinsic parameters in the model's units, shape (K,) each, in type order.

        ``tau_m``, ``tau_a`` (ms), ``v_th`` (float64), ``beta`` (0 for types that are not
        adaptive), ``n_ref`` (int64 steps), ``adaptive`` (bool). See
        :meth:`IntrinsicParameters.values`; raises :class:`~neuromod_data.errors.CellTypeError`
        when the structure carries none.
        """
        return self._require_intrinsic().values(names)

    def sample_intrinsic(
        self,
        counts_per_type: Any,
        *,
        heterogeneity: bool = False,
        seed: int = 0,
        names: tuple[str, ...] | list[str] = PARAMETERS,
    ) -> dict[str, np.ndarray]:
        """Per-neuron intrinsic parameters for ``counts_per_type[k]`` neurons of each type.

        Arrays of length N = sum(counts), neurons in contiguous type blocks in type order (as
        :func:`neuromod_models.init.allocate_types` lays them out). See
        :meth:`IntrinsicParameters.sample` for the draws.

        Examples
        --------
        >>> s = CellTypeStructure.ei().with_intrinsic(
        ...     IntrinsicParameters.constant(("E", "I"), adaptive=[1.0, 0.0]))
        >>> p = s.sample_intrinsic([3, 1])
        >>> p["beta"].tolist(), p["n_ref"].tolist()
        ([1.8, 1.8, 1.8, 0.0], [5, 5, 5, 5])
        """
        return self._require_intrinsic().sample(
            counts_per_type, heterogeneity=heterogeneity, seed=seed, names=names
        )

    def _require_intrinsic(self) -> IntrinsicParameters:
        if self.intrinsic is None:
            raise CellTypeError(
                "this structure carries no intrinsic parameters; add them from electrophysiology "
                "with `neuromod physiology` or neuromod_data.ephys.intrinsic_from_ephys"
            )
        return self.intrinsic

    def _pooled_by_sign(self, ei: CellTypeStructure) -> CellTypeStructure:
        """``ei`` (types E, I) with this structure's intrinsic parameters and connectivity pooled
        by sign, each type weighted by its abundance."""
        if self.intrinsic is None and self.connectivity is None:
            return ei
        groups = [np.flatnonzero(self.signs > 0), np.flatnonzero(self.signs < 0)]
        intrinsic = connectivity = None
        if self.intrinsic is not None:
            intrinsic = _pool_intrinsic(self.intrinsic, groups, self.abundances, ei.names)
        if self.connectivity is not None:
            connectivity = _pool_connectivity(self.connectivity, groups, self.abundances, ei.names)
        return ei._replace(intrinsic=intrinsic, connectivity=connectivity)

    def _replace(self, **changes: Any) -> CellTypeStructure:
        fields = {
            "names": self.names,
            "abundances": self.abundances,
            "signs": self.signs,
            "modulation": self.modulation,
            "pairs": self.pairs,
            "classes": self.classes,
            "colors": self.colors,
            "meta": self.meta,
            "intrinsic": self.intrinsic,
            "connectivity": self.connectivity,
        }
        fields.update(changes)
        return CellTypeStructure(**fields)

    # ------------------------------------------------------------- factories
    @classmethod
    def ei(
        cls, *, frac_excitatory: float = 0.8, meta: dict[str, Any] | None = None
    ) -> CellTypeStructure:
        """The paper's default: two types, excitatory and inhibitory, all-to-all modulation."""
        if not 0.0 < frac_excitatory < 1.0:
            raise CellTypeError(f"frac_excitatory must lie in (0, 1), got {frac_excitatory}")
        return cls(
            names=("E", "I"),
            abundances=np.array([frac_excitatory, 1.0 - frac_excitatory]),
            signs=np.array([1, -1]),
            modulation=np.ones((1, 2, 2)),
            pairs=("E/I",),
            classes=("Glutamatergic", "GABAergic"),
            meta=dict(meta or {"source": "default E/I structure"}),
        )

    # -------------------------------------------------------------------- io
    def save(self, path: str | os.PathLike) -> Path:
        """Write the structure to a ``.npz`` file (atomically). Returns the path.

        Format version 2: the arrays of version 1 (``names``, ``abundances``, ``signs``,
        ``modulation``, ``pairs``, ``classes``, ``colors``, ``meta`` as JSON) plus, when present,
        ``intrinsic_*`` (``params``, ``median``, ``spread``, ``n_cells``, ``level``, ``group``,
        ``bounds``, ``meta``) and ``connectivity_*`` (``probability``, ``strength``, ``meta``).
        No pickles: every array is numeric or a unicode string array.
        """
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(_FORMAT_VERSION),
            "names": np.array(self.names, dtype=str),
            "abundances": self.abundances,
            "signs": self.signs,
            "modulation": self.modulation,
            "pairs": np.array(self.pairs, dtype=str),
            "classes": np.array(self.classes or (), dtype=str),
            "colors": np.array(self.colors or (), dtype=str),
            "meta": np.array(json.dumps(self.meta, default=str)),
        }
        ip = self.intrinsic
        if ip is not None:
            arrays.update(
                intrinsic_params=np.array(ip.params, dtype=str),
                intrinsic_median=ip.median,
                intrinsic_spread=ip.spread,
                intrinsic_n_cells=ip.n_cells,
                intrinsic_level=ip.level,
                intrinsic_group=ip.group,
                intrinsic_bounds=ip.bounds,
                intrinsic_meta=np.array(json.dumps(ip.meta, default=str)),
            )
        c = self.connectivity
        if c is not None:
            arrays.update(
                connectivity_probability=c.probability,
                connectivity_strength=c.strength,
                connectivity_meta=np.array(json.dumps(c.meta, default=str)),
            )
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CellTypeStructure:
        """Read a structure written by :meth:`save` (format version 1 or 2)."""
        p = require_file(path, "structure file")
        try:
            with np.load(p, allow_pickle=False) as z:
                version = int(z["format_version"])
                if version not in _READABLE_VERSIONS:
                    raise FormatError(
                        f"{p}: structure format version {version}; this version of neuromod reads "
                        f"versions {', '.join(map(str, _READABLE_VERSIONS))} (a newer neuromod "
                        "wrote it?)"
                    )
                names = tuple(z["names"].tolist())
                intrinsic = connectivity = None
                if "intrinsic_params" in z.files:
                    intrinsic = IntrinsicParameters(
                        types=names,
                        params=tuple(z["intrinsic_params"].tolist()),
                        median=z["intrinsic_median"],
                        spread=z["intrinsic_spread"],
                        n_cells=z["intrinsic_n_cells"],
                        level=z["intrinsic_level"],
                        group=z["intrinsic_group"],
                        bounds=z["intrinsic_bounds"],
                        meta=json.loads(str(z["intrinsic_meta"])),
                    )
                if "connectivity_probability" in z.files:
                    connectivity = Connectivity(
                        types=names,
                        probability=z["connectivity_probability"],
                        strength=z["connectivity_strength"],
                        meta=json.loads(str(z["connectivity_meta"])),
                    )
                return cls(
                    names=names,
                    abundances=z["abundances"],
                    signs=z["signs"],
                    modulation=z["modulation"],
                    pairs=tuple(z["pairs"].tolist()),
                    classes=tuple(z["classes"].tolist()) or None,
                    colors=tuple(z["colors"].tolist()) or None,
                    meta=json.loads(str(z["meta"])),
                    intrinsic=intrinsic,
                    connectivity=connectivity,
                )
        except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"{p} is not a neuromod structure file: {exc}") from exc

    def __repr__(self) -> str:
        n_exc = int((self.signs > 0).sum())
        extra = "".join(
            f", {what}"
            for what, val in (
                ("intrinsic parameters", self.intrinsic),
                ("connectivity", self.connectivity),
            )
            if val is not None
        )
        return (
            f"CellTypeStructure({self.n_types} types ({n_exc} E, {self.n_types - n_exc} I), "
            f"{self.n_pairs} pairs, density {float((self.gate(kind='binary') > 0).mean()):.2f}"
            f"{extra})"
        )
