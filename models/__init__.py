"""neuromod_models: torch spiking networks whose neurons carry transcriptomic cell types.

Trains with BPTT, e-prop or MDGL; MDGL's modulatory signals follow the data-derived graph of a
:class:`neuromod_data.CellTypeStructure`.
"""

from __future__ import annotations

__all__: list[str] = []
