"""Figures of a structure's physiology: per-type intrinsic parameters with the cells behind them, and
the type-to-type connectivity (matplotlib).

Each function returns the :class:`matplotlib.figure.Figure` and, given ``save=PATH``, also writes it
there (atomically; the format follows the suffix). Figures are bare ``Figure`` objects, never pyplot
ones: no backend is selected and nothing is registered with pyplot, so a notebook's backend and
figure list stay as they were (docs/design.md, "Reproducibility": library calls do not change
process-wide state); a ``Figure`` still displays inline in Jupyter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuromod_data._files import atomic_path
from neuromod_data.structure import PARAMETER_UNITS, Connectivity, IntrinsicParameters

__all__ = ["plot_connectivity", "plot_intrinsic"]

_TITLES = {
    "tau_m": "τ_m (ms)",
    "tau_a": "τ_a (ms)",
    "beta": "β (adaptation strength)",
    "adaptive": "adaptive cells (fraction)",
    "v_th": "v_th (model units; paper 0.01)",
    "n_ref": "refractory period (steps of 1 ms)",
}


def _save(fig: Figure, save: str | os.PathLike | None, dpi: int = 150) -> Figure:
    if save is not None:
        path = Path(save)
        with atomic_path(path, suffix=path.suffix or ".png") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=(path.suffix[1:] or "png"))
    return fig


def _cells_of(cells: pd.DataFrame | None, level: str, group: str, param: str) -> np.ndarray:
    if cells is None or level not in cells.columns or param not in cells.columns:
        return np.array([])
    lab = cells[level]
    mask = (lab.where(lab.isna(), lab.astype(str)) == group).to_numpy()
    vals = pd.to_numeric(cells.loc[mask, param], errors="coerce").to_numpy(dtype=float)
    return vals[np.isfinite(vals)]


def plot_intrinsic(
    intrinsic: IntrinsicParameters,
    cells: pd.DataFrame | None = None,
    *,
    params: Sequence[str] = ("tau_m", "beta", "adaptive", "v_th", "n_ref"),
    seed: int = 0,
    save: str | os.PathLike | None = None,
) -> Figure:
    """One panel per parameter: each type's value (diamond) over the cells behind it.

    Parameters
    ----------
    intrinsic
        Per-type parameters (e.g. ``structure.intrinsic``).
    cells
        Per-cell parameter values with the label columns, e.g.
        ``pd.concat([cells[[label, *fallback]], ephys.cell_parameters(cells, ...)], axis=1)``;
        for each type the cells of the group its value came from are drawn (box: quartiles,
        whiskers 1.5 IQR; dots: cells, jittered). Without it only the values are drawn, with
        bars spanning ``median · exp(±spread)``.
    params
        Parameters to show, one panel each (``adaptive``: the fraction of adapting cells, bars).
    seed
        Seed of the horizontal jitter of the dots.

    Type labels carry the number of cells and, where the value comes from a parent level or from
    the paper, an arrow to that group (``"→ IT"``, ``"→ paper"``).
    """
    rng = np.random.default_rng(seed)
    params = [p for p in params if p in intrinsic.params]
    k = len(intrinsic.types)
    fig = Figure(figsize=(max(6.0, 0.55 * k + 2), 2.4 * len(params)))
    axes = fig.subplots(len(params), 1, squeeze=False)
    x = np.arange(k)
    for ax, p in zip(axes[:, 0], params):
        j = intrinsic.params.index(p)
        labels = []
        for i, t in enumerate(intrinsic.types):
            level, group = str(intrinsic.level[i, j]), str(intrinsic.group[i, j])
            n = int(intrinsic.n_cells[i, j])
            tail = ""
            if level in ("default", "constant"):
                tail = " → paper" if level == "default" else ""
            elif group != t:
                tail = f" → {group}"
            labels.append(f"{t}{tail}\n(n={n})")
            vals = _cells_of(cells, level, group, p)
            if p == "adaptive":
                ax.bar(i, intrinsic.median[i, j], color="#bbbbbb", width=0.6)
                continue
            if vals.size:
                ax.boxplot(
                    vals,
                    positions=[i],
                    widths=0.5,
                    showfliers=False,
                    medianprops={"color": "#555555"},
                    manage_ticks=False,
                )
                ax.scatter(
                    i + rng.uniform(-0.18, 0.18, vals.size), vals, s=5, alpha=0.35, color="#1f77b4"
                )
            elif cells is None and intrinsic.spread[i, j] > 0:
                m, s = intrinsic.median[i, j], intrinsic.spread[i, j]
                ax.vlines(i, m * np.exp(-s), m * np.exp(s), color="#1f77b4")
        ax.scatter(
            x,
            intrinsic.median[:, j],
            marker="D",
            s=36,
            color="#d62728",
            zorder=5,
            label="type value",
        )
        if p == "adaptive":
            ax.axhline(0.5, color="#888888", lw=0.8, ls="--")
            ax.set_ylim(0, 1.05)
        else:
            # fitted β and τ_a span decades (β = increment · v_th / (1 − ρ) grows with τ_a):
            # a log axis keeps the type values readable beside the cells
            shown = np.concatenate(
                [np.ravel(c.get_offsets()[:, 1]) for c in ax.collections if len(c.get_offsets())]
                or [np.array([1.0])]
            )
            shown = shown[np.isfinite(shown) & (shown > 0)]
            if shown.size and shown.max() > 20 * shown.min():
                ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=max(5, 9 - k // 10), rotation=90 if k > 8 else 0)
        ax.set_title(_TITLES.get(p, p), fontsize=10, loc="left")
        ax.set_ylabel(PARAMETER_UNITS[p].split(" (")[0], fontsize=8)
    axes[0, 0].legend(loc="upper right", fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, save)


def plot_connectivity(
    connectivity: Connectivity,
    *,
    annotate: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Figure:
    """Heatmaps of the connection probability and strength, presynaptic type (rows) → postsynaptic
    type (columns); values written in the cells when ``annotate`` (default: up to 12 types)."""
    names = list(connectivity.types)
    k = len(names)
    annotate = k <= 12 if annotate is None else annotate
    units = connectivity.meta.get("units", {})
    fig = Figure(figsize=(max(8.0, 1.1 * k + 4), max(3.5, 0.5 * k + 2)))
    axes = fig.subplots(1, 2)
    for ax, (mat, title, cmap, fmt) in zip(
        axes,
        (
            (connectivity.probability, "connection probability", "Blues", "{:.2f}"),
            (connectivity.strength, "strength", "Oranges", "{:.2g}"),
        ),
    ):
        im = ax.imshow(mat, cmap=cmap, aspect="auto", interpolation="nearest", vmin=0)
        ax.set_xticks(range(k))
        ax.set_xticklabels(names, rotation=90, fontsize=max(5, 9 - k // 10))
        ax.set_yticks(range(k))
        ax.set_yticklabels(names, fontsize=max(5, 9 - k // 10))
        ax.set_xlabel("postsynaptic type")
        ax.set_ylabel("presynaptic type")
        ax.set_title(units.get(title.split()[-1]) or title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
        if annotate:
            top = float(np.max(mat)) if np.size(mat) else 0.0
            for (i, j), v in np.ndenumerate(mat):
                ax.text(
                    j,
                    i,
                    fmt.format(v),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if top and v > 0.6 * top else "black",
                )
    fig.tight_layout()
    return _save(fig, save)
