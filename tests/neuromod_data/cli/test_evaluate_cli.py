"""``neuromod evaluate``: a tiny run trained by ``neuromod train`` evaluated on fresh trials; the
numbers checked against a direct computation with the loaded network; a run without a model file."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from neuromod_data.cli import main  # noqa: E402
from neuromod_data.structure import CellTypeStructure  # noqa: E402

_TASK = "{T: 80, n_cues: 3, t_cue: 5, t_interval: 8, recall_duration: 10}"


def _train(tmp_path, rule, *extra):
    cfg = tmp_path / f"{rule}.yaml"
    cfg.write_text(
        f"task_options: {_TASK}\nnetwork: {{n_rec: 30, n_adaptive: 10}}\nbatch-size: 4\n"
        "validate_every: 2\n"
    )
    out = tmp_path / f"run-{rule}"
    argv = ["train", "--task", "evidence_accumulation", "--rule", rule, "--config", str(cfg),
            "--iterations", "2", "--no-progress", "--out", str(out), *extra]  # fmt: skip
    assert main(argv) == 0
    return out


@pytest.fixture
def three_types(tmp_path):
    st = CellTypeStructure(
        names=("Exc", "Pvalb", "Sst"),
        abundances=np.array([70.0, 18.0, 12.0]),
        signs=np.array([1, -1, -1]),
        modulation=np.array([[[1.0, 0.5, 0.0], [0.2, 1.0, 0.3], [0.0, 0.7, 1.0]]]),
        pairs=("a→b",),
    )
    return st.save(tmp_path / "structure.npz")


def test_evaluate_mdgl_run(tmp_path, three_types, capsys):
    import torch

    from neuromod_models import load_model
    from neuromod_models.evaluation import evaluation_seed

    run = _train(tmp_path, "mdgl", "--structure", str(three_types))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--trials", "5", "--seed", "3"]) == 0
    out = run / "evaluation"
    for name in ("evaluation.json", "rates.csv", "raster.png", "rates.png", "modulation.png",
                 "readout.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    ev = json.loads((out / "evaluation.json").read_text())
    # the same numbers computed here from the loaded network on the evaluation stream's batch
    net, task = load_model(run)
    batch = task.sample(5, seed=evaluation_seed(3))
    with torch.no_grad():
        y, rates, _ = net.run(batch.x)
    assert ev["loss"] == pytest.approx(float(task.loss(y, batch)), rel=1e-6)
    assert ev["accuracy"] == pytest.approx(task.accuracy(y, batch))
    hz = rates.double().numpy() * 1000.0
    ti = net.type_index.numpy()
    assert [t["type"] for t in ev["types"]] == ["Exc", "Pvalb", "Sst"]
    for k, entry in enumerate(ev["types"]):
        assert entry["neurons"] == int((ti == k).sum())
        assert entry["rate_hz"] == pytest.approx(hz[ti == k].mean(), rel=1e-9)
        assert entry["modulation_mean"] >= 0 and entry["learning_signal_mean"] >= 0
    # the signals are really there (a neuron without an output synapse has L = 0; a type may
    # have none with 10 % output connectivity, so the sums are what must be positive)
    assert sum(e["learning_signal_mean"] for e in ev["types"]) > 0
    assert sum(e["modulation_mean"] for e in ev["types"]) > 0
    with open(out / "rates.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30 and rows[0]["type"] == "Exc"
    np.testing.assert_allclose([float(r["rate_hz"]) for r in rows], hz, rtol=1e-12)
    assert ev["rule"]["name"] == "mdgl" and ev["rule"]["gate"] == "data"
    # fresh trials: not the training batches (another seed stream), and the seed matters
    assert main(["evaluate", str(run), "--trials", "5", "--seed", "4", "--out",
                 str(tmp_path / "other")]) == 0  # fmt: skip
    other = json.loads((tmp_path / "other" / "evaluation.json").read_text())
    assert other["loss"] != ev["loss"]
    assert "accuracy" in capsys.readouterr().out


def test_evaluate_bptt_run_says_no_modulation(tmp_path):
    run = _train(tmp_path, "bptt")
    assert main(["evaluate", str(run), "--trials", "3"]) == 0
    ev = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert "modulation_mean" not in ev["types"][0] and ev["rule"]["name"] == "bptt"


def test_evaluate_without_model_file_says_how_to_get_one(tmp_path, capsys):
    run = _train(tmp_path, "eprop")
    (run / "model.npz").unlink()
    capsys.readouterr()  # training's own log lines
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.npz" in err and "neuromod train --out" in err
    # doing what it says gives the run its model file, and evaluate works
    assert main(["train", "--out", str(run), "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--trials", "2"]) == 0


def test_evaluate_refuses_a_damaged_model_file_and_an_out_holding_it(tmp_path, capsys):
    run = _train(tmp_path, "eprop")
    capsys.readouterr()  # training's own log lines
    # --out the run folder itself would put outputs beside the model it reads: refused up front
    assert main(["evaluate", str(run), "--out", str(run)]) == 2
    assert "model.npz" in capsys.readouterr().err
    data = (run / "model.npz").read_bytes()
    (run / "model.npz").write_bytes(data[: len(data) // 2])  # truncated, e.g. a full disk
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(run / "model.npz") in err
    assert not (run / "evaluation").exists()
