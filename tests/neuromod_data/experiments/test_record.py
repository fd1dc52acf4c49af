"""Keeping a finished run: what the record holds, and what is refused."""

from __future__ import annotations

import json
import re

import pytest

from neuromod_data.errors import InputFileError
from neuromod_data.experiments import record


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "train" / "seed0"
    d.mkdir(parents=True)
    (d / "metrics.csv").write_text("iteration,split,loss,accuracy\n0,validation,0.7,0.5\n")
    (d / "metrics.json").write_text(json.dumps({"seconds": 3.5, "iterations_done": 2}))
    (d / "config.json").write_text(json.dumps({"rule": "bptt", "batch_size": 2}))
    (d / "checkpoint.pt").write_bytes(b"x" * 10)
    return d


def test_record_copies_metrics_and_writes_the_summary(run_dir, tmp_path):
    (run_dir / record.STARTED).write_text(
        json.dumps({"git_commit": "a" * 40, "uncommitted_files": 3})
    )
    out = record.record(run_dir, tmp_path / "kept", command="neuromod train x", job={"seed": 0})
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "summary.json"]
    assert (out / "metrics.csv").read_bytes() == (run_dir / "metrics.csv").read_bytes()
    s = json.loads((out / "summary.json").read_text())
    assert s["metrics"] == {"seconds": 3.5, "iterations_done": 2}
    assert s["settings"] == {"rule": "bptt", "batch_size": 2}
    assert s["command"] == "neuromod train x" and s["job"] == {"seed": 0}
    assert s["git_commit"] == "a" * 40  # the commit the job started from, not the one now
    assert s["uncommitted_files_in_models_at_start"] == 3
    assert s["machine"]["cores"] >= 1 and s["python"].count(".") == 2


def test_started_notes_the_commit_now(run_dir):
    path = record.started(run_dir)
    state = json.loads(path.read_text())
    assert re.fullmatch(
        r"[0-9a-f]{40}", state["git_commit"] or ""
    )  # the tests run in the repository
    assert isinstance(state["uncommitted_files"], int)


def test_an_unfinished_run_is_refused(run_dir, tmp_path):
    (run_dir / "metrics.json").unlink()  # training writes it only when it returns
    with pytest.raises(InputFileError, match="training has not finished"):
        record.record(run_dir, tmp_path / "kept")
    assert not (tmp_path / "kept").exists()
    with pytest.raises(InputFileError, match="no metrics.csv"):
        record.record(tmp_path, tmp_path / "kept")


def test_publish_copies_a_record(run_dir, tmp_path):
    kept = record.record(run_dir, tmp_path / "kept")
    pub = record.publish(kept, tmp_path / "published" / "seed0")
    for name in ("metrics.csv", "summary.json"):
        assert (pub / name).read_bytes() == (kept / name).read_bytes()
    with pytest.raises(InputFileError, match="summary.json"):
        record.publish(run_dir, tmp_path / "elsewhere")
