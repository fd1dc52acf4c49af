"""Graph and score files: GraphML (written streaming, read by networkx) and scored ``.h5ad``.

Both writers replace their file atomically (``neuromod_data._files.atomic_path``); both readers
name the file in every error (docs/design.md, "Reproducibility").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from neuromod_data._files import atomic_path, require_file
from neuromod_data.errors import FormatError
from neuromod_data.graph.build import _graphml_value

_GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
_GRAPHML_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}


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
    >>> import pandas as pd
    >>> from neuromod_data.graph import build_graph
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
    """Read a directed GraphML graph (as written by :func:`write_graphml`) with networkx's reader.

    Parameters
    ----------
    path
        A GraphML file.

    Returns
    -------
    MultiDiGraph
        Edge keys are the edge ids (interaction names); attributes have their GraphML types; an
        empty ``<data>`` element is the empty value (``""`` for a string).

    Raises
    ------
    InputFileError
        ``path`` is missing.
    FormatError
        Not GraphML, not one directed graph, or a malformed element.

    Examples
    --------
    See :func:`write_graphml`.
    """
    import xml.etree.ElementTree as ET

    p = require_file(path, "GraphML file")
    try:
        # networkx >= 3.3 reads an empty <data> element as "" (what write_graphml writes for an
        # empty string); edge ids are interaction names, so they stay strings ("12" is no int)
        g = nx.read_graphml(p, node_type=str, edge_key_type=str, force_multigraph=True)
    except ET.ParseError as exc:
        raise FormatError(f"{p} is not a readable GraphML file: {exc}") from exc
    except (nx.NetworkXError, KeyError, TypeError, ValueError) as exc:
        # also "file not successfully read as graphml": another root element, no <graph>
        raise FormatError(f"{p}: malformed GraphML: {exc}") from exc
    if not g.is_directed():
        raise FormatError(f"{p}: expected a directed graph")
    # networkx records <default> values here; write_graphml writes none, so these are empty
    for name in ("node_default", "edge_default"):
        if not g.graph.get(name):
            g.graph.pop(name, None)
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
    >>> import pandas as pd
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
