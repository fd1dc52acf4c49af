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
):  # fmt: skip  # pragma: no cover - compiled; the body is tested through .py_func
    """Run the neurons from rest over ``x`` ``[T, B, n_in]``.

    ``w_in_t`` ``[n_in, N]``: input weights times ``1 - α`` of the postsynaptic neuron;
    ``indptr`` / ``post`` / ``w_eff``: recurrent synapses by presynaptic neuron, values times
    ``1 - α_post``; per neuron: ``alpha``, ``rho``, ``inc = β (1 - ρ)``, ``v_th``,
    ``g = γ / v_th``, ``n_ref``; ``w_out_t`` ``[N, n_out]``. Writes spikes ``z_out`` (uint8) and
    ψ ``[T, B, N]``, the filtered readout without bias ``y_out`` ``[T, B, n_out]`` and the spike
    count of every neuron ``counts``.
    """
    t_len, bsz, n_in = x.shape
    n = alpha.shape[0]
    n_out = w_out_t.shape[1]
    zero = alpha[0] - alpha[0]
    one = zero + 1
    one_m_kappa = one - kappa
    v = np.zeros((bsz, n), psi_out.dtype)
    c = np.zeros((bsz, n), psi_out.dtype)  # c = β b, the threshold's adaptive part
    ref = np.zeros((bsz, n), np.int64)  # refractory steps left
    spk = np.zeros((bsz, n), np.int64)  # neurons that spiked at the previous step
    nspk = np.zeros(bsz, np.int64)
    psp = np.zeros((bsz, n_out), psi_out.dtype)
    cur = np.empty(n, psi_out.dtype)
    for t in range(t_len):
        for b in range(bsz):
            for j in range(n):
                cur[j] = zero
            for i in range(n_in):
                xi = x[t, b, i]
                if xi != 0:
                    for j in range(n):
                        cur[j] += xi * w_in_t[i, j]
            for k in range(nspk[b]):
                q = spk[b, k]
                for s in range(indptr[q], indptr[q + 1]):
                    cur[post[s]] += w_eff[s]
            n_new = 0
            for j in range(n):
                spiked = t > 0 and z_out[t - 1, b, j] != 0
                vj = alpha[j] * v[b, j] + cur[j]
                if spiked:
                    vj -= v_th[j]  # reset by the threshold
                v[b, j] = vj
                d = vj - v_th[j]
                if adaptive:
                    cj = rho[j] * c[b, j]
                    if spiked:
                        cj += inc[j]
                    c[b, j] = cj
                    d -= cj
                if ref[b, j] > 0:
                    ref[b, j] -= 1
                    z_out[t, b, j] = 0
                    psi_out[t, b, j] = zero
                    continue
                m = abs(d)
                if m > v_th[j]:
                    m = v_th[j]
                psi_out[t, b, j] = (one - m / v_th[j]) * g[j]
                if d > zero:
                    z_out[t, b, j] = 1
                    ref[b, j] = n_ref[j]
                    spk[b, n_new] = j
                    n_new += 1
                    counts[j] += 1
                else:
                    z_out[t, b, j] = 0
            nspk[b] = n_new
            for k in range(n_out):
                u = zero
                for m_ in range(n_new):
                    u += w_out_t[spk[b, m_], k]
                psp[b, k] = kappa * psp[b, k] + one_m_kappa * u
                y_out[t, b, k] = psp[b, k]


