"""A type's class, Dale sign and colour: from a class or colour column where there is one, else
from the type's name (Allen-style names) and a shade of the class colour."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from neuromod_data.errors import CellTypeError
from neuromod_data.labels.clean import _obs, check_labels, clean_label, type_order
from neuromod_data.labels.levels import _map_levels

GABA, GLUT, NONNEURONAL = "GABAergic", "Glutamatergic", "Non-Neuronal"
#: Base colour of each class; types without a colour column get shades of it.
CLASS_COLORS = {GABA: "#F05A28", GLUT: "#27AAE1", NONNEURONAL: "#808080"}
#: ``obs`` columns read as a type's class, first present wins.
CLASS_COLUMNS = ("class", "class_label")

_GABA_RE = re.compile(
    r"^(Lamp5|Pvalb|Sst|Vip|Sncg|Serpinf1|Meis2|Chandelier|Gad|GABA|Inh|CGE|MGE)", re.IGNORECASE
)
_GLUT_RE = re.compile(
    r"^(L\d|IT|ET|PT|CT|NP|Car3|Glut|Exc|Slc17|L2/3|L4/5|L5/6|L6b)(\b|_|\s|$)", re.IGNORECASE
)
_GLUT_WORD = re.compile(r"\b(IT|ET|PT|CT|NP)\b")


def infer_class(name: str) -> str:
    """The class of an Allen-style type name, for data without a class column.

    Parameters
    ----------
    name
        A type name (e.g. ``"Sst Chodl"``, ``"L5 IT_1"``).

    Returns
    -------
    str
        :data:`GABA`, :data:`GLUT` or :data:`NONNEURONAL` (anything not recognised).

    Examples
    --------
    >>> [infer_class(n) for n in ["Sst Chodl", "L5 IT_1", "ET", "Astro Aqp4", "low quality"]]
    ['GABAergic', 'Glutamatergic', 'Glutamatergic', 'Non-Neuronal', 'Non-Neuronal']
    """
    n = clean_label(name)
    if _GABA_RE.match(n):
        return GABA
    if _GLUT_RE.match(n) or _GLUT_WORD.search(n):
        return GLUT
    return NONNEURONAL


def class_sign(class_label: str) -> int:
    """Dale sign of a class: GABAergic / inhibitory −1, Glutamatergic / excitatory +1, else 0.

    Parameters
    ----------
    class_label
        A class name (case does not matter).

    Returns
    -------
    int
        −1, +1 or 0 (no Dale sign, e.g. non-neuronal).

    Examples
    --------
    >>> class_sign("GABAergic"), class_sign("Glutamatergic"), class_sign("Non-Neuronal")
    (-1, 1, 0)
    """
    c = str(class_label).lower()
    if "gaba" in c or "inhib" in c:
        return -1
    if "glut" in c or "excit" in c:
        return 1
    return 0


def _rgb(hex_color: str) -> np.ndarray:
    h = hex_color.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)]) / 255.0


def default_colors(names: Sequence[str], classes: Sequence[str] | None = None) -> list[str]:
    """One hex colour per type: shades of its class colour (:data:`CLASS_COLORS`).

    Parameters
    ----------
    names
        Type names.
    classes
        Their classes (default: :func:`infer_class` of each name).

    Returns
    -------
    list of str
        ``"#rrggbb"`` per type; a class with one type keeps the class colour.

    Examples
    --------
    >>> cols = default_colors(["Sst", "Vip", "L5 IT"], ["GABAergic", "GABAergic", "Glutamatergic"])
    >>> cols[2], cols[0] != cols[1]
    ('#27aae1', True)
    """
    classes = list(classes) if classes is not None else [infer_class(n) for n in names]
    out = []
    counters: dict[str, int] = {}
    totals = pd.Series(classes, dtype=object).value_counts().to_dict()
    for c in classes:
        base = _rgb(CLASS_COLORS.get(c, CLASS_COLORS.get(infer_class(c), "#808080")))
        i = counters.get(c, 0)
        counters[c] = i + 1
        f = 0.35 + 0.65 * (i / max(totals[c] - 1, 1)) if totals[c] > 1 else 1.0
        rgb = np.clip(base * f + (1 - f) * 0.15, 0, 1)
        out.append("#" + "".join(f"{int(round(v * 255)):02x}" for v in rgb))
    return out


def _stem(groupby: str) -> str:
    return groupby[: -len("_label")] if groupby.endswith("_label") else groupby


def type_annotations(
    adata_or_obs: AnnData | pd.DataFrame,
    groupby: str | None = None,
    *,
    types: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Class, Dale sign and colour of every type, by the module's rules.

    The class is read from the first of ``class`` / ``class_label`` present (each type must carry
    one class, as in :func:`level_mapping`; a type whose cells carry none is classed by
    :func:`infer_class`), the colour from ``color``, ``<stem>_color`` or ``<groupby>_color``
    (``subclass_label`` → ``subclass_color``; else :func:`default_colors`), the sign from the class
    (:func:`class_sign`).

    Parameters
    ----------
    adata_or_obs
        Cells (AnnData or ``obs``) with a label column, or a per-type table (an aggregate's ``obs``,
        graph nodes) whose rows are the types.
    groupby
        The label column defining the types; ``None``: the rows are the types.
    types
        The types to annotate, in this order (default: every label present, in :func:`type_order`).

    Returns
    -------
    DataFrame
        Indexed by type, columns ``class``, ``color``, ``sign``.

    Raises
    ------
    CellTypeError
        A type whose cells carry two classes or two colours (both named).

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"t": ["Sst", "Sst ", "L5 IT", "Astro"],
    ...                     "t_color": ["#ff0000", "#ff0000", "#0000ff", "#888888"]})
    >>> type_annotations(obs, "t")[["class", "sign"]].to_dict("list")
    {'class': ['Non-Neuronal', 'Glutamatergic', 'GABAergic'], 'sign': [0, 1, -1]}
    """
    obs = _obs(adata_or_obs)
    if groupby is None:
        fine = pd.Series([clean_label(n) for n in obs.index], index=obs.index, dtype=object)
        name = "type"
        order = list(dict.fromkeys(fine))
    else:
        chk = check_labels(adata_or_obs, groupby, warn=False)
        fine, name = chk.labels, groupby
        order = type_order(obs[groupby], chk.categories)
    names = [str(t) for t in types] if types is not None else order
    present = set(fine.dropna())
    absent = [t for t in names if t not in present]
    if absent:
        raise CellTypeError(f"types {absent[:8]} have no rows in {name!r}")

    def per_type(columns: Sequence[str]) -> dict[str, str]:
        col = next((c for c in columns if c in obs.columns), None)
        if col is None:
            return {}
        values = check_labels(obs, col, warn=False).labels
        return _map_levels(fine, values, name, col, allow_missing=True)

    classes = per_type(CLASS_COLUMNS)
    cls = [classes.get(n) or infer_class(n) for n in names]
    colour_cols = ["color"] + ([f"{_stem(groupby)}_color", f"{groupby}_color"] if groupby else [])
    colors = per_type(colour_cols)
    fallback = default_colors(names, cls)
    out = pd.DataFrame(index=pd.Index(names, name=groupby))
    out["class"] = cls
    out["color"] = [colors.get(n) or d for n, d in zip(names, fallback)]
    out["sign"] = np.array([class_sign(c) for c in cls], dtype=np.int64)
    return out
