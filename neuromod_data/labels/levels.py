"""Label levels: the one coarse label of each fine label (cluster → subclass → class), and which
columns of ``obs`` are label levels."""

from __future__ import annotations

import warnings

import pandas as pd
from anndata import AnnData

from neuromod_data.errors import CellTypeError
from neuromod_data.labels.clean import _COLOR, _obs, check_labels, require_column


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
