"""e-prop: fused == autograd with z^{t-1} detached in the Wrec path == online forward mode == an explicit
eligibility-trace recursion written here from docs/design.md ("e-prop") (reset and adaptation terms included)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neuromod_models import SpikingNetwork, make_rule
from neuromod_models.regularization import FiringRateRegularizer

torch.set_default_dtype(torch.float32)


def small_net(seed: int = 3, **kw) -> SpikingNetwork:
    opts = dict(
        p_in=0.8,
        p_rec=0.6,
        p_out=0.9,
        tau_a=25.0,
        n_ref=2,
        w_in_scale=2.0,
        v_th=0.1,  # tiny nets have large weights: a wider ψ window keeps gradients flowing
        seed=seed,
        dtype=torch.float64,
    )
    opts.update(kw)
    return SpikingNetwork(4, 9, 2, **opts)


def poisson(t_len: int = 35, batch: int = 3, n_in: int = 4, rate: float = 0.25, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t_len, batch, n_in, generator=g) < rate).double()


def reference_run(net: SpikingNetwork, x: torch.Tensor) -> dict:
    """Direct simulation of the neuron model and the e-prop traces (docs/design.md), step by step.

    Traces per synapse (pre = [z^{t-1}, x^t]), with the neuron's own reset and adaptation Jacobian
    evaluated at ψ^{t-1}::

        ε^v_t = (α - v_th ψ^{t-1}) ε^v_{t-1} + v_th β ψ^{t-1} ε^a_{t-1} + (1-α) pre_t
        ε^a_t = (1-ρ) ψ^{t-1} ε^v_{t-1} + (ρ - (1-ρ) β ψ^{t-1}) ε^a_{t-1}
        e_t   = ψ^t ε^v_t - β ψ^t ε^a_t
    """
    w_in, w_rec, w_out = net.w_in.detach(), net.w_rec.detach(), net.w_out.detach()
    al, rh, be = net.alpha[None, :], net.rho[None, :], net.beta[None, :]
    v_th, n_ref, gamma = net.v_th, net.n_ref, net.gamma
    t_len, bsz, n_in = x.shape
    n = net.n_rec
    v = torch.zeros(bsz, n, dtype=x.dtype)
    b = torch.zeros_like(v)
    z = torch.zeros_like(v)
    ref = torch.zeros_like(v)
    psi_prev = torch.zeros_like(v)
    ev = torch.zeros(bsz, n, n + n_in, dtype=x.dtype)
    ea = torch.zeros_like(ev)
    zs, psis, es, refr = [], [], [], []
    for t in range(t_len):
        pre = torch.cat([z, x[t]], dim=1)
        cur = x[t] @ w_in.T + z @ w_rec.T
        ev, ea = (
            (al - v_th * psi_prev)[..., None] * ev
            + (v_th * be * psi_prev)[..., None] * ea
            + (1 - al)[..., None] * pre[:, None, :],
            ((1 - rh) * psi_prev)[..., None] * ev + (rh - (1 - rh) * be * psi_prev)[..., None] * ea,
        )
        b = rh * b + (1 - rh) * z
        v = al * v + (1 - al) * cur - v_th * z
        dist = v - (v_th + be * b)
        refractory = ref > 0
        z = ((dist > 0) & ~refractory).double()
        psi = gamma / v_th * torch.clamp(1 - dist.abs() / v_th, min=0) * (~refractory).double()
        ref = torch.where(z > 0, n_ref.to(x.dtype).expand_as(ref), torch.clamp(ref - 1, min=0))
        es.append(psi[..., None] * ev - (be * psi)[..., None] * ea)
        zs.append(z)
        psis.append(psi)
        refr.append(refractory)
        psi_prev = psi
    z = torch.stack(zs)
    kappa = net.kappa
    psp = torch.zeros(bsz, n, dtype=x.dtype)
    ys = []
    for t in range(t_len):
        psp = kappa * psp + (1 - kappa) * z[t]
        ys.append(psp @ w_out.T + net.b_out.detach())
    return dict(
        z=z,
        psi=torch.stack(psis),
        e=torch.stack(es),
        y=torch.stack(ys),
        refractory=torch.stack(refr),
    )


def learning_signal(gy: torch.Tensor, fb: torch.Tensor, kappa: float) -> torch.Tensor:
    """L_p^t = Σ_k fb_kp Σ_{t'≥t} (1-κ) κ^{t'-t} ∂E/∂y_k^{t'} (explicit double loop)."""
    t_len = gy.shape[0]
    out = torch.zeros(t_len, gy.shape[1], fb.shape[1], dtype=gy.dtype)
    for t in range(t_len):
        acc = torch.zeros_like(gy[0])
        for s in range(t, t_len):
            acc = acc + (1 - kappa) * kappa ** (s - t) * gy[s]
        out[t] = acc @ fb
    return out


def theta_grads(net: SpikingNetwork, g_pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Map gradients w.r.t. effective weights to θ (W = sign ⊙ relu(θ) at the synapses; θ_rec has
    one entry per recurrent synapse, input θ a masked matrix)."""
    n = net.n_rec
    pre, post = net.synapses.pre, net.synapses.post
    g_rec = g_pre[:, :n][post, pre] * net.signs[pre] * (net.theta_rec >= 0)
    g_in = g_pre[:, n:] * net.in_mask * net.in_sign[None, :] * (net.theta_in >= 0)
    return g_rec.detach(), g_in.detach()


def loss_fn_factory(target: torch.Tensor):
    return lambda y: (
        ((y - target) ** 2).sum() * 0.5
        + torch.nn.functional.cross_entropy(y[-1], torch.tensor([0, 1, 1]))
    )


def test_reference_has_spikes_refractoriness_and_adaptation():
    net = small_net()
    ref = reference_run(net, poisson())
    z = ref["z"]
    assert 0.05 < float(z.mean()) < 0.6
    assert bool(ref["refractory"].any())
    assert int(net.adaptive.sum()) > 0 and bool(z[:, :, net.adaptive].sum() > 0)
    assert float((ref["psi"] > 0).double().mean()) > 0.1
    # the fused forward reproduces the direct simulation exactly
    out = net(poisson())
    assert torch.equal(out.z, z)
    assert torch.allclose(out.y, ref["y"], atol=1e-12)


@pytest.mark.parametrize("feedback", ["symmetric", "random"])
def test_eprop_all_implementations_match_explicit_traces(feedback, sequence_backend):
    x = poisson()
    target = torch.randn(
        x.shape[0], x.shape[1], 2, generator=torch.Generator().manual_seed(5)
    ).double()
    loss_fn = loss_fn_factory(target)
    grads = {}
    for impl in ("fused", "autograd", "online"):
        net = small_net()
        rule = make_rule("eprop", feedback=feedback, impl=impl, seed=11)
        out = rule.backward(net, x, loss_fn)
        grads[impl] = (
            net.theta_rec.grad.clone(),
            net.theta_in.grad.clone(),
            net.theta_out.grad.clone(),
        )

    net = small_net()
    ref = reference_run(net, x)
    y = ref["y"].clone().requires_grad_(True)
    loss = loss_fn(y)
    (gy,) = torch.autograd.grad(loss, y)
    assert torch.allclose(out.loss, loss.detach(), atol=1e-12)
    fb = net.w_out.detach() if feedback == "symmetric" else rule.feedback_matrix(net)
    lsig = learning_signal(gy, fb, net.kappa)
    g_pre = torch.einsum("tbp,tbpq->pq", lsig, ref["e"])
    exp_rec, exp_in = theta_grads(net, g_pre)
    psp = torch.zeros_like(ref["z"][0])
    g_out = torch.zeros(2, net.n_rec, dtype=torch.float64)
    for t in range(x.shape[0]):
        psp = net.kappa * psp + (1 - net.kappa) * ref["z"][t]
        g_out += gy[t].T @ psp
    g_out = g_out * net.out_mask * net.out_sign[None, :]
    assert exp_rec.abs().max() > 1e-3  # a real gradient
    for impl, (g_rec, g_in, g_o) in grads.items():
        assert torch.allclose(g_rec, exp_rec, atol=1e-10, rtol=0), impl
        assert torch.allclose(g_in, exp_in, atol=1e-10, rtol=0), impl
        assert torch.allclose(g_o, g_out, atol=1e-10, rtol=0), impl


def test_eprop_differs_from_bptt_and_accumulates():
    x = poisson()
    loss_fn = loss_fn_factory(torch.zeros(x.shape[0], x.shape[1], 2, dtype=torch.float64))
    n1, n2 = small_net(), small_net()
    make_rule("eprop").backward(n1, x, loss_fn)
    make_rule("bptt").backward(n2, x, loss_fn)
    assert not torch.allclose(n1.theta_rec.grad, n2.theta_rec.grad, atol=1e-8)
    # readout gradients are exact in both
    assert torch.allclose(n1.theta_out.grad, n2.theta_out.grad, atol=1e-12)
    g1 = n1.theta_rec.grad.clone()
    make_rule("eprop").backward(n1, x, loss_fn)
    assert torch.allclose(n1.theta_rec.grad, 2 * g1, atol=1e-12)


_MEMORY_PROBE = """
import sys, torch
from neuromod_models import OnlineEprop, SpikingNetwork, make_rule
torch.set_num_threads(1)
net = SpikingNetwork(20, 200, 2, seed=0, w_in_scale=2.0)
g = torch.Generator().manual_seed(0)
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
def peak_mb(run, t_len):
    # what this run adds at its peak to the memory resident before it (Linux: clear_refs 5
    # resets the high-water mark VmHWM to the current resident size)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = status("VmRSS:")
    run(t_len)
    return status("VmHWM:") - before
def streamed(t_len):
    online = OnlineEprop(net)
    online.reset(8)
    for _ in range(t_len):  # inputs drawn step by step: nothing of length T is kept
        online.step((torch.rand(8, 20, generator=g) < 0.05).float())
        online.learn(torch.ones(8, 2))
    online.write_grads()
def fused(t_len):
    x = (torch.rand(t_len, 8, 20, generator=g) < 0.05).float()
    make_rule("eprop").backward(net, x, lambda y: y[-1].sum())
run = streamed if sys.argv[1] == "online" else fused
run(50)  # compiled kernels and first allocations out of the way
print(peak_mb(run, 6000) - peak_mb(run, 300))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("impl,grows", [("online", False), ("fused", True)])
def test_online_memory_does_not_grow_with_time(impl, grows):
    """Peak process memory measured in a fresh interpreter: streaming online e-prop over 6,000
    steps needs no more than over 300; the fused rule (the control) needs more, as it keeps ψ and
    the spikes of every step."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, impl], capture_output=True, text=True, check=True
    )
    added_mb = float(out.stdout.strip().splitlines()[-1])
    if grows:  # ψ (38 MB) and spikes (10 MB) of 6,000 steps more than of 300
        assert added_mb > 30, added_mb
    else:  # allocator noise only
        assert added_mb < 10, added_mb


def test_random_feedback_is_fixed_by_seed():
    net = small_net()
    b1 = make_rule("eprop", feedback="random", seed=2).feedback_matrix(net)
    b2 = make_rule("eprop", feedback="random", seed=2).feedback_matrix(net)
    b3 = make_rule("eprop", feedback="random", seed=3).feedback_matrix(net)
    assert torch.equal(b1, b2) and not torch.equal(b1, b3)
    assert make_rule("eprop").feedback_matrix(net) is None


@pytest.mark.parametrize("impl", ["fused", "autograd"])
def test_eprop_with_rate_regulariser_matches_explicit_traces(impl, sequence_backend):
    """The firing-rate penalty enters e-prop as an extra learning signal on z: its derivative
    ∂E_rate/∂z_j^t = 2·coef·(r_j − r₀)/(T·B·dt), written out here by hand."""
    x = poisson()
    target = torch.randn(
        x.shape[0], x.shape[1], 2, generator=torch.Generator().manual_seed(5)
    ).double()
    loss_fn = loss_fn_factory(target)
    reg = FiringRateRegularizer(coef=3.0, target_hz=50.0)
    net = small_net()
    out = make_rule("eprop", impl=impl).backward(net, x, loss_fn, regularizer=reg)
    ref_net = small_net()
    ref = reference_run(ref_net, x)
    t_len, bsz = x.shape[:2]
    rate = ref["z"].mean(dim=(0, 1))
    assert float(out.penalty) == pytest.approx(3.0 * float(((rate - 0.05) ** 2).sum()), rel=1e-12)
    y = ref["y"].clone().requires_grad_(True)
    (gy,) = torch.autograd.grad(loss_fn(y), y)
    lsig = learning_signal(gy, ref_net.w_out.detach(), ref_net.kappa)
    lsig = lsig + (2 * 3.0 * (rate - 0.05) / (t_len * bsz))[None, None, :]
    exp_rec, exp_in = theta_grads(ref_net, torch.einsum("tbp,tbpq->pq", lsig, ref["e"]))
    without = small_net()
    make_rule("eprop", impl=impl).backward(without, x, loss_fn)
    assert (net.theta_rec.grad - without.theta_rec.grad).abs().max() > 1e-4  # the penalty counts
    assert torch.allclose(net.theta_rec.grad, exp_rec, atol=1e-10, rtol=0)
    assert torch.allclose(net.theta_in.grad, exp_in, atol=1e-10, rtol=0)
