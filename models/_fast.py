"""Fused sequence code: the whole forward pass and a hand-written backward over all time steps.

On the CPU the time loops below run as compiled kernels (:mod:`neuromod_models._kernels`) that
skip the zeros of the spike trains; the torch loops here are the fallback and the CUDA path.

Per-step Python and small-op overhead dominates spiking-network training (DESIGN §6), so the
forward loop does the fewest possible operations per step (input currents for all steps are one
product before the loop, per-step inputs come from ``unbind(0)``, ψ is computed for all steps at
once after the loop) and the backward pass is written by hand:

* BPTT: the exact adjoint of DESIGN §3.2, with one recurrent product per step;
* e-prop: the same adjoint with the recurrent path cut (z^{t-1} detached in the Wrec path), so the
  backward in time is element-wise per neuron (a 2-variable linear recursion for v and b);
* MDGL: e-prop with the learning signal ``L̃ = L + (1-α)·((L ψ)_{t+1} @ W̃)`` — one extra product.

In all three the weight gradients are single ``(B·T × N)ᵀ (B·T × N_pre)`` products at the end and the
readout is filtered in output space only, so nothing of size B×T×N×N (or B×N×N) ever exists.

The adjoint variables are ``av = dE/dv^t`` and ``ab = dE/db^t`` (total derivatives through the
neuron's own future), with ``Gz^t = L^t - v_th av^{t+1} + (1-ρ) ab^{t+1}`` the total gradient on z^t::

    av^t = α av^{t+1} + ψ^t Gz^t
    ab^t = ρ ab^{t+1} - β ψ^t Gz^t
    dE/dWrec = Σ_t ((1-α) av^t)ᵀ z^{t-1},   dE/dWin = Σ_t ((1-α) av^t)ᵀ x^t

(BPTT adds ``((1-α) av^{t+1}) @ Wrec`` to ``Gz^t``.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from scipy.signal import lfilter
from torch import Tensor

from ._kernels import kernels
from .neurons import SIGMOID_STEEPNESS, NeuronParameters, pseudo_derivative

__all__ = ["SequenceConfig", "flush_denormal", "run_sequence", "exp_filter", "exp_filter_reverse"]


def _flush_is_on() -> bool:
    # torch has no getter: a denormal input reads as zero when denormals-are-zero is active
    return bool((torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0)


@contextlib.contextmanager
def flush_denormal() -> Iterator[None]:
    """Flush denormal floats to zero inside the block, restoring the previous setting after.

    Decaying membrane/adaptation variables and adjoints otherwise fall into denormals, which made an
    eager ALIF forward pass ~100× slower (DESIGN §6).
    """
    was_on = _flush_is_on()
    if not was_on:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not was_on:
            torch.set_flush_denormal(False)


_MALLOC_TUNED = False


def keep_freed_memory() -> None:
    """Let glibc keep freed large blocks for reuse instead of unmapping them (once per process).

    Every iteration allocates several [T, B, N] tensors (~50 MB each at B=64, T=2000, N=100). glibc
    serves blocks above its mmap threshold with fresh mappings and returns them on free, so each
    iteration pays a page fault per 4 kB again (measured: the forward pass 204 → 146 ms and MDGL's
    extra product 166 → 71 ms once freed memory is reused). This raises the mmap and trim thresholds
    to 1 GiB (``mallopt``; Linux/glibc only). The process keeps its peak memory mapped instead of
    returning it to the system. Set ``NEUROMOD_MALLOPT=0`` to leave the allocator alone.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    if not sys.platform.startswith("linux") or os.environ.get("NEUROMOD_MALLOPT", "1") == "0":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 1 << 30)
        libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):  # not glibc
        pass


class SequenceConfig(NamedTuple):
    """Everything the fused sequence needs besides tensors with gradients.

    ``mode``: ``"bptt"`` or ``"eprop"`` (MDGL is e-prop with ``modulation`` set).
    ``feedback``: ``[n_out, N]`` matrix used instead of ``w_out`` for e-prop's learning signal
    (random feedback), or ``None`` (symmetric). ``modulation``: MDGL's ``W̃`` ``[N, N]`` (row j =
    the modulated neuron's target, column p = the neuron receiving the credit), or ``None``.
    """

    params: NeuronParameters
    kappa: float
    mode: str = "bptt"
    feedback: Tensor | None = None
    modulation: Tensor | None = None


def _lfilter_ok(u: Tensor) -> bool:
    return u.device.type == "cpu" and not (torch.is_grad_enabled() and u.requires_grad)


