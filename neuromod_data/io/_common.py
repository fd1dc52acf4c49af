"""Pieces every reader shares: Allen label names, label cleaning, metadata joins, gene names,
value checks and the ``uns["neuromod"]`` record."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neuromod_data.errors import ColumnError, DataValueError, FormatError, NeuromodWarning

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # neuromod_data/


def user_stacklevel() -> int:
    """``stacklevel`` that points a warning at the first caller outside ``neuromod_data``.

    Readers call each other at varying depths; the user should see their own line, not ours.
    """
    import sys

    level, f = 1, sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PKG_DIR):
        f = f.f_back
        level += 1
    return level


def warn(message: str, category=NeuromodWarning) -> None:
    """Warn, attributed to the user's own call."""
    warnings.warn(message, category, stacklevel=user_stacklevel() + 1)


# Allen column spellings → the toolkit's names (docs/design.md, "Label columns and cell types").
# Tasic's samples-columns say class / subclass / cluster; GEO GSE115746 says cell_class /
# cell_subclass / cell_cluster.
_ALLEN_BASE = {
    "class": "class",
    "subclass": "subclass",
    "cluster": "cluster",
    "cell_class": "class",
    "cell_subclass": "subclass",
    "cell_cluster": "cluster",
}
_SUFFIXES = ("label", "color", "colour", "id")

#: obs columns that hold cell-type labels (cleaned on read), besides any named like one
LABEL_COLUMNS = ("class_label", "subclass_label", "cluster_label")
_LABELISH = re.compile(r"(label|type|family|class|cluster)$", re.I)


def allen_label_names(columns: Sequence[str]) -> dict[str, str]:
    """Rename map for Allen label columns (``class`` → ``class_label``, ``cluster_colour`` → ...).

    Examples
    --------
    >>> allen_label_names(["sample_name", "class", "subclass_color", "cell_cluster", "cluster_id"])
    {'class': 'class_label', 'cell_cluster': 'cluster_label'}
    """
    out: dict[str, str] = {}
    taken = set(map(str, columns))
    for c in columns:
        key = str(c)
        low = key.lower()
        if low in _ALLEN_BASE:
            new = f"{_ALLEN_BASE[low]}_label"
        else:
            m = re.fullmatch(r"(cell_)?(class|subclass|cluster)_(label|colou?r|id)", low)
            if not m:
                continue
            suffix = "color" if m.group(3).startswith("colo") else m.group(3)
            new = f"{m.group(2)}_{suffix}"
        if new == key or new in taken:
            continue
        out[key] = new
        taken.add(new)
    return out


def clean_labels(obs: pd.DataFrame, record: dict, columns: Sequence[str] | None = None) -> None:
    """Normalise whitespace of label columns in place (warning naming them); report case clashes.

    What was changed is written to ``record["label_cleaning"][column]``.
    """
    from neuromod_data.labels import check_labels

    if columns is None:
        columns = [c for c in obs.columns if c in LABEL_COLUMNS or _LABELISH.search(str(c))]
    cols = [c for c in columns if c in obs.columns]
    for col in cols:
        s = obs[col]
        if not (s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype)):
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # the reader keeps every label; quality-control labels are left out when types form
            chk = check_labels(obs, col, warn=True, quality_control=False)
        for w in caught:
            warn(str(w.message), w.category)
        if chk.whitespace_fixed or chk.case_clashes:
            record.setdefault("label_cleaning", {})[col] = {
                "whitespace_fixed": list(chk.whitespace_fixed),
                "case_clashes": [" / ".join(g) for g in chk.case_clashes],
            }
            obs[col] = chk.labels


