"""Controls of the data-derived modulation gate: what MDGL's gate becomes when the data's
specificity is removed in one defined way. Plain numpy, no torch.

The gate ``G`` is the K × K sender → receiver matrix of :meth:`CellTypeStructure.gate` (weighted,
largest entry 1). Each control keeps the neurons, their types and every other part of the network
and changes only the gate (docs/design.md, "Gate controls"):

``label-permuted`` (:func:`label_permuted`)
    one random permutation ``π`` of the type labels, applied to senders and receivers alike:
    ``G'[a, b] = G[π(a), π(b)]``. Keeps the graph's shape (degrees, reciprocity, self-coupling on the
    diagonal) but attaches it to the wrong types. ``π`` is never the identity.
``grid-shuffled`` (:func:`grid_shuffled`)
    the K² entries of ``G`` in a random order: keeps the distribution of coupling strengths, destroys
    both the assignment to types and the graph's shape. Never returns ``G`` itself.
``uniform`` (:func:`uniform`)
    every entry equal to the mean of ``G``: the same total strength, no specificity at all.
``ei``
    not a K × K gate: MDGL groups the neurons by sign only (two types, E and I, all pairs coupled with
    weight 1), the modulation of the paper. :func:`control_gate` returns ``(None, True)`` for it;
    the caller changes the *types* instead of the gate (the structure pools its abundances by sign
    in :meth:`~neuromod_data.structure.CellTypeStructure.control`, the model groups its neurons by
    sign in ``neuromod_models.rules.MDGL``), because a K × K matrix cannot say that.

:func:`control_gate` is the one door to the controls: it works on the gate as a plain array, so
:meth:`CellTypeStructure.control <neuromod_data.structure.CellTypeStructure.control>` and the
models' ``resolve_gate`` (behind ``make_rule(gate=...)``) both hand it the structure's weighted gate
and get the same matrix. This module never imports :mod:`neuromod_data.structure` (the structure
imports it).

Examples
--------
>>> import numpy as np
>>> g = np.array([[1.0, 0.5, 0.0], [0.2, 0.0, 0.1], [0.0, 0.3, 0.4]])
>>> uniform(g).round(3).tolist()[0]
[0.278, 0.278, 0.278]
>>> bool(np.allclose(sorted(grid_shuffled(g, seed=0).ravel()), sorted(g.ravel())))
True
"""

from __future__ import annotations

import numpy as np

from neuromod_data.errors import CellTypeError
from neuromod_data.names import CONTROLS

__all__ = ["control_gate", "grid_shuffled", "label_permuted", "label_permutation", "uniform"]


def _square(gate: np.ndarray) -> np.ndarray:
    g = np.asarray(gate, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise CellTypeError(f"a gate is a square K × K matrix, got shape {g.shape}")
    return g


def label_permutation(k: int, *, seed: int = 0) -> np.ndarray:
    """A uniformly random permutation of ``range(k)`` other than the identity (for ``k ≥ 2``).

    Examples
    --------
    >>> label_permutation(4, seed=1).tolist() != [0, 1, 2, 3]
    True
    """
    if k < 2:
        raise CellTypeError(f"a label permutation needs at least 2 types, got {k}")
    rng = np.random.default_rng(seed)
    while True:  # rejection: each non-identity permutation equally likely
        perm = rng.permutation(k)
        if np.any(perm != np.arange(k)):
            return perm


def label_permuted(gate: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """``G'[a, b] = G[π(a), π(b)]`` for one random non-identity permutation ``π`` of the types.

    Examples
    --------
    >>> g = np.arange(9.0).reshape(3, 3)
    >>> p = label_permutation(3, seed=0)
    >>> bool(np.array_equal(label_permuted(g, seed=0), g[np.ix_(p, p)]))
    True
    """
    g = _square(gate)
    perm = label_permutation(g.shape[0], seed=seed)
    return g[np.ix_(perm, perm)]


def grid_shuffled(gate: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The K² entries of ``G`` in a uniformly random order (redrawn while it equals ``G``; a gate
    whose entries are all equal has no other order and is refused)."""
    g = _square(gate)
    flat = g.ravel()
    if np.all(flat == flat[0]):
        raise CellTypeError("grid-shuffled control of a constant gate: every order is the same")
    rng = np.random.default_rng(seed)
    while True:
        out = flat[rng.permutation(flat.size)].reshape(g.shape)
        if not np.array_equal(out, g):
            return out


def uniform(gate: np.ndarray) -> np.ndarray:
    """Every entry equal to the mean of ``G`` (same total strength, no specificity)."""
    g = _square(gate)
    return np.full_like(g, float(g.mean()))


def control_gate(gate: np.ndarray, kind: str, *, seed: int = 0) -> tuple[np.ndarray | None, bool]:
    """The gate of control ``kind`` built from the data gate ``gate``, as ``(G, use_ei_types)``.

    Parameters
    ----------
    gate
        The data gate, K × K, sender type → receiver type: the weighted gate of a structure
        (``structure.gate()``, largest entry 1). An object with a ``gate()`` method (a
        :class:`~neuromod_data.structure.CellTypeStructure`) is read for its weighted gate, as
        earlier versions took it.
    kind
        A name of :data:`neuromod_data.names.CONTROLS`.
    seed
        Seed of the random draw (the permutation of ``label-permuted``, the order of
        ``grid-shuffled``); ``uniform`` and ``ei`` draw nothing.

    Returns
    -------
    tuple
        ``(G, False)`` with ``G`` the control's K × K gate (float64) for ``label-permuted``,
        ``grid-shuffled`` and ``uniform``; ``(None, True)`` for ``ei``: no K × K gate, MDGL groups
        the neurons into excitatory and inhibitory instead (see the module docstring).

    Raises
    ------
    ValueError
        ``kind`` is not a control.
    CellTypeError
        ``gate`` is not square, or admits no such control (one type; a constant gate shuffled).

    Examples
    --------
    >>> g = np.array([[1.0, 0.5], [0.0, 0.25]])
    >>> control_gate(g, "uniform")[0].tolist()
    [[0.4375, 0.4375], [0.4375, 0.4375]]
    >>> control_gate(g, "label-permuted", seed=0)[0].tolist()  # the only other order of 2 types
    [[0.25, 0.0], [0.5, 1.0]]
    >>> control_gate(g, "ei")
    (None, True)
    """
    if kind not in CONTROLS:
        raise ValueError(f"unknown control {kind!r}; choose one of {', '.join(CONTROLS)}")
    if kind == "ei":
        return None, True
    if hasattr(gate, "gate"):  # duck-typed: importing the structure here would close a circle
        gate = gate.gate(kind="weighted")
    if kind == "label-permuted":
        return label_permuted(gate, seed=seed), False
    if kind == "grid-shuffled":
        return grid_shuffled(gate, seed=seed), False
    return uniform(gate), False
