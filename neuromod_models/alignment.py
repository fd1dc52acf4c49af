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

import itertools
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from neuromod_data.controls import grid_shuffled, uniform
from neuromod_data.errors import CellTypeError
from neuromod_data.structure import CellTypeStructure

from . import _fast
from .network import SpikingNetwork

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

#: the arms in the order they are reported
ARMS: tuple[str, ...] = (
    "eprop",
    "ones",
    "ei",
    "data",
    "label-permuted",
    "grid-shuffled",
    "uniform",
    "exact",
)
#: columns of the per-(seed, batch, checkpoint, arm draw) table of :func:`align`
TABLE_COLUMNS: tuple[str, ...] = (
    "seed",
    "batch",
    "checkpoint",
    "arm",
    "draw",
    "label",
    "cosine",
    "norm_ratio",
    "cosine_exact",
    "distance_exact",
    "bptt_norm",
    "loss",
)
#: columns of :func:`summarize`
SUMMARY_COLUMNS: tuple[str, ...] = (
    "checkpoint",
    "arm",
    "n_draws",
    "n_seeds",
    "mean_cosine",
    "sd_cosine",
    "mean_norm_ratio",
    "mean_cosine_exact",
    "mean_distance_exact",
    "diff_to_data",
    "diff_ci_low",
    "diff_ci_high",
    "perm_rank",
    "perm_p",
    "n_perms",
    "perm_exact",
    "perm_mean",
    "gap_closed_perm_to_ones",
    "position_eprop_to_exact",
)

# arm kinds: how an arm's coefficients on the basis vectors are built
_EPROP, _GATED, _EI, _EXACT = 0, 1, 2, 3
#: K up to which every label permutation is scored (7! - 1 = 5,039 arms, a few ms per network)
EXACT_NULL_MAX_K = 7


class Arms(NamedTuple):
    """The arms to score: one entry per arm draw (``label-permuted`` and ``grid-shuffled`` have many).

    ``name``: the arm (:data:`ARMS`); ``draw``: the draw's number within its arm (0 for single arms);
    ``label``: the permutation (``"2 0 1"``: type ``a`` takes the gate of type ``π(a)``) or the
    grid shuffle's seed; ``kind``: how the arm modulates; ``gates`` ``[n, K, K]``: the gate of a
    gated arm (ones elsewhere); ``exact_null``: every non-identity permutation is there.
    """

    name: tuple[str, ...]
    draw: np.ndarray
    label: tuple[str, ...]
    kind: np.ndarray
    gates: np.ndarray
    exact_null: bool

    def __len__(self) -> int:  # type: ignore[override]
        return len(self.name)

    def index(self, name: str, draw: int = 0) -> int:  # type: ignore[override]
        """Position of draw ``draw`` of arm ``name``."""
        for i, (n, d) in enumerate(zip(self.name, self.draw)):
            if n == name and int(d) == draw:
                return i
        raise KeyError(f"no arm {name!r} draw {draw}")


def _permutations(k: int, n: int, seed: int) -> tuple[list[np.ndarray], bool]:
    """Every non-identity permutation of ``range(k)`` (``k ≤ 7``), else ``n`` distinct random ones."""
    if k <= EXACT_NULL_MAX_K:
        perms = [np.array(p) for p in itertools.permutations(range(k))]
        return perms[1:], True  # the first is the identity
    rng = np.random.default_rng([int(seed), 1])
    seen = {tuple(range(k))}
    out = []
    while len(out) < n:
        p = rng.permutation(k)
        if tuple(p) not in seen:
            seen.add(tuple(p))
            out.append(p)
    return out, False


