"""The results page's section on the gate question's stage 2 training grid: each arm against the
data gate, paired by seed, and the seeds the pilot says are needed (docs/design.md, "Summary
statistics"; the preregistration in experiments/alignment/stage2/preregistration.md).

Per run two measures of the validation total loss: the mean over iterations 0–:data:`EARLY`
(the area under the curve divided by the iterations) and the authors' final loss (mean over the
last 100 iterations). Per task and measure: every arm's mean ± SD over its seeds; each control
minus the data gate over the seeds both have, with the 95 % interval, paired t and Wilcoxon p,
Holm's adjustment over the four gate controls, and the difference the seeds exclude (TOST).
The pilot's plan: from the SD of the paired AUC differences label-permuted − data (the larger of
the two tasks), the seeds that detect :data:`DIFFERENCE` with power 0.8, capped by the budget
(:data:`BUDGET_HOURS`, the alignment included). The cost of a job is the wall-clock time it
recorded; every job runs one thread, so this is an upper bound on its CPU time. Once the grid has
the seeds its plan stops at, the primary comparisons are judged against the preregistration.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from neuromod_data.experiments.page_tables import _fmt, _fmt_ci, _fmt_p
from neuromod_data.experiments.sample_size import plan_from_pilot
from neuromod_data.experiments.stats import detectable_effect_paired, holm, paired
from neuromod_data.experiments.summary import mean_until, run_summary

__all__ = [
    "ARMS",
    "BUDGET_HOURS",
    "DIFFERENCE",
    "EARLY",
    "GRID",
    "alignment_seconds",
    "stage2_values",
]

GRID = "gate_stage2"
TASKS = ("evidence_accumulation", "delayed_match")
#: (rule, structure) of each arm, the data gate first
ARMS: tuple[tuple[str, str, str], ...] = (
    ("data", "mdgl", "m1_types-data"),
    ("label-permuted", "mdgl", "m1_types-label-permuted"),
    ("ones", "mdgl", "m1_types-ones"),
    ("ei", "mdgl", "m1_types-ei"),
    ("uniform", "mdgl", "m1_types-uniform"),
    ("e-prop", "eprop", "m1_types"),
)
#: the gate controls Holm's adjustment runs over (e-prop is compared, outside the family)
CONTROLS = ("label-permuted", "ones", "ei", "uniform")
EARLY = 1000
#: the loss difference the grid is sized to detect (power 0.8, two-sided paired t, α = 0.05)
DIFFERENCE = 0.015
PILOT_SEEDS = 3
#: CPU-hours for stage 2 in all, the alignment included (preregistered)
BUDGET_HOURS = 12.0
#: the alignment's folders, beside the runs folder (``<runs>/../alignment/stage2/<task>/``)
ALIGNMENT = Path("alignment") / "stage2"
#: the comparisons the preregistration judges (the others are reported)
PRIMARY = ("label-permuted", "ones")
MEASURES = (("auc", f"mean loss over iterations 0–{EARLY:,}"), ("final", "final loss"))


def stage2_values(
    groups: Mapping[tuple[str, ...], Sequence[Any]], opts: Mapping[str, Any]
) -> pd.DataFrame:
    """One row per run of the grid: ``task``, ``arm``, ``seed``, ``auc``, ``final``."""
    rows = []
    for task in TASKS:
        for arm, rule, structure in ARMS:
            for run in groups.get((GRID, task, rule, structure), []):
                v = run.validation
                rows.append(
                    {
                        "task": task,
                        "arm": arm,
                        "seed": int(run.seed),
                        "auc": mean_until(v["iteration"], v["total_loss"], until=EARLY),
                        "final": run_summary(run, **opts)["window_loss"],
                        "seconds": math.nan if run.seconds is None else run.seconds,
                    }
                )
    return pd.DataFrame(rows, columns=["task", "arm", "seed", "auc", "final", "seconds"])


def alignment_seconds(roots: Sequence[str | os.PathLike]) -> float | None:
    """The recorded seconds of the stage-2 alignment (every task's ``config.json``), found in
    :data:`ALIGNMENT` beside the first runs folder that has it; None where there is none."""
    for root in roots:
        folder = Path(root).parent / ALIGNMENT
        files = sorted(folder.glob("*/config.json"))
        if files:
            return float(sum(json.loads(f.read_text()).get("seconds") or 0.0 for f in files))
    return None


def _complete_seeds(values: pd.DataFrame) -> list[int]:
    """Seeds with a run of every arm on every task."""
    need = len(TASKS) * len(ARMS)
    per_seed = values.groupby("seed").size()
    return sorted(int(s) for s, n in per_seed.items() if n == need)


def _column(values: pd.DataFrame, task: str, arm: str, measure: str) -> pd.Series:
    sel = values[(values["task"] == task) & (values["arm"] == arm)]
    return sel.set_index("seed")[measure]


def _paired_lists(a: pd.Series, b: pd.Series) -> tuple[list[float], list[float]]:
    seeds = sorted(set(a.index) & set(b.index))
    return [float(a[s]) for s in seeds], [float(b[s]) for s in seeds]


def _budget(values: pd.DataFrame, alignment: float | None) -> dict[str, float]:
    """Hours spent (alignment and runs), a whole seed's cost and the seeds the rest allows."""
    runs_h = float(values["seconds"].sum()) / 3600
    align_h = (alignment or 0.0) / 3600
    per_run = values.groupby("task")["seconds"].mean()  # hours of one run of each task
    per_run = {t: float(per_run.get(t, math.nan)) / 3600 for t in TASKS}
    seed_h = sum(per_run.values()) * len(ARMS)
    left = BUDGET_HOURS - align_h - runs_h
    # a seed counts once all its runs are in: what the started seeds still miss is reserved
    started = set(values["seed"])
    have = set(zip(values["task"], values["arm"], values["seed"], strict=True))
    pending_h = sum(
        per_run[t] for s in started for t in TASKS for a, _, _ in ARMS if (t, a, s) not in have
    )
    more = math.floor((left - pending_h) / seed_h) if seed_h > 0 else 0  # NaN: no cost known
    return {
        "align_h": align_h,
        "runs_h": runs_h,
        "seed_h": seed_h,
        "affordable": len(started) + max(more, 0),
    }


def _plan(values: pd.DataFrame, alignment: float | None) -> tuple[list[str], int | None]:
    """The pre-registered sample size from the pilot (or what is still missing for it), and the
    seeds the grid stops at (None while the pilot is not complete)."""
    plans, pairs = {}, {}
    # the preregistered pilot is seeds 0 to PILOT_SEEDS - 1; later seeds must not resize the grid
    pilot = values[values["seed"].isin(range(PILOT_SEEDS))]
    for task in TASKS:
        a, b = _paired_lists(
            _column(pilot, task, "label-permuted", "auc"), _column(pilot, task, "data", "auc")
        )
        pairs[task] = len(a)
        if len(a) >= 2:
            plans[task] = plan_from_pilot(a, b, DIFFERENCE)
    b = _budget(values, alignment)
    cost = (
        f"Cost so far {b['align_h'] + b['runs_h']:.2f} of the {BUDGET_HOURS:g} CPU-hours "
        f"(alignment {b['align_h']:.2f}"
        + ("" if alignment is not None else ", not found")
        + f", {len(values)} runs {b['runs_h']:.2f}; the wall-clock time each job recorded, one "
        f"thread each); a seed of all {len(TASKS) * len(ARMS)} runs costs {b['seed_h']:.2f}."
    )
    if len(plans) < len(TASKS) or min(p["n_pilot"] for p in plans.values()) < PILOT_SEEDS:
        return [
            "**Pilot: not complete** — paired seeds of label-permuted and data so far: "
            + ", ".join(f"{t} {n}" for t, n in pairs.items())
            + f" of the {PILOT_SEEDS} the preregistration sizes the grid from; no sample size "
            "and no conclusion yet. " + cost,
            "",
        ], None
    worst = max(plans, key=lambda t: plans[t]["sd_diff"])
    p = plans[worst]
    stop = max(min(p["n_needed"], b["affordable"]), PILOT_SEEDS)
    if stop >= p["n_needed"]:
        until = f"The budget allows them: the grid stops at **{stop} seeds**."
    else:
        until = (
            f"The budget allows {stop}: the grid stops there, **reduced**, and detects "
            f"{detectable_effect_paired(stop) * p['sd_diff']:.4f} with power 0.8 at the "
            "pilot's SD; nothing smaller is concluded."
        )
    return [
        f"**Pilot ({PILOT_SEEDS} seeds):** SD of the paired AUC differences label-permuted − data "
        f"{p['sd_diff']:.4f} ({worst}, the larger of the two tasks); detecting {DIFFERENCE} with "
        f"power 0.8 needs **{p['n_needed']} seeds**; the pilot's own seeds detect "
        f"{p['detectable_at_pilot']:.4f}. {cost} {until}",
        "",
    ], stop


def _verdict(task: str, name: str, c: Mapping[str, float], p_holm: float, arm: str) -> str:
    """One primary comparison against the preregistration: resolved, or what is excluded."""
    what = f"{arm} − data, {task}, {name}: {_fmt_ci(c['diff'], c['diff_low'], c['diff_high'])}"
    if p_holm < 0.05:
        side = (
            "the data gate's loss is lower" if c["diff"] > 0 else "the data gate's loss is higher"
        )
        return f"- {what}, Holm p {_fmt_p(p_holm)}: **a difference** ({side})."
    return (
        f"- {what}, Holm p {_fmt_p(p_holm)}: **not resolved**; a difference of "
        f"{_fmt(c['excluded'])} or more is excluded (TOST)."
    )


def stage2_section(
    groups: Mapping[tuple[str, ...], Sequence[Any]],
    opts: Mapping[str, Any],
    *,
    alignment: float | None = None,
) -> list[str]:
    """The page's lines (none when the grid has no run yet); ``alignment``: the seconds the
    stage's alignment took (:func:`alignment_seconds`), counted in the budget."""
    values = stage2_values(groups, opts)
    if values.empty:
        return []
    L = [
        "## The gate question, stage 2: training grid",
        "",
        "Sixteen M1 RNA types, the sparse gate, N = 500 and the readout from the IT/ET types only "
        "(`workflows/config/gate_stage2.yaml`; preregistration and the alignment that came first: "
        "[experiments/alignment/stage2/](../experiments/alignment/stage2/README.md)). Measures of "
        "the validation total loss; each control minus the data gate over the seeds both have; "
        "Holm over the four gate controls of one task and measure; *excluded*: the difference "
        "the seeds rule out (TOST, α = 0.05).",
        "",
    ]
    plan, stop = _plan(values, alignment)
    L += plan
    complete = _complete_seeds(values)
    verdicts = []
    for task in TASKS:
        if not (values["task"] == task).any():
            continue
        for measure, name in MEASURES:
            L += [f"**{task}, {name}**", ""]
            L += [
                "| arm | seeds | mean ± SD | − data, paired [95 % CI] | pairs | p (t) | "
                "p (Wilcoxon) | p (Holm) | excluded |",
                "|---|---:|---|---|---:|---:|---:|---:|---:|",
            ]
            data = _column(values, task, "data", measure)
            rows, ps = [], []
            for arm, _, _ in ARMS:
                col = _column(values, task, arm, measure).dropna()
                if col.empty:
                    continue
                sd = float(col.std(ddof=1)) if len(col) > 1 else math.nan
                head = f"| {arm} | {len(col)} | {_fmt(float(col.mean()), sd)} |"
                if arm == "data":
                    rows.append((arm, head + " — | — | — | — | — | — |"))
                    continue
                c = paired(*_paired_lists(col, data))
                if arm in CONTROLS:
                    ps.append((arm, c["p_t"]))
                rows.append((arm, (head, c)))
            adj = dict(zip([a for a, _ in ps], holm([p for _, p in ps]), strict=True))
            for arm, row in rows:
                if isinstance(row, str):
                    L.append(row)
                    continue
                head, c = row
                L.append(
                    f"{head} {_fmt_ci(c['diff'], c['diff_low'], c['diff_high'])} | {c['n']} | "
                    f"{_fmt_p(c['p_t'])} | {_fmt_p(c['p_wilcoxon'])} | "
                    f"{_fmt_p(adj.get(arm, math.nan))} | {_fmt(c['excluded'])} |"
                )
                if arm in PRIMARY:
                    verdicts.append(_verdict(task, name, c, adj.get(arm, math.nan), arm))
            L.append("")
    if stop is not None and len(complete) >= stop:
        L += [
            f"**Against the preregistration** ({len(complete)} complete seeds; the primary "
            "comparisons, each control minus the data gate, so a positive difference favours "
            "the data gate):",
            "",
            *verdicts,
            "",
        ]
    elif stop is not None:
        L += [
            f"**Interim:** {len(complete)} of the {stop} seeds complete; no comparison is judged "
            "before the grid stops.",
            "",
        ]
    return L
