"""Reading: a table of electrophysiological features joined to the cells' metadata."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.ephys._common import _warn
from neuromod_data.errors import ColumnError, DataValueError, FormatError
from neuromod_data.io._common import refuse_repeated_columns


def _read_table(obj: str | os.PathLike | pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    """A table and a name for messages; the delimiter (comma or TAB) is sniffed from the header."""
    if isinstance(obj, pd.DataFrame):
        return obj.copy(), f"the {what} table"
    p = require_file(obj, f"{what} file")
    with open(p, encoding="utf-8", errors="replace", newline="") as fh:
        header = fh.readline()
    sep = "\t" if header.count("\t") > header.count(",") else ","
    try:
        table = pd.read_csv(p, sep=sep, low_memory=False)
        refuse_repeated_columns(table, p, sep=sep)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FormatError(f"{p}: cannot read as a {what} table ({first})") from None
    return table, str(p)


def _keyed(table: pd.DataFrame, key: str, where: str, what: str) -> pd.DataFrame:
    if key not in table.columns:
        avail = ", ".join(map(str, table.columns[:12])) + (" ..." if table.shape[1] > 12 else "")
        raise ColumnError(f"{where}: {what} column {key!r} not found; available: {avail}")
    ids = table[key]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataValueError(f"{where}: {what} column {key!r} is empty in row {row + 2}")
    ids = ids.astype(str).str.strip()
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise DataValueError(
            f"{where}: {len(dup)} cell(s) appear more than once in column {key!r}: "
            + ", ".join(map(str, dup[:5]))
        )
    out = table.drop(columns=[key])
    out.index = pd.Index(ids, name="cell")
    return out


def _numeric_features(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """Every column as float; a column with some non-numeric entries is an error, a column with
    none numeric is not a feature (left out, with a warning)."""
    out, skipped = {}, []
    for col in table.columns:
        raw = table[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & num.isna()
        if bad.any():
            if bad.sum() == raw.notna().sum():
                skipped.append(str(col))
                continue
            cell = bad.index[bad.to_numpy()][0]
            raise FormatError(
                f"{where}: feature {col!r} of cell {cell!r} is {raw[cell]!r}, not a number "
                f"({int(bad.sum())} such value(s) in that column)"
            )
        out[col] = num.astype(np.float64)
    if skipped:
        _warn(f"{where}: column(s) without numbers are not features and are left out: {skipped}")
    if not out:
        raise FormatError(f"{where}: no numeric feature column")
    return pd.DataFrame(out, index=table.index)


def read_ephys(
    features: str | os.PathLike | pd.DataFrame,
    metadata: str | os.PathLike | pd.DataFrame,
    *,
    features_key: str = "cell id",
    metadata_key: str = "Cell",
    labels: Sequence[str] = (),
) -> pd.DataFrame:
    """Join a per-cell feature table to the cells' metadata.

    Parameters
    ----------
    features
        Features file (comma- or TAB-separated; e.g. ``m1_patchseq_ephys_features.csv``) or table:
        one row per cell, the ``features_key`` column and numeric feature columns.
    metadata
        Metadata file or table: one row per cell, the ``metadata_key`` column and label columns
        (e.g. ``RNA family``, ``RNA type``, ``Inferred layer``).
    features_key, metadata_key
        Columns holding the cell names in each table.
    labels
        Label columns that must be present in the metadata (checked here, so that a typo fails
        before any work).

    Returns
    -------
    One row per cell of the features table (index: cell name), the feature columns (float) then
    the metadata columns (labels stripped of stray spaces; empty labels are missing). Cells without
    metadata are kept without labels, with a warning; metadata rows without features are ignored,
    with a warning. ``.attrs["neuromod_ephys"]`` records the files, the feature columns and these
    counts.
    """
    ftab, fwhere = _read_table(features, "features")
    mtab, mwhere = _read_table(metadata, "metadata")
    ftab = _keyed(ftab, features_key, fwhere, "cell name")
    mtab = _keyed(mtab, metadata_key, mwhere, "cell name")
    missing = [c for c in labels if c not in mtab.columns]
    if missing:
        avail = ", ".join(map(str, mtab.columns))
        raise ColumnError(f"{mwhere}: label column(s) {missing} not found; available: {avail}")
    feats = _numeric_features(ftab, fwhere)
    common = feats.index.intersection(mtab.index)
    if len(common) == 0:
        raise DataValueError(
            f"no cell of {fwhere} (column {features_key!r}, e.g. {list(feats.index[:2])}) has a row "
            f"in {mwhere} (column {metadata_key!r}, e.g. {list(mtab.index[:2])})"
        )
    no_meta = feats.index.difference(mtab.index, sort=False)
    no_feat = mtab.index.difference(feats.index, sort=False)
    if len(no_meta):
        _warn(
            f"{len(no_meta)} of {len(feats)} cells of {fwhere} have no row in {mwhere} and no "
            f"labels, e.g. {', '.join(map(str, no_meta[:3]))}"
        )
    if len(no_feat):
        _warn(
            f"{len(no_feat)} cell(s) of {mwhere} have no features in {fwhere} and are ignored, "
            f"e.g. {', '.join(map(str, no_feat[:3]))}"
        )
    meta = mtab.reindex(feats.index)
    clash = [c for c in meta.columns if c in feats.columns]
    meta = meta.rename(columns={c: f"{c} (metadata)" for c in clash})
    for col in meta.columns:
        if meta[col].dtype == object:  # labels typed by hand: stray spaces, empty cells
            stripped = meta[col].map(lambda v: v.strip() if isinstance(v, str) else v)
            meta[col] = stripped.replace("", np.nan)
    cells = pd.concat([feats, meta], axis=1)
    cells.attrs["neuromod_ephys"] = {
        "features_file": fwhere,
        "metadata_file": mwhere,
        "features": list(map(str, feats.columns)),
        "n_cells": int(len(cells)),
        "cells_without_metadata": int(len(no_meta)),
        "metadata_rows_without_features": int(len(no_feat)),
    }
    return cells
