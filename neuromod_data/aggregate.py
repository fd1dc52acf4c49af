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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    MissingGenesWarning,
    NeuromodWarning,
)
from neuromod_data.labels import check_labels, type_order
from neuromod_data.normalize import _row_sums, _scale_rows, to_cpm_values, x_kind

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


def _default_chunk(n_vars: int, dense: bool) -> int:
    # ~5 M values per chunk (dense), or rows of a ~10 % dense sparse matrix holding ~5 M stored
    # values: small enough that a chunk and its few temporary copies stay around 100 MB
    per_row = n_vars if dense else max(1.0, 0.1 * n_vars)
    return int(max(256, min(100_000, 5e6 / per_row)))


def _iter_rows(M: Any, n_obs: int, chunk: int) -> Iterator[tuple[int, Any]]:
    """Yield ``(first_row, csr_chunk)``; in-memory CSR chunks are views, not copies."""
    if sp.issparse(M):
        if M.format != "csr":
            M = M.tocsr()
        if chunk >= n_obs:
            yield 0, M
            return
        for a in range(0, n_obs, chunk):
            b = min(a + chunk, n_obs)
            lo, hi = M.indptr[a], M.indptr[b]
            yield (
                a,
                sp.csr_matrix(
                    (M.data[lo:hi], M.indices[lo:hi], M.indptr[a : b + 1] - lo),
                    shape=(b - a, M.shape[1]),
                    copy=False,
                ),
            )
        return
    for a in range(0, n_obs, chunk):
        m = M[a : min(a + chunk, n_obs)]
        if sp.issparse(m):
            m = m.tocsr() if m.format != "csr" else m
        else:
            m = sp.csr_matrix(np.asarray(m))
        yield a, m


