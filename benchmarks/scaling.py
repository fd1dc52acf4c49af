"""How long each grid of workflows/config/ takes on 1, 16 and 128 cores, from measured per-job times.

For every config with a ``reproduction`` section (each grid the workflow would run, picked up anew
on every run of this script), the jobs are those of the grid (one training run per task, rule,
structure and seed; :func:`neuromod_data.experiments.grid.jobs`), the structure-building jobs they
need (toy data, ``neuromod graph``, ``neuromod physiology``) and, for a config with an ``align:``
section, one ``neuromod align`` job per structure of it. A job's time comes only from measurements:

- training: the published runs' records (``experiments/runs/**/summary.json``: ``metrics.seconds``,
  the wall time of the training loop, over ``metrics.iterations_done``), pooled by what sets a run's
  cost (task, rule, batch size, MDGL variant, online, feedback, task options, network size); the
  job's time is the median seconds per iteration of its kind times its iterations. Kinds without a
  published run take the seconds per iteration of ``experiments/timings.json`` (default settings),
  and the training jobs of the grid named in ``benchmarks/results/cluster.md`` its measured
  payload;
- alignment: the published alignments (``experiments/alignment/**/config.json``, ``seconds``) run
  with the same settings;
- everything else (structures): no measurement exists; such jobs count 0 s and the table says how
  many there are.

The wall time on ``p`` cores is a list schedule (a free core takes the ready job with the longest
path to the end of the grid) over the dependencies structure → training / alignment; it is never
below the critical path nor below CPU time / p. The scheduler's overhead per job is the mean
in-job overhead of the training jobs in ``benchmarks/results/cluster.md`` (measured on the local
SLURM of ``workflows/cluster/slurm-local.sh``).

    python benchmarks/scaling.py            # seconds; writes benchmarks/results/scaling.md
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import heapq
import json
import platform
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from _machine import describe  # benchmarks/, the script's own folder

ROOT = Path(__file__).resolve().parents[1]
CORES = (1, 16, 128)

#: the settings of a training run that set its cost per iteration (besides task and rule)
COST_SETTINGS = ("batch_size", "variant", "online", "feedback", "task_options", "network")


# --- scheduling ------------------------------------------------------------------------------


def critical_path(seconds: Mapping[str, float], deps: Mapping[str, Iterable[str]]) -> float:
    """The longest chain of dependent jobs, in seconds (``deps[j]``: the jobs ``j`` waits for)."""
    return max(_bottom_levels(seconds, deps).values(), default=0.0)


def _bottom_levels(
    seconds: Mapping[str, float], deps: Mapping[str, Iterable[str]]
) -> dict[str, float]:
    """For each job, its time plus the longest chain of jobs that wait for it."""
    after: dict[str, list[str]] = defaultdict(list)
    for j, ds in deps.items():
        for d in ds:
            after[d].append(j)
    level: dict[str, float] = {}

    def visit(j: str, path: frozenset[str]) -> float:
        if j in path:
            raise ValueError(f"dependency cycle through job {j!r}")
        if j not in level:
            level[j] = seconds[j] + max((visit(k, path | {j}) for k in after[j]), default=0.0)
        return level[j]

    for j in seconds:
        visit(j, frozenset())
    return level


def list_schedule(
    seconds: Mapping[str, float], deps: Mapping[str, Iterable[str]], cores: int
) -> float:
    """Wall time of running every job on ``cores`` cores, one core per job: whenever a core is
    free it takes, among the jobs whose dependencies have finished, the one with the longest path
    to the end (ties: the name). ``deps[j]`` are the jobs ``j`` waits for.

    >>> list_schedule({"s": 3, "a": 4, "b": 4}, {"a": ["s"], "b": ["s"]}, cores=1)
    11.0
    >>> list_schedule({"s": 3, "a": 4, "b": 4}, {"a": ["s"], "b": ["s"]}, cores=2)
    7.0
    """
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    level = _bottom_levels(seconds, deps)
    waiting = {j: set(deps.get(j, ())) for j in seconds}
    for j, ds in waiting.items():
        if unknown := ds - seconds.keys():
            raise ValueError(f"job {j!r} waits for unknown jobs {sorted(unknown)}")
    after: dict[str, list[str]] = defaultdict(list)
    for j, ds in waiting.items():
        for d in ds:
            after[d].append(j)
    ready = [(-level[j], j) for j, ds in waiting.items() if not ds]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = end = 0.0
    while ready or running:
        while ready and len(running) < cores:
            _, j = heapq.heappop(ready)
            heapq.heappush(running, (now + float(seconds[j]), j))
        now, j = heapq.heappop(running)
        end = max(end, now)
        for k in after[j]:
            waiting[k].discard(j)
            if not waiting[k]:
                heapq.heappush(ready, (-level[k], k))
    return float(end)


# --- measurements ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _canonical(value: Any) -> str:
    return json.dumps(_plain(value if value is not None else {}), sort_keys=True, default=str)


def cost_kind(task: str, rule: str, settings: Mapping[str, Any]) -> tuple[str, ...]:
    """What sets a training run's cost per iteration: task, rule and :data:`COST_SETTINGS`, each
    missing one at the default of ``neuromod train`` (``training_defaults``)."""
    from neuromod_data.training_defaults import TRAINING_DEFAULTS

    values = []
    for key in COST_SETTINGS:
        v = settings.get(key)
        values.append(_canonical(TRAINING_DEFAULTS[key] if v is None else v))
    return (task, rule, *values)


def _describe(kind: tuple[str, ...]) -> str:
    task, rule, *values = kind
    parts = [task, rule]
    for key, v in zip(COST_SETTINGS, values, strict=True):
        if key == "batch_size":
            parts.append(f"B = {v}")
        elif v not in ("{}", '"local"', "false", '"symmetric"'):
            parts.append(f"{key} {v}")
    return ", ".join(parts)


def published_rates(runs_root: Path) -> dict[str, dict[tuple[str, ...], list[float]]]:
    """Seconds per iteration of every published run (``<grid>/**/summary.json``), by grid (the
    first folder below ``runs_root``) and cost kind."""
    rates: dict[str, dict[tuple[str, ...], list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(runs_root.glob("*/**/summary.json")):
        record = json.loads(path.read_text())
        m, s = record.get("metrics") or {}, record.get("settings") or {}
        seconds, done = m.get("seconds"), m.get("iterations_done")
        if not seconds or not done:
            continue
        grid = path.relative_to(runs_root).parts[0]
        rates[grid][cost_kind(s["task"], s["rule"], s)].append(float(seconds) / int(done))
    return {g: dict(r) for g, r in rates.items()}


def pooled(tables: Iterable[Mapping[tuple[str, ...], list[float]]]) -> dict[tuple, list[float]]:
    """Several tables of seconds per iteration by cost kind, as one."""
    out: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for table in tables:
        for kind, values in table.items():
            out[kind].extend(values)
    return dict(out)


def timing_rates(path: Path) -> dict[tuple[str, ...], list[float]]:
    """Seconds per iteration of ``experiments/timings.json`` (default settings but the batch)."""
    if not path.is_file():
        return {}
    rates: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for t in json.loads(path.read_text()).get("timings", []):
        kind = cost_kind(t["task"], t["rule"], {"batch_size": int(t["batch_size"])})
        rates[kind].append(float(t["seconds_per_iteration"]))
    return dict(rates)


def _md_tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table of a markdown text, as rows keyed by the header's cells."""
    tables, header, rows = [], None, []
    for line in [*text.splitlines(), ""]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if "|" in line else None
        if cells is None:
            if header is not None:
                tables.append(rows)
            header, rows = None, []
        elif header is None:
            header = cells
        elif not set("".join(cells)) <= set("-: "):
            rows.append(dict(zip(header, cells, strict=False)))
    return tables


