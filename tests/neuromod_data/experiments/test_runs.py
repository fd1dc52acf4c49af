"""Finding runs in folders and reading their metrics files (columns by name, old files, errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuromod_data.errors import FormatError, InputFileError, NeuromodWarning
from neuromod_data.experiments import runs as R


def test_columns_are_read_by_name(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text(
        "total_loss,note,accuracy,split,loss,iteration\n"
        "0.75,x,0.5,validation,0.7,0\n"
        "0.45,y,,train,0.4,1\n"
    )
    m = R.read_metrics(p)
    assert list(m.columns) == ["iteration", "split", "loss", "accuracy", "total_loss"]
    assert m["iteration"].tolist() == [0, 1]
    assert m["loss"].tolist() == [0.7, 0.4]
    assert m["total_loss"].tolist() == [0.75, 0.45]
    assert m["accuracy"].iloc[0] == 0.5 and np.isnan(m["accuracy"].iloc[1])


def test_old_files_without_total_loss_use_the_task_loss(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("iteration,split,loss,accuracy\n0,validation,0.7,0.5\n10,validation,0.6,\n")
    m = R.read_metrics(p)
    assert m["total_loss"].tolist() == [0.7, 0.6]
    p.write_text("iteration,split,loss\n0,validation,0.7\n")  # a task without accuracy
    assert np.isnan(R.read_metrics(p)["accuracy"]).all()


@pytest.mark.parametrize(
    "text, match",
    [
        ("step,split,loss\n1,train,2\n", r"metrics\.csv.*lacks column.*iteration"),
        ("iteration,split,loss\n1,train,abc\n", r"metrics\.csv.*'loss' holds 'abc'"),
        ("iteration,split,loss\n,train,0.5\n", r"metrics\.csv.*'iteration' is empty"),
        ("", r"metrics\.csv: not a readable metrics CSV"),
    ],
)
def test_bad_metrics_name_the_file_and_column(tmp_path, text, match):
    p = tmp_path / "seed0" / "metrics.csv"
    p.parent.mkdir()
    p.write_text(text)
    with pytest.raises(FormatError, match=match):
        R.read_metrics(p)


def test_find_runs_names_runs_by_their_folders(tmp_path, make_run):
    root = tmp_path / "runs"
    make_run(root / "g/evidence_accumulation/mdgl/toy-data/seed3", [(0, 0.7, 0.5)])
    make_run(root / "g/evidence_accumulation/bptt/ei/seed0", [(0, 0.7, 0.5)], seconds=8.0)
    (root / "g/evidence_accumulation/bptt/ei/notes.txt").write_text("not a run")
    found = R.find_runs(root)
    assert [(r.labels, r.seed) for r in found] == [
        ({"grid": "g", "task": "evidence_accumulation", "rule": "bptt", "structure": "ei"}, 0),
        (
            {"grid": "g", "task": "evidence_accumulation", "rule": "mdgl", "structure": "toy-data"},
            3,
        ),
    ]
    assert found[0].seconds == 8.0 and found[0].batch_size == 16 and found[1].seconds is None
    assert found[0]["rule"] == "bptt" and found[0].key(("rule", "structure")) == ("bptt", "ei")


def test_workflow_layout_joins_extra_folders_into_the_condition(tmp_path, make_run):
    make_run(tmp_path / "subclass/data/mdgl/seed1", [(0, 0.7, 0.5)])
    make_run(tmp_path / "RNA_family/mdgl-label-permuted/seed0", [(0, 0.7, 0.5)])
    found = R.find_runs(tmp_path, layout=R.WORKFLOW)
    assert sorted((r["condition"], r["rule"], r.seed) for r in found) == [
        ("RNA_family", "mdgl-label-permuted", 0),
        ("subclass/data", "mdgl", 1),
    ]


def test_several_roots_first_one_wins(tmp_path, make_run):
    make_run(tmp_path / "a/g/t/bptt/ei/seed0", [(0, 0.1, 0.5)])
    make_run(tmp_path / "b/g/t/bptt/ei/seed0", [(0, 0.9, 0.5)])
    make_run(tmp_path / "b/g/t/bptt/ei/seed1", [(0, 0.5, 0.5)])
    found = R.find_runs([tmp_path / "a", tmp_path / "b"])
    assert [(r.seed, float(r.metrics["loss"].iloc[0])) for r in found] == [(0, 0.1), (1, 0.5)]
    with pytest.raises(InputFileError, match="nowhere"):
        R.find_runs(tmp_path / "nowhere")


def test_bad_summary_names_the_file(tmp_path, make_run):
    d = make_run(tmp_path / "g/t/bptt/ei/seed0", [(0, 0.7, 0.5)])
    (d / "summary.json").write_text("{not json")
    with pytest.raises(FormatError, match=r"seed0/summary\.json"):
        R.find_runs(tmp_path)
    (d / "summary.json").write_text(json.dumps([1, 2]))
    with pytest.raises(FormatError, match="JSON object"):
        R.find_runs(tmp_path)


def test_validation_rows_one_per_iteration_in_order(tmp_path):
    d = tmp_path / "g/t/bptt/ei/seed0"
    d.mkdir(parents=True)
    (d / "metrics.csv").write_text(
        "iteration,split,loss,accuracy\n"
        "10,validation,0.5,0.6\n0,validation,0.7,0.5\n10,validation,0.4,0.7\n5,train,1.0,0.1\n"
    )
    run = R.find_runs(tmp_path)[0]
    assert run.validation[["iteration", "loss"]].values.tolist() == [[0, 0.7], [10, 0.4]]
    assert run.iterations_done == 10


def test_groups_and_long_table(tmp_path, make_run):
    for rule, seed in (("mdgl", 1), ("bptt", 0), ("mdgl", 0)):
        make_run(tmp_path / f"g/t/{rule}/ei/seed{seed}", [(0, 0.7, 0.5), (10, 0.5, 0.6)])
    found = R.find_runs(tmp_path)
    groups = R.group_runs(found, ("rule",))
    assert {k: [r.seed for r in v] for k, v in groups.items()} == {
        ("bptt",): [0],
        ("mdgl",): [0, 1],
    }
    table = R.runs_table(found)
    assert list(table.columns) == [
        "grid", "task", "rule", "structure", "seed",
        "iteration", "split", "loss", "accuracy", "total_loss",
    ]  # fmt: skip
    assert len(table) == 3 * 3  # each run: 2 validation rows and 1 training row
    assert len(R.runs_table([])) == 0


# ---------------------------------------------------------------- issue 24: results pages
EA = "evidence_accumulation"


def test_one_grids_folder_is_read_as_that_grid(tmp_path, make_run):
    """Given experiments/runs/<grid> instead of the root, the runs are that grid's, not ''."""
    make_run(tmp_path / f"quick/{EA}/bptt/ei/seed0", [(0, 0.7, 0.5)])
    make_run(tmp_path / f"quick/{EA}/eprop/ei/seed1", [(0, 0.7, 0.5)])
    found = R.find_runs(tmp_path / "quick")
    assert [(r["grid"], r["task"], r["rule"], r.seed) for r in found] == [
        ("quick", EA, "bptt", 0),
        ("quick", EA, "eprop", 1),
    ]
    assert R.grid_folder(tmp_path / "quick") and not R.grid_folder(tmp_path)


