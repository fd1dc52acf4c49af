"""The report's figures (:mod:`neuromod_data.report`): the per-type expression heatmap and the
structure's panels, on bare :class:`matplotlib.figure.Figure` objects, and a figure as an inlined
PNG."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


# ------------------------------------------------------------------------------------ figures
def expression_heatmap(table: pd.DataFrame, *, title: str = "", max_genes: int = 60) -> Figure:
    """Types × genes heatmap of an aggregate table (rows types, columns genes).

    With more than ``max_genes`` columns only the most variable across types are drawn.

    Examples
    --------
    >>> t = pd.DataFrame([[1.0, 0.0], [0.2, 1.0]], index=["Vip", "Sst"], columns=["Vip", "Sst"])
    >>> expression_heatmap(t, title="smith2019").axes[0].get_title()
    'smith2019'
    """
    values = table.apply(pd.to_numeric, errors="coerce")
    if values.shape[1] > max_genes:
        keep = values.var(axis=0).sort_values(ascending=False).index[:max_genes]
        values = values[[c for c in values.columns if c in set(keep)]]
    k, g = values.shape
    fig = Figure(figsize=(min(2.5 + 0.22 * g, 18), min(1.5 + 0.2 * k, 16)), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(
        values.to_numpy(dtype=float), aspect="auto", cmap="viridis", interpolation="nearest"
    )
    ax.set_xticks(range(g), [str(c) for c in values.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(k), [str(i) for i in values.index], fontsize=7)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.6)
    return fig


def structure_figure(structure: Any, *, title: str = "", top: int = 20) -> Figure:
    """The modulation between types: summed sender → receiver heatmap, and the ``top`` strongest
    couplings between two different types drawn as arrows between the types in a circle.

    ``structure`` is a :class:`~neuromod_data.structure.CellTypeStructure` (or a path to its
    ``.npz``). Only the strongest couplings are drawn so the panel stays readable whatever the
    number of types (a graph of every scored link, thousands of arrows, is not); the heatmap shows
    them all.

    Examples
    --------
    >>> from neuromod_data.structure import CellTypeStructure
    >>> len(structure_figure(CellTypeStructure.ei()).axes)
    3
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    from neuromod_data.structure import CellTypeStructure

    if not isinstance(structure, CellTypeStructure):
        structure = CellTypeStructure.load(structure)
    gate = structure.gate(kind="weighted")
    names = list(structure.names)
    k = len(names)
    colors = list(structure.colors) if structure.colors else ["#4c72b0"] * k
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax_h, ax_g = fig.subplots(1, 2, width_ratios=[1.1, 1])
    im = ax_h.imshow(gate, cmap="magma", vmin=0, interpolation="nearest")
    fs = 7 if k <= 30 else 5
    ax_h.set_xticks(range(k), names, rotation=90, fontsize=fs)
    ax_h.set_yticks(range(k), names, fontsize=fs)
    ax_h.set_xlabel("receiver type")
    ax_h.set_ylabel("sender type")
    ax_h.set_title(f"summed modulation ({structure.n_pairs} pairs)")
    fig.colorbar(im, ax=ax_h, shrink=0.7)

    angle = 2 * np.pi * np.arange(k) / max(k, 1)
    xy = np.c_[np.cos(angle), np.sin(angle)]
    # the strongest couplings between different types, strongest first (ties: sender, receiver)
    off = [
        (float(gate[a, b]), a, b) for a in range(k) for b in range(k) if a != b and gate[a, b] > 0
    ]
    shown = sorted(off, key=lambda t: (-t[0], t[1], t[2]))[:top]
    for g, a, b in shown:
        ax_g.annotate(
            "",
            xy=xy[b],
            xytext=xy[a],
            arrowprops={
                "arrowstyle": "-|>",
                "color": colors[a],
                "alpha": 0.15 + 0.6 * g,
                "lw": 0.5 + 2 * g,
                "shrinkA": 6,
                "shrinkB": 6,
                "connectionstyle": "arc3,rad=0.15",
            },
        )
    sizes = 60 + 600 * structure.abundances / structure.abundances.max()
    markers = np.where(structure.signs > 0, "o", "s")
    for i in range(k):
        ax_g.scatter(*xy[i], s=sizes[i], c=colors[i], marker=markers[i], edgecolors="k", zorder=3)
        ax_g.text(*(xy[i] * 1.18), names[i], ha="center", va="center", fontsize=fs)
    ax_g.set_xlim(-1.45, 1.45)
    ax_g.set_ylim(-1.35, 1.35)
    ax_g.set_aspect("equal")
    ax_g.axis("off")
    ax_g.set_title(
        f"the {len(shown)} strongest of {len(off)} couplings between types\n"
        "(○ E, □ I; size = abundance)",
        fontsize=9,
    )
    if title:
        fig.suptitle(title)
    return fig


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")
