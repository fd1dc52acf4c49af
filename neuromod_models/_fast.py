"""Fused sequence code: the whole forward pass and a hand-written backward over all time steps.

On the CPU the time loops run as compiled kernels (:mod:`neuromod_models._kernels`) that work on
the sampled synapses only and skip the zeros of the spike trains; the torch loops here are the
fallback and the CUDA path (they use a dense recurrent matrix).

The backward pass is written by hand (docs/design.md, "Learning rules"):

* BPTT: the exact adjoint of the neuron model, carried back through the recurrent weights;
* e-prop: the same adjoint with the recurrent path cut (z^{t-1} detached in the Wrec path), so the
  backward in time is element-wise per neuron;
* MDGL: e-prop whose learning signal gains ``Σ_j W̃_jp (1-α_j) (L ψ)_j^{t+1}`` — a gather over each
  neuron's synapses (local, exact) or a sum per type (non-local).

Nothing of size B×T×N×N (or B×N×N) ever exists. The adjoints are ``av = dE/dv^t`` and
``ab = dE/db^t`` (total derivatives through the neuron's own future), with
``Gz^t = L^t - v_th av^{t+1} + (1-ρ) ab^{t+1}`` the total gradient on z^t::

    av^t = α av^{t+1} + ψ^t Gz^t
    ab^t = ρ ab^{t+1} - β ψ^t Gz^t
    dE/dWrec = Σ_t ((1-α) av^t)ᵀ z^{t-1},   dE/dWin = Σ_t ((1-α) av^t)ᵀ x^t

(BPTT adds ``Σ_j (1-α_j) Wrec_jp av_j^{t+1}`` to ``Gz_p^t``.)

Besides the readout ``y`` the sequence returns each neuron's mean spike count per step (``rates``,
differentiable: a penalty on rates enters the learning signal as a constant gradient on every
``z_j^t``) and the spikes ``z`` as bytes (not differentiable).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from numba import njit
from torch import Tensor

from ._kernels import MOD_GATHER, MOD_NONE, MOD_TYPESUM, kernels
from .neurons import SIGMOID_STEEPNESS, NeuronParameters, pseudo_derivative

__all__ = [
    "TILE_SIZE",
    "Tiling",
    "Workspace",
    "Modulation",
    "SequenceConfig",
    "Synapses",
    "exp_filter",
    "exp_filter_reverse",
    "flush_denormal",
    "run_sequence",
]


def _flush_is_on() -> bool:
    # torch has no getter: a denormal input reads as zero when denormals-are-zero is active
    return bool((torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0)


@contextlib.contextmanager
def flush_denormal() -> Iterator[None]:
    """Flush denormal floats to zero inside the block, restoring the previous setting after.

    Decaying membrane/adaptation variables and adjoints otherwise fall into denormals, which made an
    eager ALIF forward pass ~100× slower (docs/design.md, "Performance notes").
    """
    was_on = _flush_is_on()
    if not was_on:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not was_on:
            torch.set_flush_denormal(False)


#: local MDGL's modulation pushes the nonzero (1 - α) L ψ through each neuron's incoming synapses
#: (one scalar multiply-add per nonzero entry and synapse) when fewer than this fraction of the
#: entries of a step are nonzero, and gathers over every synapse otherwise (vectorised over the
#: batch): the two cost the same at about 5-11 % nonzero on networks of 100 to 4,000 neurons
#: (benchmarks/bench_mdgl_push.py)
MDGL_PUSH_DENSITY = 1 / 14

#: neurons per side of a tile of the synapse matrix (:func:`neuromod_models._kernels.tile_synapses`):
#: 128 neurons × 64 trials × 4 bytes = 32 kB per block of rows, which stays in the L1/L2 cache
TILE_SIZE = 128


class Tiling(NamedTuple):
    """The synapses regrouped for the backward pass: in tiles of ``size`` × ``size`` neurons (the
    batched gathers of BPTT and local MDGL; ``order`` maps tile order to synapse index) and by
    postsynaptic neuron (``in_syn[in_indptr[j]:in_indptr[j + 1]]``, presynaptic neurons ``in_pre``
    in the same order: MDGL's push over nonzero ψ)."""

    order: Tensor
    tiles: Tensor
    tile_len: Tensor
    pre_loc: Tensor
    post_loc: Tensor
    in_indptr: Tensor
    in_syn: Tensor
    in_pre: Tensor
    size: int

    @classmethod
    def of(cls, pre: Tensor, post: Tensor, n: int, size: int = TILE_SIZE) -> Tiling:
        from ._kernels import tile_synapses

        arrays = tile_synapses(pre.cpu().numpy(), post.cpu().numpy(), n, size)
        return cls(*(torch.as_tensor(a) for a in arrays), size)


class Synapses(NamedTuple):
    """Recurrent synapses sorted by presynaptic neuron: synapse ``s`` goes from ``pre[s]`` to
    ``post[s]``; those of neuron ``q`` are ``indptr[q]:indptr[q+1]`` (a CSR matrix by pre).
    ``tiling`` (optional) is the same synapses grouped in tiles (:class:`Tiling`)."""

    pre: Tensor
    post: Tensor
    indptr: Tensor
    n: int
    tiling: Tiling | None = None

    @classmethod
    def from_mask(cls, mask: Tensor) -> Synapses:
        """The synapses of a boolean ``[post, pre]`` mask.

        Examples
        --------
        >>> s = Synapses.from_mask(torch.tensor([[False, True], [True, True]]))
        >>> s.pre.tolist(), s.post.tolist(), s.indptr.tolist()
        ([0, 1, 1], [1, 0, 1], [0, 1, 3])
        """
        n = mask.shape[0]
        post, pre = torch.nonzero(mask, as_tuple=True)  # row = post
        order = torch.argsort(pre * n + post)
        pre, post = pre[order], post[order]
        indptr = torch.zeros(n + 1, dtype=torch.int64)
        indptr[1:] = torch.cumsum(torch.bincount(pre, minlength=n), 0)
        return cls(pre.to(torch.int64), post.to(torch.int64), indptr, int(n))

    @property
    def nnz(self) -> int:
        return int(self.pre.numel())

    def to(self, device: torch.device | str | None) -> Synapses:
        return Synapses(
            self.pre.to(device), self.post.to(device), self.indptr.to(device), self.n, self.tiling
        )

    def tiled(self) -> Tiling:
        """:attr:`tiling`, computed now if absent."""
        return self.tiling if self.tiling is not None else Tiling.of(self.pre, self.post, self.n)

    def dense(self, values: Tensor) -> Tensor:
        """``[post, pre]`` matrix with ``values`` at the synapses (differentiable in ``values``)."""
        out = values.new_zeros(self.n, self.n)
        return out.index_put((self.post.to(values.device), self.pre.to(values.device)), values)


class Modulation(NamedTuple):
    """MDGL's modulatory weights ``W̃`` in the form the sequence code uses.

    ``kind="gather"``: ``w_mod[s]`` is ``W̃_{post[s], pre[s]}`` for every synapse (local and exact
    MDGL: the signal reaches a neuron's synaptic partners only). ``kind="typesum"``: ``W̃_jp =
    m_type[type(j), type(p)]`` for every pair (non-local MDGL), summed per type.
    """

    kind: str
    w_mod: Tensor | None = None
    type_index: Tensor | None = None
    m_type: Tensor | None = None

    def dense(self, synapses: Synapses) -> Tensor:
        """``W̃`` as an ``[N, N]`` matrix ``[j, p]`` (for the torch loops and for checks)."""
        if self.kind == "gather":
            return synapses.dense(self.w_mod)
        ti = self.type_index.long()
        return self.m_type[ti][:, ti]


class Workspace:
    """Reusable storage for the ``[T, N, B]`` spikes and ψ of the fused sequence.

    Every training iteration needs the same large arrays; taking fresh memory each time costs a page
    fault per 4 kB (tens of ms per iteration at the paper's size). A network keeps one workspace and
    its arrays go back into it when the backward pass is done (or right after a forward pass
    without gradients), so the next iteration reuses them. Nothing process-wide is changed.
    """

    def __init__(self) -> None:
        self._free: dict[tuple, list[Tensor]] = {}

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        stack = self._free.get((tuple(shape), dtype))
        return stack.pop() if stack else torch.empty(shape, dtype=dtype)

    def give(self, *tensors: Tensor) -> None:
        for t in tensors:
            stack = self._free.setdefault((tuple(t.shape), t.dtype), [])
            if len(stack) < 2:
                stack.append(t)

    def clear(self) -> None:
        self._free.clear()


class SequenceConfig(NamedTuple):
    """Everything the fused sequence needs besides tensors with gradients.

    ``mode``: ``"bptt"`` or ``"eprop"`` (MDGL is e-prop with ``modulation`` set).
    ``feedback``: ``[n_out, N]`` matrix used instead of ``w_out`` for e-prop's learning signal
    (random feedback), or ``None`` (symmetric). ``synapses``: where the recurrent weight values sit.
    ``workspace``: where large arrays are reused between calls (``None``: fresh memory).
    """

    params: NeuronParameters
    kappa: float
    synapses: Synapses
    mode: str = "bptt"
    feedback: Tensor | None = None
    modulation: Modulation | None = None
    workspace: Workspace | None = None


def _lfilter_ok(u: Tensor) -> bool:
    return u.device.type == "cpu" and not (torch.is_grad_enabled() and u.requires_grad)


@njit(cache=True, nogil=True)
def _first_order(x, b0, k):  # pragma: no cover - compiled
    """``y[t] = b0 x[t] + k y[t-1]`` down the rows of a 2-D float64 array, ``y[-1] = 0``.

    The operations of ``scipy.signal.lfilter([b0], [1, -k], x, axis=0)`` (direct form II
    transposed) one by one, so the results are the same to the bit: the state after a step is
    ``0·x − (−k)·y = k·y`` exactly, and the first output adds the zero state, ``b0 x[0] + 0``.
    Replaces scipy.signal, whose import alone cost ``neuromod train`` 55 MB.
    """
    out = np.empty_like(x)
    if x.shape[0] == 0:
        return out
    # row by row, every column at once: the rows are contiguous in memory
    for j in range(x.shape[1]):
        out[0, j] = b0 * x[0, j] + 0.0
    for t in range(1, x.shape[0]):
        for j in range(x.shape[1]):
            out[t, j] = b0 * x[t, j] + k * out[t - 1, j]
    return out


def _filter(a: np.ndarray, b0: float, k: float) -> np.ndarray:
    """:func:`_first_order` along axis 0 of any shape, in float64 (as scipy computed it with
    coefficients given as Python floats); the caller casts back."""
    flat = np.ascontiguousarray(a, dtype=np.float64).reshape(a.shape[0], max(a[:1].size, 1))
    return _first_order(flat, float(b0), float(k)).reshape(a.shape)


def exp_filter(u: Tensor, kappa: float) -> Tensor:
    """``out^t = κ out^{t-1} + (1-κ) u^t`` along dim 0 (time), starting from 0."""
    if _lfilter_ok(u):
        # the same recursion in compiled code, instead of T tiny tensor operations
        out = _filter(u.detach().cpu().numpy(), 1.0 - kappa, kappa)
        return torch.from_numpy(out).to(u.dtype)
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
        out = _filter(g.detach().cpu().numpy()[::-1], 1.0, kappa)[::-1]
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


@contextlib.contextmanager
def _loop_threads(device: torch.device, work: int) -> Iterator[None]:
    """One intra-op thread for the torch per-step loops when each step is small.

    A 64×100 by 100×100 product takes ~15 µs on one core; splitting it over busy cores costs more
    in synchronisation than it saves (up to 1 ms per step measured on a shared 2-core machine).
    The previous setting is restored on exit.
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
    """A Python float when every entry is equal, else the tensor."""
    flat = t.reshape(-1)
    return float(flat[0]) if bool((flat == flat[0]).all()) else t


def _compiled(x: Tensor, p: NeuronParameters) -> dict | None:
    """The numba kernels for a CPU run of the model's Heaviside neurons, else ``None``."""
    if x.device.type != "cpu" or p.surrogate != "heaviside":
        return None
    return kernels()


def _np(t: Tensor) -> np.ndarray:
    """A numpy view sharing memory (kernels write outputs in place: they must be contiguous)."""
    if not t.is_contiguous():
        raise ValueError("internal: a kernel argument must be contiguous")
    return t.detach().numpy()


# ------------------------------------------------------------------------ torch loops
def _forward_loop(
    x: Tensor, w_in: Tensor, w_rec: Tensor, p: NeuronParameters
) -> tuple[Tensor, Tensor]:
    """Run the neurons from rest over ``x`` ``[T, B, n_in]`` with a dense ``w_rec`` ``[post, pre]``;
    returns spikes ``z`` (float) and ψ ``[T, B, N]``."""
    t_len, bsz, n_in = x.shape
    n = w_rec.shape[0]
    om = 1.0 - p.alpha
    i_in = (x.reshape(t_len * bsz, n_in) @ (w_in * om[:, None]).T).reshape(t_len, bsz, n)
    w_t = (w_rec * om[:, None]).T.contiguous()
    v_th = _scalar_or(p.v_th)  # one number when all neurons share it: cheaper per-step operations
    inc = p.beta * (1.0 - p.rho)
    n_ref = p.n_ref.to(x.dtype)
    adaptive = bool((p.beta != 0).any())
    v = x.new_zeros(bsz, n)
    c = x.new_zeros(bsz, n)
    z = x.new_zeros(bsz, n)
    ref = x.new_zeros(bsz, n)
    zs, psis = [], []
    with _loop_threads(x.device, bsz * n * n):
        for it in i_in.unbind(0):
            v = torch.addmm(it, z, w_t).addcmul_(v, p.alpha).sub_(z * v_th)
            d = v - v_th
            if adaptive:
                c = c * p.rho + z * inc
                d = d - c
            free = (ref <= 0).to(x.dtype)
            if p.surrogate == "sigmoid":
                z = torch.sigmoid(d * (SIGMOID_STEEPNESS / v_th)) * free
            else:
                z = (d > 0).to(x.dtype) * free
            spiked = (z > 0.5).to(x.dtype)
            ref = torch.where(spiked > 0, n_ref, (ref - 1).clamp_(min=0))
            zs.append(z)
            psis.append(pseudo_derivative(d, p) * free)
    return torch.stack(zs), torch.stack(psis)


def _backward_loop(sig: Tensor, psi: Tensor, p: NeuronParameters, w_rec: Tensor | None) -> Tensor:
    """Reverse-time adjoint; returns ``δ^t = (1-α) dE/dv^t`` ``[T, B, N]``.

    ``sig`` is the learning signal (the gradient on ``z^t``); ``w_rec`` ``[post, pre]`` is given
    for BPTT (credit to presynaptic neurons) and ``None`` for e-prop.
    """
    om = 1.0 - p.alpha
    omr = 1.0 - p.rho
    adaptive = bool((p.beta != 0).any())
    t_len, bsz, n = sig.shape
    out = sig.new_empty(sig.shape)
    wb = w_rec * om[:, None] if w_rec is not None else None
    av = sig.new_zeros(bsz, n)
    ab = sig.new_zeros(bsz, n)
    with _loop_threads(sig.device, bsz * n * n if wb is not None else 0):
        for t in range(t_len - 1, -1, -1):
            gz = sig[t] - av * p.v_th
            if wb is not None:
                gz = gz + av @ wb
            if adaptive:
                gz = gz + ab * omr
            pg = gz * psi[t]
            av = av * p.alpha + pg
            if adaptive:
                ab = ab * p.rho - pg * p.beta
            out[t] = av
    return out * om


def _rec_values_grad(syn: Synapses, delta: Tensor, z: Tensor) -> Tensor:
    """``∂E/∂Wrec`` at the synapses: ``Σ_t δ_post^t z_pre^{t-1}`` ``[nnz]``."""
    t_len, bsz, n = z.shape
    if t_len < 2:
        return delta.new_zeros(syn.nnz)
    dense = delta[1:].reshape(-1, n).T @ z[:-1].reshape(-1, n)  # [post, pre]
    return dense[syn.post.to(dense.device), syn.pre.to(dense.device)]


# ------------------------------------------------------------------------- autograd op
class _Sequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_in, w_vals, w_out, b_out, cfg: SequenceConfig, differentiable: bool):  # type: ignore[override]
        p, syn = cfg.params, cfg.synapses
        t_len, bsz, _ = x.shape
        n = syn.n
        compiled = _compiled(x, p) if not ctx.needs_input_grad[0] else None
        ctx.compiled = compiled is not None
        with flush_denormal():
            if compiled is not None:
                om = 1.0 - p.alpha
                post = syn.post
                ws = cfg.workspace or Workspace()
                z = ws.take((t_len, bsz, n), torch.uint8)
                psi = ws.take((t_len, bsz, n), x.dtype)
                y = x.new_empty(t_len, bsz, w_out.shape[0])
                counts = torch.zeros(n, dtype=torch.int64)
                spk_list, spk_ptr = compiled["forward"](
                    _np(x.contiguous()),
                    _np((w_in * om[:, None]).T.contiguous()),
                    _np(syn.indptr), _np(post), _np((w_vals * om[post]).contiguous()),
                    _np(p.alpha.contiguous()), _np(p.rho.contiguous()),
                    _np((p.beta * (1.0 - p.rho)).contiguous()), _np(p.v_th.contiguous()),
                    _np((p.gamma / p.v_th).contiguous()), _np(p.n_ref.to(x.dtype).contiguous()),
                    bool((p.beta != 0).any()), _np(w_out.T.contiguous()), float(cfg.kappa),
                    _np(z), _np(psi), _np(y), _np(counts),
                )  # fmt: skip
                y += b_out
                rates = counts.to(x.dtype) / float(t_len * bsz)
                z_saved = z
                if not differentiable and cfg.workspace is not None:
                    cfg.workspace.give(psi)  # nothing will read ψ again (z goes to the caller)
            else:
                w_rec = syn.dense(w_vals)
                zf, psi = _forward_loop(x, w_in, w_rec, p)
                u = (zf.reshape(t_len * bsz, n) @ w_out.T).reshape(t_len, bsz, -1)
                y = exp_filter(u, cfg.kappa) + b_out
                rates = zf.mean(dim=(0, 1))
                z_saved = zf
                z = (zf > 0.5).to(torch.uint8)
        if ctx.compiled:
            ctx.spikes = (torch.from_numpy(spk_list), torch.from_numpy(spk_ptr))
        ctx.save_for_backward(x, w_in, w_vals, w_out, z_saved, psi)
        ctx.cfg = cfg
        ctx.released = False
        ctx.mark_non_differentiable(z)
        return y, rates, z

    @staticmethod
    def backward(ctx, gy, grates, _gz):  # type: ignore[override]
        if ctx.released:
            raise RuntimeError(
                "the fused spiking sequence was already differentiated once and its saved arrays "
                "were reused; run the network again for another backward pass"
            )
        x, w_in, w_vals, w_out, z, psi = ctx.saved_tensors
        cfg: SequenceConfig = ctx.cfg
        p, syn = cfg.params, cfg.synapses
        t_len, bsz, n = x.shape[0], x.shape[1], syn.n
        n_out = w_out.shape[0]
        if gy is None:
            gy = psi.new_zeros(t_len, bsz, n_out)
        gzc = (grates / float(t_len * bsz) if grates is not None else psi.new_zeros(n)).contiguous()
        fb = w_out if (cfg.mode == "bptt" or cfg.feedback is None) else cfg.feedback
        mod = cfg.modulation if cfg.mode != "bptt" else None
        om = 1.0 - p.alpha
        with flush_denormal():
            if ctx.compiled:
                post = syn.post
                g_in_t = x.new_zeros(x.shape[2], n)
                g_rec = x.new_zeros(syn.nnz)
                g_out_t = x.new_zeros(n, n_out)
                g_b = x.new_zeros(n_out)
                kind, ti, m_type = MOD_NONE, p.n_ref, psi.new_zeros(1, 1)
                type_ptr = torch.zeros(0, dtype=torch.int64)
                w_mod = w_mod_in = g_rec[:1]
                bptt = cfg.mode == "bptt"
                til = syn.tiled() if (bptt or mod is not None) else None
                if mod is not None and mod.kind == "gather":
                    kind = MOD_GATHER
                    w_mod_csr = mod.w_mod.to(psi.dtype)
                    w_mod = w_mod_csr[til.order].contiguous()
                    w_mod_in = w_mod_csr[til.in_syn].contiguous()
                elif mod is not None:
                    kind, ti = MOD_TYPESUM, mod.type_index.to(torch.int64).contiguous()
                    m_type = mod.m_type.to(psi.dtype).contiguous()
                    if bool((ti[1:] >= ti[:-1]).all()):  # contiguous type blocks: sums by range
                        counts = torch.bincount(ti, minlength=m_type.shape[0])
                        type_ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
                w_rec = (w_vals * om[post])[til.order].contiguous() if bptt else g_rec[:1]
                if til is None:
                    none = torch.zeros(0, dtype=torch.int64)
                    til = Tiling(none, none.reshape(0, 3), none, none, none, none, none, none, 1)
                spk_list, spk_ptr = ctx.spikes
                kernels()["backward"](
                    _np(x.contiguous()), _np(spk_list), _np(spk_ptr), _np(psi),
                    _np(gy.contiguous()), _np(fb.detach().contiguous()), _np(gzc),
                    _np(syn.indptr), _np(post),
                    *(_np(a.contiguous()) for a in til[1:5]), int(til.size),
                    _np(til.in_indptr), _np(til.in_pre),
                    _np(w_rec.detach()), bptt, _np(w_mod.detach()), _np(w_mod_in.detach()), kind,
                    float(MDGL_PUSH_DENSITY), _np(ti), _np(type_ptr), _np(m_type), _np(p.alpha.contiguous()), _np(p.rho.contiguous()),
                    _np(p.beta.contiguous()), _np(p.v_th.contiguous()), float(cfg.kappa),
                    _np(g_in_t), _np(g_rec), _np(g_out_t), _np(g_b),
                )  # fmt: skip
                if cfg.workspace is not None:
                    ctx.released = True
                    cfg.workspace.give(psi)  # ψ is read by no one else (z was handed out)
                return None, g_in_t.T, g_rec, g_out_t.T, g_b, None, None
            kappa = cfg.kappa
            gyf = exp_filter_reverse(gy, kappa).mul_(1.0 - kappa)
            grad_w_out = gyf.reshape(t_len * bsz, -1).T @ z.reshape(t_len * bsz, n)
            grad_b_out = gy.sum((0, 1))
            sig = (gyf.reshape(t_len * bsz, -1) @ fb).reshape(t_len, bsz, n) + gzc
            if mod is not None and t_len > 1:
                # MDGL: L̃^t = L^t + Σ_j W̃_jp (1-α_j) (L ψ)_j^{t+1}
                lpsi = (sig[1:] * psi[1:]).reshape((t_len - 1) * bsz, n)
                w_mod = mod.dense(syn) * om[:, None]
                sig = sig.clone()
                sig[:-1] += (lpsi @ w_mod).reshape(t_len - 1, bsz, n)
            w_rec = syn.dense(w_vals) if cfg.mode == "bptt" else None
            delta = _backward_loop(sig, psi, p, w_rec)
            flat = delta.reshape(t_len * bsz, n)
            grad_w_in = flat.T @ x.reshape(t_len * bsz, -1)
            grad_vals = _rec_values_grad(syn, delta, z)
            grad_x = (flat @ w_in).reshape(x.shape) if ctx.needs_input_grad[0] else None
        return grad_x, grad_w_in, grad_vals, grad_w_out, grad_b_out, None, None


def run_sequence(
    x: Tensor, w_in: Tensor, w_vals: Tensor, w_out: Tensor, b_out: Tensor, cfg: SequenceConfig
) -> tuple[Tensor, Tensor, Tensor]:
    """Fused forward over ``x`` ``[T, B, n_in]`` from the resting state.

    ``w_vals`` are the recurrent weights at ``cfg.synapses``. Returns ``(y, rates, z)``: the
    readout ``[T, B, n_out]``, each neuron's mean spike count per step ``[N]`` (both differentiable
    with the backward that ``cfg.mode`` selects: exact BPTT, e-prop or MDGL) and the spikes
    ``[T, B, N]`` as ``uint8``.
    """
    tensors = (x, w_in, w_vals, w_out, b_out)
    differentiable = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    return _Sequence.apply(*tensors, cfg, differentiable)
