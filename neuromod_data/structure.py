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

The records it carries live in their own modules: :mod:`neuromod_data.intrinsic_parameters`
(:class:`IntrinsicParameters`, the parameters' names, units, paper values and bounds) and
:mod:`neuromod_data.connectivity_matrices` (:class:`Connectivity`); both are importable from here.
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
from neuromod_data.connectivity_matrices import Connectivity, _pool_connectivity
from neuromod_data.controls import control_gate
from neuromod_data.errors import CellTypeError, FormatError
from neuromod_data.intrinsic_parameters import (
    BOUNDS,
    PAPER_VALUES,
    PARAMETER_UNITS,
    PARAMETERS,
    IntrinsicParameters,
    _pool_intrinsic,
    sample_lognormal,
)

#: version written by :meth:`CellTypeStructure.save`; 2 added intrinsic parameters and connectivity
_FORMAT_VERSION = 2
#: versions :meth:`CellTypeStructure.load` reads (1: without intrinsic parameters or connectivity)
_READABLE_VERSIONS = (1, 2)

__all__ = [
    "BOUNDS",
    "PAPER_VALUES",
    "PARAMETERS",
    "PARAMETER_UNITS",
    "CellTypeStructure",
    "Connectivity",
    "IntrinsicParameters",
    "sample_lognormal",
]


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
        with open(p, "rb") as fh:
            head = fh.read(4)
        if head not in (b"PK\x03\x04", b"PK\x05\x06"):
            # np.load reads anything that is no zip or .npy as a pickle and, refused, suggests
            # loading it unsafely: name what the file is instead
            kind = "a PNG image" if head == b"\x89PNG" else "not a .npz (zip) archive"
            raise FormatError(
                f"{p} is not a neuromod structure file (a .npz archive written by "
                f"neuromod graph or CellTypeStructure.save): it is {kind}"
            )
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
