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
    "LAYOUT",
    "build_report",
    "check_layout",
    "expression_heatmap",
    "provenance",
    "sha256sum",
    "structure_figure",
    "write_summary",
]


# ------------------------------------------------------------------------------------- report
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222}h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}img{max-width:100%}pre{background:#f7f7f7;padding:0.8em;
overflow-x:auto;font-size:0.85em}.note{color:#666;font-size:0.9em}code{background:#f2f2f2}
"""


def _table_html(df: pd.DataFrame, *, floatfmt: str = "{:.4g}") -> str:
    head = "".join(f"<th class='l'>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                text, cls = ("–" if np.isnan(v) else floatfmt.format(v)), ""
            else:
                text, cls = str(v), " class='l'"
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


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
        for png in sorted(gdir.rglob("*.png"))[:8]:
            b64 = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(
                f"<p class='note'>{html.escape(png.name)}</p>"
                f"<p><img alt='{html.escape(png.name)}' src='data:image/png;base64,{b64}'></p>"
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
                b64 = base64.b64encode(png.read_bytes()).decode("ascii")
                parts.append(
                    f"<p class='note'>{html.escape(what)}</p>"
                    f"<p><img alt='{html.escape(name)}' src='data:image/png;base64,{b64}'></p>"
                )
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
            "<p class='note'>Per label level and rule, over seeds (mean and sample SD): "
            "<code>final_loss</code> and <code>final_accuracy</code> are the last validation "
            "point; <code>iters_to_threshold_mean</code> the first validation iteration with "
            "accuracy ≥ 0.8, averaged over the <code>n_reached</code> seeds that got there; "
            "<code>window_loss</code> and <code>smoothed_iters_median</code> are the same "
            "quantities as Liu et al. 2021 computed them (mean total loss over the last 100 "
            "iterations; median of the first crossing of a 5-point smoothed accuracy curve; "
            'docs/design.md, "Summary statistics").</p>'
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
        parts.append(_table_html(summary))
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