def to_categories(obs: pd.DataFrame) -> None:
    """String-like columns with few distinct values become categoricals (smaller h5ad, fast groupby)."""
    n = len(obs)
    for c in obs.columns:
        s = obs[c]
        if s.dtype == object:
            nu = s.nunique(dropna=True)
            if nu <= max(1, n // 2):
                obs[c] = s.astype("category")


def check_unique_genes(
    names: Sequence[str], *, make_unique: bool, where: str, record: dict
) -> pd.Index:
    """Return unique gene names; duplicated ones raise (naming them) unless ``make_unique``."""
    idx = pd.Index([str(n) for n in names])
    if idx.is_unique:
        return idx
    dups = pd.unique(idx[idx.duplicated(keep=False)])
    shown = ", ".join(map(str, dups[:10])) + (" ..." if len(dups) > 10 else "")
    if not make_unique:
        raise DataValueError(
            f"{where}: {len(dups)} duplicated gene name(s): {shown}. Rename them, or read the "
            "file in Python with make_unique=True to append -1, -2, ... to the repeats (anndata's "
            "var_names_make_unique)"
        )
    warn(f"{where}: {len(dups)} duplicated gene name(s) made unique: {shown}")
    record["genes_made_unique"] = [str(d) for d in dups]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anndata's own "not unique" notice
        tmp = ad.AnnData(var=pd.DataFrame(index=idx))
        tmp.var_names_make_unique()
    return tmp.var_names


def check_counts(
    X, cells: Sequence[str], genes: Sequence[str], where: str, *, negative: bool = False
) -> None:
    """Non-finite (and, unless ``negative``, negative) entries of a cells × genes matrix (CSR or
    dense): one error naming the gene and cell of the first one."""
    if sp.issparse(X):
        X = X.tocsr() if X.format != "csr" else X
        data = X.data
    else:
        data = np.asarray(X).ravel()
    bad = ~np.isfinite(data)
    kind = "non-finite"
    if not bad.any():
        if negative:
            return
        bad = data < 0
        kind = "negative"
        if not bad.any():
            return
    k = int(np.flatnonzero(bad)[0])
    if sp.issparse(X):
        row = int(np.searchsorted(X.indptr, k, side="right") - 1)
        col = int(X.indices[k])
    else:
        row, col = divmod(k, np.asarray(X).shape[1])
    raise DataValueError(
        f"{where}: {int(bad.sum())} {kind} value(s), first for gene {genes[col]!r} in cell "
        f"{cells[row]!r} ({data[k]})"
    )


#: spellings of a missing value accepted in numeric columns (R writes ``NA``); in text columns
#: they are kept as text, since a type may be named ``NA`` or ``None``
NA_TOKENS = ("NA", "NaN", "nan", "N/A", "NULL", "null", "None", "-")
_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def _numeric_or_text(s: pd.Series) -> pd.Series:
    """A column read as text → numbers, if every value is a number (or a missing-value token) and
    none is zero-padded (``0001`` is an identifier, not 1); otherwise the text, with ``""`` missing."""
    text = s.str.strip()
    present = text[text != ""]
    if _LABELISH.search(str(s.name)) or str(s.name) in LABEL_COLUMNS or present.empty:
        return s.where(s != "", np.nan)
    values = present[~present.isin(NA_TOKENS)]
    if values.empty or values.str.match(_LEADING_ZERO).any():
        return s.where(s != "", np.nan)
    num = pd.to_numeric(values, errors="coerce")
    if num.isna().any():
        return s.where(s != "", np.nan)
    out = pd.to_numeric(text.where(~text.isin(NA_TOKENS) & (text != "")), errors="coerce")
    if out.notna().all() and (out == out.round()).all() and not values.str.contains(r"[.eE]").any():
        return out.astype(np.int64)
    return out


def read_csv_text(source, **kw) -> pd.DataFrame:
    """``pd.read_csv`` that keeps labels and identifiers as written.

    Every value is read as text first; only an empty field is missing. A column then becomes
    numeric only if all its values are numbers and none is zero-padded, and never when it is named
    like a label. So cell ids ``0001`` stay ``"0001"`` and types named ``NA`` or ``None`` stay types.

    Examples
    --------
    >>> import io
    >>> t = read_csv_text(io.StringIO("cell,cell_type,n,x\\n0001,NA,3,0.5\\n0002,None,4,\\n"))
    >>> t["cell"].tolist(), t["cell_type"].tolist(), t["n"].tolist(), t["x"].tolist()[0]
    (['0001', '0002'], ['NA', 'None'], [3, 4], 0.5)
    """
    df = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[], **kw)
    refuse_repeated_columns(df, source, sep=kw.get("sep"))
    for c in df.columns:
        df[c] = _numeric_or_text(df[c])
    return df


_RENAMED_COPY = re.compile(r"^(.*)\.(\d+)$")


