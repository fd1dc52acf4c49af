"""Evaluation trials (neuromod_models.evaluation): their own seed stream, and MDGL's modulatory term
per type against a loop-by-loop computation of docs/design.md, "MDGL"."""

from __future__ import annotations

import numpy as np
import torch

from neuromod_data.structure import CellTypeStructure
from neuromod_models import SpikingNetwork, make_rule
from neuromod_models.evaluation import evaluation_seed, record_trials, rule_from
from neuromod_models.tasks import make_task
from neuromod_models.training import batch_seed


def _setup():
    task = make_task("evidence_accumulation", T=40, n_cues=3, t_cue=5, t_interval=8,
                     recall_duration=10)  # fmt: skip
    st = CellTypeStructure(
        ("A", "B", "C"), [0.5, 0.3, 0.2], [1, -1, -1], np.ones((1, 3, 3)), ("p",)
    )
    kw = {**task.network_kwargs(), "n_rec": 12, "n_adaptive": 4, "p_rec": 0.4, "p_out": 0.5}
    net = SpikingNetwork(**kw, structure=st, seed=2, dtype=torch.float64, w_in_scale=3.0)
    return task, net


def test_evaluation_stream_differs_from_training_and_validation():
    seeds = {evaluation_seed(s) for s in range(5)}
    used = {batch_seed(s, split, i) for s in range(5) for split in ("train", "validation")
            for i in range(50)}  # fmt: skip
    assert len(seeds) == 5 and not seeds & used


def test_modulation_term_matches_a_loop_computation():
    task, net = _setup()
    rule = make_rule("mdgl", gate="data", variant="local")
    rec = record_trials(net, task, trials=3, seed=1, rule=rule)
    batch = task.sample(3, seed=evaluation_seed(1), dtype=torch.float64)
    with torch.no_grad():
        out, psi = net.forward_steps(batch.x)
        y = out.y
    y = y.detach().requires_grad_(True)
    (gy,) = torch.autograd.grad(task.loss(y, batch), y)
    gy, psi = gy.numpy(), psi.numpy()
    t_len, b_len, n = psi.shape
    w_out, w = net.w_out.detach().numpy(), net.w_rec.detach().numpy()  # w [post, pre]
    kappa, alpha = net.kappa, net.alpha.numpy()
    ti = net.type_index.numpy()
    gate = net.structure.gate(kind="weighted")
    # L^t = (1 - κ) Σ_{t' ≥ t} κ^(t' - t) W_outᵀ ∂E/∂y^t'
    sig = np.zeros((t_len, b_len, n))
    acc = np.zeros((b_len, w_out.shape[0]))
    for t in reversed(range(t_len)):
        acc = kappa * acc + gy[t]
        sig[t] = (1 - kappa) * acc @ w_out
    # W̄[a, b]: mean of the nonzero weights from type b onto type a, gated by G[a, b]
    wbar = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            vals = [w[j, p] for j in range(n) for p in range(n)
                    if ti[j] == a and ti[p] == b and w[j, p] != 0]  # fmt: skip
            wbar[a, b] = (np.mean(vals) if vals else 0.0) * gate[a, b]
    extra = np.zeros_like(sig)
    for t in range(t_len - 1):
        for p in range(n):
            for j in range(n):
                if w[j, p] != 0:
                    extra[t, :, p] += (
                        (1 - alpha[j]) * psi[t + 1, :, j] * sig[t + 1, :, j] * (wbar[ti[j], ti[p]])
                    )
    want = np.stack([np.abs(extra[:, :, ti == k]).mean(axis=(1, 2)) for k in range(3)], axis=1)
    assert np.abs(want).max() > 0  # the comparison is not of zeros
    np.testing.assert_allclose(rec.modulation, want, rtol=1e-9, atol=1e-300)
    want_l = np.stack([np.abs(sig[:, :, ti == k]).mean(axis=(1, 2)) for k in range(3)], axis=1)
    np.testing.assert_allclose(rec.learning_signal, want_l, rtol=1e-9)


def test_rules_without_modulation():
    task, net = _setup()
    assert record_trials(net, task, trials=2, rule=make_rule("eprop")).modulation is None
    rec = record_trials(net, task, trials=2, rule=rule_from({"name": "bptt", "seed": 0}))
    assert rec.modulation is None and rec.learning_signal is None
    assert rec.z.shape == (40, 2, 12) and rec.rate_hz.shape == (12,)