def make_arms(
    structure: CellTypeStructure,
    *,
    permutations: int = 999,
    grid_draws: int = 99,
    seed: int = 0,
) -> Arms:
    """The arms of :data:`ARMS` for ``structure``'s data gate.

    Parameters
    ----------
    structure
        Types, signs and the data gate (:meth:`CellTypeStructure.gate`).
    permutations
        Random label permutations when K > 7 (with K ≤ 7 all K! − 1 are used).
    grid_draws
        Grid shuffles (seeds ``seed``, ``seed + 1``, …; none when the gate is constant).
    seed
        Seed of the random permutations and grid shuffles.

    Examples
    --------
    >>> arms = make_arms(CellTypeStructure.ei(), grid_draws=0)
    >>> list(zip(arms.name, arms.label))[3:5]
    [('data', ''), ('label-permuted', '1 0')]
    """
    if int(permutations) < 1 or int(grid_draws) < 0:
        raise ValueError("permutations must be >= 1 and grid_draws >= 0")
    k = structure.n_types
    if k < 2:
        raise CellTypeError("gradient alignment needs a structure with at least 2 types")
    data = structure.gate(kind="weighted")
    ones = np.ones((k, k))
    rows: list[tuple[str, int, str, int, np.ndarray]] = [
        ("eprop", 0, "", _EPROP, ones),
        ("ones", 0, "", _GATED, ones),
        ("ei", 0, "", _EI, ones),
        ("data", 0, "", _GATED, data),
    ]
    perms, exact = _permutations(k, int(permutations), seed)
    for d, p in enumerate(perms):
        rows.append(("label-permuted", d, " ".join(map(str, p)), _GATED, data[np.ix_(p, p)]))
    flat = data.ravel()
    if not np.all(flat == flat[0]):  # a constant gate has no other order
        for d in range(int(grid_draws)):
            g = grid_shuffled(data, seed=int(seed) + d)
            rows.append(("grid-shuffled", d, str(int(seed) + d), _GATED, g))
    rows.append(("uniform", 0, "", _GATED, uniform(data)))
    rows.append(("exact", 0, "", _EXACT, ones))
    name, draw, label, kind, gates = zip(*rows)
    return Arms(
        tuple(name),
        np.array(draw, dtype=np.int64),
        tuple(label),
        np.array(kind, dtype=np.int64),
        np.stack(gates).astype(np.float64),
        exact,
    )


# ----------------------------------------------------------------------------- kernels
def _multi_backward(
    x, z, psi, gy, fb, gzc, alpha, rho, beta, v_th, kappa, indptr, post, in_indptr, in_pre,
    w_by_post, type_index, n_types, nonlocal_, g_rec, g_in,
):  # fmt: skip  # pragma: no cover - compiled; the body also runs uncompiled without numba
    """e-prop's backward pass for K + 2 learning signals at once, with event-driven gradients.

    Signals (``s``): 0 = e-prop's ``L``; ``1 + a`` = ``S_a`` (what type ``a`` sends back: the sum of
    ``u_j = (1 − α_j) ψ_j L_j`` of the next step over the neurons ``j`` of type ``a`` that ``p``
    contacts through a nonzero weight, or over all of them when ``nonlocal_``); ``K + 1`` =
    ``Σ_j W_jp u_j`` (the exact one-step term). ``w_by_post``: the recurrent weights in the order of
    ``in_pre`` (synapses grouped by postsynaptic neuron). Accumulates ``g_rec`` ``[nnz, S]``
    (synapse order of ``indptr``) and ``g_in`` ``[n_in, N, S]``; the adjoint is that of
    :mod:`neuromod_models._kernels` (docs/design.md, "e-prop").
    """
    t_len, bsz, n = psi.shape
    n_in = x.shape[2]
    n_out = gy.shape[2]
    n_sig = n_types + 2
    last = n_sig - 1
    av = np.zeros((bsz, n_sig, n))
    ab = np.zeros((bsz, n_sig, n))
    u = np.zeros((bsz, n))  # u of step t + 1, per trial
    sig = np.zeros((n_sig, n))
    delta = np.zeros((n, n_sig))
    acc = np.zeros((bsz, n_out))
    gyf = np.zeros(n_out)
    tot = np.zeros(n_types)
    om = np.empty(n)
    omr = np.empty(n)
    for j in range(n):
        om[j] = 1.0 - alpha[j]
        omr[j] = 1.0 - rho[j]
    for t in range(t_len - 1, -1, -1):
        for b in range(bsz):
            # readout: (1 - κ) Σ_{t' ≥ t} κ^{t'-t} ∂E/∂y^{t'}
            for k in range(n_out):
                acc[b, k] = gy[t, b, k] + kappa * acc[b, k]
                gyf[k] = (1.0 - kappa) * acc[b, k]
            for s in range(n_sig):
                for j in range(n):
                    sig[s, j] = 0.0
            for j in range(n):
                lj = gzc[j]
                for k in range(n_out):
                    lj += fb[k, j] * gyf[k]
                sig[0, j] = lj
            ub = u[b]
            if nonlocal_:
                for a in range(n_types):
                    tot[a] = 0.0
                for j in range(n):
                    tot[type_index[j]] += ub[j]
                for a in range(n_types):
                    for p in range(n):
                        sig[1 + a, p] = tot[a]
            for j in range(n):
                uj = ub[j]
                if uj != 0.0:
                    row = 1 + type_index[j]
                    for m in range(in_indptr[j], in_indptr[j + 1]):
                        p = in_pre[m]
                        w = w_by_post[m]
                        if w != 0.0:
                            if not nonlocal_:
                                sig[row, p] += uj
                            sig[last, p] += w * uj
            for s in range(n_sig):
                avs = av[b, s]
                abs_ = ab[b, s]
                for j in range(n):
                    ps = psi[t, b, j]
                    pg = (sig[s, j] - v_th[j] * avs[j] + omr[j] * abs_[j]) * ps
                    a_new = alpha[j] * avs[j] + pg
                    avs[j] = a_new
                    abs_[j] = rho[j] * abs_[j] - beta[j] * pg
                    delta[j, s] = om[j] * a_new
            for j in range(n):
                ub[j] = om[j] * psi[t, b, j] * sig[0, j]
            if t > 0:
                for q in range(n):
                    zq = z[t - 1, b, q]
                    if zq != 0:
                        for m in range(indptr[q], indptr[q + 1]):
                            dj = delta[post[m]]
                            gr = g_rec[m]
                            for s in range(n_sig):
                                gr[s] += zq * dj[s]
            for i in range(n_in):
                xi = x[t, b, i]
                if xi != 0:
                    gi = g_in[i]
                    for j in range(n):
                        for s in range(n_sig):
                            gi[j, s] += xi * delta[j, s]


