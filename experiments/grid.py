"""The reproduction grid: settings, job list and training commands of
``workflows/rules/reproduction.smk`` (kept in plain Python so it is importable and tested).

A job is one (task, rule, structure, seed). Structure names: ``ei`` — the paper's 80/20 E/I network
(no structure file; MDGL modulates E/I all-to-all); ``<dataset>`` — types from that dataset's
``structure.npz`` (no MDGL gate given: the data gate); ``<dataset>-<gate>`` — the same neurons with
MDGL gate ``data``, ``shuffled``, ``uniform`` or ``ei`` (E/I-only control).
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
from pathlib import Path
from typing import Any

import yaml

from neuromod_data.names import CONTROLS

DEFAULT_CONFIG = "workflows/config/reproduction.yaml"
ENV_VAR = "NEUROMOD_REPRODUCTION_CONFIG"
TASKS = ("evidence_accumulation", "pattern_generation", "delayed_match")
RULES = ("bptt", "eprop", "mdgl")
GATES = ("data", "binary", *CONTROLS)
TASK_KEYS = {"iterations", "batch_size", "lr", "validate_every", "validation_batches",
             "validation_batch_size", "checkpoint_every", "l1", "rate_reg", "rate_target_hz",
             "task_options", "network"}  # fmt: skip


def load(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``reproduction`` settings: from a Snakemake ``config`` that has them (``--configfile``),
    else from ``$NEUROMOD_REPRODUCTION_CONFIG``, else from ``workflows/config/reproduction.yaml``."""
    if config and "reproduction" in config:
        rc = config["reproduction"]
    else:
        path = Path(os.environ.get(ENV_VAR) or DEFAULT_CONFIG)
        rc = yaml.safe_load(path.read_text())["reproduction"]
    validate(rc)
    return rc


def validate(rc: dict[str, Any]) -> None:
    """Fail with one clear message on an inconsistent grid."""
    for key in ("name", "results", "tasks", "grid"):
        if key not in rc:
            raise ValueError(f"reproduction config: missing key {key!r}")
    for task, settings in rc["tasks"].items():
        if task not in TASKS:
            raise ValueError(f"reproduction config: unknown task {task!r}; known: {TASKS}")
        extra = set(settings) - TASK_KEYS
        if extra:
            raise ValueError(f"reproduction config: task {task}: unknown settings {sorted(extra)}")
    for job in jobs(rc):
        if job["task"] not in rc["tasks"]:
            raise ValueError(
                f"reproduction config: grid uses task {job['task']!r} without settings"
            )
        if job["rule"] not in RULES:
            raise ValueError(f"reproduction config: unknown rule {job['rule']!r}")
        dataset, gate = parse_structure(job["structure"])
        if dataset is not None and dataset not in (rc.get("structures") or {}):
            raise ValueError(
                f"reproduction config: structure {job['structure']!r} needs dataset {dataset!r} "
                "under `structures`"
            )
        if gate is not None and job["rule"] != "mdgl":
            raise ValueError(f"reproduction config: gate in {job['structure']!r} needs rule mdgl")


def parse_structure(name: str) -> tuple[str | None, str | None]:
    """``"ei"`` → (None, None); ``"toy_cortex"`` → ("toy_cortex", None);
    ``"toy_cortex-label-permuted"`` → ("toy_cortex", "label-permuted")."""
    if name == "ei":
        return None, None
    for gate in sorted(GATES, key=len, reverse=True):
        if name.endswith("-" + gate) and len(name) > len(gate) + 1:
            return name[: -len(gate) - 1], gate
    if "-" in name:
        raise ValueError(f"structure {name!r}: unknown gate after '-'; known: {GATES}")
    return name, None


