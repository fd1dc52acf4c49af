"""One self-contained HTML report of a workflow run: expression, graph, learning curves, provenance.

The report reads the standard results layout the Snakemake workflow writes (any part may be absent)::

    RESULTS/info/dataset.txt                     what was read (``neuromod info``)
    RESULTS/aggregate/<level>.<stat>.csv         per-type expression (types × genes)
    RESULTS/graph/<level>/structure.npz          the modulation structure (+ *.png figures)
    RESULTS/physiology/<level>/                  intrinsic parameters and connectivity (optional)
    RESULTS/train/<level>/<variant>/seed<N>/metrics.csv   iteration, split, loss, accuracy, ...

and writes one HTML file with every image inlined (base64 PNG), so it can be mailed or archived alone.
Figures are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state, no display needed).
Runs, their summary numbers and learning curves come from :mod:`neuromod_data.experiments`, the
same code that builds the results page.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuromod_data._files import atomic_path, require_file
from neuromod_data.errors import FormatError, InputFileError
from neuromod_data.experiments.summary import SMOOTHING, THRESHOLD, WINDOW
from neuromod_data.report_figures import _png, expression_heatmap, structure_figure
from neuromod_data.report_provenance import provenance, sha256sum
from neuromod_data.report_runs import (
    LAYOUT,
    _find_train_runs,
    _summary,
    check_layout,
    write_summary,
)

__all__ = [
    "GRAPH_FIGURES",
    "LAYOUT",
    "build_report",
    "check_layout",
    "expression_heatmap",
    "provenance",
    "results_table",
    "sha256sum",
    "structure_figure",
    "write_summary",
]


# ------------------------------------------------------------------------------------- report
#: the figures ``neuromod graph`` writes, in the report's order, with their captions; graph.png
#: (every scored link) only with ``full_graph``
GRAPH_FIGURES = {
    "type_heatmap.png": (
        "Sender type (rows) × receiver type (columns): the interaction scores summed over every "
        "ligand → receptor pair, types ordered by class."
    ),
    "pair_heatmap.png": (
        "The same for the single ligand → receptor pair with the largest summed score (named "
        "in the figure's title)."
    ),
    "dotplot.png": (
        "The strongest interactions: one column per sender → receiver, one row per ligand → "
        "receptor pair; colour = score, dot size = −log10 p-value (or the product of the "
        "fractions of cells expressing ligand and receptor, where there are no p-values)."
    ),
    "graph.png": (
        "Every scored link: one arrow per sender → receiver pair of types, width ∝ the score "
        "summed over pairs, node size ∝ √cells (all links, hence dense; the heatmaps above "
        "show the same in a readable form)."
    ),
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222}h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}img{max-width:100%}pre{background:#f7f7f7;padding:0.8em;
overflow-x:auto;font-size:0.85em}.note{color:#666;font-size:0.9em}code{background:#f2f2f2}
"""


