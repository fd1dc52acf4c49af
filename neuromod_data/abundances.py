"""Type abundances from a taxonomy's cell counts instead of the cells that happened to be sampled.

Patch-seq and Cre-line-targeted datasets sample types far from their share of the tissue (the M1
Patch-seq files are 62 % Sst cells), and a network built from them inherits that bias through its
E/I balance. An Allen cluster annotation (e.g. Yao 2021 ``cluster.annotation.csv``) carries the
number of cells of each cluster in the whole atlas; :func:`tissue_abundances` sums those counts per
type of the data, and :meth:`CellTypeStructure.with_abundances` puts them into a structure.

Summing only the clusters the sample happens to contain keeps part of the bias: a type is then as
abundant as the clusters that were sampled (the 185-cell M1 Patch-seq set hits 30 of the MOp
taxonomy's 116 clusters). ``expand="subclass"`` counts every cluster of each taxonomy subclass a
type's sampled clusters belong to; :func:`tissue_clusters` lists which clusters each type received
(docs/design.md, "Networks from data").
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

__all__ = ["tissue_abundances", "tissue_clusters"]


def _table(
    table: str | os.PathLike | pd.DataFrame, what: str = "abundance table"
) -> tuple[pd.DataFrame, str]:
    if isinstance(table, pd.DataFrame):
        return table, f"the {what}"
    from neuromod_data.io._common import read_table

    # the delimiter is sniffed: Allen metadata named .csv are often TAB-separated
    path = require_file(table)
    return read_table(path, what=what), str(path)


def _require(df: pd.DataFrame, column: str, where: str, what: str) -> None:
    if column not in df.columns:
        raise ColumnError(
            f"{where}: no column {column!r} ({what}); columns are {list(map(str, df.columns))}"
        )


def _names(values: list[Hashable], limit: int = 8) -> str:
    shown = ", ".join(repr(str(v)) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


#: ways of assigning the taxonomy's clusters to types (:func:`tissue_clusters`)
EXPAND = (None, "subclass")
#: what happens to a subclass whose clusters were sampled under several types
SHARED = ("error", "split")


def tissue_abundances(
    adata: ad.AnnData,
    table: str | os.PathLike | pd.DataFrame,
    *,
    groupby: str,
    label_column: str = "cluster_label",
    count_column: str = "cluster_size",
    via: str | None = None,
    types: Sequence[str] | None = None,
    expand: str | None = None,
    subclass_column: str = "subclass_label",
    extra_cells: str | os.PathLike | pd.DataFrame | None = None,
    shared: str = "error",
    **deprecated: str,
) -> pd.Series:
    """Cells per type of ``adata.obs[groupby]``, counted in a taxonomy table.

    Labels on both sides are cleaned as everywhere else (:func:`neuromod_data.labels.check_labels`),
    and finer labels map to types by :func:`neuromod_data.labels.level_mapping`'s rule. The sum of
    :func:`tissue_clusters` per type; that function lists the clusters behind each count.

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
    expand
        ``None``: only the finer labels the cells carry count (the sampled clusters).
        ``"subclass"`` (needs ``via``): every cluster of the table whose ``subclass_column`` is
        the subclass of one of the type's sampled clusters counts, sampled or not.
    subclass_column
        The table's subclass column (``expand="subclass"``).
    extra_cells
        More labelled cells (a CSV/TSV path or a DataFrame with the ``groupby`` and ``via``
        columns, e.g. a larger Patch-seq metadata table of the same types) whose clusters also
        decide which subclasses a type covers (``expand="subclass"``); the counts are still the
        table's. Useful when the sample behind ``adata`` covers the types' layers only in part.
    shared
        What happens when clusters of one subclass were sampled under several types, one of them
        counted here: ``"error"`` (default) stops with a message naming the subclass, the types and
        their clusters; ``"split"`` gives each sampled cluster to its own type and the subclass's
        unsampled clusters to the types in proportion to the counts of their sampled clusters in
        it.

    Returns
    -------
    Series
        Float counts indexed by type (the types present in ``adata``), named ``n_cells``.

    Raises
    ------
    ColumnError
        A column missing from ``obs``, from ``extra_cells`` or from the table.
    CellTypeError
        A type (or finer label) the table does not count, a finer label whose cells belong to
        more than one type, a cluster with several subclasses or none, or (``shared="error"``) a
        subclass claimed by several types.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> obs = pd.DataFrame({"family": ["IT", "IT", "Sst", "Sst", "Sst "],
    ...                     "cluster": ["L5 IT a", "L4/5 IT b", "Sst x", "Sst x", "Sst y"]},
    ...                    index=[f"c{i}" for i in range(5)])
    >>> a = anndata.AnnData(np.zeros((5, 1), np.float32), obs=obs)
    >>> sizes = pd.DataFrame({"cluster_label": ["L5 IT a", "L4/5 IT b", "Sst x", "Sst y", "Vip z",
    ...                                         "L5 IT c", "Sst w"],
    ...                       "cluster_size": [700, 300, 40, 60, 90, 200, 10],
    ...                       "subclass_label": ["L5 IT", "L4/5 IT", "Sst", "Sst", "Vip",
    ...                                          "L5 IT", "Sst"]})
    >>> tissue_abundances(a, sizes, groupby="family", via="cluster").to_dict()
    {'IT': 1000.0, 'Sst': 100.0}
    >>> tissue_abundances(a, sizes, groupby="family", via="cluster", expand="subclass").to_dict()
    {'IT': 1200.0, 'Sst': 110.0}
    """
    rows = tissue_clusters(
        adata,
        table,
        groupby=groupby,
        label_column=label_column,
        count_column=count_column,
        via=via,
        types=types,
        expand=expand,
        subclass_column=subclass_column,
        extra_cells=extra_cells,
        shared=shared,
        _stacklevel=3,
        **deprecated,
    )
    order = list(dict.fromkeys(rows["type"]))
    out = rows.groupby("type", sort=False)["n_cells"].sum().reindex(order).astype(float)
    out.index = out.index.astype(str)
    out.index.name = groupby
    out.name = "n_cells"
    return out


def tissue_clusters(
    adata: ad.AnnData,
    table: str | os.PathLike | pd.DataFrame,
    *,
    groupby: str,
    label_column: str = "cluster_label",
    count_column: str = "cluster_size",
    via: str | None = None,
    types: Sequence[str] | None = None,
    expand: str | None = None,
    subclass_column: str = "subclass_label",
    extra_cells: str | os.PathLike | pd.DataFrame | None = None,
    shared: str = "error",
    _stacklevel: int = 2,
    **deprecated: str,
) -> pd.DataFrame:
    """The taxonomy labels each type is counted from, with their cell counts.

    The options are those of :func:`tissue_abundances`, whose counts are the per-type sums of
    ``n_cells`` here.

    Returns
    -------
    DataFrame
        One row per (type, label): ``type``, ``label`` (the table's ``label_column``, cleaned; the
        type itself without ``via``), ``subclass`` (``expand="subclass"``; else empty),
        ``sampled`` (whether cells of ``adata`` carry the label), ``share`` (the fraction of the
        label's count the type gets: 1, or less for an unsampled cluster of a subclass split
        between types) and ``n_cells`` (``share`` × the label's count). Types sorted by name with
        ``via``, in order of first appearance in ``adata`` without it; labels sorted within a
        type.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> obs = pd.DataFrame({"family": ["IT", "Sst"], "cluster": ["L5 IT a", "Sst x"]},
    ...                    index=["c0", "c1"])
    >>> a = anndata.AnnData(np.zeros((2, 1), np.float32), obs=obs)
    >>> sizes = pd.DataFrame({"cluster_label": ["L5 IT a", "L5 IT c", "Sst x"],
    ...                       "cluster_size": [700, 200, 40],
    ...                       "subclass_label": ["L5 IT", "L5 IT", "Sst"]})
    >>> tissue_clusters(a, sizes, groupby="family", via="cluster", expand="subclass")
      type    label subclass  sampled  share  n_cells
    0   IT  L5 IT a    L5 IT     True    1.0    700.0
    1   IT  L5 IT c    L5 IT    False    1.0    200.0
    2  Sst    Sst x      Sst     True    1.0     40.0
    """
    renamed = {"key": "label_column", "count": "count_column"}
    unknown = sorted(set(deprecated) - set(renamed))
    if unknown:
        raise TypeError(f"tissue_abundances() got unexpected keyword argument(s) {unknown}")
    for old, value in deprecated.items():
        warnings.warn(
            f"tissue_abundances({old}=...) is renamed {renamed[old]}=...; {old} will be removed",
            DeprecationWarning,
            stacklevel=_stacklevel,
        )
        if old == "key":
            label_column = value
        else:
            count_column = value
    if expand not in EXPAND:
        raise ValueError(f"expand must be one of {EXPAND}, got {expand!r}")
    if shared not in SHARED:
        raise ValueError(f"shared must be one of {SHARED}, got {shared!r}")
    if expand is None and extra_cells is not None:
        raise ValueError("extra_cells decide the subclasses of expand='subclass'; give expand too")
    if expand is not None and via is None:
        raise ValueError(
            f"expand={expand!r} assigns the table's clusters by the clusters the cells carry: "
            "give via (the obs column of those clusters)"
        )
    df, where = _table(table)
    _require(df, label_column, where, "the labels")
    _require(df, count_column, where, "the cell counts")
    if expand is not None:
        _require(df, subclass_column, where, "the subclass of each label")
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
    label = df[label_column].map(clean_label)
    per_label = counts.groupby(label).sum()

    typ = check_labels(adata, groupby, warn=False).labels
    keep = typ.notna().to_numpy()
    if types is not None:
        wanted = [clean_label(t) for t in types]
        absent = sorted(set(wanted) - set(typ.dropna()))
        if absent:
            raise CellTypeError(f"types {_names(absent)} have no cells in {groupby!r}")
        keep &= typ.isin(wanted).to_numpy()
    present = list(dict.fromkeys(typ[keep]))
    if via is None:
        missing = [t for t in present if t not in per_label.index]
        if missing:
            raise CellTypeError(
                f"{where}: column {label_column!r} has no count for types {_names(missing)} of "
                f"{groupby!r}"
            )
        return _frame([(t, t, "", True, 1.0, float(per_label[t])) for t in present])

    fine = check_labels(adata, via, warn=False).labels
    to_type = _map_levels(fine[keep], typ[keep], via, groupby, allow_missing=True)
    missing = [f for f in to_type if f not in per_label.index]
    if missing:
        raise CellTypeError(
            f"{where}: column {label_column!r} has no count for {via!r} labels {_names(missing)}"
        )
    if expand is None:
        rows = [(t, f, "", True, 1.0, float(per_label[f])) for f, t in sorted(to_type.items())]
        return _frame(sorted(rows))

    subclass = _subclasses(df, label, subclass_column, where)
    # every (cluster, type) pair seen, here and in the extra cells: which types claim a subclass
    claims = _claims(adata, typ, fine, groupby, via, extra_cells)
    claimed: dict[str, dict[str, list[str]]] = {}
    for f, t in claims.items():
        if f in subclass.index:
            claimed.setdefault(subclass[f], {}).setdefault(t, []).append(f)
    rows = []
    for t in sorted(present):
        mine = sorted({subclass[f] for f, o in claims.items() if o == t and f in subclass.index})
        for sc in mine:
            owners = claimed[sc]
            if len(owners) > 1 and shared == "error":
                detail = "; ".join(f"{o!r}: {_names(sorted(c), 4)}" for o, c in owners.items())
                raise CellTypeError(
                    f"{where}: clusters of subclass {sc!r} ({subclass_column!r}) were sampled "
                    f"under several {groupby!r} types ({detail}); merge those types, count them "
                    "with expand=None, or split the subclass between them with shared='split'"
                )
            weight = {o: float(per_label.reindex(c).sum()) for o, c in owners.items()}
            total = sum(weight.values())
            for f in sorted(subclass.index[subclass == sc]):
                if f in claims:  # a sampled cluster belongs to the type that sampled it
                    if claims[f] != t:
                        continue
                    share = 1.0
                else:
                    share = weight[t] / total if total > 0 else 1.0 / len(owners)
                rows.append((t, f, sc, f in to_type, share, share * float(per_label[f])))
    return _frame(rows)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["type", "label", "subclass", "sampled", "share", "n_cells"])


def _subclasses(df: pd.DataFrame, label: pd.Series, column: str, where: str) -> pd.Series:
    """Cleaned label → cleaned subclass; one subclass per label."""
    sc = df[column].map(clean_label)
    none = sorted(set(label[sc.isna()].dropna()))
    if none:
        raise CellTypeError(f"{where}: column {column!r} gives no subclass for {_names(none)}")
    pairs = pd.DataFrame({"label": label, "subclass": sc}).dropna().drop_duplicates()
    several = pairs["label"][pairs["label"].duplicated()].tolist()
    if several:
        raise CellTypeError(
            f"{where}: labels {_names(sorted(set(several)))} have several subclasses in {column!r}"
        )
    return pairs.set_index("label")["subclass"]


def _claims(
    adata: ad.AnnData,
    typ: pd.Series,
    fine: pd.Series,
    groupby: str,
    via: str,
    extra_cells: str | os.PathLike | pd.DataFrame | None,
) -> dict[str, str]:
    """Cluster → type over all cells with a type (not only the types counted), plus the extra
    cells: every type that sampled a subclass claims it."""
    f, t = [fine], [typ]
    if extra_cells is not None:
        extra, where = _table(extra_cells, "table of extra cells")
        for col in (groupby, via):
            _require(extra, col, where, "a label column of the cells")
        # cleaned as the cells' own labels (a missing label stays missing)
        f.append(check_labels(extra, via, warn=False).labels)
        t.append(check_labels(extra, groupby, warn=False).labels)
    both = pd.DataFrame(
        {"f": pd.concat(f, ignore_index=True), "t": pd.concat(t, ignore_index=True)}
    )
    return _map_levels(both["f"], both["t"], via, groupby, allow_missing=True)
