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

The package, one concept per module (each name below is importable from here):

* :mod:`~neuromod_data.graph.build`: table → graph (:func:`select_edges`, :func:`build_graph`,
  :func:`graph_from_scores`), its tensor view (:func:`to_tensor`, :func:`graph_interactions`) and
  :func:`graph_summary`;
* :mod:`~neuromod_data.graph.coarsen`: :func:`coarsen_table`, :func:`coarsen_graph`;
* :mod:`~neuromod_data.graph.handoff`: :func:`to_structure`;
* :mod:`~neuromod_data.graph.files`: :func:`write_graphml` / :func:`read_graphml`,
  :func:`write_scores` / :func:`read_scores`.
"""

from __future__ import annotations

import warnings
from typing import Any

from neuromod_data import labels
from neuromod_data.graph.build import (
    _nodes_frame as _nodes_frame,
)
from neuromod_data.graph.build import (
    build_graph,
    graph_from_scores,
    graph_interactions,
    graph_summary,
    select_edges,
    to_tensor,
)
from neuromod_data.graph.coarsen import coarsen_graph, coarsen_table
from neuromod_data.graph.files import read_graphml, read_scores, write_graphml, write_scores
from neuromod_data.graph.handoff import to_structure
from neuromod_data.labels import class_sign

__all__ = [
    "build_graph",
    "coarsen_graph",
    "coarsen_table",
    "graph_from_scores",
    "graph_interactions",
    "graph_summary",
    "read_graphml",
    "read_scores",
    "select_edges",
    "to_structure",
    "to_tensor",
    "write_graphml",
    "write_scores",
]

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
