"""Keep one finished training run in the repository: copy its ``metrics.csv`` and write a small
``summary.json`` (settings, final metrics, run time, machine, git commit) into the tracked run folder.

Called by ``workflows/rules/reproduction.smk`` right after ``neuromod train`` finishes::

    python experiments/record_run.py --run-dir results/reproduction/quick/train/... \\
        --out-dir experiments/runs/quick/evidence_accumulation/bptt/ei/seed0 --command "neuromod train ..."

Checkpoints stay in ``--run-dir`` (ignored by git), so an interrupted job resumes from them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from neuromod_data._files import atomic_path
from neuromod_data.errors import InputFileError


def machine() -> dict[str, object]:
    """Cores, CPU model and memory of this machine (Linux /proc where available)."""
    info: dict[str, object] = {"hostname": platform.node(), "cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    return info


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def record(
    run_dir: Path,
    out_dir: Path,
    *,
    command: str = "",
    job: dict | None = None,
    commit: str | None = None,
    dirty: int | None = None,
) -> Path:
    """Copy ``run_dir/metrics.csv`` to ``out_dir`` and write ``out_dir/summary.json``."""
    metrics = run_dir / "metrics.csv"
    if not metrics.is_file():
        raise InputFileError(f"{metrics}: no metrics.csv (did the training run finish?)")
    summary: dict[str, object] = {}
    if (run_dir / "metrics.json").is_file():
        summary["metrics"] = json.loads((run_dir / "metrics.json").read_text())
    if (run_dir / "config.json").is_file():
        summary["settings"] = json.loads((run_dir / "config.json").read_text())
    summary.update(
        {
            "job": job or {},
            "command": command,
            # the commit the job started from (the code it imported); HEAD now, when not given
            "git_commit": commit or git_commit(),
            "git_commit_recorded": git_commit(),
            "uncommitted_files_in_models_at_start": dirty,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "torch": _version("torch"),
            "python": platform.python_version(),
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "summary.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    # metrics.csv last: its presence is what marks the job as done
    with atomic_path(out_dir / "metrics.csv", suffix=".csv") as tmp:
        shutil.copyfile(metrics, tmp)
    return out_dir


def _version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--run-dir", required=True, help="the `neuromod train --out` folder")
    p.add_argument("--out-dir", required=True, help="tracked folder for metrics.csv + summary.json")
    p.add_argument("--command", default="", help="the training command, recorded verbatim")
    p.add_argument("--job", default="{}", help="JSON of the job's wildcards (task, rule, ...)")
    p.add_argument("--commit", help="git commit when the job started (default: HEAD now)")
    p.add_argument(
        "--dirty", type=int, help="uncommitted files under models/ and neuromod_data/ then"
    )
    args = p.parse_args(argv)
    out = record(
        Path(args.run_dir),
        Path(args.out_dir),
        command=args.command,
        job=json.loads(args.job),
        commit=args.commit,
        dirty=args.dirty,
    )
    print(f"recorded {args.run_dir} → {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
