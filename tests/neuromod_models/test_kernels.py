"""The compiled CPU kernels (models/_kernels.py) — and their pure-Python bodies, uncompiled —
against the torch loops of models/_fast.py, on networks whose neurons all differ (per-neuron τ_m,
τ_a, β, threshold and refractory period, as networks derived from electrophysiology have)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuromod_data.structure import CellTypeStructure, IntrinsicParameters
from neuromod_models import SpikingNetwork, _fast, make_rule
from neuromod_models import _kernels as K

pytestmark = pytest.mark.skipif(K.kernels() is None, reason="numba is not installed")


def heterogeneous(dtype: torch.dtype, n: int = 20, seed: int = 3) -> SpikingNetwork:
    """Three types with their own intrinsic parameters, drawn per neuron from a spread."""
    ip = IntrinsicParameters.constant(
        ("A", "B", "C"),
        tau_m=[20.0, 8.0, 30.0],
        tau_a=[40.0, 200.0, 60.0],
        beta=[1.8, 0.0, 3.0],
        adaptive=[1.0, 0.0, 1.0],
        v_th=[0.03, 0.02, 0.035],
        n_ref=[3.0, 1.0, 5.0],
    )
    ip.spread[:] = 0.3  # every neuron draws its own values
    mod = np.ones((1, 3, 3))
    mod[0, 1, 2] = 0.2
    st = CellTypeStructure(
        ("A", "B", "C"), [0.5, 0.3, 0.2], [1, -1, 1], mod, ("p",)
    ).with_intrinsic(ip)
    return SpikingNetwork(6, n, 2, structure=st, heterogeneity=True, p_in=0.8, p_rec=0.4,
                          w_in_scale=3.0, seed=seed, dtype=dtype)  # fmt: skip


def inputs(dtype, t_len=60, bsz=3):
    g = torch.Generator().manual_seed(1)
    return torch.poisson(torch.full((t_len, bsz, 6), 0.3), generator=g).to(dtype)  # counts


def test_network_neurons_really_differ():
    net = heterogeneous(torch.float64)
    for name in ("alpha", "rho", "v_th"):
        assert len(set(getattr(net, name).tolist())) > 10, name
    assert len(set(net.n_ref.tolist())) >= 3
    assert bool((net.beta[~net.adaptive] == 0).all()) and bool((net.beta[net.adaptive] > 0).all())


RULES = [
    ("bptt", {}),
    ("eprop", {}),
    ("eprop", {"feedback": "random"}),
    ("mdgl", {"variant": "local", "gate": "data"}),
    ("mdgl", {"variant": "exact"}),
    ("mdgl", {"variant": "nonlocal", "gate": "data"}),
    ("mdgl", {"variant": "nonlocal", "gate": "ei"}),
]  # fmt: skip  (ei: E/I not contiguous)


def _grads(net, rule, x, backend, monkeypatch):
    with monkeypatch.context() as m:
        if backend == "torch":
            m.setattr(_fast, "kernels", lambda: None)
        elif backend == "python":  # the kernels' bodies, not compiled
            m.setattr(_fast, "kernels", lambda: {"forward": K._forward, "backward": K._backward})
        out = rule.backward(
            net, x, lambda y: ((y - 0.3) ** 2).sum() + y[-1, :, 0].sum(), regularizer=_reg
        )
    return out, [p.grad.clone() for p in net.parameters()]


def _reg(rates):
    return 5.0 * ((rates - 0.05) ** 2).sum()


@pytest.mark.parametrize("name,kw", RULES)
@pytest.mark.parametrize("backend", ["compiled", "python"])
def test_kernels_equal_torch_loops(name, kw, backend, monkeypatch):
    x = inputs(torch.float64, t_len=60 if backend == "compiled" else 25)
    ref_out, ref = _grads(heterogeneous(torch.float64), make_rule(name, **kw), x, "torch",
                          monkeypatch)  # fmt: skip
    out, got = _grads(heterogeneous(torch.float64), make_rule(name, **kw), x, backend, monkeypatch)
    assert 0.02 < float(out.z.float().mean()) < 0.5
    assert torch.equal(out.z, ref_out.z)
    assert torch.allclose(out.y, ref_out.y, atol=1e-12, rtol=0)
    assert float(out.penalty) == pytest.approx(float(ref_out.penalty), abs=1e-14)
    for a, b in zip(got, ref):
        assert b.abs().max() > 1e-6
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-10)


def test_float32_kernels_close_to_float64(monkeypatch):
    x = inputs(torch.float64)
    _, g64 = _grads(heterogeneous(torch.float64), make_rule("mdgl"), x, "compiled", monkeypatch)
    _, g32 = _grads(heterogeneous(torch.float32), make_rule("mdgl"), x.float(), "compiled",
                    monkeypatch)  # fmt: skip
    for a, b in zip(g32, g64):
        assert torch.allclose(a.double(), b, atol=1e-3 * float(b.abs().max()), rtol=0)


def test_spikes_are_bytes_and_rates_count_them():
    net = heterogeneous(torch.float32)
    x = inputs(torch.float32)
    y, rates, z = net.run(x)
    assert z.dtype == torch.uint8 and z.shape == (60, 3, 20)
    assert torch.allclose(rates, z.float().mean(dim=(0, 1)))
    assert torch.equal(net(x).z, z.float())


def test_eprop_of_heterogeneous_neurons_equals_explicit_traces():
    """Per-neuron v_th, n_ref, α, ρ, β enter the explicit trace recursion of test_eprop as written
    there (broadcast per neuron); the fused rule matches it."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_eprop import learning_signal, reference_run, theta_grads

    x = inputs(torch.float64, t_len=40)

    def loss_fn(y):
        return ((y - 0.3) ** 2).sum()

    net = heterogeneous(torch.float64)
    make_rule("eprop").backward(net, x, loss_fn)
    ref_net = heterogeneous(torch.float64)
    ref = reference_run(ref_net, x)
    assert torch.equal(ref["z"], ref_net(x).z)
    y = ref["y"].clone().requires_grad_(True)
    (gy,) = torch.autograd.grad(loss_fn(y), y)
    lsig = learning_signal(gy, ref_net.w_out.detach(), ref_net.kappa)
    exp_rec, exp_in = theta_grads(ref_net, torch.einsum("tbp,tbpq->pq", lsig, ref["e"]))
    assert exp_rec.abs().max() > 1e-4
    assert torch.allclose(net.theta_rec.grad, exp_rec, atol=1e-10, rtol=0)
    assert torch.allclose(net.theta_in.grad, exp_in, atol=1e-10, rtol=0)


