"""Allen Brain Map SMART-seq gene expression matrices (Tasic et al. 2018 zip layout).

One download (e.g. ``mouse_VISp_gene_expression_matrices_2018-06-14.zip``) holds::

    <prefix>_exon-matrix.csv       genes × cells read counts, first column a gene id (Entrez)
    <prefix>_intron-matrix.csv     the same for intronic reads
    <prefix>_genes-rows.csv        one row per matrix row: gene_symbol, gene_id, gene_entrez_id, ...
    <prefix>_samples-columns.csv   one row per matrix column: sample_name, class, subclass, cluster, ...

The reader takes the zip itself (read in place, nothing is unpacked), the unpacked folder, or the
path of the exon matrix; files may be gzip-compressed.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import pandas as pd

from neuromod_data.errors import DataValueError, FormatError, InputFileError
from neuromod_data.io import _common
from neuromod_data.io._csv_stream import read_delimited_matrix
from neuromod_data.io._detect import open_binary

__all__ = ["read_allen_smartseq"]

_PARTS = {
    "exon": r"_exon-matrix\.csv(\.gz)?$",
    "intron": r"_intron-matrix\.csv(\.gz)?$",
    "genes": r"_genes-rows\.csv(\.gz)?$",
    "samples": r"_samples-columns\.csv(\.gz)?$",
}

_STEMS = {
    "exon": "_exon-matrix.csv",
    "intron": "_intron-matrix.csv",
    "genes": "_genes-rows.csv",
    "samples": "_samples-columns.csv",
}


@dataclass
class _Part:
    path: Path
    member: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)


def _layout(path: Path) -> dict[str, _Part]:
    """Locate the four files of the layout from a zip, a folder or the exon matrix itself."""
    found: dict[str, _Part] = {}
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())
        for key, pat in _PARTS.items():
            hits = [n for n in names if re.search(pat, n, re.I)]
            if hits:
                found[key] = _Part(path / hits[0])
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = sorted(zf.namelist())
        for key, pat in _PARTS.items():
            hits = [m for m in members if re.search(pat, m, re.I)]
            if hits:
                found[key] = _Part(path, hits[0])
    else:
        m = re.search(r"_(exon|intron)-matrix\.csv(\.gz)?$", path.name, re.I)
        if not m:
            raise FormatError(f"{path}: not an Allen *_exon-matrix.csv file, folder or zip")
        prefix = path.name[: m.start()]
        for key, stem in _STEMS.items():
            for sfx in ("", ".gz"):
                cand = path.parent / f"{prefix}{stem}{sfx}"
                if cand.is_file():
                    found[key] = _Part(cand)
                    break
        if m.group(1).lower() == "intron" and "exon" not in found:
            found["exon"] = _Part(path)  # an intron matrix alone is still a count matrix
    if "exon" not in found:
        raise InputFileError(f"{path}: no *_exon-matrix.csv found (Allen SMART-seq layout)")
    return found


def _small_table(part: _Part, what: str) -> pd.DataFrame:
    try:
        with open_binary(part.path, member=part.member) as (stream, _):
            return _common.read_csv_text(stream, low_memory=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise FormatError(f"{part}: cannot read the {what} ({str(exc).splitlines()[0]})") from None


def _gene_symbols(
    ids: list[str], genes: pd.DataFrame, where: str, record: dict
) -> tuple[list[str], pd.DataFrame]:
    """Map matrix row ids to gene symbols through genes-rows (by the column that holds the ids)."""
    ids_s = pd.Index(ids)
    sym_col = next((c for c in ("gene_symbol", "symbol", "gene_name") if c in genes.columns), None)
    if sym_col is None:
        raise DataValueError(
            f"{where}: the genes-rows table has no gene_symbol column ({list(genes.columns)})"
        )
    key_col = None
    for c in genes.columns:
        vals = genes[c].astype(str)
        if len(vals) == len(ids_s) and bool((vals.to_numpy() == ids_s.to_numpy()).all()):
            key_col = c
            break
    if key_col is None:
        for c in genes.columns:
            vals = pd.Index(genes[c].astype(str))
            if vals.is_unique and ids_s.isin(vals).all():
                key_col = c
                break
    if key_col is None:
        raise DataValueError(
            f"{where}: the matrix row ids (e.g. {', '.join(ids[:3])}) are not a column of the genes-rows "
            "table; cannot map them to gene symbols"
        )
    table = genes.set_index(genes[key_col].astype(str)).loc[ids_s]
    record["gene_ids"] = str(key_col)
    var = table.drop(columns=[sym_col]).astype(str)
    var.index = pd.RangeIndex(len(var))
    return table[sym_col].astype(str).tolist(), var


def read_allen_smartseq(
    path: str | os.PathLike,
    *,
    intron: bool = False,
    metadata: str | os.PathLike | pd.DataFrame | None = None,
    join: str | None = None,
    make_unique: bool = False,
    missing: str = "error",
    progress: bool = True,
) -> ad.AnnData:
    """Read an Allen SMART-seq download into cells × genes counts with Allen labels.

    Parameters
    ----------
    path
        The zip, the unpacked folder, or the ``*_exon-matrix.csv(.gz)`` file.
    intron
        Add the intron matrix to the exon matrix (same genes and cells).
    metadata
        A cell annotation table to use instead of ``*_samples-columns.csv``.
    join
        Column of the annotation holding the sample names (detected if ``None``).
    make_unique
        Make duplicated gene symbols unique instead of raising.
    missing
        Cells without annotation: ``"error"``, ``"drop"`` or ``"keep"``.
    progress
        Progress bars while reading the matrices.

    Returns
    -------
    AnnData, cells × genes, ``.X`` float32 CSR counts, ``obs`` with ``class_label``,
    ``subclass_label``, ``cluster_label`` (+ ``_color``, ``_id``) where the annotation has them.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "x_exon-matrix.csv").write_text('"","s1","s2"\\n"11",0,4\\n"12",2,0\\n')
    >>> _ = (d / "x_genes-rows.csv").write_text("gene_symbol,gene_entrez_id\\nVip,11\\nSst,12\\n")
    >>> _ = (d / "x_samples-columns.csv").write_text("sample_name,class,cluster\\ns1,GABAergic,Vip A\\ns2,GABAergic,Sst B\\n")
    >>> a = read_allen_smartseq(d, progress=False)
    >>> a.shape, list(a.var_names), a.obs["cluster_label"].tolist()
    ((2, 2), ['Vip', 'Sst'], ['Vip A', 'Sst B'])
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InputFileError(f"input not found: {p}")
    parts = _layout(p)
    record: dict = {"counts": "exon"}
    exon = read_delimited_matrix(
        parts["exon"].path,
        member=parts["exon"].member,
        progress=progress,
        desc="exon matrix",
        kinds=("gene", "cell"),
    )
    X = exon.X.T.tocsr()
    exon.X = None  # the file-oriented copy is no longer needed: free it before the next step
    if intron:
        if "intron" not in parts:
            raise InputFileError(
                f"{p}: intron=True but no *_intron-matrix.csv beside the exon matrix"
            )
        intr = read_delimited_matrix(
            parts["intron"].path,
            member=parts["intron"].member,
            progress=progress,
            desc="intron matrix",
            kinds=("gene", "cell"),
        )
        X = X + _align(intr, exon, str(parts["intron"]))
        record["counts"] = "exon+intron"
    where = str(parts["exon"])
    genes, var = exon.row_names, None
    if "genes" in parts:
        genes, var = _gene_symbols(
            exon.row_names, _small_table(parts["genes"], "genes-rows table"), where, record
        )
    adata = _common.counts_to_adata(
        X, exon.col_names, genes, where=where, make_unique=make_unique, record=record
    )
    if var is not None:
        for c in var.columns:
            adata.var[c] = var[c].to_numpy()
    if metadata is not None:
        meta = (
            metadata
            if isinstance(metadata, pd.DataFrame)
            else _common.read_table(metadata, what="metadata table")
        )
        msrc = "metadata" if isinstance(metadata, pd.DataFrame) else str(metadata)
        adata = _common.attach_metadata(
            adata, meta, join=join, where=msrc, record=record, missing=missing
        )
    elif "samples" in parts:
        meta = _small_table(parts["samples"], "samples-columns table")
        adata = _common.attach_metadata(
            adata, meta, join=join, where=str(parts["samples"]), record=record, missing=missing
        )
    sources = [str(v) for v in parts.values() if v is not parts.get("intron") or intron]
    return _common.finish(adata, x="counts", source=sources, reader="allen_smartseq", record=record)


def _align(other, ref, where: str):
    """``other`` (genes × cells as read) as cells × genes CSR in the row/column order of ``ref``."""
    Xo = other.X.T.tocsr()
    if other.row_names == ref.row_names and other.col_names == ref.col_names:
        return Xo
    gi = pd.Index(other.row_names).get_indexer(ref.row_names)
    ci = pd.Index(other.col_names).get_indexer(ref.col_names)
    if (
        (gi < 0).any()
        or (ci < 0).any()
        or len(other.row_names) != len(ref.row_names)
        or len(other.col_names) != len(ref.col_names)
    ):
        g_miss = [g for g, i in zip(ref.row_names, gi) if i < 0][:5]
        c_miss = [c for c, i in zip(ref.col_names, ci) if i < 0][:5]
        raise DataValueError(
            f"{where}: the intron matrix does not have the genes and cells of the exon matrix "
            f"({len(other.row_names)} vs {len(ref.row_names)} rows, {len(other.col_names)} vs "
            f"{len(ref.col_names)} columns; missing e.g. genes {g_miss}, cells {c_miss})"
        )
    return Xo[ci][:, gi].tocsr()
