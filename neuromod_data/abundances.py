"""Type abundances from a taxonomy's cell counts instead of the cells that happened to be sampled.

Patch-seq and Cre-line-targeted datasets sample types far from their share of the tissue (the M1
Patch-seq files are 62 % Sst cells), and a network built from them inherits that bias through its
E/I balance. An Allen cluster annotation (e.g. Yao 2021 ``cluster.annotation.csv``) carries the
number of cells of each cluster in the whole atlas; :func:`tissue_abundances` sums those counts per
type of the data, and :meth:`CellTypeStructure.with_abundances` puts them into a structure.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence

import anndata as ad
import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.errors import CellTypeError, ColumnError

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
    key: str = "cluster_label",
    count: str = "cluster_size",
    via: str | None = None,
    types: Sequence[str] | None = None,
) -> pd.Series:
    """Cells per type of ``adata.obs[groupby]``, counted in a taxonomy table.

    Parameters
    ----------
    adata
        The cells; only ``obs`` is used.
    table
        A CSV/TSV path or a DataFrame with one row per label and its cell count.
    groupby
        The ``obs`` column that defines the types (as in :func:`neuromod_data.aggregate`).
    key, count
        The table's label column and cell-count column (defaults: an Allen cluster annotation).
    via
        An ``obs`` column of finer labels that the table's ``key`` names (e.g. the cluster, ``RNA
        type``). Each type then gets the summed counts of the finer labels its cells carry, each
        label counted once. Without it, ``key`` must name the ``groupby`` types themselves.
    types
        Only these types (e.g. a structure's names, after non-neuronal or rare types were left
        out); default: every type present.

    Returns
    -------
    A float Series of counts indexed by type (the types present in ``adata``), named ``n_cells``.

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
    >>> obs = pd.DataFrame({"family": ["IT", "IT", "Sst", "Sst", "Sst"],
    ...                     "cluster": ["L5 IT a", "L4/5 IT b", "Sst x", "Sst x", "Sst y"]},
    ...                    index=[f"c{i}" for i in range(5)])
    >>> a = anndata.AnnData(np.zeros((5, 1), np.float32), obs=obs)
    >>> sizes = pd.DataFrame({"cluster_label": ["L5 IT a", "L4/5 IT b", "Sst x", "Sst y", "Vip z"],
    ...                       "cluster_size": [700, 300, 40, 60, 90]})
    >>> tissue_abundances(a, sizes, groupby="family", via="cluster").to_dict()
    {'IT': 1000.0, 'Sst': 100.0}
    """
    df, where = _table(table)
    _require(df, key, where, "the labels")
    _require(df, count, where, "the cell counts")
    for col in (groupby, via):
        if col is not None and col not in adata.obs.columns:
            raise ColumnError(
                f"obs has no column {col!r}; columns are {list(map(str, adata.obs.columns))}"
            )
    counts = pd.to_numeric(df[count], errors="coerce")
    bad = df.loc[counts.isna() | (counts < 0), key].tolist()
    if bad:
        raise CellTypeError(
            f"{where}: column {count!r} is not a non-negative count for {_names(bad)}"
        )
    per_label = counts.groupby(df[key].astype(str)).sum()

    obs = adata.obs
    if types is not None:
        wanted = [str(t) for t in types]
        absent = sorted(set(wanted) - set(obs[groupby].dropna().astype(str)))
        if absent:
            raise CellTypeError(f"types {_names(absent)} have no cells in {groupby!r}")
        obs = obs[obs[groupby].astype(str).isin(wanted)]
    if via is None:
        types = pd.Series(obs[groupby].dropna().astype(str).unique())
        missing = [t for t in types if t not in per_label.index]
        if missing:
            raise CellTypeError(
                f"{where}: column {key!r} has no count for types {_names(missing)} of {groupby!r}"
            )
        out = per_label.reindex(types.tolist())
    else:
        pairs = obs[[via, groupby]].dropna().astype(str).drop_duplicates()
        ambiguous = pairs[pairs[via].duplicated(keep=False)][via].unique().tolist()
        if ambiguous:
            raise CellTypeError(
                f"labels of {via!r} whose cells belong to more than one {groupby!r} type: "
                f"{_names(ambiguous)}"
            )
        missing = [f for f in pairs[via] if f not in per_label.index]
        if missing:
            raise CellTypeError(
                f"{where}: column {key!r} has no count for {via!r} labels {_names(missing)}"
            )
        out = per_label.reindex(pairs[via].tolist()).groupby(pairs[groupby].to_numpy()).sum()
    out = out.astype(float)
    out.index = out.index.astype(str)
    out.index.name = groupby
    out.name = "n_cells"
    return out
