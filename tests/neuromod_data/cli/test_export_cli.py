"""``neuromod export``: a run trained by ``neuromod train`` written as SONATA and read back by
libsonata; NIR for a LIF network read back by nir, an adaptive one refused in one line; the NEST
script and its data; a run without a model file."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from neuromod_data.cli import main  # noqa: E402


@pytest.fixture
def run(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "task_options: {T: 60, n_cues: 3, t_cue: 5, t_interval: 8, recall_duration: 10}\n"
        "network: {n_rec: 20, n_adaptive: 10}\nbatch-size: 4\nvalidate_every: 2\n"
    )
    out = tmp_path / "run"
    assert main(["train", "--task", "evidence_accumulation", "--rule", "eprop", "--config",
                 str(cfg), "--iterations", "2", "--no-progress", "--out", str(out)]) == 0  # fmt: skip
    return out


def test_export_sonata(run, tmp_path, capsys):
    libsonata = pytest.importorskip(
        "libsonata", reason="libsonata is not installed (pip install 'neuromod[export]')"
    )
    from neuromod_models import load_model

    capsys.readouterr()
    assert main(["export", str(run), "--to", "sonata", "--out", str(tmp_path / "son"),
                 "--name", "ei"]) == 0  # fmt: skip
    assert "20 neurons of 2 types" in capsys.readouterr().out
    folder = tmp_path / "son" / "network"
    for f in ("ei_nodes.h5", "ei_node_types.csv", "ei_edges.h5", "ei_edge_types.csv"):
        assert (folder / f).is_file(), f
    net, _ = load_model(run)
    edges = libsonata.EdgeStorage(str(folder / "ei_edges.h5")).open_population("ei_to_ei")
    sel = edges.select_all()
    assert edges.size == net.synapses.nnz
    dense = np.zeros((20, 20), dtype=np.float32)
    dense[edges.target_nodes(sel), edges.source_nodes(sel)] = edges.get_attribute("syn_weight", sel)
    np.testing.assert_array_equal(dense, net.w_rec.detach().numpy())
    nodes = libsonata.NodeStorage(str(folder / "ei_nodes.h5")).open_population("ei")
    assert nodes.size == 20


def test_nir_refuses_an_adaptive_network_in_one_line(run, tmp_path, capsys):
    assert main(["export", str(run), "--to", "nir", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "adaptive-threshold" in err and "10 of 20" in err
    assert not list((tmp_path / "x").glob("*.nir"))


def test_export_nir_of_a_lif_network(tmp_path, capsys):
    nir = pytest.importorskip("nir", reason="nir is not installed (pip install 'neuromod[nir]')")
    from neuromod_models import load_model

    cfg = tmp_path / "lif.yaml"
    cfg.write_text(
        "task_options: {T: 40, n_cues: 3, t_cue: 5, t_interval: 8, recall_duration: 10}\n"
        "network: {n_rec: 12, n_adaptive: 0}\nbatch-size: 2\nvalidate_every: 1\n"
    )
    run = tmp_path / "lif"
    assert main(["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config",
                 str(cfg), "--iterations", "1", "--no-progress", "--out", str(run)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["export", str(run), "--to", "nir", "--out", str(tmp_path / "n"),
                 "--name", "lif"]) == 0  # fmt: skip
    assert "12 neurons" in capsys.readouterr().out
    g = nir.read(tmp_path / "n" / "lif.nir")
    net, _ = load_model(run)
    np.testing.assert_array_equal(g.nodes["w_rec"].weight, net.w_rec.detach().numpy())
    np.testing.assert_array_equal(g.nodes["w_in"].weight, net.w_in.detach().numpy())


def test_export_nest_writes_the_script_and_its_data(run, tmp_path, capsys):
    from neuromod_models import load_model

    capsys.readouterr()
    assert main(["export", str(run), "--to", "nest", "--out", str(tmp_path / "ne")]) == 0
    assert "nest_network.py" in capsys.readouterr().out
    script = (tmp_path / "ne" / "nest_network.py").read_text()
    assert "eprop_iaf_adapt" in script and "import neuromod" not in script
    net, _ = load_model(run)
    with np.load(tmp_path / "ne" / "nest_network.npz") as z:
        np.testing.assert_array_equal(z["w_in"], net.w_in.detach().numpy())
        np.testing.assert_array_equal(z["alpha"], net.alpha.numpy())


def test_export_without_model_file(run, tmp_path, capsys):
    (run / "model.npz").unlink()
    assert main(["export", str(run), "--to", "sonata", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "neuromod train --out" in err
