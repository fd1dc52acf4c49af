"""Per-type intrinsic neuron parameters (LIF/ALIF, :mod:`neuromod_models.neurons`): their names,
units, the paper's values and bounds, per-neuron log-normal sampling, and the record
:class:`IntrinsicParameters` that a :class:`~neuromod_data.structure.CellTypeStructure` carries.

In the model's units (dt = 1 ms, LSNN convention); where they come from: docs/design.md,
"Intrinsic parameters from electrophysiology", and :mod:`neuromod_data.ephys`. Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuromod_data.errors import CellTypeError

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
        # a file's own bounds may be narrower than the package's, never wider: outside them the
        # model's equations break (τ_m → 0 divides by zero in the PSP gain, v_th → 0 in ψ)
        for j, name in enumerate(params):
            lo, hi = BOUNDS[name]
            if bounds[j, 0] < lo - 1e-12 or bounds[j, 1] > hi + 1e-12:
                raise CellTypeError(
                    f"intrinsic bounds of {name!r} are [{bounds[j, 0]:g}, {bounds[j, 1]:g}], wider "
                    f"than the package's [{lo:g}, {hi:g}] (a file edited or written elsewhere?); "
                    "derive the parameters again with `neuromod physiology`"
                )
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
