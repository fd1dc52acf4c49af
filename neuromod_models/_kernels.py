"""Compiled (numba) CPU kernels of the fused sequence code in :mod:`neuromod_models._fast`.

One call runs the whole time loop. The kernels work on what is there, not on dense matrices:

* recurrent synapses as a list sorted by presynaptic neuron (``indptr`` / ``post`` / values, a CSR
  matrix by pre), so the recurrent input of a step is a scatter of the synapses of the neurons that
  spiked, and the recurrent weight gradient a scatter over the same spikes (event-driven);
* input spikes likewise: only the nonzero entries of ``x`` add a column of input weights;
* spikes are stored as bytes (``uint8``); ψ (float) is the only other ``[T, B, N]`` array kept for
  the backward pass, which computes the learning signal, the adjoints and every weight gradient
  step by step instead of storing them.

The backward pass keeps its per-step state neuron-major (``[N, B]``), so the products that gather
over a neuron's synapses (BPTT's recurrent adjoint, MDGL's local modulation) run over the whole
batch at once. MDGL's non-local modulation is a sum per type (O(N·K) per step). Without numba
(or with ``NEUROMOD_NUMBA=0``) the torch loops of :mod:`neuromod_models._fast` run instead.
The pure-Python bodies (``_forward``, ``_backward``) are what numba compiles; tests run them
uncompiled against the torch loops too.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable

import numpy as np

__all__ = ["kernels", "tile_synapses"]

#: ``mod_kind`` of :func:`_backward`: no modulation, a gather over each neuron's synapses (local /
#: exact MDGL), or sums per type (non-local MDGL)
MOD_NONE, MOD_GATHER, MOD_TYPESUM = 0, 1, 2


def _forward(
    x, w_in_t, indptr, post, w_eff, alpha, rho, inc, v_th, g, n_ref, adaptive,
    w_out_t, kappa, z_out, psi_out, y_out, counts,
):  # fmt: skip  # pragma: no cover - compiled; the body is tested uncompiled too
    """Run the neurons from rest over ``x`` ``[T, B, n_in]``.

    ``w_in_t`` ``[n_in, N]``: input weights times ``1 - α`` of the postsynaptic neuron;
    ``indptr`` / ``post`` / ``w_eff``: recurrent synapses by presynaptic neuron, values times
    ``1 - α_post``; per neuron: ``alpha``, ``rho``, ``inc = β (1 - ρ)``, ``v_th``,
    ``g = γ / v_th``, ``n_ref`` (float, whole steps); ``w_out_t`` ``[N, n_out]``. Writes spikes
    ``z_out`` (uint8) and ψ ``[T, B, N]``, the filtered readout without bias ``y_out``
    ``[T, B, n_out]`` and the spike count of every neuron ``counts``; returns the spikes as lists
    (``spk_list[spk_ptr[t·B + b] : spk_ptr[t·B + b + 1]]``: the neurons that spiked at step ``t``
    of trial ``b``) for the backward pass.

    Per trial the state is a row over neurons: the input and recurrent currents are scatters into
    that row (it stays in the L1 cache), and the neuron update runs over it without branches
    (vectorised over neurons).
    """
    t_len, bsz, n_in = x.shape
    n = alpha.shape[0]
    n_out = w_out_t.shape[1]
    dt = psi_out.dtype
    zero = alpha[0] - alpha[0]
    one = alpha[0] / alpha[0]  # 1 in the arrays' dtype (zero + 1 would be float64)
    one_m_kappa = one - kappa
    ivt = np.empty(n, dt)
    for j in range(n):
        ivt[j] = one / v_th[j]
    v = np.zeros((bsz, n), dt)
    c = np.zeros((bsz, n), dt)  # c = β b, the threshold's adaptive part
    ref = np.zeros((bsz, n), dt)  # refractory steps left
    zp = np.zeros((bsz, n), dt)  # spikes of the previous step
    # every spike, as a list per (step, trial): spk_list[spk_ptr[t·B + b] : spk_ptr[t·B + b + 1]]
    cap = max(1024, t_len * bsz)
    spk_list = np.empty(cap, np.int32)
    spk_ptr = np.zeros(t_len * bsz + 1, np.int64)
    n_all = 0
    spk = np.zeros((bsz, n), np.int64)  # the same for the previous step, per trial (kept hot)
    nspk = np.zeros(bsz, np.int64)
    psp = np.zeros((bsz, n_out), dt)
    cur = np.empty(n, dt)
    for t in range(t_len):
        for b in range(bsz):
            for j in range(n):
                cur[j] = zero
            for i in range(n_in):
                xi = x[t, b, i]
                if xi != 0:
                    wi = w_in_t[i]
                    for j in range(n):
                        cur[j] += xi * wi[j]
            sb = spk[b]
            for k in range(nspk[b]):
                q = sb[k]
                for s in range(indptr[q], indptr[q + 1]):
                    cur[post[s]] += w_eff[s]
            vr, cr, rr, zr, pr, zo = v[b], c[b], ref[b], zp[b], psi_out[t, b], z_out[t, b]
            if adaptive:
                for j in range(n):
                    cr[j] = rho[j] * cr[j] + inc[j] * zr[j]
            for j in range(n):
                vt = v_th[j]
                zpv = zr[j]
                vj = alpha[j] * vr[j] + cur[j] - vt * zpv  # reset by the threshold
                vr[j] = vj
                d = vj - vt - cr[j]
                rf = rr[j]
                free = (rf <= zero) * one
                m = min(abs(d), vt)
                pr[j] = free * (one - m * ivt[j]) * g[j]
                zn = free * (d > zero)
                rm = max(rf - one, zero)
                rr[j] = rm + zn * (n_ref[j] - rm)
                zr[j] = zn
            for j in range(n):
                zo[j] = np.uint8(zr[j])
            n_new = 0
            for j in range(n):
                if zr[j] != zero:
                    sb[n_new] = j
                    n_new += 1
                    counts[j] += 1
            nspk[b] = n_new
            if n_all + n_new > cap:
                cap = 2 * (n_all + n_new)
                grown = np.empty(cap, np.int32)
                grown[:n_all] = spk_list[:n_all]
                spk_list = grown
            for m_ in range(n_new):
                spk_list[n_all + m_] = sb[m_]
            n_all += n_new
            spk_ptr[t * bsz + b + 1] = n_all
            for k in range(n_out):
                u = zero
                for m_ in range(n_new):
                    u += w_out_t[sb[m_], k]
                psp[b, k] = kappa * psp[b, k] + one_m_kappa * u
                y_out[t, b, k] = psp[b, k]
    return spk_list[:n_all].copy(), spk_ptr


def _gather(tiles, tile_len, pre_loc, post_loc, w, size, src_t, out_t):
    """``out_t[p, :] = Σ_{synapses p → j} w · src_t[j, :]`` (neuron-major ``[N, B]`` arrays).

    The synapses are grouped in tiles of ``size`` presynaptic × ``size`` postsynaptic neurons
    (``tiles[k] = (pre block, post block, first synapse)``), so the rows a tile reads and writes
    stay in the L1/L2 cache while it runs; each synapse is one multiply-add over the batch.
    """
    n, bsz = out_t.shape
    for p in range(n):
        for b in range(bsz):
            out_t[p, b] = 0
    for k in range(tiles.shape[0]):
        p0 = tiles[k, 0] * size
        j0 = tiles[k, 1] * size
        start = tiles[k, 2]
        for i in range(start, start + tile_len[k]):
            orow = out_t[p0 + pre_loc[i]]
            srow = src_t[j0 + post_loc[i]]
            wi = w[i]
            for b in range(bsz):
                orow[b] += wi * srow[b]


def _push(lpsi, in_indptr, in_pre, w_in, ext):
    """``ext[b, p] = Σ_{synapses p → j} w · lpsi[b, j]`` over the nonzero ``lpsi`` only (one
    multiply-add per nonzero entry and synapse: the cheaper way when ψ is mostly zero).

    The synapses ending on ``j`` are ``in_indptr[j]:in_indptr[j + 1]`` of ``in_pre`` / ``w_in``
    (presynaptic neuron and weight, stored in that order): the loop reads them contiguously, where
    an index into the synapse list would cost a cache miss per synapse on large networks.
    """
    bsz, n = ext.shape
    for b in range(bsz):
        er = ext[b]
        lr = lpsi[b]
        for p in range(n):
            er[p] = 0
        for j in range(n):
            u = lr[j]
            if u != 0:
                for k in range(in_indptr[j], in_indptr[j + 1]):
                    er[in_pre[k]] += w_in[k] * u


def _backward(
    x, spk_list, spk_ptr, psi, gy, fb, gzc, indptr, post, tiles, tile_len, pre_loc,
    post_loc, tile_size, in_indptr, in_pre, w_rec, use_rec, w_mod, w_mod_in, mod_kind,
    push_below, type_index, type_ptr, m_type, alpha, rho, beta, v_th, kappa, g_in_t, g_rec,
    g_out_t, g_b_out,
):  # fmt: skip  # pragma: no cover - compiled; the body is tested uncompiled too
    """Reverse-time adjoint of :func:`_forward` and every weight gradient, step by step.

    ``psi`` ``[T, B, N]`` and the spike lists as the forward pass wrote them. ``gy``
    ``[T, B, n_out]``: the loss gradient on the readout; ``fb`` ``[n_out, N]``: the readout weights
    (BPTT, symmetric e-prop) or e-prop's random feedback; ``gzc`` ``[N]``: a gradient on every
    ``z_j^t`` that depends on neither ``t`` nor the trial (a penalty on rates). BPTT (``use_rec``)
    carries credit back through the recurrent weights ``w_rec`` (tile order, times ``1 - α_post``)
    by a tiled gather. MDGL adds ``Σ_j W̃_jp (1 - α_j) (L ψ)_j^{t+1}`` to the learning signal of
    step ``t``: with per-synapse ``w_mod`` = ``W̃`` (``mod_kind`` 1, tile order; ``w_mod_in`` the
    same by postsynaptic neuron), by whichever is cheaper at that step of a tiled gather or a push
    over the nonzero ``L ψ`` through each neuron's incoming synapses (``in_indptr``, ``in_pre``); or by
    per-type sums with ``m_type[a, type(p)]`` (``mod_kind`` 2; ``type_ptr`` ``[K + 1]`` the first
    neuron of each type when types are contiguous blocks, else empty). Accumulates into ``g_in_t``
    ``[n_in, N]``, ``g_rec`` ``[nnz]`` (synapse order of ``indptr``), ``g_out_t`` ``[N, n_out]``
    and ``g_b_out``.

    The adjoints are ``av = ∂E/∂v`` and ``ab = ∂E/∂b`` (through the neuron's own future); with
    ``Gz`` the total gradient on ``z^t``::

        Gz^t = L^t [+ modulation] [+ recurrent] - v_th av^{t+1} + (1 - ρ) ab^{t+1}
        av^t = α av^{t+1} + ψ^t Gz^t,   ab^t = ρ ab^{t+1} - β ψ^t Gz^t
        δ^t  = (1 - α) av^t:  ∂E/∂Win = Σ_t δ^t x^tᵀ,   ∂E/∂Wrec = Σ_t δ^t z^{t-1}ᵀ
    """
    t_len, bsz, n = psi.shape
    n_in = x.shape[2]
    n_out = gy.shape[2]
    n_types = m_type.shape[0]
    dt = psi.dtype
    zero = alpha[0] - alpha[0]
    one = alpha[0] / alpha[0]  # 1 in the arrays' dtype (zero + 1 would be float64)
    one_m_kappa = one - kappa
    gather = use_rec or mod_kind == 1
    av = np.zeros((bsz, n), dt)
    ab = np.zeros((bsz, n), dt)
    lpsi = np.zeros((bsz, n), dt)  # (1 - α) (L ψ) of step t + 1
    ext = np.zeros((bsz, n), dt)  # what the next step's neurons send back to this one
    delta = np.empty((bsz, n), dt)
    lsig = np.empty(n, dt)
    src_t = np.zeros((n, bsz), dt) if gather else np.zeros((1, 1), dt)
    ext_t = np.zeros((n, bsz), dt) if gather else np.zeros((1, 1), dt)
    sums = np.zeros(n_types, dt)
    per_type = np.zeros(n_types, dt)
    om = np.empty(n, dt)
    omr = np.empty(n, dt)
    for j in range(n):
        om[j] = one - alpha[j]
        omr[j] = one - rho[j]
    acc = np.zeros((bsz, n_out), dt)
    gyf = np.empty((bsz, n_out), dt)
    n_lpsi = 0  # nonzero entries of lpsi
    for t in range(t_len - 1, -1, -1):
        # readout: gyf^t = (1 - κ) Σ_{t' ≥ t} κ^{t'-t} gy^{t'}
        for b in range(bsz):
            for k in range(n_out):
                gv = gy[t, b, k]
                acc[b, k] = gv + kappa * acc[b, k]
                gyf[b, k] = one_m_kappa * acc[b, k]
                g_b_out[k] += gv
        # what is added to L^t from step t + 1 (lpsi, av, ab still hold step t + 1)
        if use_rec or (mod_kind == 1 and n_lpsi >= push_below * n * bsz):
            src = av if use_rec else lpsi
            wts = w_rec if use_rec else w_mod
            for b in range(bsz):
                for j in range(n):
                    src_t[j, b] = src[b, j]
            _gather(tiles, tile_len, pre_loc, post_loc, wts, tile_size, src_t, ext_t)
            for b in range(bsz):
                for j in range(n):
                    ext[b, j] = ext_t[j, b]
        elif mod_kind == 1:
            _push(lpsi, in_indptr, in_pre, w_mod_in, ext)
        elif mod_kind == 2:
            blocks = type_ptr.shape[0] == n_types + 1  # types in contiguous blocks of neurons
            for b in range(bsz):
                lr = lpsi[b]
                er = ext[b]
                if blocks:
                    for a in range(n_types):
                        acc_s = zero
                        for j in range(type_ptr[a], type_ptr[a + 1]):
                            acc_s += lr[j]
                        sums[a] = acc_s
                else:
                    for a in range(n_types):
                        sums[a] = zero
                    for j in range(n):
                        sums[type_index[j]] += lr[j]
                for a2 in range(n_types):
                    acc_e = zero
                    for a in range(n_types):
                        acc_e += m_type[a, a2] * sums[a]
                    per_type[a2] = acc_e
                if blocks:
                    for a2 in range(n_types):
                        val = per_type[a2]
                        for p in range(type_ptr[a2], type_ptr[a2 + 1]):
                            er[p] = val
                else:
                    for p in range(n):
                        er[p] = per_type[type_index[p]]
        has_ext = use_rec or mod_kind != 0
        n_lpsi = 0
        for b in range(bsz):
            # the learning signal L^t: readout feedback + the rate penalty's constant gradient
            for j in range(n):
                lsig[j] = gzc[j]
            for k in range(n_out):
                gk = gyf[b, k]
                fk = fb[k]
                for j in range(n):
                    lsig[j] += fk[j] * gk
            # adjoints of step t
            avr, abr, pr, er, dr, lr = av[b], ab[b], psi[t, b], ext[b], delta[b], lpsi[b]
            for j in range(n):
                ls = lsig[j]
                ps = pr[j]
                gz = ls - v_th[j] * avr[j] + omr[j] * abr[j]
                if has_ext:
                    gz += er[j]
                pg = gz * ps
                a_new = alpha[j] * avr[j] + pg
                avr[j] = a_new
                abr[j] = rho[j] * abr[j] - beta[j] * pg
                dr[j] = om[j] * a_new
                lr[j] = om[j] * ls * ps
            if mod_kind == 1:
                for j in range(n):
                    if lr[j] != zero:
                        n_lpsi += 1
            # readout gradient over the spikes of step t
            for m_ in range(spk_ptr[t * bsz + b], spk_ptr[t * bsz + b + 1]):
                j = spk_list[m_]
                for k in range(n_out):
                    g_out_t[j, k] += gyf[b, k]
            # weight gradients, event-driven: recurrent over the spikes of t - 1, input over x^t
            if t > 0:
                for m_ in range(spk_ptr[(t - 1) * bsz + b], spk_ptr[(t - 1) * bsz + b + 1]):
                    q = spk_list[m_]
                    for s in range(indptr[q], indptr[q + 1]):
                        g_rec[s] += dr[post[s]]
            for i in range(n_in):
                xi = x[t, b, i]
                if xi != 0:
                    gi = g_in_t[i]
                    for j in range(n):
                        gi[j] += xi * dr[j]


def tile_synapses(pre, post, n, size):
    """Group synapses in tiles of ``size`` × ``size`` neurons for :func:`_gather`.

    Returns ``order`` (synapse indices in tile order: by presynaptic block, postsynaptic block,
    presynaptic neuron, postsynaptic neuron), ``tiles`` ``[n_tiles, 3]`` (pre block, post block,
    first position), ``tile_len``, the in-tile neuron indices ``pre_loc``, ``post_loc``, the
    synapses by postsynaptic neuron (``in_syn[in_indptr[j]:in_indptr[j + 1]]`` end on ``j``) and
    their presynaptic neurons in that order (``in_pre = pre[in_syn]``).
    """
    pre = np.asarray(pre, np.int64)
    post = np.asarray(post, np.int64)
    nb = (n + size - 1) // size
    key = ((pre // size) * nb + post // size) * n * n + pre * n + post
    order = np.argsort(key, kind="stable")
    tile_id = (pre // size * nb + post // size)[order]
    starts = (
        np.flatnonzero(np.r_[True, tile_id[1:] != tile_id[:-1]])
        if len(order)
        else np.zeros(0, np.int64)
    )
    lens = np.diff(np.r_[starts, len(order)])
    tiles = np.stack([tile_id[starts] // nb, tile_id[starts] % nb, starts], axis=1).astype(np.int64)
    in_syn = np.argsort(post * n + pre, kind="stable")  # synapses grouped by postsynaptic neuron
    in_indptr = np.zeros(n + 1, np.int64)
    in_indptr[1:] = np.cumsum(np.bincount(post, minlength=n))
    return (
        order,
        tiles.reshape(-1, 3),
        lens.astype(np.int64),
        (pre[order] % size).astype(np.int64),
        (post[order] % size).astype(np.int64),
        in_indptr,
        in_syn.astype(np.int64),
        pre[in_syn].astype(np.int64),
    )


def _with_gather(gather: Callable, push: Callable) -> Callable:
    """:func:`_backward` whose ``_gather`` and ``_push`` are compiled (numba compiles them in)."""
    fn = types.FunctionType(
        _backward.__code__, {**_backward.__globals__, "_gather": gather, "_push": push}, "_backward"
    )
    fn.__qualname__ = _backward.__qualname__
    return fn


def _interruptible(kernel: Callable) -> Callable:
    """``kernel`` with Ctrl-C / SIGTERM held back until it returns (see
    :mod:`neuromod_data._interrupts`): the dispatcher loads and type-checks through Python callbacks,
    where an interrupt turns into a ``SystemError`` (or is lost). A call takes milliseconds to a
    second; only the first call of a fresh install (compiling, ~1 min) holds an interrupt longer."""
    from neuromod_data._interrupts import deferred

    def call(*args: object) -> object:
        with deferred():
            return kernel(*args)

    call.__name__ = call.__qualname__ = getattr(kernel, "__name__", "kernel")
    call.dispatcher = kernel  # type: ignore[attr-defined]
    return call


_COMPILED: dict[str, Callable] | None = None
_TRIED = False


def kernels() -> dict[str, Callable] | None:
    """The compiled kernels (``forward``, ``backward``, ``tile_synapses`` — plain numpy), or
    ``None`` without numba."""
    global _COMPILED, _TRIED
    if not _TRIED:
        _TRIED = True
        if os.environ.get("NEUROMOD_NUMBA", "1") != "0":
            try:
                from numba import njit
            except ImportError:  # pragma: no cover - numba comes with scanpy
                return None
            jit = njit(cache=True, nogil=True)
            _COMPILED = {
                "forward": _interruptible(jit(_forward)),
                # _backward calls _gather and _push: compiled against their compiled versions
                "backward": _interruptible(jit(_with_gather(jit(_gather), jit(_push)))),
            }
    return _COMPILED
