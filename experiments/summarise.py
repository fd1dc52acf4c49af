"""Build ``docs/results.md`` and ``docs/figures/*.png`` from the runs kept in ``experiments/runs``.

Every run is ``experiments/runs/<grid>/<task>/<rule>/<structure>/seed<k>/`` with ``metrics.csv``
(iteration, split, loss, accuracy) and ``summary.json`` (settings, command, machine, run time, git
commit). Runs are grouped by (grid, task, rule, structure) and summarised over seeds:

- final validation loss / accuracy: the last validation point of each run, mean ± SD (SD with
  ddof = 1, i.e. the sample standard deviation) over seeds;
- iterations to 80 % accuracy: the first validation iteration with accuracy ≥ 0.8, per seed
  (mean ± SD over the seeds that got there, and how many did);
- learning curves: validation loss (and accuracy) mean ± SD over seeds at each validation iteration
  that every seed of the group reached;
- statistics: Welch's t-test and the Mann–Whitney U test on final validation loss between groups
  (rules on the E/I network; the data gate against each control on the same neurons), with n.

Usage (from the repository root; also the last step of ``snakemake ... reproduce``)::

    python experiments/summarise.py --runs experiments/runs --out docs/results.md --figures docs/figures
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grid as repro_grid  # noqa: E402

from neuromod_data._files import atomic_path  # noqa: E402
from neuromod_data.errors import FormatError  # noqa: E402

#: Liu et al. 2021 PNAS Fig. 3C (evidence accumulation, 5 runs): final validation loss mean ± SD,
#: final accuracy, iterations to 80 % accuracy
AUTHORS = {
    "bptt": {"loss": 0.081, "loss_sd": 0.016, "accuracy": 0.98, "iters80": 140},
    "mdgl": {"loss": 0.247, "loss_sd": 0.027, "accuracy": 0.90, "iters80": 420},
    "eprop": {"loss": 0.49, "loss_sd": 0.11, "accuracy": 0.75, "iters80": 1040},
}
RULE_ORDER = ("bptt", "mdgl", "eprop")
THRESHOLD = 0.8


@dataclass
class Run:
    grid: str
    task: str
    rule: str
    structure: str
    seed: int
    metrics: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def validation(self) -> pd.DataFrame:
        v = self.metrics[self.metrics["split"] == "validation"]
        return v.drop_duplicates("iteration", keep="last").sort_values("iteration")

    @property
    def final_loss(self) -> float:
        v = self.validation
        return float(v["loss"].iloc[-1]) if len(v) else math.nan

    @property
    def final_accuracy(self) -> float:
        v = self.validation
        return float(v["accuracy"].iloc[-1]) if len(v) else math.nan

    @property
    def iterations_done(self) -> int:
        return int(self.metrics["iteration"].max()) if len(self.metrics) else 0

    def iterations_to(self, threshold: float = THRESHOLD) -> int | None:
        """First validation iteration with accuracy ≥ threshold (None: never, or no accuracy)."""
        v = self.validation.dropna(subset=["accuracy"])
        hit = v[v["accuracy"] >= threshold]
        return int(hit["iteration"].iloc[0]) if len(hit) else None

    @property
    def seconds(self) -> float | None:
        return (self.summary.get("metrics") or {}).get("seconds")


def read_metrics(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    missing = {"iteration", "split", "loss", "accuracy"} - set(df.columns)
    if missing:
        raise FormatError(f"{path}: missing column(s) {sorted(missing)}")
    df["accuracy"] = pd.to_numeric(df["accuracy"], errors="coerce")
    return df


def find_runs(root: str | Path) -> list[Run]:
    """Every ``<grid>/<task>/<rule>/<structure>/seed<k>/metrics.csv`` under ``root``."""
    runs = []
    for path in sorted(Path(root).glob("*/*/*/*/seed*/metrics.csv")):
        seed_dir = path.parent
        structure, rule, task, grid = (seed_dir.parents[i].name for i in range(4))
        summary_path = seed_dir / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        runs.append(
            Run(grid, task, rule, structure, int(seed_dir.name[4:]), read_metrics(path), summary)
        )
    return runs


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample SD (ddof = 1; NaN for fewer than two values)."""
    a = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(a) == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else math.nan