def _table_html(df: pd.DataFrame, *, floatfmt: str = "{:.4g}", right: Sequence[str] = ()) -> str:
    """An HTML table: numbers right-aligned (NaN as a dash), text left, the columns ``right``
    (numbers already written as text) right."""
    head = "".join(f"<th class='l'>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for column, v in row.items():
            if isinstance(v, float | np.floating):
                text, cls = ("–" if np.isnan(v) else floatfmt.format(v)), ""
            else:
                text, cls = str(v), "" if column in right else " class='l'"
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


#: the report's column headers for the run summary's columns (summary_table)
_HEADERS = {
    "condition": "label level",
    "rule": "rule",
    "n_seeds": "seeds",
    "iterations": "iterations",
    "final_loss": "final validation loss",
    "final_accuracy": "final validation accuracy",
    "iters_to_threshold_mean": f"iterations to {THRESHOLD:g}",
    "n_reached": f"seeds reaching {THRESHOLD:g}",
    "window_loss": f"loss over the last {WINDOW:g} iterations (Liu et al.)",
    "smoothed_iters_median": f"iterations to {THRESHOLD:g}, smoothed, median (Liu et al.)",
}
_NUMBER_COLUMNS = tuple(v for k, v in _HEADERS.items() if k not in ("condition", "rule"))


def _number(v: float, *, fmt: str = "{:.3g}") -> str:
    if np.isinf(v):
        return "never"
    return "—" if np.isnan(v) else fmt.format(v)


def _mean_sd(mean: float, sd: float) -> str:
    if np.isnan(sd):
        return _number(mean)
    return f"{_number(mean)} ± {_number(sd, fmt='{:.2g}')}"


def results_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The run summary (:func:`write_summary`'s table) as the report shows it: headers in words,
    mean ± SD in one cell, and no ``inf`` or ``NaN``.

    An infinite iteration count (the threshold was never crossed) reads ``never``, as does the
    mean iteration count when no seed reached the threshold; other undefined numbers read ``—``.

    Examples
    --------
    >>> s = pd.DataFrame({"condition": ["subclass"], "rule": ["bptt"], "n_seeds": [2],
    ...     "iterations": [100], "final_loss_mean": [0.4], "final_loss_sd": [0.05],
    ...     "final_accuracy_mean": [0.7], "final_accuracy_sd": [float("nan")],
    ...     "iters_to_threshold_mean": [float("nan")], "n_reached": [0],
    ...     "window_loss_mean": [0.45], "window_loss_sd": [0.0],
    ...     "smoothed_iters_median": [float("inf")]})
    >>> results_table(s).iloc[0].tolist()
    ['subclass', 'bptt', '2', '100', '0.4 ± 0.05', '0.7', 'never', '0', '0.45 ± 0', 'never']
    """
    h = _HEADERS
    rows = []
    for r in summary.itertuples(index=False):
        reached = int(r.n_reached)
        rows.append(
            {
                h["condition"]: str(r.condition),
                h["rule"]: str(r.rule),
                h["n_seeds"]: str(int(r.n_seeds)),
                h["iterations"]: str(int(r.iterations)),
                h["final_loss"]: _mean_sd(r.final_loss_mean, r.final_loss_sd),
                h["final_accuracy"]: _mean_sd(r.final_accuracy_mean, r.final_accuracy_sd),
                h["iters_to_threshold_mean"]: (
                    _number(r.iters_to_threshold_mean) if reached else "never"
                ),
                h["n_reached"]: str(reached),
                h["window_loss"]: _mean_sd(r.window_loss_mean, r.window_loss_sd),
                h["smoothed_iters_median"]: _number(r.smoothed_iters_median),
            }
        )
    return pd.DataFrame(rows, columns=list(h.values()))


def _png_file(png: Path, caption: str) -> str:
    """A PNG file inlined under its caption (the caption doubles as the image's alt text)."""
    b64 = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f"<p class='note'>{html.escape(caption)}</p>"
        f"<p><img alt='{html.escape(caption)}' src='data:image/png;base64,{b64}'></p>"
    )


def _img(fig: Figure, alt: str) -> str:
    return f"<p><img alt='{html.escape(alt)}' src='data:image/png;base64,{_png(fig)}'></p>"


def _read_aggregate(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: not a readable aggregate CSV ({exc})") from exc


def _load_config(config: str | os.PathLike | dict | None) -> Any:
    if config is None or isinstance(config, dict):
        return config
    p = require_file(config, "config file")
    text = p.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        import yaml

        return yaml.safe_load(text)


def build_report(
    results: str | os.PathLike,
    *,
    out: str | os.PathLike,
    data: Sequence[str | os.PathLike] = (),
    config: str | os.PathLike | dict | None = None,
    title: str = "neuromod report",
    full_graph: bool = False,
) -> Path:
    """Write the self-contained HTML report of one results folder.

    Parameters
    ----------
    results
        The workflow's results folder (layout in the module docstring); missing parts are skipped
        with a note.
    out
        The HTML file to write (atomically).
    data
        Input data files whose size and SHA-256 go into the provenance.
    config
        The run's configuration: a dict or a JSON / YAML file.
    title
        Heading of the report.
    full_graph
        Also show ``graph.png``, the graph step's drawing of every scored type → type link
        (thousands of arrows at a real data set's size, hence off by default: the gate heatmap and
        the strongest couplings show the same readably).

    Returns
    -------
    The path of the written report.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> p = build_report(d, out=d / "report.html", config={"seed": 0})
    >>> p.read_text().startswith("<!DOCTYPE html>")
    True
    """
    root = Path(results)
    if not root.is_dir():
        raise InputFileError(f"results folder not found: {root}")
    cfg = _load_config(config)
    parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
    toc: list[str] = []

    def section(anchor: str, heading: str) -> None:
        toc.append(f"<a href='#{anchor}'>{html.escape(heading)}</a>")
        parts.append(f"<h2 id='{anchor}'>{html.escape(heading)}</h2>")

    info = root / "info" / "dataset.txt"
    section("data", "Data")
    if info.is_file():
        parts.append(f"<pre>{html.escape(info.read_text())}</pre>")
    else:
        parts.append("<p class='note'>No dataset description (info/dataset.txt).</p>")

    section("expression", "Per-type expression")
    aggregates = sorted((root / "aggregate").glob("*.csv")) if (root / "aggregate").is_dir() else []
    for path in aggregates:
        table = _read_aggregate(path)
        label = path.stem
        parts.append(f"<h3>{html.escape(label)}</h3>")
        parts.append(
            f"<p class='note'>{table.shape[0]} types × {table.shape[1]} genes "
            f"(<code>{html.escape(str(path))}</code>)</p>"
        )
        parts.append(_img(expression_heatmap(table, title=label), f"heatmap {label}"))
    if not aggregates:
        parts.append("<p class='note'>No aggregate tables found.</p>")

    section("graph", "Modulation graph")
    graph_dirs = (
        sorted(p for p in (root / "graph").glob("*") if p.is_dir())
        if (root / "graph").is_dir()
        else []
    )
    if graph_dirs:
        parts.append(
            "<p class='note'>A score couples a sender type to a receiver type through one "
            "ligand → receptor pair: high when the sender expresses the ligand (neuropeptide "
            "precursor) and the receiver its receptor. Summed over pairs, the K × K sender → "
            "receiver matrix (largest entry 1) is the <b>gate</b> G of MDGL: how strongly a "
            'learning signal of one type reaches another (docs/design.md, "MDGL" and '
            '"Gate controls").</p>'
        )
    for gdir in graph_dirs:
        parts.append(f"<h3>{html.escape(gdir.name)}</h3>")
        notes = _graph_warnings(gdir / "summary.json")
        if notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
            parts.append(
                f"<p class='note'>What the graph step left out or changed:</p><ul>{items}</ul>"
            )
        if (gdir / "structure.npz").is_file():
            from neuromod_data.structure import CellTypeStructure

            s = CellTypeStructure.load(gdir / "structure.npz")
            parts.append(f"<p class='note'>{html.escape(repr(s))}</p>")
            parts.append(
                "<p class='note'>The gate of the structure: left, every sender → receiver "
                "coupling summed over the ligand → receptor pairs (largest 1); right, the 20 "
                "strongest couplings between two different types as arrows from sender to "
                "receiver.</p>"
            )
            parts.append(_img(structure_figure(s, title=gdir.name), f"structure {gdir.name}"))
        if (gdir / "interactions.csv").is_file():
            inter = pd.read_csv(gdir / "interactions.csv")
            if {"ligand", "receptor", "score"} <= set(inter.columns):
                top = (
                    inter.assign(score=pd.to_numeric(inter["score"], errors="coerce"))
                    .sort_values("score", ascending=False)
                    .head(15)
                )
                cols = [
                    c
                    for c in ("source", "target", "ligand", "receptor", "score", "pvalue")
                    if c in top
                ]
                parts.append("<p>Strongest interactions:</p>" + _table_html(top[cols]))
        for name, caption in GRAPH_FIGURES.items():
            png = gdir / name
            if png.is_file() and (full_graph or name != "graph.png"):
                parts.append(_png_file(png, caption))
        if (gdir / "graph.png").is_file() and not full_graph:
            parts.append(
                "<p class='note'>The drawing of every scored link (<code>graph.png</code>) is left "
                "out: with one arrow per linked pair of types it is unreadable at this size; "
                "<code>neuromod report --full-graph</code> adds it.</p>"
            )
    if not graph_dirs:
        parts.append("<p class='note'>No graph found.</p>")

    phys_dirs = (
        sorted(p for p in (root / "physiology").glob("*") if p.is_dir())
        if (root / "physiology").is_dir()
        else []
    )
    if phys_dirs:
        section("physiology", "Intrinsic parameters and connectivity")
        parts.append(
            "<p class='note'>With a <code>physiology</code> step the networks are derived from "
            "data beyond the types: every neuron takes its type's membrane time constant, "
            "adaptation, threshold and refractory period, fitted by simulating the model neuron on "
            "the recording protocol of the type's Patch-seq cells (boxes: the cells behind each "
            "value, diamond: the type's value; the validation figure sets the fitted neurons' "
            "features against the recorded ones), and a recurrent synapse from type a onto type b "
            "exists with the published probability, its initial magnitude scaled by the published "
            'strength (docs/design.md, "Networks from data" and "Neurons fitted to their '
            'recordings").</p>'
        )
    for pdir in phys_dirs:
        parts.append(f"<h3>{html.escape(pdir.name)}</h3>")
        for name, what in (
            ("fit_validation.png", "fitted neurons against their recordings, per type"),
            ("intrinsic.png", "per-type intrinsic parameters with the cells behind them"),
            ("connectivity.png", "type-to-type connection probability and strength"),
        ):
            png = pdir / name
            if png.is_file():
                parts.append(_png_file(png, what))
        if (pdir / "fit_validation.csv").is_file():
            val = pd.read_csv(pdir / "fit_validation.csv")
            parts.append(
                "<p class='note'>Recorded (median over the type's cells) against the fitted "
                "neuron, simulated; error = model − recorded.</p>"
            )
            parts.append(
                _table_html(val[["type", "feature", "recorded", "model", "error", "source"]])
            )
        if (pdir / "intrinsic.csv").is_file():
            parts.append(_table_html(pd.read_csv(pdir / "intrinsic.csv")))

    section("training", "Learning curves")
    runs = _find_train_runs(root) if (root / "train").is_dir() else []
    if runs:
        from neuromod_data.experiments.curves import panels_figure
        from neuromod_data.experiments.runs import group_runs

        panels: dict[str, dict[str, list]] = {}
        for (condition, rule), group in group_runs(runs, ("condition", "rule")).items():
            panels.setdefault(condition, {})[rule] = group
        parts.append(
            "<p class='note'>Validation loss (and accuracy) during training: the line is the mean "
            "over seeds, the shaded band ± one SD; n = number of seeds. One panel per label level. "
            "<code>bptt</code> and <code>eprop</code> ignore the cell types; "
            "<code>mdgl-&lt;gate&gt;</code> is MDGL whose modulatory signal between two types is "
            "scaled by the gate: <code>data</code> = the neuropeptide graph above, the controls "
            "keep the neurons and change only the gate (<code>label-permuted</code>: the graph "
            "attached to the wrong types; <code>grid-shuffled</code>: its entries in random "
            "places; <code>uniform</code>: every pair equally; <code>ei</code>: excitatory / "
            "inhibitory only, as in the paper).</p>"
        )
        parts.append(_img(panels_figure(panels, column="loss"), "validation loss"))
        if any(r.validation["accuracy"].notna().any() for r in runs):
            parts.append(_img(panels_figure(panels, column="accuracy"), "validation accuracy"))
    else:
        parts.append("<p class='note'>No training runs found.</p>")

    section("results", "Results")
    summary = _summary(runs)
    if len(summary):
        parts.append(
            "<p class='note'>Per label level and rule, over seeds (mean ± sample SD; one seed: "
            "its value): the final validation loss and accuracy are the last validation point; "
            f"<i>iterations to {THRESHOLD:g}</i> is the first validation iteration with accuracy "
            f"≥ {THRESHOLD:g}, averaged over the seeds that got there (<i>seeds reaching "
            f"{THRESHOLD:g}</i>); the last two columns are the same quantities as Liu et al. 2021 "
            f"computed them (mean total loss over the last {WINDOW:g} iterations; median over "
            f"seeds of the first crossing of a {SMOOTHING}-point smoothed accuracy curve). "
            "<i>never</i>: no seed (or, for the median, not half of them) reached the threshold "
            "within the run; — : not defined "
            '(docs/design.md, "Summary statistics").</p>'
        )
        chance = summary[summary["final_accuracy_mean"] < 0.6]
        if len(chance):
            rows = ", ".join(f"{r.condition} · {r.rule}" for r in chance.itertuples())
            parts.append(
                f"<p class='note'><b>At chance</b> (accuracy below 0.6 on a two-choice task): "
                f"{html.escape(rows)}. With a short training budget "
                f"({int(summary['iterations'].max())} iterations here) the local rules have not "
                "learned yet; this is the budget, not a failure: raise "
                "<code>train.iterations</code> (runs resume from their checkpoints).</p>"
            )
        parts.append(_table_html(results_table(summary), right=_NUMBER_COLUMNS))
    else:
        parts.append("<p class='note'>No results.</p>")

    section("provenance", "Provenance")
    prov = provenance(data, cfg)
    parts.append(
        f"<p>Created {prov['created']}; Python {prov['python']} on {html.escape(prov['platform'])}.</p>"
    )
    if prov["files"]:
        parts.append(_table_html(pd.DataFrame(prov["files"])))
    else:
        parts.append("<p class='note'>No data files given.</p>")
    parts.append(
        _table_html(pd.DataFrame(list(prov["versions"].items()), columns=["package", "version"]))
    )
    if cfg is not None:
        parts.append("<p>Configuration:</p>")
        parts.append(
            f"<pre>{html.escape(json.dumps(cfg, indent=2, sort_keys=True, default=str))}</pre>"
        )

    body = "<p>" + " · ".join(toc) + "</p>" + "\n".join(parts)
    doc = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n{body}\n"
        f"<script type='application/json' id='neuromod-provenance'>{_script_json(prov)}"
        "</script></body></html>\n"
    )
    with atomic_path(out, suffix=".html") as tmp:
        tmp.write_text(doc, encoding="utf-8")
    return Path(out)


def _graph_warnings(path: Path) -> list[str]:
    """The warnings ``neuromod graph`` recorded (dropped types, missing genes), if any."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    warnings = data.get("warnings") if isinstance(data, dict) else None
    return [str(w) for w in warnings] if isinstance(warnings, list) else []


def _script_json(obj: Any) -> str:
    # "</" would end the <script> element; "<\/" is the same JSON string
    return json.dumps(obj, default=str).replace("</", "<\\/")
