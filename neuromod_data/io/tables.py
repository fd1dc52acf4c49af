"""A generic counts table (CSV/TSV, plain or gzip) plus an optional per-cell metadata table.

Orientation (genes × cells or cells × genes) is declared or detected: with metadata, the axis whose
names match the metadata's sample names holds the cells; without, the longer axis is taken to be
the genes (single-cell tables written as text have more genes than cells). Delimiters are sniffed
per file, so a tab-separated metadata table named ``.csv`` (the M1 Patch-seq one) reads correctly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.errors import DataValueError, InputFileError
from neuromod_data.io import _common
from neuromod_data.io._csv_stream import read_delimited_matrix

__all__ = ["read_counts_table"]

_ORIENT = ("auto", "genes_x_cells", "cells_x_genes")


def _intron_sibling(p: Path) -> Path:
    name = re.sub("exon", "intron", p.name, flags=re.I)
    if name == p.name:
        raise InputFileError(
            f"{p}: intron=True needs 'exon' in the file name to find the intron table"
        )
    cand = p.parent / name
    if not cand.is_file():
        raise InputFileError(f"intron table not found: {cand} (intron=True looks beside {p.name})")
    return cand


def _overlap(names, meta: pd.DataFrame) -> int:
    target = set(map(str, names))
    best = len(target & set(map(str, meta.index)))
    for c in meta.columns:
        if meta[c].dtype.kind not in "fc":
            best = max(best, len(target & set(meta[c].astype(str))))
    return best


def read_counts_table(
    path: str | os.PathLike,
    *,
    metadata: str | os.PathLike | pd.DataFrame | None = None,
    join: str | None = None,
    orientation: str = "auto",
    sep: str | None = None,
    intron: bool | str | os.PathLike | None = None,
    x: str | None = None,
    make_unique: bool = False,
    missing: str = "error",
    progress: bool = True,
    reader: str = "table",
) -> ad.AnnData:
    """Read a counts table (+ metadata) into a cells × genes float32 CSR AnnData.

    Parameters
    ----------
    path
        The counts table; first column (or header) names genes or cells.
    metadata
        Per-cell annotation table (any delimiter) or DataFrame.
    join
        Annotation column with the sample names; detected (most matches) if ``None``.
    orientation
        ``"auto"``, ``"genes_x_cells"`` or ``"cells_x_genes"``.
    sep
        Delimiter of the counts table; sniffed if ``None``.
    intron
        A second table to add (e.g. intron counts), or ``True`` for the file named like ``path``
        with ``exon`` replaced by ``intron``.
    x
        What the values are (``"counts"``, ``"cpm"``, ...); ``None``: ``"counts"`` if all are
        integers, else ``"unknown"``.
    make_unique, missing, progress
        As in :func:`neuromod_data.io.read`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "c.csv").write_text(",s1,s2\\nVip,0,4\\nSst,2,0\\nNpy,1,1\\n")
    >>> _ = (d / "m.tsv").write_text("Cell\\tRNA type\\ns1\\tSst A\\ns2\\tVip B\\n")
    >>> a = read_counts_table(d / "c.csv", metadata=d / "m.tsv", join="Cell", progress=False)
    >>> a.shape, a.obs["RNA type"].tolist()
    ((2, 3), ['Sst A', 'Vip B'])
    """
    if orientation not in _ORIENT:
        raise ValueError(f"orientation must be one of {_ORIENT}, not {orientation!r}")
    p = require_file(path, "counts table")
    record: dict = {}
    kinds = {"genes_x_cells": ("gene", "cell"), "cells_x_genes": ("cell", "gene")}.get(
        orientation, ("row", "column")
    )
    m = read_delimited_matrix(p, sep=sep, progress=progress, kinds=kinds)
    sources = [str(p)]
    meta = None
    if metadata is not None:
        meta = (
            metadata
            if isinstance(metadata, pd.DataFrame)
            else _common.read_table(metadata, what="metadata table")
        )
    if orientation == "auto":
        if meta is not None:
            by_col, by_row = _overlap(m.col_names, meta), _overlap(m.row_names, meta)
            if by_col == by_row == 0:
                raise DataValueError(
                    f"{p}: neither the column names (e.g. {', '.join(m.col_names[:3])}) nor the row "
                    f"names (e.g. {', '.join(m.row_names[:3])}) match any column of the metadata "
                    f"{'table' if isinstance(metadata, pd.DataFrame) else metadata}; name the "
                    "join column or declare orientation="
                )
            orientation = "genes_x_cells" if by_col >= by_row else "cells_x_genes"
            record["orientation_from"] = "metadata sample names"
        else:
            orientation = (
                "genes_x_cells" if len(m.row_names) >= len(m.col_names) else "cells_x_genes"
            )
            record["orientation_from"] = "more genes than cells"
    record["orientation"] = orientation
    if orientation == "genes_x_cells":
        X, cells, genes = m.X.T.tocsr(), m.col_names, m.row_names
        m.X = None  # free the file-oriented copy
    else:
        X, cells, genes = m.X, m.row_names, m.col_names
    if intron:
        ip = _intron_sibling(p) if intron is True else require_file(intron, "intron table")
        m2 = read_delimited_matrix(ip, sep=sep, progress=progress, kinds=kinds)
        X2, c2, g2 = (
            (m2.X.T.tocsr(), m2.col_names, m2.row_names)
            if orientation == "genes_x_cells"
            else (m2.X, m2.row_names, m2.col_names)
        )
        X = X + _reorder(X2, c2, g2, cells, genes, str(ip))
        sources.append(str(ip))
        record["counts"] = "exon+intron"
    try:
        adata = _common.counts_to_adata(
            X, cells, genes, where=str(p), make_unique=make_unique, record=record
        )
    except DataValueError as exc:
        if record.get("orientation_from") != "more genes than cells":
            raise
        # The size rule is only a guess: say so, since a name repeated in the other direction
        # (a gene read as a cell) is then reported under the wrong kind.
        rows, cols = ("genes", "cells") if orientation == "genes_x_cells" else ("cells", "genes")
        raise DataValueError(
            f"{exc} (with no metadata the longer side is taken as genes, so this table of "
            f"{len(m.row_names)} rows × {len(m.col_names)} columns was read as {rows} × {cols}; "
            "if that is wrong, pass the cells' metadata (--metadata) or orientation="
            f"{'cells_x_genes' if rows == 'genes' else 'genes_x_cells'!r})"
        ) from None
    if meta is not None:
        msrc = "metadata" if isinstance(metadata, pd.DataFrame) else str(metadata)
        if not isinstance(metadata, pd.DataFrame):
            sources.append(str(metadata))
        adata = _common.attach_metadata(
            adata, meta, join=join, where=msrc, record=record, missing=missing
        )
    if x is None:
        d = adata.X.data
        x = "counts" if np.array_equal(d, np.round(d)) else "unknown"
    return _common.finish(adata, x=x, source=sources, reader=reader, record=record)


def _reorder(X2, cells2, genes2, cells, genes, where: str):
    if list(cells2) == list(cells) and list(genes2) == list(genes):
        return X2
    ci = pd.Index(cells2).get_indexer(cells)
    gi = pd.Index(genes2).get_indexer(genes)
    if (ci < 0).any() or (gi < 0).any() or len(cells2) != len(cells) or len(genes2) != len(genes):
        raise DataValueError(
            f"{where}: the second table does not hold the same genes and cells as the first "
            f"({len(cells2)} vs {len(cells)} cells, {len(genes2)} vs {len(genes)} genes; e.g. missing "
            f"cells {[c for c, i in zip(cells, ci) if i < 0][:5]}, genes {[g for g, i in zip(genes, gi) if i < 0][:5]})"
        )
    return X2[ci][:, gi].tocsr()
