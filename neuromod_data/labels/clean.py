"""Label columns and their cleaning: one spelling per label, missing only when really missing, the
type order (category order for a categorical column, else sorted by name)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from anndata import AnnData

from neuromod_data.errors import ColumnError, NeuromodWarning

_WS = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[\s_-]+")

#: Labels that mark cells which failed quality control rather than a cell type (the M1 Patch-seq
#: "RNA family" has "low quality"), compared case-blind with runs of spaces, ``_`` and ``-`` as one
#: space. Their cells are left out at the first step that forms types (aggregating, scoring,
#: abundances, level maps), with a warning naming the label, so no later step meets them as a type
#: (docs/design.md, "Label columns and cell types").
QUALITY_CONTROL_LABELS = frozenset({"low quality"})


def is_quality_control_label(label: str) -> bool:
    """Whether ``label`` marks cells that failed quality control (:data:`QUALITY_CONTROL_LABELS`).

    Examples
    --------
    >>> is_quality_control_label("Low_Quality"), is_quality_control_label("Sst")
    (True, False)
    """
    return _SEPARATORS.sub(" ", str(label).casefold()).strip() in QUALITY_CONTROL_LABELS


_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")


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
    quality_control
        Labels that mark cells which failed quality control (:data:`QUALITY_CONTROL_LABELS`) →
        their number of cells; those cells count as unlabelled (code −1, label ``NaN``) but not
        as missing.
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
    quality_control: dict[str, int] = field(default_factory=dict)


def check_labels(
    adata_or_obs: AnnData | pd.DataFrame,
    column: str,
    *,
    merge_case: bool = False,
    warn: bool = True,
    quality_control: bool = True,
) -> LabelCheck:
    """Validate and clean one label column (the module's cleaning rule).

    Every label is cleaned by :func:`clean_label` (warned once, naming the spellings); labels equal
    but for case are reported (and, with ``merge_case``, folded to their most frequent spelling).
    Missing are ``NaN`` / ``None`` and labels empty after cleaning; the strings ``"NA"`` and
    ``"None"`` are labels. A label that marks cells which failed quality control (``"low
    quality"``, :data:`QUALITY_CONTROL_LABELS`) is no type: its cells are left out (warned,
    naming it).

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
    quality_control
        Leave out the cells of quality-control labels; ``False`` keeps them as labels (a reader
        cleaning the columns it read keeps the data as it is).

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
    quality = {
        c: n
        for c, n in clean_counts.items()
        if quality_control and c and is_quality_control_label(c)
    }
    folds: dict[str, list[str]] = {}
    for c in clean_counts:
        if c and c not in quality:
            folds.setdefault(c.casefold(), []).append(c)
    clashes = [sorted(v) for v in folds.values() if len(v) > 1]
    categories: list[str] = []
    cat_pos: dict[str, int] = {}
    u2c = np.full(len(uniq_str) + 1, -1, np.int64)  # last slot: pandas' missing code -1
    for i, c in enumerate(cleaned):
        if c in quality:
            continue  # not a type: the cell stays unlabelled (code -1)
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
    n_missing = int((clean_codes < 0).sum()) - sum(quality.values())
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
    if warn and quality:
        shown = ", ".join(f"{n} labelled {c!r}" for c, n in quality.items())
        warnings.warn(
            f"label column {column!r}: cells that failed quality control are left out, not "
            f"a cell type: {shown}",
            NeuromodWarning,
            stacklevel=2,
        )
    return LabelCheck(labels, ws_fixed, clashes, n_missing, clean_codes, categories, quality)


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
