"""The Allen Transcriptomics Explorer "sample heatmap" export (``sample_heatmap_plot_data.csv``).

One row per cell: ``sample_name``, ``cluster_id/_color/_label``, ``class_id/_color/_label`` and one
``<Gene>_log10_cpm`` column per gene holding log10(CPM + 1). ``.X`` is CPM = 10**x − 1 (float32
CSR); the values as exported are kept in ``layers["log10_cpm1"]``.
"""

from __future__ import annotations

import os

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neuromod_data._files import require_file
from neuromod_data.errors import DataValueError, FormatError
from neuromod_data.io import _common

__all__ = ["read_explorer"]

_SUFFIX = "_log10_cpm"


def read_explorer(
    path: str | os.PathLike,
    *,
    metadata: str | os.PathLike | pd.DataFrame | None = None,
    join: str | None = None,
    missing: str = "error",
) -> ad.AnnData:
    """Read an Explorer sample-heatmap export: CPM in ``.X``, labels in ``obs``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sample_heatmap_plot_data.csv"
    >>> _ = p.write_text("sample_name,cluster_label,class_label,Vip_log10_cpm\\na,Vip X,GABAergic,2\\nb,L4 Y,Glutamatergic,0\\n")
    >>> a = read_explorer(p)
    >>> a.X.toarray().ravel().tolist(), a.uns["neuromod"]["X"]
    ([99.0, 0.0], 'cpm')
    """
    p = require_file(path, "Explorer export")
    try:
        df = _common.read_csv_text(p, low_memory=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise FormatError(f"{p}: cannot read as a CSV table ({str(exc).splitlines()[0]})") from None
    gene_cols = [c for c in df.columns if str(c).endswith(_SUFFIX)]
    if not gene_cols:
        raise FormatError(
            f"{p}: no '<Gene>{_SUFFIX}' columns; not an Explorer sample-heatmap export"
        )
    id_col = "sample_name" if "sample_name" in df.columns else df.columns[0]
    record: dict = {"layers": {"log10_cpm1": "log10_cpm1"}}
    logv = df[gene_cols].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(logv) | (logv < 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataValueError(
            f"{p}: {int(bad.sum())} missing, non-finite or negative log10(CPM+1) value(s), first for "
            f"gene {gene_cols[c][: -len(_SUFFIX)]!r} in cell {df[id_col].iloc[r]!r} ({_shown(df[gene_cols[c]].iloc[r])})"
        )
    cpm = np.power(10.0, logv) - 1.0
    np.maximum(cpm, 0.0, out=cpm)  # 10**0 - 1 is exactly 0; guard against rounding below it
    genes = [str(c)[: -len(_SUFFIX)] for c in gene_cols]
    adata = _common.counts_to_adata(
        sp.csr_matrix(cpm.astype(np.float32)),
        df[id_col].astype(str),
        genes,
        where=str(p),
        make_unique=False,
        record=record,
    )
    adata.layers["log10_cpm1"] = sp.csr_matrix(logv.astype(np.float32))
    obs = df.drop(columns=gene_cols + [id_col])
    obs.index = adata.obs_names
    adata.obs = obs
    sources = [str(p)]
    if metadata is not None:
        meta = (
            metadata
            if isinstance(metadata, pd.DataFrame)
            else _common.read_table(metadata, what="metadata table")
        )
        if not isinstance(metadata, pd.DataFrame):
            sources.append(str(metadata))
        adata = _common.attach_metadata(
            adata, meta, join=join, where=sources[-1], record=record, missing=missing
        )
    return _common.finish(adata, x="cpm", source=sources, reader="explorer", record=record)


def _shown(value: object) -> str:
    """A table value as the file has it: an empty field is 'empty', not NaN."""
    return "empty" if pd.isna(value) else repr(str(value))
