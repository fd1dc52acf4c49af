"""Learning curves: mean ± SD over seeds, and their figures (no pyplot state; matplotlib
:class:`~matplotlib.figure.Figure` objects that the caller saves or inlines).

The one place learning curves are drawn. Used by the HTML report (:mod:`neuromod_data.report`,
one panel per condition), the results page (:mod:`neuromod_data.experiments.pages`, loss and
accuracy of a set of groups) and training itself (:func:`history_figure`, the
``learning_curve.png`` that ``neuromod_models.training.train`` writes for one run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neuromod_data.experiments.runs import VALIDATION, Run
from neuromod_data.experiments.summary import THRESHOLD

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "curve",
    "curves_figure",
    "history_figure",
    "label_color",
    "label_order",
    "panels_figure",
]

_RULE_COLORS = {"bptt": "#1f77b4", "eprop": "#d62728", "mdgl": "#2ca02c"}
# MDGL gates, data first; "shuffled" is the former name of grid-shuffled (older runs)
_GATE_COLORS = {
    "data": "#2ca02c",
    "binary": "#17becf",
    "label-permuted": "#8c564b",
    "grid-shuffled": "#e377c2",
    "shuffled": "#e377c2",
    "uniform": "#bcbd22",
    "ei": "#9467bd",
    "none": "#7f7f7f",
}


def curve(runs: Sequence[Run], column: str = "loss") -> pd.DataFrame:
    """Validation ``column`` over the runs at each iteration that every run reached.

    Returns
    -------
    DataFrame indexed by iteration with ``mean``, ``sd`` (ddof = 1; NaN for one run) and ``n``.

    Examples
    --------
    >>> from neuromod_data.experiments.runs import VALIDATION, Run
    >>> def run(seed, losses):
    ...     m = pd.DataFrame({"iteration": [0, 10], "split": "validation", "loss": losses,
    ...                       "accuracy": float("nan"), "total_loss": losses})
    ...     return Run({}, seed, m)
    >>> curve([run(0, [0.7, 0.4]), run(1, [0.7, 0.6])]).loc[10, ["mean", "n"]].tolist()
    [0.5, 2.0]
    """
    tables = [r.validation.set_index("iteration")[column] for r in runs]
    if not tables:
        return pd.DataFrame(columns=["mean", "sd", "n"])
    joined = pd.concat(tables, axis=1, join="inner")
    return pd.DataFrame(
        {
            "mean": joined.mean(axis=1),
            "sd": joined.std(axis=1, ddof=1) if joined.shape[1] > 1 else np.nan,
            "n": joined.shape[1],
        }
    )


def label_color(label: str) -> str | None:
    """Colour of a rule (``bptt``, ``eprop``, ``mdgl``), a workflow variant (``mdgl-<gate>``) or a
    structure name ending in ``-<gate>``; None (matplotlib's cycle) for anything else."""
    label = str(label)
    if label in _RULE_COLORS:
        return _RULE_COLORS[label]
    for gate, color in _GATE_COLORS.items():
        if label.endswith(f"-{gate}") or label == gate:
            return color
    return None


def label_order(label: str) -> tuple[int, int, str]:
    """Sort key: BPTT, e-prop, MDGL, then the MDGL gates with the data gate first."""
    base, _, gate = str(label).partition("-")
    gates = list(_GATE_COLORS)
    return (
        {"bptt": 0, "eprop": 1, "mdgl": 2}.get(base, 9),
        gates.index(gate) if gate in gates else 0,
        str(label),
    )


def _draw(
    ax: Axes,
    runs: Sequence[Run],
    column: str,
    label: str,
    color: str | None,
    *,
    count: bool = True,
    **style: Any,
) -> bool:
    c = curve(runs, column)
    if c.empty or c["mean"].isna().all():
        return False
    x = c.index.to_numpy(dtype=float)
    mean = c["mean"].to_numpy(dtype=float)
    name = f"{label} (n={len(runs)})" if count else label
    (line,) = ax.plot(x, mean, color=color, label=name, **style)
    if len(runs) > 1:
        sd = c["sd"].to_numpy(dtype=float)
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, linewidth=0)
    return True


def _finish_axis(ax: Axes, column: str, values: pd.Series, *, split: str = "validation") -> None:
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"{split} {column.replace('_', ' ')}".strip())
    ax.grid(alpha=0.3)
    if column == "accuracy":
        ax.axhline(THRESHOLD, color="grey", lw=0.8, ls=":")
    elif len(values) and (values > 0).all() and values.max() > 10 * values.min():
        ax.set_yscale("log")  # the MSE of pattern generation spans decades