def exp_filter(u: Tensor, kappa: float) -> Tensor:
    """``out^t = κ out^{t-1} + (1-κ) u^t`` along dim 0 (time), starting from 0."""
    if _lfilter_ok(u):
        # the same recursion in compiled code (scipy), instead of T tiny tensor operations
        out = lfilter([1.0 - kappa], [1.0, -kappa], u.detach().cpu().numpy(), axis=0)
        return torch.from_numpy(np.ascontiguousarray(out)).to(u.dtype)
    outs = []
    acc = torch.zeros_like(u[0])
    one_m = 1.0 - kappa
    for ut in u.unbind(0):
        acc = torch.add(ut * one_m, acc, alpha=kappa)
        outs.append(acc)
    return torch.stack(outs)


def exp_filter_reverse(g: Tensor, kappa: float) -> Tensor:
    """``a^t = g^t + κ a^{t+1}`` along dim 0 (time), ending at 0 (adjoint of the filter, without 1-κ)."""
    if _lfilter_ok(g):
        out = lfilter([1.0], [1.0, -kappa], g.detach().cpu().numpy()[::-1], axis=0)[::-1]
        # a copy, not ascontiguousarray: a reversed view of length 1 counts as contiguous in
        # numpy but keeps its negative stride, which torch refuses (T = 1)
        return torch.from_numpy(out.copy()).to(g.dtype)
    outs = []
    acc = torch.zeros_like(g[0])
    for gt in reversed(g.unbind(0)):
        acc = torch.add(gt, acc, alpha=kappa)
        outs.append(acc)
    outs.reverse()
    return torch.stack(outs)


_BLOCK = 2.0**100  # refractory block added to v - A; a power of two so counts stay exact


@contextlib.contextmanager
def _loop_threads(device: torch.device, work: int) -> Iterator[None]:
    """One intra-op thread for the per-step loops when each step is small.

    A 64×100 by 100×100 product takes ~15 µs on one core; splitting it over busy cores costs more
    in synchronisation than it saves (up to 1 ms per step measured on a shared 2-core machine).
    """
    n = torch.get_num_threads()
    if device.type != "cpu" or n == 1 or work > 2**22:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _scalar_or(t: Tensor) -> float | Tensor:
    """A Python float when every entry is equal (cheaper per-step ops), else the tensor."""
    flat = t.reshape(-1)
    return float(flat[0]) if bool((flat == flat[0]).all()) else t


def _compiled(t: Tensor) -> dict | None:
    """The numba kernels when ``t`` lives on the CPU (and numba is there), else ``None``."""
    return kernels() if t.device.type == "cpu" else None


def _np(*ts: Tensor) -> tuple[np.ndarray, ...]:
    """Numpy views sharing memory (outputs are written in place, so they must be contiguous
    already: ``.contiguous()`` would hand the kernel a copy)."""
    return tuple(t.detach().contiguous().numpy() for t in ts)


def _per_neuron(v: Tensor | float, n: int, dtype: torch.dtype) -> Tensor:
    return torch.as_tensor(v, dtype=dtype).expand(n).contiguous()


def _forward_loop(
    x: Tensor, w_in: Tensor, w_rec: Tensor, p: NeuronParameters
) -> tuple[Tensor, Tensor]:
    """Run the neurons from rest over ``x`` ``[T, B, n_in]``; returns spikes ``z`` and ψ ``[T, B, N]``."""
    if p.surrogate != "heaviside":
        return _forward_loop_generic(x, w_in, w_rec, p)
    t_len, bsz, n_in = x.shape
    n = w_rec.shape[0]
    alpha, rho, beta, v_th = p.alpha, p.rho, p.beta, p.v_th
    one_m_alpha = 1.0 - alpha
    adaptive = bool((beta != 0).any())
    # u = v - v_th and c = β b, so v - A = u - c; one product per step gives the recurrent input
    # and the reset (-v_th on the diagonal: Wrec has no self-connections)
    w = (w_rec * one_m_alpha[:, None]).T.contiguous()
    w.diagonal().sub_(v_th)
    i_all = (x.reshape(t_len * bsz, n_in) @ (w_in * one_m_alpha[:, None]).T).reshape(t_len, bsz, n)
    i_all -= v_th * one_m_alpha
    inc = beta * (1.0 - rho)
    compiled = _compiled(x)
    if compiled is not None:
        z_all = x.new_empty(t_len, bsz, n)
        psi = x.new_empty(t_len, bsz, n)
        scal = torch.tensor([v_th, -v_th, p.gamma / v_th], dtype=x.dtype)
        compiled["forward"](
            *_np(i_all, w, *(_per_neuron(v, n, x.dtype) for v in (alpha, rho, inc)), scal),
            int(p.n_ref), adaptive, *_np(z_all, psi),
        )  # fmt: skip
        return z_all, psi
    dec = _scalar_or(alpha)
    rho_s = _scalar_or(rho)
    u = x.new_full((bsz, n), -v_th)
    c = x.new_zeros(bsz, n)
    z_all = x.new_zeros(t_len, bsz, n)
    m_all = x.new_zeros(t_len, bsz, n)
    zv, mv = z_all.unbind(0), m_all.unbind(0)
    z = x.new_zeros(bsz, n)
    n_ref = p.n_ref
    cnt = x.new_zeros(bsz, n)
    with _loop_threads(x.device, bsz * n * n):
        for t, it in enumerate(i_all.unbind(0)):
            cur = torch.addmm(it, z, w)
            u = torch.add(cur, u, alpha=dec) if isinstance(dec, float) else cur.addcmul_(u, dec)
            if adaptive:
                c = c.mul_(rho_s).addcmul_(z, inc)
            if n_ref > 0:
                # cnt = 2^100 × spikes in the last n_ref steps (at most one)
                if t >= 1:
                    cnt.add_(z, alpha=_BLOCK)
                if t - 1 - n_ref >= 0:
                    cnt.sub_(zv[t - 1 - n_ref], alpha=_BLOCK)
                d = torch.sub(u, c).sub_(cnt) if adaptive else torch.sub(u, cnt)
            else:
                d = torch.sub(u, c) if adaptive else u
            z = torch.gt(d, 0, out=zv[t])
            torch.abs(d, out=mv[t]).clamp_(max=v_th)
    del i_all
    # ψ = (γ/v_th)(1 - min(|v - A|, v_th)/v_th); refractory steps have |v - A| ≥ 2^100 → 0
    # (m / -v_th + 1) is exactly 0 where m = v_th (x / x = 1 in IEEE arithmetic)
    psi = m_all.div_(-v_th).add_(1.0).mul_(p.gamma / v_th)
    return z_all, psi


