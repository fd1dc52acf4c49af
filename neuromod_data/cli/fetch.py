"""``neuromod fetch``: download a public dataset (cached, checksummed) and store it as h5ad."""

from __future__ import annotations

import argparse

DATASETS = ("tasic2018", "tasic2018_explorer", "m1_patchseq", "gse115746")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fetch",
        help="download a public dataset (Tasic 2018, M1 Patch-seq, ...) into the cache; optionally write h5ad",
        description=(
            "Download the files of a public dataset with pooch (SHA-256 registry, cache, resumable), "
            "read them, and write an h5ad if --out is given. The cache is --cache-dir, else "
            "$NEUROMOD_CACHE, else the per-user cache; $NEUROMOD_DATA_URL points at a mirror."
        ),
    )
    p.add_argument("name", choices=DATASETS)
    p.add_argument("--region", default="VISp", help="tasic2018: VISp or ALM")
    p.add_argument("--cache-dir", help="download cache folder")
    p.add_argument("--base-url", help="mirror serving the registry's file names")
    p.add_argument("--intron", action="store_true", help="add intron counts (tasic2018)")
    p.add_argument("--out", help="write the AnnData here (h5ad, gzip-compressed)")
    p.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (no progress, no warnings)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import sys
    import warnings

    from neuromod_data import datasets
    from neuromod_data._files import atomic_path, check_output
    from neuromod_data.cli._args import hold_output
    from neuromod_data.errors import OutputError

    if args.out:
        out = check_output(args.out, kind="file")
        cache = datasets.allen.resolve_cache_dir(args.cache_dir)
        cached = {e.fname for e in datasets.REGISTRY.values()} | {"observed_sha256.json"}
        if out.resolve().parent == cache.resolve() and out.name in cached:
            raise OutputError(f"--out {out} would overwrite a cached download; write elsewhere")
        hold_output(args, out)  # a second writer of OUT is refused, not silently replaced
    # progress bars only on a terminal: not in logs, pipes, or with --quiet
    progress = not args.quiet and sys.stderr.isatty()
    kw = {"cache_dir": args.cache_dir, "base_url": args.base_url, "progress": progress}
    import pooch

    # pooch's "Downloading data from ..." adds nothing to the progress bar (its logger is not
    # registered with logging.getLogger); with --quiet our own notices go too
    loggers = [pooch.get_logger(), logging.getLogger("neuromod.datasets")]
    levels = [(log, log.level) for log in loggers]
    try:
        with warnings.catch_warnings():
            loggers[0].setLevel(logging.WARNING)
            if args.quiet:
                warnings.simplefilter("ignore")
                for log in loggers:
                    log.setLevel(logging.ERROR)
            if args.name == "tasic2018":
                adata = datasets.tasic2018(args.region, intron=args.intron, **kw)
            elif args.name == "m1_patchseq":
                adata = datasets.m1_patchseq(**kw)
            elif args.name == "tasic2018_explorer":
                adata = datasets.tasic2018_explorer(**kw)
            else:
                adata = datasets.gse115746(**kw)
    finally:
        for log, level in levels:
            log.setLevel(level)
    say = (lambda *a: None) if args.quiet else print
    say(
        f"{args.name}: {adata.n_obs:,} cells × {adata.n_vars:,} genes "
        f"({adata.uns['neuromod'].get('source', '')})"
    )
    if args.out:
        with atomic_path(args.out, suffix=".h5ad") as tmp:
            adata.write_h5ad(tmp, compression="gzip")
        say(f"→ {args.out}")
    return 0
