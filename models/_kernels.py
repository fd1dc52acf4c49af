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
from collections.abc import Callable

import numpy as np

__all__ = ["kernels"]

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
    ``z_out`` (uint8) and ψ, both neuron-major ``[T, N, B]``, the filtered readout without bias
    ``y_out`` ``[T, B, n_out]`` and the spike count of every neuron ``counts``.

    The state is neuron-major too, so each neuron's update runs over the batch without branches
    (vectorised); the spikes of a step go into a list that the next step's recurrent input and the
    readout walk through.
    """
    t_len, bsz, n_in = x.shape
    n = alpha.shape[0]
    n_out = w_out_t.shape[1]
    dt = psi_out.dtype
    zero = alpha[0] - alpha[0]
    one = alpha[0] / alpha[0]  # 1 in the arrays' dtype (zero + 1 would be float64)
    one_m_kappa = one - kappa
    v = np.zeros((n, bsz), dt)
    c = np.zeros((n, bsz), dt)  # c = β b, the threshold's adaptive part
    ref = np.zeros((n, bsz), dt)  # refractory steps left
    zp = np.zeros((n, bsz), dt)  # spikes of the previous step
    cur = np.zeros((n, bsz), dt)
    spk_q = np.empty(n * bsz, np.int64)  # spikes of the previous step: neuron, trial
    spk_b = np.empty(n * bsz, np.int64)
    nspk = 0
    psp = np.zeros((bsz, n_out), dt)
    u = np.zeros((bsz, n_out), dt)
    for t in range(t_len):
        for j in range(n):
            for b in range(bsz):
                cur[j, b] = zero
        for b in range(bsz):
            for i in range(n_in):
                xi = x[t, b, i]
                if xi != 0:
                    for j in range(n):
                        cur[j, b] += xi * w_in_t[i, j]
        for k in range(nspk):
            q = spk_q[k]
            b = spk_b[k]
            for s in range(indptr[q], indptr[q + 1]):
                cur[post[s], b] += w_eff[s]
        for j in range(n):
            aj, rj, ij, vt, gj, nr = alpha[j], rho[j], inc[j], v_th[j], g[j], n_ref[j]
            ivt = one / vt
            # row views and no branches: the loop over the batch vectorises
            vr, cr, rr, zr, ur, pr = v[j], c[j], ref[j], zp[j], cur[j], psi_out[t, j]
            if adaptive:
                for b in range(bsz):
                    cr[b] = rj * cr[b] + ij * zr[b]
            for b in range(bsz):
                zpv = zr[b]
                vj = aj * vr[b] + ur[b] - vt * zpv  # reset by the threshold
                vr[b] = vj
                d = vj - vt - cr[b]
                rf = rr[b]
                free = (rf <= zero) * one
                m = min(abs(d), vt)
                pr[b] = free * (one - m * ivt) * gj
                zn = free * (d > zero)
                rm = max(rf - one, zero)
                rr[b] = rm + zn * (nr - rm)
                zr[b] = zn
            zo = z_out[t, j]
            for b in range(bsz):
                zo[b] = np.uint8(zr[b])
        nspk = 0
        for j in range(n):
            for b in range(bsz):
                if zp[j, b] != zero:
                    spk_q[nspk] = j
                    spk_b[nspk] = b
                    nspk += 1
                    counts[j] += 1
                    for k in range(n_out):
                        u[b, k] += w_out_t[j, k]
        for b in range(bsz):
            for k in range(n_out):
                psp[b, k] = kappa * psp[b, k] + one_m_kappa * u[b, k]
                y_out[t, b, k] = psp[b, k]
                u[b, k] = zero


def _backward(
    x, z, psi, gy, fb, gzc, indptr, post, w_rec, use_rec, w_mod, mod_kind, type_index, m_type,
    alpha, rho, beta, v_th, adaptive, kappa, g_in_t, g_rec, g_out_t, g_b_out,
):  # fmt: skip  # pragma: no cover - compiled; the body is tested uncompiled too
    """Reverse-time adjoint of :func:`_forward` and every weight gradient, step by step.

    ``z`` and ``psi`` are neuron-major ``[T, N, B]`` as the forward pass writes them.
    ``gy`` ``[T, B, n_out]``: gradient of the loss on the readout; ``fb`` ``[n_out, N]``: the
    readout weights (BPTT, symmetric e-prop) or e-prop's random feedback; ``gzc`` ``[N]``: a
    gradient on every ``z_j^t`` that does not depend on ``t`` or the trial (a penalty on rates).
    ``w_rec`` ``[nnz]`` (times ``1 - α_post``) is used when ``use_rec`` (BPTT: credit carried back
    through the recurrent weights). MDGL (``mod_kind``): the learning signal ``L`` of step ``t``
    gains ``Σ_j W̃_jp (1 - α_j) (L ψ)_j^{t+1}``, by a gather over ``p``'s synapses with per-synapse
    ``w_mod`` (already times ``1 - α_post``), or by per-type sums with ``m_type[a, type(p)]``.
    Accumulates into ``g_in_t`` ``[n_in, N]``, ``g_rec`` ``[nnz]``, ``g_out_t`` ``[N, n_out]`` and
    ``g_b_out`` ``[n_out]``.

    The adjoints are ``av = ∂E/∂v`` and ``ab = ∂E/∂b`` (through the neuron's own future); with
    ``Gz`` the total gradient on ``z^t``::

        Gz^t = L^t [+ modulation] [+ recurrent] - v_th av^{t+1} + (1 - ρ) ab^{t+1}
        av^t = α av^{t+1} + ψ^t Gz^t,   ab^t = ρ ab^{t+1} - β ψ^t Gz^t
        δ^t  = (1 - α) av^t:  ∂E/∂Win = Σ_t δ^t x^tᵀ,   ∂E/∂Wrec = Σ_t δ^t z^{t-1}ᵀ
    """
    t_len, n, bsz = psi.shape
    n_in = x.shape[2]
    n_out = gy.shape[2]
    n_types = m_type.shape[0]
    dt = psi.dtype
    zero = alpha[0] - alpha[0]
    one = alpha[0] / alpha[0]  # 1 in the arrays' dtype (zero + 1 would be float64)
    one_m_kappa = one - kappa
    av = np.zeros((n, bsz), dt)
    ab = np.zeros((n, bsz), dt)
    lpsi = np.zeros((n, bsz), dt)  # (L ψ) of step t + 1
    ext = np.zeros((n, bsz), dt)  # what the next step's neurons send back to this one
    delta = np.empty((n, bsz), dt)
    sums = np.empty((n_types, bsz), dt)
    acc = np.zeros((n_out, bsz), dt)
    gyf = np.empty((n_out, bsz), dt)
    # spikes of step t (neuron, trial), then of step t - 1: one scan of z per step
    cur_q = np.empty(n * bsz, np.int64)
    cur_b = np.empty(n * bsz, np.int64)
    prev_q = np.empty(n * bsz, np.int64)
    prev_b = np.empty(n * bsz, np.int64)
    n_cur = 0
    for j in range(n):
        zr = z[t_len - 1, j]
        for b in range(bsz):
            if zr[b] != 0:
                cur_q[n_cur] = j
                cur_b[n_cur] = b
                n_cur += 1
    for t in range(t_len - 1, -1, -1):
        # readout: gyf^t = (1 - κ) Σ_{t' ≥ t} κ^{t'-t} gy^{t'}
        for k in range(n_out):
            for b in range(bsz):
                g = gy[t, b, k]
                acc[k, b] = g + kappa * acc[k, b]
                gyf[k, b] = one_m_kappa * acc[k, b]
                g_b_out[k] += g
        for m in range(n_cur):
            j = cur_q[m]
            b = cur_b[m]
            for k in range(n_out):
                g_out_t[j, k] += gyf[k, b]
        # what is added to L^t from step t + 1 (lpsi, av, ab still hold step t + 1)
        if mod_kind == 1 or use_rec:
            src = lpsi if mod_kind == 1 else av
            wts = w_mod if mod_kind == 1 else w_rec
            for p in range(n):
                er = ext[p]
                for b in range(bsz):
                    er[b] = zero
                for s in range(indptr[p], indptr[p + 1]):
                    w = wts[s]
                    sr = src[post[s]]
                    for b in range(bsz):
                        er[b] += w * sr[b]
        elif mod_kind == 2:
            for a in range(n_types):
                for b in range(bsz):
                    sums[a, b] = zero
            for j in range(n):
                sa = sums[type_index[j]]
                lr = lpsi[j]
                w = one - alpha[j]
                for b in range(bsz):
                    sa[b] += w * lr[b]
            for p in range(n):
                er = ext[p]
                tp = type_index[p]
                for b in range(bsz):
                    er[b] = zero
                for a in range(n_types):
                    w = m_type[a, tp]
                    if w != 0:
                        sa = sums[a]
                        for b in range(bsz):
                            er[b] += w * sa[b]
        has_ext = mod_kind != 0 or use_rec
        # adjoints of step t, with the learning signal L^t (readout feedback + the rate penalty's
        # constant gradient) computed on the way
        for j in range(n):
            aj, rj, bj, vt, gzj = alpha[j], rho[j], beta[j], v_th[j], gzc[j]
            om = one - aj
            omr = one - rj
            avr, abr, pr, er, dr, lr = av[j], ab[j], psi[t, j], ext[j], delta[j], lpsi[j]
            for b in range(bsz):
                ls = gzj
                for k in range(n_out):
                    ls += fb[k, j] * gyf[k, b]
                ps = pr[b]
                gz = ls - vt * avr[b] + omr * abr[b]
                if has_ext:
                    gz += er[b]
                pg = gz * ps
                a_new = aj * avr[b] + pg
                avr[b] = a_new
                abr[b] = rj * abr[b] - bj * pg
                dr[b] = om * a_new
                lr[b] = ls * ps
        # weight gradients, event-driven: recurrent over the spikes of t - 1, input over x^t
        n_prev = 0
        if t > 0:
            for q in range(n):
                zr = z[t - 1, q]
                for b in range(bsz):
                    if zr[b] != 0:
                        prev_q[n_prev] = q
                        prev_b[n_prev] = b
                        n_prev += 1
            for m in range(n_prev):
                q = prev_q[m]
                b = prev_b[m]
                for s in range(indptr[q], indptr[q + 1]):
                    g_rec[s] += delta[post[s], b]
        for b in range(bsz):
            for i in range(n_in):
                xi = x[t, b, i]
                if xi != 0:
                    for j in range(n):
                        g_in_t[i, j] += xi * delta[j, b]
        cur_q, prev_q = prev_q, cur_q
        cur_b, prev_b = prev_b, cur_b
        n_cur = n_prev


_COMPILED: dict[str, Callable] | None = None
_TRIED = False


def kernels() -> dict[str, Callable] | None:
    """The compiled kernels (``forward``, ``backward``), or ``None`` without numba."""
    global _COMPILED, _TRIED
    if not _TRIED:
        _TRIED = True
        if os.environ.get("NEUROMOD_NUMBA", "1") != "0":
            try:
                from numba import njit
            except ImportError:  # pragma: no cover - numba comes with scanpy
                return None
            jit = njit(cache=True, nogil=True)
            _COMPILED = {"forward": jit(_forward), "backward": jit(_backward)}
    return _COMPILED
