"""Figures of an evaluated network (``neuromod evaluate``): spike raster by type, rates per type over
the trial, MDGL's modulatory signal per type, readout against targets.

Every function takes numpy arrays (time-major, ``dt`` ms per step; no torch here) and returns a
bare :class:`matplotlib.figure.Figure`: no backend is selected and nothing is registered with pyplot
(docs/design.md, "Reproducibility"). :func:`save_figure` writes one atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuromod_data._files import atomic_path

__all__ = [
    "modulation_figure",
    "raster_figure",
    "rates_figure",
    "readout_figure",
    "save_figure",
    "type_colors",
]


def type_colors(
    names: Sequence[str], colors: Sequence[str] | None = None, signs: Sequence[float] | None = None
) -> list[str]:
    """One colour per type: the structure's own (``colors``) where it has them; otherwise
    matplotlib's categorical palette, with a two-type E/I network in red (E) and blue (I).

    Examples
    --------
    >>> type_colors(["E", "I"], signs=[1, -1])
    ['#d62728', '#1f77b4']
    >>> type_colors(["a", "b"], colors=["#000000", "#ffffff"])
    ['#000000', '#ffffff']
    """
    if colors is not None and len(colors) == len(names) and all(colors):
        return [str(c) for c in colors]
    if signs is not None and len(names) == 2:
        return ["#d62728" if s > 0 else "#1f77b4" for s in signs]
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return [
        "#{:02x}{:02x}{:02x}".format(*(int(round(255 * c)) for c in cmap(i % cmap.N)[:3]))
        for i in range(len(names))
    ]


def raster_figure(
    z: np.ndarray,
    type_index: np.ndarray,
    names: Sequence[str],
    colors: Sequence[str],
    *,
    dt: float = 1.0,
    title: str = "",
) -> Figure:
    """Spike raster of one trial ``z`` ``[T, N]``, neurons grouped by type (in type order) and
    coloured by it; each type's block is labelled on the y axis.

    Examples
    --------
    >>> z = np.zeros((50, 4), dtype=np.uint8); z[10, 0] = z[20, 3] = 1
    >>> fig = raster_figure(z, np.array([0, 0, 1, 1]), ["E", "I"], ["r", "b"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['E', 'I']
    """
    z = np.asarray(z)
    type_index = np.asarray(type_index)
    order = np.argsort(type_index, kind="stable")
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    t_steps, n = z.shape
    ticks, labels = [], []
    for k, name in enumerate(names):
        rows = np.flatnonzero(type_index[order] == k)
        if not len(rows):
            continue
        t, r = np.nonzero(z[:, order[rows]])
        ax.scatter(t * dt, rows[r], s=1.5, marker="|", color=colors[k], linewidths=0.8)
        ax.axhline(rows[-1] + 0.5, color="0.85", lw=0.5)
        ticks.append((rows[0] + rows[-1]) / 2)
        labels.append(name)
    ax.set_yticks(ticks, labels, fontsize=7)
    for tick, k in zip(ax.get_yticklabels(), [names.index(lab) for lab in labels], strict=True):
        tick.set_color(colors[k])
    ax.set_xlim(0, t_steps * dt)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neurons by type")
    ax.set_title(title or "spike raster (one trial)", fontsize=9)
    return fig


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean over ``width`` steps along axis 0 (same length; the edges average the
    steps that exist)."""
    values = np.asarray(values, dtype=np.float64)
    width = min(int(width), len(values))
    if width <= 1:
        return values
    c = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    idx = np.arange(len(values))
    lo = np.clip(idx - width // 2, 0, len(values))
    hi = np.clip(idx - width // 2 + width, 0, len(values))
    return (c[hi] - c[lo]) / (hi - lo).reshape(-1, *([1] * (values.ndim - 1)))


def rates_figure(
    z: np.ndarray,
    type_index: np.ndarray,
    names: Sequence[str],
    colors: Sequence[str],
    *,
    dt: float = 1.0,
    window_ms: float = 50.0,
) -> Figure:
    """Mean rate of each type over the trial (Hz; spikes ``z`` ``[T, B, N]`` averaged over trials
    and the type's neurons, then a moving mean of ``window_ms``).

    Examples
    --------
    >>> z = np.ones((20, 2, 3), dtype=np.uint8)
    >>> fig = rates_figure(z, np.array([0, 0, 1]), ["E", "I"], ["r", "b"])
    >>> float(fig.axes[0].lines[0].get_ydata().max())
    1000.0
    """
    z = np.asarray(z)
    per_step = z.mean(axis=1, dtype=np.float64)  # [T, N]
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.subplots()
    width = max(1, int(round(window_ms / dt)))
    t = np.arange(z.shape[0]) * dt
    for k, name in enumerate(names):
        sel = np.asarray(type_index) == k
        if sel.any():
            rate = per_step[:, sel].mean(axis=1) * 1000.0 / dt
            ax.plot(t, _smooth(rate, width), color=colors[k], lw=1.2, label=name)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"rate (Hz; {window_ms:g}-ms mean)")
    ax.set_title("firing rate per type", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, ncol=max(1, len(names) // 8))
    return fig


def modulation_figure(
    learning_signal: np.ndarray | None,
    modulation: np.ndarray | None,
    names: Sequence[str],
    colors: Sequence[str],
    *,
    rule: str,
    dt: float = 1.0,
    window_ms: float = 20.0,
) -> Figure:
    """MDGL's modulatory signal per type ``[T, K]`` (mean |term| it adds to the type's learning
    signal) beside the learning signal itself; a run of another rule gets a figure that says so.

    Examples
    --------
    >>> fig = modulation_figure(None, None, ["E", "I"], ["r", "b"], rule="bptt")
    >>> "not MDGL" in fig.axes[0].texts[0].get_text()
    True
    """
    if modulation is None:
        fig = Figure(figsize=(7, 2.5), layout="constrained")
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"rule {rule}: not MDGL, so no modulatory signal is added to the "
                "learning signal", ha="center", va="center", fontsize=10, wrap=True)  # fmt: skip
        return fig
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    width = max(1, int(round(window_ms / dt)))
    t = np.arange(modulation.shape[0]) * dt
    panels = (
        (learning_signal, "learning signal |L| (readout)"),
        (modulation, "MDGL's modulatory term |(1−α) W̃ᵀ(Lψ)|"),
    )
    for ax, (values, title) in zip(axes, panels, strict=True):
        if values is None:
            ax.set_axis_off()
            continue
        for k, name in enumerate(names):
            ax.plot(t, _smooth(values[:, k], width), color=colors[k], lw=1.1, label=name)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time (ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean over trials and the type's neurons")
    axes[1].legend(fontsize=7, frameon=False, ncol=max(1, len(names) // 8))
    fig.suptitle(f"{rule}: what MDGL adds to each type's learning signal", fontsize=9)
    return fig


def readout_figure(
    y: np.ndarray, target: np.ndarray, *, dt: float = 1.0, trials: int = 3
) -> Figure:
    """Readout traces ``y`` ``[T, B, n_out]`` of the first ``trials`` trials against the targets:
    traces ``[T, B, n_out]`` (regression) or the label of each trial, marked at the last step where
    the answer is read (classification).

    Examples
    --------
    >>> fig = readout_figure(np.zeros((10, 2, 2)), np.array([0, 1]))
    >>> len(fig.axes)
    2
    """
    y, target = np.asarray(y), np.asarray(target)
    shown = min(int(trials), y.shape[1])
    fig = Figure(figsize=(4 * shown, 3.2), layout="constrained")
    axes = fig.subplots(1, shown, squeeze=False)[0]
    t = np.arange(y.shape[0]) * dt
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    for b, ax in enumerate(axes):
        for c in range(y.shape[2]):
            color = palette[c % len(palette)]
            ax.plot(t, y[:, b, c], color=color, lw=1.0, label=f"y{c}")
            if target.ndim == 3:
                ax.plot(t, target[:, b, c], color=color, lw=1.0, ls="--", label=f"target {c}")
        if target.ndim == 1:
            label = int(target[b])
            answer = int(np.argmax(y[-1, b]))
            ax.axvline(t[-1], color="0.6", lw=0.8, ls=":")
            ax.plot([t[-1]], [y[-1, b, label]], "o", color=palette[label % len(palette)], ms=6)
            ax.set_title(f"trial {b}: label {label}, answer {answer}", fontsize=9)
        else:
            ax.set_title(f"trial {b}", fontsize=9)
        ax.set_xlabel("time (ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("readout")
    axes[-1].legend(fontsize=7, frameon=False)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix, PNG by default)."""
    path = Path(path)
    fmt = path.suffix[1:] or "png"
    with atomic_path(path, suffix=path.suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt)
    return path
