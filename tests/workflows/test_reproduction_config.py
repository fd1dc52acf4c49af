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
