"""The results page (``docs/results.md`` when published) and its figures, built from run folders.

Runs are read with :func:`~neuromod_data.experiments.runs.find_runs` (layout
``<grid>/<task>/<rule>/<structure>/seed<k>``), grouped by (grid, task, rule, structure) and
summarised over seeds both ways (:mod:`neuromod_data.experiments.summary`); comparisons between
rules on one network, between one rule's runs on two datasets' networks (a grid's ``contrasts``)
and between MDGL gates are made on the authors' definition of the final loss: paired by seed
(:func:`neuromod_data.experiments.stats.paired`, Holm within each family) where the two arms have
the same seeds, unpaired (:func:`neuromod_data.experiments.stats.compare`) where they do not. The
page also lists what each grid still lacks (from the grid configs, the YAML files with a
``reproduction`` section) with an estimate of its CPU time, and the commits and arithmetic
versions each grid's runs ran under.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuromod_data import names
from neuromod_data._files import atomic_path, check_output
from neuromod_data.errors import FormatError, InputFileError
from neuromod_data.experiments import grid as repro_grid
from neuromod_data.experiments.curves import curves_figure
from neuromod_data.experiments.runs import REPRODUCTION, Run, find_runs, group_runs
from neuromod_data.experiments.stats import (
    compare,
    detectable_effect,
    detectable_effect_paired,
    holm,
    paired,
    versus_published,
)
from neuromod_data.experiments.summary import (
    SMOOTHING,
    THRESHOLD,
    WINDOW,
    run_summary,
    summarize,
)

__all__ = ["AUTHORS", "build_page", "estimate_seconds", "grid_configs", "pending"]

#: Liu et al. 2021 PNAS, Fig. 3C (evidence accumulation, 5 runs a rule, B = 64, 2000 iterations):
#: final loss mean ± SD, final accuracy and iterations to 80 %, all on the authors' definitions.
#: Recomputed from the runs in the authors' repository (bin/results/AccumulatingCues_main/*/
#: results.pickle: mean of loss_tot_list over iterations 1900–2000): per run BPTT 0.060, 0.086,
#: 0.083, 0.103, 0.071; MDGL 0.222, 0.243, 0.250, 0.228, 0.292; e-prop 0.461, 0.407, 0.438,
#: 0.465, 0.683 (docs/design.md, "Training protocol" and "Summary statistics"); mean and SD of the
#: unrounded per-run values, to 3 decimals (MDGL's SD is 0.0274; from the rounded values, 0.028).
AUTHORS: dict[str, dict[str, float]] = {
    "bptt": {"loss": 0.081, "loss_sd": 0.016, "accuracy": 0.98, "iters80": 140},
    "mdgl": {"loss": 0.247, "loss_sd": 0.027, "accuracy": 0.90, "iters80": 420},
    "eprop": {"loss": 0.491, "loss_sd": 0.110, "accuracy": 0.75, "iters80": 1040},
}
AUTHORS_RUNS = 5
#: the published runs' length and batch size; other runs are not set against the published numbers
PUBLISHED_PROTOCOL = {"iterations": 2000, "batch_size": 64}
#: the order the paper finds (lowest loss first)
RULE_ORDER = ("bptt", "mdgl", "eprop")
#: gates a data gate is compared with, in this order ("shuffled": older runs' grid-shuffled)
_CONTROLS = (*names.CONTROLS, "shuffled", "binary", "none")

Key = tuple[str, str, str, str]


# ----------------------------------------------------------------------------- formatting
def _fmt(m: float | None, sd: float = math.nan, digits: int = 3) -> str:
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "—"
    if math.isinf(m):
        return "never"
    s = f"{m:.{digits}f}"
    return s if sd is None or math.isnan(sd) else f"{s} ± {sd:.{digits}f}"


def _fmt_p(p: float) -> str:
    return "—" if p is None or math.isnan(p) else f"{p:.2g}"


def _fmt_ci(v: float, lo: float, hi: float, digits: int = 3) -> str:
    if math.isnan(v):
        return "—"
    if math.isnan(lo):
        return f"{v:+.{digits}f}"
    return f"{v:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def _fmt_iters(s: dict[str, Any]) -> str:
    if s["n_reached"] == 0:
        return f"not reached (0/{s['n']})"
    return f"{_fmt(s['iters_mean'], s['iters_sd'], 0)} ({s['n_reached']}/{s['n']})"


def _fmt_points(points: list[int]) -> str:
    lo, hi = min(points, default=0), max(points, default=0)
    return str(lo) if lo == hi else f"{lo}–{hi}"


def _sort_key(key: Key) -> tuple:
    grid, task, rule, structure = key
    return (
        grid,
        task,
        structure != "ei",
        structure,
        RULE_ORDER.index(rule) if rule in RULE_ORDER else 9,
    )


def _has_accuracy(runs: Sequence[Run]) -> bool:
    return any(r.validation["accuracy"].notna().any() for r in runs)


# ----------------------------------------------------------------------------- grids
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
    task and rule at another batch size, scaled linearly; None when nothing exists."""
    s = rc["tasks"][job["task"]]
    batch = int(s["batch_size"])
    same, scaled = [], []
    for r in runs:
        if r["task"] != job["task"] or r["rule"] != job["rule"] or r.seconds is None:
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
    ]
    if exact:
        return float(np.median(exact)) * s["iterations"]
    return float(np.median(scaled)) * s["iterations"] if scaled else None


