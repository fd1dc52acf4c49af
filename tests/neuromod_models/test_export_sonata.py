"""SONATA export (neuromod_models.export_sonata) read back by libsonata, the reference reader:
node and edge counts, signed weights equal to the network's, per-neuron parameters, cell types and
the edge indices."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from neuromod_data.structure import CellTypeStructure, IntrinsicParameters
from neuromod_models import SpikingNetwork, save_model
from neuromod_models.export_sonata import export_sonata

libsonata = pytest.importorskip(
    "libsonata", reason="libsonata is not installed (pip install 'neuromod[export]')"
)


@pytest.fixture
def exported(tmp_path):
    names = ("L2/3 IT", "Pvalb", "Sst")
    ip = IntrinsicParameters.constant(
        names, tau_m=[20.0, 8.0, 16.0], beta=[1.8, 0.0, 2.5], adaptive=[1.0, 0.0, 1.0],
        v_th=[0.01, 0.02, 0.008], n_ref=[5.0, 2.0, 4.0],
    )  # fmt: skip
    st = CellTypeStructure(names, [0.6, 0.25, 0.15], [1, -1, -1], np.ones((1, 3, 3)), ("p",))
    net = SpikingNetwork(7, 40, 2, structure=st.with_intrinsic(ip), seed=4)
    with torch.no_grad():  # a few cut synapses (θ < 0) and trained-looking magnitudes
        net.theta_rec.mul_(torch.linspace(-0.5, 2.0, net.theta_rec.numel()))
    path = save_model(tmp_path / "model.npz", net)
    return net, export_sonata(path, tmp_path / "out", name="m1")


def test_libsonata_reads_nodes_with_types_and_parameters(exported):
    net, files = exported
    assert files["nodes"].parent.name == "network"
    pop = libsonata.NodeStorage(str(files["nodes"])).open_population("m1")
    assert pop.size == net.n_rec
    sel = pop.select_all()
    np.testing.assert_array_equal(pop.get_dynamics_attribute("v_th", sel), net.v_th.numpy())
    np.testing.assert_array_equal(pop.get_dynamics_attribute("beta", sel), net.beta.numpy())
    np.testing.assert_array_equal(pop.get_dynamics_attribute("n_ref", sel), net.n_ref.numpy())
    tau_m = pop.get_dynamics_attribute("tau_m", sel)
    np.testing.assert_allclose(np.exp(-1.0 / tau_m), net.alpha.numpy(), rtol=1e-6)
    adaptive = pop.get_dynamics_attribute("adaptive", sel).astype(bool)
    assert adaptive.tolist() == net.adaptive.tolist()
    # node types: one per cell type, named in the types table (a name with a space is quoted)
    import h5py

    with h5py.File(files["nodes"]) as h5:
        type_ids = h5["nodes/m1/node_type_id"][:]
    with open(files["node_types"], newline="") as fh:
        rows = {int(r["node_type_id"]): r for r in csv.DictReader(fh, delimiter=" ")}
    assert [rows[t]["pop_name"] for t in type_ids] == [
        net.structure.names[k] for k in net.type_index.tolist()
    ]
    assert {r["pop_name"]: r["ei"] for r in rows.values()} == {
        "L2/3 IT": "e",
        "Pvalb": "i",
        "Sst": "i",
    }


def test_libsonata_reads_edges_with_the_trained_weights(exported):
    net, files = exported
    edges = libsonata.EdgeStorage(str(files["edges"])).open_population("m1_to_m1")
    assert edges.source == "m1" and edges.target == "m1"
    assert edges.size == net.synapses.nnz
    sel = edges.select_all()
    w = edges.get_attribute("syn_weight", sel)
    dense = np.zeros((net.n_rec, net.n_rec), dtype=w.dtype)
    dense[edges.target_nodes(sel), edges.source_nodes(sel)] = w
    np.testing.assert_array_equal(dense, net.w_rec.detach().numpy())  # signed, cut ones at 0
    assert (w == 0).any() and (w < 0).any() and (w > 0).any()
    assert (edges.get_attribute("delay", sel) == 1.0).all()
    # the indices libsonata uses for afferent / efferent queries
    for j in (0, 7, net.n_rec - 1):
        aff, eff = edges.afferent_edges([j]), edges.efferent_edges([j])
        assert aff.flat_size == int((net.rec_post == j).sum())
        assert eff.flat_size == int((net.rec_pre == j).sum())
        assert set(edges.target_nodes(aff)) <= {j} and set(edges.source_nodes(eff)) <= {j}
    # inputs: a virtual population and its signed weights
    inp = libsonata.EdgeStorage(str(files["input_edges"])).open_population("m1_input_to_m1")
    assert inp.source == "m1_input" and inp.size == int(net.in_mask.sum())
    s = inp.select_all()
    dense_in = np.zeros((net.n_rec, net.n_in), dtype=np.float32)
    dense_in[inp.target_nodes(s), inp.source_nodes(s)] = inp.get_attribute("syn_weight", s)
    np.testing.assert_array_equal(dense_in, net.w_in.detach().numpy())
    nodes_in = libsonata.NodeStorage(str(files["input_nodes"])).open_population("m1_input")
    assert nodes_in.size == net.n_in


def test_readout_file_holds_the_signed_output_weights(exported):
    import h5py

    net, files = exported
    with h5py.File(files["readout"]) as h5:
        np.testing.assert_array_equal(h5["weight"][:], net.w_out.detach().numpy())
        np.testing.assert_array_equal(h5["bias"][:], net.b_out.detach().numpy())
        assert h5.attrs["tau_out"] == 20.0
