"""The compiled CPU kernels (models/_kernels.py) against the torch loops and a dense product."""

from __future__ import annotations

import pytest
import torch
from neuromod_models import SpikingNetwork, _fast
from neuromod_models._kernels import kernels

pytestmark = pytest.mark.skipif(kernels() is None, reason="numba is not installed")


def paper_like(dtype: torch.dtype) -> tuple[SpikingNetwork, torch.Tensor]:
    net = SpikingNetwork(6, 20, 2, n_adaptive=10, n_ref=3, tau_a=40.0, p_in=0.8, p_rec=0.5,
                         w_in_scale=2.0, v_th=0.05, seed=3, dtype=dtype)  # fmt: skip
    x = (torch.rand(80, 4, 6, generator=torch.Generator().manual_seed(1)) < 0.3).to(dtype)
    return net, x


def torch_loops(monkeypatch, fn, *args):
    with monkeypatch.context() as m:
        m.setattr(_fast, "kernels", lambda: None)
        return fn(*args)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_and_backward_kernels_equal_torch_loops(dtype, monkeypatch):
    net, x = paper_like(dtype)
    p, w_in, w_rec = net.params, net.w_in.detach(), net.w_rec.detach()
    with _fast.flush_denormal():
        z, psi = _fast._forward_loop(x, w_in, w_rec, p)
        z_ref, psi_ref = torch_loops(monkeypatch, _fast._forward_loop, x, w_in, w_rec, p)
        assert 0.02 < float(z.mean()) < 0.5
        assert torch.equal(z, z_ref)
        assert torch.equal(psi == 0, psi_ref == 0)  # refractory steps are exactly 0 in both
        tol = 1e-3 if dtype == torch.float32 else 1e-12
        assert torch.allclose(psi, psi_ref, atol=tol, rtol=0)
        sig = torch.randn(z.shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
        for w in (w_rec, None):  # BPTT, e-prop
            delta = _fast._backward_loop(sig, psi_ref, p, w)
            delta_ref = torch_loops(monkeypatch, _fast._backward_loop, sig, psi_ref, p, w)
            assert delta.abs().max() > 1e-2
            assert torch.allclose(delta, delta_ref, atol=1e-12 if dtype == torch.float64 else 1e-4)


def test_spike_scatter_equals_dense_weight_gradient():
    t_len, bsz, n = 50, 3, 9
    g = torch.Generator().manual_seed(0)
    z = (torch.rand(t_len, bsz, n, generator=g) < 0.1).double()
    z[5, 1] = 0.37  # non-binary values (the smooth test surrogate) are scaled, not just counted
    delta = torch.randn(t_len, bsz, n, generator=g, dtype=torch.float64)
    out = torch.zeros(n, n, dtype=torch.float64)
    kernels()["grad_rec"](delta.numpy(), z.numpy(), out.numpy())
    dense = torch.einsum("tbj,tbq->jq", delta[1:], z[:-1])
    assert torch.allclose(out.T, dense, atol=1e-12, rtol=0)
