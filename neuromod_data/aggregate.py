"""Per-type expression: aggregate cells × genes into types × genes, sparse all the way.

Statistics
----------
``mean``, ``median``, ``trimmed_mean`` (fraction ``trim`` cut from each end, as
:func:`scipy.stats.trim_mean`: ``int(trim · n)`` values per end), ``trimean``
((Q1 + 2·median + Q3) / 4), ``frac_expressing`` (fraction of cells with a value > ``threshold``) and
``n_cells`` (in ``obs``). Quantiles use numpy's default ``"linear"`` definition (Hyndman & Fan type 7:
position (n − 1)·q, linear interpolation between neighbours), so ``median`` equals :func:`numpy.median`.

How order statistics stay sparse
--------------------------------
The cells × genes matrix is never densified. Per type, the stored values are regrouped by gene (a CSC
conversion, i.e. a counting sort); a gene's implicit zeros are known by count (cells − stored values),
and because values are ≥ 0 they are the smallest. Only genes whose requested order statistics can
reach the stored values are sorted at all. Their values go into a few padded 2-D buffers (one per
power-of-two length, zero padding is harmless since zeros sort first) that :func:`numpy.sort` sorts
row-wise in one call each; every order statistic is then one column (or column range) of a buffer.

Out of core
-----------
For backed AnnData (``anndata.read_h5ad(path, backed="r")``), rows are streamed in chunks: mean,
``frac_expressing`` and ``n_cells`` in one pass, exactly as in memory. Order statistics need all cells
of a type at once: the types are split into batches holding at most ``max_nnz`` stored values (after
gene selection) and each batch takes one more pass over the file, keeping only its types' rows. Peak
memory is therefore one chunk plus one batch, not the file. (A single type larger than ``max_nnz``
still forms its own batch.)

Layout
------
This module checks the options, picks the types and genes, and finishes each statistic from what
one streamed pass (and, for order statistics, the regrouped rows) accumulated: one small function
per statistic, as scanpy's ``Aggregate`` has one method per statistic. The sparse machinery
(chunks, regrouping, order statistics) is :mod:`neuromod_data._aggregate_sparse`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from neuromod_data._aggregate_sparse import (
    _Accumulated,
    _backed_blocks,
    _default_chunk,
    _in_memory_blocks,
    _iter_rows,
    _order_pass,
    _Prep,
    _stream,
)
from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    MissingGenesWarning,
    NeuromodWarning,
)
from neuromod_data.labels import check_labels, type_order
from neuromod_data.normalize import x_kind

__all__ = ["aggregate", "smith2019", "STATS"]

#: Statistics :func:`aggregate` computes (``n_cells`` is always in ``obs``).
STATS = ("mean", "median", "trimmed_mean", "trimean", "frac_expressing")
_ORDER = {"median": (0.5,), "trimean": (0.25, 0.5, 0.75)}
_CPM_KINDS = ("cpm", "log10_cpm1", "log1p_cpm")


# --------------------------------------------------------------------------------------------- helpers
def _as_list(x: str | Sequence[str] | None) -> list[str] | None:
    if x is None:
        return None
    if isinstance(x, str):
        return [x]
    return list(x)


def _constant_obs(obs: pd.DataFrame, codes: np.ndarray, T: int, skip: str) -> pd.DataFrame:
    """Columns of ``obs`` constant within every type, one row per type."""
    keep = codes >= 0
    cols = [c for c in obs.columns if c != skip]
    if not cols or not keep.any():
        return pd.DataFrame(index=range(T))
    df = obs.loc[keep, cols].copy()
    for c in cols:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(object)
    g = df.groupby(codes[keep], sort=True)
    nun = g.nunique(dropna=False)
    const = [c for c in cols if (nun[c] <= 1).all()]
    out = g[const].first().reindex(range(T))
    for c in const:
        # text columns go back to categories: an object column mixing strings and missing values
        # (a type with no value) could not be written to h5ad
        if out[c].dtype == object:
            out[c] = out[c].astype("category")
    return out


def _uns_safe(v: Any) -> Any:
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, np.integer)) for x in v):
        return np.asarray(v, dtype=np.int64)
    if isinstance(v, (list, tuple)):
        return np.array([str(x) for x in v], dtype=object) if len(v) else np.array([], dtype=str)
    return v


# ------------------------------------------------------------------------------- options, types, genes
def _check_options(
    adata: Any, stats: Any, *, trim: float, threshold: float, normalize: Any, transform: Any
) -> tuple[str, ...]:
    """The statistics asked for, in order without repeats; bad options are errors."""
    stats = tuple(_as_list(stats) or ())
    unknown = [s for s in stats if s not in STATS]
    if not stats or unknown:
        raise ValueError(f"unknown statistic(s) {unknown or stats}; choose from {', '.join(STATS)}")
    stats = tuple(dict.fromkeys(stats))
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0 (values are non-negative), got {threshold}")
    if normalize not in (None, "cpm"):
        raise ValueError(f"normalize must be None or 'cpm', got {normalize!r}")
    if transform not in (None, "log1p", "log10"):
        raise ValueError(f"transform must be None, 'log1p' or 'log10', got {transform!r}")
    if not isinstance(adata, AnnData):
        raise TypeError(f"aggregate expects an AnnData, got {type(adata).__name__}")
    return stats


@dataclass
class _Types:
    """The types of the label column and each cell's type."""

    order: list[str]  # every labelled type, in type order
    n_all: np.ndarray  # cells per type of ``order``
    types: list[str]  # the kept types (at least ``min_cells`` cells)
    n_cells: np.ndarray  # cells per kept type
    codes: np.ndarray  # per cell: its index into ``types``, -1 for none or a dropped type
    dropped: list[str]
    check: Any  # what :func:`neuromod_data.labels.check_labels` found


