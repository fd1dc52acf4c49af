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
    p.add_argument(
        "--full-graph",
        action="store_true",
        help="also show graph.png, every scored type → type link (dense; by default the report "
        "shows the gate heatmap and the strongest couplings)",
    )
    p.set_defaults(func=run)


def _load_config(path: str) -> dict:
    """The run's configuration (JSON or YAML), read before any work so a bad file stops at once."""
    import json

    from neuromod_data._files import require_file
    from neuromod_data.errors import FormatError

    p = require_file(path, "config file")
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise FormatError(f"{p}: config is not a text file") from None
    try:
        cfg = json.loads(text)
    except ValueError:
        import yaml

        try:
            cfg = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FormatError(
                f"{p}: cannot parse config as JSON or YAML ({' '.join(str(exc).split())})"
            ) from None
    if not isinstance(cfg, dict):
        raise FormatError(f"{p}: config must be a mapping of key → value")
    return cfg


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuromod_data import report
    from neuromod_data._files import check_output
    from neuromod_data.cli._args import hold_output
    from neuromod_data.errors import InputFileError, UsageError

    if not args.out and not args.summary:
        raise UsageError("give --out (HTML) and/or --summary (CSV)")
    results = Path(args.results).expanduser()
    if not results.is_dir():
        raise InputFileError(f"--results {results} is not a folder")
    cfg = _load_config(args.config) if args.config else None
    inputs = [*args.data, args.config]
    if args.summary:
        check_output(args.summary, inputs, kind="file", option="--summary")
    if args.out:
        check_output(args.out, inputs, kind="file")
    # a second writer of either file is refused, not silently replaced
    if args.summary:
        hold_output(args, args.summary, option="--summary")
    if args.out:
        hold_output(args, args.out)
    # a folder in another layout would give an empty report (or summary) and exit 0
    report.check_layout(results, summary_only=not args.out)
    if args.summary:
        table = report.write_summary(results, args.summary)
        print(f"summary of {len(table)} condition × rule groups → {args.summary}")
    if args.out:
        path = report.build_report(
            results,
            out=args.out,
            data=args.data,
            config=cfg,
            title=args.title,
            full_graph=args.full_graph,
        )
        print(f"report → {path}")
    return 0
