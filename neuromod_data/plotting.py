"""Figures of interaction scores and modulation graphs (matplotlib).

Every function returns the :class:`matplotlib.figure.Figure` and, given ``save=PATH``, also writes it
there (atomically; the format follows the suffix). Inputs may be the long table, the aggregate returned
by :func:`~neuromod_data.score.score_interactions` (its table and type annotations are used), or a
graph from :func:`~neuromod_data.graph.build_graph`.

Figures are bare :class:`~matplotlib.figure.Figure` objects, never pyplot ones: no backend is
selected and nothing is registered with pyplot, so a notebook's backend and figure list stay as
they were (docs/design.md, "Reproducibility": library calls do not change process-wide state). A
``Figure`` still displays inline in Jupyter when it is a cell's value.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuromod_data._files import atomic_path
from neuromod_data.errors import ColumnError
from neuromod_data.graph import _nodes_frame, to_tensor
from neuromod_data.labels import GABA, GLUT

_CLASS_ORDER = {GABA: 0, GLUT: 1}


def _save(fig: Figure, save: str | os.PathLike | None, dpi: int = 150) -> Figure:
    if save is not None:
        path = Path(save)
        with atomic_path(path, suffix=path.suffix or ".png") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=(path.suffix[1:] or "png"))
    return fig


def _table_nodes(obj: Any, key: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    if isinstance(obj, pd.DataFrame):
        return obj, None
    if hasattr(obj, "uns") and hasattr(obj, "obs"):
        if key not in obj.uns:
            raise ColumnError(
                f"no interaction table under .uns[{key!r}]; run score_interactions first"
            )
        # cells scored in place keep their types under key + "_types"; an aggregate in obs
        nodes = obj.uns.get(key + "_types")
        return obj.uns[key], obj.obs if nodes is None else nodes
    raise TypeError(f"expected the long table or an aggregate AnnData, got {type(obj)}")


def _ordered(names: Sequence[str], nodes: pd.DataFrame) -> list[str]:
    """Types ordered by class (GABAergic, Glutamatergic, others), then by name."""
    cls = (
        nodes["class"].astype(str) if "class" in nodes.columns else pd.Series("", index=nodes.index)
    )
    return sorted(names, key=lambda n: (_CLASS_ORDER.get(cls.get(n, ""), 2), str(n)))


def _heatmap(ax, mat, rows, cols, title, cmap, cbar_label):
    im = ax.imshow(mat, cmap=cmap, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=90, fontsize=max(4, 9 - len(cols) // 15))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=max(4, 9 - len(rows) // 15))
    ax.set_xlabel("receiver (receptor)")
    ax.set_ylabel("sender (ligand)")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, label=cbar_label, shrink=0.8)
    return im


def _color_ticks(ax, names, nodes):
    if "color" not in nodes.columns:
        return
    for lab in ax.get_xticklabels() + ax.get_yticklabels():
        c = nodes["color"].get(lab.get_text())
        if isinstance(c, str) and c.startswith("#"):
            lab.set_color(c)


def plot_pair_heatmap(
    obj: Any,
    interaction: str,
    *,
    key: str = "neuromod_interactions",
    cmap: str = "viridis",
    save: str | os.PathLike | None = None,
) -> Figure:
    """Sender × receiver heatmap of one ligand–receptor pair's score (types ordered by class).

    Parameters
    ----------
    obj
        The long table, or an AnnData holding scores (cells scored in place, or the aggregate).
    interaction
        The pair, e.g. ``"Sst→Sstr2"``.
    key
        The ``uns`` key of the scores (``key_added`` of the scoring).
    cmap
        Colour map.
    save
        Also write the figure there (atomically; the format follows the suffix).

    Returns
    -------
    Figure
        The matplotlib figure.

    Raises
    ------
    ColumnError
        ``interaction`` is not in the table, or no scores under ``key``.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["Sst", "Sst", "L5 IT", "L5 IT"], "target": ["Sst", "L5 IT"] * 2,
    ...                   "interaction": ["Sst→Sstr2"] * 4, "score": [1.0, 2.0, 0.0, 0.5]})
    >>> fig = plot_pair_heatmap(t, "Sst→Sstr2")
    >>> fig.axes[0].get_title()
    'Sst→Sstr2'
    """
    table, nodes = _table_nodes(obj, key)
    if interaction not in set(table["interaction"]):
        raise ColumnError(
            f"interaction {interaction!r} not in the table; e.g. {table['interaction'].unique()[:5].tolist()}"
        )
    nd = _nodes_frame(table, nodes)
    names = _ordered(list(nd.index), nd)
    tensor, _, _ = to_tensor(table, names=names, pairs=[interaction])
    k = len(names)
    fig = Figure(figsize=(2 + 0.25 * k, 1.5 + 0.25 * k))
    ax = fig.subplots()
    _heatmap(ax, tensor[0], names, names, interaction, cmap, "score")
    _color_ticks(ax, names, nd)
    return _save(fig, save)


def plot_type_heatmap(
    obj: Any,
    *,
    key: str = "neuromod_interactions",
    interactions: Sequence[str] | None = None,
    cmap: str = "magma",
    save: str | os.PathLike | None = None,
) -> Figure:
    """Type × type heatmap of the scores summed over pairs (all, or ``interactions``), ordered by class.

    Parameters
    ----------
    obj
        The long table, an AnnData holding scores, or a graph (its edge weights summed over pairs).
    key
        The ``uns`` key of the scores (``key_added`` of the scoring).
    interactions
        Only these pairs.
    cmap
        Colour map.
    save
        Also write the figure there (atomically; the format follows the suffix).

    Returns
    -------
    Figure
        The matplotlib figure.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["Sst", "L5 IT"], "target": ["L5 IT", "Sst"],
    ...                   "interaction": ["Sst→Sstr2"] * 2, "score": [1.0, 2.0]})
    >>> [x.get_text() for x in plot_type_heatmap(t).axes[0].get_yticklabels()]
    ['Sst', 'L5 IT']
    """
    if isinstance(obj, nx.MultiDiGraph):
        nd = pd.DataFrame.from_dict(dict(obj.nodes(data=True)), orient="index")
        names = _ordered([str(n) for n in obj.nodes], nd)
        tensor, _, pairs = to_tensor(obj, names=names)
    else:
        table, nodes = _table_nodes(obj, key)
        nd = _nodes_frame(table, nodes)
        names = _ordered(list(nd.index), nd)
        tensor, _, pairs = to_tensor(table, names=names)
    if interactions is not None:
        sel = [pairs.index(p) for p in interactions if p in pairs]
        tensor = tensor[sel]
    k = len(names)
    fig = Figure(figsize=(2 + 0.25 * k, 1.5 + 0.25 * k))
    ax = fig.subplots()
    _heatmap(ax, tensor.sum(axis=0), names, names, f"summed over {tensor.shape[0]} pairs", cmap,
             "summed score")  # fmt: skip
    _color_ticks(ax, names, nd)
    return _save(fig, save)


def plot_graph(
    g: nx.MultiDiGraph,
    *,
    layout: str = "circular",
    seed: int = 0,
    max_width: float = 6.0,
    save: str | os.PathLike | None = None,
) -> Figure:
    """Draw the graph: nodes in their type colours (size ∝ √n_cells), one arrow per linked type pair
    with width ∝ summed edge weight.

    Parameters
    ----------
    g
        A graph from :func:`~neuromod_data.graph.build_graph`.
    layout
        ``"circular"`` (types ordered by class) or ``"spring"``.
    seed
        Seed of the spring layout.
    max_width
        Width of the strongest arrow.
    save
        Also write the figure there (atomically; the format follows the suffix).

    Returns
    -------
    Figure
        The matplotlib figure.

    Raises
    ------
    ValueError
        An unknown ``layout``.

    Examples
    --------
    >>> from neuromod_data.graph import build_graph
    >>> t = pd.DataFrame({"source": ["Sst"], "target": ["L5 IT"], "interaction": ["Sst→Sstr2"],
    ...                   "score": [1.0]})
    >>> plot_graph(build_graph(t)).axes[0].get_title()
    '2 types, 1 edges'
    """
    if not isinstance(g, nx.MultiDiGraph):
        raise TypeError(f"expected a MultiDiGraph, got {type(g)}")
    simple = nx.DiGraph()
    simple.add_nodes_from(g.nodes(data=True))
    for s, t, d in g.edges(data=True):
        w = float(d.get("weight", 1.0))
        if simple.has_edge(s, t):
            simple[s][t]["weight"] += w
            simple[s][t]["n"] += 1
        else:
            simple.add_edge(s, t, weight=w, n=1)
    if layout == "circular":
        nd = pd.DataFrame.from_dict(dict(g.nodes(data=True)), orient="index")
        order = _ordered([str(n) for n in g.nodes], nd) if len(nd) else []
        pos = nx.circular_layout(order)
    elif layout == "spring":
        pos = nx.spring_layout(simple, seed=seed, weight="weight")
    else:
        raise ValueError(f"layout must be 'circular' or 'spring', got {layout!r}")
    k = g.number_of_nodes()
    fig = Figure(figsize=(4 + 0.12 * k, 4 + 0.12 * k))
    ax = fig.subplots()
    cells = np.array([float(g.nodes[n].get("n_cells", 1)) for n in simple.nodes])
    sizes = 100 + 900 * np.sqrt(cells / cells.max()) if len(cells) else []
    colors = [g.nodes[n].get("color", "#808080") for n in simple.nodes]
    nx.draw_networkx_nodes(
        simple, pos, ax=ax, node_color=colors, node_size=sizes, edgecolors="black"
    )
    edges = [(s, t) for s, t in simple.edges if s != t]
    if edges:
        w = np.array([simple[s][t]["weight"] for s, t in edges])
        widths = 0.3 + max_width * w / w.max() if w.max() > 0 else np.ones_like(w)
        nx.draw_networkx_edges(simple, pos, edgelist=edges, ax=ax, width=widths, alpha=0.5,
                               arrows=True, arrowsize=8, connectionstyle="arc3,rad=0.1",
                               node_size=sizes)  # fmt: skip
    nx.draw_networkx_labels(simple, pos, ax=ax, font_size=max(5, 9 - k // 15))
    ax.set_title(f"{k} types, {g.number_of_edges()} edges")
    ax.set_axis_off()
    return _save(fig, save)


def plot_dotplot(
    obj: Any,
    *,
    key: str = "neuromod_interactions",
    sources: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    interactions: Sequence[str] | None = None,
    top_n: int | None = 30,
    max_columns: int | None = 40,
    cmap: str = "viridis",
    save: str | os.PathLike | None = None,
) -> Figure:
    """LIANA-style dot plot: one column per sender → receiver, one row per interaction; colour = score,
    size = −log10 p-value (or the product of ligand and receptor props when there are no p-values).

    Parameters
    ----------
    obj
        The long table, or an AnnData holding scores.
    key
        The ``uns`` key of the scores (``key_added`` of the scoring).
    sources, targets, interactions
        Only these senders, receivers, pairs.
    top_n
        Keep the interactions with the highest maximum score.
    max_columns
        Keep the sender → receiver combinations with the highest summed score.
    cmap
        Colour map.
    save
        Also write the figure there (atomically; the format follows the suffix).

    Returns
    -------
    Figure
        The matplotlib figure.

    Raises
    ------
    ColumnError
        Nothing left to plot after the selection.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["Sst"], "target": ["L5 IT"], "interaction": ["Sst→Sstr2"],
    ...                   "score": [1.0], "pvalue": [0.01]})
    >>> plot_dotplot(t).axes[0].get_title()
    'dot size: −log10 p'
    """
    table, _ = _table_nodes(obj, key)
    t = table
    if sources is not None:
        t = t[t["source"].isin(sources)]
    if targets is not None:
        t = t[t["target"].isin(targets)]
    if interactions is not None:
        t = t[t["interaction"].isin(interactions)]
    if t.empty:
        raise ColumnError(
            "nothing to plot: no rows left after selecting sources/targets/interactions"
        )
    if top_n is not None:
        best = (
            t.groupby("interaction")["score"].max().sort_values(ascending=False).head(top_n).index
        )
        t = t[t["interaction"].isin(best)]
    if max_columns is not None:
        combo = t["source"].astype(str) + " → " + t["target"].astype(str)
        best = t.groupby(combo)["score"].sum().sort_values(ascending=False).head(max_columns).index
        t = t[combo.isin(best)]
    pv = t["pvalue"].to_numpy(dtype=float) if "pvalue" in t.columns else np.full(len(t), np.nan)
    if np.isfinite(pv).any():
        size_val, size_label = -np.log10(np.clip(pv, 1e-10, 1.0)), "−log10 p"
    elif {"ligand_props", "receptor_props"} <= set(t.columns):
        size_val = t["ligand_props"].to_numpy(float) * t["receptor_props"].to_numpy(float)
        size_label = "ligand × receptor props"
    else:
        size_val, size_label = np.ones(len(t)), ""
    size_val = np.nan_to_num(size_val)
    cols = list(dict.fromkeys(t["source"].astype(str) + " → " + t["target"].astype(str)))
    rows = list(dict.fromkeys(t["interaction"].astype(str)))
    x = (t["source"].astype(str) + " → " + t["target"].astype(str)).map(
        {c: i for i, c in enumerate(cols)}
    )
    y = t["interaction"].astype(str).map({r: i for i, r in enumerate(rows)})
    fig = Figure(figsize=(2.5 + 0.22 * len(cols), 1.5 + 0.25 * len(rows)))
    ax = fig.subplots()
    smax = size_val.max() if size_val.max() > 0 else 1.0
    sc = ax.scatter(x, y, c=t["score"].to_numpy(float), s=10 + 90 * size_val / smax, cmap=cmap,
                    edgecolors="black", linewidths=0.3)  # fmt: skip
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=90, fontsize=max(4, 8 - len(cols) // 25))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=max(4, 8 - len(rows) // 25))
    ax.set_xlim(-0.5, len(cols) - 0.5)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    ax.set_xlabel("sender → receiver")
    ax.set_ylabel("interaction")
    ax.set_title(f"dot size: {size_label}" if size_label else "")
    fig.colorbar(sc, ax=ax, label="score", shrink=0.8)
    return _save(fig, save)
