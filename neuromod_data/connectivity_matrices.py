"""Type-to-type connectivity: connection probability and strength, presynaptic type →
postsynaptic type (row = pre, column = post), the record a
:class:`~neuromod_data.structure.CellTypeStructure` carries. Built from published tables by
:mod:`neuromod_data.connectivity`. Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuromod_data.errors import CellTypeError


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
