"""Finding runs in folders and reading their metrics files (columns by name, old files, errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuromod_data.errors import FormatError, InputFileError
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