_KERNEL: dict[str, Callable] = {}


def _kernel() -> Callable:
    """:func:`_multi_backward`, compiled by numba when the fused rules use compiled kernels too."""
    compiled = _fast.kernels() is not None and os.environ.get("NEUROMOD_NUMBA", "1") != "0"
    key = "compiled" if compiled else "python"
    if key not in _KERNEL:
        if compiled:
            from numba import njit

            _KERNEL[key] = njit(cache=True, nogil=True)(_multi_backward)
        else:
            _KERNEL[key] = _multi_backward
    return _KERNEL[key]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().contiguous().numpy()


# ----------------------------------------------------------------------------- one network
class _Forward(NamedTuple):
    z: Tensor  # [T, B, N] uint8 (compiled) or float (torch loops)
    psi: Tensor
    gy: Tensor  # ∂loss/∂y
    gzc: Tensor  # the regulariser's gradient on every z_j^t
    loss: float


def _forward(
    net: SpikingNetwork, x: Tensor, loss_fn: Callable[[Tensor], Tensor], regularizer: Any
) -> _Forward:
    """Spikes, ψ and the loss gradient on the readout, by the code the fused rules run."""
    p, syn = net.params, net.synapses
    t_len, bsz, _ = x.shape
    n = syn.n
    with torch.no_grad(), _fast.flush_denormal():
        w_in, w_vals, w_out = net.w_in, net.w_rec_values, net.w_out
        compiled = _fast._compiled(x, p)
        if compiled is not None:
            om = 1.0 - p.alpha
            post = syn.post
            z = torch.empty((t_len, bsz, n), dtype=torch.uint8)
            psi = torch.empty((t_len, bsz, n), dtype=x.dtype)
            y = x.new_empty(t_len, bsz, w_out.shape[0])
            counts = torch.zeros(n, dtype=torch.int64)
            compiled["forward"](
                _np(x), _np((w_in * om[:, None]).T), _np(syn.indptr), _np(post),
                _np(w_vals * om[post]), _np(p.alpha), _np(p.rho), _np(p.beta * (1.0 - p.rho)),
                _np(p.v_th), _np(p.gamma / p.v_th), _np(p.n_ref.to(x.dtype)),
                bool((p.beta != 0).any()), _np(w_out.T), float(net.kappa),
                z.numpy(), psi.numpy(), y.numpy(), counts.numpy(),
            )  # fmt: skip
            y = y + net.b_out
            rates = counts.to(x.dtype) / float(t_len * bsz)
        else:
            z, psi = _fast._forward_loop(x, w_in, syn.dense(w_vals), p)
            y = _fast.exp_filter(z @ w_out.T, net.kappa) + net.b_out
            rates = z.mean(dim=(0, 1))
    yl = y.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(yl)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn must return a scalar tensor")
        (gy,) = torch.autograd.grad(loss.reshape(()), yl)
        if regularizer is not None:
            rl = rates.detach().requires_grad_(True)
            (gr,) = torch.autograd.grad(regularizer(rl).reshape(()), rl)
            gzc = gr / float(t_len * bsz)
        else:
            gzc = torch.zeros(n, dtype=x.dtype)
    return _Forward(z, psi, gy, gzc, float(loss.detach()))


def _bptt_grads(
    net: SpikingNetwork, x: Tensor, loss_fn: Callable[[Tensor], Tensor], regularizer: Any
) -> tuple[Tensor, Tensor]:
    """BPTT's gradient of θ_rec and θ_in, by the fused rule's sequence (``.grad`` left alone)."""
    y, rates, _ = net.run(x, net.sequence_config("bptt"))
    total = loss_fn(y).reshape(())
    if regularizer is not None:
        total = total + regularizer(rates).reshape(())
    with _fast.flush_denormal():
        g_rec, g_in = torch.autograd.grad(total, [net.theta_rec, net.theta_in])
    return g_rec, g_in


