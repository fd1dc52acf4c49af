"""neuromod_data: public single-cell tables → per-type modulator expression → modulation graphs.

Importable without torch. The torch side (spiking networks, BPTT / e-prop / MDGL) is
:mod:`neuromod_models`, which needs only :class:`~neuromod_data.structure.CellTypeStructure`.
"""

from __future__ import annotations

from neuromod_data import errors
from neuromod_data.structure import CellTypeStructure

__version__ = "0.1.0"

__all__ = ["CellTypeStructure", "errors", "__version__"]