class _Prep:
    """Per-chunk processing: validate, select genes, regroup rows by type, then CPM / transform.

    The values are scaled on the regrouped copy that regrouping makes anyway, so normalising costs
    no extra copy of the matrix; the input is never modified.
    """

    def __init__(self, adata, gene_idx, cpm_from, transform, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        self.obs_names = adata.obs_names
        self.var_names = adata.var_names
        self.gene_idx = gene_idx
        self.cpm_from = cpm_from
        self.transform = transform
        self.n_empty = 0

    def _check(self, m: Any, row0: int) -> None:
        data = m.data
        # two reductions, no temporaries (NaN fails both comparisons); the mask only on failure
        if data.size and not (data.min() >= 0 and np.isfinite(data.max())):
            bad = ~np.isfinite(data) | (data < 0)
            i = int(np.flatnonzero(bad)[0])
            row = int(np.searchsorted(m.indptr, i, side="right") - 1)
            raise DataValueError(
                f"negative or non-finite value {data[i]!r} for gene {self.var_names[m.indices[i]]!r} "
                f"in cell {self.obs_names[row0 + row]!r} ({int(bad.sum())} such value(s) in rows "
                f"{row0}–{row0 + m.shape[0] - 1}); expression values must be finite and >= 0"
            )

    def __call__(self, m: Any, row0: int, codes: np.ndarray, check: bool = True):
        """Return ``(matrix, type ids, row bounds, codes)`` with rows grouped by type."""
        fresh = False  # does ``m`` own its arrays (so it may be changed in place)?
        if not m.has_canonical_format:  # duplicates would be counted twice
            m = m.copy()
            m.sum_duplicates()
            fresh = True
        if check:
            self._check(m, row0)
        scale = None
        if self.cpm_from == "counts":
            lib = _row_sums(m)
            self.n_empty += int((lib == 0).sum())
            scale = np.divide(1e6, lib, out=np.zeros_like(lib), where=lib > 0)
        if self.gene_idx is not None:
            m = m[:, self.gene_idx]
            fresh = True
        order = _type_order_of(codes)
        if order is not None:
            m, codes = m[order], codes[order]
            scale = scale[order] if scale is not None else None
            fresh = True
        modify = scale is not None or self.cpm_from in ("log10_cpm1", "log1p_cpm") or self.transform
        if m.dtype != self.dtype:
            if fresh:
                m.data = m.data.astype(self.dtype)
            else:
                m = m.astype(self.dtype)
            fresh = True
        if modify and not fresh:
            m = m.copy()
        if scale is not None:
            _scale_rows(m, scale)
        elif self.cpm_from in ("log10_cpm1", "log1p_cpm"):
            m.data = to_cpm_values(m.data, self.cpm_from)
        if self.transform == "log1p":
            np.log1p(m.data, out=m.data)
        elif self.transform == "log10":
            np.log1p(m.data, out=m.data)
            m.data /= self.dtype.type(np.log(10.0))
        if len(codes) == 0:
            return m, np.zeros(0, np.int64), np.zeros(1, np.int64), codes
        tids, starts = np.unique(codes, return_index=True)
        return m, tids, np.append(starts, len(codes)), codes


def _type_order_of(codes: np.ndarray) -> np.ndarray | None:
    """Row order grouping ``codes`` (stable; codes < 0 left out), or ``None`` if already grouped."""
    if len(codes) and codes.min() >= 0 and np.all(codes[1:] >= codes[:-1]):
        return None
    order = np.argsort(codes, kind="stable")
    return order[codes[order] >= 0]


def _by_type(m: sp.csr_matrix, codes: np.ndarray):
    """Rows regrouped by type code (codes < 0 dropped): (matrix, type ids, row bounds)."""
    order = _type_order_of(codes)
    mp, sc = (m, codes) if order is None else (m[order], codes[order])
    if len(sc) == 0:
        return mp, np.zeros(0, np.int64), np.zeros(1, np.int64)
    tids, starts = np.unique(sc, return_index=True)
    return mp, tids, np.append(starts, len(sc))


def _order_stats(block: sp.csr_matrix, n: int, qs: Sequence[float], k: int | None):
    """Quantiles ``qs`` and the ``k``-trimmed sum (k ≥ 1) of one type (block = all its cells)."""
    G = block.shape[1]
    out_q = {q: np.zeros(G) for q in qs}
    out_t = np.zeros(G) if k is not None else None
    # Two ways to fill the buffers, each cheaper in its own case. With a trimmed mean most genes
    # need sorting: convert to CSC (gene counts for free) and scatter every value at once (genes
    # that need no sorting go to a scratch tail). With quantiles only, few genes usually reach
    # the stored values: count first, relabel genes so the CSC conversion puts the needed ones
    # first, in bucket order, and scatter only those.
    scatter_all = k is not None
    if scatter_all:
        c = block.tocsc()
        cnt = np.diff(c.indptr)
    else:
        cnt = np.bincount(block.indices, minlength=G)
    need = np.zeros(G, bool)
    for q in qs:
        need |= cnt >= n - math.ceil((n - 1) * q)
    if k is not None:
        need |= cnt > k
    need &= cnt > 0
    cols = np.flatnonzero(need)
    if len(cols) == 0:
        return out_q, out_t
    # bucket = power-of-two length; a stable sort of small integers is a radix sort in numpy
    expo = np.ceil(np.log2(cnt[cols])).astype(np.uint8)
    o = np.argsort(expo, kind="stable")
    cols = cols[o]
    width = np.minimum(np.left_shift(1, expo[o], dtype=np.int64), n)
    offsets = np.concatenate([[0], np.cumsum(width)])
    rest = np.flatnonzero(~need)
    if scatter_all:
        dest = np.empty(G, np.int64)
        dest[cols] = offsets[:-1]
        dest[rest] = offsets[-1] + np.concatenate([[0], np.cumsum(cnt[rest])])[:-1]
        size = int(offsets[-1]) + int(cnt[rest].sum())
        idx_t = np.intp  # fancy indexing converts any other index type first
        # pos = position in CSC + its gene's shift, as one running sum: steps of 1, plus the
        # change of shift at each gene's first value (cheaper than arange + repeat)
        shift = (dest - c.indptr[:-1]).astype(idx_t)
        nz = np.flatnonzero(cnt)
        jump = np.diff(shift[nz], prepend=0)
        pos = np.ones(c.nnz, dtype=idx_t)
        pos[c.indptr[nz]] += jump
        pos[0] -= 1
        np.cumsum(pos, out=pos)
        values = c.data
    else:
        size = int(offsets[-1])
        idx_t = np.int32 if max(G, size, block.nnz) < 2**31 else np.int64
        relabel = np.empty(G, idx_t)
        relabel[cols] = np.arange(len(cols), dtype=idx_t)
        relabel[rest] = np.arange(len(cols), G, dtype=idx_t)
        c = sp.csr_matrix(
            (block.data, relabel[block.indices], block.indptr), shape=block.shape, copy=False
        ).tocsc()
        nn = int(c.indptr[len(cols)])
        pos = np.arange(nn, dtype=idx_t)
        pos += np.repeat((offsets[:-1] - c.indptr[: len(cols)]).astype(idx_t), cnt[cols])
        values = c.data[:nn]
    buf = np.zeros(size, block.dtype)
    buf[pos] = values
    uw, first = np.unique(width, return_index=True)
    ends = np.append(first[1:], len(width))
    for m, s, e in zip(uw.tolist(), first.tolist(), ends.tolist()):
        view = buf[offsets[s] : offsets[e]].reshape(e - s, m)
        view.sort(axis=1)
        zpad = n - m  # zeros known by count, ahead of the buffer's row
        sel = cols[s:e]
        for q in qs:
            h = (n - 1) * q
            lo = math.floor(h)
            fr = h - lo
            v_lo = view[:, lo - zpad].astype(np.float64) if lo >= zpad else 0.0
            if fr > 0:
                v_hi = view[:, lo + 1 - zpad].astype(np.float64) if lo + 1 >= zpad else 0.0
                out_q[q][sel] = v_lo + fr * (v_hi - v_lo)
            else:
                out_q[q][sel] = v_lo
        if k is not None:
            a, b = max(0, k - zpad), max(0, m - k)
            if b > a:
                out_t[sel] = np.einsum("ij->i", view[:, a:b], dtype=np.float64)
    return out_q, out_t


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
    record: dict[str, Any] = {}

    # ---- labels and types
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
            stacklevel=2,
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
            stacklevel=2,
        )
    else:
        names = []
    kept = np.flatnonzero(n_all >= min_cells)
    remap = np.full(len(order), -1, np.int64)
    remap[kept] = np.arange(len(kept))
    codes = np.where(codes_all >= 0, remap[np.maximum(codes_all, 0)], -1)
    types = [order[i] for i in kept]
    n_cells = n_all[kept]
    T = len(types)

    # ---- genes
    var_names = adata.var_names
    if not var_names.is_unique:
        dup = var_names[var_names.duplicated()].unique()[:10].tolist()
        raise DataValueError(f"duplicated gene names in var_names: {', '.join(map(repr, dup))}")
    req = _as_list(genes)
    missing: list[str] = []
    if req is None:
        gene_idx = None
        gene_names = list(var_names)
    else:
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
                stacklevel=2,
            )
        gene_idx = pos[pos >= 0]
        gene_names = [var_names[i] for i in gene_idx]
    G = len(gene_names)

    # ---- the matrix and what it holds
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

    need_sum = "mean" in stats
    need_frac = "frac_expressing" in stats
    qs = sorted({q for s in stats for q in _ORDER.get(s, ())})
    sums = np.zeros((T, G)) if need_sum else None
    above = np.zeros((T, G)) if need_frac else None
    nnz_t = np.zeros(T, np.int64)
    kept_chunks: list[tuple[sp.csr_matrix, np.ndarray]] = []
    cached = None

    from tqdm.auto import tqdm

    n_pass = 1
    with tqdm(total=n_obs, unit="cells", desc=f"aggregate by {groupby}", disable=not show) as bar:
        for row0, m in _iter_rows(M, n_obs, chunk_size):
            mp, tids, bounds, sc = prep(m, row0, codes[row0 : row0 + m.shape[0]])
            ip, ind, dat = mp.indptr, mp.indices, mp.data
            for j, t in enumerate(tids.tolist()):
                a, b = ip[bounds[j]], ip[bounds[j + 1]]
                nnz_t[t] += b - a
                if need_sum:
                    sums[t] += np.bincount(ind[a:b], weights=dat[a:b], minlength=G)
                if need_frac:
                    d = dat[a:b]
                    above[t] += np.bincount(ind[a:b][d > threshold], minlength=G)
            if need_order and not backed:
                if row0 == 0 and m.shape[0] == n_obs:
                    cached = (mp, tids, bounds)
                else:
                    kept_chunks.append((mp, sc))
            bar.update(m.shape[0])
            del m, mp, ip, ind, dat  # free this chunk before the next one is read

        if prep.n_empty:
            warnings.warn(
                f"{prep.n_empty} cell(s) have no counts at all; their CPM is 0",
                NeuromodWarning,
                stacklevel=2,
            )
        res: dict[str, np.ndarray] = {}
        if "mean" in stats:
            res["mean"] = sums / n_cells[:, None]
        if need_frac:
            res["frac_expressing"] = above / n_cells[:, None]
        if need_order:
            ks = [int(trim * n) for n in n_cells] if "trimmed_mean" in stats else None
            qv = {q: np.zeros((T, G)) for q in qs}
            tsum = np.zeros((T, G)) if ks is not None else None

            def run(mp, tids, bounds):
                for j, t in enumerate(tids.tolist()):
                    n = int(n_cells[t])
                    k = None if ks is None else ks[t]
                    r0, r1 = bounds[j], bounds[j + 1]
                    a, b = mp.indptr[r0], mp.indptr[r1]
                    # a view of the type's rows (slicing would copy them)
                    # (set as attributes: the constructor would copy views of a larger array)
                    block = sp.csr_matrix((r1 - r0, G), dtype=mp.dtype)
                    block.data = mp.data[a:b]
                    block.indices = mp.indices[a:b]
                    block.indptr = mp.indptr[r0 : r1 + 1] - a
                    if k == 0:  # nothing to cut (small type): the trimmed mean is the mean
                        tsum[t] = np.bincount(block.indices, weights=block.data, minlength=G)
                        k = None
                    if not qs and k is None:
                        continue
                    oq, ot = _order_stats(block, n, qs, k)
                    for q in qs:
                        qv[q][t] = oq[q]
                    if k is not None:
                        tsum[t] = ot

            if cached is not None:
                run(*cached)
            elif not backed:
                if kept_chunks:
                    mall = sp.vstack([c for c, _ in kept_chunks], format="csr")
                    call = np.concatenate([c for _, c in kept_chunks])
                    kept_chunks.clear()
                    grouped = _by_type(mall, call)
                    del mall  # keep one copy of the batch, not two
                    run(*grouped)
            else:
                batches: list[list[int]] = [[]]
                load = 0
                for t in range(T):
                    if batches[-1] and load + nnz_t[t] > max_nnz:
                        batches.append([])
                        load = 0
                    batches[-1].append(t)
                    load += int(nnz_t[t])
                for batch in batches:
                    n_pass += 1
                    inb = np.zeros(T + 1, bool)
                    inb[batch] = True
                    parts, pcodes = [], []
                    bar.reset(total=n_obs)
                    bar.set_description(f"order statistics, pass {n_pass}")
                    for row0, m in _iter_rows(M, n_obs, chunk_size):
                        cc = codes[row0 : row0 + m.shape[0]]
                        rows = np.flatnonzero(inb[cc])  # codes of -1 index the False sentinel
                        if len(rows):
                            # validated in pass 1
                            mp_, _, _, sc_ = prep(m[rows], row0, cc[rows], check=False)
                            parts.append(mp_)
                            pcodes.append(sc_)
                        bar.update(m.shape[0])
                    if parts:
                        mall = sp.vstack(parts, format="csr")
                        parts.clear()
                        grouped = _by_type(mall, np.concatenate(pcodes))
                        del mall  # keep one copy of the batch, not two
                        run(*grouped)
                        del grouped
            if ks is not None:
                kk = np.asarray(ks)
                res["trimmed_mean"] = tsum / (n_cells - 2 * kk)[:, None]
            if "median" in stats:
                res["median"] = qv[0.5]
            if "trimean" in stats:
                res["trimean"] = (qv[0.25] + 2 * qv[0.5] + qv[0.75]) / 4

    # ---- assemble
    obs = _constant_obs(adata.obs, codes, T, groupby)
    obs.index = pd.Index(types, name=None)
    obs.insert(0, groupby, types)
    obs["n_cells"] = n_cells.astype(np.int64)
    var = adata.var.iloc[gene_idx].copy() if gene_idx is not None else adata.var.copy()
    var.index = pd.Index(gene_names)
    layers = {s: res[s] for s in stats}
    out = AnnData(X=layers[stats[0]].copy(), obs=obs, var=var, layers=layers)
    meta = adata.uns.get("neuromod", {}) or {}
    record.update(
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
        dropped_types=names,
        dropped_type_sizes=[int(n_all[order.index(x)]) for x in names],
        whitespace_fixed=chk.whitespace_fixed,
        case_clashes=[" / ".join(g) for g in chk.case_clashes],
        backed=backed,
        n_passes=n_pass,
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
