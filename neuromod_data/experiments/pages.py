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
versions each grid's runs ran under. A 2 × 2 design (``factorials``) gets its own section: cell
means, main effects and the interaction as per-seed contrasts, and an interaction figure
(:mod:`neuromod_data.experiments.page_factorial`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuromod_data._files import atomic_path, check_output
from neuromod_data.errors import InputFileError
from neuromod_data.experiments import grid as repro_grid
from neuromod_data.experiments.curves import curves_figure
from neuromod_data.experiments.page_factorial import DESIGNS, FactorialDesign, _factorial_section
from neuromod_data.experiments.page_grids import (
    estimate_seconds,
    grid_configs,
    load_timings,
    pending,
)
from neuromod_data.experiments.page_provenance import _code_versions, _provenance_section
from neuromod_data.experiments.page_provenance import arithmetic_version as arithmetic_version
from neuromod_data.experiments.page_stage2 import alignment_seconds, stage2_section
from neuromod_data.experiments.page_stats import _neurons, _statistics_section
from neuromod_data.experiments.page_tables import (
    AUTHORS,
    Key,
    _authors_section,
    _groups_section,
    _sort_key,
)
from neuromod_data.experiments.page_tables import AUTHORS_RUNS as AUTHORS_RUNS
from neuromod_data.experiments.page_tables import PUBLISHED_PROTOCOL as PUBLISHED_PROTOCOL
from neuromod_data.experiments.page_tables import RULE_ORDER as RULE_ORDER
from neuromod_data.experiments.runs import REPRODUCTION, Run, find_runs, group_runs
from neuromod_data.experiments.summary import (
    SMOOTHING,
    THRESHOLD,
    WINDOW,
    summarize,
)

__all__ = ["AUTHORS", "build_page", "estimate_seconds", "grid_configs", "pending"]


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
    factorials: Sequence[FactorialDesign] = DESIGNS,
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
    factorials
        The 2 × 2 designs whose main effects and interaction get their own section
        (:mod:`~neuromod_data.experiments.page_factorial`; by default issue 21's
        ``m1_factorial``); a design without runs is left out.

    The stage-2 gate grid's section counts the stage's alignment in its budget: the seconds in
    ``<runs>/../alignment/stage2/<task>/config.json`` beside the first runs folder that has them
    (:func:`~neuromod_data.experiments.page_stage2.alignment_seconds`).
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

    # --- 2 × 2 designs: main effects and interaction, paired by seed
    def factorial_figure(fig: Any, design: FactorialDesign) -> list[str]:
        path = figures / f"{design.grid}_interaction.png"
        _save(fig, path)
        return [f"![{design.grid}: interaction plot]({_relpath(path, out.parent)})", ""]

    L += _factorial_section(groups, opts, configs, designs=factorials, figure=factorial_figure)
    # --- the gate question's stage 2 grid: arms against the data gate, and the pilot's plan
    L += stage2_section(groups, opts, alignment=alignment_seconds(roots))

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
