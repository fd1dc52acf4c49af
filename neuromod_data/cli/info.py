"""``neuromod info``: read any supported input and say what was read."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

_LABELISH = re.compile(r"(label|type|family|class|cluster)$", re.I)


def register(subparsers: argparse._SubParsersAction) -> None:
    from neuromod_data.io._detect import FORMATS

    p = subparsers.add_parser(
        "info",
        help="what a data file holds: cells, genes, what .X is, label columns and their sizes",
        description=(
            "Read INPUT (any supported format, recognised from its name and content) and print the "
            "number of cells and genes, what .X holds, and every label column with its number of "
            "categories and the sizes of the largest and smallest."
        ),
    )
    p.add_argument("input", help="data file or folder")
    p.add_argument("--metadata", help="per-cell annotation table joined to the cells")
    p.add_argument("--join", help="annotation column with the sample names (detected if omitted)")
    p.add_argument("--intron", action="store_true", help="add intron counts (Allen layouts)")
    p.add_argument(
        "--format",
        choices=tuple(FORMATS),
        help="skip recognition and use this reader",
    )
    p.add_argument("--backed", action="store_true", help="h5ad: leave .X on disk (large files)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def label_columns(obs) -> list[str]:
    """Columns that look like cell-type labels: categorical/string with at most half as many
    categories as cells (or fewer than cells, for columns named like labels)."""
    import pandas as pd

    out = []
    n = len(obs)
    for c in obs.columns:
        s = obs[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            k = s.nunique(dropna=True)
            named = bool(_LABELISH.search(str(c)))
            if (
                k >= 1
                and (k <= max(2, n // 2) or (named and k < n))
                and not str(c).endswith(("_color", "_colour"))
            ):
                out.append(str(c))
    return out


def describe(adata) -> dict[str, Any]:
    """A JSON-able summary of ``adata`` (what ``neuromod info`` prints)."""
    import numpy as np
    import scipy.sparse as sp

    meta = dict(adata.uns.get("neuromod", {}) or {})
    X = adata.X
    if adata.isbacked:
        storage = "backed (on disk)"
        nnz = None
    elif sp.issparse(X):
        storage = f"sparse {X.format.upper()}"
        nnz = int(X.nnz)
    else:
        storage = "dense"
        nnz = int(np.count_nonzero(X)) if X is not None else None
    labels = {}
    for c in label_columns(adata.obs):
        vc = adata.obs[c].value_counts(dropna=True)
        vc = vc[vc > 0]
        labels[c] = {
            "n_categories": int(len(vc)),
            "largest": [[str(k), int(v)] for k, v in vc.head(3).items()],
            "smallest": [[str(k), int(v)] for k, v in vc.tail(3).items()] if len(vc) > 3 else [],
            "n_missing": int(adata.obs[c].isna().sum()),
        }
    return {
        "source": meta.get("source", ""),
        "reader": meta.get("reader", ""),
        "n_cells": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "X": meta.get("X", "unknown"),
        "dtype": str(X.dtype) if X is not None else "none",
        "storage": storage,
        "nnz": nnz,
        "layers": list(adata.layers.keys()) if not adata.isbacked else [],
        "labels": labels,
        "notes": {k: v for k, v in meta.items() if k not in ("source", "reader", "X")},
    }


def _jsonable(v: Any) -> Any:
    # h5ad gives lists back as numpy arrays and scalars as numpy scalars
    return v.tolist() if hasattr(v, "tolist") else str(v)


def format_text(d: dict[str, Any]) -> str:
    lines = [
        f"source:  {d['source']}",
        f"reader:  {d['reader']}",
        f"cells:   {d['n_cells']:,}",
        f"genes:   {d['n_genes']:,}",
        f"X:       {d['X']} ({d['dtype']}, {d['storage']}"
        + (
            f", {d['nnz']:,} nonzero = {d['nnz'] / max(1, d['n_cells'] * d['n_genes']):.1%}"
            if d["nnz"] is not None
            else ""
        )
        + ")",
    ]
    if d["layers"]:
        lines.append(f"layers:  {', '.join(d['layers'])}")
    if d["labels"]:
        lines.append("labels:")
        width = max(len(c) for c in d["labels"])
        for c, info in d["labels"].items():
            big = ", ".join(f"{k} ({v})" for k, v in info["largest"])
            small = (
                "; smallest: " + ", ".join(f"{k} ({v})" for k, v in info["smallest"])
                if info["smallest"]
                else ""
            )
            miss = f"; {info['n_missing']} missing" if info["n_missing"] else ""
            lines.append(
                f"  {c:<{width}}  {info['n_categories']:>5} categories  largest: {big}{small}{miss}"
            )
    else:
        lines.append("labels:  (no label columns)")
    for k, v in d["notes"].items():
        lines.append(f"note:    {k} = {json.dumps(v, ensure_ascii=False, default=_jsonable)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    from neuromod_data.cli._args import show_warnings
    from neuromod_data.io import read

    kw: dict[str, Any] = {}
    if args.join:
        kw["join"] = args.join
    if args.intron:
        kw["intron"] = True
    if args.backed:
        kw["backed"] = "r"
    kw["progress"] = sys.stderr.isatty()  # no progress bars in logs and pipes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adata = read(args.input, metadata=args.metadata, format=args.format, **kw)
    show_warnings(caught, "info")
    d = describe(adata)
    print(json.dumps(d, indent=1, ensure_ascii=False) if args.json else format_text(d))
    return 0
