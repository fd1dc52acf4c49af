"""The figure of the gradient alignment (matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .arms import ARMS

_COLOURS = {
    "eprop": "#7f7f7f",
    "ones": "#2ca02c",
    "ei": "#9467bd",
    "data": "#d62728",
    "label-permuted": "#1f77b4",
    "grid-shuffled": "#17becf",
    "uniform": "#ff7f0e",
    "exact": "#000000",
}


def plot_alignment(table: Any, summary: Any, *, title: str = "") -> Any:
    """Cosine to BPTT per arm against the checkpoint, and the permutation null of the data gate at
    the last checkpoint, on a :class:`matplotlib.figure.Figure` (no pyplot, no backend change).

    Examples
    --------
    >>> import pandas as pd
    >>> from neuromod_models.alignment import summarize
    >>> rows = [dict(seed=0, batch=0, checkpoint=c, arm=a, draw=d, cosine=v, norm_ratio=1.0,
    ...              cosine_exact=1.0, distance_exact=0.0)
    ...         for c in (0, 5) for a, d, v in [("data", 0, 0.5), ("ones", 0, 0.6),
    ...                                         ("label-permuted", 0, 0.4), ("label-permuted", 1, 0.45)]]
    >>> t = pd.DataFrame(rows)
    >>> fig = plot_alignment(t, summarize(t))
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8))
    ax, ax2 = fig.subplots(1, 2)
    per_draw = (
        table.groupby(["checkpoint", "arm", "draw"])["cosine"].mean().reset_index()
    )  # over seeds and batches
    for arm in ARMS:
        s = summary[summary["arm"] == arm].sort_values("checkpoint")
        if s.empty:
            continue
        col = _COLOURS[arm]
        ax.plot(s["checkpoint"], s["mean_cosine"], "o-", color=col, ms=3, lw=1.2, label=arm)
        if arm in ("label-permuted", "grid-shuffled"):
            d = per_draw[per_draw["arm"] == arm].groupby("checkpoint")["cosine"]
            lo, hi = d.quantile(0.025), d.quantile(0.975)
            ax.fill_between(lo.index, lo.to_numpy(), hi.to_numpy(), color=col, alpha=0.15, lw=0)
    ax.set_xlabel("reference training iteration (MDGL, gate ones)")
    ax.set_ylabel("cosine with BPTT's gradient")
    ax.legend(frameon=False, fontsize=7, ncol=2)
    last = int(table["checkpoint"].max())
    perm = per_draw[(per_draw["arm"] == "label-permuted") & (per_draw["checkpoint"] == last)]
    if len(perm):
        ax2.hist(
            perm["cosine"], bins=min(40, max(5, len(perm) // 5)), color=_COLOURS["label-permuted"]
        )
    sl = summary[summary["checkpoint"] == last].set_index("arm")
    for arm in ("data", "ones", "eprop", "exact", "uniform"):
        if arm in sl.index:
            ax2.axvline(sl.loc[arm, "mean_cosine"], color=_COLOURS[arm], lw=1.5, label=arm)
    if "data" in sl.index and np.isfinite(sl.loc["data", "perm_p"]):
        ax2.set_title(
            f"checkpoint {last}: data rank {int(sl.loc['data', 'perm_rank'])} of "
            f"{int(sl.loc['data', 'n_perms']) + 1}, p = {sl.loc['data', 'perm_p']:.3g}",
            fontsize=9,
        )
    ax2.set_xlabel("cosine with BPTT (mean over seeds and batches)")
    ax2.set_ylabel("label permutations")
    ax2.legend(frameon=False, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
