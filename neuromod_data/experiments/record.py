"""Keep a finished training run: its ``metrics.csv`` and a small ``summary.json`` (settings, final
metrics, command, run time, machine, the git commit it started from).

The reproduction workflow calls it through the CLI, around each training job::

    neuromod results record --started RUN_DIR          # before training: commit, uncommitted files
    neuromod train ... --out RUN_DIR
    neuromod results record --run-dir RUN_DIR --out-dir RECORD_DIR --command "neuromod train ..."

Checkpoints stay in ``RUN_DIR`` (never tracked), so an interrupted job resumes from them.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from neuromod_data._files import atomic_path
from neuromod_data.errors import FormatError, InputFileError

__all__ = ["STARTED", "git_commit", "machine", "record", "started"]

#: file in the training folder that holds the state of the code when the job (last) started
STARTED = "started.json"
#: folders whose uncommitted changes make a run's code differ from its commit
CODE_FOLDERS = ("neuromod_models", "neuromod_data")


def machine() -> dict[str, Any]:
    """Host name, cores, CPU model and memory of this machine (Linux ``/proc`` where available)."""
    info: dict[str, Any] = {"hostname": platform.node(), "cores": os.cpu_count()}
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


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the working directory (None outside a repository)."""
    out = _git("rev-parse", "HEAD")
    return out.strip() if out else None


def _uncommitted() -> int | None:
    out = _git("status", "--porcelain", "--", *CODE_FOLDERS)
    return None if out is None else len([line for line in out.splitlines() if line.strip()])


def started(run_dir: str | os.PathLike) -> Path:
    """Write ``run_dir/started.json``: the commit and the number of uncommitted files under
    ``neuromod_models/`` and ``neuromod_data/`` now (call it right before training starts)."""
    path = Path(run_dir) / STARTED
    state = {
        "git_commit": git_commit(),
        "uncommitted_files": _uncommitted(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(state, indent=2) + "\n")
    return path


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected a JSON object")
    return data


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def record(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    command: str = "",
    job: dict[str, Any] | None = None,
) -> Path:
    """Copy ``run_dir/metrics.csv`` to ``out_dir`` and write ``out_dir/summary.json``.

    ``summary.json`` holds ``metrics`` (``metrics.json`` of the run), ``settings``
    (``config.json``), ``job``, ``command``, ``git_commit`` and
    ``uncommitted_files_in_models_at_start`` (from ``started.json`` when :func:`started` ran,
    else the state now), ``recorded_at``, ``machine``, ``torch`` and ``python``.

    ``metrics.json`` is written only when training has finished, so a run that was interrupted is
    refused (:class:`~neuromod_data.errors.InputFileError`). ``metrics.csv`` is written last: its
    presence marks the record as complete.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (run / "metrics.csv").write_text("iteration,split,loss,accuracy\\n0,validation,0.7,0.5\\n")
    >>> _ = (run / "metrics.json").write_text('{"seconds": 2.5}')
    >>> kept = record(run, run / "kept", command="neuromod train ...")
    >>> sorted(p.name for p in kept.iterdir())
    ['metrics.csv', 'summary.json']
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    metrics = run_dir / "metrics.csv"
    if not metrics.is_file():
        raise InputFileError(f"{metrics}: no metrics.csv (did the training run start?)")
    if not (run_dir / "metrics.json").is_file():
        raise InputFileError(
            f"{run_dir}: no metrics.json, so training has not finished; run it to the end first"
        )
    start = _json(run_dir / STARTED) if (run_dir / STARTED).is_file() else {}
    summary: dict[str, Any] = {"metrics": _json(run_dir / "metrics.json")}
    if (run_dir / "config.json").is_file():
        summary["settings"] = _json(run_dir / "config.json")
    summary.update(
        {
            "job": job or {},
            "command": command,
            # the commit the job started from (the code it imported); HEAD now, when not known
            "git_commit": start.get("git_commit") or git_commit(),
            "git_commit_recorded": git_commit(),
            "uncommitted_files_in_models_at_start": start.get(
                "uncommitted_files", _uncommitted() if not start else None
            ),
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "torch": _version("torch"),
            "python": platform.python_version(),
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "summary.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    with atomic_path(out_dir / "metrics.csv", suffix=".csv") as tmp:
        shutil.copyfile(metrics, tmp)
    return out_dir


def publish(record_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Copy a record (``summary.json``, then ``metrics.csv``) into the published folder."""
    src, dst = Path(record_dir), Path(out_dir)
    for name in ("summary.json", "metrics.csv"):
        if not (src / name).is_file():
            raise InputFileError(f"{src / name}: not found (record the run first)")
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("summary.json", "metrics.csv"):
        with atomic_path(dst / name, suffix=Path(name).suffix) as tmp:
            shutil.copyfile(src / name, tmp)
    return dst
