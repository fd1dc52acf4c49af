"""The results page's section on the gate question's stage 2 training grid: each arm against the
data gate, paired by seed, and the seeds the pilot says are needed (docs/design.md, "Summary
statistics"; the preregistration in experiments/alignment/stage2/preregistration.md).

Per run two measures of the validation total loss: the mean over iterations 0–:data:`EARLY`
(the area under the curve divided by the iterations) and the authors' final loss (mean over the
last 100 iterations). Per task and measure: every arm's mean ± SD over its seeds; each control
minus the data gate over the seeds both have, with the 95 % interval, paired t and Wilcoxon p,
Holm's adjustment over the four gate controls, and the difference the seeds exclude (TOST).
The pilot's plan: from the SD of the paired AUC differences label-permuted − data (the larger of
the two tasks), the seeds that detect :data:`DIFFERENCE` with power 0.8.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from neuromod_data.experiments.page_tables import _fmt, _fmt_ci, _fmt_p
from neuromod_data.experiments.sample_size import plan_from_pilot
from neuromod_data.experiments.stats import holm, paired
from neuromod_data.experiments.summary import mean_until, run_summary

__all__ = ["ARMS", "DIFFERENCE", "EARLY", "GRID", "stage2_values"]

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
                    }
                )
    return pd.DataFrame(rows, columns=["task", "arm", "seed", "auc", "final"])


def _column(values: pd.DataFrame, task: str, arm: str, measure: str) -> pd.Series:
    sel = values[(values["task"] == task) & (values["arm"] == arm)]
    return sel.set_index("seed")[measure]


def _paired_lists(a: pd.Series, b: pd.Series) -> tuple[list[float], list[float]]:
    seeds = sorted(set(a.index) & set(b.index))
    return [float(a[s]) for s in seeds], [float(b[s]) for s in seeds]


def _plan(values: pd.DataFrame) -> list[str]:
    """The pre-registered sample size from the pilot (or what is still missing for it)."""
    plans = {}
    for task in TASKS:
        a, b = _paired_lists(
            _column(values, task, "label-permuted", "auc"), _column(values, task, "data", "auc")
        )
        if len(a) >= 2:
            plans[task] = plan_from_pilot(a, b, DIFFERENCE)
    if len(plans) < len(TASKS) or min(p["n_pilot"] for p in plans.values()) < PILOT_SEEDS:
        have = {t: (plans[t]["n_pilot"] if t in plans else 0) for t in TASKS}
        return [
            "**Pilot: not complete** — paired seeds of label-permuted and data so far: "
            + ", ".join(f"{t} {n}" for t, n in have.items())
            + f" of the {PILOT_SEEDS} the preregistration sizes the grid from; no sample size "
            "and no conclusion yet.",
            "",
        ]
    worst = max(plans, key=lambda t: plans[t]["sd_diff"])
    p = plans[worst]
    return [
        f"**Pilot ({PILOT_SEEDS} seeds):** SD of the paired AUC differences label-permuted − data "
        f"{p['sd_diff']:.4f} ({worst}, the larger of the two tasks); detecting {DIFFERENCE} with "
        f"power 0.8 needs **{p['n_needed']} seeds**; the pilot's own seeds detect "
        f"{p['detectable_at_pilot']:.4f}. The grid continues up to that number within its "
        "budget (12 CPU-hours), and states what its seeds detect where the budget stops it.",
        "",
    ]


def stage2_section(
    groups: Mapping[tuple[str, ...], Sequence[Any]], opts: Mapping[str, Any]
) -> list[str]:
    """The page's lines (none when the grid has no run yet)."""
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
    L += _plan(values)
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
            L.append("")
    return L
