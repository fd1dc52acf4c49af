"""Formats anndata and scanpy already read: h5ad (also backed), 10x matrix folders and 10x HDF5."""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

from neuromod_data.errors import DependencyError, FormatError, InputFileError
from neuromod_data.io import _common

__all__ = ["read_h5ad", "read_10x_mtx", "read_10x_h5"]


def _x_kind(adata: ad.AnnData) -> str:
    prior = (adata.uns.get("neuromod", {}) or {}).get("X") if "neuromod" in adata.uns else None
    if prior:
        return str(prior)
    X = adata.X
    if X is None:
        return "none"
    sample = X[: min(adata.n_obs, 200)]
    if hasattr(sample, "to_memory"):
        sample = sample.to_memory()
    data = sample.data if sp.issparse(sample) else np.asarray(sample)
    return (
        "counts"
        if data.size and np.array_equal(data, np.round(data)) and (data >= 0).all()
        else "unknown"
    )


def _join(adata, metadata, join, missing, record, sources):
    if metadata is None:
        return adata
    import pandas as pd

    if isinstance(metadata, pd.DataFrame):
        meta, where = metadata, "metadata"
    else:
        meta, where = _common.read_table(metadata, what="metadata table"), str(metadata)
        sources.append(where)
    return _common.attach_metadata(
        adata, meta, join=join, where=where, record=record, missing=missing
    )


def read_h5ad(
    path: str | os.PathLike,
    *,
    backed: str | bool | None = None,
    make_unique: bool = False,
    metadata=None,
    join: str | None = None,
    missing: str = "error",
) -> ad.AnnData:
    """Read an h5ad file; ``backed="r"`` leaves ``.X`` on disk.

    Counts stored dense or as integers are converted to float32 CSR (in memory only). A per-cell
    ``metadata`` table can be joined to ``obs`` (not in backed mode).

    Examples
    --------
    >>> import tempfile, pathlib, anndata, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.h5ad"
    >>> anndata.AnnData(np.array([[1, 0], [0, 2]], dtype=np.int64)).write_h5ad(p)
    >>> a = read_h5ad(p)
    >>> a.X.dtype.name, a.uns["neuromod"]["X"]
    ('float32', 'counts')
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputFileError(f"input not found: {p}")
    mode = "r" if backed is True else backed
    try:
        adata = ad.read_h5ad(p, backed=mode) if mode else ad.read_h5ad(p)
    except (OSError, KeyError, ValueError, TypeError, EOFError) as exc:
        raise FormatError(f"{p}: cannot read as h5ad ({' '.join(str(exc).split())})") from None
    record = {
        k: v
        for k, v in (adata.uns.get("neuromod", {}) or {}).items()
        if k not in ("X", "source", "reader")
    }
    kind = _x_kind(adata)
    if not mode:
        if not adata.var_names.is_unique:
            adata.var_names = _common.check_unique_genes(
                adata.var_names, make_unique=make_unique, where=str(p), record=record
            )
        if (
            kind == "counts"
            and adata.X is not None
            and (not sp.isspmatrix_csr(adata.X) or adata.X.dtype != np.float32)
        ):
            adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
        if adata.X is not None:  # NaN / inf (and negative counts) would poison every statistic
            _common.check_counts(
                adata.X, adata.obs_names, adata.var_names, str(p), negative=kind != "counts"
            )
        sources = [str(p)]
        adata = _join(adata, metadata, join, missing, record, sources)
        return _common.finish(adata, x=kind, source=sources, reader="h5ad", record=record)
    if metadata is not None:
        raise FormatError(f"{p}: a metadata table cannot be joined in backed mode; read in memory")
    record["backed"] = str(mode)
    adata.uns["neuromod"] = _common._uns_safe(
        {"X": kind, "source": str(p), "reader": "h5ad", **record}
    )
    return adata


#: the extra of ``pyproject.toml`` that installs the 10x readers' dependency (scanpy)
TENX_EXTRA = "tenx"


def _scanpy(what: str, path: Path) -> Any:
    """scanpy, which reads the 10x formats: an optional dependency (the ``tenx`` extra), the heaviest
    import of the stack, which nothing else of the package needs."""
    try:
        import scanpy as sc
    except ImportError as exc:
        raise DependencyError(
            f"{path}: reading {what} needs scanpy, which is not installed; install the "
            f'{TENX_EXTRA!r} extra: pip install "neuromod[{TENX_EXTRA}]" (or pip install scanpy)'
        ) from exc
    return sc


def read_10x_mtx(path: str | os.PathLike, *, make_unique: bool = True) -> ad.AnnData:
    """A 10x matrix folder (``matrix.mtx(.gz)``, ``barcodes.tsv``, ``features.tsv``/``genes.tsv``).

    Gene symbols become ``var_names`` (10x repeats some symbols, so ``make_unique`` defaults on here;
    the repeats are recorded in ``uns``). Needs scanpy (the ``tenx`` extra).
    """
    p = Path(path).expanduser()
    if p.is_file():
        p = p.parent
    sc = _scanpy("a 10x matrix folder", p)
    record: dict = {}
    try:
        adata = sc.read_10x_mtx(p, var_names="gene_symbols", make_unique=False, cache=False)
    except (OSError, ValueError, EOFError, zlib.error, IndexError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise FormatError(f"{p}: cannot read as a 10x matrix folder ({text})") from None
    adata.var_names = _common.check_unique_genes(
        adata.var_names, make_unique=make_unique, where=str(p), record=record
    )
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    _common.check_counts(adata.X, adata.obs_names, adata.var_names, str(p))
    return _common.finish(adata, x="counts", source=str(p), reader="10x_mtx", record=record)


def read_10x_h5(path: str | os.PathLike, *, make_unique: bool = True) -> ad.AnnData:
    """A 10x HDF5 matrix (``filtered_feature_bc_matrix.h5``). Needs scanpy (the ``tenx`` extra)."""
    p = Path(path).expanduser()
    sc = _scanpy("a 10x HDF5 file", p)
    record: dict = {}
    try:
        adata = sc.read_10x_h5(p)
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(f"{p}: cannot read as a 10x HDF5 file ({exc})") from None
    adata.var_names = _common.check_unique_genes(
        adata.var_names, make_unique=make_unique, where=str(p), record=record
    )
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    return _common.finish(adata, x="counts", source=str(p), reader="10x_h5", record=record)
