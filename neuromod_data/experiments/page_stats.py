"""The results page's statistics: the comparisons (rules on one network, one rule on two
datasets' networks, MDGL gates), paired by seed with Holm within each family where the seeds
match, unpaired where they do not, and the iterations-to-threshold table
(:mod:`neuromod_data.experiments.pages`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neuromod_data import names
from neuromod_data.experiments import grid as repro_grid
from neuromod_data.experiments.page_tables import (
    RULE_ORDER,
    Key,
    _by_seed,
    _fmt,
    _fmt_ci,
    _fmt_p,
    _has_accuracy,
    _per_run,
)
from neuromod_data.experiments.stats import (
    compare,
    detectable_effect,
    detectable_effect_paired,
    holm,
    paired,
)

#: gates a data gate is compared with, in this order ("shuffled": older runs' grid-shuffled)
_CONTROLS = (*names.CONTROLS, "shuffled", "binary", "none")


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
