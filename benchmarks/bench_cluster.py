"""What SLURM adds to a job of the reproduction workflow: the smoke grid
(workflows/config/reproduction_smoke.yaml: 4 training runs, 2 option files, the results page) run
locally and through the SLURM profile (workflows/profiles/slurm), on the cluster that answers
`sinfo` (e.g. a one-node one from `workflows/cluster/slurm-local.sh start`).

Per SLURM job, from sacct and the workflow's own logs: the queue wait (Start - Submit), the job's
elapsed time, and for training jobs its payload (the Snakemake benchmark of the rule's shell
command, the same file a local run writes): elapsed - payload is what running inside a SLURM job
costs (sbatch script, srun, the Snakemake instance that runs the job on the node). Per workflow: the
wall time locally and through SLURM, once with fast status checks (2 s) and once with the plugin's
defaults (40 s before the first sacct query, then every 10 s).

    python benchmarks/bench_cluster.py            # about 5 minutes on 2 cores

Writes ``benchmarks/results/cluster.md``; the metrics of every run are compared byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import yaml
from _machine import cpu_model  # benchmarks/, the script's own folder

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "workflows" / "config" / "reproduction_smoke.yaml"
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
RULE = re.compile(r"^(?:local)?rule (\w+):", re.M)
WILDCARDS = re.compile(r"^\s+wildcards: (.*)$", re.M)


def config(tmp: Path, name: str) -> tuple[Path, dict]:
    cfg = yaml.safe_load(SMOKE.read_text())
    rc = cfg["reproduction"]
    rc["results"] = str(tmp / name)
    rc["runs"] = str(tmp / name / "published")
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, rc


def snakemake(cfg: Path, *args: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", "workflows/rules/reproduction.smk", "--nolock",
           "--configfile", str(cfg), "--rerun-triggers", "mtime", *args, "--", "reproduce"]  # fmt: skip
    t = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(out[-5000:])
    return wall, out


def submitted_jobs(out: str) -> list[tuple[str, str, str]]:
    """(SLURM job id, rule, wildcards) of every submission. Snakemake prints the blocks of a batch
    of jobs (rule, jobid, wildcards) before their submissions: joined by Snakemake's job id."""
    blocks, rule, jobid, jobs = {}, "?", None, []
    for line in out.splitlines():
        if m := RULE.match(line):
            rule, jobid = m.group(1), None
        elif m := JOBID.match(line):
            jobid = m.group(1)
            blocks[jobid] = (rule, "")
        elif (m := WILDCARDS.match(line)) and jobid is not None:
            blocks[jobid] = (rule, m.group(1))
        elif m := SUBMITTED.search(line):
            jobs.append((m.group(2), *blocks.get(m.group(1), ("?", ""))))
    return jobs


def sacct(jobids: list[str]) -> dict[str, dict[str, str]]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(jobids),
         "-o", "JobID,State,Submit,Start,End,ElapsedRaw"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = {}
    for line in out.splitlines():
        jobid, state, submit, start, end, elapsed = line.split("|")
        rows[jobid] = {"state": state, "submit": submit, "start": start, "end": end,
                       "elapsed": float(elapsed)}  # fmt: skip
    return rows


