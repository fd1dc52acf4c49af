"""The model file (neuromod_models.model_file): bitwise round trips of trained networks, plain and
from a structure with intrinsic parameters and connectivity; what training writes; bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from neuromod_data.errors import FormatError, InputFileError
from neuromod_data.structure import CellTypeStructure, Connectivity, IntrinsicParameters
from neuromod_models import SpikingNetwork, load_model, make_rule, read_model, save_model
from neuromod_models._arithmetic import ARITHMETIC_VERSION
from neuromod_models.model_file import MODEL_NAME
from neuromod_models.tasks import make_task
from neuromod_models.training import train


def _task():
    return make_task("evidence_accumulation", T=120, t_cue=10, t_interval=15, recall_duration=20)


def _physiology_structure() -> CellTypeStructure:
    names = ("E", "P", "S")
    prob = np.array([[0.1, 0.4, 0.05], [0.45, 0.3, 0.0], [0.2, 0.35, 0.02]])  # [pre, post]
    strength = np.array([[0.4, 1.5, 0.8], [0.5, 0.7, 0.0], [0.3, 0.4, 0.3]])
    ip = IntrinsicParameters.constant(
        names, tau_m=[20.0, 8.0, 16.0], beta=[1.8, 0.0, 2.5], adaptive=[0.7, 0.0, 0.6],
        v_th=[0.01, 0.02, 0.008], n_ref=[5.0, 2.0, 4.0],
    )  # fmt: skip
    # a spread, so that every neuron draws its own constants (heterogeneity on)
    ip = IntrinsicParameters(
        ip.types, ip.params, ip.median, np.where(ip.median > 0, 0.3, 0.0), ip.n_cells, ip.level,
        ip.group, ip.bounds,
    )  # fmt: skip
    st = CellTypeStructure(names, [0.6, 0.25, 0.15], [1, -1, -1], np.ones((1, 3, 3)), ("p",))
    return st.with_intrinsic(ip).with_connectivity(Connectivity(names, prob, strength))


def _trained(structure, tmp_path, rule="mdgl", **network):
    task = _task()
    net = SpikingNetwork(**task.network_kwargs(), structure=structure, seed=3, **network)
    gate = {"gate": "data"} if rule == "mdgl" and structure is not None else {}
    res = train(net, make_rule(rule, **gate), task, iterations=3, batch_size=4, validate_every=3,
                out_dir=tmp_path / "run", progress=False, figure=False)  # fmt: skip
    return net, task, res


@pytest.mark.parametrize("kind", ["plain", "structure", "readout"])
def test_loaded_network_equals_the_trained_one_bitwise(tmp_path, kind):
    structure = None if kind == "plain" else _physiology_structure()
    # readout from one type and a floor on every type's size (docs/design.md, "Readout from
    # projection types"): the settings and the restricted output mask come back
    network = {"readout_types": ["E"], "min_per_type": 30} if kind == "readout" else {}
    net, task, res = _trained(structure, tmp_path, **network)
    path = res.files["model"]
    assert path == tmp_path / "run" / MODEL_NAME and path.is_file()
    # numpy alone reads it, without pickles
    with np.load(path, allow_pickle=False) as z:
        assert "network/theta_rec" in z.files and "structure/names" in z.files
    loaded, task2 = load_model(tmp_path / "run")  # a run folder or the file
    assert task2.config() == task.config()
    for name, value in net.state_dict().items():
        got = loaded.state_dict()[name]
        assert got.dtype == value.dtype and torch.equal(got, value), name
    assert loaded.config == net.config and loaded.kappa == net.kappa
    assert loaded.gamma == net.gamma
    x = task.sample(3, seed=12345).x
    with torch.no_grad():
        a, b = net(x), loaded(x)
    assert torch.equal(a.y, b.y) and torch.equal(a.z, b.z)
    assert a.z.sum() > 0  # the comparison covers spiking, not a silent network
    if kind == "readout":
        assert loaded.config["readout_types"] == ["E"] and loaded.config["min_per_type"] == 30
        assert torch.equal(loaded.out_mask, net.out_mask)
        assert set(loaded.type_index[loaded.out_mask.sum(0) > 0].tolist()) == {0}
    if kind == "structure":
        # heterogeneous constants came back as stored (not re-drawn, not the medians)
        assert loaded.v_th.unique().numel() > 3 and loaded.structure.intrinsic is not None
        assert loaded.structure.connectivity is not None
        np.testing.assert_array_equal(
            loaded.structure.connectivity.probability, structure.connectivity.probability
        )
        # not the shell's draws: the trained network's synapses
        assert loaded.synapses.nnz == net.synapses.nnz


def test_model_file_records_settings_and_provenance(tmp_path):
    net, task, res = _trained(None, tmp_path, rule="eprop")
    m = read_model(res.files["model"])
    assert m.meta["iteration"] == 3
    assert m.rule["name"] == "eprop" and m.task["name"] == "evidence_accumulation"
    assert m.meta["provenance"]["arithmetic_version"] == ARITHMETIC_VERSION
    assert m.meta["provenance"]["neuromod_version"]
    assert set(m.arrays) == set(net.state_dict())
    np.testing.assert_array_equal(m.arrays["theta_rec"], net.theta_rec.detach().numpy())
    assert m.structure.names == ("E", "I")


def test_finished_run_without_model_file_gets_one_and_nothing_else_changes(tmp_path):
    net, task, res = _trained(None, tmp_path, rule="bptt")
    run = tmp_path / "run"
    (run / MODEL_NAME).unlink()
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    fresh = SpikingNetwork(**task.network_kwargs(), seed=3)
    train(fresh, make_rule("bptt"), task, iterations=3, batch_size=4, validate_every=3,
          out_dir=run, progress=False, figure=False)  # fmt: skip
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name != MODEL_NAME} == before
    loaded, _ = load_model(run)
    assert torch.equal(loaded.theta_rec, net.theta_rec.detach())


def test_bad_model_files_are_named(tmp_path):
    with pytest.raises(InputFileError, match="neuromod train --out"):
        load_model(tmp_path)  # a folder without model.npz says how to get one
    bad = tmp_path / "model.npz"
    bad.write_text("not a zip")
    with pytest.raises(FormatError, match="model.npz"):
        load_model(bad)
    np.savez(bad, x=np.zeros(2))
    with pytest.raises(FormatError, match="not a neuromod model file"):
        read_model(bad)
    # a newer format version is refused with the file's name
    good = save_model(tmp_path / "good.npz", SpikingNetwork(4, 10, 2))
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["format_version"] = np.array(99)
    np.savez(tmp_path / "newer.npz", **arrays)
    with pytest.raises(FormatError, match="newer.npz.*version 99"):
        read_model(tmp_path / "newer.npz")
    # a missing network array is named
    meta = json.loads(str(arrays["meta"]))
    assert "theta_rec" in meta["arrays"]
    del arrays["network/theta_rec"]
    arrays["format_version"] = np.array(1)
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(FormatError, match="partial.npz.*theta_rec"):
        read_model(tmp_path / "partial.npz")
    assert zipfile.is_zipfile(good)
