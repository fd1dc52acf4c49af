"""Per-cell normalisation: counts per million (CPM), log1p and log10(x + 1).

All three keep a sparse matrix sparse (they touch only the stored values; CPM scales rows, the logs map
0 → 0), return float32, and record in ``adata.uns["neuromod"]["X"]`` what ``.X`` now holds, so later
steps (the ``smith2019`` preset, ``neuromod aggregate``) know whether CPM still has to be computed.

What ``.X`` holds is one of ``"counts"``, ``"cpm"``, ``"log10_cpm1"`` (log10(CPM + 1)),
``"log1p_cpm"``, ``"log1p_counts"``, ... (``log1p_<before>`` / ``log10p1_<before>`` in general).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from neuromod_data.errors import DataValueError, NeuromodWarning

__all__ = ["cpm", "log1p", "log10p1", "x_kind", "to_cpm_values"]

Matrix = Any  # numpy array or scipy sparse matrix


def x_kind(adata: AnnData, layer: str | None = None) -> str:
    """What ``.X`` (or ``layer``) holds according to ``uns["neuromod"]``; ``"unknown"`` if unrecorded.

    Layers are recorded under ``uns["neuromod"]["layers"][name]``; a layer named ``"counts"`` is
    taken to hold counts.

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
    if sp.issparse(out):
        lib = np.asarray(out.sum(axis=1, dtype=np.float64)).ravel()
    else:
        lib = out.sum(axis=1, dtype=np.float64)
    scale = np.divide(target, lib, out=np.zeros_like(lib), where=lib > 0)
    if sp.issparse(out):
        out.data *= np.repeat(scale, np.diff(out.indptr)).astype(np.float32)
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
    """Natural log(x + 1) of every value (float32, sparsity kept).

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
