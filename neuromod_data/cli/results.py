"""``neuromod results``: summaries, statistics and the results page of finished training runs, and
the bookkeeping of the reproduction workflow (record a finished run, publish it).

Everything here reads ``metrics.csv`` / ``summary.json`` files (:mod:`neuromod_data.experiments`);
torch is never imported.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings

from neuromod_data.cli._args import hold_output, int_at_least, number_in, positive_float
from neuromod_data.errors import UsageError

_LAYOUTS = ("reproduction", "workflow")
#: the project's own page (RUNS include experiments/runs): its committed runs, grid configs,
#: commentary and timings. Notes, pending jobs and timings describe these runs only, so a page of
#: other runs gets them only when asked for (--notes, --configs, --timings)
_PROJECT = {
    "runs": "experiments/runs",
    "configs": "workflows/config",
    "notes": "experiments/notes.md",
    "timings": "experiments/timings.json",
}


def _odd(text: str) -> int:
    v = int_at_least(1)(text)
    if v % 2 == 0:
        raise argparse.ArgumentTypeError(
            f"must be an odd number (a window has a centre), got {text!r}"
        )
    return v


def _definitions(p: argparse.ArgumentParser) -> None:
    from neuromod_data.experiments.summary import SMOOTHING, THRESHOLD, WINDOW

    p.add_argument(
        "--window",
        type=positive_float,
        default=WINDOW,
        metavar="ITERS",
        help=f"the authors' final loss: mean over the last ITERS iterations (default {WINDOW})",
    )
    p.add_argument(
        "--smoothing",
        type=_odd,
        default=SMOOTHING,
        metavar="POINTS",
        help=f"the authors' iterations to 80 %%: moving average over POINTS validation points "
        f"(odd; default {SMOOTHING})",
    )
    p.add_argument(
        "--threshold",
        type=number_in(0, 1, hint="an accuracy"),
        default=THRESHOLD,
        help=f"accuracy that counts as learned (default {THRESHOLD})",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "results",
        help="summaries, statistics and the results page of finished training runs",
        description=(
            "Summaries of finished training runs (our definitions and the authors'), the results "
            "page with statistics and learning curves, and the reproduction workflow's bookkeeping "
            "(docs/design.md, 'Summary statistics')."
        ),
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    s = sub.add_parser(
        "summary",
        help="one line per group of runs: final loss, accuracy, iterations to 80 %% (both ways)",
        description=(
            "Find every run (folder with metrics.csv) below RUNS, group the seeds and print (or "
            "write as CSV) the final loss, accuracy and iterations to 80 % both as we define them "
            "(last validation point) and as the authors did (window mean of the total loss, "
            "median of the smoothed crossing)."
        ),
    )
    s.add_argument("runs", nargs="+", metavar="RUNS", help="folder(s) of runs")
    s.add_argument(
        "--layout",
        choices=_LAYOUTS,
        default="reproduction",
        help="reproduction: <grid>/<task>/<rule>/<structure>/seed<k> (default); "
        "workflow: <level>/<variant>/seed<k> (the workflow's RESULTS/train)",
    )
    s.add_argument("--out", metavar="CSV", help="write the table here instead of printing it")
    _definitions(s)
    s.set_defaults(func=run_summary)

    pg = sub.add_parser(
        "page",
        help="write the results page (Markdown + figures) from committed runs",
        description=(
            "Build the results page: runs against the published numbers, every group both ways, "
            "comparisons paired by seed where arms share seeds (paired t, Wilcoxon, Holm within "
            "a family, the difference the data exclude) and Welch tests with effect sizes where "
            "they do not, the smallest detectable effect, learning curves, pending jobs of each "
            "reproduction grid, provenance (commits and arithmetic versions)."
        ),
        epilog="example: neuromod results page   (experiments/runs → docs/results.md)",
    )
    pg.add_argument(
        "runs",
        nargs="*",
        metavar="RUNS",
        help="runs root(s), <grid>/<task>/<rule>/<structure>/seed<k> below each (default "
        f"{_PROJECT['runs']}: the project's page, with its notes, grids and timings, as for any "
        f"RUNS that include {_PROJECT['runs']})",
    )
    pg.add_argument("--out", default="docs/results.md", help="the page (default docs/results.md)")
    pg.add_argument("--figures", default="docs/figures", help="its figures (default docs/figures)")
    pg.add_argument(
        "--configs",
        help=(
            "folder of the grid configs (YAML files with a `reproduction` section): pending "
            f"jobs and contrasts (default for the project's page {_PROJECT['configs']}; for "
            "other runs none)"
        ),
    )
    pg.add_argument(
        "--notes",
        help=f"hand-written commentary to include (default for the project's page "
        f"{_PROJECT['notes']}; for other runs none)",
    )
    pg.add_argument(
        "--timings",
        help=f"measured seconds per iteration (default for the project's page "
        f"{_PROJECT['timings']}; for other runs none)",
    )
    _definitions(pg)
    pg.set_defaults(func=run_page)

    ms = sub.add_parser(
        "mark-start",
        help="note the git commit a training job starts from (before neuromod train)",
        description="Write RUN_DIR/started.json: the git commit and uncommitted model files now.",
    )
    ms.add_argument("run_dir", metavar="RUN_DIR", help="the `neuromod train --out` folder")
    ms.set_defaults(func=run_mark_start)

    rec = sub.add_parser(
        "record",
        help="keep a finished run: metrics.csv + summary.json (settings, command, machine, commit)",
        description=(
            "Copy RUN_DIR/metrics.csv to OUT_DIR and write OUT_DIR/summary.json. Refuses a run "
            "whose training has not finished (no metrics.json)."
        ),
    )
    rec.add_argument("--run-dir", required=True, help="the `neuromod train --out` folder")
    rec.add_argument("--out-dir", required=True, help="folder of the record")
    rec.add_argument("--command", default="", help="the training command, kept verbatim")
    rec.add_argument("--job", default="{}", help="JSON of the job (task, rule, structure, seed)")
    rec.set_defaults(func=run_record)

    pub = sub.add_parser(
        "publish",
        help="copy a run's record into the published (committed) folder",
        description="Copy RECORD_DIR/summary.json and metrics.csv into OUT_DIR, atomically.",
    )
    pub.add_argument("record_dir", metavar="RECORD_DIR")
    pub.add_argument("out_dir", metavar="OUT_DIR")
    pub.set_defaults(func=run_publish)

    cu = sub.add_parser(
        "curves",
        help="overlay the learning curves (validation loss, accuracy) of any runs in one figure",
        description="Draw the validation loss (and accuracy) of each RUN (a folder with "
        "metrics.csv) as one line, labelled by the folder as given.",
        epilog="example: neuromod results curves runs/bptt runs/mdgl --out curves.png",
    )
    cu.add_argument("runs", nargs="+", metavar="RUN", help="run folders (or metrics.csv files)")
    cu.add_argument("--out", required=True, metavar="FILE", help="figure (PNG, PDF or SVG)")
    cu.add_argument("--title", default="", help="figure title")
    cu.set_defaults(func=run_curves)


def _opts(args: argparse.Namespace) -> dict:
    return {"window": args.window, "points": args.smoothing, "threshold": args.threshold}


def run_summary(args: argparse.Namespace) -> int:
    from neuromod_data._files import atomic_path, check_output
    from neuromod_data.experiments import runs as runs_mod
    from neuromod_data.experiments.summary import summary_table

    layout = runs_mod.REPRODUCTION if args.layout == "reproduction" else runs_mod.WORKFLOW
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = runs_mod.find_runs(args.runs, layout=layout, strict=True)
    if found:  # without runs, the error below says what was found instead
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    else:
        hint = (
            "; runs in the workflow's <level>/<variant>/seed<k> need --layout workflow"
            if layout == runs_mod.REPRODUCTION
            else ""
        )
        raise UsageError(
            f"no runs (folders seed<k> with metrics.csv) in the {args.layout} layout below "
            f"{', '.join(args.runs)}{hint}"
        )
    if args.out:
        inputs = [r.path / n for r in found if r.path for n in ("metrics.csv", "summary.json")]
        check_output(args.out, inputs)
        hold_output(args, args.out)  # a second writer of OUT is refused, not silently replaced
    table = summary_table(found, layout, **_opts(args))
    if args.out:
        with atomic_path(args.out, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
        print(f"{len(table)} groups of {len(found)} runs → {args.out}")
    else:
        shown = table.copy()
        shown["smoothed_iters_median"] = [
            "never" if math.isinf(v) else v for v in shown["smoothed_iters_median"]
        ]
        sys.stdout.write(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}") + "\n")
    return 0


def run_page(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuromod_data._files import require_file
    from neuromod_data.experiments.pages import build_page

    runs = args.runs or [_PROJECT["runs"]]
    # the project's page: its committed runs, alone or with local records (the reproduction
    # workflow's page before publishing); any other runs folder is a page of someone else's runs
    project = any(Path(r).resolve() == Path(_PROJECT["runs"]).resolve() for r in runs)
    for option in ("notes", "timings"):
        if getattr(args, option) is not None:
            require_file(getattr(args, option), f"--{option}")

    def pick(option: str) -> str | None:
        given = getattr(args, option)
        return given if given is not None else (_PROJECT[option] if project else None)

    # a second writer of the page or its figures is refused, not mixed in
    hold_output(args, args.out)
    hold_output(args, args.figures, option="--figures")
    text = build_page(
        runs,
        args.out,
        args.figures,
        config_dir=pick("configs"),
        notes=pick("notes"),
        timings=pick("timings"),
        **_opts(args),
    )
    print(f"{args.out}: {len(text.splitlines())} lines")
    return 0


def run_mark_start(args: argparse.Namespace) -> int:
    from neuromod_data.experiments.record import started

    print(f"started → {started(args.run_dir)}")
    return 0


def run_record(args: argparse.Namespace) -> int:
    from neuromod_data.experiments.record import record

    try:
        job = json.loads(args.job)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--job must be a JSON object, got {args.job!r} ({exc})") from None
    hold_output(args, args.out_dir, option="--out-dir")  # a second writer is refused
    out = record(args.run_dir, args.out_dir, command=args.command, job=job)
    print(f"recorded {args.run_dir} → {out}")
    return 0


def run_publish(args: argparse.Namespace) -> int:
    from neuromod_data.experiments.record import publish

    hold_output(args, args.out_dir, option="OUT_DIR")  # a second writer is refused
    print(f"published {args.record_dir} → {publish(args.record_dir, args.out_dir)}")
    return 0


def run_curves(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuromod_data._files import atomic_path, check_output
    from neuromod_data.experiments.curves import curves_figure, label_order
    from neuromod_data.experiments.runs import Run, read_metrics

    files = [Path(r) / "metrics.csv" if Path(r).is_dir() else Path(r) for r in args.runs]
    out = check_output(args.out, files, kind="file")
    hold_output(args, out)  # a second writer of OUT is refused, not silently replaced
    groups = {}
    for given, path in zip(args.runs, files, strict=True):
        if given in groups:
            raise UsageError(f"run {given} is given twice")
        groups[given] = [Run({}, 0, read_metrics(path), path=path.parent)]
    fig = curves_figure(groups, title=args.title)
    # one colour per run in every panel (the plotter's fallback cycles per panel, and a run
    # without accuracy would shift the colours of the accuracy panel)
    colors = {label: f"C{i}" for i, label in enumerate(sorted(groups, key=label_order))}
    for ax in fig.axes:
        for line in ax.get_lines():
            base = line.get_label().rsplit(" (n=", 1)[0]
            if base in colors:
                line.set_color(colors[base])
        if ax.get_legend() is not None:
            ax.legend(fontsize=7, frameon=False)
    fmt = out.suffix[1:].lower() or "png"
    with atomic_path(out, suffix=out.suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=120, format=fmt)
    print(f"{len(groups)} learning curves → {out}")
    return 0
