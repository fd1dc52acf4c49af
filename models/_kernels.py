"""Compiled (numba) CPU kernels for the fused sequence code in :mod:`neuromod_models._fast`.

Each time step of the torch loop is ~10 tensor operations of 6,400 elements, so per-op dispatch
costs as much as the arithmetic. These kernels run the whole time loop in one compiled call
instead, and exploit what the torch code cannot: spikes are sparse (≈1 % of neurons per step in
the paper's task), so the recurrent input of a step is the sum of the weight rows of the neurons
that spiked, and the recurrent weight gradient is a scatter over spikes.

They compute the same recursions as the torch loops, operation for operation in the input dtype
(float32 stays float32); only the summation order of the recurrent input differs. numba comes
with scanpy; without it (or with ``NEUROMOD_NUMBA=0``) the torch loops run instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

__all__ = ["kernels"]


def _forward(i_all, w, alpha, rho, inc, scal, n_ref, adaptive, z_out, psi_out):  # pragma: no cover
    # scal = [v_th, -v_th, gamma / v_th] in the input dtype, so nothing is promoted to float64
    t_len, bsz, n = i_all.shape
    v_th, neg_v_th, g = scal[0], scal[1], scal[2]
    one = v_th / v_th
    zero = v_th - v_th
    u = np.empty((bsz, n), i_all.dtype)
    u[:] = neg_v_th  # u = v - v_th from rest
    c = np.zeros((bsz, n), i_all.dtype)  # c = beta * b
    ref = np.zeros((bsz, n), np.int64)  # refractory steps left
    spk = np.zeros((bsz, n), np.int64)  # neurons that spiked at the previous step, per row
    nspk = np.zeros(bsz, np.int64)
    cur = np.empty(n, i_all.dtype)
    for t in range(t_len):
        for b in range(bsz):
            for j in range(n):
                cur[j] = i_all[t, b, j]
            # w's diagonal is -v_th: the reset arrives with the recurrent input
            for k in range(nspk[b]):
                q = spk[b, k]
                for j in range(n):
                    cur[j] += w[q, j]
            n_new = 0
            for j in range(n):
                uj = cur[j] + alpha[j] * u[b, j]
                u[b, j] = uj
                d = uj
                if adaptive:
                    zp = z_out[t - 1, b, j] if t > 0 else zero
                    cj = c[b, j] * rho[j] + zp * inc[j]
                    c[b, j] = cj
                    d = uj - cj
                if ref[b, j] > 0:
                    ref[b, j] -= 1
                    z_out[t, b, j] = zero
                    psi_out[t, b, j] = zero
                    continue
                m = abs(d)
                if m > v_th:
                    m = v_th
                psi_out[t, b, j] = (m / neg_v_th + one) * g
                if d > zero:
                    z_out[t, b, j] = one
                    ref[b, j] = n_ref
                    spk[b, n_new] = j
                    n_new += 1
                else:
                    z_out[t, b, j] = zero
            nspk[b] = n_new


def _backward(sig, psi, wb, use_w, alpha, rho, beta, scal, adaptive, out):  # pragma: no cover
    # reverse-time adjoint of _fast._backward_loop; out = dE/dv (times 1-alpha by the caller)
    t_len, bsz, n = sig.shape
    v_th = scal[0]
    av = np.zeros((bsz, n), sig.dtype)
    ab = np.zeros((bsz, n), sig.dtype)
    one = v_th / v_th
    for t in range(t_len - 1, -1, -1):
        gz = np.dot(av, wb) if use_w else av * (-v_th)
        for b in range(bsz):
            for j in range(n):
                gj = sig[t, b, j] + gz[b, j]
                if adaptive:
                    gj = gj + ab[b, j] * (one - rho[j])
                pg = gj * psi[t, b, j]
                a = pg + av[b, j] * alpha[j]
                av[b, j] = a
                out[t, b, j] = a
                if adaptive:
                    ab[b, j] = ab[b, j] * rho[j] - beta[j] * pg


def _grad_rec(delta, z, out):  # pragma: no cover
    # out[q, j] = sum_{t>=1, b} delta[t, b, j] * z[t-1, b, q] over the (sparse) spikes only
    t_len, bsz, n = z.shape
    for t in range(1, t_len):
        for b in range(bsz):
            for q in range(n):
                zq = z[t - 1, b, q]
                if zq != 0:
                    for j in range(n):
                        out[q, j] += delta[t, b, j] * zq


_COMPILED: dict[str, Callable] | None = None
_TRIED = False


def kernels() -> dict[str, Callable] | None:
    """The compiled kernels (``forward``, ``backward``, ``grad_rec``), or ``None`` without numba."""
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
                "forward": jit(_forward),
                "backward": jit(_backward),
                "grad_rec": jit(_grad_rec),
            }
    return _COMPILED
