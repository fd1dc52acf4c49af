"""BPTT: the hand-written backward equals central finite differences of the loss (smooth surrogate)
and autograd through the step functions (the model's Heaviside with the ψ surrogate)."""

from __future__ import annotations

import pytest
import torch

from neuromod_models import SpikingNetwork, make_rule


def net_for(surrogate: str, n_ref: int = 2, seed: int = 2) -> SpikingNetwork:
    return SpikingNetwork(
        3,
        7,
        2,
        p_in=0.9,
        p_rec=0.6,
        p_out=0.9,
        tau_a=15.0,
        n_ref=n_ref,
        w_in_scale=4.0,
        v_th=0.1,
        surrogate=surrogate,
        seed=seed,
        dtype=torch.float64,
    )


def inputs(t_len=25, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t_len, batch, 3, generator=g) < 0.3).double()


def loss_fn(y):
    return ((y - 0.2) ** 2).mean() + torch.nn.functional.cross_entropy(y[-1], torch.tensor([1, 0]))


@pytest.mark.parametrize("n_ref", [0, 2])
def test_bptt_equals_central_finite_differences(n_ref, sequence_backend):
    """With z = σ(4(v - A)/v_th) the model is smooth (the refractory counter, triggered by z > 0.5,
    is piecewise constant and no crossing happens within ±h), so the exact gradient is checkable."""
    x = inputs()
    net = net_for("sigmoid", n_ref=n_ref)
    out = make_rule("bptt").backward(net, x, loss_fn)
    assert 0.02 < float(out.z.float().mean()) < 0.9
    params = [net.theta_in, net.theta_rec, net.theta_out, net.b_out]
    h = 1e-6
    checked = 0
    for prm in params:
        flat = prm.data.view(-1)
        grad = prm.grad.view(-1)
        for i in range(flat.numel()):
            if grad[i] == 0 and flat[i] == 0:
                continue  # outside the mask
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + h
                lp = float(loss_fn(net(x).y))
                flat[i] = old - h
                lm = float(loss_fn(net(x).y))
                flat[i] = old
            fd = (lp - lm) / (2 * h)
            assert abs(fd - float(grad[i])) < 1e-6 * max(1.0, abs(fd)), (
                prm.shape,
                i,
                fd,
                float(grad[i]),
            )
            checked += 1
    assert checked > 40


def test_fused_bptt_equals_autograd_through_steps(sequence_backend):
    x = inputs(t_len=40, batch=2)
    grads = []
    for impl in ("fused", "autograd"):
        net = net_for("heaviside")
        out = make_rule("bptt", impl=impl).backward(net, x, loss_fn)
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert float(out.z.float().sum()) > 10
    assert grads[0].abs().max() > 1e-3
    assert torch.allclose(grads[0], grads[1], atol=1e-12, rtol=0)


def test_network_forward_is_differentiable_by_bptt(sequence_backend):
    """``loss(net(x).y).backward()`` gives the exact gradient: the one autograd finds through the
    step-function reference (a different implementation of the same model)."""
    x = inputs(t_len=30)
    net = net_for("heaviside")
    loss_fn(net(x).y).backward()
    ref = net_for("heaviside")
    out, _ = ref.forward_steps(x)
    loss_fn(out.y).backward()
    for a, b in zip(net.parameters(), ref.parameters()):
        assert b.grad.abs().max() > 0
        assert torch.allclose(a.grad, b.grad, atol=1e-12, rtol=0)


def test_bptt_input_gradient():
    x = inputs(t_len=20).requires_grad_(True)
    net = net_for("sigmoid", n_ref=0)
    loss_fn(net(x).y).backward()
    i, j, k = 5, 1, 2
    h = 1e-6
    with torch.no_grad():
        xp, xm = x.detach().clone(), x.detach().clone()
        xp[i, j, k] += h
        xm[i, j, k] -= h
        fd = (float(loss_fn(net(xp).y)) - float(loss_fn(net(xm).y))) / (2 * h)
    assert abs(fd - float(x.grad[i, j, k])) < 1e-6
