"""The results page's 2 × 2 factorial section: cell means, main effects and the interaction as
per-seed contrasts (:func:`neuromod_data.experiments.factorial.factorial_effects`), and the
interaction figure (:mod:`neuromod_data.experiments.pages`).

A design names its grid, its two factors with their levels (reference level first), how a cell's
structure is named from the levels, and the rules it trains (with the gate MDGL uses). Two
measures per run, both on the validation total loss (the authors' final-loss quantity):

* the final loss, authors' definition (mean over the last 100 iterations);
* the mean loss over the first :data:`EARLY` iterations (the area under the curve divided by
  the iterations: how fast the loss falls; :func:`~neuromod_data.experiments.summary.mean_until`).

Only seeds that every cell of a rule has are used (the design stays balanced and paired). Until
the planned number of seeds is in every cell the section is marked *interim* and draws no
conclusion; once it is, each effect is called different from zero only when Holm's correction
over the three effects of one rule and measure keeps its paired t p ≤ 0.05, and otherwise the
section states the effect size the data exclude.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neuromod_data.experiments import grid as repro_grid
from neuromod_data.experiments.factorial import factorial_effects
from neuromod_data.experiments.page_tables import _fmt, _fmt_ci, _fmt_p
from neuromod_data.experiments.stats import detectable_effect_paired, holm
from neuromod_data.experiments.summary import mean_until, run_summary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DESIGNS", "EARLY", "FactorialDesign", "factorial_figure", "factorial_values"]

#: iterations over which the early mean loss (area under the curve / iterations) is taken
EARLY = 1000

#: (column of :func:`factorial_values`, its name on the page)
MEASURES: tuple[tuple[str, str], ...] = (
    ("final", "final loss, authors' definition"),
    ("early", f"mean loss over iterations 0–{EARLY:,}"),
)


@dataclass(frozen=True)
class FactorialDesign:
    """A 2 × 2 design trained as one grid.

    Attributes
    ----------
    grid, task
        Where its runs are (``<grid>/<task>/<rule>/<structure>/seed<k>``).
    factors
        The two factors in order, each with its two levels, reference level first.
    structure
        The structure name of a cell, formatted with the factors' levels (e.g.
        ``"m1_{neurons}_{connectivity}"``); a rule with a gate appends ``-<gate>``.
    rules
        Rule → gate (``None`` for a rule without one), in the page's order.
    labels
        Level, factor or rule → how the page names it.
    seeds
        Seeds planned per cell where no grid config says (the config's seeds win).
    """

    grid: str
    task: str
    factors: Mapping[str, tuple[str, str]]
    structure: str
    rules: Mapping[str, str | None]
    labels: Mapping[str, str]
    seeds: int = 10

    def cell(self, rule: str, levels: tuple[str, str]) -> str:
        """The structure name of one cell under ``rule``.

        Examples
        --------
        >>> M1_FACTORIAL.cell("mdgl", ("fitted", "billeh"))
        'm1_fitted_billeh-ones'
        """
        names = list(self.factors)
        name = self.structure.format(**dict(zip(names, levels, strict=True)))
        gate = self.rules[rule]
        return name if gate is None else f"{name}-{gate}"

    def label(self, key: str) -> str:
        return self.labels.get(key, key)


#: issue 21's design: {paper's, fitted} neurons × {uniform 10 %, Billeh} connectivity,
#: workflows/config/m1_factorial.yaml
M1_FACTORIAL = FactorialDesign(
    grid="m1_factorial",
    task="evidence_accumulation",
    factors={"neurons": ("paper", "fitted"), "connectivity": ("uniform", "billeh")},
    structure="m1_{neurons}_{connectivity}",
    rules={"bptt": None, "mdgl": "ones"},
    labels={
        "paper": "paper's",
        "fitted": "fitted",
        "uniform": "uniform 10 %",
        "billeh": "Billeh",
        "bptt": "BPTT",
        "mdgl": "MDGL (`ones` gate)",
    },
    seeds=10,
)

DESIGNS: tuple[FactorialDesign, ...] = (M1_FACTORIAL,)


def _cells(design: FactorialDesign) -> list[tuple[str, str]]:
    (a1, a2), (b1, b2) = design.factors.values()
    return [(a1, b1), (a2, b1), (a1, b2), (a2, b2)]


def factorial_values(
    groups: Mapping[tuple[str, ...], Sequence[Any]],
    design: FactorialDesign,
    rule: str,
    opts: Mapping[str, Any],
    *,
    early: float = EARLY,
) -> pd.DataFrame:
    """One row per run of ``rule`` in a cell of ``design``: the two levels, ``seed``, ``final``
    (the authors' final loss) and ``early`` (the mean validation total loss over iterations
    0–``early``).

    ``groups`` maps (grid, task, rule, structure) to runs, as the page groups them; ``opts`` are
    the authors' definitions (``window``, ``points``, ``threshold``).
    """
    fa, fb = design.factors
    rows = []
    for levels in _cells(design):
        key = (design.grid, design.task, rule, design.cell(rule, levels))
        for run in groups.get(key, []):
            v = run.validation
            rows.append(
                {
                    fa: levels[0],
                    fb: levels[1],
                    "seed": int(run.seed),
                    "final": run_summary(run, **opts)["window_loss"],
                    "early": mean_until(v["iteration"], v["total_loss"], until=early),
                }
            )
    return pd.DataFrame(rows, columns=[fa, fb, "seed", "final", "early"])


def _shared(values: pd.DataFrame, design: FactorialDesign) -> list[int]:
    """The seeds that every cell has."""
    fa, fb = design.factors
    seeds = None
    for a, b in _cells(design):
        have = set(values.loc[(values[fa] == a) & (values[fb] == b), "seed"])
        seeds = have if seeds is None else seeds & have
    return sorted(seeds or ())


def _planned(design: FactorialDesign, rule: str, configs: Mapping[str, Any]) -> int:
    """Seeds the grid config gives every cell of ``rule`` (the design's count without one)."""
    if design.grid not in configs:
        return design.seeds
    _, rc = configs[design.grid]
    try:
        jobs = repro_grid.jobs(rc)
    except (KeyError, TypeError, ValueError):
        return design.seeds
    per_cell = [
        {j["seed"] for j in jobs if j["task"] == design.task and j["rule"] == rule
         and j["structure"] == design.cell(rule, c)}
        for c in _cells(design)
    ]  # fmt: skip
    return len(set.intersection(*per_cell))


def _effect_names(design: FactorialDesign) -> list[str]:
    (fa, (a1, a2)), (fb, (b1, b2)) = design.factors.items()
    lab = design.label
    return [
        f"{fa}: {lab(a2)} − {lab(a1)} (mean over {fb})",
        f"{fb}: {lab(b2)} − {lab(b1)} (mean over {fa})",
        f"interaction: ({lab(a2)} − {lab(a1)}) on {lab(b2)} − on {lab(b1)}",
    ]


def _ci(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and its 95 % t interval (NaN ends for fewer than two values)."""
    from scipy import stats

    m = float(x.mean()) if x.size else math.nan
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def factorial_figure(
    values: Mapping[str, pd.DataFrame], design: FactorialDesign, *, title: str = ""
) -> Figure:
    """Interaction plot: one column per rule, one row per measure; the second factor's levels on
    the x axis, one line per level of the first, cell means over the shared seeds with their 95 %
    t intervals (none for a single seed) and each seed as a small dot.

    Parameters
    ----------
    values
        Rule → :func:`factorial_values` restricted to the seeds every cell has.

    Examples
    --------
    >>> fig = factorial_figure({}, M1_FACTORIAL)
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    rules = [r for r in design.rules if r in values and len(values[r])]
    ncols = max(len(rules), 1)
    fig = Figure(figsize=(4.2 * ncols + 0.6, 3.4 * len(MEASURES)), layout="constrained")
    if not rules:
        fig.subplots(1, 1)
        return fig
    axes = fig.subplots(len(MEASURES), ncols, squeeze=False)
    (fa, levels_a), (fb, levels_b) = design.factors.items()
    colors = ("#1f77b4", "#d62728")
    for j, rule in enumerate(rules):
        v = values[rule]
        n = v["seed"].nunique()
        for i, (column, name) in enumerate(MEASURES):
            ax = axes[i][j]
            for k, (a, color) in enumerate(zip(levels_a, colors, strict=True)):
                xs, means, lows, highs = [], [], [], []
                for x, b in enumerate(levels_b):
                    y = v.loc[(v[fa] == a) & (v[fb] == b), column].dropna().to_numpy(float)
                    if not y.size:
                        continue
                    m, lo, hi = _ci(y)
                    shift = (k - 0.5) * 0.08  # the two lines side by side, not on top
                    xs.append(x + shift)
                    means.append(m)
                    lows.append(m - lo if not math.isnan(lo) else 0.0)
                    highs.append(hi - m if not math.isnan(hi) else 0.0)
                    ax.plot(np.full(y.size, x + 2.5 * shift), y, ".", color=color, alpha=0.35,
                            markersize=4)  # fmt: skip
                if xs:
                    ax.errorbar(xs, means, yerr=[lows, highs], color=color, marker="o",
                                capsize=3, label=f"{design.label(a)} {fa}")  # fmt: skip
            ax.set_xticks(range(len(levels_b)), [design.label(b) for b in levels_b])
            ax.set_xlim(-0.5, len(levels_b) - 0.5)
            ax.set_xlabel(fb)
            ax.set_ylabel(name)
            ax.set_title(f"{design.label(rule).replace('`', '')} · {n} seed{'s' * (n != 1)}",
                         fontsize=9)  # fmt: skip
            ax.grid(alpha=0.3)
            # a loss is never negative; a 2-seed t interval reaches far below zero
            low, high = ax.get_ylim()
            ax.set_ylim(max(low, 0.0), high)
            if i == 0 and j == 0:
                ax.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def _factorial_section(
    groups: Mapping[tuple[str, ...], Sequence[Any]],
    opts: Mapping[str, Any],
    configs: Mapping[str, Any],
    *,
    designs: Sequence[FactorialDesign] = DESIGNS,
    figure: Any = None,
) -> list[str]:
    """The page's lines for every design with runs. ``figure(fig, design)`` saves the figure and
    returns the page's lines that show it."""
    L: list[str] = []
    for design in designs:
        if not any(k[0] == design.grid and k[1] == design.task for k in groups):
            continue
        L += _one_design(groups, design, opts, configs, figure)
    return L


def _one_design(
    groups: Mapping[tuple[str, ...], Sequence[Any]],
    design: FactorialDesign,
    opts: Mapping[str, Any],
    configs: Mapping[str, Any],
    figure: Any,
) -> list[str]:
    (fa, (a1, a2)), (fb, (b1, b2)) = design.factors.items()
    lab = design.label
    L = [
        f"## The 2 × 2 factorial: {fa} ({lab(a1)}, {lab(a2)}) × {fb} ({lab(b1)}, {lab(b2)}), "
        f"grid `{design.grid}`",
        "",
    ]
    per_rule: dict[str, pd.DataFrame] = {}
    status: dict[str, tuple[int, int]] = {}
    for rule in design.rules:
        values = factorial_values(groups, design, rule, opts)
        shared = _shared(values, design)
        per_rule[rule] = values[values["seed"].isin(shared)]
        status[rule] = (len(shared), _planned(design, rule, configs))
    complete = all(n >= planned > 0 for n, planned in status.values())
    counts = "; ".join(
        f"{lab(r)}: **{n} of the planned {planned}**" for r, (n, planned) in status.items()
    )
    if complete:
        L += [f"Seeds shared by all four cells — {counts}: the design is complete.", ""]
    else:
        L += [
            f"**Interim.** Seeds shared by all four cells — {counts}. The numbers below are "
            "computed from the shared seeds only and are not interpreted: no effect is claimed "
            "or ruled out until every cell has all its planned seeds.",
            "",
        ]
    # --- cell means
    L += [
        f"| rule | {fa} | {fb} | runs | shared seeds | "
        + " | ".join(f"{name}, mean ± SD" for _, name in MEASURES)
        + " |",
        "|---|---|---|---:|---:|" + "---|" * len(MEASURES),
    ]
    for rule in design.rules:
        every = factorial_values(groups, design, rule, opts)
        v = per_rule[rule]
        for a, b in _cells(design):
            mine = v[(v[fa] == a) & (v[fb] == b)]
            runs = int(((every[fa] == a) & (every[fb] == b)).sum())
            cells = []
            for column, _ in MEASURES:
                x = mine[column].dropna().to_numpy(float)
                sd = float(x.std(ddof=1)) if x.size > 1 else math.nan
                cells.append(_fmt(float(x.mean()) if x.size else math.nan, sd, 4))
            L += [
                f"| {lab(rule)} | {lab(a)} | {lab(b)} | {runs} | {len(mine)} | "
                + " | ".join(cells)
                + " |"
            ]
    L += [""]
    # --- effects
    L += [
        "| rule | measure | effect | pairs | estimate, paired [95 % CI] | p (paired t) "
        "| p (Wilcoxon) | p (Holm, 3 effects) | smallest detectable effect (power 0.8) "
        "| excluded: \\|effect\\| ≥ |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    names = _effect_names(design)
    verdicts: list[str] = []
    ns: set[int] = set()
    for rule in design.rules:
        v = per_rule[rule]
        for column, measure in MEASURES:
            table = v[[fa, fb, "seed", column]].dropna()
            if table["seed"].nunique() == 0:
                continue
            try:
                eff = factorial_effects(table, factors=design.factors, value=column)
            except ValueError:
                continue  # a cell without this measure (e.g. runs shorter than EARLY)
            adjusted = holm(eff["p_t"].tolist())
            for name, (_, e), q in zip(names, eff.iterrows(), adjusted, strict=True):
                ns.add(int(e["n"]))
                det = (
                    "—"
                    if math.isnan(e["detectable"])
                    else f"{e['detectable']:.4f} ({e['detectable_sd']:.2f} SD)"
                )
                L += [
                    f"| {lab(rule)} | {measure} | {name} | {e['n']} | "
                    f"{_fmt_ci(e['diff'], e['diff_low'], e['diff_high'], 4)} | "
                    f"{_fmt_p(e['p_t'])} | {_fmt_p(e['p_wilcoxon'])} | {_fmt_p(q)} | {det} | "
                    f"{_fmt(e['excluded'], math.nan, 4)} |"
                ]
                if complete and column == "final":
                    verdicts.append(_verdict(lab(rule), name, e, q))
    L += [""]
    at = sorted(n for n in ns if n >= 2)
    planned_n = sorted({p for _, p in status.values()})
    L += [
        f"Each run gives two numbers from its validation total loss: the {MEASURES[0][1]} (the "
        "mean over the last 100 iterations, as everywhere on this page) and the "
        f"{MEASURES[1][1]} (the area under the validation curve up to iteration {EARLY:,}, "
        "trapezoid rule, divided by the iterations: lower means the loss fell sooner). Cell "
        "means and every test use only the seeds that all four cells of a rule share (seed k "
        "of every cell draws the same batches). Per seed, a main effect is the difference "
        "between a factor's two levels averaged over the other factor's levels, "
        f"((A₂B₁ − A₁B₁) + (A₂B₂ − A₁B₂)) / 2, and the interaction is (A₂B₂ − A₁B₂) − "
        f"(A₂B₁ − A₁B₁), with A = {fa} and B = {fb}; negative means a lower loss. Estimate: the "
        "mean of these per-seed contrasts with its t interval; two-sided one-sample t-test "
        "and Wilcoxon signed-rank test of the contrasts (at n pairs without ties the "
        "Wilcoxon p is at least 2 / 2ⁿ: 0.5 at 2, 0.0625 at 5, 0.002 at 10); Holm's "
        "correction over the three effects of one rule and measure. Smallest detectable "
        "effect: the contrast a two-sided paired t-test at α = 0.05 finds with probability "
        "0.8 (noncentral t), in SDs of the per-seed contrast and in loss units ("
        + (
            ", ".join(f"{detectable_effect_paired(n):.2f} SDs at {n} seeds" for n in at)
            if at
            else "no SD with fewer than two seeds"
        )
        + "; "
        + ", ".join(f"{detectable_effect_paired(p):.2f} SDs at the planned {p}" for p in planned_n)
        + "). Excluded: the far end of the 90 % interval of the contrast (two one-sided tests "
        "at α = 0.05): contrasts that large or larger are ruled out, smaller ones are not.",
        "",
    ]
    if verdicts:
        L += ["On the final loss (family-wise α = 0.05 by Holm within each rule):", "", *verdicts]
        L += [""]
    if figure is not None:
        fig = factorial_figure(
            per_rule,
            design,
            title=f"{design.grid}: cell means with 95 % CIs over the shared seeds"
            + ("" if complete else " (interim)"),
        )
        L += figure(fig, design)
    return L


def _verdict(rule: str, name: str, e: pd.Series, q: float) -> str:
    """One line on one effect of a complete design, saying only what the test supports."""
    ci = _fmt_ci(e["diff"], e["diff_low"], e["diff_high"], 4)
    if not math.isnan(q) and q <= 0.05:
        return f"- {rule}, {name}: {ci}, differs from zero (Holm-adjusted p {_fmt_p(q)})."
    excl = (
        ""
        if math.isnan(e["excluded"])
        else f"; effects of {e['excluded']:.3g} or more are excluded, smaller ones are not"
    )
    return f"- {rule}, {name}: {ci}, not resolved (Holm-adjusted p {_fmt_p(q)}){excl}."
