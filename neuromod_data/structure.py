"""The hand-off from the data side to the models: cell types, their abundances, E/I signs and the
modulation tensor. Plain numpy, no torch.

Orientation convention used everywhere: ``modulation[p, a, b]`` is the coupling of ligand-receptor
pair ``p`` from **sender** type ``a`` (expresses the ligand) to **receiver** type ``b`` (expresses the
receptor).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuromod_data._files import atomic_path, require_file
from neuromod_data.errors import CellTypeError, FormatError

_FORMAT_VERSION = 1


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

    Examples
    --------
    >>> s = CellTypeStructure.ei(frac_excitatory=0.8)
    >>> s.names, s.signs.tolist(), s.gate().tolist()
    (('E', 'I'), [1, -1], [[1.0, 1.0], [1.0, 1.0]])
    """

    names: tuple[str, ...]
    abundances: np.ndarray
    signs: np.ndarray
    modulation: np.ndarray
    pairs: tuple[str, ...]
    classes: tuple[str, ...] | None = None
    colors: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

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

        ``weighted`` sums the pair couplings (scaled so the largest entry is 1 when ``normalize``);
        ``binary`` is 1 where any pair couples the two types.
        """
        summed = self.modulation.sum(axis=0)
        if kind == "binary":
            return (summed > 0).astype(np.float64)
        if kind != "weighted":
            raise ValueError(f"kind must be 'weighted' or 'binary', got {kind!r}")
        if normalize and summed.max() > 0:
            summed = summed / summed.max()
        return summed

    def control(
        self, kind: Literal["data", "shuffled", "uniform", "ei"], *, seed: int = 0
    ) -> CellTypeStructure:
        """A control structure for the modulation experiments.

        ``shuffled`` permutes sender and receiver labels of the modulation tensor independently (keeping
        its values and density), ``uniform`` couples all types equally (same total strength),
        ``ei`` keeps two types (excitatory and inhibitory) with abundances pooled by sign.
        """
        if kind == "data":
            return self
        if kind == "shuffled":
            rng = np.random.default_rng(seed)
            k = self.n_types
            flat = self.modulation.reshape(self.n_pairs, k * k)
            perm = rng.permutation(k * k)
            mod = flat[:, perm].reshape(self.modulation.shape)
            return self._replace(
                modulation=mod, meta={**self.meta, "control": "shuffled", "seed": seed}
            )
        if kind == "uniform":
            total = self.modulation.sum(axis=0)
            level = total.mean() if total.mean() > 0 else 1.0
            mod = np.full((1, self.n_types, self.n_types), level)
            return self._replace(
                modulation=mod, pairs=("uniform",), meta={**self.meta, "control": "uniform"}
            )
        if kind == "ei":
            exc = float(self.abundances[self.signs > 0].sum())
            return CellTypeStructure.ei(frac_excitatory=exc, meta={**self.meta, "control": "ei"})
        raise ValueError(f"unknown control {kind!r}; choose data, shuffled, uniform or ei")

    def with_abundances(
        self, abundances: Mapping[str, float], *, source: str | None = None
    ) -> CellTypeStructure:
        """The same structure with each type's abundance taken from ``abundances`` (by name).

        Use it to replace sampled cell numbers by tissue counts (see
        :func:`neuromod_data.abundances.tissue_abundances`); ``source`` is recorded in ``meta``.

        Examples
        --------
        >>> s = CellTypeStructure.ei().with_abundances({"E": 3, "I": 1}, source="by hand")
        >>> s.abundances.tolist(), s.meta["abundances_source"]
        ([0.75, 0.25], 'by hand')
        """
        missing = [n for n in self.names if n not in abundances]
        if missing:
            raise CellTypeError(f"no abundance given for types {missing}")
        meta = {**self.meta, "sampled_abundances": self.abundances.tolist()}
        if source is not None:
            meta["abundances_source"] = source
        ab = np.array([float(abundances[n]) for n in self.names])
        return self._replace(abundances=ab, meta=meta)

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
        """Write the structure to a ``.npz`` file (atomically). Returns the path."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                format_version=np.array(_FORMAT_VERSION),
                names=np.array(self.names, dtype=str),
                abundances=self.abundances,
                signs=self.signs,
                modulation=self.modulation,
                pairs=np.array(self.pairs, dtype=str),
                classes=np.array(self.classes or (), dtype=str),
                colors=np.array(self.colors or (), dtype=str),
                meta=np.array(json.dumps(self.meta, default=str)),
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CellTypeStructure:
        """Read a structure written by :meth:`save`."""
        p = require_file(path, "structure file")
        try:
            with np.load(p, allow_pickle=False) as z:
                version = int(z["format_version"])
                if version != _FORMAT_VERSION:
                    raise FormatError(
                        f"{p}: structure format version {version}, expected {_FORMAT_VERSION}"
                    )
                classes = tuple(z["classes"].tolist()) or None
                colors = tuple(z["colors"].tolist()) or None
                return cls(
                    names=tuple(z["names"].tolist()),
                    abundances=z["abundances"],
                    signs=z["signs"],
                    modulation=z["modulation"],
                    pairs=tuple(z["pairs"].tolist()),
                    classes=classes,
                    colors=colors,
                    meta=json.loads(str(z["meta"])),
                )
        except (KeyError, ValueError, OSError) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"{p} is not a neuromod structure file: {exc}") from exc

    def __repr__(self) -> str:
        n_exc = int((self.signs > 0).sum())
        return (
            f"CellTypeStructure({self.n_types} types ({n_exc} E, {self.n_types - n_exc} I), "
            f"{self.n_pairs} pairs, density {float((self.gate(kind='binary') > 0).mean()):.2f})"
        )
