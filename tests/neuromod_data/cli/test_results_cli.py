"""``neuromod results``: summary, page, record and publish on tiny run folders written here."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neuromod_data.cli import main


def write_run(folder, losses, accs, totals=None):
    folder.mkdir(parents=True)
    its = [10 * i for i in range(len(losses))]
    totals = totals or losses
    rows = ["iteration,split,loss,accuracy,total_loss"] + [
        f"{i},validation,{lo},{a},{t}" for i, lo, a, t in zip(its, losses, accs, totals)
    ]
    (folder / "metrics.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "g/evidence_accumulation/bptt/ei/seed0", [0.7, 0.3, 0.1], [0.5, 0.8, 0.9])
    write_run(root / "g/evidence_accumulation/bptt/ei/seed1", [0.7, 0.4, 0.3], [0.5, 0.6, 0.85])
    write_run(
        root / "g/evidence_accumulation/eprop/ei/seed0",
        [0.7, 0.7, 0.6],
        [0.5, 0.5, 0.6],
        totals=[0.8, 0.8, 0.7],
    )
    return root


def test_summary_csv(runs, tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["results", "summary", str(runs), "--out", str(out), "--window", "10"]) == 0
    t = pd.read_csv(out).set_index("rule")
    assert t.loc["bptt", "n_seeds"] == 2
    assert t.loc["bptt", "final_loss_mean"] == pytest.approx(0.2)
    assert t.loc["bptt", "final_loss_sd"] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert t.loc["bptt", "iters_to_threshold_mean"] == pytest.approx(15)  # 10 and 20
    # the authors' loss: mean total loss of the points in the last 10 iterations (10 and 20)
    assert t.loc["eprop", "window_loss_mean"] == pytest.approx(0.75)
    assert t.loc["eprop", "window_points"] == 2
    assert "2 groups of 3 runs" in capsys.readouterr().out


def test_summary_printed(runs, capsys):
    assert main(["results", "summary", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "final_loss_mean" in out and "never" in out  # fewer than 5 points: never crosses


def test_page(runs, tmp_path):
    out = tmp_path / "docs" / "results.md"
    rc = main(
        ["results", "page", str(runs), "--out", str(out), "--figures", str(tmp_path / "figs"),
         "--notes", str(tmp_path / "none.md"), "--configs", str(tmp_path)]
    )  # fmt: skip
    assert rc == 0
    assert out.read_text().startswith("# Results")
    assert (tmp_path / "figs" / "g_evidence_accumulation_rules.png").is_file()


def test_record_and_publish(tmp_path, capsys):
    run = tmp_path / "train"
    write_run(run, [0.7, 0.5], [0.5, 0.6])
    (run / "metrics.json").write_text(json.dumps({"seconds": 1.0}))
    assert main(["results", "mark-start", str(run)]) == 0
    assert (run / "started.json").is_file()
    assert (
        main(["results", "record", "--run-dir", str(run), "--out-dir", str(tmp_path / "rec"),
              "--command", "neuromod train --seed 0", "--job", '{"seed": 0}'])
        == 0
    )  # fmt: skip
    s = json.loads((tmp_path / "rec" / "summary.json").read_text())
    assert s["command"] == "neuromod train --seed 0" and s["job"] == {"seed": 0}
    assert main(["results", "publish", str(tmp_path / "rec"), str(tmp_path / "pub")]) == 0
    assert (tmp_path / "pub" / "metrics.csv").read_text() == (run / "metrics.csv").read_text()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["results", "summary", "NOWHERE"], "runs folder not found: NOWHERE"),
        (["results", "summary", "RUNS", "--smoothing", "4"], "odd number"),
        (["results", "summary", "RUNS", "--threshold", "80"], "in [0, 1]"),
        (["results", "summary", "RUNS", "--window", "-5"], "> 0"),
        (
            ["results", "record", "--run-dir", "RUNS", "--out-dir", "X", "--job", "{"],
            "--job must be",
        ),
        (["results", "record", "--run-dir", "RUNS", "--out-dir", "X"], "no metrics.csv"),
    ],
)
def test_bad_input_is_one_line(runs, argv, match, capsys):
    argv = [str(runs) if a == "RUNS" else a for a in argv]
    try:
        rc = main(argv)
    except SystemExit as exc:  # option errors end while the command line is parsed
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