def group_runs(runs: list[Run]) -> dict[tuple[str, str, str, str], list[Run]]:
    groups: dict[tuple[str, str, str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.grid, r.task, r.rule, r.structure), []).append(r)
    for g in groups.values():
        g.sort(key=lambda r: r.seed)
    return groups


def summarise_group(runs: list[Run]) -> dict[str, Any]:
    """Mean ± SD of the final validation metrics and iterations to 80 % over the seeds of a group."""
    loss_m, loss_sd = mean_sd([r.final_loss for r in runs])
    acc_m, acc_sd = mean_sd([r.final_accuracy for r in runs])
    hits = [r.iterations_to() for r in runs]
    reached = [h for h in hits if h is not None]
    it_m, it_sd = mean_sd([float(h) for h in reached])
    secs = [r.seconds for r in runs if r.seconds is not None]
    return {
        "n": len(runs),
        "seeds": [r.seed for r in runs],
        "iterations": sorted({r.iterations_done for r in runs}),
        "loss_mean": loss_m,
        "loss_sd": loss_sd,
        "acc_mean": acc_m,
        "acc_sd": acc_sd,
        "iters80": hits,
        "iters80_mean": it_m,
        "iters80_sd": it_sd,
        "n_reached": len(reached),
        "seconds_mean": float(np.mean(secs)) if secs else math.nan,
        "seconds_per_iteration": float(
            np.mean(
                [
                    s / r.iterations_done
                    for s, r in zip(secs, runs, strict=False)
                    if r.iterations_done
                ]
            )
        )
        if secs
        else math.nan,
    }


def curves(runs: list[Run], column: str) -> pd.DataFrame:
    """Validation ``column`` mean and SD over seeds at the iterations every run reached."""
    tables = [r.validation.set_index("iteration")[column] for r in runs]
    joined = pd.concat(tables, axis=1, join="inner")
    return pd.DataFrame(
        {
            "mean": joined.mean(axis=1),
            "sd": joined.std(axis=1, ddof=1) if joined.shape[1] > 1 else np.nan,
            "n": joined.shape[1],
        }
    )


def compare(a: list[Run], b: list[Run]) -> dict[str, Any]:
    """Welch's t-test and two-sided Mann–Whitney U on final validation loss of two groups."""
    from scipy import stats

    x = np.array([r.final_loss for r in a], dtype=float)
    y = np.array([r.final_loss for r in b], dtype=float)
    out: dict[str, Any] = {"n_a": len(x), "n_b": len(y), "diff": float(x.mean() - y.mean())}
    if len(x) >= 2 and len(y) >= 2:
        t = stats.ttest_ind(x, y, equal_var=False)
        out["t"], out["p_welch"] = float(t.statistic), float(t.pvalue)
    else:
        out["t"] = out["p_welch"] = math.nan
    if len(x) >= 1 and len(y) >= 1:
        u = stats.mannwhitneyu(x, y, alternative="two-sided")
        out["u"], out["p_mwu"] = float(u.statistic), float(u.pvalue)
    else:
        out["u"] = out["p_mwu"] = math.nan
    return out


# ----------------------------------------------------------------------------- formatting


def fmt(m: float, sd: float = math.nan, digits: int = 3) -> str:
    if m is None or math.isnan(m):
        return "—"
    s = f"{m:.{digits}f}"
    return s if sd is None or math.isnan(sd) else f"{s} ± {sd:.{digits}f}"


def fmt_iters(s: dict[str, Any]) -> str:
    if s["n_reached"] == 0:
        return f"not reached (0/{s['n']})"
    body = fmt(s["iters80_mean"], s["iters80_sd"], 0)
    return f"{body} ({s['n_reached']}/{s['n']})"


def fmt_p(p: float) -> str:
    return "—" if p is None or math.isnan(p) else (f"{p:.3g}")


def sort_key(key: tuple[str, str, str, str]) -> tuple:
    grid, task, rule, structure = key
    return (
        grid,
        task,
        structure != "ei",
        structure,
        RULE_ORDER.index(rule) if rule in RULE_ORDER else 9,
    )