def _types(adata: AnnData, groupby: str, *, min_cells: int, merge_case: bool) -> _Types:
    """Types in order, small ones dropped (warned); warnings point at aggregate's caller."""
    chk = check_labels(adata, groupby, merge_case=merge_case)
    order = type_order(adata.obs[groupby], chk.categories)
    if not order:
        raise CellTypeError(f"label column {groupby!r} holds no labels")
    pos = {c: i for i, c in enumerate(order)}
    to_order = np.array([pos[c] for c in chk.categories] + [-1], np.int64)
    codes_all = to_order[chk.codes]
    n_all = np.bincount(codes_all[codes_all >= 0], minlength=len(order))
    if chk.n_missing:
        warnings.warn(
            f"{chk.n_missing} cell(s) have no {groupby!r} label and are left out",
            NeuromodWarning,
            stacklevel=3,
        )
    small = np.flatnonzero(n_all < min_cells)
    if len(small):
        names = [order[i] for i in small]
        shown = ", ".join(f"{order[i]!r} ({n_all[i]})" for i in small[:10])
        more = f" and {len(small) - 10} more" if len(small) > 10 else ""
        if len(small) == len(order):
            raise CellTypeError(
                f"no {groupby!r} type has at least min_cells={min_cells} cells "
                f"(largest: {order[int(n_all.argmax())]!r} with {int(n_all.max())})"
            )
        warnings.warn(
            f"{len(small)} {groupby!r} type(s) have fewer than min_cells={min_cells} cells and are "
            f"dropped: {shown}{more}",
            NeuromodWarning,
            stacklevel=3,
        )
    else:
        names = []
    kept = np.flatnonzero(n_all >= min_cells)
    remap = np.full(len(order), -1, np.int64)
    remap[kept] = np.arange(len(kept))
    codes = np.where(codes_all >= 0, remap[np.maximum(codes_all, 0)], -1)
    return _Types(
        order=order,
        n_all=n_all,
        types=[order[i] for i in kept],
        n_cells=n_all[kept],
        codes=codes,
        dropped=names,
        check=chk,
    )


def _genes(
    var_names: pd.Index, genes: Any
) -> tuple[np.ndarray | None, list[str], list[str], list[str] | None]:
    """(column indices or None for all, gene names, absent requested genes, the request)."""
    if not var_names.is_unique:
        dup = var_names[var_names.duplicated()].unique()[:10].tolist()
        raise DataValueError(f"duplicated gene names in var_names: {', '.join(map(repr, dup))}")
    req = _as_list(genes)
    missing: list[str] = []
    if req is None:
        return None, list(var_names), missing, req
    req = list(dict.fromkeys(req))
    pos = var_names.get_indexer(req)
    missing = [g for g, p in zip(req, pos) if p < 0]
    if len(missing) == len(req):
        raise ColumnError(
            f"none of the {len(req)} requested gene(s) are in the data "
            f"(e.g. {', '.join(map(repr, req[:5]))}); the data has {len(var_names)} genes"
        )
    if missing:
        warnings.warn(
            f"{len(missing)} requested gene(s) absent from the data, skipped: "
            + ", ".join(missing[:20])
            + (" ..." if len(missing) > 20 else ""),
            MissingGenesWarning,
            stacklevel=3,
        )
    gene_idx = pos[pos >= 0]
    return gene_idx, [var_names[i] for i in gene_idx], missing, req


