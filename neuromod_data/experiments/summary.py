"""Summary numbers of runs, computed two ways (docs/design.md, "Summary statistics").

**Ours** (one point per run):

* final loss / accuracy — the last validation point (task loss);
* iterations to 80 % — the first validation iteration whose accuracy is ≥ 0.8 (``None`` if none);
  over runs: mean ± SD of the runs that got there, and how many did.

**The authors'** (Liu et al. 2021, Fig. 3C; checked against their 15 saved runs):

* final loss — the mean of the validation *total* loss (task loss + firing-rate regulariser) over
  the validation points of the last ``window`` iterations (their 1900–2000 of 2000: 11 points at
  one validation every 10 iterations); over runs: mean ± SD (ddof = 1);
* iterations to 80 % — the validation accuracy smoothed by a ``points``-point moving average
  (``numpy.convolve``, mode ``'valid'``), each smoothed value placed at the iteration of its
  window's centre; the first such iteration with smoothed accuracy ≥ 0.8, ``inf`` for a run that
  never gets there; over runs: the median (so one run that never learns does not move it).

Every function takes plain arrays or :class:`~neuromod_data.experiments.runs.Run` objects; nothing
here reads files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuromod_data.experiments.runs import Run, group_runs
from neuromod_data.experiments.stats import mean_sd

__all__ = [
    "THRESHOLD",
    "WINDOW",
    "SMOOTHING",
    "first_crossing",
    "mean_until",
    "run_summary",
    "smoothed_crossing",
    "summarize",
    "summary_table",
    "window_mean",
]

#: accuracy that counts as learned (the paper's 80 %)
THRESHOLD = 0.8
#: iterations at the end of a run over which the authors' final loss is averaged
WINDOW = 100
#: points of the authors' moving average of the accuracy curve
SMOOTHING = 5


def first_crossing(
    iterations: Sequence[float], accuracy: Sequence[float], threshold: float = THRESHOLD
) -> int | None:
    """The first iteration whose accuracy is ≥ ``threshold`` (ours); ``None`` if there is none.

    Examples
    --------
    >>> first_crossing([0, 10, 20, 30], [0.5, 0.79, 0.8, 0.9])
    20
    >>> first_crossing([0, 10], [0.5, 0.6]) is None
    True
    """
    it = np.asarray(iterations)
    acc = np.asarray(accuracy, dtype=float)
    hit = np.flatnonzero(acc >= threshold)
    return int(it[hit[0]]) if hit.size else None


def smoothed_crossing(
    iterations: Sequence[float],
    accuracy: Sequence[float],
    threshold: float = THRESHOLD,
    *,
    points: int = SMOOTHING,
) -> float:
    """The first centre iteration of a ``points``-point moving average of ``accuracy`` that is
    ≥ ``threshold`` (the authors'); ``inf`` when the smoothed curve never gets there (or the run
    has fewer than ``points`` validation points); NaN when the task has no accuracy.

    Examples
    --------
    >>> it = [0, 10, 20, 30, 40, 50, 60]
    >>> acc = [0.5, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9]        # 3-point means: 0.667, 0.8, 0.9, ...
    >>> smoothed_crossing(it, acc, points=3)           # window (0.6, 0.9, 0.9) centred on 20
    20.0
    >>> smoothed_crossing(it, [0.5] * 7)
    inf
    """
    if points < 1 or points % 2 == 0:
        raise ValueError(
            f"points must be a positive odd number (a window has a centre), got {points}"
        )
    it = np.asarray(iterations, dtype=float)
    acc = np.asarray(accuracy, dtype=float)
    if acc.size == 0 or np.isnan(acc).all():
        return math.nan
    if acc.size < points:
        return math.inf
    smooth = np.convolve(acc, np.ones(points) / points, mode="valid")
    centres = it[points // 2 : points // 2 + smooth.size]
    hit = np.flatnonzero(smooth >= threshold)  # as the authors compare: no tolerance
    return float(centres[hit[0]]) if hit.size else math.inf


def window_mean(
    iterations: Sequence[float], values: Sequence[float], *, window: float = WINDOW
) -> tuple[float, int]:
    """Mean of ``values`` over the points with ``last − window ≤ iteration ≤ last`` (the authors'
    final loss), and how many points that is.

    Examples
    --------
    >>> window_mean([1880, 1900, 1950, 2000], [9.0, 1.0, 2.0, 3.0])
    (2.0, 3)
    """
    it = np.asarray(iterations, dtype=float)
    v = np.asarray(values, dtype=float)
    if it.size == 0:
        return math.nan, 0
    last = it.max()
    keep = (it >= last - window) & (it <= last)
    return float(v[keep].mean()), int(keep.sum())


def mean_until(iterations: Sequence[float], values: Sequence[float], *, until: float) -> float:
    """The area under a validation curve from its first point to iteration ``until``, divided by
    the iterations it spans: the curve's mean over that stretch (trapezoid rule between validation
    points, the value at ``until`` interpolated linearly where no point falls on it).

    A run that stops before ``until`` gives NaN (its area would cover a shorter stretch), as does
    one with fewer than two points up to there.

    Examples
    --------
    >>> mean_until([0, 10, 20, 30], [1.0, 0.5, 0.5, 0.0], until=20)     # (7.5 + 5) / 20
    0.625
    >>> mean_until([0, 10, 20, 30], [1.0, 0.5, 0.5, 0.0], until=25)     # 0.25 at 25
    0.575
    >>> mean_until([0, 10], [1.0, 0.5], until=20)
    nan
    """
    it = np.asarray(iterations, dtype=float)
    v = np.asarray(values, dtype=float)
    keep = ~np.isnan(v)
    it, v = it[keep], v[keep]
    if it.size < 2 or it.max() < until or it.min() >= until:
        return math.nan
    order = np.argsort(it)
    it, v = it[order], v[order]
    inside = it < until
    x = np.append(it[inside], until)
    y = np.append(v[inside], np.interp(until, it, v))
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    return area / float(x[-1] - x[0])


def run_summary(
    run: Run,
    *,
    threshold: float = THRESHOLD,
    window: float = WINDOW,
    points: int = SMOOTHING,
) -> dict[str, Any]:
    """Both definitions for one run.

    Returns
    -------
    dict with ``final_loss``, ``final_accuracy``, ``final_iteration``, ``iters_to_threshold``
    (ours; ``None`` if never) and ``window_loss`` (mean validation total loss of the last
    ``window`` iterations), ``window_points``, ``window_accuracy``, ``smoothed_iters`` (the
    authors'; ``inf`` if never, NaN without accuracy).
    """
    v = run.validation
    it = v["iteration"].to_numpy()
    has_acc = bool(v["accuracy"].notna().any())
    if len(v) == 0:
        return {
            "final_loss": math.nan, "final_accuracy": math.nan, "final_iteration": None,
            "iters_to_threshold": None, "window_loss": math.nan, "window_points": 0,
            "window_accuracy": math.nan, "smoothed_iters": math.nan,
        }  # fmt: skip
    last = v.iloc[-1]
    wl, n = window_mean(it, v["total_loss"].to_numpy(), window=window)
    wa, _ = window_mean(it, v["accuracy"].to_numpy(), window=window)
    return {
        "final_loss": float(last["loss"]),
        "final_accuracy": float(last["accuracy"]),
        "final_iteration": int(last["iteration"]),
        "iters_to_threshold": first_crossing(it, v["accuracy"], threshold) if has_acc else None,
        "window_loss": wl,
        "window_points": n,
        "window_accuracy": wa,
        "smoothed_iters": (
            smoothed_crossing(it, v["accuracy"], threshold, points=points) if has_acc else math.nan
        ),
    }


def summarize(
    runs: Sequence[Run],
    *,
    threshold: float = THRESHOLD,
    window: float = WINDOW,
    points: int = SMOOTHING,
) -> dict[str, Any]:
    """Both definitions over the runs of one group (e.g. the seeds of one rule).

    Returns
    -------
    dict. Ours: ``loss_mean``, ``loss_sd``, ``acc_mean``, ``acc_sd`` (last point), ``iters``
    (per run, ``None`` = never), ``iters_mean``, ``iters_sd``, ``n_reached``. The authors':
    ``window_loss_mean``, ``window_loss_sd``, ``window_acc_mean``, ``window_points`` (per run),
    ``smoothed_iters`` (per run), ``smoothed_iters_median`` (``inf`` when more than half never
    cross). Also ``n``, ``seeds``, ``iterations`` (the distinct lengths) and
    ``seconds_per_iteration`` (mean over runs that recorded a time). SDs are sample SDs (ddof = 1).

    Examples
    --------
    >>> from neuromod_data.experiments.runs import Run
    >>> def run(seed, losses):
    ...     m = pd.DataFrame({"iteration": [0, 50, 100], "split": "validation", "loss": losses,
    ...                       "accuracy": [0.5, 0.9, 0.9], "total_loss": losses})
    ...     return Run({"rule": "bptt"}, seed, m)
    >>> s = summarize([run(0, [0.7, 0.3, 0.1]), run(1, [0.7, 0.5, 0.3])], window=50)
    >>> round(s["loss_mean"], 3), round(s["window_loss_mean"], 3), s["window_points"]
    (0.2, 0.3, [2, 2])
    """
    per = [run_summary(r, threshold=threshold, window=window, points=points) for r in runs]
    loss_m, loss_sd = mean_sd([p["final_loss"] for p in per])
    acc_m, acc_sd = mean_sd([p["final_accuracy"] for p in per])
    iters = [p["iters_to_threshold"] for p in per]
    reached = [float(i) for i in iters if i is not None]
    it_m, it_sd = mean_sd(reached)
    wl_m, wl_sd = mean_sd([p["window_loss"] for p in per])
    wa_m, _ = mean_sd([p["window_accuracy"] for p in per])
    smoothed = [p["smoothed_iters"] for p in per]
    finite_or_inf = [s for s in smoothed if not math.isnan(s)]
    rates = [
        r.seconds / r.iterations_done for r in runs if r.seconds is not None and r.iterations_done
    ]
    return {
        "n": len(per),
        "seeds": [r.seed for r in runs],
        "iterations": sorted({r.iterations_done for r in runs}),
        "loss_mean": loss_m,
        "loss_sd": loss_sd,
        "acc_mean": acc_m,
        "acc_sd": acc_sd,
        "iters": iters,
        "iters_mean": it_m,
        "iters_sd": it_sd,
        "n_reached": len(reached),
        "window_loss_mean": wl_m,
        "window_loss_sd": wl_sd,
        "window_acc_mean": wa_m,
        "window_points": [p["window_points"] for p in per],
        "smoothed_iters": smoothed,
        "smoothed_iters_median": (float(np.median(finite_or_inf)) if finite_or_inf else math.nan),
        "seconds_per_iteration": float(np.mean(rates)) if rates else math.nan,
    }


def summary_table(
    runs: Iterable[Run],
    by: Sequence[str],
    *,
    threshold: float = THRESHOLD,
    window: float = WINDOW,
    points: int = SMOOTHING,
) -> pd.DataFrame:
    """One row per group of runs (labels ``by``) with both definitions (see :func:`summarize`).

    Columns: the labels, ``n_seeds``, ``iterations`` (the longest run), ``final_loss_mean``,
    ``final_loss_sd``, ``final_accuracy_mean``, ``final_accuracy_sd``,
    ``iters_to_threshold_mean``, ``n_reached`` (ours) and ``window_loss_mean``,
    ``window_loss_sd``, ``window_points`` (the fewest of any run), ``smoothed_iters_median``
    (the authors').
    """
    rows = []
    for key, group in group_runs(runs, by).items():
        s = summarize(group, threshold=threshold, window=window, points=points)
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                "n_seeds": s["n"],
                "iterations": max(s["iterations"]) if s["iterations"] else 0,
                "final_loss_mean": s["loss_mean"],
                "final_loss_sd": s["loss_sd"],
                "final_accuracy_mean": s["acc_mean"],
                "final_accuracy_sd": s["acc_sd"],
                "iters_to_threshold_mean": s["iters_mean"],
                "n_reached": s["n_reached"],
                "window_loss_mean": s["window_loss_mean"],
                "window_loss_sd": s["window_loss_sd"],
                "window_points": min(s["window_points"]) if s["window_points"] else 0,
                "smoothed_iters_median": s["smoothed_iters_median"],
            }
        )
    columns = [*by, "n_seeds", "iterations", "final_loss_mean", "final_loss_sd",
               "final_accuracy_mean", "final_accuracy_sd", "iters_to_threshold_mean", "n_reached",
               "window_loss_mean", "window_loss_sd", "window_points", "smoothed_iters_median"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
