"""Population names of a connectivity table (:mod:`neuromod_data.connectivity`): the classes and
their Dale signs, the cortical layers a population may name (``2/3`` also written ``23``), one
name per population, and the default class of a transcriptomic type by its name."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from neuromod_data.ephys import _user_stacklevel
from neuromod_data.errors import (
    NeuromodWarning,
)

#: population classes a table may use, with their Dale sign
CLASS_SIGNS: dict[str, int] = {
    "E": 1,
    "PV": -1,
    "SST": -1,
    "VIP": -1,
    "HTR3A": -1,
    "LAMP5": -1,
    "I": -1,
}

_LAYER = re.compile(r"^L?(\d+(?:/\d+)?[ab]?)$", re.IGNORECASE)
#: the cortical layers a table's population may name. ``2/3`` may also be written ``23`` (as in
#: ``E23``: no cortex has a layer 23, and reading it as one would leave every layer-2/3 cell
#: without its populations) or with an ``L`` (``L2/3``, ``L23``); any other layer is an error
#: that names the population
TABLE_LAYERS: tuple[str, ...] = ("1", "2/3", "4", "5", "6")
#: other spellings of a layer, after the ``L`` prefix is removed
_SPELLINGS = {"23": "2/3"}
_E_WORDS = {"IT", "ET", "PT", "NP", "CT", "L6B", "CAR3"}


def _warn(message: str) -> None:
    warnings.warn(message, NeuromodWarning, stacklevel=_user_stacklevel())


def _layer(value: Any) -> str | None:
    """``"L2/3"``, ``"2/3"``, ``5``, ``5.0``, ``"layer 5"`` → ``"2/3"``, ``"5"``; None if missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"^layer\s*", "", str(value).strip(), flags=re.IGNORECASE)
    m = _LAYER.match(text.replace(" ", ""))
    if not m:
        return text
    layer = m.group(1).lower()
    return _SPELLINGS.get(layer, layer)


def _population(name: str) -> tuple[str, str] | None:
    """``"E2/3"`` → ``("E", "2/3")``; None when it is not a known class followed by a layer."""
    text = str(name).strip()
    for cls in sorted(CLASS_SIGNS, key=len, reverse=True):
        if text.upper().startswith(cls):
            rest = text[len(cls) :].strip(" _")
            m = _LAYER.match(rest)
            if m:
                layer = m.group(1).lower()
                layer = _SPELLINGS.get(layer, layer)
                return (cls, layer) if layer in TABLE_LAYERS else None
    return None


def default_class(name: str, classes: Sequence[str] = tuple(CLASS_SIGNS)) -> str | None:
    """The table class of a transcriptomic type by its name, or None (see
    :mod:`neuromod_data.connectivity`).

    Examples
    --------
    >>> names = ["L5 IT_1", "L5/6 NP CT", "ET", "L6b Col6a1", "Pvalb Reln", "Sst Chodl", "Vip Chat_1", "Lamp5"]
    >>> [default_class(n, ("E", "PV", "SST")) for n in names]
    ['E', 'E', 'E', 'E', 'PV', 'SST', None, None]
    """
    text = str(name).strip()
    upper = {c.upper() for c in classes}
    if text.upper() in upper:
        return text.upper()
    words = re.split(r"[\s_]+", text)
    first = words[0].lower() if words else ""
    if first.startswith("pvalb"):
        return "PV"
    if first.startswith("sst"):
        return "SST"
    if any(w.upper() in _E_WORDS for w in words):
        return "E"
    return None