def curves_figure(
    groups: Mapping[str, Sequence[Run]],
    *,
    title: str = "",
    columns: Sequence[str] = ("loss", "accuracy"),
) -> Figure:
    """One panel per metric (``columns``; accuracy only where the runs have one), one line per
    group: mean ± SD over its runs at the iterations all of them reached.

    Examples
    --------
    >>> fig = curves_figure({})
    >>> len(fig.axes)
    1
    """
    from matplotlib.figure import Figure

    has_acc = any(r.validation["accuracy"].notna().any() for rs in groups.values() for r in rs)
    cols = [c for c in columns if c != "accuracy" or has_acc] or ["loss"]
    fig = Figure(figsize=(5.5 * len(cols) + 0.5, 4), layout="constrained")
    axes = fig.subplots(1, len(cols), squeeze=False)[0]
    for ax, column in zip(axes, cols, strict=True):
        drawn = []
        for label in sorted(groups, key=label_order):
            if _draw(ax, groups[label], column, label, label_color(label)):
                drawn.append(label)
        values = pd.concat(
            [r.validation[column] for label in drawn for r in groups[label]]
            or [pd.Series(dtype=float)]
        )
        _finish_axis(ax, column, values)
        if drawn:
            ax.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(f"{title} — mean ± SD over seeds", fontsize=9)
    return fig


def panels_figure(
    panels: Mapping[str, Mapping[str, Sequence[Run]]], *, column: str = "loss"
) -> Figure:
    """One panel per entry of ``panels`` (e.g. one per label level), one line per group inside it.

    Examples
    --------
    >>> len(panels_figure({"a": {}, "b": {}}).axes)
    2
    """
    from matplotlib.figure import Figure

    titles = list(panels) or [""]
    ncol = min(len(titles), 3)
    nrow = int(np.ceil(len(titles) / ncol))
    fig = Figure(figsize=(4.2 * ncol, 3.2 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax, title in zip(axes, titles, strict=False):
        groups = panels.get(title, {})
        drawn = [
            label
            for label in sorted(groups, key=label_order)
            if _draw(ax, groups[label], column, label, label_color(label))
        ]
        values = pd.concat(
            [r.validation[column] for label in drawn for r in groups[label]]
            or [pd.Series(dtype=float)]
        )
        _finish_axis(ax, column, values)
        ax.set_title(title or "runs", fontsize=10)
        if drawn:
            ax.legend(fontsize=8, frameon=False)
    for ax in axes[len(titles) :]:
        ax.set_visible(False)
    return fig


def history_figure(metrics: pd.DataFrame, *, title: str = "") -> Figure:
    """One run's learning curve as it trains: the loss (and the accuracy where the task has one)
    of every training batch, their running mean, and the validation points.

    Parameters
    ----------
    metrics
        The run's ``metrics.csv`` rows (:func:`~neuromod_data.experiments.runs.read_metrics`
        columns: ``iteration, split, loss, accuracy``); ``split`` is ``"train"`` or
        ``"validation"``.
    title
        Figure title (e.g. the task and the rule).

    Returns
    -------
    Figure
        One panel per metric; validation drawn by the same code as :func:`curves_figure`.

    Examples
    --------
    >>> m = pd.DataFrame({"iteration": [0, 0, 10, 10], "split": ["train", "validation"] * 2,
    ...                   "loss": [0.7, 0.69, 0.5, 0.52], "accuracy": [0.5, 0.5, 0.7, 0.6]})
    >>> fig = history_figure(m)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['loss', 'accuracy']
    """
    from matplotlib.figure import Figure

    # a task without accuracy logs None or empty cells (or no column): all NaN here
    accuracy = metrics["accuracy"] if "accuracy" in metrics.columns else np.nan
    metrics = metrics.assign(accuracy=pd.to_numeric(accuracy, errors="coerce"))
    train = metrics[metrics["split"] == "train"].sort_values("iteration", kind="stable")
    cols = ["loss", "accuracy"] if metrics["accuracy"].notna().any() else ["loss"]
    fig = Figure(figsize=(5 * len(cols) + 0.5, 3.6), layout="constrained")
    axes = fig.subplots(1, len(cols), squeeze=False)[0]
    run = Run({}, 0, metrics)
    for ax, column in zip(axes, cols, strict=True):
        tr = train[train[column].notna()]
        it, values = tr["iteration"].to_numpy(float), tr[column].to_numpy(float)
        if len(values):
            ax.plot(it, values, color="0.75", lw=0.8, label="training batch")
        if column == "loss" and len(values) >= 10:
            # batches are noisy: a running mean over about 2 % of them (at least 5) shows the trend
            k = max(len(values) // 50, 5)
            smooth = np.convolve(values, np.ones(k) / k, mode="valid")
            ax.plot(it[k - 1 :], smooth, color="C0", lw=1.5, label=f"training (mean of {k})")
        _draw(ax, [run], column, VALIDATION, "C3", count=False, marker="o", ms=3)
        _finish_axis(ax, column, metrics[column].dropna(), split="")
        if column == "accuracy":
            ax.set_ylim(0, 1.02)
        if ax.lines:
            ax.legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
