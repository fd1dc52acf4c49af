"""neuromod_data: public single-cell tables → per-type modulator expression → modulation graphs.

Importable without torch. The torch side (spiking networks, BPTT / e-prop / MDGL) is
:mod:`neuromod_models`, which needs only :class:`~neuromod_data.structure.CellTypeStructure`.

The exports below load on first use (PEP 562): ``import neuromod_data.structure``, the hand-off the
models read, does not pull in anndata, h5py, scanpy or the readers.

Examples
--------
>>> import neuromod_data
>>> neuromod_data.aggregate.__module__, neuromod_data.CellTypeStructure.__name__
('neuromod_data.aggregate', 'CellTypeStructure')
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

# the one place the version is written; pyproject.toml reads it (tool.setuptools.dynamic)
__version__ = "0.1.0"

#: exported name → the module that defines it
_EXPORTS = {
    "CellTypeStructure": "neuromod_data.structure",
    "aggregate": "neuromod_data.aggregate",
    "load_resource": "neuromod_data.resources",
    "read": "neuromod_data.io",
    "score_interactions": "neuromod_data.score",
    "smith2019": "neuromod_data.aggregate",
    "tissue_abundances": "neuromod_data.abundances",
}

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

#: submodules that are attributes of the package, imported on first use like the exports: the
#: ``neuromod`` console script imports this package before its interrupt handling can be in place,
#: so the package itself imports nothing that is not loaded already
_SUBMODULES = ("errors",)

if TYPE_CHECKING:
    from neuromod_data import errors
    from neuromod_data.abundances import tissue_abundances
    from neuromod_data.aggregate import aggregate, smith2019
    from neuromod_data.io import read
    from neuromod_data.resources import load_resource
    from neuromod_data.score import score_interactions
    from neuromod_data.structure import CellTypeStructure


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


class _Package(types.ModuleType):
    """The package module; importing the submodule ``aggregate`` leaves the exported function
    ``aggregate`` in place (the import system would set the package attribute to the module)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
