"""MDGL's modulatory weights: type-averaged recurrent weights, gated by the data-derived graph.

MDGL (Liu et al. 2021) replaces the per-synapse weight ``Wrec_jp`` of the one-step credit term by a
cell-type average ``W̄_{type(j)←type(p)}`` recomputed every iteration from the current weights:

``local``
    ``W̄_{a←b}`` = mean of the nonzero ``Wrec_jp`` with ``j ∈ a``, ``p ∈ b``; the signal reaches only
    ``p``'s synaptic targets: ``W̃_jp = [Wrec_jp ≠ 0]·W̄_{type(j)←type(p)}``.
``nonlocal``
    block means including zeros (``sum / (n_a·n_b)``), signal to every neuron of the type, the
    neuron itself included (``W̃_jp = W̄_{type(j)←type(p)}`` for all ``j``, as the authors'
    NL-MDGL sums over all ``j`` of a type): diffusive signalling.
``exact``
    the per-synapse weight itself, ``W̃ = Wrec`` (the one-step truncation MDGL approximates).

Modulation that follows the data: with K transcriptomic types and a gate ``G`` (K × K, sender
``a`` → receiver ``b``, from :meth:`CellTypeStructure.gate`), the modulatory signal that neurons of
type ``a`` emit reaches neurons of type ``b`` in proportion to ``G[a, b]``:
``W̄_{a←b} → G[a, b]·W̄_{a←b}`` (for ``exact``, ``W̃_jp = G[type(j), type(p)]·Wrec_jp``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from neuromod_data.controls import control_gate
from neuromod_data.names import GATES, MDGL_VARIANTS
from neuromod_data.structure import CellTypeStructure

from ._fast import Modulation, Synapses

__all__ = [
    "check_gate",
    "modulation_terms",
    "modulatory_matrix",
    "resolve_gate",
    "type_averaged_weights",
]

VARIANTS = MDGL_VARIANTS


def _onehot(type_index: Tensor, n_types: int, dtype: torch.dtype) -> Tensor:
    return torch.nn.functional.one_hot(type_index.long(), n_types).to(dtype)


def type_averaged_weights(
    w_rec: Tensor,
    type_index: Tensor,
    n_types: int,
    *,
    variant: Literal["local", "nonlocal"] = "local",
) -> Tensor:
    """``W̄`` ``[K, K]``, ``W̄[a, b]`` = average weight from type ``b`` (pre) to type ``a`` (post).

    ``local``: mean of the nonzero weights of the block (0 for a block without synapses);
    ``nonlocal``: block sum over ``n_a·n_b`` (zeros included).

    Examples
    --------
    >>> w = torch.tensor([[0.0, 2.0, -1.0], [4.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    >>> type_averaged_weights(w, torch.tensor([0, 0, 1]), 2).tolist()
    [[3.0, -1.0], [1.0, 0.0]]
    >>> type_averaged_weights(w, torch.tensor([0, 0, 1]), 2, variant="nonlocal").tolist()
    [[1.5, -0.5], [1.0, 0.0]]
    """
    w = w_rec.detach()
    onehot = _onehot(type_index.to(w.device), n_types, w.dtype)
    sums = onehot.T @ w @ onehot
    if variant == "local":
        counts = onehot.T @ (w != 0).to(w.dtype) @ onehot
    elif variant == "nonlocal":
        n_per = onehot.sum(0)
        counts = n_per[:, None] * n_per[None, :]
    else:
        raise ValueError(
            f"variant must be 'local' or 'nonlocal' for type averages, got {variant!r}"
        )
    return torch.where(counts > 0, sums / counts.clamp(min=1), torch.zeros_like(sums))


def modulation_terms(
    w_vals: Tensor,
    synapses: Synapses,
    type_index: Tensor,
    n_types: int,
    *,
    variant: Literal["local", "nonlocal", "exact"] = "local",
    gate: Tensor | np.ndarray | None = None,
) -> Modulation:
    """MDGL's ``W̃`` from the recurrent weights at the synapses, in the form the sequence code uses
    (detached; O(nnz + K²), nothing of size N × N).

    ``local``: per synapse ``j ← p``, ``G[a, b]·W̄_{a←b}`` (``a = type(j)``, ``b = type(p)``; 0 on a
    cut synapse), gathered over each neuron's synapses; ``exact``: ``G[a, b]·Wrec_jp``;
    ``nonlocal``: ``G[a, b]·W̄_{a←b}`` for every pair, summed per type.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown MDGL variant {variant!r}; choose one of {VARIANTS}")
    w = w_vals.detach()
    ti = type_index.to(w.device).long()
    g = None
    if gate is not None:
        g = torch.as_tensor(np.asarray(gate), dtype=w.dtype, device=w.device)
        if g.shape != (n_types, n_types):
            raise ValueError(f"gate has shape {tuple(g.shape)}, expected ({n_types}, {n_types})")
    t_post, t_pre = ti[synapses.post.to(w.device)], ti[synapses.pre.to(w.device)]
    if variant == "exact":
        w_mod = w if g is None else w * g[t_post, t_pre]
        return Modulation("gather", w_mod=w_mod)
    flat = t_post * n_types + t_pre
    sums = torch.zeros(n_types * n_types, dtype=w.dtype, device=w.device).index_add_(0, flat, w)
    if variant == "local":
        nonzero = (w != 0).to(w.dtype)
        counts = torch.zeros_like(sums).index_add_(0, flat, nonzero)
    else:
        n_per = torch.bincount(ti, minlength=n_types).to(w.dtype)
        counts = (n_per[:, None] * n_per[None, :]).reshape(-1)
    wbar = torch.where(counts > 0, sums / counts.clamp(min=1), torch.zeros_like(sums))
    wbar = wbar.reshape(n_types, n_types)
    if g is not None:
        wbar = wbar * g
    if variant == "local":
        return Modulation("gather", w_mod=wbar[t_post, t_pre] * nonzero)
    return Modulation("typesum", type_index=ti, m_type=wbar)


def modulatory_matrix(
    w_rec: Tensor,
    type_index: Tensor,
    n_types: int,
    *,
    variant: Literal["local", "nonlocal", "exact"] = "local",
    gate: Tensor | np.ndarray | None = None,
) -> Tensor:
    """MDGL's ``W̃`` ``[N, N]`` (``[j, p]``: from the modulated neuron ``j`` back to ``p``), detached,
    from a dense ``[post, pre]`` weight matrix (a reference and a view for analysis; training uses
    :func:`modulation_terms`).

    ``gate`` is ``G`` (K × K, sender type → receiver type) or ``None`` (all ones).
    """
    w = w_rec.detach()
    syn = Synapses.from_mask(w != 0)
    terms = modulation_terms(
        w[syn.post, syn.pre], syn, type_index, n_types, variant=variant, gate=gate
    )
    return terms.dense(syn)


def resolve_gate(
    structure: CellTypeStructure, gate: str | None, *, seed: int = 0
) -> tuple[np.ndarray | None, bool]:
    """Turn a gate name (:data:`neuromod_data.names.GATES`) into ``(G, use_ei_types)``.

    ``"ones"``: G = 1 over the structure's K types (every type pair coupled with weight 1: MDGL's
    derivation, the positive anchor of the controls; docs/design.md, "Gate controls"), returned as
    an explicit K × K matrix of ones; ``None`` / ``"none"``: the same modulation as ``"ones"``
    without a matrix (``G = None`` means all ones; kept as a synonym); ``"data"``: the
    weighted gate of the structure (largest entry 1); ``"binary"``: 1 where any ligand-receptor pair
    couples the types; ``"label-permuted"``, ``"grid-shuffled"``, ``"uniform"``, ``"ei"``: the
    controls of :mod:`neuromod_data.controls` (``seed`` draws the permutation).

    Examples
    --------
    >>> g, ei = resolve_gate(CellTypeStructure.ei(), "data")
    >>> g.tolist(), ei
    ([[1.0, 1.0], [1.0, 1.0]], False)
    >>> resolve_gate(CellTypeStructure.ei(), "ones")[0].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    if gate is None or gate == "none":
        return None, False
    if gate == "ones":
        # multiplying W̄ by exact ones changes no bit: the same gradient as "none"
        return np.ones((structure.n_types, structure.n_types)), False
    if gate == "data":
        return structure.gate(kind="weighted"), False
    if gate == "binary":
        return structure.gate(kind="binary"), False
    check_gate(gate)
    # the controls' one door, on the same weighted gate as "data" (so a control is built from
    # exactly the matrix the data run uses); "ei" comes back as (None, True)
    return control_gate(structure.gate(kind="weighted"), gate, seed=seed)


def check_gate(gate: str | None) -> None:
    """Refuse a gate name that is not in :data:`neuromod_data.names.GATES` (or ``None``)."""
    if gate is None or gate in GATES:
        return
    if gate == "shuffled":
        raise ValueError(
            "gate 'shuffled' was ambiguous and is gone: use 'label-permuted' (one permutation of the "
            "type labels) or 'grid-shuffled' (the K×K entries shuffled)"
        )
    raise ValueError(f"unknown gate {gate!r}; choose one of {', '.join(GATES)}")
