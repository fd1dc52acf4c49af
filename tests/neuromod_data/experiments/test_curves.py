"""Learning curves: mean ± SD over seeds by hand, and what the figures draw."""

from __future__ import annotations

import math

import pytest

from neuromod_data.experiments import curves
from neuromod_data.experiments.runs import WORKFLOW, find_runs, group_runs


@pytest.fixture
def runs(tmp_path, make_run):
    # three bptt seeds (one stopped early), one e-prop and two MDGL gates
    make_run(tmp_path / "L/bptt/seed0", [(0, 0.7, 0.5), (10, 0.5, 0.7), (20, 0.1, 0.9)])
    make_run(tmp_path / "L/bptt/seed1", [(0, 0.7, 0.5), (10, 0.3, 0.8), (20, 0.2, 0.95)])
    make_run(tmp_path / "L/bptt/seed2", [(0, 0.7, 0.5), (10, 0.4, 0.6)])
    make_run(tmp_path / "L/eprop/seed0", [(0, 0.7, 0.5), (10, 0.69, 0.5)])
    make_run(tmp_path / "L/mdgl-label-permuted/seed0", [(0, 0.7, 0.5), (10, 0.6, 0.6)])
    make_run(tmp_path / "L/mdgl-data/seed0", [(0, 0.7, 0.5), (10, 0.6, 0.6)])
    make_run(tmp_path / "M/bptt/seed0", [(0, 0.7, 0.5), (10, 0.6, 0.6)])
    return group_runs(find_runs(tmp_path, layout=WORKFLOW), WORKFLOW)


def test_curve_over_the_iterations_every_seed_reached(runs):
    c = curves.curve(runs[("L", "bptt")], "loss")
    assert list(c.index) == [0, 10]  # seed 2 stopped at 10
    assert c.loc[10, "mean"] == pytest.approx(0.4)
    assert c.loc[10, "sd"] == pytest.approx(0.1)
    assert c.loc[0, "sd"] == pytest.approx(0) and (c["n"] == 3).all()
    one = curves.curve(runs[("L", "eprop")], "accuracy")
    assert one.loc[10, "mean"] == 0.5 and math.isnan(one.loc[10, "sd"])


def test_order_and_colours_of_rules_and_gates():
    labels = ["mdgl-uniform", "eprop", "mdgl-data", "bptt", "mdgl-label-permuted"]
    assert sorted(labels, key=curves.label_order) == [
        "bptt", "eprop", "mdgl-data", "mdgl-label-permuted", "mdgl-uniform",
    ]  # fmt: skip
    assert curves.label_color("mdgl-data") != curves.label_color("mdgl-label-permuted")
    assert curves.label_color("toy_cortex-grid-shuffled") == curves.label_color(
        "mdgl-grid-shuffled"
    )
    assert curves.label_color("something else") is None


def test_curves_figure_panels_and_lines(runs):
    fig = curves.curves_figure(
        {"bptt": runs[("L", "bptt")], "eprop": runs[("L", "eprop")]}, title="t"
    )
    loss_ax, acc_ax = fig.axes
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == [
        "bptt (n=3)",
        "eprop (n=1)",
    ]
    (bptt_line, *_) = loss_ax.get_lines()
    assert bptt_line.get_ydata().tolist() == pytest.approx([0.7, 0.4])
    assert acc_ax.get_ylabel() == "validation accuracy"
    assert any(line.get_ydata()[0] == 0.8 for line in acc_ax.get_lines())  # the 80 % line


def test_no_accuracy_panel_without_accuracy(tmp_path, make_run):
    make_run(tmp_path / "L/bptt/seed0", [(0, 1.0, None), (5, 0.001, None)])
    groups = group_runs(find_runs(tmp_path, layout=WORKFLOW), ("rule",))
    fig = curves.curves_figure({"bptt": groups[("bptt",)]})
    assert len(fig.axes) == 1
    assert fig.axes[0].get_yscale() == "log"  # the loss spans decades


def test_panels_figure_one_panel_per_condition(runs):
    panels: dict = {}
    for (condition, rule), group in runs.items():
        panels.setdefault(condition, {})[rule] = group
    fig = curves.panels_figure(panels, column="loss")
    assert [ax.get_title() for ax in fig.axes] == ["L", "M"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "bptt (n=3)", "eprop (n=1)", "mdgl-data (n=1)", "mdgl-label-permuted (n=1)",
    ]  # fmt: skip


def test_history_figure_draws_one_runs_batches_running_mean_and_validation():
    # one run as training logs it: 20 noisy training batches, validation every 5 iterations
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    it = np.arange(1, 21)
    train_loss = 1.0 / it + rng.uniform(0, 0.05, it.size)
    val_it = np.array([0, 5, 10, 15, 20])
    val_loss, val_acc = np.array([0.9, 0.4, 0.3, 0.2, 0.1]), np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    m = pd.concat(
        [
            pd.DataFrame({"iteration": it, "split": "train", "loss": train_loss,
                          "accuracy": rng.uniform(0, 1, it.size)}),
            pd.DataFrame({"iteration": val_it, "split": "validation", "loss": val_loss,
                          "accuracy": val_acc}),
        ]
    )  # fmt: skip
    fig = curves.history_figure(m.sample(frac=1, random_state=0), title="t")  # any row order
    loss_ax, acc_ax = fig.axes
    lines = {ln.get_label(): ln for ln in loss_ax.lines}
    assert set(lines) == {"training batch", "training (mean of 5)", "validation"}
    np.testing.assert_allclose(lines["training batch"].get_ydata(), train_loss)
    # the running mean of 5 batches by pandas, placed at the last batch of each window
    rolled = pd.Series(train_loss, index=it).rolling(5).mean().dropna()
    np.testing.assert_allclose(lines["training (mean of 5)"].get_xdata(), rolled.index)
    np.testing.assert_allclose(lines["training (mean of 5)"].get_ydata(), rolled.to_numpy())
    np.testing.assert_allclose(lines["validation"].get_xdata(), val_it)
    np.testing.assert_allclose(lines["validation"].get_ydata(), val_loss)
    val = {ln.get_label(): ln for ln in acc_ax.lines}["validation"]
    np.testing.assert_allclose(val.get_ydata(), val_acc)
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylim() == (0, 1.02)
    # without accuracy (pattern generation logs none): one panel
    assert len(curves.history_figure(m.assign(accuracy=None)).axes) == 1
