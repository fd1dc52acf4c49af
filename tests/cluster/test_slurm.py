"""The reproduction workflow through SLURM (workflows/profiles/slurm): the smoke grid gives the same
metrics, byte for byte, as the same grid run locally; sacct lists every job; a training job that is
cancelled, and one that runs out of time, are resubmitted and resume from their checkpoints.

Marked `slurm` and skipped unless `sinfo` answers: start a one-node cluster on this machine with
`sudo workflows/cluster/slurm-local.sh start` (stop it with `... stop`), then

    pytest -m slurm tests/cluster
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from neuromod_data.experiments import grid

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = "workflows/rules/reproduction.smk"
SMOKE = ROOT / "workflows" / "config" / "reproduction_smoke.yaml"
PROFILE = "workflows/profiles/slurm"
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+)")


def _sinfo_answers() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _plugin_installed() -> bool:
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        not _sinfo_answers(),
        reason="no SLURM cluster answers `sinfo` (start one: workflows/cluster/slurm-local.sh start)",
    ),
    pytest.mark.skipif(
        not _plugin_installed(),
        reason="snakemake-executor-plugin-slurm is not installed (pip install -e '.[cluster]')",
    ),
]


def smoke_config(tmp_path: Path, name: str, **tasks) -> tuple[Path, dict]:
    cfg = yaml.safe_load(SMOKE.read_text())
    rc = cfg["reproduction"]
    rc["results"] = str(tmp_path / name)
    rc["runs"] = str(tmp_path / name / "published")
    for task, settings in tasks.items():
        rc["tasks"][task].update(settings)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, rc


def snakemake_cmd(cfg_path: Path, *args: str, slurm: bool) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", SNAKEFILE, "--nolock",
           "--configfile", str(cfg_path), "--rerun-triggers", "mtime"]  # fmt: skip
    if slurm:
        cmd += ["--profile", PROFILE, "--slurm-logdir", str(cfg_path.parent / "slurm_logs"),
                "--slurm-init-seconds-before-status-checks", "2",
                "--seconds-between-status-checks", "2"]  # fmt: skip
    else:
        cmd += ["--cores", "1"]
    return cmd + list(args)


def run(cmd: list[str], timeout: int = 900) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def sacct_states(jobids: list[str]) -> dict[str, str]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(jobids), "-o", "JobID,State"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(line.split("|", 1) for line in out.splitlines() if line)


def test_smoke_grid_through_slurm_matches_local_run(tmp_path):
    local_cfg, local_rc = smoke_config(tmp_path, "local")
    slurm_cfg, slurm_rc = smoke_config(tmp_path, "slurm")
    run(snakemake_cmd(local_cfg, "reproduce", slurm=False))
    out = run(snakemake_cmd(slurm_cfg, "reproduce", slurm=True))

    jobs = grid.jobs(slurm_rc)
    assert len(jobs) == 4
    for job in jobs:
        a = Path(grid.record_dir(local_rc, job)) / "metrics.csv"
        b = Path(grid.record_dir(slurm_rc, job)) / "metrics.csv"
        assert a.read_bytes() == b.read_bytes(), job
    # every job went through sbatch (4 runs, 2 task option files, the results page) and sacct
    # knows each as completed: what the executor plugin reads to see a job finish
    jobids = SUBMITTED.findall(out)
    assert len(jobids) == 7, out[-4000:]
    assert sacct_states(jobids) == {j: "COMPLETED" for j in jobids}


def _iterations_lasting(seconds: float, out: Path) -> int:
    """Iterations of the test's pattern-generation run (e-prop, B = 1, validation every 50) that
    take about ``seconds`` here: 1,000 of them timed twice by ``neuromod train`` itself (the
    training loop, ``metrics.json``), the faster time taken (the first compiles the kernels on a
    fresh clone; other work may slow either), at least 10,000."""
    rates = []
    for attempt in range(2):
        subprocess.run(
            [sys.executable, "-m", "neuromod_data.cli", "train", "--task", "pattern_generation",
             "--rule", "eprop", "--iterations", "1000", "--batch-size", "1",
             "--validate-every", "50", "--seed", "0", "--no-progress",
             "--out", str(out / str(attempt))],
            cwd=ROOT, capture_output=True, check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1", "NEUROMOD_THREADS": "1"},
        )  # fmt: skip
        metrics = json.loads((out / str(attempt) / "metrics.json").read_text())
        rates.append(metrics["seconds_per_iteration"])
    return max(10000, int(round(seconds / min(rates), -3)))


def _squeue() -> list[tuple[str, str, str]]:
    out = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k"], capture_output=True, text=True).stdout
    return [tuple(line.split("|", 2)) for line in out.splitlines() if line]


def _stop(proc: subprocess.Popen) -> None:
    """Interrupt Snakemake as Ctrl-C does (it cancels its jobs), killing it if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_cancelled_and_timed_out_training_jobs_resume_from_their_checkpoints(tmp_path):
    """Two training runs with one minute of time limit on their first attempt (the retry that the
    profile's `retries: 1` makes has thirty). Seed 1 hits the limit (TIMEOUT): Snakemake resubmits it
    and it resumes from its checkpoint. Seed 0 is cancelled (scancel) once it has a checkpoint:
    sacct reports "CANCELLED by <uid>", which snakemake-executor-plugin-slurm 2.8.0 does not take
    for a failure (it compares the state with "CANCELLED"), so Snakemake would wait for it forever;
    the documented recovery, interrupting Snakemake and running the command again
    (workflows/README.md, "Recovering an interrupted run"; here with the profile's time limit),
    resumes it from its checkpoint. Every
    iteration of both is trained exactly once."""
    # long enough to outlast the one-minute limit on this machine, short enough for the retry's
    # thirty minutes: pattern generation at B = 1 takes 0.004-0.02 s per iteration depending on
    # the machine and its load (two jobs on two cores here ran 3x slower than one alone, and a
    # loaded calibration 2.3x slower than an idle one), so measure it here and aim at 2.5 minutes
    iterations = _iterations_lasting(150.0, tmp_path / "calibration")
    cfg_path, rc = smoke_config(
        tmp_path, "interrupted",
        pattern_generation={"iterations": iterations, "validate_every": 50},
    )  # fmt: skip
    rc["grid"] = [{"tasks": ["pattern_generation"], "rules": ["eprop"], "structures": ["ei"],
                   "seeds": [0, 1]}]  # fmt: skip
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["reproduction"]["grid"] = rc["grid"]
    cfg_path.write_text(yaml.safe_dump(cfg))
    seed0, seed1 = grid.jobs(rc)
    cmd = snakemake_cmd(
        cfg_path, "--set-resources", "repro_train:runtime=max(1, 30 * (attempt - 1))",
        "--", *grid.targets(rc), slurm=True,
    )  # fmt: skip
    first = tmp_path / "first.log"
    with first.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, text=True)
        try:
            checkpoint0 = Path(grid.job_dir(rc, seed0)) / "checkpoint.pt"
            deadline = time.monotonic() + 300
            cancelled = None
            while cancelled is None and time.monotonic() < deadline and proc.poll() is None:
                if checkpoint0.is_file():
                    for jobid, state, comment in _squeue():
                        # the plugin's comment: rule_<rule>_wildcards_<values joined by _>
                        if (
                            comment.startswith("rule_repro_train_")
                            and comment.endswith("_0")
                            and state == "RUNNING"
                        ):
                            subprocess.run(["scancel", jobid], check=True)
                            cancelled = jobid
                time.sleep(1)
            assert cancelled, f"seed 0 never ran with a checkpoint:\n{first.read_text()[-4000:]}"
            # seed 1: timed out, resubmitted, resumed and finished (as Snakemake sees it: its
            # record on disk comes earlier, while the job still runs) while seed 0 stays cancelled
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline and proc.poll() is None:
                if "(Rule: repro_train)" in first.read_text():
                    break
                time.sleep(2)
            assert "(Rule: repro_train)" in first.read_text(), first.read_text()[-6000:]
        finally:
            _stop(proc)
    # the same command again, without the one-minute limit: seed 0 resumes
    second = run(snakemake_cmd(cfg_path, "--", *grid.targets(rc), slurm=True), timeout=1800)
    out = first.read_text() + second
    states = sacct_states(SUBMITTED.findall(out))
    assert states[cancelled].startswith("CANCELLED"), states
    # the options job once, both runs twice: cancelled / timed out, then completed
    assert sorted(s.split()[0] for s in states.values()) == [
        "CANCELLED", "COMPLETED", "COMPLETED", "COMPLETED", "TIMEOUT",
    ], states  # fmt: skip
    for job in (seed0, seed1):
        train_log = Path(rc["results"]) / "logs" / "train" / (
            f"{job['task']}/{job['rule']}/{job['structure']}/seed{job['seed']}.log"
        )  # fmt: skip
        assert re.search(r"resumed at \d+", train_log.read_text()), train_log.read_text()
        rows = (Path(grid.record_dir(rc, job)) / "metrics.csv").read_text().splitlines()[1:]
        trained = [int(r.split(",")[0]) for r in rows if r.split(",")[1] == "train"]
        assert trained == list(range(1, iterations + 1))