def _matrix(adata: AnnData, layer: str | None, normalize: str | None) -> tuple[Any, str, Any]:
    """(the matrix, what it holds, where CPM comes from: None, ``"counts"`` or a CPM kind)."""
    if layer is None:
        M = adata.X
    else:
        if layer not in adata.layers:
            raise ColumnError(
                f"layer {layer!r} not found; available: {', '.join(adata.layers.keys()) or '(none)'}"
            )
        M = adata.layers[layer]
    if M is None:
        raise DataValueError("the AnnData has no expression matrix (.X is None)")
    kind = x_kind(adata, layer)
    cpm_from = None
    if normalize == "cpm":
        if kind in _CPM_KINDS:
            cpm_from = kind
        elif kind.startswith("log"):
            raise DataValueError(
                f"cannot compute CPM: {'.X' if layer is None else 'layer ' + repr(layer)} holds "
                f"{kind!r}; pass counts or CPM"
            )
        else:
            cpm_from = "counts"
    return M, kind, cpm_from


# ----------------------------------------------------------------------------- one per statistic
def _mean(acc: _Accumulated) -> np.ndarray:
    return acc.sums / acc.n_cells[:, None]


def _frac_expressing(acc: _Accumulated) -> np.ndarray:
    return acc.above / acc.n_cells[:, None]


def _trimmed_mean(acc: _Accumulated) -> np.ndarray:
    kk = np.asarray(acc.k)
    return acc.trimmed_sum / (acc.n_cells - 2 * kk)[:, None]


def _median(acc: _Accumulated) -> np.ndarray:
    return acc.quantiles[0.5]


def _trimean(acc: _Accumulated) -> np.ndarray:
    q = acc.quantiles
    return (q[0.25] + 2 * q[0.5] + q[0.75]) / 4


#: statistic → its value from the accumulated sums, counts and order statistics
_FINISH: dict[str, Callable[[_Accumulated], np.ndarray]] = {
    "mean": _mean,
    "median": _median,
    "trimmed_mean": _trimmed_mean,
    "trimean": _trimean,
    "frac_expressing": _frac_expressing,
}