def cluster_measurements(path: Path) -> dict[str, Any]:
    """From ``benchmarks/results/cluster.md``: the in-job overhead of every SLURM training job, the
    config of the grid it ran and the payload seconds of each of its training jobs (by task, rule,
    structure, seed), and the date line."""
    out: dict[str, Any] = {"overheads": [], "payloads": {}, "config": None, "date": None}
    if not path.is_file():
        return out
    text = path.read_text()
    if m := re.search(r"- Grid: `([^`]+\.yaml)`", text):
        out["config"] = m.group(1)
    if m := re.search(r"on (\d{4}-\d\d-\d\d[ \d:]*UTC)", text):
        out["date"] = m.group(1)
    for table in _md_tables(text):
        for row in table:
            overhead, payload = row.get("in-job overhead s"), row.get("payload s")
            if row.get("rule") != "repro_train" or not overhead or overhead == "—":
                continue
            out["overheads"].append(float(overhead))
            w = dict(re.findall(r"(\w+)=([^,\s]+)", row.get("wildcards", "")))
            key = (w.get("task"), w.get("lrule"), w.get("structure"), int(w.get("seed", -1)))
            out["payloads"].setdefault(key, []).append(float(payload))
    return out


def published_alignments(root: Path) -> list[dict[str, Any]]:
    """Settings and ``seconds`` of every published alignment (``**/config.json``: one folder per
    structure, or per structure and task as stage 2 keeps them)."""
    out = []
    for path in sorted(root.glob("**/config.json")):
        c = json.loads(path.read_text())
        if c.get("seconds"):
            out.append({**c, "folder": path.parent.relative_to(root).as_posix()})
    return out


