"""Per-cell normalisation: counts per million (CPM), log1p and log10(x + 1).

All three keep a sparse matrix sparse (they touch only the stored values; CPM scales rows, the logs map
0 → 0), return float32, and record in ``adata.uns["neuromod"]["X"]`` what ``.X`` now holds, so later
steps (the ``smith2019`` preset, ``neuromod aggregate``) know whether CPM still has to be computed.

What ``.X`` holds is one of ``"counts"``, ``"cpm"``, ``"log10_cpm1"`` (log10(CPM + 1)),
``"log1p_cpm"``, ``"log1p_counts"``, ... (``log1p_<before>`` / ``log10p1_<before>`` in general).
:func:`expression_kind` reads it (or, unrecorded, guesses counts from whole numbers); CPM can be
had from :data:`CPM_SOURCES` only: computed from counts (library size = the cell's sum over all
genes) or recovered from a recorded CPM form. Aggregation (:func:`neuromod_data.aggregate`) and
scoring (:func:`neuromod_data.score.score_interactions`) normalise through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from neuromod_data.errors import DataValueError, NeuromodWarning

__all__ = [
    "CPM_SOURCES",
    "cpm",
    "cpm_of_genes",
    "expression_kind",
    "log1p",
    "log10p1",
    "to_cpm_values",
    "x_kind",
]

Matrix = Any  # numpy array or scipy sparse matrix
#: What ``.X`` may hold for CPM to be computed (``counts``) or recovered (the CPM forms).
CPM_SOURCES = ("counts", "cpm", "log10_cpm1", "log1p_cpm")


def x_kind(adata: AnnData, layer: str | None = None) -> str:
    """What ``.X`` (or ``layer``) holds according to ``uns["neuromod"]``; ``"unknown"`` if unrecorded.

    Layers are recorded under ``uns["neuromod"]["layers"][name]``; a layer named ``"counts"`` is
    taken to hold counts.

    Parameters
    ----------
    adata
        The cells.
    layer
        A layer instead of ``.X``.

    Returns
    -------
    str
        ``"counts"``, ``"cpm"``, ``"log10_cpm1"``, ... or ``"unknown"``.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> a = anndata.AnnData(np.ones((2, 2), dtype=np.float32))
    >>> x_kind(a)
    'unknown'
    >>> a.uns["neuromod"] = {"X": "counts"}
    >>> x_kind(a)
    'counts'
    """
    meta = adata.uns.get("neuromod", {}) or {}
    if layer is None:
        return str(meta.get("X", "unknown"))
    layers = meta.get("layers", {}) or {}
    if layer in layers:
        return str(layers[layer])
    return "counts" if layer == "counts" else "unknown"


def expression_kind(adata: AnnData, layer: str | None = None) -> str:
    """What ``.X`` (or ``layer``) holds: the recorded kind, else a guess from the stored values.

    An unrecorded matrix whose first 100,000 stored values are whole numbers ≥ 0 is taken to hold
    ``"counts"``; anything else unrecorded stays ``"unknown"``.

    Parameters
    ----------
    adata
        The cells.
    layer
        A layer instead of ``.X``.

    Returns
    -------
    str
        As :func:`x_kind`, with ``"unknown"`` replaced by ``"counts"`` for whole numbers.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> expression_kind(anndata.AnnData(np.array([[0.0, 3.0]], dtype=np.float32)))
    'counts'
    >>> expression_kind(anndata.AnnData(np.array([[0.5, 3.0]], dtype=np.float32)))
    'unknown'
    """
    kind = x_kind(adata, layer)
    if kind != "unknown":
        return kind
    m = adata.X if layer is None else adata.layers[layer]
    if m is None:
        return kind
    data = m.data if sp.issparse(m) else np.asarray(m).ravel()
    sample = np.asarray(data[:100_000])
    whole = sample.size and np.all(sample == np.round(sample)) and np.all(sample >= 0)
    return "counts" if whole else kind


def cpm_of_genes(
    adata: AnnData,
    genes: Sequence[str],
    *,
    layer: str | None = None,
    dtype: type = np.float64,
) -> sp.csr_matrix:
    """CPM of some genes in every cell, whatever of :data:`CPM_SOURCES` the matrix holds.

    Counts are divided by the cell's library size over *all* genes (not only ``genes``); a recorded
    CPM form is un-logged. Only the selected columns are copied.

    Parameters
    ----------
    adata
        The cells (in memory).
    genes
        Gene names (all in ``var_names``), in the order of the result's columns.
    layer
        A layer instead of ``.X``.
    dtype
        Precision of the result.

    Returns
    -------
    csr_matrix
        Cells × ``genes``.

    Raises
    ------
    DataValueError
        The matrix holds something CPM cannot be had from (e.g. log counts, unrecorded decimals),
        or negative / non-finite values.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> a = anndata.AnnData(np.array([[1.0, 3.0], [0.0, 2.0]], dtype=np.float32),
    ...                     var=pd.DataFrame(index=["A", "B"]))
    >>> cpm_of_genes(a, ["B"]).toarray().ravel().tolist()
    [750000.0, 1000000.0]
    """
    kind = expression_kind(adata, layer)
    where = ".X" if layer is None else f"layer {layer!r}"
    if kind not in CPM_SOURCES:
        raise DataValueError(
            f"cannot compute CPM: {where} holds {kind!r}; pass counts or CPM "
            "(record what it holds in uns['neuromod']['X'])"
        )
    m = adata.X if layer is None else adata.layers[layer]
    m = sp.csr_matrix(m) if not sp.issparse(m) else m.tocsr()
    cols = adata.var_names.get_indexer(list(genes))
    if (cols < 0).any():
        absent = [g for g, c in zip(genes, cols) if c < 0]
        raise DataValueError(f"genes {absent[:8]} are not in var_names")
    sub = m[:, cols]
    sub.sum_duplicates()
    sub = sub.astype(dtype)
    _check_values(sub, f"{where}, genes {list(genes)[:8]}")
    if kind == "counts":
        full = m if m.has_canonical_format else m.copy()
        full.sum_duplicates()
        lib = _row_sums(full)
        _scale_rows(sub, np.divide(1e6, lib, out=np.zeros_like(lib), where=lib > 0))
    else:
        sub.data = to_cpm_values(sub.data, kind)
    return sub


def _row_sums(m: Any) -> np.ndarray:
    """Per-row sums of CSR ``m`` in float64 without a float64 copy of the values (scipy's ``sum``
    makes one)."""
    out = np.zeros(m.shape[0])
    nonempty = np.diff(m.indptr) > 0
    if nonempty.any():
        out[nonempty] = np.add.reduceat(m.data, m.indptr[:-1][nonempty], dtype=np.float64)
    return out


def _scale_rows(m: Any, scale: np.ndarray, block: int = 1_000_000) -> None:
    """Multiply each row of CSR ``m`` by ``scale`` in place, ~``block`` values at a time, in the
    precision of ``m`` (one ``np.repeat`` over all values would allocate a float64 array as large
    as the matrix)."""
    ip, sc = m.indptr, scale.astype(m.dtype)
    n = m.shape[0]
    step = max(1, int(block / max(1.0, m.nnz / max(n, 1))))
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        m.data[ip[r0] : ip[r1]] *= np.repeat(sc[r0:r1], np.diff(ip[r0 : r1 + 1]))


def _set_kind(adata: AnnData, layer: str | None, kind: str) -> None:
    meta = dict(adata.uns.get("neuromod", {}) or {})
    if layer is None:
        meta["X"] = kind
    else:
        layers = dict(meta.get("layers", {}) or {})
        layers[layer] = kind
        meta["layers"] = layers
    adata.uns["neuromod"] = meta


def _check_values(m: Matrix, what: str) -> None:
    data = m.data if sp.issparse(m) else np.asarray(m)
    bad = ~np.isfinite(data) | (data < 0)
    if bad.any():
        raise DataValueError(
            f"{what}: negative or non-finite values ({int(bad.sum())} of them, e.g. {data[bad].flat[0]!r}); "
            "counts must be finite and >= 0"
        )


def _as_float32(m: Matrix) -> Matrix:
    if sp.issparse(m):
        out = m.tocsr(copy=True) if m.format != "csr" else m.copy()
        out.data = out.data.astype(np.float32, copy=False)
        return out
    return np.array(m, dtype=np.float32, copy=True)


def _cpm_matrix(m: Matrix, target: float = 1e6) -> Matrix:
    _check_values(m, "cpm")
    out = _as_float32(m)
    lib = _row_sums(out) if sp.issparse(out) else out.sum(axis=1, dtype=np.float64)
    scale = np.divide(target, lib, out=np.zeros_like(lib), where=lib > 0)
    if sp.issparse(out):
        _scale_rows(out, scale)
    else:
        out *= scale[:, None].astype(np.float32)
    if (lib == 0).any():
        import warnings

        warnings.warn(
            f"cpm: {int((lib == 0).sum())} cell(s) have no counts at all; their CPM is left at 0",
            NeuromodWarning,
            stacklevel=3,
        )
    return out


def _map_values(m: Matrix, fn) -> Matrix:
    out = _as_float32(m)
    if sp.issparse(out):
        out.data = fn(out.data).astype(np.float32, copy=False)
    else:
        out[...] = fn(out)
    return out


def _log10p1(x: np.ndarray) -> np.ndarray:
    return np.log1p(x) / np.log(10.0)


def _apply(adata_or_matrix, layer, copy, fn, kind_of):
    if not isinstance(adata_or_matrix, AnnData):
        return fn(adata_or_matrix)
    adata = adata_or_matrix.copy() if copy else adata_or_matrix
    if adata.isbacked:
        raise DataValueError("normalisation needs an in-memory AnnData; load it with .to_memory()")
    before = x_kind(adata, layer)
    new_kind = kind_of(before)
    mat = adata.X if layer is None else adata.layers[layer]
    out = fn(mat)
    if layer is None:
        adata.X = out
    else:
        adata.layers[layer] = out
    _set_kind(adata, layer, new_kind)
    return adata if copy else None


def cpm(adata_or_matrix: AnnData | Matrix, *, layer: str | None = None, copy: bool = False):
    """Counts per million: each cell's values scaled to sum to 10⁶ (float32, sparsity kept).

    Parameters
    ----------
    adata_or_matrix
        An AnnData (changed in place unless ``copy``) or a cells × genes matrix (a new one is returned).
    layer
        Normalise this layer instead of ``.X``.
    copy
        Return a normalised copy of the AnnData instead of changing it.

    Returns
    -------
    AnnData, matrix or None
        The new matrix for a matrix; the copy with ``copy=True``; else ``None`` (changed in place).

    Raises
    ------
    DataValueError
        Negative or non-finite values, or ``.X`` already log-transformed.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> cpm(sp.csr_matrix(np.array([[1.0, 3.0], [0.0, 2.0]]))).toarray().tolist()
    [[250000.0, 750000.0], [0.0, 1000000.0]]
    """

    def kind_of(before: str) -> str:
        if before.startswith("log"):
            raise DataValueError(
                f"cpm: {'.X' if layer is None else 'layer ' + repr(layer)} holds {before!r}, "
                "not counts; undo the log first or use the counts"
            )
        return "cpm"

    return _apply(adata_or_matrix, layer, copy, _cpm_matrix, kind_of)


def log1p(adata_or_matrix: AnnData | Matrix, *, layer: str | None = None, copy: bool = False):
    """Natural log(x + 1) of every value (float32, sparsity kept); ``.X`` then holds ``log1p_<kind>``.

    Parameters
    ----------
    adata_or_matrix
        An AnnData (changed in place unless ``copy``) or a cells × genes matrix (a new one is returned).
    layer
        Transform this layer instead of ``.X``.
    copy
        Return a transformed copy of the AnnData instead of changing it.

    Returns
    -------
    AnnData, matrix or None
        The new matrix for a matrix; the copy with ``copy=True``; else ``None`` (changed in place).

    Examples
    --------
    >>> import numpy as np
    >>> log1p(np.array([[0.0, np.e - 1]])).round(6)
    array([[0., 1.]], dtype=float32)
    """
    return _apply(
        adata_or_matrix, layer, copy, lambda m: _map_values(m, np.log1p), lambda b: f"log1p_{b}"
    )


def log10p1(adata_or_matrix: AnnData | Matrix, *, layer: str | None = None, copy: bool = False):
    """log10(x + 1) of every value (float32, sparsity kept); CPM becomes ``"log10_cpm1"``.

    Parameters
    ----------
    adata_or_matrix
        An AnnData (changed in place unless ``copy``) or a cells × genes matrix (a new one is returned).
    layer
        Transform this layer instead of ``.X``.
    copy
        Return a transformed copy of the AnnData instead of changing it.

    Returns
    -------
    AnnData, matrix or None
        The new matrix for a matrix; the copy with ``copy=True``; else ``None`` (changed in place).

    Examples
    --------
    >>> import numpy as np
    >>> log10p1(np.array([[0.0, 9.0, 99.0]])).round(6)
    array([[0., 1., 2.]], dtype=float32)
    """

    def kind_of(before: str) -> str:
        return "log10_cpm1" if before == "cpm" else f"log10p1_{before}"

    return _apply(adata_or_matrix, layer, copy, lambda m: _map_values(m, _log10p1), kind_of)


def to_cpm_values(values: np.ndarray, kind: str) -> np.ndarray | None:
    """Map stored values of a known log-CPM kind back to CPM; ``None`` if ``kind`` is no CPM form.

    Used by aggregation to accept ``.X`` that already holds (log-)CPM without normalising again.

    Parameters
    ----------
    values
        Stored values (e.g. a sparse matrix's ``data``).
    kind
        What they hold (:func:`x_kind`).

    Returns
    -------
    ndarray or None
        CPM in the dtype of ``values`` (``values`` itself for ``"cpm"``), or ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> to_cpm_values(np.array([0.0, 1.0, 2.0]), "log10_cpm1")
    array([ 0.,  9., 99.])
    """
    if kind == "cpm":
        return values
    if kind == "log10_cpm1":
        return np.expm1(values * np.log(10.0)).astype(values.dtype, copy=False)
    if kind == "log1p_cpm":
        return np.expm1(values).astype(values.dtype, copy=False)
    return None