# ------------------------------------------------------------------------------------------ aggregate
def aggregate(
    adata: AnnData,
    groupby: str,
    *,
    stats: str | Sequence[str] = ("mean",),
    genes: str | Sequence[str] | None = None,
    layer: str | None = None,
    normalize: str | None = None,
    transform: str | None = None,
    trim: float = 0.05,
    threshold: float = 0.0,
    min_cells: int = 1,
    merge_case: bool = False,
    chunk_size: int | None = None,
    max_nnz: int = 20_000_000,
    progress: bool | None = None,
    dtype: type = np.float32,
) -> AnnData:
    """Aggregate cells into types: one row per label of ``groupby``, one column per gene.

    Parameters
    ----------
    adata
        Cells × genes, in memory or backed (``read_h5ad(path, backed="r")``); sparse or dense.
    groupby
        Label column of ``obs`` (e.g. ``"cluster_label"``, ``"subclass_label"``).
    stats
        One or more of :data:`STATS`; ``.X`` holds the first.
    genes
        Only these genes (in this order). Absent ones are skipped with a :class:`MissingGenesWarning`
        and listed in ``uns["neuromod_aggregate"]["missing_genes"]``.
    layer
        Aggregate this layer instead of ``.X``.
    normalize
        ``"cpm"``: make the values counts per million before aggregating. If ``.X`` already holds CPM
        (``uns["neuromod"]["X"]`` is ``"cpm"``, ``"log10_cpm1"`` or ``"log1p_cpm"``) it is used or
        un-logged, never normalised twice; otherwise library sizes come from all genes of the cell.
    transform
        ``"log1p"`` or ``"log10"`` (log10(x + 1)), applied per cell after ``normalize`` and before the
        statistic (and ``threshold`` compares transformed values).
    trim
        Fraction cut from each end for ``trimmed_mean`` (``int(trim · n)`` values), 0 ≤ trim < 0.5.
    threshold
        A cell expresses a gene when its value is > ``threshold`` (``frac_expressing``).
    min_cells
        Types with fewer cells are dropped (warned, listed in ``uns``).
    merge_case
        Fold labels that differ only in case into one type (otherwise such clashes are warned).
    chunk_size
        Rows per streamed chunk (default: all rows of in-memory sparse data, else ~5·10⁶ values).
        Smaller chunks bound the memory of the streaming statistics (in-memory chunks are views).
    max_nnz
        Out of core: most stored values held at once for order statistics (see module notes); the
        batch and its sorted copy take about 3 × 8 bytes per stored value.
    progress
        Show a tqdm progress bar (default: for backed data or ≥ 200,000 cells).
    dtype
        Precision of the per-cell values while they are normalised and sorted (``float32`` halves
        the memory; sums and results are float64 either way).

    Returns
    -------
    AnnData, types × genes: ``.layers[stat]`` per statistic, ``.X`` the first, ``obs["n_cells"]``,
    ``obs[groupby]`` and the ``obs`` columns constant within each type (e.g. ``class_label``,
    ``subclass_label`` and colours when grouping by cluster), ``uns["neuromod_aggregate"]`` the
    parameters plus what was skipped. Types are in category order for a categorical column, else sorted.

    Raises
    ------
    ColumnError
        ``groupby`` or ``layer`` absent (available ones listed), or none of ``genes`` present.
    DataValueError
        A negative or non-finite value (gene and cell named); duplicated gene names.
    CellTypeError
        No type has ``min_cells`` cells.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[0, 1], [2, 3], [4, 0]], dtype=np.float32))
    >>> a = anndata.AnnData(X, obs=pd.DataFrame({"t": ["A", "A", "B"]}, index=["c1", "c2", "c3"]))
    >>> agg = aggregate(a, "t", stats=["mean", "frac_expressing"])
    >>> agg.layers["mean"].tolist(), agg.obs["n_cells"].tolist()
    ([[1.0, 2.0], [4.0, 0.0]], [2, 1])
    """
    stats = _check_options(
        adata, stats, trim=trim, threshold=threshold, normalize=normalize, transform=transform
    )
    ty = _types(adata, groupby, min_cells=min_cells, merge_case=merge_case)
    codes, n_cells, T = ty.codes, ty.n_cells, len(ty.types)
    gene_idx, gene_names, missing, req = _genes(adata.var_names, genes)
    G = len(gene_names)
    M, kind, cpm_from = _matrix(adata, layer, normalize)
    backed = bool(adata.isbacked) and layer is None
    dense = not (sp.issparse(M) or getattr(M, "format", None) in ("csr", "csc"))
    n_obs = adata.n_obs
    need_order = any(s in stats for s in ("median", "trimean", "trimmed_mean"))
    if chunk_size is None:
        # in memory, one regrouped copy of the whole matrix is fastest (and no larger than what
        # scanpy's indicator product allocates); pass chunk_size to bound it
        chunk_size = _default_chunk(adata.n_vars, dense) if (backed or dense) else n_obs
    chunk_size = max(1, int(chunk_size))
    show = progress if progress is not None else (backed or n_obs >= 200_000)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    prep = _Prep(adata, gene_idx, cpm_from, transform, dtype)

    qs = sorted({q for s in stats for q in _ORDER.get(s, ())})
    acc = _Accumulated(
        n_cells=n_cells,
        sums=np.zeros((T, G)) if "mean" in stats else None,
        above=np.zeros((T, G)) if "frac_expressing" in stats else None,
        nnz=np.zeros(T, np.int64),
    )

    from tqdm.auto import tqdm

    passes = [1]
    with tqdm(total=n_obs, unit="cells", desc=f"aggregate by {groupby}", disable=not show) as bar:
        rows = _iter_rows(M, n_obs, chunk_size)
        cached, kept_chunks = _stream(
            rows, prep, codes, acc, G=G, threshold=threshold, keep=need_order and not backed,
            bar=bar,
        )  # fmt: skip
        if prep.n_empty:
            warnings.warn(
                f"{prep.n_empty} cell(s) have no counts at all; their CPM is 0",
                NeuromodWarning,
                stacklevel=2,
            )
        if need_order:
            acc.k = [int(trim * n) for n in n_cells] if "trimmed_mean" in stats else None
            acc.quantiles = {q: np.zeros((T, G)) for q in qs}
            acc.trimmed_sum = np.zeros((T, G)) if acc.k is not None else None
            blocks = (
                _backed_blocks(M, n_obs, chunk_size, prep, codes, acc.nnz, max_nnz, bar, passes)
                if backed
                else _in_memory_blocks(cached, kept_chunks)
            )
            _order_pass(acc, blocks, G=G, qs=qs)
    layers = {s: _FINISH[s](acc) for s in stats}

    # ---- assemble
    obs = _constant_obs(adata.obs, codes, T, groupby)
    obs.index = pd.Index(ty.types, name=None)
    obs.insert(0, groupby, ty.types)
    obs["n_cells"] = n_cells.astype(np.int64)
    var = adata.var.iloc[gene_idx].copy() if gene_idx is not None else adata.var.copy()
    var.index = pd.Index(gene_names)
    out = AnnData(X=layers[stats[0]].copy(), obs=obs, var=var, layers=layers)
    meta = adata.uns.get("neuromod", {}) or {}
    chk = ty.check
    record = dict(
        groupby=groupby,
        stats=list(stats),
        layer=layer or "X",
        input_kind=kind,
        normalize=normalize,
        cpm_from=cpm_from,
        transform=transform,
        trim=float(trim),
        threshold=float(threshold),
        min_cells=int(min_cells),
        quantile_method="linear (numpy default, Hyndman-Fan type 7)",
        dtype=str(np.dtype(dtype)),
        n_cells_total=int(n_obs),
        n_cells_unlabelled=int(chk.n_missing),
        n_genes_requested=len(req) if req is not None else G,
        missing_genes=missing,
        dropped_types=ty.dropped,
        dropped_type_sizes=[int(ty.n_all[ty.order.index(x)]) for x in ty.dropped],
        whitespace_fixed=chk.whitespace_fixed,
        case_clashes=[" / ".join(g) for g in chk.case_clashes],
        backed=backed,
        n_passes=passes[0],
        source=str(meta.get("source", "")),
    )
    out.uns["neuromod_aggregate"] = {k: _uns_safe(v) for k, v in record.items()}
    return out


