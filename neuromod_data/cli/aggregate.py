"""``neuromod aggregate``: per-type expression table (one row per type, one column per gene).

Example::

    neuromod aggregate cells.h5ad --groupby subclass_label --stat smith2019 \\
        --genes Vip,Sst,Npy --min-cells 5 --out subclass.smith2019.csv

The CSV's first column is the type label (headed by the label column's name), then one column per
gene. CPM-based statistics (``smith2019``) normalise only when the input holds counts: data that
already holds CPM (e.g. the Allen Explorer export) is used as it is. Warnings (missing genes, dropped
types, label fixes) go to stderr; the file is written under a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from neuromod_data.cli._args import (
    finite_float,
    hold_output,
    int_at_least,
    number_in,
    show_warnings,
)

STAT_CHOICES = ("mean", "median", "trimmed_mean", "trimean", "frac_expressing", "smith2019")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "aggregate",
        help="per-type expression table (types × genes) of one statistic",
        description=(
            "Aggregate a single-cell table per cell type: one row per type (first column the type "
            "label), one column per gene. STAT: mean, median, trimmed_mean, trimean, "
            "frac_expressing, or smith2019 (5% trimmed mean of CPM → log10(x+1) → / max over types)."
        ),
    )
    p.add_argument("input", help="cells × genes file in any supported format (h5ad, csv, 10x, ...)")
    p.add_argument("--metadata", help="per-cell metadata table joined on the cell names")
    p.add_argument("--groupby", required=True, help="label column defining the types")
    p.add_argument("--stat", required=True, choices=STAT_CHOICES, help="the statistic")
    p.add_argument("--genes", help="comma-separated gene symbols (default: all genes)")
    p.add_argument(
        "--min-cells",
        type=int_at_least(1),
        default=1,
        help="drop types with fewer cells (default 1)",
    )
    p.add_argument(
        "--trim",
        type=number_in(0, 0.5, hi_open=True, hint="a fraction"),
        default=0.05,
        help="trimmed_mean: fraction cut from each end, below 0.5 (default 0.05)",
    )
    p.add_argument(
        "--threshold",
        type=finite_float,
        default=0.0,
        help="frac_expressing: value a cell must exceed (default 0)",
    )
    p.add_argument(
        "--normalize",
        choices=("none", "cpm"),
        default="none",
        help="make values CPM first (not for smith2019, which always uses CPM)",
    )
    p.add_argument(
        "--backed",
        action="store_true",
        help="h5ad input: stream it from disk (out of core) instead of loading it",
    )
    p.add_argument("--out", required=True, help="output CSV (a new file, or one to replace)")
    p.set_defaults(func=run)


def _tty() -> bool:
    return sys.stderr.isatty()


def _read(path: str, metadata: str | None, backed: bool):
    from neuromod_data._files import require_file
    from neuromod_data.errors import FormatError

    p = require_file(path)
    if backed and (metadata is not None or not p.name.endswith(".h5ad")):
        raise FormatError(f"{p}: --backed needs an .h5ad input without --metadata")
    try:
        from neuromod_data.io import read
    except ImportError:  # readers not installed: h5ad only
        read = None
    if read is not None:
        # no progress bars in logs and pipes
        return read(p, backed="r") if backed else read(p, metadata=metadata, progress=_tty())
    if metadata is not None or not p.name.endswith(".h5ad"):
        raise FormatError(f"{p}: only .h5ad input is supported without neuromod_data.io")
    import anndata as ad

    return ad.read_h5ad(p, backed="r" if backed else None)


def run(args: argparse.Namespace) -> int:
    from neuromod_data._files import atomic_path, check_output
    from neuromod_data.aggregate import aggregate, smith2019
    from neuromod_data.errors import UsageError

    genes = None
    if args.genes is not None:
        genes = [g.strip() for g in args.genes.split(",") if g.strip()]
        if not genes:
            raise UsageError(f"--genes {args.genes!r} names no gene")
    check_output(args.out, [args.input, args.metadata], kind="file")
    hold_output(args, args.out)  # a second writer of OUT is refused, not silently replaced
    adata = _read(args.input, args.metadata, args.backed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kw = dict(genes=genes, min_cells=args.min_cells, trim=args.trim, threshold=args.threshold)
        if args.stat == "smith2019":
            agg = smith2019(adata, args.groupby, **kw)
        else:
            normalize = None if args.normalize == "none" else args.normalize
            agg = aggregate(adata, args.groupby, stats=[args.stat], normalize=normalize, **kw)
    show_warnings(caught, "aggregate")
    table = agg.to_df()
    table.index.name = args.groupby
    with atomic_path(args.out, suffix=".csv") as tmp:
        table.to_csv(tmp)
    rec = agg.uns["neuromod_aggregate"]
    print(
        f"neuromod aggregate: {agg.n_obs} types (by {args.groupby!r}) × {agg.n_vars} genes "
        f"({args.stat}; {len(rec['dropped_types'])} type(s) dropped, "
        f"{len(rec['missing_genes'])} gene(s) missing) → {args.out}",
        file=sys.stderr,
    )
    return 0