def _forward_loop_generic(
    x: Tensor, w_in: Tensor, w_rec: Tensor, p: NeuronParameters
) -> tuple[Tensor, Tensor]:
    """Straightforward loop (any surrogate, incl. the smooth test-only one)."""
    t_len, bsz, n_in = x.shape
    n = w_rec.shape[0]
    dtype = x.dtype
    one_m_alpha = 1.0 - p.alpha
    i_in = (x.reshape(t_len * bsz, n_in) @ (w_in * one_m_alpha[:, None]).T).reshape(t_len, bsz, n)
    w_rec_t = (w_rec * one_m_alpha[:, None]).T.contiguous()
    alpha, rho, beta = p.alpha, p.rho, p.beta
    v_th, n_ref = p.v_th, float(p.n_ref)
    v = x.new_zeros(bsz, n)
    b = x.new_zeros(bsz, n)
    z = x.new_zeros(bsz, n)
    ref = x.new_zeros(bsz, n)
    zs, psis = [], []
    for it in i_in.unbind(0):
        v = torch.addcmul(torch.addmm(it, z, w_rec_t), v, alpha).sub_(z, alpha=v_th)
        b = torch.addcmul(b * rho, z, 1.0 - rho)
        d = v - v_th - beta * b
        free = ref.le(0).to(dtype)
        if p.surrogate == "sigmoid":
            z = torch.sigmoid(d * (SIGMOID_STEEPNESS / v_th)) * free
        else:
            z = d.gt(0).to(dtype) * free
        spiked = z.gt(0.5).to(dtype)
        ref = (ref - 1).clamp_(min=0).add_(spiked, alpha=n_ref)
        zs.append(z)
        psis.append(pseudo_derivative(d, p) * free)
    return torch.stack(zs), torch.stack(psis)


def _backward_loop(sig: Tensor, psi: Tensor, p: NeuronParameters, w_rec: Tensor | None) -> Tensor:
    """Reverse-time adjoint; returns ``δ^t = (1-α) dE/dv^t`` ``[T, B, N]``.

    ``sig`` is the external gradient on ``z^t`` (learning signal); ``w_rec`` is given for BPTT (its
    product carries credit to presynaptic neurons) and ``None`` for e-prop.
    """
    alpha, rho, beta = p.alpha, p.rho, p.beta
    one_m_alpha = 1.0 - alpha
    one_m_rho = 1.0 - rho
    adaptive = bool((beta != 0).any())
    v_th = p.v_th
    t_len, bsz, n = sig.shape
    # contiguous whatever sig's layout: the compiled kernel writes into it through a numpy view
    out = sig.new_empty(sig.shape)
    wb = None
    if w_rec is not None:
        # Gz gets Σ_j (1-α_j) av_j Wrec_jp (presynaptic credit) and -v_th av_p (own reset)
        wb = w_rec * one_m_alpha[:, None]
        wb.diagonal().sub_(v_th)
    compiled = _compiled(sig)
    if compiled is not None:
        scal = torch.tensor([v_th], dtype=sig.dtype)
        per = [_per_neuron(v, n, sig.dtype) for v in (alpha, rho, beta)]
        w_arg = wb.contiguous() if wb is not None else sig.new_zeros(1, 1)
        compiled["backward"](
            *_np(sig, psi, w_arg), wb is not None, *_np(*per, scal), adaptive, *_np(out)
        )
        return out.mul_(one_m_alpha)
    av = sig.new_zeros(bsz, n)
    ab = sig.new_zeros(bsz, n)
    ov = out.unbind(0)
    sv, pv = sig.unbind(0), psi.unbind(0)
    with _loop_threads(sig.device, bsz * n * n if wb is not None else 0):
        for t in range(t_len - 1, -1, -1):
            gz = torch.addmm(sv[t], av, wb) if wb is not None else torch.sub(sv[t], av, alpha=v_th)
            if adaptive:
                gz.addcmul_(ab, one_m_rho)
            pg = gz.mul_(pv[t])
            av = torch.addcmul(pg, av, alpha, out=ov[t])
            if adaptive:
                ab = ab.mul_(rho).addcmul_(beta, pg, value=-1.0)
    return out.mul_(one_m_alpha)


