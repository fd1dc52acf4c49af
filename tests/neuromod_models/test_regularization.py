"""The authors' training regularisers (docs/design.md, "Training protocol"): the firing-rate
penalty (value by hand, BPTT gradient by finite differences, MDGL fused = autograd) and the L1
shrinkage of :meth:`SpikingNetwork.apply_constraints`."""

from __future__ import annotations

import pytest
import torch

from neuromod_models import SpikingNetwork, make_rule
from neuromod_models.regularization import FiringRateRegularizer


def test_rate_penalty_by_hand():
    g = torch.Generator().manual_seed(0)
    z = (torch.rand(50, 3, 4, generator=g) < 0.2).double()
    reg = FiringRateRegularizer(coef=0.7, target_hz=30.0, dt=2.0)
    expected = 0.0
    for j in range(4):
        rate = sum(float(z[t, b, j]) for t in range(50) for b in range(3)) / 150 / 2.0
        expected += (rate - 0.03) ** 2
    assert float(reg(z.mean(dim=(0, 1)))) == pytest.approx(0.7 * expected, rel=1e-12)
    with pytest.raises(ValueError):
        FiringRateRegularizer(coef=-1.0)


def _smooth_net() -> SpikingNetwork:
    return SpikingNetwork(3, 6, 2, p_in=0.9, p_rec=0.6, p_out=0.9, tau_a=15.0, n_ref=0,
                          w_in_scale=4.0, v_th=0.1, surrogate="sigmoid", seed=2,
                          dtype=torch.float64)  # fmt: skip


def test_bptt_with_rate_penalty_equals_finite_differences():
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(20, 2, 3, generator=g) < 0.3).double()
    reg = FiringRateRegularizer(coef=5.0, target_hz=100.0)

    def task_loss(y):
        return ((y - 0.2) ** 2).mean()

    net = _smooth_net()
    out = make_rule("bptt").backward(net, x, task_loss, regularizer=reg)
    assert float(out.penalty) > 0

    def total(n):
        y, rates, _ = n.run(x)
        return float(task_loss(y) + reg(rates))

    h, checked = 1e-6, 0
    for prm in (net.theta_in, net.theta_rec):
        flat, grad = prm.data.view(-1), prm.grad.view(-1)
        for i in range(flat.numel()):
            if flat[i] == 0:
                continue
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + h
                lp = total(net)
                flat[i] = old - h
                lm = total(net)
                flat[i] = old
            fd = (lp - lm) / (2 * h)
            assert abs(fd - float(grad[i])) < 1e-6 * max(1.0, abs(fd)), (i, fd, float(grad[i]))
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("variant", ["local", "nonlocal", "exact"])
def test_mdgl_with_rate_penalty_fused_equals_autograd(variant, sequence_backend):
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(40, 3, 4, generator=g) < 0.25).double()
    reg = FiringRateRegularizer(coef=2.0, target_hz=40.0)
    grads = []
    for impl in ("fused", "autograd"):
        net = SpikingNetwork(4, 10, 2, p_rec=0.5, p_in=0.8, w_in_scale=3.0, seed=4,
                             dtype=torch.float64)  # fmt: skip
        make_rule("mdgl", variant=variant, impl=impl).backward(
            net, x, lambda y: (y[-1] ** 2).sum(), regularizer=reg
        )
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert grads[0].abs().max() > 1e-4
    assert torch.allclose(grads[0], grads[1], atol=1e-12, rtol=0)


def test_l1_shrinkage_of_connected_magnitudes():
    net = SpikingNetwork(2, 3, 1, p_in=1.0, p_rec=1.0, p_out=1.0, seed=0, dtype=torch.float64)
    assert net.synapses.nnz == 6  # every pair but the diagonal
    magnitudes = torch.tensor([[0.0, 0.5, -0.2], [0.004, 0.0, 0.3], [0.01, 0.2, 0.0]]).double()
    with torch.no_grad():
        net.theta_rec.copy_(magnitudes[net.synapses.post, net.synapses.pre])
        net.theta_in.fill_(0.1)
        net.theta_out.fill_(-0.1)
    net.apply_constraints(shrink=0.005)
    # positive magnitudes lose 0.005 (cut at 0), negative ones are cut
    expected = torch.tensor([[0.0, 0.495, 0.0], [0.0, 0.0, 0.295], [0.005, 0.195, 0.0]]).double()
    assert torch.allclose(net.rec_mask * net.w_rec.abs(), expected, atol=1e-15)
    assert torch.allclose(net.theta_in, torch.full_like(net.theta_in, 0.095))
    assert torch.equal(net.theta_out, torch.zeros_like(net.theta_out))
    with pytest.raises(ValueError):
        net.apply_constraints(shrink=-1.0)
