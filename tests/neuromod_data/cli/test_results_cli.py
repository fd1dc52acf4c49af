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
         "--configs", str(tmp_path)]
    )  # fmt: skip
    assert rc == 0
    text = out.read_text()
    assert text.startswith("# Results")
    assert (tmp_path / "figs" / "g_evidence_accumulation_rules.png").is_file()
    # the evidence-accumulation table against pandas on the fixture's CSV files
    block = text[text.index("## Evidence accumulation") :].split("\n## ", 1)[0]
    lines = [ln for ln in block.splitlines() if ln.startswith("| ")][1:]  # header dropped
    rows = {r[1]: r for r in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines)}
    assert list(rows) == ["bptt", "eprop"]
    for rule, n in (("bptt", 2), ("eprop", 1)):
        finals, windows = [], []
        for path in sorted(runs.glob(f"g/evidence_accumulation/{rule}/ei/seed*/metrics.csv")):
            v = pd.read_csv(path).query("split == 'validation'")
            finals.append(v.sort_values("iteration").loss.iloc[-1])
            # the authors' definition: mean total loss over the last 100 iterations (all 3 here)
            windows.append(v.loc[v.iteration >= v.iteration.max() - 100, "total_loss"].mean())
        assert len(finals) == n and rows[rule][4] == str(n)
        if n > 1:
            w_sd, f_sd = np.std(windows, ddof=1), np.std(finals, ddof=1)
            assert rows[rule][5] == f"{np.mean(windows):.3f} ± {w_sd:.3f} (3)"
            assert rows[rule][10] == f"{np.mean(finals):.3f} ± {f_sd:.3f}"
        else:  # one seed: no SD
            assert rows[rule][5] == f"{windows[0]:.3f} (3)"
            assert rows[rule][10] == f"{finals[0]:.3f}"
    # by hand: bptt window means (0.7 + 0.3 + 0.1) / 3 and (0.7 + 0.4 + 0.3) / 3
    assert rows["bptt"][5] == "0.417 ± 0.071 (3)" and rows["bptt"][10] == "0.200 ± 0.141"
    assert rows["eprop"][5] == "0.767 (3)"  # total loss, not the task loss (0.667)


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


