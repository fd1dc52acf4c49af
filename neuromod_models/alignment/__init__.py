"""Gradient alignment: how close each learning rule's gradient comes to BPTT's, gate by gate.

On one network and one batch, every *arm* (a learning rule with a gate) gives a gradient of the
recurrent and input weights (concatenated, the parameters ``θ`` of
:class:`~neuromod_models.SpikingNetwork`); the alignment of an arm is the cosine between its
gradient and BPTT's, the ratio of their norms, and the cosine and relative distance to the
``exact`` arm (MDGL's exact one-step truncation, ``W̃ = W^rec``). docs/design.md, "Gradient
alignment", gives the arms and the statistics; the arms are

``eprop``
    no modulation;
``ones``
    MDGL with G = 1 over the K types (docs/design.md, "Gate controls": the positive anchor);
``ei``
    MDGL on two types, E and I (the paper's modulation);
``data``
    MDGL with the structure's weighted gate;
``label-permuted``
    the data gate on permuted type labels, every non-identity permutation when K ≤ 7 (the exact
    permutation null), else ``permutations`` distinct random ones;
``grid-shuffled``
    ``grid_draws`` random orders of the gate's K² entries;
``uniform``
    every entry the mean of the data gate;
``exact``
    MDGL with ``W̃ = W^rec`` (variant ``exact``, no gate).

**Why every arm is cheap.** All e-prop-family gradients are ``g = A(L̃)``, where ``A`` is e-prop's
backward pass (element-wise per neuron, linear in the learning signal) and, for MDGL,
``L̃_p = L_p + Σ_j W̃_jp u_j^{t+1}`` with ``u_j = (1 − α_j) ψ_j L_j``. With a type gate,
``W̃_jp = G[a, b]·W̄[a, b]·[W_jp ≠ 0]`` (local; ``a = type(j)``, ``b = type(p)``) depends on the pair
of neurons only through their types, so

``g_p· = A(L)_p· + Σ_a C[a, type(p)] · A(S_a)_p·``,  ``S_a,p = Σ_{j ∈ a, W_jp ≠ 0} u_j^{t+1}``,

with ``C = G ⊙ W̄``: one e-prop backward pass for ``L`` and one for each of the K type signals
``S_a`` (plus one for the exact arm's ``Σ_j W_jp u_j``) serve every gate. The E/I arm is the same
sum with ``C[a, b] = W̄^EI[sign(a), sign(b)]`` (E and I are unions of types); ``nonlocal`` MDGL
drops the ``[W_jp ≠ 0]``. Cosines, norms and distances then need only the Gram matrix of these
K + 3 vectors (BPTT's included) over the weights of each postsynaptic type: per arm
O(K³), whatever the network's size. One forward pass, one BPTT pass and one multi-signal e-prop
pass (:func:`_multi_backward`, a compiled kernel) per network and batch serve all arms.

Examples
--------
>>> import numpy as np, torch
>>> from neuromod_data.structure import CellTypeStructure
>>> from neuromod_models import SpikingNetwork
>>> mod = np.zeros((1, 3, 3)); mod[0, 0, 1] = 1.0; mod[0, 2, 2] = 0.5
>>> st = CellTypeStructure(names=("a", "b", "c"), abundances=np.ones(3), signs=np.array([1, -1, 1]),
...                        modulation=mod, pairs=("p",))
>>> arms = make_arms(st)
>>> len(arms), arms.exact_null          # 6 single arms, 3! - 1 permutations, 99 grid shuffles
(110, True)
>>> net = SpikingNetwork(4, 12, 2, structure=st, p_rec=0.3, p_out=0.5, seed=0)
>>> x = (torch.rand(50, 3, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()
>>> s = score_arms(net, x, lambda y: (y**2).mean(), arms)
>>> float(s.cosine[arms.index("exact")]) > float(s.cosine[arms.index("eprop")]) - 1.0
True
"""

from __future__ import annotations

# the private names benchmarks/bench_align.py times, and EXACT_NULL_MAX_K, where they were
from ._kernels import _KERNEL as _KERNEL
from ._kernels import _kernel as _kernel
from ._kernels import _multi_backward as _multi_backward
from .arms import ARMS, Arms, make_arms
from .arms import EXACT_NULL_MAX_K as EXACT_NULL_MAX_K
from .figure import plot_alignment
from .run import TABLE_COLUMNS, align, reference_states
from .scoring import ArmScores, score_arms
from .scoring import _bptt_grads as _bptt_grads
from .scoring import _forward as _forward
from .stats import SUMMARY_COLUMNS, permutation_rank, summarize

__all__ = [
    "ARMS",
    "Arms",
    "ArmScores",
    "SUMMARY_COLUMNS",
    "TABLE_COLUMNS",
    "align",
    "make_arms",
    "permutation_rank",
    "plot_alignment",
    "reference_states",
    "score_arms",
    "summarize",
]
