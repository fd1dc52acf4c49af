"""The modulation graph: cell types as nodes, one edge per coupled ligand–receptor pair.

``build_graph`` turns the long table of :func:`neuromod_data.score.score_interactions` into an
``nx.MultiDiGraph``: nodes are types (attributes ``n_cells``, ``class``, ``sign``, ``color``), and every
significant or above-threshold (sender, receiver, pair) row is one edge keyed by the interaction name
(``"Npy→Npy1r"``) with ``weight`` (the score), ``pvalue``, ``family``, ``g_protein``, ``ligand``,
``receptor``.

Node classes, signs and colours follow the cell-type layer (:mod:`neuromod_data.labels`): GABAergic
→ −1, Glutamatergic → +1. Non-neuronal types get sign 0 in the graph (they have no Dale sign);
:func:`to_structure` leaves them out by default, since the network models are made of neurons only.
"Coarsening" here means pooling scores to a coarser label level (:func:`coarsen_table`,
:func:`coarsen_graph`) along a map from :func:`neuromod_data.labels.level_mapping`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from neuromod_data import labels
from neuromod_data._files import atomic_path, require_file
from neuromod_data.errors import CellTypeError, ColumnError, FormatError, NeuromodWarning
from neuromod_data.labels import class_sign, type_annotations
from neuromod_data.structure import CellTypeStructure

_TABLE_REQUIRED = ("source", "target", "interaction", "score")
_MOVED = {  # old public names of this module → their home in the cell-type layer
    "infer_class": "infer_class",
    "default_colors": "default_colors",
    "type_sign": "class_sign",
    "level_mapping": "level_mapping",
    "GABA": "GABA",
    "GLUT": "GLUT",
    "NONNEURONAL": "NONNEURONAL",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"neuromod_data.graph.{name} moved to neuromod_data.labels.{_MOVED[name]}; the old name "
        "will be removed",
        DeprecationWarning,
        stacklevel=2,
    )
    if name == "type_sign":
        return _deprecated_type_sign
    if name == "level_mapping":
        return _deprecated_level_mapping
    return getattr(labels, _MOVED[name])


def _deprecated_type_sign(class_label: str, name: str = "") -> int:
    # the old signature: a missing class is inferred from the type's name
    c = str(class_label)
    if c.lower() in ("", "nan") and name:
        c = labels.infer_class(name)
    return class_sign(c)


def _deprecated_level_mapping(obs: Any, fine: str, coarse: str) -> dict[str, str]:
    return labels.level_mapping(obs, fine=fine, coarse=coarse).to_dict()


def _nodes_frame(table: pd.DataFrame, nodes) -> pd.DataFrame:
    """One row per type with ``n_cells``, ``class``, ``color``, ``sign`` (missing ones filled by the
    cell-type layer's rules, :func:`neuromod_data.labels.type_annotations`)."""
    if nodes is not None and hasattr(nodes, "obs") and hasattr(nodes, "uns"):
        nodes = nodes.obs
    if nodes is None:
        names = list(dict.fromkeys(list(table["source"]) + list(table["target"])))
        df = pd.DataFrame(index=pd.Index(names, dtype=str))
    else:
        df = pd.DataFrame(nodes).copy()
        df.index = df.index.astype(str)
    names = list(df.index)
    if "n_cells" not in df.columns:
        df["n_cells"] = 1
    missing = [c for c in ("class", "color", "sign") if c not in df.columns]
    if missing:
        ann = type_annotations(df)
        ann.index = df.index
        for c in missing:
            df[c] = ann[c]
    unknown = sorted(set(table["source"]).union(table["target"]) - set(names))
    if unknown:
        raise CellTypeError(f"the table names types absent from the nodes: {unknown[:8]}")
    return df


def _check_table(table: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected the long interaction table (DataFrame), got {type(table)}")
    missing = [c for c in _TABLE_REQUIRED if c not in table.columns]
    if missing:
        raise ColumnError(
            f"interaction table lacks columns {missing}; it has {list(table.columns)}"
        )
    return table


# -------------------------------------------------------------------- graph
def select_edges(
    table: pd.DataFrame,
    *,
    pvalue: float | None = 0.05,
    quantile: float | None = None,
    top_k: int | None = None,
    min_score: float = 0.0,
) -> pd.DataFrame:
    """Rows of ``table`` that become edges.

    A row is kept when its score is above ``min_score``, its p-value (if the table has any) is at most
    ``pvalue``, its score is at least the ``quantile`` of all scores of the table (Smith et al. used the
    90th percentile, ``quantile=0.9``), and it is among the ``top_k`` highest scores.

    Parameters
    ----------
    table
        The long interaction table (``source``, ``target``, ``interaction``, ``score``, optional
        ``pvalue``).
    pvalue
        Largest p-value kept; ignored when the table has no finite p-values; ``None``: no cut.
    quantile
        Keep scores at least this quantile of all scores (in [0, 1]); ``None``: no cut.
    top_k
        Keep at most this many rows, the highest scores.
    min_score
        Keep scores strictly above this.

    Returns
    -------
    DataFrame
        The kept rows (a subset of ``table``).

    Examples
    --------
    >>> t = pd.DataFrame({"source": list("abc"), "target": list("bca"), "interaction": ["X→Y"] * 3,
    ...                   "score": [0.0, 1.0, 2.0], "pvalue": [0.01, 0.2, 0.01]})
    >>> select_edges(t).score.tolist(), select_edges(t, pvalue=None, top_k=1).score.tolist()
    ([2.0], [2.0])
    """
    _check_table(table)
    keep = table["score"].to_numpy(dtype=float) > min_score
    if pvalue is not None and "pvalue" in table.columns:
        pv = table["pvalue"].to_numpy(dtype=float)
        if np.isfinite(pv).any():
            keep &= pv <= pvalue
    if quantile is not None:
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must lie in [0, 1], got {quantile}")
        cut = np.quantile(table["score"].to_numpy(dtype=float), quantile)
        keep &= table["score"].to_numpy(dtype=float) >= cut
    out = table[keep]
    if top_k is not None:
        out = out.sort_values("score", ascending=False, kind="stable").head(int(top_k))
    return out


def build_graph(
    table: pd.DataFrame,
    *,
    pvalue: float | None = 0.05,
    quantile: float | None = None,
    top_k: int | None = None,
    min_score: float = 0.0,
    nodes: pd.DataFrame | Any | None = None,
    interactions: Sequence[str] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> nx.MultiDiGraph:
    """Modulation graph from a long interaction table.

    Parameters
    ----------
    table
        Long table (``source``, ``target``, ``interaction``, ``score`` + optional ``pvalue``,
        ``family``, ``g_protein``, ``ligand``, ``receptor``).
    pvalue, quantile, top_k, min_score
        Edge thresholds, see :func:`select_edges`.
    nodes
        Type annotations: the aggregate (AnnData, its ``obs``) or a DataFrame indexed by type with
        ``n_cells``, ``class``, ``color``, ``sign``; inferred from the names when absent.
    interactions
        All interactions scored, also those with no row left in the table (kept in the graph's
        ``interactions`` attribute so the structure has one slice per pair); default: the table's.
    meta
        Graph attributes (method, resource, ...); scalars only, for GraphML.

    Returns
    -------
    MultiDiGraph
        Nodes: types with ``n_cells``, ``class``, ``sign``, ``color``; edges keyed by interaction with
        ``weight``, ``pvalue``, ``family``, ``g_protein``, ``ligand``, ``receptor``; graph attributes
        ``meta``, ``interactions`` and ``thresholds`` (JSON).

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["A", "A"], "target": ["B", "A"], "interaction": ["Npy→Npy1r"] * 2,
    ...                   "score": [0.9, 0.0], "pvalue": [0.01, 1.0]})
    >>> g = build_graph(t)
    >>> sorted(g.edges(keys=True)), g.nodes["A"]["sign"]
    ([('A', 'B', 'Npy→Npy1r')], 0)
    """
    _check_table(table)
    nd = _nodes_frame(table, nodes)
    g = nx.MultiDiGraph()
    interactions = list(
        dict.fromkeys(list(interactions or []) + list(table["interaction"].astype(str)))
    )
    g.graph.update({k: _graphml_value(v) for k, v in (meta or {}).items()})
    g.graph["interactions"] = json.dumps(interactions, ensure_ascii=False)
    g.graph["thresholds"] = json.dumps(
        {"pvalue": pvalue, "quantile": quantile, "top_k": top_k, "min_score": min_score}
    )
    for name, row in nd.iterrows():
        g.add_node(
            str(name),
            n_cells=int(row["n_cells"]),
            **{"class": str(row["class"])},
            sign=int(row["sign"]),
            color=str(row["color"]),
        )
    sel = select_edges(table, pvalue=pvalue, quantile=quantile, top_k=top_k, min_score=min_score)
    get = {c: (sel[c].to_numpy() if c in sel.columns else None) for c in
           ("pvalue", "family", "g_protein", "ligand", "receptor")}  # fmt: skip
    for i, (s, t, key, w) in enumerate(
        zip(sel["source"], sel["target"], sel["interaction"], sel["score"])
    ):
        g.add_edge(
            str(s),
            str(t),
            key=str(key),
            weight=float(w),
            pvalue=float(get["pvalue"][i]) if get["pvalue"] is not None else float("nan"),
            family=str(get["family"][i]) if get["family"] is not None else "",
            g_protein=str(get["g_protein"][i]) if get["g_protein"] is not None else "",
            ligand=str(get["ligand"][i]) if get["ligand"] is not None else str(key).split("→")[0],
            receptor=str(get["receptor"][i])
            if get["receptor"] is not None
            else str(key).split("→")[-1],
        )
    return g


def graph_from_scores(
    adata: Any, *, key: str = "neuromod_interactions", **thresholds: Any
) -> nx.MultiDiGraph:
    """:func:`build_graph` from the results :func:`~neuromod_data.score.score_interactions` stored.

    Parameters
    ----------
    adata
        The AnnData scored in place (cells or an aggregate) or the aggregate returned with
        ``inplace=False``: the table is ``uns[key]``, its parameters ``uns[key + "_params"]``, the
        types ``uns[key + "_types"]`` (or, for a returned aggregate, its ``obs``).
    key
        The ``uns`` key the scores were stored under (``key_added`` of the scoring).
    **thresholds
        ``pvalue``, ``quantile``, ``top_k``, ``min_score`` of :func:`select_edges`.

    Returns
    -------
    MultiDiGraph
        As :func:`build_graph`; the scoring's scalar parameters become graph attributes.

    Raises
    ------
    ColumnError
        Nothing is stored under ``uns[key]``.

    Examples
    --------
    >>> from neuromod_data.datasets import toy_cortex
    >>> from neuromod_data.score import score_interactions
    >>> cells = toy_cortex(n_cells=300, seed=0)
    >>> res = pd.DataFrame({"ligand": ["Npy"], "receptor": ["Npy1r"]})
    >>> score_interactions(cells, "subclass_label", resource=res)
    >>> g = graph_from_scores(cells, quantile=0.9)
    >>> g.graph["method"], g.number_of_nodes() == cells.obs["subclass_label"].nunique()
    ('product', True)
    """
    if key not in adata.uns:
        raise ColumnError(f"no interaction table under .uns[{key!r}]; run score_interactions first")
    params = dict(adata.uns.get(key + "_params", {}))
    meta = {k: v for k, v in params.items() if isinstance(v, str | int | float | bool)}
    for k in ("missing_interactions", "dropped_types"):
        if k in params:
            meta[k] = json.dumps(list(np.atleast_1d(params[k]).tolist()), ensure_ascii=False)
    inter = params.get("interactions")
    inter = None if inter is None else [str(x) for x in np.atleast_1d(inter)]
    nodes = adata.uns.get(key + "_types")
    nodes = adata.obs if nodes is None else nodes
    return build_graph(adata.uns[key], nodes=nodes, interactions=inter, meta=meta, **thresholds)


def _graphml_value(v: Any) -> Any:
    if isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, np.generic):
        return v.item()
    return json.dumps(v, default=str, ensure_ascii=False)


# ------------------------------------------------------------------- tensor
def graph_interactions(g: nx.MultiDiGraph) -> list[str]:
    """All interactions the graph was built from (also those without an edge), in order.

    Parameters
    ----------
    g
        A graph from :func:`build_graph`.

    Returns
    -------
    list of str
        Interaction names.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["A"], "target": ["B"], "interaction": ["X→Y"], "score": [0.0]})
    >>> graph_interactions(build_graph(t))  # no edge, still listed
    ['X→Y']
    """
    listed = json.loads(g.graph.get("interactions", "[]"))
    seen = list(dict.fromkeys(listed + [k for _, _, k in g.edges(keys=True)]))
    return seen


def to_tensor(
    obj: nx.MultiDiGraph | pd.DataFrame,
    *,
    names: Sequence[str] | None = None,
    pairs: Sequence[str] | None = None,
    weight: str = "weight",
) -> tuple[np.ndarray, list[str], list[str]]:
    """``(P, K, K)`` coupling tensor ``[pair, sender, receiver]`` from a graph or a table.

    Parameters
    ----------
    obj
        A graph (edge attribute ``weight``) or the long table (``score``).
    names
        Type order (default: the graph's nodes / the table's types in order of appearance); types not
        listed are left out.
    pairs
        Interaction order (default: :func:`graph_interactions` / the table's).
    weight
        Edge attribute read from a graph.

    Returns
    -------
    tuple of (ndarray, list of str, list of str)
        The tensor (zero where there is no edge / row), the type names and the pair names.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["A"], "target": ["B"], "interaction": ["X→Y"], "score": [2.0]})
    >>> tensor, names, pairs = to_tensor(t)
    >>> tensor.tolist(), names, pairs
    ([[[0.0, 2.0], [0.0, 0.0]]], ['A', 'B'], ['X→Y'])
    """
    if isinstance(obj, pd.DataFrame):
        _check_table(obj)
        names = (
            list(names)
            if names is not None
            else list(
                dict.fromkeys(list(obj["source"].astype(str)) + list(obj["target"].astype(str)))
            )
        )
        pairs = (
            list(pairs)
            if pairs is not None
            else list(dict.fromkeys(obj["interaction"].astype(str)))
        )
        rows = zip(obj["interaction"].astype(str), obj["source"].astype(str), obj["target"].astype(str),
                   obj["score"].astype(float))  # fmt: skip
    else:
        names = list(names) if names is not None else [str(n) for n in obj.nodes]
        pairs = list(pairs) if pairs is not None else graph_interactions(obj)
        rows = ((k, s, t, d.get(weight, 1.0)) for s, t, k, d in obj.edges(keys=True, data=True))
    ni = {n: i for i, n in enumerate(names)}
    pi = {p: i for i, p in enumerate(pairs)}
    out = np.zeros((len(pairs), len(names), len(names)))
    for p, s, t, w in rows:
        if p in pi and s in ni and t in ni:
            out[pi[p], ni[s], ni[t]] = w
    return out, names, pairs


def _tensor_to_table(tensor, names, pairs, template: pd.DataFrame | None) -> pd.DataFrame:
    p_n, k, _ = tensor.shape
    pi, ai, bi = np.meshgrid(np.arange(p_n), np.arange(k), np.arange(k), indexing="ij")
    names_a, pairs_a = np.asarray(names, dtype=object), np.asarray(pairs, dtype=object)
    df = pd.DataFrame(
        {
            "source": names_a[ai.ravel()],
            "target": names_a[bi.ravel()],
            "interaction": pairs_a[pi.ravel()],
            "score": tensor.ravel(),
        }
    )
    if template is not None:
        info_cols = [c for c in ("ligand", "receptor", "ligand_complex", "receptor_complex", "family",
                                  "g_protein") if c in template.columns]  # fmt: skip
        info = template.drop_duplicates("interaction").set_index("interaction")[info_cols]
        df = df.join(info, on="interaction")
    df["pvalue"] = np.nan
    return df


# --------------------------------------------------------------- coarsening
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


# ------------------------------------------------------------------ summary
def graph_summary(g: nx.MultiDiGraph) -> dict[str, Any]:
    """Density, degrees and per-family counts of a modulation graph.

    Parameters
    ----------
    g
        A graph from :func:`build_graph`.

    Returns
    -------
    dict
        ``n_types``, ``n_edges``, ``n_interactions``; ``density``: fraction of ordered (sender,
        receiver) type pairs, self pairs included, joined by at least one edge; ``edge_density``:
        edges / (pairs × K²); ``degrees``: DataFrame of in/out edge counts and in/out summed weights
        per type; ``per_family`` / ``per_interaction``: edge counts.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["A", "A"], "target": ["B", "A"], "interaction": ["X→Y"] * 2,
    ...                   "score": [1.0, 0.0]})
    >>> s = graph_summary(build_graph(t))
    >>> s["n_edges"], s["density"], s["edge_density"]
    (1, 0.25, 0.25)
    """
    k = g.number_of_nodes()
    pairs = graph_interactions(g)
    linked = {(s, t) for s, t in g.edges()}
    nodes = list(g.nodes)
    deg = pd.DataFrame(
        {
            "out_degree": [g.out_degree(n) for n in nodes],
            "in_degree": [g.in_degree(n) for n in nodes],
            "out_weight": [g.out_degree(n, weight="weight") for n in nodes],
            "in_weight": [g.in_degree(n, weight="weight") for n in nodes],
        },
        index=pd.Index(nodes, name="type"),
    )
    fam = pd.Series(
        [d.get("family", "") for _, _, d in g.edges(data=True)], dtype=str
    ).value_counts()
    per_int = pd.Series([kk for _, _, kk in g.edges(keys=True)], dtype=str).value_counts()
    return {
        "n_types": k,
        "n_edges": g.number_of_edges(),
        "n_interactions": len(pairs),
        "density": len(linked) / (k * k) if k else 0.0,
        "edge_density": g.number_of_edges() / (len(pairs) * k * k) if k and pairs else 0.0,
        "degrees": deg,
        "per_family": fam.to_dict(),
        "per_interaction": per_int.to_dict(),
    }


# ---------------------------------------------------------------- structure
def to_structure(
    obj: nx.MultiDiGraph | pd.DataFrame,
    *,
    nodes: pd.DataFrame | Any | None = None,
    non_neuronal: str = "drop",
    meta: Mapping[str, Any] | None = None,
    **thresholds: Any,
) -> CellTypeStructure:
    """The :class:`CellTypeStructure` hand-off from a graph (or a table, via :func:`build_graph`).

    ``modulation[p, a, b]`` is the weight of edge ``a → b`` keyed by pair ``p`` (0 where no edge),
    abundances are the types' ``n_cells``, signs their Dale signs. Types with sign 0 (non-neuronal) are
    dropped (``non_neuronal="drop"``, warned) or raise (``"error"``).

    Parameters
    ----------
    obj
        A graph from :func:`build_graph`, or the long table.
    nodes
        Type annotations for a table (as :func:`build_graph`'s ``nodes``).
    non_neuronal
        ``"drop"`` (warned) or ``"error"`` for types without a Dale sign.
    meta
        Extra provenance for :attr:`CellTypeStructure.meta`.
    **thresholds
        Edge thresholds of :func:`select_edges`, for a table only.

    Returns
    -------
    CellTypeStructure
        Names, abundances, signs, modulation ``[pair, sender, receiver]``, pairs, classes, colours.

    Raises
    ------
    CellTypeError
        Non-neuronal types with ``non_neuronal="error"``, or no signed type left.
    TypeError
        Thresholds given with a built graph.

    Examples
    --------
    >>> t = pd.DataFrame({"source": ["Sst", "L5 IT"], "target": ["L5 IT", "Sst"],
    ...                   "interaction": ["Sst→Sstr2", "Sst→Sstr2"], "score": [2.0, 0.0]})
    >>> s = to_structure(t, pvalue=None)
    >>> s.names, s.signs.tolist(), s.modulation[0].tolist()
    (('Sst', 'L5 IT'), [-1, 1], [[0.0, 2.0], [0.0, 0.0]])
    """
    if isinstance(obj, pd.DataFrame):
        g = build_graph(obj, nodes=nodes, **thresholds)
    elif isinstance(obj, nx.MultiDiGraph):
        if thresholds:
            raise TypeError(f"thresholds {list(thresholds)} apply to a table, not to a built graph")
        g = obj
    else:
        raise TypeError(f"expected a MultiDiGraph or the long table, got {type(obj)}")
    if non_neuronal not in ("drop", "error"):
        raise ValueError(f"non_neuronal must be 'drop' or 'error', got {non_neuronal!r}")
    names = [str(n) for n in g.nodes]
    zero = [n for n in names if int(g.nodes[n].get("sign", 0)) == 0]
    if zero:
        if non_neuronal == "error":
            raise CellTypeError(f"types without an E/I sign (non-neuronal): {zero}")
        warnings.warn(
            f"non-neuronal types left out of the structure: {zero}", NeuromodWarning, stacklevel=2
        )
    keep = [n for n in names if n not in zero]
    if not keep:
        raise CellTypeError("no neuronal (signed) types left for the structure")
    tensor, _, pairs = to_tensor(g, names=keep)
    info = {k: v for k, v in g.graph.items() if k != "interactions"}
    return CellTypeStructure(
        names=tuple(keep),
        abundances=np.array([g.nodes[n].get("n_cells", 1) for n in keep], dtype=float),
        signs=np.array([int(g.nodes[n]["sign"]) for n in keep]),
        modulation=tensor,
        pairs=tuple(pairs),
        classes=tuple(str(g.nodes[n].get("class", "")) for n in keep),
        colors=tuple(str(g.nodes[n].get("color", "")) for n in keep),
        meta={**info, "dropped_types": zero, **dict(meta or {})},
    )


# ----------------------------------------------------------------------- io
_GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
_GRAPHML_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}
_GRAPHML_PARSE = {
    "boolean": lambda v: v.strip().lower() in ("true", "1"),
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
}


def _xml_type(v: Any) -> str:
    for t in (bool, int, float, str):  # bool before int: True is an int too
        if isinstance(v, t):
            return _GRAPHML_TYPES[t]
    raise TypeError(f"not a GraphML scalar: {v!r}")


def write_graphml(g: nx.MultiDiGraph, path: str | os.PathLike) -> Path:
    """Write the graph as GraphML (atomically); every attribute becomes a GraphML scalar (lists and
    dicts as JSON strings). Edge ``id`` = the edge key (interaction name).

    A streaming writer: networkx's takes minutes for the ~10⁵–10⁶ edges of a cluster-level graph; the
    file is plain GraphML that networkx, Gephi or Cytoscape read.

    Parameters
    ----------
    g
        The graph.
    path
        Where to write (replaced atomically).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> t = pd.DataFrame({"source": ["A"], "target": ["B"], "interaction": ["X→Y"], "score": [2.0]})
    >>> p = write_graphml(build_graph(t), pathlib.Path(tempfile.mkdtemp()) / "g.graphml")
    >>> list(read_graphml(p).edges(keys=True, data="weight"))
    [('A', 'B', 'X→Y', 2.0)]
    """
    from xml.sax.saxutils import escape, quoteattr

    path = Path(path)
    keys: dict[tuple[str, str], tuple[str, str]] = {}  # (domain, name) -> (id, type)

    def key(domain: str, name: str, value: Any) -> str:
        k = (domain, name)
        if k not in keys:
            keys[k] = (f"d{len(keys)}", _xml_type(value))
        return keys[k][0]

    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return escape(repr(v) if isinstance(v, float) else str(v))

    def datas(domain: str, d: Mapping[str, Any]) -> str:
        out = []
        for name, v in d.items():
            v = _graphml_value(v)
            out.append(f'<data key="{key(domain, str(name), v)}">{fmt(v)}</data>')
        return "".join(out)

    body = ['  <graph edgedefault="directed">\n']
    gdata = datas("graph", g.graph)
    if gdata:
        body.append(f"    {gdata}\n")
    for n, d in g.nodes(data=True):
        body.append(f"    <node id={quoteattr(str(n))}>{datas('node', d)}</node>\n")
    for s_, t_, k_, d in g.edges(keys=True, data=True):
        body.append(
            f"    <edge id={quoteattr(str(k_))} source={quoteattr(str(s_))} target={quoteattr(str(t_))}>"
            f"{datas('edge', d)}</edge>\n"
        )
    body.append("  </graph>\n</graphml>\n")
    head = [
        "<?xml version='1.0' encoding='utf-8'?>\n",
        f'<graphml xmlns="{_GRAPHML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{_GRAPHML_NS} {_GRAPHML_NS}/1.0/graphml.xsd">\n',
    ]
    for (domain, name), (kid, typ) in keys.items():
        head.append(
            f'  <key id="{kid}" for="{domain}" attr.name={quoteattr(name)} attr.type="{typ}" />\n'
        )
    with atomic_path(path, suffix=".graphml") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(head)
        fh.writelines(body)
    return path


def read_graphml(path: str | os.PathLike) -> nx.MultiDiGraph:
    """Read a directed GraphML graph (as written by :func:`write_graphml`).

    Parameters
    ----------
    path
        A GraphML file.

    Returns
    -------
    MultiDiGraph
        Edge keys are the edge ids (interaction names); attributes have their GraphML types.

    Raises
    ------
    InputFileError
        ``path`` is missing.
    FormatError
        Not GraphML, not directed, or a malformed edge.

    Examples
    --------
    See :func:`write_graphml`.
    """
    import xml.etree.ElementTree as ET

    p = require_file(path, "GraphML file")
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as exc:
        raise FormatError(f"{p} is not a readable GraphML file: {exc}") from exc
    ns = f"{{{_GRAPHML_NS}}}" if root.tag.startswith("{") else ""
    if root.tag != f"{ns}graphml":
        raise FormatError(f"{p}: root element is {root.tag!r}, not graphml")
    keys = {}
    for k in root.iter(f"{ns}key"):
        typ = k.get("attr.type", "string")
        keys[k.get("id")] = (k.get("attr.name", k.get("id")), _GRAPHML_PARSE.get(typ, str))
    graph = root.find(f"{ns}graph")
    if graph is None:
        raise FormatError(f"{p}: no <graph> element")
    if graph.get("edgedefault", "directed") != "directed":
        raise FormatError(f"{p}: expected a directed graph")

    def attrs(el) -> dict[str, Any]:
        out = {}
        for d in el.findall(f"{ns}data"):
            name, parse = keys.get(d.get("key"), (d.get("key"), str))
            out[name] = parse(d.text or "")
        return out

    g = nx.MultiDiGraph()
    g.graph.update(attrs(graph))
    for n in graph.iter(f"{ns}node"):
        g.add_node(n.get("id"), **attrs(n))
    try:
        for e in graph.iter(f"{ns}edge"):
            g.add_edge(e.get("source"), e.get("target"), key=e.get("id"), **attrs(e))
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{p}: malformed edge: {exc}") from exc
    return g


def write_scores(adata: Any, path: str | os.PathLike) -> Path:
    """Write scored data (the aggregate, or cells scored in place) to ``.h5ad`` (atomically).

    Parameters
    ----------
    adata
        An AnnData holding interaction tables in ``uns``.
    path
        Where to write (replaced atomically).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import anndata, tempfile, pathlib
    >>> a = anndata.AnnData(obs=pd.DataFrame(index=["A", "B"]))
    >>> a.uns["lr"] = pd.DataFrame({"source": ["A"], "target": ["B"], "interaction": ["X→Y"],
    ...                             "score": [1.0]})
    >>> a.uns["lr_params"] = {"interactions": ["X→Y"]}
    >>> back = read_scores(write_scores(a, pathlib.Path(tempfile.mkdtemp()) / "s.h5ad"))
    >>> back.uns["lr"].score.tolist(), back.uns["lr_params"]["interactions"]
    ([1.0], ['X→Y'])
    """
    path = Path(path)
    with atomic_path(path, suffix=".h5ad") as tmp:
        adata.write_h5ad(tmp)
    return path


def read_scores(path: str | os.PathLike) -> Any:
    """Read what :func:`write_scores` wrote.

    Parameters
    ----------
    path
        An ``.h5ad`` file.

    Returns
    -------
    AnnData
        Tables come back as DataFrames with the same columns, lists in the parameters
        (``uns[..._params]``) as lists.

    Raises
    ------
    InputFileError
        ``path`` is missing.
    FormatError
        Not a readable h5ad file.

    Examples
    --------
    See :func:`write_scores`.
    """
    import anndata as ad

    p = require_file(path, "h5ad file")
    try:
        a = ad.read_h5ad(p)
    except Exception as exc:
        raise FormatError(f"{p} is not a readable h5ad file: {exc}") from exc
    for key, val in list(a.uns.items()):
        if key.endswith("_params") and isinstance(val, Mapping):
            a.uns[key] = {
                k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in val.items()
            }
    return a