def seconds(a: str, b: str) -> float:
    return (dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds()


def payload(rc: dict, wildcards: str) -> float | None:
    """The Snakemake benchmark (s) of a training job, from its wildcards."""
    w = dict(kv.split("=", 1) for kv in wildcards.split(", ") if "=" in kv)
    if not w:
        return None
    f = (Path(rc["results"]) / "benchmarks" / "train" / w["task"] / w["lrule"] / w["structure"]
         / f"seed{w['seed']}.tsv")  # fmt: skip
    if not f.is_file():
        return None
    with f.open() as fh:
        return float(next(csv.DictReader(fh, delimiter="\t"))["s"])


def machine() -> str:
    cpu = cpu_model()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    slurm = subprocess.run(["sinfo", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores, {cpu}, {mem:.1f} GiB RAM, {platform.system()} "
            f"{platform.release()}; {slurm}; Snakemake {version('snakemake')}, "
            f"snakemake-executor-plugin-slurm {version('snakemake-executor-plugin-slurm')}; "
            f"Python {platform.python_version()}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cluster.md"))
    args = ap.parse_args()
    if subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        sys.exit("no SLURM cluster answers sinfo: workflows/cluster/slurm-local.sh start")
    started = dt.datetime.now(dt.timezone.utc)
    load0 = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench_cluster."))
    profile = ["--profile", "workflows/profiles/slurm", "--slurm-logdir", str(tmp / "slurm_logs")]
    fast = [
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "2",
    ]

    runs = {}
    cfg, rc = config(tmp, "local")
    runs["local (--cores 1)"] = (rc, *snakemake(cfg, "--cores", "1"))
    cfg, rc = config(tmp, "slurm_fast")
    runs["SLURM, status checks every 2 s"] = (rc, *snakemake(cfg, *profile, *fast))
    cfg, rc = config(tmp, "slurm_default")
    runs["SLURM, the plugin's defaults"] = (rc, *snakemake(cfg, *profile))

    local_rc = runs["local (--cores 1)"][0]
    from neuromod_data.experiments import grid

    identical = all(
        (Path(grid.record_dir(local_rc, job)) / "metrics.csv").read_bytes()
        == (Path(grid.record_dir(rc, job)) / "metrics.csv").read_bytes()
        for rc, _, _ in runs.values()
        for job in grid.jobs(local_rc)
    )

    lines = [
        "# Running the reproduction workflow through SLURM: the scheduler's overhead per job",
        "",
        f"Generated by `python benchmarks/bench_cluster.py` on {started:%Y-%m-%d %H:%M} UTC "
        f"({(dt.datetime.now(dt.timezone.utc) - started).total_seconds() / 60:.1f} min).",
        "",
        f"- Machine: {machine()}.",
        f"- Cluster: the one-node SLURM of `workflows/cluster/slurm-local.sh` on the same machine "
        f"(slurmctld, slurmd, slurmdbd + MariaDB). 1-min load average {load0:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (the machine is shared: times include other work).",
        "- Grid: `workflows/config/reproduction_smoke.yaml` (2 tasks x e-prop x 2 seeds, 4 "
        "iterations; 2 option files; the results page): 7 jobs, 4 of them training.",
        f"- Metrics of every run byte-identical to the local run's: **{'yes' if identical else 'NO'}**.",
        "",
        "## Whole workflow",
        "",
        "| run | wall s | SLURM jobs | wall s / job |",
        "|---|---:|---:|---:|",
    ]
    for name, (_rc, wall, out) in runs.items():
        n = len(SUBMITTED.findall(out)) or 7
        lines.append(f"| {name} | {wall:.0f} | {len(SUBMITTED.findall(out))} | {wall / n:.1f} |")
    for name, (rc, _wall, out) in runs.items():
        jobs = submitted_jobs(out)
        if not jobs:
            continue
        acct = sacct([j for j, _, _ in jobs])
        lines += ["", f"## Per job: {name}", "",
                  "| SLURM job | rule | wildcards | state | queue wait s | elapsed s | payload s "
                  "| in-job overhead s |",
                  "|---|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
        overheads = []
        for jobid, rule, wildcards in jobs:
            a = acct.get(jobid, {})
            wait = seconds(a["submit"], a["start"]) if a else float("nan")
            p = payload(rc, wildcards) if rule == "repro_train" else None
            over = a["elapsed"] - p if (a and p is not None) else None
            if over is not None:
                overheads.append(over)
            lines.append(
                f"| {jobid} | {rule} | {wildcards or '—'} | {a.get('state', '?')} | {wait:.0f} "
                f"| {a.get('elapsed', float('nan')):.0f} | {'—' if p is None else f'{p:.1f}'} "
                f"| {'—' if over is None else f'{over:.1f}'} |"
            )
        if overheads:
            lines += ["", f"In-job overhead of the training jobs: mean "
                      f"{sum(overheads) / len(overheads):.1f} s (SLURM's elapsed time is whole "
                      "seconds)."]  # fmt: skip
    lines += [
        "",
        "*Queue wait*: sacct Start - Submit (it includes waiting for a free CPU: 4 one-CPU training "
        "jobs on a 2-CPU node). *Elapsed*: sacct. *Payload*: the Snakemake benchmark "
        "of the training rule's shell command (training, mark-start, record). *In-job overhead*: "
        "elapsed - payload (sbatch script, srun, the Snakemake instance that runs the job on the "
        "node and parses the workflow). The rest of the difference in wall time is how long "
        "Snakemake takes to see a job finish: `--seconds-between-status-checks` (10 s by default) "
        "per round of sacct queries, and 40 s before the first "
        "(`--slurm-init-seconds-before-status-checks`). On a real cluster the queue wait depends "
        "on its load; the rest is per job, so jobs of seconds are better run locally or grouped "
        "(Snakemake's `--groups`).",
        "",
    ]
    out = Path(args.out)
    kept = hand_measured(out.read_text()) if out.exists() else ""
    out.write_text("\n".join(lines) + kept)
    print("\n".join(lines))


def hand_measured(text: str) -> str:
    """The sections of an existing table whose heading says they were measured by hand: this
    script cannot regenerate them, so rewriting the table keeps them (from the first such
    heading to the end)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("## ") and "(measured by hand" in line:
            return "\n" + "".join(lines[i:])
    return ""


if __name__ == "__main__":
    main()