def _chain(net: SpikingNetwork) -> tuple[Tensor, Tensor]:
    """∂W/∂θ of every recurrent synapse and input weight (sign, mask and the clamp's slope)."""
    th_rec = net.theta_rec.detach().clone().requires_grad_(True)
    th_in = net.theta_in.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        w_rec = net.signs[net.rec_pre] * torch.clamp(th_rec, min=0)
        w_in = net.in_mask * net.in_sign[None, :] * torch.clamp(th_in, min=0)
        (c_rec,) = torch.autograd.grad(w_rec, th_rec, torch.ones_like(w_rec))
        (c_in,) = torch.autograd.grad(w_in, th_in, torch.ones_like(w_in))
    return c_rec, c_in


def _type_means(
    w: np.ndarray, post: np.ndarray, pre: np.ndarray, types: np.ndarray, k: int, variant: str
) -> np.ndarray:
    """``W̄[a, b]`` from type ``b`` (pre) to type ``a`` (post), as :func:`modulation_terms` makes it."""
    flat = types[post] * k + types[pre]
    sums = np.bincount(flat, weights=w, minlength=k * k)
    if variant == "local":
        counts = np.bincount(flat, weights=(w != 0).astype(np.float64), minlength=k * k)
    else:
        n_per = np.bincount(types, minlength=k).astype(np.float64)
        counts = np.outer(n_per, n_per).ravel()
    out = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return out.reshape(k, k)


class ArmScores(NamedTuple):
    """Alignment of every arm on one network and batch (arrays in the order of :class:`Arms`).

    ``cosine``: with BPTT's gradient; ``norm_ratio``: ``|g_arm| / |g_BPTT|``; ``cosine_exact`` and
    ``distance_exact`` (``|g_arm − g_exact| / |g_exact|``): with the exact arm's gradient;
    ``bptt_norm``: ``|g_BPTT|``; ``loss``: the task loss (plus the regulariser's penalty).
    """

    cosine: np.ndarray
    norm_ratio: np.ndarray
    cosine_exact: np.ndarray
    distance_exact: np.ndarray
    bptt_norm: float
    loss: float


def _coefficients(
    arms: Arms, net: SpikingNetwork, wbar: np.ndarray, wbar_ei: np.ndarray
) -> np.ndarray:
    """Each arm's coefficients on the basis ``[BPTT, L, S_1 … S_K, exact]`` for the weights of
    each postsynaptic type: ``[n_arms, K, K + 3]``."""
    k = net.n_types
    n_arms = len(arms)
    coef = np.zeros((n_arms, k, k + 3))
    coef[:, :, 1] = 1.0  # every arm has e-prop's own learning signal
    gated = arms.kind == _GATED
    # C[a, b] = G[a, b] W̄[a, b] multiplies S_a on the weights of postsynaptic type b
    coef[gated, :, 2 : 2 + k] = np.transpose(arms.gates[gated] * wbar[None], (0, 2, 1))
    ei_types = (net.structure.signs < 0).astype(np.int64)
    c_ei = wbar_ei[ei_types[:, None], ei_types[None, :]]  # [a, b]
    coef[arms.kind == _EI, :, 2 : 2 + k] = c_ei.T[None]
    coef[arms.kind == _EXACT, :, k + 2] = 1.0
    return coef