def plot_curves(groups: dict, keys: list, path: Path, title: str) -> bool:
    """Validation loss (and accuracy where defined) mean ± SD over seeds, one line per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_acc = any(groups[k][0].validation["accuracy"].notna().any() for k in keys)
    fig, axes = plt.subplots(
        1, 2 if has_acc else 1, figsize=(11 if has_acc else 7.5, 4), squeeze=False
    )
    for k in keys:
        runs = groups[k]
        label = f"{k[2]} · {k[3]} (n={len(runs)})"
        for ax, col in zip(axes[0], ("loss", "accuracy"), strict=False):
            c = curves(runs, col)
            if c.empty or c["mean"].isna().all():
                continue
            (line,) = ax.plot(c.index, c["mean"], label=label)
            if c["n"].iloc[0] > 1:
                ax.fill_between(
                    c.index,
                    c["mean"] - c["sd"],
                    c["mean"] + c["sd"],
                    alpha=0.2,
                    color=line.get_color(),
                )
    axes[0][0].set_ylabel("validation loss")
    losses = pd.concat([groups[k][0].validation["loss"] for k in keys])
    if (losses > 0).all() and losses.max() > 10 * losses.min():
        axes[0][0].set_yscale("log")  # MSE of pattern generation spans decades
    if has_acc:
        axes[0][1].set_ylabel("validation accuracy")
        axes[0][1].axhline(THRESHOLD, color="grey", lw=0.8, ls=":")
    for ax in axes[0]:
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title + " — mean ± SD over seeds", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------- page


def grid_configs(config_dir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """``reproduction*.yaml`` configs by grid name."""
    import yaml

    out = {}
    for p in sorted(config_dir.glob("reproduction*.yaml")):
        try:
            rc = yaml.safe_load(p.read_text())["reproduction"]
        except Exception:
            continue
        out[rc["name"]] = (p, rc)
    return out


def pending(rc: dict[str, Any], runs_root: Path) -> list[dict[str, Any]]:
    done = {
        (r.task, r.rule, r.structure, r.seed) for r in find_runs(runs_root) if r.grid == rc["name"]
    }
    return [
        j
        for j in repro_grid.jobs(rc)
        if (j["task"], j["rule"], j["structure"], j["seed"]) not in done
    ]


def load_timings(path: Path | None) -> list[dict[str, Any]]:
    """Rows of ``experiments/timings.json`` (written by ``experiments/measure_iteration.py``)."""
    if path is None or not Path(path).is_file():
        return []
    return list(json.loads(Path(path).read_text()).get("timings", []))


def estimate_seconds(
    job: dict[str, Any], rc: dict[str, Any], runs: list[Run], timings: list[dict[str, Any]] = ()
) -> float | None:
    """CPU seconds (one core) of a pending job, from the best evidence there is: the median over
    finished runs of the same task and rule at the job's batch size (validation included); else the
    seconds per iteration measured at that batch size (``timings``); else finished runs of that task
    and rule at another batch size, scaled linearly; None when nothing exists."""
    s = rc["tasks"][job["task"]]
    same, scaled = [], []
    for r in runs:
        if r.task != job["task"] or r.rule != job["rule"] or r.seconds is None:
            continue
        if not r.iterations_done:
            continue
        b = ((r.summary.get("settings") or {}).get("batch_size")) or s["batch_size"]
        rate = r.seconds / r.iterations_done
        (same if int(b) == int(s["batch_size"]) else scaled).append(rate * s["batch_size"] / b)
    if same:
        return float(np.median(same)) * s["iterations"]
    exact = [
        t["seconds_per_iteration"]
        for t in timings
        if (t["task"], t["rule"], int(t["batch_size"]))
        == (job["task"], job["rule"], int(s["batch_size"]))
    ]
    if exact:
        return float(np.median(exact)) * s["iterations"]
    return float(np.median(scaled)) * s["iterations"] if scaled else None


def build_page(
    runs_root: Path,
    out: Path,
    figures: Path,
    config_dir: Path,
    notes: Path | None,
    timings: Path | None = None,
) -> str:
    """Write the results page (and its figures); return its text."""
    runs = find_runs(runs_root)
    timing_rows = load_timings(timings)
    groups = group_runs(runs)
    keys = sorted(groups, key=sort_key)
    stats_rows = {k: summarise_group(groups[k]) for k in keys}
    configs = grid_configs(config_dir)
    rel = lambda p: Path(os.path.relpath(Path(p).resolve(), out.parent.resolve())).as_posix()  # noqa: E731

    L: list[str] = []
    L += [
        "# Results: reproduction of Liu et al. 2021 (Fig. 3C) and data-derived modulation",
        "",
        "Generated by `python experiments/summarise.py` from the runs kept in `experiments/runs/` "
        "(each run: `metrics.csv` + `summary.json` with its exact command, settings, machine, run time "
        "and git commit). Do not edit by hand; edit `experiments/notes.md` (included below) instead.",
        "",
        f"Runs found: **{len(runs)}** in {len(groups)} groups (grid · task · rule · structure).",
        "",
    ]
    if notes is not None and notes.is_file():
        L += [notes.read_text().rstrip(), ""]

    # --- status of every grid
    L += ["## Grids and what is still pending", ""]
    L += ["| grid | config | jobs | finished | pending | est. CPU time of pending (h, one core) |"]
    L += ["|---|---|---:|---:|---:|---:|"]
    grid_names = sorted({r.grid for r in runs} | set(configs))
    for g in grid_names:
        if g in configs:
            path, rc = configs[g]
            todo = pending(rc, runs_root)
            total = len(repro_grid.jobs(rc))
            est = [estimate_seconds(j, rc, runs, timing_rows) for j in todo]
            known = [e for e in est if e is not None]
            est_s = f"{sum(known) / 3600:.1f}" if known else "—"
            if len(known) < len(est):
                est_s += f" (+{len(est) - len(known)} jobs with no measured cost)"
            L += [
                f"| {g} | `{path.as_posix()}` | {total} | {total - len(todo)} | {len(todo)} | {est_s if todo else '0'} |"
            ]
        else:
            L += [f"| {g} | — | — | {sum(r.grid == g for r in runs)} | — | — |"]
    L += [
        "",
        "Complete a grid (finished jobs are never rerun; an interrupted job resumes from its checkpoint "
        "in `results/reproduction/<grid>/train/`, if that folder is still there):",
        "",
        "```bash",
    ]
    for g in grid_names:
        if g in configs:
            L += [
                f"snakemake -s workflows/rules/reproduction.smk --configfile {configs[g][0].as_posix()} "
                "--cores 2 --rerun-triggers mtime --keep-going reproduce"
            ]
    L += ["```", ""]

    if timing_rows:
        L += [
            "Seconds per training iteration measured by `experiments/measure_iteration.py` (one "
            "thread, E/I network, machine shared with other work: upper bounds), used for the "
            "estimates above only where no run of the same task, rule and batch size has finished "
            "(finished runs give the estimate otherwise, validation included):",
            "",
            "| task | rule | batch | s / iteration | measured at | machine |",
            "|---|---|---:|---:|---|---|",
        ]
        for t in sorted(timing_rows, key=lambda r: (r["task"], r["rule"], r["batch_size"])):
            m = t.get("machine") or {}
            L += [
                f"| {t['task']} | {t['rule']} | {t['batch_size']} | {t['seconds_per_iteration']:.2f} | "
                f"{t.get('measured_at', '?')} | {m.get('cpu', '?')}, {m.get('cores', '?')} cores |"
            ]
        L += [""]

    # --- authors vs ours (evidence accumulation, E/I network)
    L += ["## Evidence accumulation (Fig. 3C): ours next to the authors'", ""]
    L += [
        "| grid | rule | iterations | batch | n seeds | final val. loss (ours) | authors | final val. acc. (ours) | authors | iters to 80 % (ours) | authors |",
        "|---|---|---:|---:|---:|---|---|---|---|---|---|",
    ]
    for k in keys:
        grid, task, rule, structure = k
        if task != "evidence_accumulation" or structure != "ei":
            continue
        s = stats_rows[k]
        a = AUTHORS.get(rule, {})
        bs = {((r.summary.get("settings") or {}).get("batch_size")) for r in groups[k]}
        L += [
            f"| {grid} | {rule} | {'/'.join(map(str, s['iterations']))} | {'/'.join(str(b) for b in bs)} | {s['n']} | "
            f"{fmt(s['loss_mean'], s['loss_sd'])} | {fmt(a.get('loss', math.nan), a.get('loss_sd', math.nan))} | "
            f"{fmt(s['acc_mean'], s['acc_sd'], 2)} | {fmt(a.get('accuracy', math.nan), math.nan, 2)} | "
            f"{fmt_iters(s)} | ≈{a.get('iters80', '—')} |"
        ]
    L += [
        "",
        "Authors: Liu et al. 2021 PNAS, 5 runs each, B = 64, 2000 iterations (DESIGN §3.4).",
        "",
    ]
    ordering = []
    for grid in sorted({k[0] for k in keys}):
        means = {
            k[2]: stats_rows[k]["loss_mean"]
            for k in keys
            if k[0] == grid and k[1] == "evidence_accumulation" and k[3] == "ei"
        }
        if all(r in means for r in RULE_ORDER):
            order = sorted(means, key=means.get)
            holds = order == list(RULE_ORDER)
            ordering.append(
                f"- grid `{grid}`: observed order of mean final validation loss "
                f"{' < '.join(order)} — the expected BPTT < MDGL < e-prop "
                f"{'**holds**' if holds else '**does not hold**'}."
            )
    if ordering:
        L += ordering + [""]

    # --- every group
    L += ["## All groups", ""]
    L += [
        "| grid | task | rule | structure | n | seeds | iterations | final val. loss | final val. acc. | iters to 80 % | per-seed iters to 80 % | s / iteration |",
        "|---|---|---|---|---:|---|---:|---|---|---|---|---:|",
    ]
    for k in keys:
        s = stats_rows[k]
        per_seed = ", ".join("—" if h is None else str(h) for h in s["iters80"])
        has_acc = not math.isnan(s["acc_mean"])
        L += [
            f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {s['n']} | {','.join(map(str, s['seeds']))} | "
            f"{'/'.join(map(str, s['iterations']))} | {fmt(s['loss_mean'], s['loss_sd'], 4)} | "
            f"{fmt(s['acc_mean'], s['acc_sd'], 2) if has_acc else 'n/a'} | "
            f"{fmt_iters(s) if has_acc else 'n/a'} | {per_seed if has_acc else 'n/a'} | "
            f"{fmt(s['seconds_per_iteration'], math.nan, 2)} |"
        ]
    L += [
        "",
        "Final values are the last validation point of each run; mean ± SD (sample SD, ddof = 1) over "
        "seeds; iterations to 80 %: first validation iteration with accuracy ≥ 0.8, mean ± SD over the "
        "seeds that reached it (count in brackets). Pattern generation has no accuracy (MSE loss).",
        "",
    ]

    # --- statistics
    L += ["## Statistics on final validation loss", ""]
    L += [
        "| grid | task | A | B | n A | n B | mean A − mean B | Welch t | p (Welch) | U | p (Mann–Whitney) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    comparisons = []
    for grid, task in sorted({(k[0], k[1]) for k in keys}):
        have = {(k[2], k[3]): groups[k] for k in keys if k[0] == grid and k[1] == task}
        for a, b in (("bptt", "mdgl"), ("mdgl", "eprop"), ("bptt", "eprop")):
            if (a, "ei") in have and (b, "ei") in have:
                comparisons.append((grid, task, (a, "ei"), (b, "ei"), have))
        datasets = sorted(
            {s.rpartition("-")[0] for (r, s) in have if r == "mdgl" and s.endswith("-data")}
        )
        for d in datasets:
            for control in ("shuffled", "uniform", "ei"):
                if ("mdgl", f"{d}-{control}") in have:
                    comparisons.append(
                        (grid, task, ("mdgl", f"{d}-data"), ("mdgl", f"{d}-{control}"), have)
                    )
    for grid, task, a, b, have in comparisons:
        c = compare(have[a], have[b])
        L += [
            f"| {grid} | {task} | {a[0]} · {a[1]} | {b[0]} · {b[1]} | {c['n_a']} | {c['n_b']} | "
            f"{c['diff']:+.4f} | {fmt(c['t'], math.nan, 2)} | {fmt_p(c['p_welch'])} | "
            f"{fmt(c['u'], math.nan, 1)} | {fmt_p(c['p_mwu'])} |"
        ]
    L += [
        "",
        "Two-sided tests over seeds (one final validation loss per seed), no correction for the "
        "number of comparisons. The smallest possible two-sided Mann–Whitney p is 0.1 with n = 3 "
        "per group and 0.008 with n = 5.",
        "",
    ]

    # --- figures
    L += ["## Learning curves", ""]
    for grid, task in sorted({(k[0], k[1]) for k in keys}):
        rule_keys = [k for k in keys if k[0] == grid and k[1] == task and k[3] == "ei"]
        if rule_keys:
            p = figures / f"{grid}_{task}_rules.png"
            plot_curves(groups, rule_keys, p, f"{grid} · {task} · rules on the E/I network")
            L += [f"![{grid} {task} rules]({rel(p)})", ""]
        datasets = sorted(
            {k[3].rpartition("-")[0] for k in keys if k[0] == grid and k[1] == task and "-" in k[3]}
        )
        for d in datasets:
            struct_keys = [
                k for k in keys if k[0] == grid and k[1] == task and k[3].rpartition("-")[0] == d
            ]
            p = figures / f"{grid}_{task}_{d}_gates.png"
            plot_curves(groups, struct_keys, p, f"{grid} · {task} · MDGL gates on {d} types")
            L += [f"![{grid} {task} {d}]({rel(p)})", ""]

    # --- machine, run time, provenance
    L += ["## Machine, run time and provenance", ""]
    machines = {json.dumps(r.summary.get("machine", {}), sort_keys=True) for r in runs}
    for m in sorted(machines):
        d = json.loads(m)
        if d:
            L += [
                f"- machine: {d.get('cpu', '?')}, {d.get('cores', '?')} cores, {d.get('memory_gb', '?')} GB RAM "
                "(shared with other work while these ran: timings are noisy upper bounds)"
            ]
    tv = sorted({str(r.summary.get("torch")) for r in runs if r.summary.get("torch")})
    if tv:
        L += [f"- torch {', '.join(tv)}, CPU, one thread per job, `nice -n 19`"]
    total = sum(r.seconds or 0.0 for r in runs)
    L += [
        f"- total training time of the runs listed: {total / 3600:.2f} h (sum over jobs, wall-clock inside `train`)"
    ]
    commits = sorted(
        {str(r.summary.get("git_commit"))[:10] for r in runs if r.summary.get("git_commit")}
    )
    if commits:
        L += [f"- git commits the runs started from ({len(commits)}): {', '.join(commits)}"]
    dirty = [r for r in runs if (r.summary.get("uncommitted_files_in_models_at_start") or 0) > 0]
    if runs:
        L += [
            f"- runs that started while files under models/ or neuromod_data/ had uncommitted "
            f"changes: {len(dirty)} of {len(runs)} (see each summary.json)"
        ]
    L += [""]
    L += [
        "Example training command of each group (every run's own command is in its `summary.json`):",
        "",
    ]
    L += ["```bash"]
    for k in keys:
        cmd = groups[k][0].summary.get("command")
        if cmd:
            L += [cmd]
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
    text = "\n".join(L) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".md") as tmp:
        tmp.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", default="experiments/runs")
    p.add_argument("--out", default="docs/results.md")
    p.add_argument("--figures", default="docs/figures")
    p.add_argument("--configs", default="workflows/config", help="folder of reproduction*.yaml")
    p.add_argument(
        "--notes", default="experiments/notes.md", help="hand-written commentary to include"
    )
    p.add_argument("--timings", default="experiments/timings.json", help="measured s/iteration")
    args = p.parse_args(argv)
    text = build_page(
        Path(args.runs),
        Path(args.out),
        Path(args.figures),
        Path(args.configs),
        Path(args.notes),
        Path(args.timings),
    )
    print(f"{args.out}: {len(text.splitlines())} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