def smith2019(adata: AnnData, groupby: str, **kw: Any) -> AnnData:
    """Smith et al. 2019's per-type value: 5 % trimmed mean of CPM → log10(x + 1) → / max over types.

    The aggregation step of Smith et al.'s method (its scoring step is
    :func:`neuromod_data.score.score_interactions` with ``method="smith2019"``).

    Parameters
    ----------
    adata
        Cells × genes (counts or a recorded CPM form).
    groupby
        Label column of ``obs``.
    **kw
        Other options of :func:`aggregate` (``genes``, ``min_cells``, ``stats`` to add e.g.
        ``"frac_expressing"``, ...); ``normalize`` defaults to ``"cpm"``, ``trim`` to 0.05.

    Returns
    -------
    AnnData
        As :func:`aggregate`, with layers ``"trimmed_mean"`` (unscaled trimmed-mean CPM, what
        coupling scores use), ``"log10_trimmed_mean"`` (log10(x + 1) of it) and ``"smith2019"``
        (scaled to each gene's maximum across types; a gene expressed nowhere stays 0), which is
        also ``.X``.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[0, 10], [0, 10], [5, 5]], dtype=np.float32))
    >>> a = anndata.AnnData(X, obs=pd.DataFrame({"t": ["A", "A", "B"]}, index=["c1", "c2", "c3"]))
    >>> a.uns["neuromod"] = {"X": "counts"}
    >>> smith2019(a, "t").X.round(3).tolist()
    [[0.0, 1.0], [1.0, 0.95]]
    """
    extra = [s for s in _as_list(kw.pop("stats", None)) or [] if s != "trimmed_mean"]
    kw.setdefault("normalize", "cpm")
    kw.setdefault("trim", 0.05)
    out = aggregate(adata, groupby, stats=["trimmed_mean", *extra], **kw)
    tm = out.layers["trimmed_mean"]
    logv = np.log10(tm + 1.0)
    mx = logv.max(axis=0, keepdims=True)
    scaled = np.divide(logv, mx, out=np.zeros_like(logv), where=mx > 0)
    out.layers["log10_trimmed_mean"] = logv
    out.layers["smith2019"] = scaled
    out.X = scaled.copy()
    out.uns["neuromod_aggregate"]["preset"] = "smith2019"
    return out