def refuse_repeated_columns(df: pd.DataFrame, source: object, *, sep: str | None = None) -> None:
    """Refuse a table whose header repeats a column name.

    pandas renames the second ``x`` to ``x.1``, so every later step would silently use the first
    copy. A column named ``x.1`` next to ``x`` is checked against the file's own header when
    ``source`` is a path (so a real ``x.1`` passes), and taken for a renamed copy otherwise.

    Examples
    --------
    >>> import io
    >>> text = "cell,tau,tau\\n0,1,2\\n"
    >>> refuse_repeated_columns(pd.read_csv(io.StringIO(text)), io.StringIO(text))
    Traceback (most recent call last):
    ...
    neuromod_data.errors.FormatError: column 'tau' appears more than once in the header ...
    """
    names = set(map(str, df.columns))
    copies = [m.group(1) for c in names if (m := _RENAMED_COPY.match(c)) and m.group(1) in names]
    if not copies:
        return
    if isinstance(source, (str, os.PathLike)):
        header = pd.read_csv(
            source, sep=sep or ",", header=None, nrows=1, dtype=str, keep_default_na=False
        )
        written = [str(v) for v in header.iloc[0]]
        copies = [n for n in dict.fromkeys(written) if written.count(n) > 1]
    if copies:
        shown = ", ".join(repr(c) for c in sorted(set(copies))[:5])
        plural = "s" if len(set(copies)) > 1 else ""
        raise FormatError(
            f"column{plural} {shown} appear{'' if plural else 's'} more than once in the header "
            "(only one copy would be used): rename or remove the copies"
        )


