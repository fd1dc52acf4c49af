"""``neuromod train`` end to end on a tiny setting: files, resume, config file, errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")

from neuromod_data.cli import main  # noqa: E402
from neuromod_data.structure import CellTypeStructure  # noqa: E402


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    lines = [
        "task_options: {T: 60, n_cues: 3, t_cue: 5, t_interval: 8, recall_duration: 10}",
        "network: {n_rec: 20, n_adaptive: 10}",
        "batch-size: 4",
        "validate_every: 2",
        "iterations: 100",  # overridden by the flag below
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_end_to_end_and_resume(tmp_path, tiny_config, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--task",
        "evidence_accumulation",
        "--rule",
        "eprop",
        "--config",
        str(tiny_config),
        "--iterations",
        "4",
        "--seed",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    for name in (
        "metrics.csv",
        "metrics.json",
        "config.json",
        "checkpoint.pt",
        "learning_curve.png",
    ):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["iterations"] == 4 and cfg["batch_size"] == 4 and cfg["seed"] == 1  # flag beat file
    assert cfg["network"] == {"n_rec": 20, "n_adaptive": 10}
    rows = _rows(out / "metrics.csv")
    assert [r["split"] for r in rows].count("train") == 4
    first = (out / "metrics.csv").read_text()

    # same command again: finished, nothing is rewritten (a workflow sees no new file times)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(argv) == 0
    assert "already finished" in capsys.readouterr().out
    assert (out / "metrics.csv").read_text() == first
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    # fewer iterations than were done: refused, nothing touched
    assert main([*argv[:8], "3", *argv[9:]]) == 2
    assert "holds a run of 4 iterations, more than the 3 asked for" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    # a summary lost to a kill after the last checkpoint is written again
    (out / "metrics.json").unlink()
    assert (
        main(argv) == 0 and json.loads((out / "metrics.json").read_text())["iterations_done"] == 4
    )

    # more iterations from the saved config alone: resumes and extends the same file
    assert main(["train", "--out", str(out), "--iterations", "6", "--no-progress"]) == 0
    rows = _rows(out / "metrics.csv")
    assert [int(r["iteration"]) for r in rows if r["split"] == "train"] == list(range(1, 7))
    assert (out / "metrics.csv").read_text().startswith(first.rsplit("4,validation", 1)[0])

    # the same 6 iterations in one go give the same file, bit for bit
    straight = tmp_path / "straight"
    argv2 = [a if a != "4" else "6" for a in argv[:-1]] + [str(straight)]
    assert main(argv2) == 0
    assert (straight / "metrics.csv").read_text() == (out / "metrics.csv").read_text()


def test_train_with_structure_and_data_gate(tmp_path, tiny_config, capsys):
    mod = np.zeros((2, 3, 3))
    mod[0, 0, 1] = 1.0
    mod[1, 2, 0] = 0.5
    st = CellTypeStructure(
        names=("L2/3 IT", "Sst", "Vip"),
        abundances=np.array([0.7, 0.2, 0.1]),
        signs=np.array([1, -1, -1]),
        modulation=mod,
        pairs=("Npy→Npy1r", "Vip→Vipr1"),
    )
    path = st.save(tmp_path / "structure.npz")
    out = tmp_path / "mdgl"
    argv = [
        "train",
        "--task",
        "evidence_accumulation",
        "--rule",
        "mdgl",
        "--structure",
        str(path),
        "--config",
        str(tiny_config),
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main([*argv, "--iterations", "2"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["gate"] == "data"
    import torch

    from neuromod_models.init import allocate_types

    net = torch.load(out / "checkpoint.pt", weights_only=False)["network"]
    counts = allocate_types(np.array([0.7, 0.2, 0.1]), 20)  # the tiny config's n_rec
    assert np.bincount(net["type_index"].numpy(), minlength=3).tolist() == counts.tolist()
    expected_signs = np.repeat(np.array([1.0, -1.0, -1.0]), counts)
    assert net["signs"].numpy().tolist() == expected_signs.tolist()
    # the gate acts on learning: the same run without it ends with other weights
    ungated = tmp_path / "ungated"
    argv_ungated = [*argv[:-1], str(ungated), "--gate", "none", "--iterations", "2"]
    assert main(argv_ungated) == 0
    net_ungated = torch.load(ungated / "checkpoint.pt", weights_only=False)["network"]
    assert torch.equal(net["type_index"], net_ungated["type_index"])
    assert not torch.equal(net["theta_rec"], net_ungated["theta_rec"])
    summary = json.loads((out / "metrics.json").read_text())
    assert "gate='data'" in summary["rule"] and summary["iterations_done"] == 2
    # the same structure saved again (new zip timestamps) resumes; other couplings are refused
    st.save(path)
    assert main([*argv, "--iterations", "3"]) == 0
    mod2 = mod.copy()
    mod2[0, 1, 2] = 1.0
    st._replace(modulation=mod2).save(path)
    assert main([*argv, "--iterations", "4"]) == 2
    assert "structure_hash" in capsys.readouterr().err


def test_resume_refuses_a_structure_with_other_connectivity(tmp_path, tiny_config, capsys):
    from neuromod_data.structure import Connectivity

    names = ("IT", "Sst")
    prob = np.array([[0.2, 0.3], [0.4, 0.1]])
    st = CellTypeStructure(
        names=names,
        abundances=np.array([0.8, 0.2]),
        signs=np.array([1, -1]),
        modulation=np.zeros((0, 2, 2)),
        pairs=(),
    ).with_connectivity(Connectivity(names, prob, np.ones((2, 2))))
    path = st.save(tmp_path / "structure.npz")
    argv = ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--structure", str(path)]
    argv += ["--config", str(tiny_config), "--no-progress", "--out", str(tmp_path / "run")]
    assert main([*argv, "--iterations", "2"]) == 0
    before = {f.name: f.read_bytes() for f in (tmp_path / "run").iterdir()}
    # the same types and abundances, other connection probabilities: not the network it was
    st.with_connectivity(Connectivity(names, prob * 0.5, np.ones((2, 2)))).save(path)
    assert main([*argv, "--iterations", "4"]) == 2
    assert "structure_hash" in capsys.readouterr().err
    assert {f.name: f.read_bytes() for f in (tmp_path / "run").iterdir()} == before


def test_train_errors_are_one_line(tmp_path, tiny_config, capsys):
    out = tmp_path / "run"
    base = [
        "train",
        "--task",
        "evidence_accumulation",
        "--rule",
        "bptt",
        "--config",
        str(tiny_config),
        "--iterations",
        "2",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(base) == 0
    capsys.readouterr()
    saved = (out / "config.json").read_text()
    # resuming with another learning rate, gate or batch size is refused, naming the setting, and
    # leaves the saved settings as they were (the run can still be continued)
    for flag, value, key in (("--lr", "0.1", "lr"), ("--batch-size", "3", "batch_size")):
        assert main([*base, "--iterations", "3", flag, value]) == 2
        err = capsys.readouterr().err
        assert key in err and "another output directory" in err
        assert (out / "config.json").read_text() == saved
    assert main(["train", "--out", str(out), "--iterations", "3", "--no-progress"]) == 0
    assert "resumed at 2," in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["iterations"] == 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"itterations": 3}))
    assert (
        main(
            [
                "train",
                "--task",
                "pattern_generation",
                "--rule",
                "bptt",
                "--config",
                str(bad),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "itterations" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--task",
                "pattern_generation",
                "--rule",
                "bptt",
                "--gate",
                "data",
                "--out",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )
    assert "mdgl only" in capsys.readouterr().err


def test_cli_module_imports_without_torch():
    code = (
        "import sys, neuromod_data.cli.train as t; from neuromod_data.cli import build_parser; "
        "build_parser(); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gate_names_come_from_the_shared_vocabulary(tmp_path, capsys):
    from neuromod_data.names import GATES

    parser_help = subprocess.run(
        [sys.executable, "-m", "neuromod_data.cli", "train", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert all(g in " ".join(parser_help.split()) for g in GATES)
    argv = ["train", "--task", "evidence_accumulation", "--rule", "mdgl", "--out", str(tmp_path)]
    assert main([*argv, "--gate", "shuffled"]) == 2
    err = capsys.readouterr().err
    assert "'shuffled' was renamed 'grid-shuffled'" in err and len(err.splitlines()) == 1


def test_threads_default_to_one_and_follow_the_environment(monkeypatch):
    import torch

    from neuromod_data.cli.train import _set_threads

    monkeypatch.delenv("NEUROMOD_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        assert _set_threads(None) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("NEUROMOD_THREADS", "2")
        assert _set_threads(None) == 2 and torch.get_num_threads() == 2
        assert _set_threads(1) == 1  # the flag beats the environment
    finally:
        torch.set_num_threads(before)


def test_threads_flag_reaches_training(tmp_path, tiny_config, monkeypatch):
    # train() defaults to one thread; the command's choice must hold while it trains
    import torch

    import neuromod_models.training as training

    seen = []
    real_train = training.train

    def spy(*args, callback, **kwargs):
        def record(it, row):
            seen.append(torch.get_num_threads())
            callback(it, row)

        return real_train(*args, callback=record, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    before = torch.get_num_threads()
    argv = ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config"]
    argv += [str(tiny_config), "--iterations", "2", "--no-progress", "--out", str(tmp_path / "r")]
    try:
        assert main([*argv, "--threads", "2"]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [2, 2]


def test_new_run_refuses_a_folder_of_other_files(tmp_path, tiny_config, capsys):
    argv = ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config"]
    argv += [str(tiny_config), "--iterations", "1", "--no-progress", "--out"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    assert main([*argv, str(other)]) == 2
    err = capsys.readouterr().err
    assert "holds files that are not a training run's (mine.txt)" in err
    assert [p.name for p in other.iterdir()] == ["mine.txt"]
    # what `neuromod results mark-start` leaves before the run is fine
    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / "started.json").write_text("{}")
    assert main([*argv, str(marked)]) == 0 and (marked / "checkpoint.pt").is_file()


@pytest.mark.parametrize("text", ["", "# nothing set yet\n", "{}\n"])
def test_an_empty_config_file_is_warned_about(tmp_path, text, capsys):
    cfg = tmp_path / "empty.yaml"
    cfg.write_text(text)
    out = tmp_path / "run"
    # the warning comes before anything else, so a missing --task still shows why nothing was set
    assert main(["train", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0]
        == f"neuromod train: warning: {cfg} sets nothing; every setting not given as a flag keeps its default"
    )
    assert "give --task and --rule" in err[1]
    assert not out.exists()


def test_a_config_that_sets_something_is_not_warned_about(tmp_path, tiny_config, capsys):
    from neuromod_data.cli.train import _read_config

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _read_config(tiny_config)["batch_size"] == 4


def test_heterogeneity_is_on_for_intrinsic_parameters_and_the_flag_turns_it_off(
    tmp_path, tiny_config, capsys
):
    """A structure with intrinsic parameters trains neurons that each draw their own (the
    network's setting and its thresholds differ within a type); --no-heterogeneity gives every
    neuron its type's median, and is refused with a contradicting network.heterogeneity."""
    import torch

    from neuromod_data.structure import BOUNDS, PARAMETERS, IntrinsicParameters

    names = ("IT", "Sst")
    med = np.array([[20.0, 2000.0, 1.8, 0.7, 0.010, 5.0], [10.0, 2000.0, 1.0, 0.2, 0.015, 3.0]])
    ip = IntrinsicParameters(
        names, PARAMETERS, med, np.full(med.shape, 0.3), np.full(med.shape, 40),
        np.full(med.shape, "RNA family"), np.repeat(np.array(names)[:, None], 6, axis=1),
        np.array([BOUNDS[p] for p in PARAMETERS]),
    )  # fmt: skip
    st = CellTypeStructure(names, [0.8, 0.2], [1, -1], np.ones((1, 2, 2)), ("p",))
    path = st.with_intrinsic(ip).save(tmp_path / "structure.npz")
    base = ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--structure", str(path)]
    base += ["--config", str(tiny_config), "--no-progress", "--iterations", "1"]

    def network(out, *extra):
        assert main([*base, *extra, "--out", str(out)]) == 0
        ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
        return ckpt["settings"]["network"], ckpt["network"]["v_th"]

    config, v_th = network(tmp_path / "on")
    assert config["heterogeneity"] is True and v_th[:16].unique().numel() == 16
    config, v_th = network(tmp_path / "off", "--no-heterogeneity")
    assert config["heterogeneity"] is False
    assert v_th.tolist() == pytest.approx([0.010] * 16 + [0.015] * 4)
    assert json.loads((tmp_path / "off" / "config.json").read_text())["heterogeneity"] is False
    # the same switch from a config file's network section; a contradiction is refused
    both = tmp_path / "both.yaml"
    both.write_text(tiny_config.read_text().replace("n_adaptive: 10}", "heterogeneity: true}"))
    argv = [*base[:-5], "--config", str(both), "--no-progress", "--iterations", "1"]
    assert main([*argv, "--no-heterogeneity", "--out", str(tmp_path / "x")]) == 2
    assert "network.heterogeneity" in capsys.readouterr().err


def test_no_progress_logs_a_line_every_tenth(tmp_path, tiny_config, capsys):
    """Grid jobs run with --no-progress: their log gets a line at every tenth of the run (the
    iteration, the batch loss, the speed and the time left), not 10 silent minutes."""
    args = ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--iterations", "20",
            "--batch-size", "2", "--validate-every", "10", "--config", str(tiny_config)]  # fmt: skip
    assert main([*args, "--no-progress", "--out", str(tmp_path / "a")]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if " iteration " in ln]
    assert [int(ln.split("iteration ")[1].split("/")[0]) for ln in lines] == list(range(2, 21, 2))
    assert all("/20, batch loss " in ln and "min left" in ln for ln in lines)
    assert main([*args, "--out", str(tmp_path / "b")]) == 0  # with the bar: no log lines
    assert " iteration " not in capsys.readouterr().err
