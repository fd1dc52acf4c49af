"""Cell-type label columns: validation, the available label levels, and coarsening.

Labels come from files people typed by hand, so they carry stray spaces (``"Vip "``) and mixed
case (``"VIP"`` beside ``"Vip"``). :func:`check_labels` normalises whitespace (with a warning) and
reports case clashes; :func:`coarsen` derives the cluster → subclass → class map from the data's own
columns and refuses a fine label that maps to two coarse ones.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from anndata import AnnData

from neuromod_data.errors import CellTypeError, ColumnError, NeuromodWarning

__all__ = ["LabelCheck", "check_labels", "coarsen", "label_levels", "require_column"]

_WS = re.compile(r"\s+")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")


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
    """Validate and clean one label column.

    Leading/trailing whitespace is stripped and inner runs collapse to one space (warned once, naming
    the spellings); labels equal but for case are reported (and, with ``merge_case``, folded to their
    most frequent spelling). Empty strings count as missing.

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

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> obs = pd.DataFrame({"t": ["Vip", "Vip ", "Sst"]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     chk = check_labels(obs, "t")
    >>> chk.labels.tolist(), chk.whitespace_fixed
    (['Vip', 'Vip', 'Sst'], ['Vip '])
    """
    require_column(adata_or_obs, column)
    raw = _obs(adata_or_obs)[column]
    # work on the distinct values only: columns are long, label sets short
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    uniq_str = [str(u) for u in uniques]
    cleaned = [_WS.sub(" ", u).strip() for u in uniq_str]
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


def coarsen(
    adata_or_obs: AnnData | pd.DataFrame,
    *,
    fine: str = "cluster_label",
    coarse: str = "subclass_label",
) -> pd.Series:
    """The map fine label → coarse label read from the data's own columns.

    Works on cells (``adata.obs``) and on an aggregate (whose ``obs`` keeps the per-type columns).

    Raises
    ------
    ColumnError
        A column is absent (the message lists those available).
    CellTypeError
        A fine label maps to more than one coarse label (or to none); the offenders are named.

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"cluster_label": ["Vip A", "Vip B", "Sst C", "Vip A"],
    ...                     "subclass_label": ["Vip", "Vip", "Sst", "Vip"]})
    >>> coarsen(obs).to_dict()
    {'Sst C': 'Sst', 'Vip A': 'Vip', 'Vip B': 'Vip'}
    """
    require_column(adata_or_obs, fine)
    require_column(adata_or_obs, coarse)
    f = check_labels(adata_or_obs, fine, warn=False).labels
    c = check_labels(adata_or_obs, coarse, warn=False).labels
    df = pd.DataFrame({"f": f.to_numpy(), "c": c.to_numpy()}).dropna(subset=["f"])
    if df.empty:
        raise CellTypeError(f"label column {fine!r} holds no labels")
    no_coarse = sorted(set(df["f"]) - set(df.dropna()["f"]))
    if no_coarse:
        raise CellTypeError(
            f"cannot coarsen {fine!r} → {coarse!r}: {len(no_coarse)} {fine} label(s) have no {coarse}: "
            + ", ".join(repr(s) for s in no_coarse[:10])
        )
    pairs = df.groupby(["f", "c"], sort=True).size()
    n_per_fine = pairs.groupby(level=0).size()
    bad = n_per_fine[n_per_fine > 1].index.tolist()
    if bad:
        detail = "; ".join(
            f"{b!r} → " + ", ".join(f"{k!r} ({n} cells)" for k, n in pairs.loc[b].items())
            for b in bad[:5]
        )
        raise CellTypeError(
            f"cannot coarsen {fine!r} → {coarse!r}: {len(bad)} {fine} label(s) map to several "
            f"{coarse} labels: {detail}"
        )
    out = pairs.reset_index().set_index("f")["c"]
    out.index.name = fine
    out.name = coarse
    return out


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
    between 2 and n_obs − 1 distinct values.

    Returns
    -------
    DataFrame indexed by column with ``n_labels``, ``n_cells`` (labelled cells), ``min_cells`` and
    ``max_cells`` (cells of the smallest / largest label).

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"class_label": ["G", "G", "N"], "cluster_label": ["a", "b", "c"],
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
        counts = s.dropna().astype(str).value_counts()
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