def read_table(
    path: str | os.PathLike, *, sep: str | None = None, what: str = "table"
) -> pd.DataFrame:
    """Read a small delimited table (metadata, gene rows), sniffing the delimiter; strings kept
    as written (:func:`read_csv_text`)."""
    from neuromod_data._files import require_file
    from neuromod_data.io._csv_stream import sniff_delimiter
    from neuromod_data.io._detect import peek_text

    p = require_file(path, what)
    if sep is None:
        head = peek_text(p, n_bytes=8192)
        sep = sniff_delimiter(head.splitlines()[0] if head else "")
    try:
        return read_csv_text(p, sep=sep, low_memory=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise FormatError(f"{p}: cannot read as a {what} ({str(exc).splitlines()[0]})") from None


def find_join_column(meta: pd.DataFrame, names: Sequence[str], where: str) -> str | None:
    """The metadata column whose values match the most of ``names`` (``None``: use the index)."""
    target = set(map(str, names))
    best, best_n = None, 0
    idx_n = len(target & set(map(str, meta.index)))
    for c in meta.columns:
        s = meta[c]
        if s.dtype.kind in "fc":
            continue
        n = len(target & set(s.astype(str)))
        if n > best_n:
            best, best_n = c, n
    if max(best_n, idx_n) == 0:
        raise DataValueError(
            f"{where}: no metadata column matches the sample names of the counts (e.g. "
            f"{', '.join(list(map(str, names))[:3])}); name the join column with join=..."
        )
    return best if best_n >= idx_n else None


def attach_metadata(
    adata: ad.AnnData,
    meta: pd.DataFrame,
    *,
    join: str | None,
    where: str,
    record: dict,
    missing: str = "error",
) -> ad.AnnData:
    """Join a per-cell annotation table to ``adata.obs`` on ``join`` (a column, or the index).

    Cells of the matrix without annotation raise (``missing="error"``), are dropped (``"drop"``) or
    kept with empty labels (``"keep"``); annotation rows without cells are reported and ignored.
    """
    if missing not in ("error", "drop", "keep"):
        raise ValueError(f"missing must be 'error', 'drop' or 'keep', not {missing!r}")
    if join is None:
        join = find_join_column(meta, adata.obs_names, where)
    if join is not None:
        if join not in meta.columns:
            raise ColumnError(
                f"{where}: join column {join!r} not in the metadata; available: "
                + ", ".join(map(str, meta.columns))
            )
        keys = meta[join].astype(str)
    else:
        keys = pd.Index(meta.index.astype(str))
    keys = pd.Index(keys)
    if keys.has_duplicates:
        d = pd.unique(keys[keys.duplicated()])
        raise DataValueError(
            f"{where}: {len(d)} sample name(s) appear more than once in the metadata column "
            f"{join or 'index'!r}: {', '.join(map(str, d[:5]))}"
        )
    meta = meta.copy()
    meta.index = keys
    if join is not None:
        meta = meta.drop(columns=[join])
    cells = adata.obs_names
    absent = cells.difference(keys, sort=False)
    extra = keys.difference(cells, sort=False)
    if len(absent):
        msg = (
            f"{where}: {len(absent)} of {len(cells)} cells in the counts have no row in the metadata "
            f"(join column {join or 'index'!r}), e.g. {', '.join(map(str, absent[:5]))}"
        )
        if missing == "error":
            raise DataValueError(msg + "; pass missing='drop' or missing='keep' to continue")
        warn(msg + f" ({'dropped' if missing == 'drop' else 'kept without labels'})")
        record["cells_without_metadata"] = {
            "n": int(len(absent)),
            "examples": [str(a) for a in absent[:10]],
            "action": missing,
        }
        if missing == "drop":
            adata = adata[~cells.isin(absent)].copy()
    if len(extra):
        warn(
            f"{where}: {len(extra)} metadata row(s) have no cell in the counts and are ignored, e.g. "
            f"{', '.join(map(str, extra[:5]))}"
        )
        record["metadata_rows_without_cells"] = {
            "n": int(len(extra)),
            "examples": [str(a) for a in extra[:10]],
        }
    joined = meta.reindex(adata.obs_names)
    for c in joined.columns:
        name = str(c)
        if name in adata.obs.columns:
            name = f"{name}_meta"
        adata.obs[name] = joined[c].to_numpy()
    return adata


def finish(
    adata: ad.AnnData,
    *,
    x: str,
    source: str | os.PathLike | Sequence,
    reader: str,
    record: dict,
    rename_labels: bool = True,
) -> ad.AnnData:
    """Rename Allen labels, clean label columns, categorise strings, write ``uns["neuromod"]``."""
    obs = adata.obs
    if rename_labels:
        ren = allen_label_names(list(obs.columns))
        if ren:
            obs.rename(columns=ren, inplace=True)
            record.setdefault("renamed_columns", []).extend(f"{k} → {v}" for k, v in ren.items())
    # h5ad keys may not hold "/" (anndata warns now and will refuse): "ALM/VISp top-3" → "ALM_VISp top-3"
    slash = {str(c): str(c).replace("/", "_") for c in obs.columns if "/" in str(c)}
    if slash:
        obs.rename(columns=slash, inplace=True)
        # kept as "old → new" strings: a dict keyed by names with "/" would itself break h5ad
        record.setdefault("renamed_columns", []).extend(f"{k} → {v}" for k, v in slash.items())
    clean_labels(obs, record)
    to_categories(obs)
    adata.obs = obs
    adata.obs_names = adata.obs_names.astype(str)
    adata.var_names = adata.var_names.astype(str)
    src = [str(s) for s in source] if isinstance(source, (list, tuple)) else str(source)
    meta = {"X": x, "source": src if isinstance(src, str) else "; ".join(src), "reader": reader}
    meta.update(record)
    adata.uns["neuromod"] = _uns_safe(meta)
    return adata


def _uns_safe(v):
    """Nested dicts/lists of plain types only, so the record survives ``write_h5ad``."""
    if isinstance(v, dict):
        return {str(k): _uns_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, (str, int, float, bool, np.integer, np.floating)) for x in v):
            return [str(x) for x in v] if any(isinstance(x, str) for x in v) else list(v)
        return {str(i): _uns_safe(x) for i, x in enumerate(v)}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, Path):
        return str(v)
    return v


def counts_to_adata(
    X: sp.csr_matrix,
    cells: Sequence[str],
    genes: Sequence[str],
    *,
    where: str,
    make_unique: bool,
    record: dict,
) -> ad.AnnData:
    """cells × genes float32 CSR AnnData after checking values and gene names."""
    var_names = check_unique_genes(genes, make_unique=make_unique, where=where, record=record)
    cell_idx = pd.Index([str(c) for c in cells])
    if cell_idx.has_duplicates:
        d = pd.unique(cell_idx[cell_idx.duplicated()])
        raise DataValueError(
            f"{where}: {len(d)} duplicated sample name(s): {', '.join(map(str, d[:5]))}"
        )
    if not (sp.issparse(X) and X.format == "csr" and X.dtype == np.float32):
        X = sp.csr_matrix(X, dtype=np.float32)
    check_counts(X, cell_idx, var_names, where)
    return ad.AnnData(X=X, obs=pd.DataFrame(index=cell_idx), var=pd.DataFrame(index=var_names))
