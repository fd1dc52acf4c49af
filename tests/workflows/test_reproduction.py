"""The reproduction workflow (workflows/rules/reproduction.smk) through Snakemake: finished jobs are
not rerun (nor anything upstream of them), a real tiny job is trained and recorded, everything is
written under the results folder unless publishing, and the shipped grid configs stay valid.

The grid's Python side (jobs, commands, folders) and the page are tested in
tests/neuromod_data/experiments/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from neuromod_data.experiments import grid

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = "workflows/rules/reproduction.smk"
SCHEMA = ROOT / "workflows" / "schemas" / "reproduction.schema.yaml"
EA = "evidence_accumulation"


def snakemake(cfg_path: Path, *args: str, timeout: int = 600) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", SNAKEFILE, "--nolock",
         "--configfile", str(cfg_path), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def job_counts(output: str) -> dict[str, int]:
    counts = {}
    for name in (
        "repro_train",
        "repro_structure",
        "repro_toy_data",
        "repro_options",
        "repro_publish",
    ):
        m = re.search(rf"^{name}\s+(\d+)\s*$", output, re.M)
        counts[name] = int(m.group(1)) if m else 0
    return counts


def write_record(folder: str) -> None:
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    (d / "metrics.csv").write_text("iteration,split,loss,accuracy\n0,validation,0.7,0.5\n")
    (d / "summary.json").write_text("{}")


@pytest.mark.parametrize("name", ["reproduction.yaml", "reproduction_quick.yaml"])
def test_shipped_grids_are_valid(name):
    cfg = yaml.safe_load((ROOT / "workflows" / "config" / name).read_text())
    jsonschema.validate(cfg, yaml.safe_load(SCHEMA.read_text()))
    grid.validate(cfg["reproduction"])
    assert grid.jobs(cfg["reproduction"])


@pytest.fixture
def small(tmp_path):
    cfg = {
        "reproduction": {
            "name": "t",
            "results": str(tmp_path / "results"),
            "runs": str(tmp_path / "published" / "t"),
            "tasks": {EA: {"iterations": 2, "batch_size": 2}},
            "structures": {
                "toy_cortex": {"source": "toy", "n_cells": 100, "seed": 0, "groupby": "subclass_label"}
            },
            "grid": [
                {"tasks": [EA], "rules": ["bptt"], "structures": ["ei"], "seeds": [0, 1]},
                {"tasks": [EA], "rules": ["mdgl"], "structures": ["toy_cortex-label-permuted"], "seeds": [0]},
            ],
        }
    }  # fmt: skip
    path = tmp_path / "repro.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg["reproduction"]


def test_dry_run_skips_finished_jobs(small):
    cfg_path, rc = small
    targets = grid.targets(rc)
    before = job_counts(snakemake(cfg_path, "-n", "--cores", "1", *targets))
    assert before == {"repro_train": 3, "repro_structure": 1, "repro_toy_data": 1,
                      "repro_options": 1, "repro_publish": 0}  # fmt: skip
    # bptt seed 0 finished here; the only MDGL job finished and was published
    bptt0 = {"task": EA, "rule": "bptt", "structure": "ei", "seed": 0}
    mdgl0 = {"task": EA, "rule": "mdgl", "structure": "toy_cortex-label-permuted", "seed": 0}
    write_record(grid.record_dir(rc, bptt0))
    write_record(grid.published_dir(rc, mdgl0))
    out = snakemake(cfg_path, "-n", "--cores", "1", *grid.targets(rc))
    # only bptt seed 1 is left; no structure (nor its data) is rebuilt for the finished MDGL job
    assert job_counts(out) == {"repro_train": 1, "repro_structure": 0, "repro_toy_data": 0,
                               "repro_options": 1, "repro_publish": 0}  # fmt: skip
    assert "wildcards: task=evidence_accumulation, lrule=bptt, structure=ei, seed=1" in out
    # publishing asks for the published copies: the local bptt record is copied, not retrained
    pub = snakemake(cfg_path, "--config", "publish=true", "-n", "--cores", "1",
                    *grid.targets(rc, publish=True))  # fmt: skip
    assert job_counts(pub) == {"repro_train": 1, "repro_structure": 0, "repro_toy_data": 0,
                               "repro_options": 1, "repro_publish": 2}  # fmt: skip


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_one_real_job_is_recorded_then_published_and_left_alone(tmp_path):
    """A real (tiny) training job: recorded under the results folder with its command and start
    commit, nothing written outside it; published on request; a second invocation does nothing."""
    short = {"T": 300, "t_cue": 20, "t_interval": 30, "recall_duration": 40}
    rc = {
        "name": "tiny",
        "results": str(tmp_path / "results"),
        "runs": str(tmp_path / "published" / "tiny"),
        "nice": 0,
        "tasks": {EA: {"iterations": 2, "batch_size": 2, "validate_every": 1, "task_options": short}},
        "grid": [{"tasks": [EA], "rules": ["eprop"], "structures": ["ei"], "seeds": [0]}],
    }  # fmt: skip
    cfg_path = tmp_path / "repro.yaml"
    cfg_path.write_text(yaml.safe_dump({"reproduction": rc}))
    repo_before = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    snakemake(cfg_path, "--cores", "1", *grid.targets(rc))
    job = {"task": EA, "rule": "eprop", "structure": "ei", "seed": 0}
    kept = Path(grid.record_dir(rc, job))
    assert sorted(p.name for p in kept.iterdir()) == ["metrics.csv", "summary.json"]
    metrics = (kept / "metrics.csv").read_text().splitlines()
    assert metrics[0].split(",")[:4] == ["iteration", "split", "loss", "accuracy"]
    assert [r.split(",")[:2] for r in metrics[1:]] == [
        ["0", "validation"], ["1", "train"], ["1", "validation"], ["2", "train"], ["2", "validation"],
    ]  # fmt: skip
    s = json.loads((kept / "summary.json").read_text())
    assert s["settings"]["task_options"] == short and s["settings"]["batch_size"] == 2
    assert "--rule eprop" in s["command"] and "--seed 0" in s["command"]
    assert re.fullmatch(r"[0-9a-f]{40}", s["git_commit"])
    assert (Path(grid.job_dir(rc, job)) / "checkpoint.pt").is_file()
    assert not Path(rc["runs"]).exists()  # nothing published unless asked
    repo_after = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    assert {
        line for line in repo_after.splitlines() if "experiments/runs" in line or "docs/" in line
    } <= set(repo_before.splitlines())
    # published on request: the same two files, byte for byte, and no training
    # (with --rerun-triggers mtime, as documented: a finished job's emptied input list is no change)
    out = snakemake(
        cfg_path, "--config", "publish=true", "--rerun-triggers", "mtime", "--cores", "1",
        *grid.targets(rc, publish=True),
    )  # fmt: skip
    assert "rule repro_train" not in out
    published = Path(grid.published_dir(rc, job))
    for name in ("metrics.csv", "summary.json"):
        assert (published / name).read_bytes() == (kept / name).read_bytes()
    # provenance triggers would see the (deliberately) emptied input list of a finished job as a
    # change; --rerun-triggers mtime (the documented command) leaves finished jobs alone
    again = snakemake(
        cfg_path, "-n", "--rerun-triggers", "mtime", "--cores", "1", *grid.targets(rc)
    )
    assert "Nothing to be done" in again
