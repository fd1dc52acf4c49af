"""Both definitions of the summary numbers: ours (last point) and the authors' (window mean of the
total loss, median of the smoothed first crossing), against computations written out here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from neuromod_data.experiments import summary
from neuromod_data.experiments.runs import Run


def make(seed, its, loss, acc, total=None, labels=None):
    m = pd.DataFrame(
        {
            "iteration": its,
            "split": "validation",
            "loss": loss,
            "accuracy": acc,
            "total_loss": loss if total is None else total,
        }
    )
    return Run(labels or {"rule": "mdgl"}, seed, m)


def smoothed_by_loop(its, acc, k=5, threshold=0.8):
    """The authors' procedure with explicit loops instead of numpy.convolve."""
    half = k // 2
    for i in range(half, len(acc) - half):
        if sum(acc[i - half : i + half + 1]) / k >= threshold:
            return its[i]
    return math.inf


def test_first_crossing_is_the_first_point_at_or_above():
    assert summary.first_crossing([0, 10, 20], [0.8, 0.9, 0.5]) == 0
    assert summary.first_crossing([0, 10, 20], [0.5, 0.79999, 0.81]) == 20
    assert summary.first_crossing([0, 10], [0.1, 0.2]) is None
    assert summary.first_crossing([0, 10], [0.1, 0.2], threshold=0.15) == 10


def test_smoothed_crossing_against_a_loop():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(5, 40))
        its = list(range(0, 10 * n, 10))
        acc = np.clip(np.linspace(0.4, 1.0, n) + rng.normal(0, 0.1, n), 0, 1).tolist()
        assert summary.smoothed_crossing(its, acc) == smoothed_by_loop(its, acc)


def test_smoothed_crossing_hand_case_and_edges():
    its = [0, 10, 20, 30, 40, 50, 60]
    acc = [0.5, 0.6, 0.7, 1.0, 1.0, 0.9, 0.9]
    # 5-point means: (0.5+0.6+0.7+1+1)/5 = 0.76 at 20, (0.6+0.7+1+1+0.9)/5 = 0.84 at 30
    assert summary.smoothed_crossing(its, acc) == 30
    # ours would say 30 too here, but one lucky point early moves ours and not theirs
    lucky = [0.5, 0.9, 0.6, 0.6, 0.7, 0.8, 0.9]
    assert summary.first_crossing(its, lucky) == 10
    assert summary.smoothed_crossing(its, lucky) == math.inf
    # the centre of the window is the middle point's iteration, also with uneven spacing
    assert summary.smoothed_crossing([0, 1, 5, 20, 21], [0.8] * 5) == 5
    assert summary.smoothed_crossing([0, 10, 20], [0.9, 0.9, 0.9]) == math.inf  # < 5 points
    assert math.isnan(summary.smoothed_crossing([0, 10], [np.nan, np.nan]))
    with pytest.raises(ValueError, match="odd"):
        summary.smoothed_crossing(its, acc, points=4)


def test_window_mean_keeps_the_last_window_inclusive():
    its = np.arange(0, 2001, 10)
    vals = its / 1000.0
    mean, n = summary.window_mean(its, vals)  # 1900, 1910, ..., 2000
    assert n == 11
    assert mean == pytest.approx(np.mean(np.arange(1900, 2001, 10) / 1000.0))
    mean25, n25 = summary.window_mean(np.arange(0, 2001, 25), np.arange(0, 2001, 25))
    assert n25 == 5 and mean25 == pytest.approx(1950.0)  # 1900, 1925, ..., 2000
    assert summary.window_mean([0, 50], [1.0, 3.0], window=10) == (3.0, 1)