class _Sequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_in, w_rec, w_out, b_out, cfg: SequenceConfig):  # type: ignore[override]
        p = cfg.params
        t_len, bsz, n_in = x.shape
        n = w_rec.shape[0]
        if x.device.type == "cpu":
            keep_freed_memory()
        with flush_denormal():
            z, psi = _forward_loop(x, w_in, w_rec, p)
            u = (z.reshape(t_len * bsz, n) @ w_out.T).reshape(t_len, bsz, -1)
            y = exp_filter(u, cfg.kappa) + b_out
        ctx.save_for_backward(x, w_in, w_rec, w_out, z, psi)
        ctx.cfg = cfg
        return y, z

    @staticmethod
    def backward(ctx, gy, gz):  # type: ignore[override]
        x, w_in, w_rec, w_out, z, psi = ctx.saved_tensors
        cfg: SequenceConfig = ctx.cfg
        p = cfg.params
        t_len, bsz, n = z.shape
        kappa = cfg.kappa
        with flush_denormal():
            grad_w_out = grad_b_out = None
            if gy is not None:
                gyf = exp_filter_reverse(gy, kappa).mul_(1.0 - kappa)
                grad_w_out = gyf.reshape(t_len * bsz, -1).T @ z.reshape(t_len * bsz, n)
                grad_b_out = gy.sum((0, 1))
                fb = w_out if (cfg.mode == "bptt" or cfg.feedback is None) else cfg.feedback
                sig = (gyf.reshape(t_len * bsz, -1) @ fb).reshape(t_len, bsz, n)
                if gz is not None:
                    sig = (sig + gz).contiguous()
            elif gz is not None:
                sig = gz.contiguous().clone()
            else:
                sig = z.new_zeros(z.shape)
            if cfg.mode != "bptt" and cfg.modulation is not None and t_len > 1:
                # MDGL: L̃^t = L^t + Σ_j (1-α_j) W̃_jp (L ψ)_j^{t+1}, one product added in place
                lpsi = (sig[1:] * psi[1:]).reshape((t_len - 1) * bsz, n)
                w_mod = cfg.modulation * (1.0 - p.alpha)[:, None]
                sig[:-1].view((t_len - 1) * bsz, n).addmm_(lpsi, w_mod)
            delta = _backward_loop(sig, psi, p, w_rec if cfg.mode == "bptt" else None)
            del sig
            flat = delta.reshape(t_len * bsz, n)
            grad_w_in = flat.T @ x.reshape(t_len * bsz, -1)
            # δ^0 meets z^{-1} = 0
            compiled = _compiled(z)
            if compiled is not None:
                # spikes are sparse: a scatter over them instead of a dense (B·T)-long product
                grad_w_rec_t = z.new_zeros(n, n)
                compiled["grad_rec"](*_np(delta, z, grad_w_rec_t))
                grad_w_rec = grad_w_rec_t.T
            else:
                grad_w_rec = flat[bsz:].T @ z[:-1].reshape((t_len - 1) * bsz, n)
            grad_x = None
            if ctx.needs_input_grad[0]:
                grad_x = (flat @ w_in).reshape(x.shape)
        return grad_x, grad_w_in, grad_w_rec, grad_w_out, grad_b_out, None


def run_sequence(
    x: Tensor, w_in: Tensor, w_rec: Tensor, w_out: Tensor, b_out: Tensor, cfg: SequenceConfig
) -> tuple[Tensor, Tensor]:
    """Fused forward over ``x`` ``[T, B, n_in]`` from the resting state; returns ``(y, z)``.

    Differentiable with the backward that ``cfg.mode`` selects (exact BPTT, e-prop or MDGL).
    """
    return _Sequence.apply(x, w_in, w_rec, w_out, b_out, cfg)
