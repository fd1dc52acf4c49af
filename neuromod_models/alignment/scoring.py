"""One network, one batch: the forward pass, BPTT's gradient and every arm's scores from
one multi-signal e-prop pass (:func:`score_arms`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from .. import _fast
from ..network import SpikingNetwork
from ._kernels import _kernel
from .arms import _EI, _EXACT, _GATED, Arms


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().contiguous().numpy()


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
    >>> from neuromod_models.alignment import make_arms
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
