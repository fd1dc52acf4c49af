"""The sparse machinery of :func:`neuromod_data.aggregate.aggregate`: rows streamed in chunks,
regrouped by type, scaled on the way; the streamed pass that sums and counts; the order statistics
from the stored values only (in memory, or out of core in batches of types, one pass each).

See the notes of :mod:`neuromod_data.aggregate` ("How order statistics stay sparse", "Out of
core"): the cells × genes matrix is never densified.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from neuromod_data.errors import DataValueError
from neuromod_data.normalize import _row_sums, _scale_rows, to_cpm_values


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


# ------------------------------------------------------------------------------ the passes
@dataclass
class _Accumulated:
    """What the passes over the rows gathered, per kept type × gene."""

    n_cells: np.ndarray
    sums: np.ndarray | None = None  # sum of the values (mean)
    above: np.ndarray | None = None  # cells with a value > threshold (frac_expressing)
    nnz: np.ndarray | None = None  # stored values per type (batches of the out-of-core pass)
    quantiles: dict[float, np.ndarray] | None = None  # median, trimean
    trimmed_sum: np.ndarray | None = None  # trimmed_mean: the sum without k values at each end
    k: list[int] | None = None  # values cut from each end, per type


def _stream(rows: Any, prep: _Prep, codes: np.ndarray, acc: _Accumulated, *, G: int,
            threshold: float, keep: bool, bar: Any) -> tuple[Any, list]:  # fmt: skip
    """One pass: sums, counts above ``threshold`` and stored values per type, into ``acc``.

    With ``keep`` (order statistics in memory) the regrouped rows are kept: the whole matrix as
    one grouped block when it came in one chunk, else the chunks with their codes.
    """
    kept_chunks: list[tuple[sp.csr_matrix, np.ndarray]] = []
    cached = None
    for row0, m in rows:
        mp, tids, bounds, sc = prep(m, row0, codes[row0 : row0 + m.shape[0]])
        ip, ind, dat = mp.indptr, mp.indices, mp.data
        for j, t in enumerate(tids.tolist()):
            a, b = ip[bounds[j]], ip[bounds[j + 1]]
            acc.nnz[t] += b - a
            if acc.sums is not None:
                acc.sums[t] += np.bincount(ind[a:b], weights=dat[a:b], minlength=G)
            if acc.above is not None:
                d = dat[a:b]
                acc.above[t] += np.bincount(ind[a:b][d > threshold], minlength=G)
        if keep:
            if row0 == 0 and m.shape[0] == len(codes):
                cached = (mp, tids, bounds)
            else:
                kept_chunks.append((mp, sc))
        bar.update(m.shape[0])
        del m, mp, ip, ind, dat  # free this chunk before the next one is read
    return cached, kept_chunks


def _order_block(acc: _Accumulated, mp: Any, tids: np.ndarray, bounds: np.ndarray, *, G: int,
                 qs: Sequence[float]) -> None:  # fmt: skip
    """Quantiles and trimmed sums of each type of one grouped block, into ``acc``."""
    n_cells, ks = acc.n_cells, acc.k
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
            acc.trimmed_sum[t] = np.bincount(block.indices, weights=block.data, minlength=G)
            k = None
        if not qs and k is None:
            continue
        oq, ot = _order_stats(block, n, qs, k)
        for q in qs:
            acc.quantiles[q][t] = oq[q]
        if k is not None:
            acc.trimmed_sum[t] = ot


def _order_pass(acc: _Accumulated, blocks: Iterator[Any], *, G: int, qs: Sequence[float]) -> None:
    """Order statistics of every grouped block; a block is freed before the next one is built."""
    for grouped in blocks:
        _order_block(acc, *grouped, G=G, qs=qs)
        del grouped


def _in_memory_blocks(cached: Any, kept_chunks: list) -> Iterator[Any]:
    """The grouped blocks of an in-memory matrix: the cached one, or the kept chunks stacked."""
    if cached is not None:
        yield cached
    elif kept_chunks:
        mall = sp.vstack([c for c, _ in kept_chunks], format="csr")
        call = np.concatenate([c for _, c in kept_chunks])
        kept_chunks.clear()
        grouped = _by_type(mall, call)
        del mall  # keep one copy of the batch, not two
        yield grouped


def _backed_blocks(M: Any, n_obs: int, chunk_size: int, prep: _Prep, codes: np.ndarray,
                   nnz: np.ndarray, max_nnz: int, bar: Any, passes: list[int]) -> Iterator[Any]:  # fmt: skip
    """Out of core: batches of types holding at most ``max_nnz`` stored values, one pass each."""
    T = len(nnz)
    batches: list[list[int]] = [[]]
    load = 0
    for t in range(T):
        if batches[-1] and load + nnz[t] > max_nnz:
            batches.append([])
            load = 0
        batches[-1].append(t)
        load += int(nnz[t])
    for batch in batches:
        passes[0] += 1
        inb = np.zeros(T + 1, bool)
        inb[batch] = True
        parts, pcodes = [], []
        bar.reset(total=n_obs)
        bar.set_description(f"order statistics, pass {passes[0]}")
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
            yield grouped
            del grouped