def test_a_cut_last_row_is_refused(tmp_path, make_run):
    d = make_run(tmp_path / f"g/{EA}/bptt/ei/seed0", [(0, 0.7, 0.5), (10, 0.5, 0.6)])
    text = (d / "metrics.csv").read_text()
    (d / "metrics.csv").write_text(text[: len(text) - 8])  # inside the last row
    with pytest.raises(FormatError, match=r"seed0/metrics\.csv.*cut short.*refused"):
        R.find_runs(tmp_path)


def test_fewer_iterations_than_the_summary_records_is_refused(tmp_path, make_run):
    d = make_run(
        tmp_path / f"g/{EA}/bptt/ei/seed0", [(0, 0.7, 0.5), (10, 0.5, 0.6), (20, 0.4, 0.7)]
    )
    summary = json.loads((d / "summary.json").read_text())
    summary["metrics"] = {"iterations_done": 20}
    (d / "summary.json").write_text(json.dumps(summary))
    assert R.find_runs(tmp_path)[0].iterations_done == 20  # complete: read
    lines = (d / "metrics.csv").read_text().splitlines(keepends=True)
    (d / "metrics.csv").write_text("".join(lines[:4]))  # cut at a row boundary: iteration 10
    with pytest.raises(FormatError, match=r"ends at iteration 10.*records 20 iterations"):
        R.find_runs(tmp_path)


