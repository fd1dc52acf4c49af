"""NEST export (neuromod_models.export_nest): the exported script run by NEST 3.10 in a subprocess
gives the spikes of the network here, step for step, on a network whose neurons differ in every
constant (LIF and ALIF, refractory periods, thresholds, time constants) and on the authors'
evidence-accumulation network over a whole trial; a mapping off by one refractory step is caught."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from neuromod_data.structure import CellTypeStructure, IntrinsicParameters
from neuromod_models import SpikingNetwork, load_model, save_model
from neuromod_models.export_nest import compare_with_nest, export_nest
from neuromod_models.model_file import read_model
from neuromod_models.tasks import make_task

pytest.importorskip("nest", reason="NEST is not installed (pip install 'neuromod[nest]', GPL)")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A network whose types differ in τ_m, τ_a, β, v_th and n_ref, some ALIF, some LIF."""
    tmp = tmp_path_factory.mktemp("mixed")
    names = ("L2/3 IT", "Pvalb", "Sst")
    ip = IntrinsicParameters.constant(
        names, tau_m=[20.0, 8.0, 16.0], tau_a=[300.0, 2000.0, 150.0], beta=[1.8, 0.0, 2.5],
        adaptive=[1.0, 0.0, 1.0], v_th=[0.01, 0.02, 0.008], n_ref=[5.0, 1.0, 3.0],
    )  # fmt: skip
    st = CellTypeStructure(names, [0.6, 0.25, 0.15], [1, -1, -1], np.ones((1, 3, 3)), ("p",))
    net = SpikingNetwork(8, 40, 2, structure=st.with_intrinsic(ip), seed=4, w_in_scale=3.0)
    with torch.no_grad():  # a few cut synapses and trained-looking magnitudes
        net.theta_rec.mul_(torch.linspace(-0.5, 2.0, net.theta_rec.numel()))
    x = torch.poisson(torch.full((400, 8), 0.25), generator=torch.Generator().manual_seed(2))
    x[:, 5] = 0  # a silent channel
    return save_model(tmp / "model.npz", net), x.numpy()


def test_nest_spikes_equal_ours_step_for_step(mixed):
    path, x = mixed
    assert (x > 1).any()  # two spikes in one step: NEST's multiplicity
    r = compare_with_nest(path, x, reference="float64")
    net, _ = load_model(path)
    assert bool(net.adaptive.any()) and not bool(net.adaptive.all())
    assert r.spikes_ours > 400  # enough activity for the reset, refractory and adaptation to act
    assert r.identical, r
    assert r.spikes_nest == r.spikes_ours and r.agreement == 1.0
    assert r.max_abs_dy < 1e-12  # the readout of NEST's spikes equals ours


def test_a_refractory_period_off_by_one_is_caught(mixed, tmp_path):
    path, x = mixed
    m = read_model(path)
    arrays = {**m.arrays, "n_ref": m.arrays["n_ref"] + 1}  # what t_ref = n_ref · dt would give
    files = export_nest(dataclasses.replace(m, arrays=arrays), tmp_path)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, str(files["script"]), "--input", str(tmp_path / "x.npy"),
                    "--out", str(tmp_path / "z.npz")], check=True, capture_output=True)  # fmt: skip
    net, _ = load_model(path)
    with torch.no_grad():
        ours = net.double()(torch.as_tensor(x, dtype=torch.float64)[:, None]).z[:, 0].numpy()
    with np.load(tmp_path / "z.npz") as z:
        assert not np.array_equal(z["z"], ours)
        assert z["z"].sum() < ours.sum()


def test_a_whole_evidence_accumulation_trial_of_the_authors_network(tmp_path):
    task = make_task("evidence_accumulation")
    net = SpikingNetwork(**task.network_kwargs(), seed=0)
    path = save_model(tmp_path / "model.npz", net, task=task)
    x = task.sample(2, seed=5).x[:, 1].numpy()
    assert x.shape == (2000, 40)
    r = compare_with_nest(path, x, reference="trained")  # float32, as trained
    assert r.steps == 2000 and r.neurons == 100 and r.spikes_ours > 0
    if not r.identical:  # float32 sums rounded otherwise than NEST's float64: only at a hair
        assert abs(r.margin) < 1e-4, r
    r64 = compare_with_nest(path, x, reference="float64")
    assert r64.identical, r64
