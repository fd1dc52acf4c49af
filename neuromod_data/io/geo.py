"""GEO GSE115746 (Tasic et al. 2018): ``GSE115746_cells_exon_counts.csv(.gz)`` (genes × cells, gene
symbols in the first column) with ``GSE115746_complete_metadata_28706-cells.csv(.gz)`` (one row per
``sample_name``; ``cell_class`` / ``cell_subclass`` / ``cell_cluster`` become ``class_label`` /
``subclass_label`` / ``cluster_label``). The metadata covers more cells than the counts (all
regions); the extra rows are reported and ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import pandas as pd

from neuromod_data.io.tables import read_counts_table

__all__ = ["read_gse115746"]


def _find_metadata(p: Path) -> Path | None:
    hits = sorted(p.parent.glob("GSE115746_*metadata*.csv*"))
    return hits[0] if hits else None


def read_gse115746(
    path: str | os.PathLike,
    *,
    metadata: str | os.PathLike | pd.DataFrame | None = None,
    join: str | None = "sample_name",
    make_unique: bool = False,
    missing: str = "error",
    progress: bool = True,
) -> ad.AnnData:
    """Read the GEO GSE115746 counts (+ metadata, found beside the counts if not given).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "GSE115746_cells_exon_counts.csv").write_text(",c1,c2\\nVip,3,0\\nSst,0,7\\n")
    >>> _ = (d / "GSE115746_complete_metadata_28706-cells.csv").write_text(
    ...     "sample_name,cell_class,cell_subclass,cell_cluster\\nc1,GABAergic,Vip,Vip A\\nc2,GABAergic,Sst,Sst B\\n")
    >>> a = read_gse115746(d / "GSE115746_cells_exon_counts.csv", progress=False)
    >>> a.obs["subclass_label"].tolist()
    ['Vip', 'Sst']
    """
    p = Path(path).expanduser()
    if metadata is None:
        metadata = _find_metadata(p)
    if metadata is None:
        join = None
    return read_counts_table(
        p,
        metadata=metadata,
        join=join,
        orientation="genes_x_cells",
        make_unique=make_unique,
        missing=missing,
        progress=progress,
        reader="geo_gse115746",
    )