def jobs(rc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (task, rule, structure, seed) of the grid, without duplicates, in config order."""
    out, seen = [], set()
    for entry in rc["grid"]:
        for task, rule, structure, seed in itertools.product(
            entry["tasks"], entry["rules"], entry["structures"], entry["seeds"]
        ):
            key = (task, rule, structure, int(seed))
            if key not in seen:
                seen.add(key)
                out.append(dict(zip(("task", "rule", "structure", "seed"), key, strict=True)))
    return out


def runs_dir(rc: dict[str, Any]) -> str:
    """Tracked folder of this grid's finished runs (``runs`` in the config, default
    ``experiments/runs/<name>``)."""
    return str(rc.get("runs") or f"experiments/runs/{rc['name']}").rstrip("/")


def job_dir(rc: dict[str, Any], job: dict[str, Any], *, tracked: bool = True) -> str:
    """``experiments/runs/<name>/<task>/<rule>/<structure>/seed<k>`` (tracked) or the ignored
    training folder with the checkpoint under ``results``."""
    base = runs_dir(rc) if tracked else f"{rc['results'].rstrip('/')}/train"
    return f"{base}/{job['task']}/{job['rule']}/{job['structure']}/seed{job['seed']}"


def is_finished(rc: dict[str, Any], job: dict[str, Any]) -> bool:
    d = Path(job_dir(rc, job))
    return (d / "metrics.csv").is_file() and (d / "summary.json").is_file()


def structure_file(rc: dict[str, Any], dataset: str) -> str:
    return f"{rc['results'].rstrip('/')}/structures/{dataset}/structure.npz"


def options_file(rc: dict[str, Any], task: str) -> str:
    return f"{rc['results'].rstrip('/')}/options/{task}.json"


def task_options(rc: dict[str, Any], task: str) -> dict[str, Any]:
    """What goes through ``neuromod train --config``: task keyword arguments and network overrides."""
    s = rc["tasks"][task]
    return {"task_options": s.get("task_options") or {}, "network": s.get("network") or {}}


def train_command(rc: dict[str, Any], job: dict[str, Any]) -> str:
    """The ``neuromod train`` command line of one job (recorded verbatim in its summary.json)."""
    s = rc["tasks"][job["task"]]
    dataset, gate = parse_structure(job["structure"])
    args = ["neuromod", "train", "--task", job["task"], "--rule", job["rule"]]
    if dataset is not None:
        args += ["--structure", structure_file(rc, dataset)]
        if job["rule"] == "mdgl":
            args += ["--gate", gate or "data"]
    args += [
        "--iterations", str(s["iterations"]),
        "--batch-size", str(s["batch_size"]),
        "--lr", str(s.get("lr", 2.5e-3)),
        "--validate-every", str(s.get("validate_every", 25)),
        "--validation-batches", str(s.get("validation_batches", 1)),
        "--seed", str(job["seed"]),
    ]  # fmt: skip
    for key in ("validation_batch_size", "checkpoint_every", "l1", "rate_reg", "rate_target_hz"):
        if s.get(key) is not None:
            args += ["--" + key.replace("_", "-"), str(s[key])]
    args += [
        "--config", options_file(rc, job["task"]),
        "--no-progress",
        "--out", job_dir(rc, job, tracked=False),
    ]  # fmt: skip
    return shlex.join(args)


def job_from_wildcards(wc: Any) -> dict[str, Any]:
    return {"task": wc.task, "rule": wc.lrule, "structure": wc.structure, "seed": int(wc.seed)}


def train_inputs(rc: dict[str, Any], job: dict[str, Any]) -> dict[str, str]:
    """Inputs of a training job; none once it is finished, so a finished job is never rerun (and
    nothing upstream of it is rebuilt) whatever the timestamps of a fresh clone."""
    if is_finished(rc, job):
        return {}
    inputs = {"options": options_file(rc, job["task"])}
    dataset, _ = parse_structure(job["structure"])
    if dataset is not None:
        inputs["structure"] = structure_file(rc, dataset)
    return inputs


def structure_inputs(rc: dict[str, Any], dataset: str) -> dict[str, str]:
    d = rc["structures"][dataset]
    if d["source"] == "toy":
        return {"data": f"{rc['results'].rstrip('/')}/data/{dataset}.h5ad"}
    files = {"data": d["path"]}
    if d.get("metadata"):
        files["metadata"] = d["metadata"]
    if d.get("abundances"):
        files["abundances"] = d["abundances"]["table"]
    return files


def graph_args(rc: dict[str, Any], dataset: str, inputs: Any) -> str:
    """Options of ``neuromod graph`` for one dataset (after the input file)."""
    d = rc["structures"][dataset]
    g = rc.get("graph") or {}
    args = []
    if d["source"] != "toy" and d.get("metadata"):
        args += ["--metadata", str(inputs.metadata)]
    args += [
        "--groupby", d["groupby"],
        "--resource", g.get("resource", "neuropeptides"),
        "--method", g.get("method", "smith2019"),
        "--n-perms", str(g.get("n_perms", 0)),
    ]  # fmt: skip
    ab = d.get("abundances")
    if ab:  # tissue abundances from a taxonomy's cell counts (neuromod graph --abundances)
        args += ["--abundances", str(inputs.abundances)]
        for opt in ("key", "count", "via"):
            if ab.get(opt):
                args += [f"--abundance-{opt}", str(ab[opt])]
    out = shlex.join(args)
    return f"{out} {g['extra_args']}" if g.get("extra_args") else out


def targets(rc: dict[str, Any]) -> list[str]:
    return [
        f"{job_dir(rc, j)}/{name}" for j in jobs(rc) for name in ("metrics.csv", "summary.json")
    ]


def job_json(job: dict[str, Any]) -> str:
    return json.dumps(job, sort_keys=True)