def _backward(
    x, z, psi, gy, fb, gzc, indptr, post, w_rec, use_rec, w_mod, mod_kind, type_index, m_type,
    alpha, rho, beta, v_th, adaptive, kappa, g_in_t, g_rec, g_out_t, g_b_out,
):  # fmt: skip  # pragma: no cover - compiled; the body is tested through .py_func
    """Reverse-time adjoint of :func:`_forward` and every weight gradient, step by step.

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
    t_len, bsz, n = psi.shape
    n_in = x.shape[2]
    n_out = gy.shape[2]
    n_types = m_type.shape[0]
    dt = psi.dtype
    zero = alpha[0] - alpha[0]
    one = zero + 1
    one_m_kappa = one - kappa
    av = np.zeros((n, bsz), dt)
    ab = np.zeros((n, bsz), dt)
    lpsi = np.zeros((n, bsz), dt)  # (L ψ) of step t + 1
    ext = np.zeros((n, bsz), dt)  # what the next step's neurons send back to this one
    lsig = np.empty((n, bsz), dt)
    psi_t = np.empty((n, bsz), dt)
    delta = np.empty((n, bsz), dt)
    sums = np.empty((n_types, bsz), dt)
    acc = np.zeros((bsz, n_out), dt)
    gyf = np.empty((bsz, n_out), dt)
    for t in range(t_len - 1, -1, -1):
        # readout: gyf^t = (1 - κ) Σ_{t' ≥ t} κ^{t'-t} gy^{t'}
        for b in range(bsz):
            for k in range(n_out):
                acc[b, k] = gy[t, b, k] + kappa * acc[b, k]
                gyf[b, k] = one_m_kappa * acc[b, k]
                g_b_out[k] += gy[t, b, k]
        for b in range(bsz):
            for j in range(n):
                psi_t[j, b] = psi[t, b, j]
                if z[t, b, j] != 0:
                    for k in range(n_out):
                        g_out_t[j, k] += gyf[b, k]
        # learning signal L^t (readout feedback + the rate penalty's constant gradient)
        for j in range(n):
            for b in range(bsz):
                acc_l = gzc[j]
                for k in range(n_out):
                    acc_l += gyf[b, k] * fb[k, j]
                lsig[j, b] = acc_l
        # what is added to L^t from step t + 1 (lpsi, av, ab still hold step t + 1)
        for p in range(n):
            for b in range(bsz):
                ext[p, b] = zero
        if mod_kind == 1:
            for p in range(n):
                for s in range(indptr[p], indptr[p + 1]):
                    w = w_mod[s]
                    j = post[s]
                    for b in range(bsz):
                        ext[p, b] += w * lpsi[j, b]
        elif mod_kind == 2:
            for a in range(n_types):
                for b in range(bsz):
                    sums[a, b] = zero
            for j in range(n):
                a = type_index[j]
                w = one - alpha[j]
                for b in range(bsz):
                    sums[a, b] += w * lpsi[j, b]
            for p in range(n):
                tp = type_index[p]
                for a in range(n_types):
                    w = m_type[a, tp]
                    if w != 0:
                        for b in range(bsz):
                            ext[p, b] += w * sums[a, b]
        if use_rec:
            for p in range(n):
                for s in range(indptr[p], indptr[p + 1]):
                    w = w_rec[s]
                    j = post[s]
                    for b in range(bsz):
                        ext[p, b] += w * av[j, b]
        # adjoints of step t
        for j in range(n):
            om = one - alpha[j]
            omr = one - rho[j]
            for b in range(bsz):
                gz = lsig[j, b] + ext[j, b] - v_th[j] * av[j, b]
                if adaptive:
                    gz += omr * ab[j, b]
                pg = gz * psi_t[j, b]
                a_new = alpha[j] * av[j, b] + pg
                av[j, b] = a_new
                if adaptive:
                    ab[j, b] = rho[j] * ab[j, b] - beta[j] * pg
                delta[j, b] = om * a_new
                lpsi[j, b] = lsig[j, b] * psi_t[j, b]
        # weight gradients, event-driven: recurrent over the spikes of t - 1, input over x^t
        if t > 0:
            for b in range(bsz):
                for q in range(n):
                    if z[t - 1, b, q] != 0:
                        for s in range(indptr[q], indptr[q + 1]):
                            g_rec[s] += delta[post[s], b]
        for b in range(bsz):
            for i in range(n_in):
                xi = x[t, b, i]
                if xi != 0:
                    for j in range(n):
                        g_in_t[i, j] += xi * delta[j, b]


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
