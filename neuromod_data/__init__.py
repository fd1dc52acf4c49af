"""neuromod_data: public single-cell tables → per-type modulator expression → modulation graphs.

Importable without torch. The torch side (spiking networks, BPTT / e-prop / MDGL) is
:mod:`neuromod_models`, which needs only :class:`~neuromod_data.structure.CellTypeStructure`.
"""

from __future__ import annotations

from neuromod_data import errors
from neuromod_data.abundances import tissue_abundances
from neuromod_data.aggregate import aggregate, smith2019
from neuromod_data.io import read
from neuromod_data.resources import load_resource
from neuromod_data.score import score_interactions
from neuromod_data.structure import CellTypeStructure

__version__ = "0.1.0"

__all__ = [
    "CellTypeStructure",
    "aggregate",
    "errors",
    "load_resource",
    "read",
    "score_interactions",
    "smith2019",
    "tissue_abundances",
    "__version__",
]