def test_curves_overlays_any_runs(tmp_path, capsys):
    from matplotlib.image import imread

    a, b = tmp_path / "a", tmp_path / "elsewhere" / "b"
    write_run(a, [0.7, 0.3, 0.1], [0.5, 0.8, 0.9])
    write_run(b, [0.7, 0.5, 0.4], [0.5, 0.6, 0.7])
    out = tmp_path / "curves.png"
    assert main(["results", "curves", str(a), str(b / "metrics.csv"), "--out", str(out)]) == 0
    assert imread(out).shape[2] in (3, 4) and "2 learning curves" in capsys.readouterr().out
    # the lines drawn are the runs' validation values
    from neuromod_data.experiments.curves import curves_figure
    from neuromod_data.experiments.runs import Run, read_metrics

    fig = curves_figure({str(a): [Run({}, 0, read_metrics(a / "metrics.csv"))]})
    assert fig.axes[0].lines[0].get_ydata().tolist() == [0.7, 0.3, 0.1]
    # a folder that is not a run is named
    assert main(["results", "curves", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "nothing" in capsys.readouterr().err


def test_curves_keep_one_colour_per_run_in_every_panel(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_run(a, [0.7, 0.3], [0.5, 0.8])
    write_run(b, [0.6, 0.5], ["", ""])  # no accuracy: absent from the accuracy panel
    write_run(c, [0.7, 0.6], [0.5, 0.6])
    from unittest import mock

    from matplotlib.figure import Figure

    saved = []
    with mock.patch.object(Figure, "savefig", lambda self, *a, **k: saved.append(self)):
        assert main(["results", "curves", str(a), str(b), str(c), "--out",
                     str(tmp_path / "x.png")]) == 0  # fmt: skip
    (fig,) = saved
    colour = [{ln.get_label().split(" (")[0]: ln.get_color() for ln in ax.get_lines()
               if not ln.get_label().startswith("_")} for ax in fig.axes]  # fmt: skip
    assert set(colour[0]) == {str(a), str(b), str(c)} and set(colour[1]) == {str(a), str(c)}
    assert all(colour[1][k] == colour[0][k] for k in colour[1])
    assert len(set(colour[0].values())) == 3


# ---------------------------------------------------------------- issue 24: results pages
def _project(root):
    """A project tree: committed runs of grid g, its config, notes and timings."""
    import yaml

    for seed in (0, 1):
        write_run(
            root / f"experiments/runs/g/evidence_accumulation/bptt/ei/seed{seed}",
            [0.7, 0.3],
            [0.5, 0.9],
        )
    (root / "workflows/config").mkdir(parents=True)
    rc = {
        "name": "g",
        "results": "results/g",
        "tasks": {"evidence_accumulation": {"iterations": 10, "batch_size": 8}},
        "grid": [{"tasks": ["evidence_accumulation"], "rules": ["bptt"], "structures": ["ei"],
                  "seeds": [0, 1, 2]}],
    }  # fmt: skip
    (root / "workflows/config/g.yaml").write_text(yaml.safe_dump({"reproduction": rc}))
    (root / "experiments/notes.md").write_text("The project's own commentary.\n")


def _grid_row(text):
    block = text[text.index("## Grids") :].split("\n## ", 1)[0]
    return [ln for ln in block.splitlines() if ln.startswith("| g ")]


def test_notes_and_pending_belong_to_the_projects_page_only(tmp_path, monkeypatch):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["results", "page", "--out", "p.md", "--figures", "f"]) == 0
    text = (tmp_path / "p.md").read_text()
    assert "The project's own commentary." in text
    assert _grid_row(text) == [
        "| g | `workflows/config/g.yaml` | 3 | 2 | 1 | — (+1 jobs with no measured cost) |"
    ]
    # another runs folder: none of the project's notes or grids unless asked for
    write_run(tmp_path / "mine/h/evidence_accumulation/bptt/ei/seed0", [0.7, 0.3], [0.5, 0.9])
    assert main(["results", "page", "mine", "--out", "m.md", "--figures", "f"]) == 0
    text = (tmp_path / "m.md").read_text()
    assert "commentary" not in text and "workflows/config" not in text and "| h |" in text
    # the project's runs with local records (the reproduction workflow's page before
    # publishing) are still the project's page
    assert (
        main(["results", "page", "experiments/runs", "mine", "--out", "m.md", "--figures", "f"])
        == 0
    )
    assert "The project's own commentary." in (tmp_path / "m.md").read_text()
    args = ["--notes", "experiments/notes.md", "--configs", "workflows/config"]
    assert main(["results", "page", "mine", *args, "--out", "m.md", "--figures", "f"]) == 0
    assert "The project's own commentary." in (tmp_path / "m.md").read_text()


def test_one_grids_folder_counts_its_finished_runs(tmp_path, monkeypatch, capsys):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = ["results", "page", "experiments/runs/g", "--configs", "workflows/config"]
    assert main([*argv, "--out", "p.md", "--figures", "f"]) == 0
    assert _grid_row((tmp_path / "p.md").read_text()) == [
        "| g | `workflows/config/g.yaml` | 3 | 2 | 1 | — (+1 jobs with no measured cost) |"
    ]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "argv, match",
    [
        (["results", "summary", "RUNS", "--out", "RUNS/g/evidence_accumulation/bptt/ei/seed0/metrics.csv"],
         "also an input"),
        (["results", "summary", "RUNS", "--layout", "workflow"], "reproduction layout"),
        (["results", "summary", "RUNS/g/evidence_accumulation"], "no runs"),
        (["results", "page", "RUNS", "--out", "RUNS/g/evidence_accumulation/bptt/ei/seed1/metrics.csv"],
         "also an input"),
        (["results", "page", "RUNS", "--configs", "RUNS/nope"], "nope"),
        (["results", "page", "RUNS", "--notes", "RUNS/nope.md"], "nope.md"),
    ],
    ids=["summary-out-input", "summary-layout", "summary-no-runs", "page-out-input", "configs-missing",
         "notes-missing"],
)  # fmt: skip
def test_bad_results_input_is_one_line(runs, argv, match, capsys, tmp_path):
    argv = [a.replace("RUNS", str(runs)) for a in argv]
    before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    argv += ["--figures", str(tmp_path / "f")] if argv[1] == "page" else []
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()} == before
