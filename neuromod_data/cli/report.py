"""``neuromod report``: the self-contained HTML report of a results folder, and the run summary."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report (heatmaps, graph, learning curves, provenance)",
        description=(
            "Read a results folder in the workflow's layout (info/, aggregate/, graph/, train/) and "
            "write one HTML file with every figure inlined, and/or the per-rule summary of the "
            "training runs as CSV."
        ),
    )
    p.add_argument("--results", required=True, help="results folder (the workflow's `results:`)")
    p.add_argument("--out", help="HTML file to write")
    p.add_argument("--summary", help="CSV of final validation loss/accuracy, mean ± SD over seeds")
    p.add_argument("--data", nargs="*", default=[], help="data files to checksum in the provenance")
    p.add_argument("--config", help="the run's configuration (JSON or YAML) for the provenance")
    p.add_argument("--title", default="neuromod report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neuromod_data import report

    if not args.out and not args.summary:
        raise SystemExit("neuromod report: error: give --out (HTML) and/or --summary (CSV)")
    if args.summary:
        table = report.write_summary(args.results, args.summary)
        print(f"summary of {len(table)} condition × rule groups → {args.summary}")
    if args.out:
        path = report.build_report(
            args.results, out=args.out, data=args.data, config=args.config, title=args.title
        )
        print(f"report → {path}")
    return 0