def test_a_copied_run_folder_is_not_a_run(tmp_path, make_run):
    make_run(tmp_path / f"g/{EA}/bptt/ei/seed0", [(0, 0.7, 0.5)])
    make_run(tmp_path / f"g/{EA}/bptt/ei/seed0 copy", [(0, 0.1, 0.9)])
    with pytest.warns(NeuromodWarning, match=r"not named seed<k>.*seed0 copy"):
        found = R.find_runs(tmp_path)
    assert [(r.labels, r.seed, float(r.metrics.loss.iloc[0])) for r in found] == [
        ({"grid": "g", "task": EA, "rule": "bptt", "structure": "ei"}, 0, 0.7)
    ]


def test_grid_runs_read_in_the_workflow_layout_are_refused(tmp_path, make_run):
    make_run(tmp_path / f"g/{EA}/bptt/ei/seed0", [(0, 0.7, 0.5)])
    with pytest.raises(FormatError, match="reproduction layout"):
        R.find_runs(tmp_path, layout=R.WORKFLOW)
    with pytest.raises(FormatError, match="reproduction layout"):
        R.find_runs(tmp_path / "g", layout=R.WORKFLOW)


def test_strict_takes_grid_runs_only_and_a_published_copy_once(tmp_path, make_run):
    """A user's grid with `runs: results/mine_runs`: the page reads results/ and the grid's
    records; the training folders, the records below results/ and the main workflow's runs are
    not grid runs, and a record and its published copy are one run."""
    res = tmp_path / "results"
    points = [(0, 0.7, 0.5), (10, 0.4, 0.8)]
    for seed in (0, 1):
        tail = f"{EA}/bptt/ei/seed{seed}"
        for where in (f"mine_runs/{tail}", f"mine/runs/mine/{tail}", f"mine/train/{tail}"):
            make_run(res / where, points, seconds=10.0 + seed)  # byte-identical copies
    make_run(res / "mine/runs/mine" / f"{EA}/eprop/ei/seed0", points)  # not published yet
    make_run(res / "train/subclass/data/mdgl/seed0", points)  # the main workflow's run
    make_run(res / f"train/subclass/{EA}/bptt/seed0", points)  # its level named like a task
    with pytest.warns(NeuromodWarning, match="not runs of a grid") as caught:
        found = R.find_runs([res, res / "mine/runs"], strict=True)
    assert sorted((r["grid"], r["rule"], r.seed) for r in found) == [
        ("mine", "eprop", 0),
        ("mine_runs", "bptt", 0),
        ("mine_runs", "bptt", 1),
    ]
    left_out = str(caught[0].message)
    assert "mine/train" in left_out and "train/subclass" in left_out
    assert "runs/mine" not in left_out  # read (or counted) through the second root
    # one root may hold a run copied into two grids on purpose: each grid counts it
    shared = R.find_runs(res / "mine/runs", strict=True)
    make_run(tmp_path / "copy/other" / f"{EA}/eprop/ei/seed0", points)
    make_run(tmp_path / "copy/mine" / f"{EA}/eprop/ei/seed0", points)
    assert len(shared) == 3 and len(R.find_runs(tmp_path / "copy", strict=True)) == 2