def test_run_summary_uses_total_loss_for_the_authors_and_task_loss_for_ours():
    its = [0, 50, 100, 150, 200]
    loss = [0.7, 0.6, 0.5, 0.4, 0.3]
    total = [0.71, 0.61, 0.52, 0.43, 0.34]
    acc = [0.5, 0.85, 0.7, 0.9, 0.9]
    r = summary.run_summary(make(0, its, loss, acc, total))
    assert r["final_loss"] == 0.3 and r["final_accuracy"] == 0.9 and r["final_iteration"] == 200
    assert r["iters_to_threshold"] == 50
    assert r["window_points"] == 3  # 100, 150, 200
    assert r["window_loss"] == pytest.approx((0.52 + 0.43 + 0.34) / 3)
    assert r["window_accuracy"] == pytest.approx((0.7 + 0.9 + 0.9) / 3)
    # the only 5-point window is centred at 100 and averages 0.77: never at 0.8, at 100 for 0.75
    assert r["smoothed_iters"] == math.inf
    assert (
        summary.run_summary(make(0, its, loss, acc, total), threshold=0.75)["smoothed_iters"] == 100
    )


def test_summarize_over_seeds_by_hand():
    its = list(range(0, 100, 10))
    runs = [
        make(0, its, np.linspace(0.7, 0.1, 10), [0.5] * 3 + [0.9] * 7),  # crosses
        make(1, its, np.linspace(0.7, 0.3, 10), [0.5] * 5 + [0.9] * 5),  # crosses later
        make(2, its, np.linspace(0.7, 0.5, 10), [0.5] * 10),  # never
    ]
    s = summary.summarize(runs, window=20)
    finals = [0.1, 0.3, 0.5]
    assert s["loss_mean"] == pytest.approx(0.3)
    assert s["loss_sd"] == pytest.approx(math.sqrt(sum((f - 0.3) ** 2 for f in finals) / 2))
    assert s["iters"] == [30, 50, None] and s["n_reached"] == 2
    assert s["iters_mean"] == pytest.approx(40) and s["iters_sd"] == pytest.approx(math.sqrt(200))
    windows = [np.mean(np.linspace(0.7, end, 10)[-3:]) for end in (0.1, 0.3, 0.5)]
    assert s["window_points"] == [3, 3, 3]
    assert s["window_loss_mean"] == pytest.approx(np.mean(windows))
    assert s["window_loss_sd"] == pytest.approx(np.std(windows, ddof=1))
    per_seed = [smoothed_by_loop(its, r.validation["accuracy"].tolist()) for r in runs]
    assert per_seed == [40, 60, math.inf] and s["smoothed_iters"] == per_seed
    assert s["smoothed_iters_median"] == 60  # the run that never learns counts as beyond the run
    assert summary.summarize(runs[1:])["smoothed_iters_median"] == math.inf  # half never: inf


def test_summary_without_accuracy_and_without_points():
    pg = make(0, [0, 5], [1.0, 0.2], [np.nan, np.nan])
    s = summary.summarize([pg])
    assert s["n_reached"] == 0 and math.isnan(s["acc_mean"])
    assert math.isnan(s["smoothed_iters_median"])
    empty = Run({"rule": "x"}, 0, make(0, [], [], []).metrics)
    assert summary.run_summary(empty)["window_points"] == 0


def test_summary_table_one_row_per_group():
    its = [0, 10, 20]
    runs = [
        make(s, its, [0.7, 0.5, v], [0.5, 0.6, 0.9], labels={"condition": "L", "rule": rule})
        for s, (rule, v) in enumerate([("bptt", 0.1), ("bptt", 0.3), ("eprop", 0.6)])
    ]
    t = summary.summary_table(runs, ("condition", "rule"))
    assert t[["condition", "rule", "n_seeds"]].values.tolist() == [
        ["L", "bptt", 2],
        ["L", "eprop", 1],
    ]
    assert t.loc[0, "final_loss_mean"] == pytest.approx(0.2)
    assert t.loc[0, "final_loss_sd"] == pytest.approx(math.sqrt(0.02))
    assert t.loc[1, "iters_to_threshold_mean"] == 20 and t.loc[1, "n_reached"] == 1
    assert t.loc[0, "window_points"] == 3 and t.loc[0, "iterations"] == 20
