"""The cell-type layer: label columns, their cleaning, type classes, E/I signs, colours and levels.

Every step that needs cell types (aggregation, scoring, the graph, tissue abundances) reads them
through this module, so one rule holds everywhere:

Cleaning (:func:`check_labels`, :func:`clean_label`)
    Labels are strings. Leading and trailing whitespace is removed and inner runs collapse to one
    space, so ``"Vip "`` and ``"Vip"`` are one type (warned, naming the spellings). Missing are only
    real missing values (``NaN``, ``None``) and labels that are empty after cleaning; a type
    literally named ``"NA"`` or ``"None"`` is a label like any other. Labels equal but for case are
    reported and kept apart unless ``merge_case``.
Type order (:func:`type_order`)
    Category order for a categorical column, else sorted by name.
Levels (:func:`level_mapping`)
    A fine label maps to the one coarse label its cells carry (cluster → subclass → class). A fine
    label whose cells carry several coarse labels is refused with a :class:`CellTypeError` naming
    the labels and their cell counts; no majority vote. The same rule gives a type its class and
    colour from per-cell columns (:func:`type_annotations`) and a coarse graph node its class.
Class, sign, colour (:func:`infer_class`, :func:`class_sign`, :func:`default_colors`)
    The class comes from a class column when there is one, else from the type's name (Allen-style
    names); the Dale sign from the class (GABAergic −1, Glutamatergic +1, anything else 0); the
    colour from a colour column, else a shade of the class colour.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from anndata import AnnData

from neuromod_data.errors import CellTypeError, ColumnError, NeuromodWarning

__all__ = [
    "CLASS_COLORS",
    "GABA",
    "GLUT",
    "NONNEURONAL",
    "LabelCheck",
    "check_labels",
    "class_sign",
    "clean_label",
    "coarsen",
    "default_colors",
    "infer_class",
    "label_levels",
    "level_mapping",
    "require_column",
    "type_annotations",
    "type_order",
]

GABA, GLUT, NONNEURONAL = "GABAergic", "Glutamatergic", "Non-Neuronal"
#: Base colour of each class; types without a colour column get shades of it.
CLASS_COLORS = {GABA: "#F05A28", GLUT: "#27AAE1", NONNEURONAL: "#808080"}
#: ``obs`` columns read as a type's class, first present wins.
CLASS_COLUMNS = ("class", "class_label")

_WS = re.compile(r"\s+")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")
_GABA_RE = re.compile(
    r"^(Lamp5|Pvalb|Sst|Vip|Sncg|Serpinf1|Meis2|Chandelier|Gad|GABA|Inh|CGE|MGE)", re.IGNORECASE
)
_GLUT_RE = re.compile(
    r"^(L\d|IT|ET|PT|CT|NP|Car3|Glut|Exc|Slc17|L2/3|L4/5|L5/6|L6b)(\b|_|\s|$)", re.IGNORECASE
)
_GLUT_WORD = re.compile(r"\b(IT|ET|PT|CT|NP)\b")


def clean_label(value: object) -> str:
    """One label as this package spells it: a string, whitespace runs collapsed, ends stripped.

    Parameters
    ----------
    value
        A label as read from a file (any object; it is converted with ``str``).

    Returns
    -------
    str
        The cleaned label; ``""`` means no label.

    Examples
    --------
    >>> clean_label("  Vip   Chat "), clean_label("NA")
    ('Vip Chat', 'NA')
    """
    return _WS.sub(" ", str(value)).strip()


def _obs(adata_or_obs: AnnData | pd.DataFrame) -> pd.DataFrame:
    return adata_or_obs.obs if isinstance(adata_or_obs, AnnData) else adata_or_obs


def _source(adata_or_obs) -> str:
    if isinstance(adata_or_obs, AnnData):
        src = (adata_or_obs.uns.get("neuromod", {}) or {}).get("source")
        if src:
            return f" of {src}"
    return ""


def require_column(
    adata_or_obs: AnnData | pd.DataFrame, column: str, what: str = "label column"
) -> None:
    """Raise :class:`ColumnError` naming ``column`` and listing the available ones if it is absent.

    Parameters
    ----------
    adata_or_obs
        AnnData or its ``obs`` table.
    column
        The column that must be present.
    what
        What the column is, for the message.

    Raises
    ------
    ColumnError
        ``column`` is not in ``obs`` (the message names the data's source when recorded).

    Examples
    --------
    >>> import pandas as pd
    >>> require_column(pd.DataFrame({"cluster_label": ["a"]}), "cluster")
    Traceback (most recent call last):
    ...
    neuromod_data.errors.ColumnError: label column 'cluster' not found in obs; available: cluster_label
    """
    obs = _obs(adata_or_obs)
    if column not in obs.columns:
        avail = ", ".join(map(str, obs.columns)) or "(none)"
        raise ColumnError(
            f"{what} {column!r} not found in obs{_source(adata_or_obs)}; available: {avail}"
        )


@dataclass
class LabelCheck:
    """Result of :func:`check_labels`.

    Attributes
    ----------
    labels
        Cleaned labels (strings; missing values stay ``NaN``), indexed like ``obs``.
    whitespace_fixed
        Original spellings whose whitespace was normalised.
    case_clashes
        Groups of spellings that differ only in case (kept apart unless ``merge_case``).
    n_missing
        Cells without a label.
    codes
        Per cell, the index of its label in ``categories`` (−1: missing).
    categories
        The distinct cleaned labels, in order of first appearance in ``obs``.

    Examples
    --------
    See :func:`check_labels`.
    """

    labels: pd.Series
    whitespace_fixed: list[str] = field(default_factory=list)
    case_clashes: list[list[str]] = field(default_factory=list)
    n_missing: int = 0
    codes: np.ndarray | None = None
    categories: list[str] = field(default_factory=list)


def check_labels(
    adata_or_obs: AnnData | pd.DataFrame,
    column: str,
    *,
    merge_case: bool = False,
    warn: bool = True,
) -> LabelCheck:
    """Validate and clean one label column (the module's cleaning rule).

    Every label is cleaned by :func:`clean_label` (warned once, naming the spellings); labels equal
    but for case are reported (and, with ``merge_case``, folded to their most frequent spelling).
    Missing are ``NaN`` / ``None`` and labels empty after cleaning; the strings ``"NA"`` and
    ``"None"`` are labels.

    Parameters
    ----------
    adata_or_obs
        AnnData or its ``obs`` table.
    column
        The label column.
    merge_case
        Fold case variants of one label into its most frequent spelling.
    warn
        Emit :class:`NeuromodWarning` for what was fixed or found.

    Returns
    -------
    LabelCheck
        The cleaned labels, their integer codes and what was fixed.

    Raises
    ------
    ColumnError
        ``column`` is absent.

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> obs = pd.DataFrame({"t": ["Vip", "Vip ", "NA", None]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     chk = check_labels(obs, "t")
    >>> chk.labels.tolist(), chk.categories, chk.n_missing, chk.whitespace_fixed
    (['Vip', 'Vip', 'NA', nan], ['Vip', 'NA'], 1, ['Vip '])
    """
    require_column(adata_or_obs, column)
    raw = _obs(adata_or_obs)[column]
    # work on the distinct values only: columns are long, label sets short
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    uniq_str = [str(u) for u in uniques]
    cleaned = [clean_label(u) for u in uniq_str]
    ws_fixed = sorted({u for u, c in zip(uniq_str, cleaned) if u != c})
    n_by_unique = np.bincount(codes[codes >= 0], minlength=len(uniques))
    clean_counts: dict[str, int] = {}
    for c, n in zip(cleaned, n_by_unique):
        clean_counts[c] = clean_counts.get(c, 0) + int(n)
    folds: dict[str, list[str]] = {}
    for c in clean_counts:
        if c:
            folds.setdefault(c.casefold(), []).append(c)
    clashes = [sorted(v) for v in folds.values() if len(v) > 1]
    categories: list[str] = []
    cat_pos: dict[str, int] = {}
    u2c = np.full(len(uniq_str) + 1, -1, np.int64)  # last slot: pandas' missing code -1
    for i, c in enumerate(cleaned):
        if merge_case and c and len(folds[c.casefold()]) > 1:
            c = max(folds[c.casefold()], key=lambda s: (clean_counts[s], s))
        if c:
            if c not in cat_pos:
                cat_pos[c] = len(categories)
                categories.append(c)
            u2c[i] = cat_pos[c]
    clean_codes = u2c[codes]
    values = np.array([*categories, np.nan], dtype=object)
    labels = pd.Series(
        values[clean_codes], index=_obs(adata_or_obs).index, name=column, dtype=object
    )
    n_missing = int((clean_codes < 0).sum())
    if warn and ws_fixed:
        shown = ", ".join(repr(s) for s in ws_fixed[:5]) + (" ..." if len(ws_fixed) > 5 else "")
        warnings.warn(
            f"label column {column!r}: stray whitespace normalised in {len(ws_fixed)} label(s): {shown}",
            NeuromodWarning,
            stacklevel=2,
        )
    if warn and clashes:
        shown = "; ".join(" / ".join(repr(s) for s in g) for g in clashes[:5])
        action = "merged into the most frequent spelling" if merge_case else "kept apart"
        warnings.warn(
            f"label column {column!r}: labels differ only in case ({action}): {shown}",
            NeuromodWarning,
            stacklevel=2,
        )
    return LabelCheck(labels, ws_fixed, clashes, n_missing, clean_codes, categories)


def type_order(column: pd.Series, labels: Iterable[str]) -> list[str]:
    """The order of the types ``labels`` of a label column: category order, else sorted by name.

    Parameters
    ----------
    column
        The raw label column (categorical or not).
    labels
        The cleaned labels present (e.g. :attr:`LabelCheck.categories`).

    Returns
    -------
    list of str
        ``labels`` in order; cleaned labels not among the categories come last, sorted.

    Examples
    --------
    >>> import pandas as pd
    >>> col = pd.Series(pd.Categorical(["Vip", "Sst "], categories=["Vip", "Sst "]))
    >>> type_order(col, ["Sst", "Vip"]), type_order(col.astype(str), ["Vip", "Sst"])
    (['Vip', 'Sst'], ['Sst', 'Vip'])
    """
    present = set(labels)
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = [
            c for c in dict.fromkeys(clean_label(c) for c in column.cat.categories) if c in present
        ]
        return cats + sorted(present - set(cats))
    return sorted(present)


def _map_levels(
    fine: pd.Series,
    coarse: pd.Series,
    fine_name: str,
    coarse_name: str,
    *,
    allow_missing: bool = False,
    unit: str = "cells",
) -> dict[str, str]:
    """Fine → coarse from two aligned series of cleaned labels (the module's level rule)."""
    df = pd.DataFrame({"f": fine.to_numpy(), "c": coarse.to_numpy()}).dropna(subset=["f"])
    if df.empty:
        raise CellTypeError(f"label column {fine_name!r} holds no labels")
    no_coarse = sorted(set(df["f"]) - set(df.dropna()["f"]))
    if no_coarse and not allow_missing:
        raise CellTypeError(
            f"cannot map {fine_name!r} → {coarse_name!r}: {len(no_coarse)} {fine_name} label(s) "
            f"have no {coarse_name}: " + ", ".join(repr(s) for s in no_coarse[:10])
        )
    pairs = df.dropna().groupby(["f", "c"], sort=True).size()
    n_per_fine = pairs.groupby(level=0).size()
    bad = n_per_fine[n_per_fine > 1].index.tolist()
    if bad:
        detail = "; ".join(
            f"{b!r} → " + ", ".join(f"{k!r} ({n} {unit})" for k, n in pairs.loc[b].items())
            for b in bad[:5]
        )
        raise CellTypeError(
            f"cannot map {fine_name!r} → {coarse_name!r}: {len(bad)} {fine_name} label(s) map to "
            f"several {coarse_name} labels: {detail}"
        )
    return {str(f): str(c) for f, c in pairs.index}


def level_mapping(
    adata_or_obs: AnnData | pd.DataFrame,
    *,
    fine: str = "cluster_label",
    coarse: str = "subclass_label",
) -> pd.Series:
    """The map fine label → coarse label read from the data's own columns.

    Works on cells (``adata.obs``) and on an aggregate (whose ``obs`` keeps the per-type columns).
    Both columns are cleaned as :func:`check_labels` does. The result is what
    :func:`neuromod_data.graph.coarsen_table` and :func:`~neuromod_data.graph.coarsen_graph` take.

    Parameters
    ----------
    adata_or_obs
        AnnData or its ``obs`` table.
    fine, coarse
        The finer and the coarser label column.

    Returns
    -------
    Series
        Indexed by the fine labels (sorted), values the coarse labels; index named ``fine``, the
        series ``coarse``.

    Raises
    ------
    ColumnError
        A column is absent (the message lists those available).
    CellTypeError
        A fine label maps to more than one coarse label (or to none); the offenders are named with
        their cell counts.

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"cluster_label": ["Vip A", "Vip B", "Sst C", "Vip A "],
    ...                     "subclass_label": ["Vip", "Vip", "Sst", "Vip"]})
    >>> level_mapping(obs).to_dict()
    {'Sst C': 'Sst', 'Vip A': 'Vip', 'Vip B': 'Vip'}
    """
    require_column(adata_or_obs, fine)
    require_column(adata_or_obs, coarse)
    f = check_labels(adata_or_obs, fine, warn=False).labels
    c = check_labels(adata_or_obs, coarse, warn=False).labels
    m = _map_levels(f, c, fine, coarse)
    out = pd.Series(m, name=coarse, dtype=object)
    out.index.name = fine
    return out


def coarsen(
    adata_or_obs: AnnData | pd.DataFrame,
    *,
    fine: str = "cluster_label",
    coarse: str = "subclass_label",
) -> pd.Series:
    """Deprecated name of :func:`level_mapping` ("coarsen" now means pooling scores).

    Parameters
    ----------
    adata_or_obs, fine, coarse
        As for :func:`level_mapping`.

    Returns
    -------
    Series
        :func:`level_mapping`'s result.

    Examples
    --------
    See :func:`level_mapping`.
    """
    warnings.warn(
        "neuromod_data.labels.coarsen is renamed level_mapping; coarsen will be removed",
        DeprecationWarning,
        stacklevel=2,
    )
    return level_mapping(adata_or_obs, fine=fine, coarse=coarse)


# ------------------------------------------------------------------------ class, sign, colour
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


# ------------------------------------------------------------------------------------ levels
def _is_label_like(s: pd.Series) -> bool:
    if not (
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
    ):
        return False
    vals = s.dropna()
    if vals.empty:
        return False
    sample = vals.astype(str).unique()[:20]
    return not all(_COLOR.match(v) for v in sample)


def label_levels(adata_or_obs: AnnData | pd.DataFrame) -> pd.DataFrame:
    """The label columns available in ``obs`` and their sizes, coarsest first.

    A label column is any ``*_label`` column, or any text/categorical column (not colours) with
    between 2 and n_obs − 1 distinct values. Labels are counted after cleaning
    (:func:`check_labels`).

    Parameters
    ----------
    adata_or_obs
        AnnData or its ``obs`` table.

    Returns
    -------
    DataFrame
        Indexed by column with ``n_labels``, ``n_cells`` (labelled cells), ``min_cells`` and
        ``max_cells`` (cells of the smallest / largest label).

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"class_label": ["G", "G ", "N"], "cluster_label": ["a", "b", "c"],
    ...                     "class_color": ["#000000"] * 3})
    >>> label_levels(obs)["n_labels"].to_dict()
    {'class_label': 2, 'cluster_label': 3}
    """
    obs = _obs(adata_or_obs)
    rows = []
    for col in obs.columns:
        s = obs[col]
        if not _is_label_like(s):
            continue
        counts = check_labels(obs, col, warn=False).labels.value_counts()
        n = len(counts)
        named = str(col).endswith("_label")
        if not named and not (1 < n < len(obs)):
            continue
        rows.append(
            {
                "column": col,
                "n_labels": n,
                "n_cells": int(counts.sum()),
                "min_cells": int(counts.min()) if n else 0,
                "max_cells": int(counts.max()) if n else 0,
            }
        )
    df = pd.DataFrame(rows, columns=["column", "n_labels", "n_cells", "min_cells", "max_cells"])
    return df.sort_values(["n_labels", "column"], kind="stable").set_index("column")
