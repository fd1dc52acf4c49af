"""Readers: public single-cell tables → AnnData (cells × genes; docs/design.md, "AnnData layout").

:func:`read` recognises every supported format from the file's name and content; the format
readers are importable on their own. Every reader returns float32 CSR counts in ``.X`` where the
source has counts, Allen labels as ``class_label`` / ``subclass_label`` / ``cluster_label`` and a
record of what was read in ``uns["neuromod"]`` (``X``, ``source``, ``reader``, and anything that
was fixed or dropped on the way).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuromod_data._files import require_regular
from neuromod_data.errors import InputFileError, OptionError, UsageError
from neuromod_data.io._detect import FORMATS, detect_format

if TYPE_CHECKING:
    import anndata as ad
    import pandas as pd

__all__ = [
    "FORMATS",
    "add_taxonomy",
    "detect_format",
    "read",
    "read_10x_h5",
    "read_10x_mtx",
    "read_allen_smartseq",
    "read_counts_table",
    "read_explorer",
    "read_gse115746",
    "read_h5ad",
    "read_summary",
]

# The readers load on first use (PEP 562): importing this package, or its format recognition
# (``neuromod_data.io._detect``, which every command's parser reads), costs no anndata, pandas or
# scanpy; ``neuromod train`` never needs them.
#: public reader → its module in this package
_EXPORTS = {
    "read_allen_smartseq": "allen_smartseq",
    "read_gse115746": "geo",
    "read_explorer": "explorer",
    "read_summary": "summaries",
    "read_counts_table": "tables",
    "read_h5ad": "anndata_formats",
    "read_10x_mtx": "anndata_formats",
    "read_10x_h5": "anndata_formats",
    "add_taxonomy": "taxonomy",
}

#: format → the reader's name (a key of ``_EXPORTS``)
_READERS = {
    "allen_smartseq": "read_allen_smartseq",
    "geo_gse115746": "read_gse115746",
    "explorer": "read_explorer",
    "summary": "read_summary",
    "table": "read_counts_table",
    "h5ad": "read_h5ad",
    "10x_mtx": "read_10x_mtx",
    "10x_h5": "read_10x_h5",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


# keywords each reader accepts besides the path (``read`` refuses the others by name)
_ACCEPTS = {
    "allen_smartseq": {"metadata", "join", "intron", "make_unique", "missing", "progress"},
    "geo_gse115746": {"metadata", "join", "make_unique", "missing", "progress"},
    "explorer": {"metadata", "join", "missing"},
    "summary": {"metadata", "stat", "annotation", "make_unique"},
    "table": {
        "metadata",
        "join",
        "orientation",
        "sep",
        "intron",
        "x",
        "make_unique",
        "missing",
        "progress",
    },
    "h5ad": {"metadata", "join", "missing", "backed", "make_unique"},
    "10x_mtx": {"make_unique"},
    "10x_h5": {"make_unique"},
}


def read(
    path: str | os.PathLike,
    *,
    metadata: str | os.PathLike | pd.DataFrame | None = None,
    format: str | None = None,
    **kw: Any,
) -> ad.AnnData:
    """Read any supported single-cell file into AnnData (cells × genes).

    Parameters
    ----------
    path
        Data file or folder: Allen SMART-seq zip/folder/``*_exon-matrix.csv``, GEO GSE115746
        counts, Explorer ``sample_heatmap_plot_data.csv``, a counts table (CSV/TSV, gzip ok), h5ad,
        10x folder or .h5, Allen ``trimmed_means.csv`` / ``medians.csv``.
    metadata
        Per-cell annotation table joined to the cells (for summaries: the cluster annotation).
    format
        Skip recognition and use this reader (a key of :data:`FORMATS`).
    **kw
        Reader options: ``join`` (annotation column with the sample names), ``intron`` (add
        intron counts), ``orientation``, ``sep``, ``make_unique`` (duplicated gene symbols),
        ``missing`` ("error" | "drop" | "keep": cells without annotation), ``backed``, ``progress``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "counts.csv"
    >>> _ = p.write_text(",c1,c2,c3\\nVip,0,4,1\\nSst,2,0,0\\nNpy,0,0,9\\nPvalb,1,1,1\\n")
    >>> a = read(p, progress=False)
    >>> a.shape, a.uns["neuromod"]["X"], a.uns["neuromod"]["reader"]
    ((3, 4), 'counts', 'table')
    """
    import pandas as pd

    p = Path(path).expanduser()
    if not p.exists():
        raise InputFileError(f"input not found: {p}")
    require_regular(p, "input")
    if metadata is not None and not isinstance(metadata, pd.DataFrame):
        m = Path(metadata).expanduser()
        require_regular(m, "metadata file")
        if not m.is_file():
            raise InputFileError(f"metadata file not found: {m}")
    if format is not None and format not in _READERS:
        raise UsageError(f"unknown format {format!r}; one of: {', '.join(_READERS)}")
    fmt = format or detect_format(p)
    if "progress" not in _ACCEPTS[fmt]:
        kw.pop("progress", None)  # small formats read in one go: nothing to show
    unknown = set(kw) - _ACCEPTS[fmt]
    if unknown:
        raise OptionError(
            f"{p} is read as {fmt!r}, which takes no option(s) {', '.join(sorted(unknown))}; it takes: "
            + ", ".join(sorted(_ACCEPTS[fmt]))
        )
    if metadata is not None:
        if "metadata" not in _ACCEPTS[fmt]:
            raise OptionError(f"{p} is read as {fmt!r}, which takes no metadata table")
        kw["metadata"] = metadata
    name = _READERS[fmt]
    reader = globals().get(name) or __getattr__(name)
    return reader(p, **kw)