#: settings of `neuromod align` that set its cost (config.json keys = the align section's keys)
ALIGN_COST = ("task", "seeds", "batches", "checkpoints", "batch_size", "variant", "permutations",
              "grid_draws", "network")  # fmt: skip


def align_defaults(smk: Path) -> dict[str, Any]:
    """The defaults of the ``align:`` section, read from the ``ALIGN = {...}`` of align.smk."""
    m = re.search(r"^ALIGN = \{(.*?)\*\*\(config", smk.read_text(), re.S | re.M)
    if m is None:
        raise ValueError(f"{smk}: no `ALIGN = {{... **(config...` block to read the defaults from")
    return ast.literal_eval("{" + m.group(1) + "}")


# --- the grids -------------------------------------------------------------------------------


def grid_jobs(
    rc: dict[str, Any], align: Mapping[str, Any] | None, defaults: Mapping[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """Every job of a grid (name → description with ``kind`` and, for training, ``cost``) and the
    jobs each waits for: structure-building → training and alignment."""
    from neuromod_data.experiments import grid as repro_grid

    jobs: dict[str, dict[str, Any]] = {}
    deps: dict[str, set[str]] = {}
    structures = rc.get("structures") or {}

    def structure(dataset: str) -> str:
        d = structures[dataset]
        name = f"graph:{dataset}"
        if name not in jobs:
            jobs[name], deps[name] = {"kind": "graph (neuromod graph)"}, set()
            if d.get("source") == "toy":
                jobs[f"data:{dataset}"] = {"kind": "toy data"}
                deps[f"data:{dataset}"] = set()
                deps[name].add(f"data:{dataset}")
            if d.get("physiology"):
                jobs[f"physiology:{dataset}"] = {"kind": "physiology (neuromod physiology)"}
                deps[f"physiology:{dataset}"] = {name}
        return f"physiology:{dataset}" if d.get("physiology") else name

    for job in repro_grid.jobs(rc):
        s = rc["tasks"][job["task"]]
        name = f"train:{job['task']}/{job['rule']}/{job['structure']}/seed{job['seed']}"
        jobs[name] = {
            "kind": "training",
            "job": job,
            "cost": cost_kind(job["task"], job["rule"], s),
            "iterations": int(s.get("iterations") or 0),
        }
        dataset, _ = repro_grid.parse_structure(job["structure"])
        deps[name] = {structure(dataset)} if dataset is not None else set()
    if align is not None:
        a = {**defaults, **align}
        for dataset in a["structures"]:
            for task in a.get("tasks") or [a["task"]]:
                # the reference training and the scored networks take the task's network settings
                network = (rc["tasks"].get(task) or {}).get("network") or {}
                settings = {**{k: a.get(k) for k in ALIGN_COST}, "task": task, "network": network}
                name = f"align:{dataset}/{task}"
                jobs[name] = {"kind": "alignment", "settings": settings}
                deps[name] = {structure(dataset)}
    return jobs, deps


def job_seconds(
    jobs: Mapping[str, dict[str, Any]],
    sources: list[tuple[str, Mapping[Any, list[float]]]],
    alignments: list[dict[str, Any]],
) -> tuple[dict[str, float | None], dict[str, tuple[str, Any]]]:
    """Each job's measured seconds (None: no measurement) and the (source, key) it came from.

    ``sources``: in order of preference, ``(label, table)`` where a table holds either seconds per
    iteration by cost kind (:func:`cost_kind`) or, where the label ends in ``payload``, the
    seconds of whole training jobs by (task, rule, structure, seed). A training job takes the
    median of the first table that has its key, times its iterations for a rate."""
    seconds: dict[str, float | None] = {}
    source: dict[str, tuple[str, Any]] = {}
    for name, j in jobs.items():
        seconds[name] = None
        if j["kind"] == "training":
            job_key = tuple(j["job"][k] for k in ("task", "rule", "structure", "seed"))
            for label, table in sources:
                whole = label.endswith("payload")
                key = job_key if whole else j["cost"]
                if table.get(key):
                    value = statistics.median(table[key])
                    seconds[name] = value if whole else value * j["iterations"]
                    source[name] = (label, key)
                    break
        elif j["kind"] == "alignment":
            same = [
                float(a["seconds"])
                for a in alignments
                if all(_canonical(a.get(k)) == _canonical(j["settings"][k]) for k in ALIGN_COST)
            ]
            if same:
                seconds[name] = statistics.median(same)
                source[name] = ("experiments/alignment", None)
    return seconds, source


# --- the page --------------------------------------------------------------------------------


def _hours(s: float) -> str:
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _machine() -> str:
    return f"{describe()}, Python {platform.python_version()}"


def grid_row(
    label: str,
    seconds: Mapping[str, float | None],
    deps: Mapping[str, set[str]],
    jobs: Mapping[str, dict[str, Any]],
    overhead: float | None,
) -> str:
    known = {j: (s or 0.0) for j, s in seconds.items()}
    missing: dict[str, int] = defaultdict(int)
    for j, s in seconds.items():
        if s is None:
            missing[jobs[j]["kind"]] += 1
    total = sum(known.values())
    gaps = "; ".join(f"{n} {k}" for k, n in missing.items()) or "—"
    measured = len(jobs) - sum(missing.values())
    ovh = "not measured" if overhead is None else f"{overhead:.1f} s"
    if not measured:
        return f"| {label} | {len(jobs)} | 0 |" + " not measured |" * 5 + f" {ovh} | {gaps} |"
    # jobs of the grid's own work (training, alignment) without a time: the numbers are floors
    floor = "≥ " if any(k in ("training", "alignment") for k in missing) else ""
    walls = [list_schedule(known, deps, p) for p in CORES]
    if overhead is not None and total:
        ovh += f" ({100 * overhead * len(jobs) / total:.1f} % of CPU time)"
    return (
        f"| {label} | {len(jobs)} | {measured} | {floor}{total / 3600:.1f} | "
        + " | ".join(floor + _hours(w) for w in walls)
        + f" | {floor}{_hours(critical_path(known, deps))} | {ovh} | {gaps} |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", type=Path, default=ROOT / "workflows" / "config")
    ap.add_argument("--runs", type=Path, default=ROOT / "experiments" / "runs")
    ap.add_argument("--timings", type=Path, default=ROOT / "experiments" / "timings.json")
    ap.add_argument("--alignments", type=Path, default=ROOT / "experiments" / "alignment")
    ap.add_argument("--cluster", type=Path, default=ROOT / "benchmarks" / "results" / "cluster.md")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scaling.md")
    args = ap.parse_args(argv)

    import yaml

    from neuromod_data.experiments import grid as repro_grid

    published = published_rates(args.runs)
    timings = timing_rates(args.timings)
    cluster = cluster_measurements(args.cluster)
    overhead = statistics.mean(cluster["overheads"]) if cluster["overheads"] else None
    alignments = published_alignments(args.alignments)
    defaults = align_defaults(ROOT / "workflows" / "rules" / "align.smk")

    rows, used = [], defaultdict(set)
    for path in sorted(args.configs.glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict) or "reproduction" not in data:
            continue  # the main workflow's configs: not grids
        rc, align = data["reproduction"], data.get("align")
        try:
            repro_grid.validate(rc)  # as the workflow checks it (fills in the defaults)
        except (ValueError, KeyError, TypeError) as exc:
            rows.append(f"| `{path.name}` | refused by the grid check: {' '.join(str(exc).split())}"
                        " |" + " |" * 8)  # fmt: skip
            continue
        name = str(rc["name"])
        jobs, deps = grid_jobs(rc, align, defaults)
        own_payload = cluster["config"] and Path(cluster["config"]).name == path.name
        sources = [
            (f"runs of {name}", published.get(name, {})),
            ("cluster.md payload", cluster["payloads"] if own_payload else {}),
            ("runs of other grids", pooled(t for g, t in published.items() if g != name)),
            ("timings.json", timings),
        ]
        tables = dict(sources)
        seconds, source = job_seconds(jobs, sources, alignments)
        for label, key in source.values():
            if label in tables and not label.endswith("payload") and key is not None:
                used[(_describe(key), label)].add((name, tuple(tables[label][key])))
        rows.append(grid_row(f"`{path.name}` ({name})", seconds, deps, jobs, overhead))
    # the published alignments themselves: one job each, its own measured time, after a structure
    # (not measured)
    if alignments:
        seconds = {f"align:{a['folder']}": float(a["seconds"]) for a in alignments}
        jobs = {j: {"kind": "alignment"} for j in seconds}
        seconds.update({f"graph:{a['folder']}": None for a in alignments})
        jobs.update({f"graph:{a['folder']}": {"kind": "structure"} for a in alignments})
        deps = {j: ({"graph:" + j.split(":", 1)[1]} if j.startswith("align:") else set())
                for j in seconds}  # fmt: skip
        label = f"`experiments/alignment/` ({', '.join(a['folder'] for a in alignments)})"
        rows.append(grid_row(label, seconds, deps, jobs, overhead))

    kinds = []
    for (kind, label), entries in sorted(used.items()):
        for grid, r in sorted(entries):
            kinds.append(
                f"| {kind} | {grid} | {label} | {len(r)} | {statistics.median(r):.3f} | "
                f"{min(r):.3f}–{max(r):.3f} |"
            )
    now = dt.datetime.now(dt.timezone.utc)
    n_runs = sum(len(v) for t in published.values() for v in t.values())
    text = "\n".join(
        [
            "# How the grids scale: wall time on 1, 16 and 128 cores, from measured per-job times",
            "",
            f"Generated by `python benchmarks/scaling.py` on {now:%Y-%m-%d %H:%M} UTC, on {_machine()}"
            " (the script only computes; the times are those of its inputs).",
            "",
            "Inputs:",
            f"- training: {n_runs} published runs (`experiments/runs/**/summary.json`: `metrics.seconds`"
            " is the wall time of the training loop, validation included, start-up excluded); where a"
            " kind of run has none, `experiments/timings.json`; the runs were recorded on"
            f" {_recorded_on(args.runs)}, two jobs at a time beside other work, so these wall times are"
            " upper bounds of CPU time. A job takes the median seconds per iteration of its kind among"
            " the runs of its own grid, else of the other grids (the code and the load differed between"
            " grids: the second table lists each grid's rates);",
            f"- alignment: {len(alignments)} published alignments (`experiments/alignment/**/config.json`,"
            " wall `seconds`, the same machine and load), for `align:` sections with the same settings;",
            "- scheduler overhead per job: the mean in-job overhead of the SLURM training jobs of"
            f" [cluster.md](cluster.md) ({len(cluster['overheads'])} jobs, {cluster['date'] or 'undated'}:"
            " sbatch script, srun and the Snakemake instance on the node);",
            "- structure-building jobs (toy data, `neuromod graph`, `neuromod physiology`): no measured"
            " times exist (their rules keep no benchmark file); they count 0 s below and the last column"
            " says how many there are.",
            "",
            "One row per grid config of `workflows/config/` (a new config is picked up on the next run),"
            " plus the published alignment runs. *Measured*: jobs whose kind has a measured time (all"
            " jobs of a kind take its median, whether the job itself has run or not). *Wall on p cores*: a list schedule, each job on one"
            " core, a free core taking the ready job with the longest path to the end; structures before"
            " their training and alignment jobs. *Critical path*: the longest chain of dependent jobs"
            " (no number of cores is faster). *Overhead*: per job through SLURM, and all jobs' overhead"
            " against the grid's CPU time; Snakemake also sees each job finish up to"
            " `--seconds-between-status-checks` (10 s by default) late.",
            "",
            "| grid | jobs | measured | CPU-hours | wall, 1 core | 16 cores | 128 cores | critical"
            " path | SLURM overhead per job | jobs not measured |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
            *rows,
            "",
            "## Seconds per iteration by kind of run (the inputs of the training jobs above)",
            "",
            "| kind | grid | source | runs | median s/iteration | range |",
            "|---|---|---|---:|---:|---|",
            *kinds,
            "",
        ]
    )
    args.out.write_text(text)
    print(text)
    return 0


def _recorded_on(runs_root: Path) -> str:
    machines, dates = set(), set()
    for path in runs_root.glob("**/summary.json"):
        r = json.loads(path.read_text())
        m = r.get("machine") or {}
        machines.add(f"{m.get('cores')} cores, {m.get('cpu')}")
        dates.add(str(r.get("recorded_at", ""))[:10])
    span = f"{min(dates)} to {max(dates)}" if dates else "no date"
    return f"{' / '.join(sorted(machines)) or 'unknown machines'}, {span}"


if __name__ == "__main__":
    sys.exit(main())