def score_arms(
    net: SpikingNetwork,
    x: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    arms: Arms,
    *,
    variant: str = "local",
    regularizer: Callable[[Tensor], Tensor] | None = None,
) -> ArmScores:
    """Score every arm on ``net`` and the batch ``x`` ``[T, B, n_in]`` (docs/design.md,
    "Gradient alignment"; the module docstring gives the algebra).

    Parameters
    ----------
    net
        The network (its ``.grad`` is left alone); its structure must be the one ``arms`` was made
        from.
    x, loss_fn
        The batch and the task loss of the readout ``y`` (``task.loss_fn(batch)``).
    arms
        From :func:`make_arms`.
    variant
        MDGL's type averages for the gated and E/I arms: ``local`` (default) or ``nonlocal``.
    regularizer
        A penalty on the rates (as the rules take it), part of every arm's loss.

    Returns
    -------
    ArmScores
        One value per arm draw.

    Examples
    --------
    >>> from neuromod_models import SpikingNetwork
    >>> net = SpikingNetwork(4, 12, 2, p_rec=0.3, p_out=0.5, seed=0)
    >>> x = (torch.rand(50, 3, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    >>> arms = make_arms(net.structure, grid_draws=0)
    >>> s = score_arms(net, x, lambda y: (y**2).mean(), arms)
    >>> round(float(s.cosine_exact[arms.index("exact")]), 12)
    1.0
    """
    if variant not in ("local", "nonlocal"):
        raise ValueError(f"variant must be 'local' or 'nonlocal', got {variant!r}")
    k = net.n_types
    if arms.gates.shape[1:] != (k, k):
        raise ValueError(f"the arms were made for {arms.gates.shape[1]} types, the network has {k}")
    net._check_input(x)
    x = x.to(dtype=net.theta_rec.dtype, device=net.theta_rec.device)
    fwd = _forward(net, x, loss_fn, regularizer)
    b_rec, b_in = _bptt_grads(net, x, loss_fn, regularizer)

    syn = net.synapses
    til = syn.tiled()
    types = net.type_index.cpu().numpy().astype(np.int64)
    w = net.w_rec_values.detach().cpu().double().numpy()
    post, pre = syn.post.cpu().numpy(), syn.pre.cpu().numpy()
    fb = net.w_out.detach()
    p = net.params
    n, n_in, nnz = syn.n, net.n_in, syn.nnz
    g_rec = np.zeros((nnz, k + 2))
    g_in = np.zeros((n_in, n, k + 2))
    with _fast.flush_denormal():
        _kernel()(
            _np(x), _np(fwd.z), _np(fwd.psi), _np(fwd.gy), _np(fb), _np(fwd.gzc).astype(np.float64),
            _np(p.alpha).astype(np.float64), _np(p.rho).astype(np.float64),
            _np(p.beta).astype(np.float64), _np(p.v_th).astype(np.float64), float(net.kappa),
            _np(syn.indptr), post, _np(til.in_indptr), _np(til.in_pre),
            np.ascontiguousarray(w[til.in_syn.numpy()]), types, int(k), variant == "nonlocal",
            g_rec, g_in,
        )  # fmt: skip

    # every vector in θ-space (BPTT's is already; the kernel's are ∂E/∂W times ∂W/∂θ), grouped
    # by the type of the postsynaptic neuron of each weight
    c_rec, c_in = (c.detach().cpu().double().numpy() for c in _chain(net))
    bptt_rec = b_rec.detach().cpu().double().numpy()
    bptt_in = b_in.detach().cpu().double().numpy()
    basis_rec = np.concatenate([bptt_rec[:, None], g_rec * c_rec[:, None]], 1)  # [nnz, K + 3]
    g_in_post = np.transpose(g_in, (1, 0, 2)) * c_in[:, :, None]  # [N, n_in, K + 2]
    basis_in = np.concatenate([bptt_in[:, :, None], g_in_post], 2)  # [N, n_in, K + 3]
    gram = np.zeros((k, k + 3, k + 3))
    for b in range(k):
        vr = basis_rec[types[post] == b]
        vi = basis_in[types == b].reshape(-1, k + 3)
        gram[b] = vr.T @ vr + vi.T @ vi

    wbar = _type_means(w, post, pre, types, k, variant)
    ei = (net.signs.cpu().numpy() < 0).astype(np.int64)
    wbar_ei = _type_means(w, post, pre, ei, 2, variant)
    coef = _coefficients(arms, net, wbar, wbar_ei)
    e_exact = np.zeros(k + 3)
    e_exact[[1, k + 2]] = 1.0
    dot_bptt = np.einsum("nbd,bd->n", coef, gram[:, :, 0])
    sq = np.einsum("nbd,bde,nbe->n", coef, gram, coef)
    dot_exact = np.einsum("nbd,bde,e->n", coef, gram, e_exact)
    bptt_sq = float(gram[:, 0, 0].sum())
    exact_sq = float(np.einsum("d,bde,e->", e_exact, gram, e_exact))
    norm = np.sqrt(np.maximum(sq, 0.0))
    bn, en = math.sqrt(bptt_sq), math.sqrt(exact_sq)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot_bptt / (norm * bn)
        cos_ex = dot_exact / (norm * en)
        dist = np.sqrt(np.maximum(sq + exact_sq - 2 * dot_exact, 0.0)) / en
        ratio = norm / bn
    return ArmScores(cos, ratio, cos_ex, dist, bn, fwd.loss)


# ----------------------------------------------------------------------------- statistics
def permutation_rank(value: float, null: Sequence[float] | np.ndarray) -> tuple[int, float]:
    """Rank of ``value`` among the permutation statistics ``null`` (1 = above all of them) and the
    one-sided p-value ``(#{null ≥ value} + 1) / (len(null) + 1)``.

    Ties count against ``value`` (a permutation that reproduces the gate is as good as it).

    Examples
    --------
    >>> permutation_rank(0.5, [0.1, 0.2, 0.5, 0.7])
    (3, 0.6)
    >>> permutation_rank(0.9, [0.1, 0.2, 0.5, 0.7])
    (1, 0.2)
    """
    null = np.asarray(null, dtype=np.float64)
    if null.size == 0:
        raise ValueError("the permutation null is empty")
    ge = int(np.sum(null >= value))
    return ge + 1, (ge + 1) / (null.size + 1)


