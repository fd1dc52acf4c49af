"""The reproduction workflow refuses a bad grid config in one line (not Snakemake's dump)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "workflows" / "config" / "reproduction_quick.yaml"


def _dry_run(config: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", "workflows/rules/reproduction.smk",
           "--configfile", str(config), "-n", "--cores", "1", "reproduce"]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("  nice: 19\n  nice: 5", "line 17: key 'nice' is given twice (first on line 16)"),
        ("  nicety: 19", "unknown key 'reproduction.nicety'; did you mean 'nice'?"),
    ],
)
def test_bad_grid_config_is_one_line(tmp_path, edit, message):
    text = QUICK.read_text()
    assert "\n  nice: 19\n" in text  # the line the cases edit
    bad = tmp_path / "grid.yaml"
    bad.write_text(text.replace("\n  nice: 19\n", f"\n{edit}\n", 1))
    res = _dry_run(bad)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert res.returncode != 0
    assert lines == [lines[0]] and lines[0].startswith("neuromod workflow: error: "), lines[:5]
    assert message in lines[0]


def test_smoke_switch_plans_a_small_grid_and_refuses_to_publish():
    res = _dry_run_with(QUICK, "smoke=true")
    assert res.returncode == 0, res.stderr[-2000:]
    planned = res.stdout + res.stderr
    assert "results/reproduction/quick/smoke/" in planned and "--iterations 10 " in planned
    res = _dry_run_with(QUICK, "smoke=true", "publish=true")
    assert res.returncode != 0 and "drop smoke=true or retrain=true" in res.stderr


def _dry_run_with(config: Path, *settings: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", "workflows/rules/reproduction.smk",
           "--configfile", str(config), "-n", "-p", "--cores", "1", "--config", *settings,
           "--", "reproduce"]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


STAGE2 = ROOT / "workflows" / "config" / "gate_stage2.yaml"


def _align_dry_run(config: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", "workflows/rules/align.smk",
           "--configfile", str(config), "-n", "-p", "--cores", "1", "align"]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_alignment_of_several_tasks_takes_each_task_network(tmp_path):
    # each task's alignment is a job of its own, scoring the networks of that task's settings
    # (stage 2: N = 500, a floor per type, the readout from the projection types only)
    res = _align_dry_run(STAGE2)
    assert res.returncode == 0, res.stderr[-2000:]
    planned = res.stdout + res.stderr
    for task in ("evidence_accumulation", "delayed_match"):
        assert f"align/m1_types/{task}/summary.csv" in planned
        assert f"--task {task} " in planned
    assert "--network n_rec=500" in planned and "--network min_per_type=30" in planned
    assert "readout_types=" in planned and "L5 ET*" in planned
    assert planned.count("--permutations 999") == 2
    bad = tmp_path / "stage2.yaml"
    bad.write_text(STAGE2.read_text().replace("\n  batches: 4\n", "\n  bathces: 4\n", 1))
    res = _align_dry_run(bad)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert res.returncode != 0 and len(lines) == 1, lines[:5]
    assert "unknown key 'align.bathces'; did you mean 'batches'?" in lines[0]
