"""Neurons (docs/design.md, "Neuron model"): reset, refractoriness, adaptation and ψ by hand; fused loop == step function."""

from __future__ import annotations

import math

import pytest
import torch

from neuromod_models import SpikingNetwork, initial_state, make_parameters, step
from neuromod_models._fast import _forward_loop, flush_denormal
from neuromod_models.neurons import pseudo_derivative


def test_one_lif_neuron_reset_and_refractoriness_by_hand():
    p = make_parameters(1, adaptive=torch.tensor([False]), n_ref=2, dtype=torch.float64)
    a = math.exp(-1 / 20)
    s = initial_state(1, 1, dtype=torch.float64)
    zs, vs, psis = [], [], []
    for _ in range(8):
        s, psi = step(s, torch.tensor([[0.25]], dtype=torch.float64), p)
        zs.append(int(s.z))
        vs.append(float(s.v))
        psis.append(float(psi))
    # step 1: v = (1-α)·0.25 = 0.01219 > v_th → spike; then 2 refractory steps with z = ψ = 0
    v1 = (1 - a) * 0.25
    assert vs[0] == pytest.approx(v1, abs=1e-15)
    assert zs == [1, 0, 0, 1, 0, 0, 1, 0]
    assert psis[0] == pytest.approx(0.3 / 0.01 * (1 - (v1 - 0.01) / 0.01), abs=1e-12)
    assert psis[1] == psis[2] == 0.0
    # reset by v_th (not to zero): v2 = α v1 + (1-α)·0.25 - v_th
    assert vs[1] == pytest.approx(a * v1 + v1 - 0.01, abs=1e-15)
    assert vs[1] > 0.01  # above threshold, yet held at 0 by refractoriness
    v3 = a * vs[1] + v1
    assert vs[2] == pytest.approx(v3, abs=1e-15)


def test_one_alif_neuron_adaptive_threshold_by_hand():
    p = make_parameters(
        1, tau_a=10.0, beta=1.8, adaptive=torch.tensor([True]), n_ref=0, dtype=torch.float64
    )
    a, r = math.exp(-1 / 20), math.exp(-1 / 10)
    s = initial_state(1, 1, dtype=torch.float64)
    v = b = z = 0.0
    for _ in range(30):
        s, psi = step(s, torch.tensor([[0.3]], dtype=torch.float64), p)
        b = r * b + (1 - r) * z
        v = a * v + (1 - a) * 0.3 - 0.01 * z
        thr = 0.01 + 1.8 * b
        z = float(v > thr)
        assert float(s.b) == pytest.approx(b, abs=1e-15)
        assert float(s.v) == pytest.approx(v, abs=1e-15)
        assert float(s.z) == z
        assert float(psi) == pytest.approx(30 * max(0.0, 1 - abs(v - thr) / 0.01), abs=1e-9)
    assert b > 0.05  # adaptation built up


def test_pseudo_derivative_values():
    p = make_parameters(1, dtype=torch.float64)
    d = torch.tensor([-0.02, -0.01, -0.005, 0.0, 0.0025, 0.01, 0.03], dtype=torch.float64)
    expected = [0.0, 0.0, 15.0, 30.0, 22.5, 0.0, 0.0]
    assert pseudo_derivative(d, p).tolist() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("n_adaptive", "n_ref"), [(0, 5), (6, 5), (12, 0), (12, 3)])
def test_fused_loop_equals_step_function(dtype, n_adaptive, n_ref, sequence_backend):
    net = SpikingNetwork(
        5,
        12,
        2,
        n_adaptive=n_adaptive,
        n_ref=n_ref,
        tau_a=30.0,
        p_in=0.7,
        p_rec=0.4,
        w_in_scale=2.0,
        v_th=0.05,
        seed=1,
        dtype=dtype,
    )
    x = (torch.rand(60, 3, 5, generator=torch.Generator().manual_seed(0)) < 0.3).to(dtype)
    with torch.no_grad():
        ref, psi_ref = net.forward_steps(x)
        z, psi = _forward_loop(x, net.w_in, net.w_rec, net.params)
    assert float(ref.z.mean()) > 0.02
    assert torch.equal(z, ref.z)
    tol = 1e-3 if dtype == torch.float32 else 1e-9
    assert torch.allclose(psi, psi_ref, atol=tol, rtol=0)
    assert bool((psi_ref == 0).any())
    assert torch.equal(
        psi == 0, psi_ref == 0
    )  # ψ is exactly 0 where it should be (refractory, far)
    assert bool((psi >= 0).all())


def test_flush_denormal_restores_setting():
    torch.set_flush_denormal(False)
    tiny = torch.tensor([1e-39], dtype=torch.float32)
    with flush_denormal():
        assert float(tiny * 1.0) == 0.0
    assert float(tiny * 1.0) != 0.0


def test_bad_surrogate():
    with pytest.raises(ValueError, match="surrogate"):
        make_parameters(3, surrogate="step")
