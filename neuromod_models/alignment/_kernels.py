"""The compiled kernel of the gradient alignment: e-prop's backward pass for K + 2 learning
signals at once (:func:`_multi_backward`), compiled by numba where the fused rules are."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .. import _fast


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
