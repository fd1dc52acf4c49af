"""Coarsening: a graph or table pooled to a higher label level by block means.

As Smith et al. pooled to 12 major types: the map from fine to coarse types comes from
:func:`neuromod_data.labels.level_mapping`; the coarse node's class is the one class of its members
(the cell-type layer's level rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from neuromod_data import labels
from neuromod_data.errors import CellTypeError
from neuromod_data.graph.build import _check_table, _tensor_to_table, build_graph, to_tensor
from neuromod_data.labels import class_sign


def _mapping_series(mapping, names: Sequence[str]) -> pd.Series:
    m = pd.Series(mapping) if isinstance(mapping, Mapping) else pd.Series(mapping)
    m.index = m.index.astype(str)
    absent = [n for n in names if n not in m.index]
    if absent:
        raise CellTypeError(f"coarsening mapping lacks the types {absent[:8]}")
    return m.loc[list(names)].astype(str)


def coarsen_table(
    table: pd.DataFrame,
    mapping: Mapping[str, str] | pd.Series,
    *,
    weights: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:
    """Pool a table to a higher label level by block means (as Smith et al. pooled to 12 major types).

    The coarse score of pair ``p`` from group ``A`` to group ``B`` is the mean of the fine scores over all
    senders ``a ∈ A`` and receivers ``b ∈ B`` (absent rows count as 0), weighted by ``weights[a] ·
    weights[b]`` when given (e.g. ``n_cells``). Ligand / receptor means and props are pooled the same way
    per type. p-values do not pool and are NaN.

    Parameters
    ----------
    table
        The long interaction table.
    mapping
        Fine type → coarse type for every type of the table, e.g. from
        :func:`neuromod_data.labels.level_mapping`.
    weights
        Per fine type weight (e.g. ``n_cells``); default: equal weights.

    Returns
    -------
    DataFrame
        The long table of the coarse types (every pair × coarse sender × coarse receiver).

    Raises
    ------
    CellTypeError
        ``mapping`` lacks some of the table's types.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["a1", "a2"], "target": ["b", "b"], "interaction": ["X→Y"] * 2,
    ...                   "score": [1.0, 3.0]})
    >>> coarsen_table(t, {"a1": "A", "a2": "A", "b": "B"}).query("source == 'A' and target == 'B'").score.item()
    2.0
    """
    _check_table(table)
    tensor, names, pairs = to_tensor(table)
    m = _mapping_series(mapping, names)
    groups = list(dict.fromkeys(m.tolist()))
    w = (
        np.ones(len(names))
        if weights is None
        else pd.Series(weights).astype(float).loc[names].to_numpy()
    )
    c = np.zeros((len(groups), len(names)))
    c[[groups.index(x) for x in m], np.arange(len(names))] = w
    c /= c.sum(axis=1, keepdims=True)
    coarse = np.einsum("ga,pab,hb->pgh", c, tensor, c)
    out = _tensor_to_table(coarse, groups, pairs, table)
    for side, col in (("source", "ligand"), ("target", "receptor")):
        for stat in (f"{col}_means", f"{col}_props"):
            if stat in table.columns:
                per = table.drop_duplicates(["interaction", side]).pivot(index=side, columns="interaction",
                                                                         values=stat)  # fmt: skip
                per = per.reindex(index=names, columns=pairs).fillna(0.0).to_numpy()
                pooled = c @ per  # (groups, pairs)
                gi = out[side].map({g: i for i, g in enumerate(groups)}).to_numpy()
                pj = out["interaction"].map({p: i for i, p in enumerate(pairs)}).to_numpy()
                out[stat] = pooled[gi, pj]
    return out


def coarsen_graph(
    g: nx.MultiDiGraph, mapping: Mapping[str, str] | pd.Series, *, weights: str | None = None
) -> nx.MultiDiGraph:
    """Coarsen a graph's edge weights to a higher label level by block means (zeros where no edge).

    Parameters
    ----------
    g
        A graph from :func:`build_graph`.
    mapping
        Fine type → coarse type for every node.
    weights
        A node attribute to weight the fine types by (e.g. ``"n_cells"``); default: equal weights.

    Returns
    -------
    MultiDiGraph
        The coarse graph; a coarse node has the summed ``n_cells``, the one ``class`` of its members
        and its sign, and the colour of its largest member.

    Raises
    ------
    CellTypeError
        The members of a coarse node have different classes (named; no majority vote), or
        ``mapping`` lacks some nodes.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["Sst a", "Sst b"], "target": ["L5 IT"] * 2,
    ...                   "interaction": ["Sst→Sstr2"] * 2, "score": [1.0, 3.0]})
    >>> c = coarsen_graph(build_graph(t), {"Sst a": "Sst", "Sst b": "Sst", "L5 IT": "IT"})
    >>> c.edges["Sst", "IT", "Sst→Sstr2"]["weight"], c.nodes["Sst"]["sign"]
    (2.0, -1)
    """
    tensor, names, pairs = to_tensor(g)
    m = _mapping_series(mapping, names)
    table = _tensor_to_table(tensor, names, pairs, None)
    info = {(s, t, k): d for s, t, k, d in g.edges(keys=True, data=True)}
    for k in pairs:
        d = next((d for (_, _, kk), d in info.items() if kk == k), None)
        if d is not None:
            table.loc[table.interaction == k, "family"] = d.get("family", "")
            table.loc[table.interaction == k, "g_protein"] = d.get("g_protein", "")
    w = {n: g.nodes[n].get(weights, 1) for n in names} if weights else None
    coarse = coarsen_table(table, m, weights=w)
    # a coarse node's class: the one class of its members (the cell-type layer's level rule)
    member_class = pd.Series([g.nodes[n].get("class") or None for n in m.index], dtype=object)
    classes = labels._map_levels(
        pd.Series(m.to_numpy(), dtype=object), member_class, "coarse type", "class",
        allow_missing=True, unit="types",
    )  # fmt: skip
    rows = []
    for grp, members in m.groupby(m):
        cells = [int(g.nodes[n].get("n_cells", 1)) for n in members.index]
        cls = classes.get(grp) or labels.infer_class(grp)
        big = members.index[int(np.argmax(cells))]
        rows.append({"name": grp, "n_cells": sum(cells), "class": cls, "sign": class_sign(cls),
                     "color": g.nodes[big].get("color", "#808080")})  # fmt: skip
    nodes = pd.DataFrame(rows).set_index("name")
    meta = {k: v for k, v in g.graph.items() if k not in ("interactions", "thresholds")}
    meta["coarsened_from"] = len(names)
    return build_graph(coarse, pvalue=None, nodes=nodes, meta=meta)
