"""NIR export (neuromod_models.export_nir) read back by nir: node types, shapes and weights equal
to the network's, constants mapped from the discrete-time equations (a step-by-step simulation of
the graph written here, from the file alone, reproduces the network's spikes and readout), and an
adaptive network refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuromod_data.errors import UsageError
from neuromod_data.structure import CellTypeStructure, IntrinsicParameters
from neuromod_models import SpikingNetwork, save_model
from neuromod_models.export_nir import export_nir

nir = pytest.importorskip("nir", reason="nir is not installed (pip install 'neuromod[nir]')")


def _lif_network(seed: int = 3) -> SpikingNetwork:
    names = ("L2/3 IT", "Pvalb", "Sst")
    ip = IntrinsicParameters.constant(
        names, tau_m=[20.0, 8.0, 16.0], beta=0.0, adaptive=0.0, v_th=[0.01, 0.02, 0.008],
        n_ref=[5.0, 1.0, 3.0],
    )  # fmt: skip
    st = CellTypeStructure(names, [0.6, 0.25, 0.15], [1, -1, -1], np.ones((1, 3, 3)), ("p",))
    net = SpikingNetwork(6, 30, 2, structure=st.with_intrinsic(ip), seed=seed, w_in_scale=3.0)
    with torch.no_grad():  # cut synapses (θ < 0 → weight 0) and a readout bias
        net.theta_rec.mul_(torch.linspace(-0.5, 2.0, net.theta_rec.numel()))
        net.b_out.copy_(torch.tensor([0.25, -0.5]))
    return net


@pytest.fixture
def exported(tmp_path):
    net = _lif_network()
    path = export_nir(save_model(tmp_path / "model.npz", net), tmp_path / "out", name="m1")
    return net, nir.read(path), path


def test_nir_reads_back_the_graph_with_the_networks_weights(exported):
    net, g, path = exported
    assert path.name == "m1.nir"
    kinds = {k: type(v).__name__ for k, v in g.nodes.items()}
    assert kinds == {
        "input": "Input", "w_in": "Linear", "lif": "LIF", "w_rec": "Linear",
        "readout_filter": "LI", "w_out": "Affine", "output": "Output",
    }  # fmt: skip
    assert sorted(g.edges) == sorted([
        ("input", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
        ("lif", "readout_filter"), ("readout_filter", "w_out"), ("w_out", "output"),
    ])  # fmt: skip
    np.testing.assert_array_equal(g.nodes["w_in"].weight, net.w_in.detach().numpy())
    w_rec = g.nodes["w_rec"].weight
    np.testing.assert_array_equal(w_rec, net.w_rec.detach().numpy())  # signed, cut ones at 0
    assert w_rec.shape == (30, 30) and (w_rec < 0).any() and (w_rec > 0).any()
    np.testing.assert_array_equal(g.nodes["w_out"].weight, net.w_out.detach().numpy())
    np.testing.assert_array_equal(g.nodes["w_out"].bias, net.b_out.detach().numpy())
    lif = g.nodes["lif"]
    np.testing.assert_allclose(np.exp(-1.0 / lif.tau), net.alpha.numpy(), rtol=1e-7)
    np.testing.assert_array_equal(lif.v_threshold, net.v_th.numpy())
    assert (lif.r == 1).all() and (lif.v_leak == 0).all()
    np.testing.assert_array_equal(lif.metadata["n_ref"], net.n_ref.numpy())
    assert lif.metadata["reset"] == "subtract"
    np.testing.assert_allclose(g.nodes["readout_filter"].tau, 20.0, rtol=1e-12)
    assert list(g.nodes["input"].input_type["input"]) == [6]
    assert list(g.nodes["output"].output_type["output"]) == [2]


def _run_graph(g, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The NIR graph stepped at dt with each node's exact one-step solution, the LIF node reset by
    subtraction and held for n_ref steps as its metadata says (one trial ``x`` ``[T, n_in]``)."""
    lif, li, aff = g.nodes["lif"], g.nodes["readout_filter"], g.nodes["w_out"]
    dt = float(g.metadata["dt"])
    a, k = np.exp(-dt / lif.tau), np.exp(-dt / li.tau)
    n_ref = np.asarray(lif.metadata["n_ref"])
    n = len(lif.tau)
    v, z, ref, psp = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    zs, ys = [], []
    for xt in x:
        i = g.nodes["w_in"].weight @ xt + g.nodes["w_rec"].weight @ z  # the cycle: one step late
        v = a * v + (1 - a) * lif.r * (i + lif.v_leak) - lif.v_threshold * z
        z = ((v > lif.v_threshold) & (ref <= 0)).astype(float)
        ref = np.where(z > 0, n_ref, np.maximum(ref - 1, 0))
        psp = k * psp + (1 - k) * li.r * z
        zs.append(z)
        ys.append(aff.weight @ psp + aff.bias)
    return np.array(zs), np.array(ys)


def test_the_graph_stepped_from_the_file_reproduces_the_network(exported):
    net, g, _ = exported
    gen = torch.Generator().manual_seed(1)
    x = torch.poisson(torch.full((300, 1, 6), 0.3), generator=gen).double()
    with torch.no_grad():
        out = net.double()(x)  # float64: the same arithmetic as the numpy steps
    z, y = _run_graph(g, x[:, 0].numpy())
    ours = out.z[:, 0].numpy()
    assert ours.sum() > 100 and (ours.sum(0) > 0).sum() > 10  # the comparison has spikes to lose
    np.testing.assert_array_equal(z, ours)
    np.testing.assert_allclose(y, out.y[:, 0].numpy(), rtol=1e-10, atol=1e-12)


def test_an_adaptive_network_is_refused_in_one_line(tmp_path):
    net = SpikingNetwork(4, 10, 2, n_adaptive=3, seed=0)
    p = save_model(tmp_path / "model.npz", net)
    with pytest.raises(UsageError, match="3 of 10 neurons adapt.*no adaptive-threshold") as e:
        export_nir(p, tmp_path / "out")
    assert "\n" not in str(e.value)
    assert not list((tmp_path / "out").glob("*.nir"))