def _t_ci(d: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t interval of the paired differences ``d`` (NaN bounds for n < 2)."""
    from scipy import stats

    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan, math.nan, math.nan
    m = float(d.mean())
    if d.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return m, m - half, m + half


def summarize(table: Any, *, level: float = 0.95) -> Any:
    """Per checkpoint and arm: means over seeds (of the per-seed means over batches and draws), the
    paired difference to ``data`` with its t interval over seeds, and for ``data`` its permutation
    rank and p (among the label permutations' seed-averaged cosines), its position between the
    label-permuted mean and ``ones`` and between ``eprop`` and ``exact``.

    Parameters
    ----------
    table
        A :class:`pandas.DataFrame` with :data:`TABLE_COLUMNS` (from :func:`align`).
    level
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        :data:`SUMMARY_COLUMNS`, one row per checkpoint and arm present.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [dict(seed=s, batch=0, checkpoint=0, arm=a, draw=d, cosine=c, norm_ratio=1.0,
    ...              cosine_exact=1.0, distance_exact=0.0)
    ...         for s in (0, 1) for a, d, c in [("data", 0, 0.5 + s / 10), ("ones", 0, 0.6),
    ...                                         ("label-permuted", 0, 0.4), ("label-permuted", 1, 0.5)]]
    >>> out = summarize(pd.DataFrame(rows)).set_index("arm")
    >>> int(out.loc["data", "perm_rank"]), int(out.loc["data", "n_perms"])
    (1, 2)
    >>> round(float(out.loc["data", "perm_p"]), 3), round(float(out.loc["data", "gap_closed_perm_to_ones"]), 3)
    (0.333, 0.667)
    """
    import pandas as pd

    t = table
    per_seed = (
        t.groupby(["checkpoint", "arm", "draw", "seed"], sort=False)[
            ["cosine", "norm_ratio", "cosine_exact", "distance_exact"]
        ]
        .mean()
        .reset_index()
    )
    order = {a: i for i, a in enumerate(ARMS)}
    rows = []
    for ckpt, c in per_seed.groupby("checkpoint", sort=True):
        arm_seed = c.groupby(["arm", "seed"])[["cosine"]].mean()["cosine"]  # draws averaged
        data_s = arm_seed.get("data")
        means = {a: float(arm_seed[a].mean()) for a in arm_seed.index.get_level_values(0).unique()}
        perm = c[c["arm"] == "label-permuted"].groupby("draw")["cosine"].mean()
        for arm in sorted(means, key=lambda a: order.get(a, len(order))):
            ca = c[c["arm"] == arm]
            s = arm_seed[arm]
            row: dict[str, Any] = {
                "checkpoint": int(ckpt),
                "arm": arm,
                "n_draws": int(ca["draw"].nunique()),
                "n_seeds": int(ca["seed"].nunique()),
                "mean_cosine": means[arm],
                "sd_cosine": float(s.std(ddof=1)) if len(s) > 1 else math.nan,
                "mean_norm_ratio": float(ca["norm_ratio"].mean()),
                "mean_cosine_exact": float(ca["cosine_exact"].mean()),
                "mean_distance_exact": float(ca["distance_exact"].mean()),
            }
            if data_s is not None and arm != "data":
                d = (s - data_s).dropna().to_numpy()
                row["diff_to_data"], row["diff_ci_low"], row["diff_ci_high"] = _t_ci(d, level)
            if arm == "data" and len(perm):
                rank, p = permutation_rank(means["data"], perm.to_numpy())
                pm = float(perm.mean())
                row.update(
                    perm_rank=rank,
                    perm_p=p,
                    n_perms=int(len(perm)),
                    perm_mean=pm,
                )
                if "ones" in means and means["ones"] != pm:
                    row["gap_closed_perm_to_ones"] = (means["data"] - pm) / (means["ones"] - pm)
            if arm == "data" and "eprop" in means and "exact" in means:
                span = means["exact"] - means["eprop"]
                if span != 0:
                    row["position_eprop_to_exact"] = (means["data"] - means["eprop"]) / span
            rows.append(row)
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    # counts stay integers where only some rows have them
    return out.astype({"perm_rank": "Int64", "n_perms": "Int64"})


# ----------------------------------------------------------------------------- checkpoints
def reference_states(
    structure: CellTypeStructure | None,
    task: Any,
    *,
    seed: int,
    checkpoints: Iterable[int],
    network: dict[str, Any] | None = None,
    batch_size: int = 64,
    lr: float = 2.5e-3,
    variant: str = "local",
    l1: float = 0.0,
    rate_regularizer: Any = None,
) -> dict[int, dict[str, Tensor]]:
    """The reference trajectory of one seed: the network of ``seed`` trained with MDGL and the
    ``ones`` gate (so no gated arm is scored on a network its own gate trained), its state at every
    iteration of ``checkpoints`` (0: the initial network).

    Examples
    --------
    >>> from neuromod_models.tasks import make_task
    >>> task = make_task("evidence_accumulation", T=120, t_cue=10, t_interval=15, recall_duration=20)
    >>> states = reference_states(None, task, seed=0, checkpoints=[0, 2], batch_size=4)
    >>> sorted(states), bool((states[0]["theta_rec"] != states[2]["theta_rec"]).any())
    ([0, 2], True)
    """
    from .rules import make_rule
    from .training import train

    wanted = sorted({int(c) for c in checkpoints})
    if not wanted or wanted[0] < 0:
        raise ValueError(f"checkpoints must be iterations >= 0, got {wanted}")
    net = SpikingNetwork(
        **{**task.network_kwargs(), **(network or {})}, structure=structure, seed=int(seed)
    )
    states: dict[int, dict[str, Tensor]] = {}

    def snapshot(it: int) -> None:
        states[it] = {k: v.detach().clone() for k, v in net.state_dict().items()}

    if 0 in wanted:
        snapshot(0)
    if wanted[-1] > 0:
        rule = make_rule("mdgl", variant=variant, gate="ones", seed=int(seed))

        def on_iteration(it: int, record: dict[str, Any]) -> None:  # noqa: ARG001
            if it in wanted:
                snapshot(it)

        train(
            net,
            rule,
            task,
            iterations=wanted[-1],
            batch_size=int(batch_size),
            lr=float(lr),
            seed=int(seed),
            validate_every=max(wanted[-1], 1),
            l1=float(l1),
            rate_regularizer=rate_regularizer,
            threads=None,  # the caller's choice of threads stands
            progress=False,
            figure=False,
            callback=on_iteration,
        )
    return states


def _score_seed_batch(seed: int, index: int) -> int:
    """The seed of scoring batch ``index`` of ``seed``: a stream of its own, apart from training's
    and validation's (:func:`neuromod_models.training.batch_seed`)."""
    a, b = np.random.SeedSequence([int(seed), 7, int(index)]).generate_state(2)
    return int(a) << 31 ^ int(b)


def align(
    structure: CellTypeStructure,
    task: Any,
    *,
    seeds: Iterable[int],
    batches: int = 5,
    checkpoints: Iterable[int] = (0, 250, 500, 1000),
    batch_size: int = 64,
    network: dict[str, Any] | None = None,
    variant: str = "local",
    permutations: int = 999,
    grid_draws: int = 99,
    lr: float = 2.5e-3,
    l1: float = 0.0,
    rate_regularizer: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Gradient alignment of every arm, per seed, scoring batch and checkpoint.

    For each seed: the reference trajectory (:func:`reference_states`), then at each checkpoint
    ``batches`` fixed batches (the same at every checkpoint), each scored for every arm
    (:func:`score_arms`). The regulariser, if any, is part of the training loss and of every
    arm's gradient.

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`, one row per seed × batch × checkpoint × arm draw.

    Examples
    --------
    >>> from neuromod_models.tasks import make_task
    >>> task = make_task("evidence_accumulation", T=120, t_cue=10, t_interval=15, recall_duration=20)
    >>> t = align(CellTypeStructure.ei(), task, seeds=[0], batches=1, checkpoints=[0],
    ...           batch_size=4, network={"n_rec": 12, "n_adaptive": 6}, grid_draws=0)
    >>> sorted(t["arm"].unique())
    ['data', 'ei', 'eprop', 'exact', 'label-permuted', 'ones', 'uniform']
    """
    import pandas as pd

    arms = make_arms(structure, permutations=permutations, grid_draws=grid_draws)
    ckpts = sorted({int(c) for c in checkpoints})
    seeds = [int(s) for s in seeds]
    say = progress or (lambda _msg: None)
    parts = []
    for si, seed in enumerate(seeds):
        states = reference_states(
            structure,
            task,
            seed=seed,
            checkpoints=ckpts,
            network=network,
            batch_size=batch_size,
            lr=lr,
            variant=variant,
            l1=l1,
            rate_regularizer=rate_regularizer,
        )
        net = SpikingNetwork(
            **{**task.network_kwargs(), **(network or {})}, structure=structure, seed=seed
        )
        say(f"seed {seed} ({si + 1}/{len(seeds)}): reference trained to {ckpts[-1]}")
        batch_list = [
            task.sample(batch_size, seed=_score_seed_batch(seed, k)) for k in range(int(batches))
        ]
        for ckpt in ckpts:
            net.load_state_dict(states[ckpt])
            for k, batch in enumerate(batch_list):
                s = score_arms(
                    net,
                    batch.x,
                    task.loss_fn(batch),
                    arms,
                    variant=variant,
                    regularizer=rate_regularizer,
                )
                parts.append(
                    pd.DataFrame(
                        {
                            "seed": seed,
                            "batch": k,
                            "checkpoint": ckpt,
                            "arm": arms.name,
                            "draw": arms.draw,
                            "label": arms.label,
                            "cosine": s.cosine,
                            "norm_ratio": s.norm_ratio,
                            "cosine_exact": s.cosine_exact,
                            "distance_exact": s.distance_exact,
                            "bptt_norm": s.bptt_norm,
                            "loss": s.loss,
                        }
                    )
                )
            say(f"seed {seed}: checkpoint {ckpt} scored ({int(batches)} batches, {len(arms)} arms)")
    return pd.concat(parts, ignore_index=True)[list(TABLE_COLUMNS)]


# ----------------------------------------------------------------------------- figure
_COLOURS = {
    "eprop": "#7f7f7f",
    "ones": "#2ca02c",
    "ei": "#9467bd",
    "data": "#d62728",
    "label-permuted": "#1f77b4",
    "grid-shuffled": "#17becf",
    "uniform": "#ff7f0e",
    "exact": "#000000",
}


def plot_alignment(table: Any, summary: Any, *, title: str = "") -> Any:
    """Cosine to BPTT per arm against the checkpoint, and the permutation null of the data gate at
    the last checkpoint, on a :class:`matplotlib.figure.Figure` (no pyplot, no backend change).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [dict(seed=0, batch=0, checkpoint=c, arm=a, draw=d, cosine=v, norm_ratio=1.0,
    ...              cosine_exact=1.0, distance_exact=0.0)
    ...         for c in (0, 5) for a, d, v in [("data", 0, 0.5), ("ones", 0, 0.6),
    ...                                         ("label-permuted", 0, 0.4), ("label-permuted", 1, 0.45)]]
    >>> t = pd.DataFrame(rows)
    >>> fig = plot_alignment(t, summarize(t))
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8))
    ax, ax2 = fig.subplots(1, 2)
    per_draw = (
        table.groupby(["checkpoint", "arm", "draw"])["cosine"].mean().reset_index()
    )  # over seeds and batches
    for arm in ARMS:
        s = summary[summary["arm"] == arm].sort_values("checkpoint")
        if s.empty:
            continue
        col = _COLOURS[arm]
        ax.plot(s["checkpoint"], s["mean_cosine"], "o-", color=col, ms=3, lw=1.2, label=arm)
        if arm in ("label-permuted", "grid-shuffled"):
            d = per_draw[per_draw["arm"] == arm].groupby("checkpoint")["cosine"]
            lo, hi = d.quantile(0.025), d.quantile(0.975)
            ax.fill_between(lo.index, lo.to_numpy(), hi.to_numpy(), color=col, alpha=0.15, lw=0)
    ax.set_xlabel("reference training iteration (MDGL, gate ones)")
    ax.set_ylabel("cosine with BPTT's gradient")
    ax.legend(frameon=False, fontsize=7, ncol=2)
    last = int(table["checkpoint"].max())
    perm = per_draw[(per_draw["arm"] == "label-permuted") & (per_draw["checkpoint"] == last)]
    if len(perm):
        ax2.hist(
            perm["cosine"], bins=min(40, max(5, len(perm) // 5)), color=_COLOURS["label-permuted"]
        )
    sl = summary[summary["checkpoint"] == last].set_index("arm")
    for arm in ("data", "ones", "eprop", "exact", "uniform"):
        if arm in sl.index:
            ax2.axvline(sl.loc[arm, "mean_cosine"], color=_COLOURS[arm], lw=1.5, label=arm)
    if "data" in sl.index and np.isfinite(sl.loc["data", "perm_p"]):
        ax2.set_title(
            f"checkpoint {last}: data rank {int(sl.loc['data', 'perm_rank'])} of "
            f"{int(sl.loc['data', 'n_perms']) + 1}, p = {sl.loc['data', 'perm_p']:.3g}",
            fontsize=9,
        )
    ax2.set_xlabel("cosine with BPTT (mean over seeds and batches)")
    ax2.set_ylabel("label permutations")
    ax2.legend(frameon=False, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