def _neurons(rule: str, structure: str) -> str | None:
    """The network a group trained, for comparing rules on it: ``ei`` or a dataset's types (for
    MDGL only with the data gate; a control changes the gate, not the network)."""
    if structure == "ei":
        return "ei"
    try:
        dataset, gate = repro_grid.parse_structure(structure)
    except ValueError:
        return None
    if rule == "mdgl":
        return dataset if gate == "data" else None
    return dataset if gate is None else None


def _arm(rule: str, network: str) -> str:
    """The structure name of ``rule`` on a network (:func:`_neurons`): ``ei``, or a dataset's
    (MDGL with its data gate)."""
    return f"{network}-data" if rule == "mdgl" and network != "ei" else network


def _comparisons(
    keys: list[Key], contrasts: dict[str, list[list[str]]] | None = None
) -> list[tuple[Key, Key]]:
    """In each grid and task: rule pairs on each network (the E/I one first); each rule on one
    dataset's network against the same rule on another's, for the grid's ``contrasts``; each
    data gate against each control on its neurons."""
    out = []
    for grid, task in sorted({(k[0], k[1]) for k in keys}):
        have = {(k[2], k[3]) for k in keys if k[0] == grid and k[1] == task}
        networks = sorted(
            {n for r, s in have if (n := _neurons(r, s)) is not None}, key=lambda n: (n != "ei", n)
        )
        for net in networks:
            for a, b in (("bptt", "mdgl"), ("mdgl", "eprop"), ("bptt", "eprop")):
                sa, sb = _arm(a, net), _arm(b, net)
                if (a, sa) in have and (b, sb) in have:
                    out.append(((grid, task, a, sa), (grid, task, b, sb)))
        for first, second in (contrasts or {}).get(grid, []):
            for rule in RULE_ORDER:
                sa, sb = _arm(rule, first), _arm(rule, second)
                if (rule, sa) in have and (rule, sb) in have:
                    out.append(((grid, task, rule, sa), (grid, task, rule, sb)))
        gated: dict[str, dict[str, str]] = {}
        for rule, structure in have:
            if rule != "mdgl" or structure == "ei":
                continue
            try:
                dataset, gate = repro_grid.parse_structure(structure)
            except ValueError:
                continue
            gated.setdefault(dataset, {})[gate or "data"] = structure
        for dataset in sorted(gated):
            gates = gated[dataset]
            if "data" not in gates:
                continue
            for control in _CONTROLS:
                if control in gates:
                    out.append(
                        ((grid, task, "mdgl", gates["data"]), (grid, task, "mdgl", gates[control]))
                    )
    return out


