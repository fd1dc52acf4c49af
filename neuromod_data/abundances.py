"""Type abundances from a taxonomy's cell counts instead of the cells that happened to be sampled.

Patch-seq and Cre-line-targeted datasets sample types far from their share of the tissue (the M1
Patch-seq files are 62 % Sst cells), and a network built from them inherits that bias through its
E/I balance. An Allen cluster annotation (e.g. Yao 2021 ``cluster.annotation.csv``) carries the
number of cells of each cluster in the whole atlas; :func:`tissue_abundances` sums those counts per
type of the data, and :meth:`CellTypeStructure.with_abundances` puts them into a structure.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Sequence

import anndata as ad
import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.errors import CellTypeError, ColumnError
from neuromod_data.labels import _map_levels, check_labels, clean_label

__all__ = ["tissue_abundances"]


def _table(table: str | os.PathLike | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(table, pd.DataFrame):
        return table, "the abundance table"
    path = require_file(table)
    sep = "\t" if path.name.endswith((".tsv", ".tsv.gz", ".txt")) else ","
    return pd.read_csv(path, sep=sep), str(path)


def _require(df: pd.DataFrame, column: str, where: str, what: str) -> None:
    if column not in df.columns:
        raise ColumnError(
            f"{where}: no column {column!r} ({what}); columns are {list(map(str, df.columns))}"
        )


def _names(values: list[Hashable], limit: int = 8) -> str:
    shown = ", ".join(repr(str(v)) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def tissue_abundances(
    adata: ad.AnnData,
    table: str | os.PathLike | pd.DataFrame,
    *,
    groupby: str,
    label_column: str = "cluster_label",
    count_column: str = "cluster_size",
    via: str | None = None,
    types: Sequence[str] | None = None,
    **deprecated: str,
) -> pd.Series:
    """Cells per type of ``adata.obs[groupby]``, counted in a taxonomy table.

    Labels on both sides are cleaned as everywhere else (:func:`neuromod_data.labels.check_labels`),
    and finer labels map to types by :func:`neuromod_data.labels.level_mapping`'s rule.

    Parameters
    ----------
    adata
        The cells; only ``obs`` is used.
    table
        A CSV/TSV path or a DataFrame with one row per label and its cell count.
    groupby
        The ``obs`` column that defines the types (as in :func:`neuromod_data.aggregate`).
    label_column, count_column
        The table's label column and cell-count column (defaults: an Allen cluster annotation).
        The old names ``key`` and ``count`` still work, with a :class:`DeprecationWarning`.
    via
        An ``obs`` column of finer labels that the table's ``label_column`` names (e.g. the
        cluster, ``RNA type``). Each type then gets the summed counts of the finer labels its cells
        carry, each label counted once. Without it, ``label_column`` must name the ``groupby``
        types themselves.
    types
        Only these types (e.g. a structure's names, after non-neuronal or rare types were left
        out); default: every type present.

    Returns
    -------
    Series
        Float counts indexed by type (the types present in ``adata``), named ``n_cells``.

    Raises
    ------
    ColumnError
        A column missing from ``obs`` or from the table.
    CellTypeError
        A type (or finer label) the table does not count, or a finer label whose cells belong to
        more than one type.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> obs = pd.DataFrame({"family": ["IT", "IT", "Sst", "Sst", "Sst "],
    ...                     "cluster": ["L5 IT a", "L4/5 IT b", "Sst x", "Sst x", "Sst y"]},
    ...                    index=[f"c{i}" for i in range(5)])
    >>> a = anndata.AnnData(np.zeros((5, 1), np.float32), obs=obs)
    >>> sizes = pd.DataFrame({"cluster_label": ["L5 IT a", "L4/5 IT b", "Sst x", "Sst y", "Vip z"],
    ...                       "cluster_size": [700, 300, 40, 60, 90]})
    >>> tissue_abundances(a, sizes, groupby="family", via="cluster").to_dict()
    {'IT': 1000.0, 'Sst': 100.0}
    """
    renamed = {"key": "label_column", "count": "count_column"}
    unknown = sorted(set(deprecated) - set(renamed))
    if unknown:
        raise TypeError(f"tissue_abundances() got unexpected keyword argument(s) {unknown}")
    for old, value in deprecated.items():
        warnings.warn(
            f"tissue_abundances({old}=...) is renamed {renamed[old]}=...; {old} will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        if old == "key":
            label_column = value
        else:
            count_column = value
    df, where = _table(table)
    _require(df, label_column, where, "the labels")
    _require(df, count_column, where, "the cell counts")
    for col in (groupby, via):
        if col is not None and col not in adata.obs.columns:
            raise ColumnError(
                f"obs has no column {col!r}; columns are {list(map(str, adata.obs.columns))}"
            )
    counts = pd.to_numeric(df[count_column], errors="coerce")
    bad = df.loc[counts.isna() | (counts < 0), label_column].tolist()
    if bad:
        raise CellTypeError(
            f"{where}: column {count_column!r} is not a non-negative count for {_names(bad)}"
        )
    per_label = counts.groupby(df[label_column].map(clean_label)).sum()

    typ = check_labels(adata, groupby, warn=False).labels
    keep = typ.notna().to_numpy()
    if types is not None:
        wanted = [clean_label(t) for t in types]
        absent = sorted(set(wanted) - set(typ.dropna()))
        if absent:
            raise CellTypeError(f"types {_names(absent)} have no cells in {groupby!r}")
        keep &= typ.isin(wanted).to_numpy()
    if via is None:
        present = list(dict.fromkeys(typ[keep]))
        missing = [t for t in present if t not in per_label.index]
        if missing:
            raise CellTypeError(
                f"{where}: column {label_column!r} has no count for types {_names(missing)} of "
                f"{groupby!r}"
            )
        out = per_label.reindex(present)
    else:
        fine = check_labels(adata, via, warn=False).labels
        to_type = pd.Series(_map_levels(fine[keep], typ[keep], via, groupby, allow_missing=True))
        missing = [f for f in to_type.index if f not in per_label.index]
        if missing:
            raise CellTypeError(
                f"{where}: column {label_column!r} has no count for {via!r} labels {_names(missing)}"
            )
        out = per_label.reindex(to_type.index).groupby(to_type.to_numpy()).sum()
    out = out.astype(float)
    out.index = out.index.astype(str)
    out.index.name = groupby
    out.name = "n_cells"
    return out
