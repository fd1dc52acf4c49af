"""Table → modulation graph: edge selection, the graph, its tensor view and its summary.

docs/design.md, "Graph": nodes are types (``n_cells``, ``class``, ``sign``, ``color``), every
significant or above-threshold (sender, receiver, pair) row of the long table is one edge keyed by
the interaction name, with ``weight`` (the score), ``pvalue``, ``family``, ``g_protein``,
``ligand``, ``receptor``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from neuromod_data.errors import CellTypeError, ColumnError
from neuromod_data.labels import type_annotations

_TABLE_REQUIRED = ("source", "target", "interaction", "score")


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