def _relpath(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _figure(curves: dict[str, Sequence[Run]], title: str, path: Path, page: Path) -> list[str]:
    """Save a learning-curve figure; return the page's lines that show it."""
    _save(curves_figure(curves, title=title), path)
    return [f"![{title}]({_relpath(path, page.parent)})", ""]


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


# ----------------------------------------------------------------------------- the page
def build_page(
    runs: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    figures: str | os.PathLike,
    *,
    config_dir: str | os.PathLike | None = None,
    notes: str | os.PathLike | None = None,
    timings: str | os.PathLike | None = None,
    window: float = WINDOW,
    points: int = SMOOTHING,
    threshold: float = THRESHOLD,
    command: str = "neuromod results page",
) -> str:
    """Write the results page (Markdown) and its figures; return the page's text.

    Parameters
    ----------
    runs
        Folder(s) of runs in the layout ``<grid>/<task>/<rule>/<structure>/seed<k>/``; folders
        that do not exist are skipped (at least one must exist).
    out, figures
        The page and the folder of its PNG figures (linked relative to the page).
    config_dir
        Folder of grid configs (YAML files with a ``reproduction`` section): the grids whose
        pending jobs are listed, and their ``contrasts`` (pairs of datasets whose networks are
        compared under each rule).
    notes
        Hand-written Markdown included near the top (the interpretation of the numbers).
    timings
        ``timings.json`` with measured seconds per iteration (estimates of pending jobs).
    window, points, threshold
        The authors' definitions: final loss averaged over the last ``window`` iterations,
        accuracy smoothed over ``points`` validation points, learned at ``threshold``.
    command
        How the page was made (named in its first lines).
    """
    out, figures = Path(out), Path(figures)
    given = [runs] if isinstance(runs, str | os.PathLike) else list(runs)
    # a folder that does not exist yet holds no runs (e.g. no run of a grid published so far)
    roots = [r for r in given if Path(r).is_dir()]
    if not roots:
        raise InputFileError(f"runs folder not found: {', '.join(map(str, given))}")
    found = find_runs(roots, layout=REPRODUCTION, strict=True)
    configs = grid_configs(config_dir) if config_dir is not None else {}
    # the page must not replace what it is built from (a run's files, the notes, a config)
    inputs = [r.path / name for r in found if r.path for name in ("metrics.csv", "summary.json")]
    inputs += [notes, timings, *(path for path, _ in configs.values())]
    check_output(out, inputs)
    groups = group_runs(found, REPRODUCTION)
    keys: list[Key] = sorted(groups, key=_sort_key)  # type: ignore[arg-type]
    opts = {"window": window, "points": points, "threshold": threshold}
    summary = {k: summarize(groups[k], **opts) for k in keys}
    timing_rows = load_timings(timings)
    roots_text = ", ".join(f"`{Path(r).as_posix()}/`" for r in roots)

    L: list[str] = [
        "# Results: reproduction of Liu et al. 2021 (Fig. 3C) and data-derived modulation",
        "",
        f"Generated by `{command}` from the runs in {roots_text} (each run: `metrics.csv` + "
        "`summary.json` with its exact command, settings, machine, run time and git commit). Do "
        "not edit by hand"
        + (
            f"; the commentary comes from `{Path(notes).as_posix()}`."
            if notes is not None and Path(notes).is_file()
            else "."
        ),
        "",
        f"Runs found: **{len(found)}** in {len(groups)} groups (grid · task · rule · structure).",
        "",
    ]
    if notes is not None and Path(notes).is_file():
        L += [Path(notes).read_text().rstrip(), ""]

    L += [
        "## How the numbers are computed",
        "",
        'Each run is summarised two ways (docs/design.md, "Summary statistics"):',
        "",
        "- **ours**: the last validation point (task loss, accuracy); iterations to "
        f"{threshold:.0%}: the first validation iteration with accuracy ≥ {threshold} (mean ± SD "
        "over the seeds that got there, their count in brackets);",
        f"- **the authors'**: the mean validation *total* loss (task loss + firing-rate "
        f"regulariser; equal to the task loss for runs trained without it) over the validation "
        f'points of the last {window:g} iterations ("pts": how many points that is per run); '
        f"iterations to {threshold:.0%}: the first centre iteration of a {points}-point moving "
        "average of the validation accuracy that reaches it, then the **median** over seeds "
        "(a seed that never gets there counts as infinitely late).",
        "",
        "Over seeds: mean ± sample SD (ddof = 1). Comparisons with the published numbers and "
        "between rules or gates use the authors' definition.",
        "",
    ]

    # --- status of every grid
    grid_names = sorted({r["grid"] for r in found} | set(configs))
    L += ["## Grids and what is still pending", ""]
    L += ["| grid | config | jobs | finished | pending | est. CPU time of pending (h, one core) |"]
    L += ["|---|---|---:|---:|---:|---:|"]
    for g in grid_names:
        if g in configs:
            path, rc = configs[g]
            try:
                jobs = repro_grid.jobs(rc)
                todo = pending(rc, found)
            except (KeyError, TypeError, ValueError):
                L += [f"| {g} | `{path.as_posix()}` (unreadable grid) | — | — | — | — |"]
                continue
            est = [estimate_seconds(j, rc, found, timing_rows) for j in todo]
            known = [e for e in est if e is not None]
            est_s = f"{sum(known) / 3600:.1f}" if known else "—"
            if len(known) < len(est):
                est_s += f" (+{len(est) - len(known)} jobs with no measured cost)"
            L += [
                f"| {g} | `{path.as_posix()}` | {len(jobs)} | {len(jobs) - len(todo)} | "
                f"{len(todo)} | {est_s if todo else '0'} |"
            ]
        else:
            L += [f"| {g} | — | — | {sum(r['grid'] == g for r in found)} | — | — |"]
    L += ["", *_code_versions(found, grid_names)]
    L += [
        "Complete a grid (finished jobs are never rerun; an interrupted job resumes from its "
        "checkpoint in `results/reproduction/<grid>/train/` if that folder is still there; "
        "`publish=true` copies each finished run into `experiments/runs/` and writes this page):",
        "",
        "```bash",
    ]
    L += [
        f"snakemake -s workflows/rules/reproduction.smk --configfile {configs[g][0].as_posix()} "
        "--config publish=true --cores 2 --rerun-triggers mtime --keep-going reproduce"
        for g in grid_names
        if g in configs
    ]
    L += ["```", ""]

    if timing_rows:
        L += [
            "Seconds per training iteration measured by `benchmarks/measure_iteration.py` (one "
            "thread, E/I network, machine shared with other work: upper bounds), used for the "
            "estimates above only where no run of the same task, rule and batch size has "
            "finished:",
            "",
            "| task | rule | batch | s / iteration | measured at | machine |",
            "|---|---|---:|---:|---|---|",
        ]
        for t in sorted(timing_rows, key=lambda r: (r["task"], r["rule"], r["batch_size"])):
            m = t.get("machine") or {}
            L += [
                f"| {t['task']} | {t['rule']} | {t['batch_size']} | "
                f"{t['seconds_per_iteration']:.2f} | {t.get('measured_at', '?')} | "
                f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores |"
            ]
        L += [""]

    L += _authors_section(keys, groups, summary, opts)
    L += _groups_section(keys, summary, threshold)
    contrasts = {g: rc.get("contrasts") or [] for g, (_, rc) in configs.items()}
    L += _statistics_section(keys, groups, opts, contrasts)

    # --- figures
    L += ["## Learning curves", ""]
    for grid, task in sorted({(k[0], k[1]) for k in keys}):
        rule_keys = [k for k in keys if k[:2] == (grid, task) and k[3] == "ei"]
        if rule_keys:
            L += _figure(
                {k[2]: groups[k] for k in rule_keys},
                f"{grid} · {task} · rules on the E/I network",
                figures / f"{grid}_{task}_rules.png",
                out,
            )
        datasets: dict[str, list[Key]] = {}
        for k in keys:
            if k[:2] != (grid, task) or k[3] == "ei":
                continue
            try:
                dataset, _ = repro_grid.parse_structure(k[3])
            except ValueError:
                continue
            datasets.setdefault(str(dataset), []).append(k)
        for d, struct_keys in sorted(datasets.items()):
            ruled = [k for k in struct_keys if _neurons(k[2], k[3]) == d]
            if len({k[2] for k in ruled}) > 1:
                L += _figure(
                    {k[2]: groups[k] for k in ruled},
                    f"{grid} · {task} · rules on the {d} network",
                    figures / f"{grid}_{task}_{d}_rules.png",
                    out,
                )
            gated = [k for k in struct_keys if k[2] == "mdgl"]
            if gated:
                L += _figure(
                    {f"{k[2]} · {k[3]}": groups[k] for k in gated},
                    f"{grid} · {task} · MDGL gates on {d} types",
                    figures / f"{grid}_{task}_{d}_gates.png",
                    out,
                )

    L += _provenance_section(found, keys, groups, configs, grid_names)
    text = "\n".join(L) + "\n"
    with atomic_path(out, suffix=".md") as tmp:
        tmp.write_text(text)
    return text


def _authors_section(keys: list[Key], groups: dict, summary: dict, opts: dict) -> list[str]:
    threshold = opts["threshold"]
    L = ["## Evidence accumulation (Fig. 3C): ours next to the authors'", ""]
    rows = [k for k in keys if k[1] == "evidence_accumulation" and k[3] == "ei"]
    if not rows:
        return L + ["No evidence-accumulation runs on the E/I network yet.", ""]
    L += [
        "| grid | rule | iterations | batch | n | final loss, authors' def. (pts) | published "
        "| Δ / published SD | p, ours vs the authors' runs | excluded: \\|Δ\\| ≥ "
        "| final loss, ours (last point) "
        "| accuracy, last point | published "
        f"| iters to {threshold:.0%}, authors' def. (median) | published "
        f"| iters to {threshold:.0%}, ours |",
        "|---|---|---:|---:|---:|---|---|---:|---:|---:|---|---|---|---:|---:|---|",
    ]
    for k in rows:
        s = summary[k]
        a = AUTHORS.get(k[2])
        batches = sorted({r.batch_size for r in groups[k] if r.batch_size is not None})
        # only runs of the published length and batch are set against the published numbers
        if (
            a
            and s["iterations"] == [PUBLISHED_PROTOCOL["iterations"]]
            and batches == [PUBLISHED_PROTOCOL["batch_size"]]
        ):
            losses = [p["window_loss"] for p in _per_run(groups[k], opts)]
            vs = versus_published(losses, a["loss"], a["loss_sd"], AUTHORS_RUNS)
            z = f"{vs['z']:+.2f}" + (" ✓" if abs(vs["z"]) <= 1 else "")
            pval = "—" if math.isnan(vs["p"]) else f"{vs['p']:.2g}"
            excl = _fmt(vs["excluded"], math.nan, 3)
            pub = (_fmt(a["loss"], a["loss_sd"]), f"{a['accuracy']:.2f}", f"{a['iters80']:g}")
        elif a:
            z, pval, excl, pub = "other protocol", "—", "—", ("—", "—", "—")
        else:
            z, pval, excl, pub = "—", "—", "—", ("—", "—", "—")
        L += [
            f"| {k[0]} | {k[2]} | {'/'.join(map(str, s['iterations']))} | "
            f"{'/'.join(map(str, batches)) or '?'} | {s['n']} | "
            f"{_fmt(s['window_loss_mean'], s['window_loss_sd'])} ({_fmt_points(s['window_points'])}) "
            f"| {pub[0]} | {z} | {pval} | {excl} | {_fmt(s['loss_mean'], s['loss_sd'])} | "
            f"{_fmt(s['acc_mean'], s['acc_sd'], 2)} | {pub[1]} | "
            f"{_fmt(s['smoothed_iters_median'], math.nan, 0)} | {pub[2]} | {_fmt_iters(s)} |"
        ]
    L += [
        "",
        f"Published: Liu et al. 2021 PNAS, {AUTHORS_RUNS} runs a rule, B = 64, 2000 iterations "
        '(docs/design.md, "Training protocol"). Δ / published SD: (our mean − published '
        "mean) / published SD on the authors' definition; ✓ within one published SD. p: Welch's "
        "test of our runs against the authors' runs from the published mean ± SD (two-sided; a "
        "small p says our runs and theirs differ by more than seed-to-seed spread; they share no "
        "seeds, so the test is unpaired). Excluded: the difference |our mean − published mean| "
        "that two one-sided Welch tests at α = 0.05 reject, the far end of the 90 % interval; "
        "smaller differences are not excluded. Only runs of "
        "the published length and batch (2000 iterations, B = 64) are set against the published "
        "numbers.",
        "",
    ]
    for grid in sorted({k[0] for k in rows}):
        for label, field in (
            ("the authors' definition", "window_loss_mean"),
            ("ours", "loss_mean"),
        ):
            means = {k[2]: summary[k][field] for k in rows if k[0] == grid}
            if not all(r in means and not math.isnan(means[r]) for r in RULE_ORDER):
                continue
            order = sorted(RULE_ORDER, key=means.get)
            holds = order == list(RULE_ORDER)
            L += [
                f"- grid `{grid}`, {label}: mean final loss {' < '.join(order)} — the paper's "
                f"BPTT < MDGL < e-prop {'**holds**' if holds else '**does not hold**'}."
            ]
    return L + [""]


def _groups_section(keys: list[Key], summary: dict, threshold: float) -> list[str]:
    L = ["## All groups", ""]
    L += [
        "| grid | task | rule | structure | n | seeds | iterations | final loss, authors' def. "
        "(pts) | final loss, ours | accuracy, last point | iters to 80 %, authors' def. | "
        "iters to 80 %, ours | per-seed, ours | s / iteration |",
        "|---|---|---|---|---:|---|---:|---|---|---|---:|---|---|---:|",
    ]
    for k in keys:
        s = summary[k]
        has_acc = not math.isnan(s["acc_mean"])
        per_seed = ", ".join("—" if h is None else str(h) for h in s["iters"])
        L += [
            f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {s['n']} | {','.join(map(str, s['seeds']))} | "
            f"{'/'.join(map(str, s['iterations']))} | "
            f"{_fmt(s['window_loss_mean'], s['window_loss_sd'], 4)} "
            f"({_fmt_points(s['window_points'])}) | {_fmt(s['loss_mean'], s['loss_sd'], 4)} | "
            f"{_fmt(s['acc_mean'], s['acc_sd'], 2) if has_acc else 'n/a'} | "
            f"{_fmt(s['smoothed_iters_median'], math.nan, 0) if has_acc else 'n/a'} | "
            f"{_fmt_iters(s) if has_acc else 'n/a'} | {per_seed if has_acc else 'n/a'} | "
            f"{_fmt(s['seconds_per_iteration'], math.nan, 2)} |"
        ]
    L += [
        "",
        f'Iterations to {threshold:.0%}, authors\' definition: median over seeds; "never" when '
        "more than half of the seeds never reach it. Pattern generation has no accuracy (MSE "
        "loss).",
        "",
    ]
    return L


def _family(a: Key, b: Key) -> tuple[str, ...]:
    """The family of tests a comparison belongs to, for Holm's correction: the rule pairs on one
    network, one contrast of two datasets' networks (its rules), or one data gate's controls."""
    grid, task = a[0], a[1]
    if a[2] != b[2]:
        return ("rules", grid, task, str(_neurons(a[2], a[3])))
    if _neurons(b[2], b[3]) is not None:
        first = _neurons(a[2], a[3])
        return ("contrast", grid, task, f"{first} vs {_neurons(b[2], b[3])}")
    dataset, _ = repro_grid.parse_structure(a[3])
    return ("gate", grid, task, str(dataset))


def _family_name(f: tuple[str, ...]) -> str:
    kind, grid, task, what = f
    if kind == "rules":
        return f"`{grid}` · {task} · rules on the {what} network"
    if kind == "contrast":
        return f"`{grid}` · {task} · each rule on the {what} network"
    return f"`{grid}` · {task} · {what} data gate against its controls"


def _pair_name(a: Key, b: Key) -> str:
    return f"{a[2]} · {a[3]} vs {b[2]} · {b[3]}"


def _by_seed(runs: Sequence[Run], opts: dict[str, Any], field: str) -> dict[int, float]:
    return {r.seed: p[field] for r, p in zip(runs, _per_run(runs, opts), strict=True)}


def _statistics_section(
    keys: list[Key], groups: dict, opts: dict[str, Any], contrasts: dict[str, list[list[str]]]
) -> list[str]:
    """Two sections: the comparisons whose arms share seeds (paired, docs/design.md, "Summary
    statistics"), and those whose arms do not (Welch, Hedges' g, Mann–Whitney)."""
    pairs = _comparisons(keys, contrasts)
    head = "## Statistics, paired: arms that share seeds (final loss, authors' definition)"
    if not pairs:
        return [head, "", "No pairs of groups to compare yet.", ""]
    paired_rows, unpaired_pairs = [], []
    for a, b in pairs:
        la = _by_seed(groups[a], opts, "window_loss")
        lb = _by_seed(groups[b], opts, "window_loss")
        # seed k of either arm saw the same batches (and, on one network, the same initial
        # weights), so the arms' values are paired by seed when both have the same seeds
        if set(la) == set(lb) and len(la) >= 2:
            seeds = sorted(la)
            c = paired([la[k] for k in seeds], [lb[k] for k in seeds])
            paired_rows.append((a, b, c, _family(a, b)))
        else:
            unpaired_pairs.append((a, b))
    L: list[str] = [head, ""]
    if paired_rows:
        holm_p: dict[int, float] = {}
        families: dict[tuple[str, ...], list[int]] = {}
        for i, (_, _, _, f) in enumerate(paired_rows):
            families.setdefault(f, []).append(i)
        for members in families.values():
            for i, q in zip(members, holm([paired_rows[i][2]["p_t"] for i in members])):
                holm_p[i] = q
        L += [
            "| grid | task | A | B | pairs | mean A | mean B | A − B, paired [95 % CI] | r "
            "| p (paired t) | p (Wilcoxon) | p (Holm, family) | excluded: \\|A − B\\| ≥ "
            "| smallest detectable difference |",
            "|---|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for i, (a, b, c, f) in enumerate(paired_rows):
            L += [
                f"| {a[0]} | {a[1]} | {a[2]} · {a[3]} | {b[2]} · {b[3]} | {c['n']} | "
                f"{_fmt(c['mean_a'], math.nan, 4)} | {_fmt(c['mean_b'], math.nan, 4)} | "
                f"{_fmt_ci(c['diff'], c['diff_low'], c['diff_high'], 4)} | "
                f"{_fmt(c['r'], math.nan, 2)} | {_fmt_p(c['p_t'])} | "
                f"{_fmt_p(c['p_wilcoxon'])} | {_fmt_p(holm_p[i])} ({len(families[f])}) | "
                f"{_fmt(c['excluded'], math.nan, 4)} | {_fmt(c['detectable'], math.nan, 4)} |"
            ]
        ns = sorted({c["n"] for _, _, c, _ in paired_rows})
        L += [
            "",
            "Seed k of every arm of a grid draws the same training and validation batches, and "
            "arms on one network start from the same weights, so two arms' final losses are "
            "compared seed by seed: A − B is the mean of the per-seed differences with its t "
            "interval; r the correlation of the two arms across seeds (what pairing gains: the "
            "SD of a difference shrinks with r). Two-sided paired t-test (`scipy.stats."
            "ttest_rel`) and Wilcoxon signed-rank test (exact for few pairs without ties: its "
            "smallest p is 0.0625 at 5 pairs, so it cannot reach 0.05 there). p (Holm, family): "
            "the paired t p adjusted by Holm's step-down method within its family (in brackets "
            "the family's size): the rule pairs on one network, the rules of one contrast of two "
            "networks, or the controls of one data gate. **Excluded**: the smallest difference "
            "δ that two one-sided paired t-tests (TOST, α = 0.05) reject, i.e. the larger "
            "absolute end of the 90 % interval of A − B: the data exclude |A − B| ≥ δ, not "
            "smaller differences. Smallest detectable difference: what a two-sided paired t-test "
            "at α = 0.05 finds with probability 0.8 ("
            + ", ".join(f"{detectable_effect_paired(n):.2f} SDs of the differences at {n} pairs"
                        for n in ns)
            + "), in loss units.",
            "",
            "Per family (family-wise α = 0.05 by Holm):",
            "",
        ]  # fmt: skip
        for f, members in families.items():
            differ = [i for i in members if holm_p[i] <= 0.05]
            same = [i for i in members if i not in differ]
            parts = []
            if differ:
                parts.append(
                    "differ after Holm: "
                    + ", ".join(_pair_name(paired_rows[i][0], paired_rows[i][1]) for i in differ)
                )
            if same:
                bounds = [paired_rows[i][2]["excluded"] for i in same]
                bounds = [v for v in bounds if not math.isnan(v)]
                low = min(holm_p[i] for i in same)
                text = (
                    f"{'no comparison differs' if not differ else 'the others do not'} "
                    f"(smallest adjusted p {_fmt_p(low)})"
                )
                if bounds:
                    # the bound that holds for every comparison of the family is the largest
                    text += f"; the data exclude differences of {max(bounds):.2g} or more" + (
                        f" (per comparison {min(bounds):.2g}–{max(bounds):.2g})"
                        if len(bounds) > 1
                        else ""
                    )
                parts.append(text)
            L += [f"- {_family_name(f)} ({len(members)} comparisons): {'; '.join(parts)}."]
        L += [""]
        L += _iterations_table(paired_rows, groups, opts)
    else:
        L += ["No two arms share their seeds.", ""]
    L += _unpaired_section(unpaired_pairs, groups, opts)
    return L


def _iterations_table(paired_rows: list, groups: dict, opts: dict[str, Any]) -> list[str]:
    """Iterations to the threshold (authors' definition), seed by seed, for the paired
    comparisons of tasks with an accuracy; tested only where every seed of both arms gets there
    (a seed that never does has no finite difference), Holm-adjusted in the same families."""
    rows = [(a, b, f) for a, b, _, f in paired_rows if _has_accuracy(groups[a])]
    if not rows:
        return []
    tests = []
    for a, b, f in rows:
        ia = _by_seed(groups[a], opts, "smoothed_iters")
        ib = _by_seed(groups[b], opts, "smoothed_iters")
        seeds = sorted(ia)
        xa, xb = [ia[k] for k in seeds], [ib[k] for k in seeds]
        never = sum(not math.isfinite(v) for v in (*xa, *xb))
        tests.append((a, b, f, xa, xb, never, None if never else paired(xa, xb)))
    adjusted: dict[int, float] = {}
    for f in {t[2] for t in tests}:
        members = [i for i, t in enumerate(tests) if t[2] == f and t[6] is not None]
        for i, q in zip(members, holm([tests[i][6]["p_t"] for i in members])):
            adjusted[i] = q
    L = [
        f"Iterations to {opts['threshold']:.0%} (authors' definition: the first crossing of the "
        f"{opts['points']}-point smoothed accuracy), seed by seed, for the same pairs; tested "
        "where every seed of both arms gets there, Holm-adjusted within the same families "
        "(among the comparisons tested), not across the two measures; excluded as above, in "
        "iterations:",
        "",
        "| grid | task | A | B | pairs | median A | median B | A − B, paired [95 % CI] "
        "| p (paired t) | p (Wilcoxon) | p (Holm, family) | excluded: \\|A − B\\| ≥ |",
        "|---|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for i, (a, b, _, xa, xb, never, c) in enumerate(tests):
        med = (_fmt(float(np.median(xa)), math.nan, 0), _fmt(float(np.median(xb)), math.nan, 0))
        if c is None:
            cells = f"— ({never} of {2 * len(xa)} runs never get there) | — | — | — | —"
        else:
            cells = (
                f"{_fmt_ci(c['diff'], c['diff_low'], c['diff_high'], 0)} | {_fmt_p(c['p_t'])} | "
                f"{_fmt_p(c['p_wilcoxon'])} | {_fmt_p(adjusted.get(i, math.nan))} | "
                f"{_fmt(c['excluded'], math.nan, 0)}"
            )
        L += [
            f"| {a[0]} | {a[1]} | {a[2]} · {a[3]} | {b[2]} · {b[3]} | {len(xa)} | {med[0]} "
            f"| {med[1]} | {cells} |"
        ]
    return L + [""]


def _unpaired_section(
    pairs: list[tuple[Key, Key]], groups: dict, opts: dict[str, Any]
) -> list[str]:
    L = [
        "## Statistics, unpaired: arms that do not share seeds (final loss, authors' definition)",
        "",
    ]
    if not pairs:
        return L + ["Every comparison above pairs its arms by seed; none is left unpaired.", ""]
    L += [
        "| grid | task | A | B | n A | n B | mean A − mean B [95 % CI] | Welch t (df) | p (Welch) "
        "| Hedges' g [95 % CI] | p (Mann–Whitney) | smallest detectable difference |",
        "|---|---|---|---|---:|---:|---|---|---:|---|---:|---:|",
    ]
    sizes = set()
    for a, b in pairs:
        xa = [p["window_loss"] for p in _per_run(groups[a], opts)]
        xb = [p["window_loss"] for p in _per_run(groups[b], opts)]
        c = compare(xa, xb)
        sizes.add((c["n_a"], c["n_b"]))
        tdf = "—" if math.isnan(c["t"]) else f"{c['t']:.2f} ({c['df']:.1f})"
        L += [
            f"| {a[0]} | {a[1]} | {a[2]} · {a[3]} | {b[2]} · {b[3]} | {c['n_a']} | {c['n_b']} | "
            f"{_fmt_ci(c['diff'], c['diff_low'], c['diff_high'], 4)} | {tdf} | "
            f"{_fmt_p(c['p_welch'])} | {_fmt_ci(c['g'], c['g_low'], c['g_high'], 2)} | "
            f"{_fmt_p(c['p_mwu'])} | {_fmt(c['detectable'], math.nan, 4)} |"
        ]
    L += [
        "",
        "These arms do not have the same seeds, so their runs are independent samples. "
        "Two-sided tests over seeds (one final loss per seed), no correction for the number of "
        "comparisons. CI of the difference: Welch (`scipy.stats.ttest_ind`, unequal "
        "variances); Hedges' g: difference over the pooled SD, small-sample corrected, interval "
        "from the noncentral t distribution. The smallest possible two-sided Mann–Whitney p is "
        "0.1 at 3 against 3 and 0.008 at 5 against 5.",
        "",
    ]
    for n_a, n_b in sorted(sizes):
        delta = detectable_effect(n_a, n_b)
        if math.isnan(delta):
            continue
        L += [
            f"**Power.** With {n_a} seeds against {n_b}, a two-sided t-test at α = 0.05 detects "
            f"a difference of {delta:.2f} pooled SDs with probability 0.8; smaller true "
            "differences are likely to be missed. The last column gives that difference in loss "
            "units (× the pooled SD of the two groups): a difference below it is not ruled out "
            "by a non-significant test.",
            "",
        ]
    return L


def _per_run(runs: Sequence[Run], opts: dict[str, Any]) -> list[dict[str, Any]]:
    return [run_summary(r, **opts) for r in runs]


def arithmetic_version(run: Run) -> int | None:
    """The arithmetic version a run was trained under (``metrics.arithmetic_version`` of its
    ``summary.json``, written by ``neuromod train``); None for runs from before versioning."""
    for where in (run.summary.get("metrics") or {}, run.summary):
        value = where.get("arithmetic_version")
        if value is not None:
            return int(value)
    return None


def _version_label(run: Run) -> str:
    """``before versioning``, ``arithmetic version N``, or, for a run resumed across versions on
    purpose (``--allow-arithmetic-change``), both and the iteration where it changed."""
    version = arithmetic_version(run)
    if version is None:
        return "before versioning"
    label = f"arithmetic version {version}"
    changed = (run.summary.get("metrics") or {}).get("arithmetic_version_resumed_from")
    if isinstance(changed, dict):
        old = changed.get("version")
        was = "before versioning" if old is None else f"version {old}"
        label += f" (resumed from {was} at iteration {changed.get('iteration')})"
    return label


def _code_versions(found: Sequence[Run], grid_names: Sequence[str]) -> list[str]:
    """Per grid, the commits its runs started from and the arithmetic version(s) they ran
    under (docs/design.md, "Reproducibility")."""
    L = [
        "Code each grid's runs ran under: the git commit a job started from and its *arithmetic "
        "version* (`ARITHMETIC_VERSION` in `neuromod_models/_arithmetic.py`, raised whenever a "
        "change alters floating-point results; the number of runs in brackets). A run is "
        "reproduced bit for bit by its command under its arithmetic version; under another one "
        "the losses can drift apart, so rerun a run from before versioning at its own commit, "
        "and `neuromod train` refuses to resume a checkpoint of another arithmetic version.",
        "",
    ]
    for g in grid_names:
        runs = [r for r in found if r["grid"] == g]
        if not runs:
            continue
        by_version: dict[str, dict[str, int]] = {}
        for r in runs:
            commit = str(r.summary.get("git_commit") or "unknown")[:7]
            commits = by_version.setdefault(_version_label(r), {})
            commits[commit] = commits.get(commit, 0) + 1
        parts = []
        # runs from before versioning first, then by version
        for label in sorted(by_version, key=lambda v: (v != "before versioning", v)):
            commits = by_version[label]
            listed = ", ".join(
                f"`{c}` ({n})" for c, n in sorted(commits.items(), key=lambda kv: (-kv[1], kv[0]))
            )
            parts.append(f"{label}, commit{'s' if len(commits) > 1 else ''} {listed}")
        L += [f"- `{g}` ({len(runs)} runs): {'; '.join(parts)}"]
    return L + [""]


def _provenance_section(
    found: list[Run],
    keys: list[Key],
    groups: dict,
    configs: dict,
    grid_names: list[str],
) -> list[str]:
    L = ["## Machine, run time and provenance", ""]
    machines = {json.dumps(r.summary.get("machine", {}), sort_keys=True) for r in found}
    for m in sorted(machines):
        d = json.loads(m)
        if d:
            L += [
                f"- machine: {d.get('cpu', '?')}, {d.get('cores', '?')} cores, "
                f"{d.get('memory_gb', '?')} GB RAM (shared with other work while these ran: "
                "timings are noisy upper bounds)"
            ]
    tv = sorted({str(r.summary.get("torch")) for r in found if r.summary.get("torch")})
    if tv:
        L += [f"- torch {', '.join(tv)}, CPU, one thread per job, `nice -n 19`"]
    total = sum(r.seconds or 0.0 for r in found)
    L += [
        f"- total training time of the runs listed: {total / 3600:.2f} h (sum over jobs, "
        "wall-clock inside `train`)"
    ]
    commits = sorted(
        {str(r.summary.get("git_commit"))[:10] for r in found if r.summary.get("git_commit")}
    )
    if commits:
        L += [f"- git commits the runs started from ({len(commits)}): {', '.join(commits)}"]
    dirty = [r for r in found if (r.summary.get("uncommitted_files_in_models_at_start") or 0) > 0]
    if found:
        L += [
            f"- runs that started while files under neuromod_models/ or neuromod_data/ had uncommitted "
            f"changes: {len(dirty)} of {len(found)} (see each summary.json)"
        ]
    L += ["", "Example training command of each group (every run's own is in its `summary.json`):"]
    L += ["", "```bash"]
    L += [groups[k][0].summary["command"] for k in keys if groups[k][0].summary.get("command")]
    L += ["```", ""]
    for g in grid_names:
        if g in configs:
            path, _ = configs[g]
            L += [
                f"Config of grid `{g}` (`{path.as_posix()}`):",
                "",
                "```yaml",
                path.read_text().rstrip(),
                "```",
                "",
            ]
    return L
