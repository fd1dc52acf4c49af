"""The reproduction machinery: the summariser on small hand-made runs (means, SDs, iterations to
80 %, curves and tests checked by hand), the job grid, run recording, and a Snakemake dry run
showing that finished jobs are not rerun (and nothing upstream of them is rebuilt)."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"


def _load(name: str):
    sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(f"_repro_{name}", EXPERIMENTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


summarise = _load("summarise")
grid = _load("grid")
record_run = _load("record_run")


def write_run(root: Path, grid_name, task, rule, structure, seed, rows, *, seconds=None, bs=16):
    d = root / grid_name / task / rule / structure / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    lines = ["iteration,split,loss,accuracy"]
    for it, split, loss, acc in rows:
        lines.append(f"{it},{split},{loss},{'' if acc is None else acc}")
    (d / "metrics.csv").write_text("\n".join(lines) + "\n")
    summary = {"settings": {"batch_size": bs}, "command": f"neuromod train --rule {rule}"}
    if seconds is not None:
        summary["metrics"] = {"seconds": seconds}
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def val(points):
    """Validation rows from (iteration, loss, accuracy) plus a train row before each."""
    rows = []
    for it, loss, acc in points:
        if it:
            rows.append((it, "train", loss + 0.5, 0.5))
        rows.append((it, "validation", loss, acc))
    return rows


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    ea = "evidence_accumulation"
    # bptt: final losses 0.1, 0.2, 0.3 → mean 0.2, SD 0.1; accuracy crosses 0.8 at 20, 10, never
    write_run(
        root,
        "g",
        ea,
        "bptt",
        "ei",
        0,
        val([(0, 0.7, 0.5), (10, 0.5, 0.7), (20, 0.1, 0.85)]),
        seconds=40,
    )
    write_run(
        root,
        "g",
        ea,
        "bptt",
        "ei",
        1,
        val([(0, 0.7, 0.5), (10, 0.4, 0.8), (20, 0.2, 0.9)]),
        seconds=20,
    )
    write_run(
        root,
        "g",
        ea,
        "bptt",
        "ei",
        2,
        val([(0, 0.7, 0.5), (10, 0.6, 0.6), (20, 0.3, 0.79)]),
        seconds=20,
    )
    # mdgl: final losses 0.4, 0.6 → mean 0.5, SD sqrt(0.02)
    write_run(root, "g", ea, "mdgl", "ei", 0, val([(0, 0.7, 0.5), (10, 0.6, 0.6), (20, 0.4, 0.7)]))
    write_run(root, "g", ea, "mdgl", "ei", 1, val([(0, 0.7, 0.5), (10, 0.6, 0.6), (20, 0.6, 0.6)]))
    # eprop: one seed, stopped at 10
    write_run(root, "g", ea, "eprop", "ei", 0, val([(0, 0.7, 0.5), (10, 0.65, 0.55)]))
    # pattern generation, gates on toy types (no accuracy)
    pg = "pattern_generation"
    write_run(root, "g", pg, "mdgl", "toy-data", 0, val([(0, 1.0, None), (5, 0.2, None)]))
    write_run(root, "g", pg, "mdgl", "toy-data", 1, val([(0, 1.0, None), (5, 0.3, None)]))
    write_run(root, "g", pg, "mdgl", "toy-shuffled", 0, val([(0, 1.0, None), (5, 0.5, None)]))
    write_run(root, "g", pg, "mdgl", "toy-shuffled", 1, val([(0, 1.0, None), (5, 0.7, None)]))
    return root


def test_group_statistics_by_hand(runs):
    groups = summarise.group_runs(summarise.find_runs(runs))
    assert len(groups) == 5
    b = summarise.summarise_group(groups[("g", "evidence_accumulation", "bptt", "ei")])
    assert b["n"] == 3 and b["seeds"] == [0, 1, 2]
    assert b["loss_mean"] == pytest.approx(0.2)
    assert b["loss_sd"] == pytest.approx(0.1)
    assert b["acc_mean"] == pytest.approx((0.85 + 0.9 + 0.79) / 3)
    assert b["iters80"] == [20, 10, None]  # ≥ 0.8 counts; 0.79 never does
    assert b["n_reached"] == 2
    assert b["iters80_mean"] == pytest.approx(15.0)
    assert b["iters80_sd"] == pytest.approx(math.sqrt(50.0))
    assert b["seconds_per_iteration"] == pytest.approx((2.0 + 1.0 + 1.0) / 3)
    m = summarise.summarise_group(groups[("g", "evidence_accumulation", "mdgl", "ei")])
    assert m["loss_mean"] == pytest.approx(0.5)
    assert m["loss_sd"] == pytest.approx(math.sqrt(0.02))
    assert m["n_reached"] == 0
    e = summarise.summarise_group(groups[("g", "evidence_accumulation", "eprop", "ei")])
    assert e["loss_mean"] == pytest.approx(0.65) and math.isnan(e["loss_sd"])
    assert e["iterations"] == [10]


def test_curves_mean_and_sd_by_hand(runs):
    groups = summarise.group_runs(summarise.find_runs(runs))
    c = summarise.curves(groups[("g", "evidence_accumulation", "bptt", "ei")], "loss")
    assert list(c.index) == [0, 10, 20]
    assert c.loc[10, "mean"] == pytest.approx(0.5)
    assert c.loc[10, "sd"] == pytest.approx(0.1)
    assert c.loc[0, "sd"] == pytest.approx(0.0)
    a = summarise.curves(groups[("g", "evidence_accumulation", "bptt", "ei")], "accuracy")
    assert a.loc[20, "mean"] == pytest.approx((0.85 + 0.9 + 0.79) / 3)


def test_welch_and_mann_whitney_by_hand(runs):
    groups = summarise.group_runs(summarise.find_runs(runs))
    a = groups[("g", "pattern_generation", "mdgl", "toy-data")]  # 0.2, 0.3
    b = groups[("g", "pattern_generation", "mdgl", "toy-shuffled")]  # 0.5, 0.7
    c = summarise.compare(a, b)
    va, vb = 0.005, 0.02  # sample variances
    t = (0.25 - 0.6) / math.sqrt(va / 2 + vb / 2)
    assert c["t"] == pytest.approx(t)
    assert c["diff"] == pytest.approx(-0.35)
    assert c["u"] == 0.0  # every data loss below every shuffled loss
    assert c["p_mwu"] == pytest.approx(1 / 3)  # exact: 2 of the C(4,2)=6 orderings are as extreme
    assert c["n_a"] == c["n_b"] == 2


def test_results_page(runs, tmp_path):
    out = tmp_path / "docs" / "results.md"
    notes = tmp_path / "notes.md"
    notes.write_text("Hand-written commentary.\n")
    text = summarise.build_page(
        runs, out, tmp_path / "docs" / "figures", ROOT / "workflows" / "config", notes
    )
    assert out.read_text() == text
    assert "Hand-written commentary." in text
    row = next(line for line in text.splitlines() if line.startswith("| g | bptt |"))
    assert "0.200 ± 0.100" in row and "0.081 ± 0.016" in row and "15 ± 7 (2/3)" in row
    assert "not reached (0/2)" in text
    # order of mean final loss: bptt 0.2 < mdgl 0.5 < eprop 0.65
    assert "bptt < mdgl < eprop — the expected BPTT < MDGL < e-prop **holds**" in text
    stat = next(line for line in text.splitlines() if "toy-data | mdgl · toy-shuffled" in line)
    assert "| 2 | 2 | -0.3500 |" in stat
    figs = sorted(p.name for p in (tmp_path / "docs" / "figures").glob("*.png"))
    assert figs == [
        "g_evidence_accumulation_rules.png",
        "g_pattern_generation_toy_gates.png",
    ]
    assert "](figures/g_evidence_accumulation_rules.png)" in text


def test_grid_jobs_and_commands():
    rc = yaml.safe_load((ROOT / "workflows/config/reproduction.yaml").read_text())["reproduction"]
    grid.validate(rc)
    jobs = grid.jobs(rc)
    assert len(jobs) == 3 * 3 * 5 + 12 * 5
    assert len({tuple(j.values()) for j in jobs}) == len(jobs)
    assert rc["tasks"]["evidence_accumulation"]["iterations"] == 2000
    assert rc["tasks"]["evidence_accumulation"]["batch_size"] == 64
    assert grid.parse_structure("ei") == (None, None)
    assert grid.parse_structure("m1_patchseq-shuffled") == ("m1_patchseq", "shuffled")
    assert grid.parse_structure("toy_cortex") == ("toy_cortex", None)
    with pytest.raises(ValueError, match="unknown gate"):
        grid.parse_structure("toy_cortex-sorted")
    job = {
        "task": "evidence_accumulation",
        "rule": "mdgl",
        "structure": "toy_cortex-uniform",
        "seed": 3,
    }
    cmd = grid.train_command(rc, job)
    assert "--gate uniform" in cmd and "--seed 3" in cmd and "--batch-size 64" in cmd
    assert "--structure results/reproduction/full/structures/toy_cortex/structure.npz" in cmd
    assert cmd.endswith(
        "--out results/reproduction/full/train/evidence_accumulation/mdgl/toy_cortex-uniform/seed3"
    )
    assert "--gate" not in grid.train_command(rc, {**job, "rule": "bptt", "structure": "ei"})
    # tissue abundances: the taxonomy table is an input of the structure and goes to --abundances
    files = grid.structure_inputs(rc, "m1_tissue")
    assert files["abundances"].endswith("yao2020_cluster.annotation.csv")

    class Inputs:
        metadata, abundances = "meta.csv", "sizes.csv"

    args = grid.graph_args(rc, "m1_tissue", Inputs())
    assert "--abundances sizes.csv --abundance-via 'RNA type'" in args
    assert "--abundances" not in grid.graph_args(rc, "m1_patchseq", Inputs())
    bad = {
        **rc,
        "grid": [
            {
                "tasks": ["evidence_accumulation"],
                "rules": ["bptt"],
                "structures": ["toy_cortex-data"],
                "seeds": [0],
            }
        ],
    }
    with pytest.raises(ValueError, match="needs rule mdgl"):
        grid.validate(bad)
    quick = yaml.safe_load((ROOT / "workflows/config/reproduction_quick.yaml").read_text())[
        "reproduction"
    ]
    grid.validate(quick)


def test_record_run_copies_metrics_and_writes_summary(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("iteration,split,loss,accuracy\n0,validation,0.7,0.5\n")
    (run / "metrics.json").write_text(json.dumps({"seconds": 3.5}))
    (run / "config.json").write_text(json.dumps({"rule": "bptt"}))
    (run / "checkpoint.pt").write_bytes(b"x" * 10)
    out = tmp_path / "kept"
    record_run.main(
        [
            "--run-dir",
            str(run),
            "--out-dir",
            str(out),
            "--command",
            "neuromod train x",
            "--job",
            '{"seed": 1}',
        ]
    )
    assert (out / "metrics.csv").read_text() == (run / "metrics.csv").read_text()
    assert not (out / "checkpoint.pt").exists()
    s = json.loads((out / "summary.json").read_text())
    assert s["metrics"]["seconds"] == 3.5 and s["settings"]["rule"] == "bptt"
    assert s["command"] == "neuromod train x" and s["job"] == {"seed": 1}
    assert re.fullmatch(r"[0-9a-f]{40}", s["git_commit"] or "")


def _train_jobs(dry_run_output: str) -> dict[str, int]:
    counts = {}
    for name in ("repro_train", "repro_structure", "repro_toy_data", "repro_options"):
        m = re.search(rf"^{name}\s+(\d+)\s*$", dry_run_output, re.M)
        counts[name] = int(m.group(1)) if m else 0
    return counts


def test_dry_run_skips_finished_jobs(tmp_path):
    runs_dir = tmp_path / "runs" / "t"
    cfg = {
        "reproduction": {
            "name": "t",
            "results": str(tmp_path / "results"),
            "runs": str(runs_dir),
            "tasks": {"evidence_accumulation": {"iterations": 2, "batch_size": 2}},
            "structures": {
                "toy_cortex": {
                    "source": "toy",
                    "n_cells": 100,
                    "seed": 0,
                    "groupby": "subclass_label",
                }
            },
            "grid": [
                {
                    "tasks": ["evidence_accumulation"],
                    "rules": ["bptt"],
                    "structures": ["ei"],
                    "seeds": [0, 1],
                },
                {
                    "tasks": ["evidence_accumulation"],
                    "rules": ["mdgl"],
                    "structures": ["toy_cortex-data"],
                    "seeds": [0],
                },
            ],
        }
    }
    cfg_path = tmp_path / "repro.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    rc = cfg["reproduction"]
    targets = grid.targets(rc)

    def dry_run():
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", "workflows/rules/reproduction.smk",
             "--configfile", str(cfg_path), "-n", "--cores", "1", *targets],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout + proc.stderr

    before = _train_jobs(dry_run())
    assert before == {
        "repro_train": 3,
        "repro_structure": 1,
        "repro_toy_data": 1,
        "repro_options": 1,
    }
    # two jobs finish (as recorded by record_run): bptt seed 0 and the only data-structure job
    for job in (
        {"task": "evidence_accumulation", "rule": "bptt", "structure": "ei", "seed": 0},
        {
            "task": "evidence_accumulation",
            "rule": "mdgl",
            "structure": "toy_cortex-data",
            "seed": 0,
        },
    ):
        d = Path(grid.job_dir(rc, job))
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.csv").write_text("iteration,split,loss,accuracy\n0,validation,0.7,0.5\n")
        (d / "summary.json").write_text("{}")
    out = dry_run()
    after = _train_jobs(out)
    # only bptt seed 1 is left; no structure (nor its data) is rebuilt for the finished MDGL job
    assert after == {
        "repro_train": 1,
        "repro_structure": 0,
        "repro_toy_data": 0,
        "repro_options": 1,
    }
    assert "wildcards: task=evidence_accumulation, lrule=bptt, structure=ei, seed=1" in out
    assert "structure=toy_cortex-data" not in out and "lrule=bptt, structure=ei, seed=0" not in out


def test_one_real_job_is_recorded_and_then_left_alone(tmp_path):
    """A real (tiny) training job through Snakemake: metrics kept in the runs folder with its
    command and start commit; a second invocation finds nothing to do."""
    runs_dir = tmp_path / "runs" / "tiny"
    short = {"T": 300, "t_cue": 20, "t_interval": 30, "recall_duration": 40}
    cfg = {
        "reproduction": {
            "name": "tiny",
            "results": str(tmp_path / "results"),
            "runs": str(runs_dir),
            "nice": 0,
            "tasks": {
                "evidence_accumulation": {
                    "iterations": 2,
                    "batch_size": 2,
                    "validate_every": 1,
                    "task_options": short,
                }
            },
            "grid": [
                {
                    "tasks": ["evidence_accumulation"],
                    "rules": ["eprop"],
                    "structures": ["ei"],
                    "seeds": [0],
                }
            ],
        }
    }
    cfg_path = tmp_path / "repro.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    targets = grid.targets(cfg["reproduction"])
    cmd = [sys.executable, "-m", "snakemake", "-s", "workflows/rules/reproduction.smk",
           "--configfile", str(cfg_path), "--cores", "1", *targets]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = runs_dir / "evidence_accumulation" / "eprop" / "ei" / "seed0"
    assert sorted(p.name for p in kept.iterdir()) == ["metrics.csv", "summary.json"]
    metrics = summarise.read_metrics(kept / "metrics.csv")
    assert list(metrics.loc[metrics["split"] == "train", "iteration"]) == [1, 2]
    assert list(metrics.loc[metrics["split"] == "validation", "iteration"]) == [0, 1, 2]
    s = json.loads((kept / "summary.json").read_text())
    assert s["settings"]["task_options"] == short and s["settings"]["batch_size"] == 2
    assert "--rule eprop" in s["command"] and "--seed 0" in s["command"]
    assert re.fullmatch(r"[0-9a-f]{40}", s["git_commit"])
    assert (
        tmp_path
        / "results"
        / "train"
        / "evidence_accumulation"
        / "eprop"
        / "ei"
        / "seed0"
        / "checkpoint.pt"
    ).is_file()
    # provenance triggers would see the (deliberately) emptied input list of a finished job as a
    # change; --rerun-triggers mtime (the documented command) leaves finished jobs alone. A fresh
    # clone has no provenance records at all (test_dry_run_skips_finished_jobs).
    again = subprocess.run(
        [*cmd, "-n", "--rerun-triggers", "mtime"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_pending_jobs_and_cpu_estimate(runs, tmp_path):
    rc = {
        "name": "g",
        "results": "results/x",
        "tasks": {"evidence_accumulation": {"iterations": 100, "batch_size": 32}},
        "grid": [
            {
                "tasks": ["evidence_accumulation"],
                "rules": ["bptt", "mdgl"],
                "structures": ["ei"],
                "seeds": [0, 1, 2, 3],
            }
        ],
    }
    todo = summarise.pending(rc, runs)
    assert [(j["rule"], j["seed"]) for j in todo] == [("bptt", 3), ("mdgl", 2), ("mdgl", 3)]
    found = summarise.find_runs(runs)
    # from runs: bptt seconds/iteration 2, 1, 1 at batch 16 → median 1 → ×32/16 → ×100 iterations
    assert summarise.estimate_seconds(todo[0], rc, found) == pytest.approx(200.0)
    assert summarise.estimate_seconds(todo[1], rc, found) is None  # mdgl runs have no timing
    timings = [
        {
            "task": "evidence_accumulation",
            "rule": "mdgl",
            "batch_size": 32,
            "seconds_per_iteration": 0.5,
        }
    ]
    assert summarise.estimate_seconds(todo[1], rc, found, timings) == pytest.approx(50.0)


def test_cpu_estimate_prefers_finished_runs_at_the_same_batch(runs):
    found = summarise.find_runs(runs)
    timings = [
        {
            "task": "evidence_accumulation",
            "rule": "bptt",
            "batch_size": b,
            "seconds_per_iteration": 0.1,
        }
        for b in (16, 32)
    ]
    job = {"task": "evidence_accumulation", "rule": "bptt", "structure": "ei", "seed": 9}
    for batch, expected in ((16, 100.0), (32, 10.0)):
        rc = {"tasks": {"evidence_accumulation": {"iterations": 100, "batch_size": batch}}}
        # batch 16: the bptt runs themselves (median 1 s/iteration); batch 32: the measured timing
        # beats runs at another batch size scaled linearly
        assert summarise.estimate_seconds(job, rc, found, timings) == pytest.approx(expected)
