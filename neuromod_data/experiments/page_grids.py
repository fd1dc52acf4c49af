"""What each grid of the results page still lacks: the grid configs, the pending jobs and their
estimated CPU time (:mod:`neuromod_data.experiments.pages`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuromod_data.errors import FormatError, InputFileError
from neuromod_data.experiments import grid as repro_grid
from neuromod_data.experiments.runs import Run


def grid_configs(config_dir: str | os.PathLike) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The grids of ``config_dir``: every ``*.yaml`` with a ``reproduction`` section, by grid
    name, each checked as the workflow checks it (:func:`neuromod_data.experiments.grid.validate`).

    YAML files without a ``reproduction`` section (the main workflow's configs) are not grids and
    are passed over.

    Raises
    ------
    InputFileError
        ``config_dir`` is not a folder.
    FormatError
        A ``*.yaml`` that cannot be read or parsed, a grid the workflow would refuse (e.g. a
        contrast naming a dataset that is not under ``structures``), or two files that define a
        grid of the same ``name`` (the message names the file and the key).
    """
    import yaml

    folder = Path(config_dir)
    if not folder.is_dir():
        raise InputFileError(f"folder of grid configs not found: {folder}")
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for p in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise FormatError(f"{p}: cannot read the grid config ({exc})") from None
        except yaml.YAMLError as exc:
            raise FormatError(f"{p}: not valid YAML ({' '.join(str(exc).split())})") from None
        if not isinstance(data, dict) or "reproduction" not in data:
            continue
        rc = data["reproduction"]
        if not isinstance(rc, dict):
            raise FormatError(f"{p}: `reproduction` must be a mapping of settings")
        try:
            repro_grid.validate(rc)
        except (ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"{p}: {' '.join(str(exc).split())}") from None
        name = str(rc["name"])
        if name in out:
            raise FormatError(
                f"{p}: reproduction.name {name!r} is also the name of the grid in "
                f"{out[name][0]}; each grid needs its own name"
            )
        out[name] = (p, rc)
    return out


def pending(rc: dict[str, Any], runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Jobs of a grid that no run in ``runs`` (layout :data:`REPRODUCTION`) has done."""
    done = {(r["task"], r["rule"], r["structure"], r.seed) for r in runs if r["grid"] == rc["name"]}
    return [
        j
        for j in repro_grid.jobs(rc)
        if (j["task"], j["rule"], j["structure"], j["seed"]) not in done
    ]


def load_timings(path: str | os.PathLike | None) -> list[dict[str, Any]]:
    """Rows of ``experiments/timings.json`` (seconds per iteration measured by
    ``benchmarks/measure_iteration.py``); empty when there is no such file."""
    if path is None or not Path(path).is_file():
        return []
    try:
        data = json.loads(Path(path).read_text())
        return list(data.get("timings", []))
    except (ValueError, AttributeError, TypeError) as exc:  # not JSON, or not {"timings": [...]}
        raise FormatError(f"{path}: not a timings file ({exc})") from None


def estimate_seconds(
    job: dict[str, Any],
    rc: dict[str, Any],
    runs: Sequence[Run],
    timings: Sequence[dict[str, Any]] = (),
) -> float | None:
    """CPU seconds (one core) of a pending job, from the best evidence there is: the median over
    finished runs of the same task and rule at the job's batch size (validation included); else
    the seconds per iteration measured at that batch size (``timings``); else finished runs of that
    task and rule at another batch size, scaled linearly; None when nothing exists.

    Only runs of the job's network size count (``network.n_rec``, else the task's), and the
    measured timings (of the task's network) only for a job of the task's size: the cost grows
    faster than linearly with N, so nothing is scaled across sizes."""
    s = rc["tasks"][job["task"]]
    batch = int(s["batch_size"])
    n_rec = (s.get("network") or {}).get("n_rec")
    n_rec = None if n_rec is None else int(n_rec)
    same, scaled = [], []
    for r in runs:
        if r["task"] != job["task"] or r["rule"] != job["rule"] or r.seconds is None:
            continue
        if r.n_rec != n_rec:
            continue
        if not r.iterations_done:
            continue
        b = r.batch_size or batch
        rate = r.seconds / r.iterations_done
        (same if b == batch else scaled).append(rate * batch / b)
    if same:
        return float(np.median(same)) * s["iterations"]
    exact = [
        t["seconds_per_iteration"]
        for t in timings
        if (t["task"], t["rule"], int(t["batch_size"])) == (job["task"], job["rule"], batch)
        and n_rec is None
    ]
    if exact:
        return float(np.median(exact)) * s["iterations"]
    return float(np.median(scaled)) * s["iterations"] if scaled else None
