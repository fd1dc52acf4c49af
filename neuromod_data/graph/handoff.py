"""Graph → :class:`~neuromod_data.structure.CellTypeStructure`, the hand-off to the models.

docs/design.md, "CellTypeStructure": the types with a Dale sign, their abundances and the
modulation tensor ``[pair, sender, receiver]``; non-neuronal types are left out by default.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from neuromod_data.errors import CellTypeError, NeuromodWarning
from neuromod_data.graph.build import build_graph, to_tensor
from neuromod_data.structure import CellTypeStructure


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