def test_workspace_reuses_psi_and_refuses_a_second_backward():
    net = heterogeneous(torch.float32)
    x = inputs(torch.float32)
    grads = []
    for _ in range(2):  # the second iteration runs on the first one's ψ memory
        net.zero_grad()
        make_rule("mdgl").backward(net, x, lambda y: (y**2).sum())
        grads.append([p.grad.clone() for p in net.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    assert sum(len(v) for v in net._workspace._free.values()) == 1  # ψ came back after backward
    y, _, _ = net.run(x)
    loss = (y**2).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="already differentiated once"):
        loss.backward()


def test_a_forward_without_gradients_between_forward_and_backward_changes_nothing():
    x = inputs(torch.float32)
    ref = heterogeneous(torch.float32)
    y, _, _ = ref.run(x)
    (y**2).sum().backward()
    net = heterogeneous(torch.float32)
    y, _, _ = net.run(x)
    with torch.no_grad():  # e.g. a validation batch: takes and gives back its own ψ
        net.run(inputs(torch.float32, t_len=60, bsz=3) * 2)
    (y**2).sum().backward()
    for a, b in zip(net.parameters(), ref.parameters()):
        assert torch.equal(a.grad, b.grad)


def test_tiling_covers_every_synapse_once():
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(300, 300, generator=g) < 0.05
    mask.fill_diagonal_(False)
    syn = _fast.Synapses.from_mask(mask)
    til = _fast.Tiling.of(syn.pre, syn.post, syn.n, size=64)
    assert sorted(til.order.tolist()) == list(range(syn.nnz))
    pre = syn.pre[til.order]
    post = syn.post[til.order]
    pos = 0
    for (pb, qb, start), length in zip(til.tiles.tolist(), til.tile_len.tolist()):
        assert start == pos
        sl = slice(start, start + length)
        assert bool((pre[sl] // 64 == pb).all()) and bool((post[sl] // 64 == qb).all())
        assert torch.equal(pre[sl] % 64, til.pre_loc[sl]) and torch.equal(
            post[sl] % 64, til.post_loc[sl]
        )
        pos += length
    assert pos == syn.nnz and len(til.tiles) == len(set(map(tuple, til.tiles[:, :2].tolist())))
    # by postsynaptic neuron: each neuron's incoming synapses, their presynaptic neurons in order
    assert sorted(til.in_syn.tolist()) == list(range(syn.nnz))
    for j in range(syn.n):
        ks = slice(int(til.in_indptr[j]), int(til.in_indptr[j + 1]))
        want = sorted(syn.pre[syn.post == j].tolist())
        assert syn.post[til.in_syn[ks]].eq(j).all() and til.in_pre[ks].tolist() == want


@pytest.mark.parametrize("name,kw", [("bptt", {}), ("mdgl", {"variant": "local"})])
def test_gathers_over_many_tiles_equal_torch_loops(name, kw, monkeypatch):
    """A network of 300 neurons spans 3 × 3 tiles of 128: the tiled gathers of BPTT and local MDGL
    against the dense torch loops."""
    x = inputs(torch.float64, t_len=40, bsz=4)
    out = []
    for backend in ("compiled", "torch"):
        net = heterogeneous(torch.float64, n=300)
        assert len(net.synapses.tiling.tiles) > 4
        out.append(_grads(net, make_rule(name, **kw), x, backend, monkeypatch)[1])
    for a, b in zip(*out):
        assert b.abs().max() > 1e-8
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("density", [0.0, 1.1])
@pytest.mark.parametrize("backend", ["compiled", "python"])
def test_local_mdgl_push_and_gather_agree(density, backend, monkeypatch):
    """Local MDGL's modulation by a push over the nonzero L ψ (density 1.1: always) and by the
    tiled gather (density 0: never) — both against the torch loops, on 300 neurons."""
    monkeypatch.setattr(_fast, "MDGL_PUSH_DENSITY", density)
    x = inputs(torch.float64, t_len=40 if backend == "compiled" else 12, bsz=3)
    out = []
    for be in (backend, "torch"):
        net = heterogeneous(torch.float64, n=300)
        out.append(_grads(net, make_rule("mdgl", variant="local"), x, be, monkeypatch)[1])
    for a, b in zip(*out):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-10)


def test_exp_filters_equal_scipy_lfilter_to_the_bit():
    """The compiled first-order filters do scipy.signal.lfilter's operations one by one (float64,
    direct form II transposed): equal to the bit, forward and reversed, for float32 and float64
    input with zeros and signed zeros, including one step and no step."""
    import numpy as np
    from scipy.signal import lfilter

    from neuromod_models._fast import _filter

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for shape in [(300, 8, 5), (1, 3, 2), (7, 1), (0, 4)]:
            x = rng.standard_normal(shape).astype(dtype)
            x[x > 1.5], x[x < -1.8] = 0.0, -0.0
            for k in (float(np.exp(-1 / 20)), 0.0, 0.9999):
                for b0, rev in ((1 - k, False), (1.0, True)):
                    src = x[::-1] if rev else x
                    want = lfilter([b0], [1, -k], src, axis=0) if len(x) else src.astype(float)
                    got = _filter(src, b0, k)
                    assert got.dtype == np.float64 and got.shape == want.shape
                    assert np.array_equal(
                        np.ascontiguousarray(got).view(np.uint64),
                        np.ascontiguousarray(want).view(np.uint64),
                    ), (dtype, shape, k, rev)
