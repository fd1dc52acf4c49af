"""One self-contained HTML report of a workflow run: expression, graph, learning curves, provenance.

The report reads the standard results layout the Snakemake workflow writes (any part may be absent)::

    RESULTS/info/dataset.txt                     what was read (``neuromod info``)
    RESULTS/aggregate/<level>.<stat>.csv         per-type expression (types × genes)
    RESULTS/graph/<level>/structure.npz          the modulation structure (+ *.png figures)
    RESULTS/train/<...>/<rule>/seed<N>/metrics.csv   iteration, split, loss, accuracy

and writes one HTML file with every image inlined (base64 PNG), so it can be mailed or archived alone.
Figures are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state, no display needed).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import json
import os
import platform
import re
from collections.abc import Iterable, Sequence
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuromod_data._files import atomic_path, require_file
from neuromod_data.errors import FormatError, InputFileError

__all__ = [
    "build_report",
    "collect_runs",
    "expression_heatmap",
    "learning_curves",
    "provenance",
    "sha256sum",
    "structure_figure",
    "summarize_runs",
    "write_summary",
]

#: Split names treated as held-out data, in order of preference.
VALIDATION_SPLITS = ("validation", "val", "valid", "test")
_RUN_COLUMNS = ("condition", "rule", "seed", "iteration", "split", "loss", "accuracy")
_SEED_DIR = re.compile(r"^seed[_-]?(\d+)$")
_PACKAGES = (
    "neuromod",
    "numpy",
    "scipy",
    "pandas",
    "anndata",
    "scanpy",
    "h5py",
    "networkx",
    "matplotlib",
    "torch",
    "snakemake",
)


# ------------------------------------------------------------------------------------- runs
def _run_identity(metrics: Path, root: Path) -> tuple[str, str, int]:
    """(condition, rule, seed) from ``<root>/<condition...>/<rule>/seed<N>/metrics.csv``.

    The workflow writes ``train/<level>/<variant>/seed<N>`` with variant ``bptt``, ``eprop`` or
    ``mdgl-<gate>``, so the condition is the label level and the "rule" the variant.
    """
    parts = metrics.relative_to(root).parts[:-1]
    seed = 0
    if parts and (m := _SEED_DIR.match(parts[-1])):
        seed = int(m.group(1))
        parts = parts[:-1]
    if not parts:
        return "", "run", seed
    return "/".join(parts[:-1]), parts[-1], seed


def collect_runs(train_dir: str | os.PathLike) -> pd.DataFrame:
    """Gather every ``metrics.csv`` below ``train_dir`` into one long table.

    Each run is identified by its path ``<condition...>/<rule>/seed<N>/metrics.csv``: the folders above
    the rule (label level, structure, ...) joined by ``/`` form the ``condition``.

    Parameters
    ----------
    train_dir
        The folder holding the training runs (the workflow's ``RESULTS/train``).

    Returns
    -------
    DataFrame with columns condition, rule, seed, iteration, split, loss, accuracy (one row per
    logged evaluation); empty when no run is found.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> run = root / "subclass/data/mdgl/seed1"; run.mkdir(parents=True)
    >>> _ = (run / "metrics.csv").write_text("iteration,split,loss,accuracy\\n10,validation,0.5,0.8\\n")
    >>> collect_runs(root)[["condition", "rule", "seed", "loss"]].values.tolist()
    [['subclass/data', 'mdgl', 1, 0.5]]
    """
    root = Path(train_dir)
    if not root.is_dir():
        raise InputFileError(f"training results folder not found: {root}")
    frames = []
    for path in sorted(root.rglob("metrics.csv")):
        try:
            table = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise FormatError(f"{path}: not a readable metrics CSV ({exc})") from exc
        missing = [c for c in ("iteration", "split", "loss") if c not in table.columns]
        if missing:
            raise FormatError(f"{path}: metrics CSV lacks column(s) {missing}")
        condition, rule, seed = _run_identity(path, root)
        table = table.assign(condition=condition, rule=rule, seed=seed)
        if "accuracy" not in table.columns:
            table["accuracy"] = np.nan
        frames.append(table[list(_RUN_COLUMNS)])
    if not frames:
        return _empty_runs()
    runs = pd.concat(frames, ignore_index=True)
    runs["split"] = runs["split"].astype(str)
    return runs


def _validation_split(runs: pd.DataFrame) -> str | None:
    splits = list(dict.fromkeys(runs["split"]))
    for name in VALIDATION_SPLITS:
        if name in splits:
            return name
    others = [s for s in splits if s != "train"]
    return others[0] if others else (splits[0] if splits else None)


def summarize_runs(runs: pd.DataFrame, *, threshold: float = 0.8) -> pd.DataFrame:
    """Final held-out loss and accuracy per condition and rule: mean ± SD over seeds.

    The final value of a run is its last logged validation evaluation. ``iters_to_threshold`` is the
    first iteration at which validation accuracy reaches ``threshold`` (NaN for runs that never do;
    the mean is over the runs that do, ``n_reached`` counts them).

    Parameters
    ----------
    runs
        The table of :func:`collect_runs`.
    threshold
        Accuracy that counts as learned (the paper's 80 %).

    Returns
    -------
    DataFrame, one row per (condition, rule), columns n_seeds, iterations, final_loss_mean,
    final_loss_sd, final_accuracy_mean, final_accuracy_sd, iters_to_threshold_mean, n_reached.
    SD is the sample standard deviation (ddof=1; NaN for a single seed).

    Examples
    --------
    >>> runs = pd.DataFrame({"condition": "c", "rule": "bptt", "seed": [0, 0, 1, 1],
    ...     "iteration": [1, 2, 1, 2], "split": "validation", "loss": [1.0, 0.4, 1.0, 0.6],
    ...     "accuracy": [0.5, 0.9, 0.5, 0.7]})
    >>> s = summarize_runs(runs)
    >>> round(float(s.final_loss_mean[0]), 3), round(float(s.final_loss_sd[0]), 4)
    (0.5, 0.1414)
    """
    columns = [
        "condition",
        "rule",
        "n_seeds",
        "iterations",
        "final_loss_mean",
        "final_loss_sd",
        "final_accuracy_mean",
        "final_accuracy_sd",
        "iters_to_threshold_mean",
        "n_reached",
    ]
    split = _validation_split(runs) if len(runs) else None
    if split is None:
        return pd.DataFrame(columns=columns)
    val = runs[runs["split"] == split].sort_values("iteration", kind="stable")
    per_run = []
    for (condition, rule, seed), g in val.groupby(["condition", "rule", "seed"], sort=False):
        last = g.iloc[-1]
        acc = g["accuracy"].to_numpy(dtype=float)
        reached = np.flatnonzero(acc >= threshold)
        per_run.append(
            {
                "condition": condition,
                "rule": rule,
                "seed": seed,
                "iteration": int(last["iteration"]),
                "loss": float(last["loss"]),
                "accuracy": float(last["accuracy"]),
                "reached": float(g["iteration"].iloc[reached[0]]) if reached.size else np.nan,
            }
        )
    per_run = pd.DataFrame(per_run)
    rows = []
    for (condition, rule), g in per_run.groupby(["condition", "rule"], sort=False):
        rows.append(
            {
                "condition": condition,
                "rule": rule,
                "n_seeds": len(g),
                "iterations": int(g["iteration"].max()),
                "final_loss_mean": g["loss"].mean(),
                "final_loss_sd": g["loss"].std(ddof=1),
                "final_accuracy_mean": g["accuracy"].mean(),
                "final_accuracy_sd": g["accuracy"].std(ddof=1),
                "iters_to_threshold_mean": g["reached"].mean(),
                "n_reached": int(g["reached"].notna().sum()),
            }
        )
    order = {"bptt": 0, "eprop": 1, "mdgl": 2}
    out = pd.DataFrame(rows, columns=columns)
    out["_o"] = out["rule"].map(order).fillna(9)
    return (
        out.sort_values(["condition", "_o", "rule"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def write_summary(results: str | os.PathLike, out: str | os.PathLike) -> pd.DataFrame:
    """Summarise ``RESULTS/train`` (or ``results`` itself if it holds the runs) to a CSV, atomically."""
    root = Path(results)
    train = root / "train" if (root / "train").is_dir() else root
    summary = summarize_runs(collect_runs(train))
    with atomic_path(out, suffix=".csv") as tmp:
        summary.to_csv(tmp, index=False)
    return summary


# ------------------------------------------------------------------------------------ figures
_RULE_COLORS = {"bptt": "#1f77b4", "eprop": "#d62728", "mdgl": "#2ca02c"}
# MDGL variants ("mdgl-data", "mdgl-shuffled", ...) in greens and browns, data first
_MDGL_COLORS = {
    "data": "#2ca02c",
    "binary": "#17becf",
    "shuffled": "#8c564b",
    "uniform": "#bcbd22",
    "ei": "#9467bd",
    "none": "#7f7f7f",
}


def _rule_color(rule: str) -> str | None:
    if rule in _RULE_COLORS:
        return _RULE_COLORS[rule]
    base, _, gate = str(rule).partition("-")
    return _MDGL_COLORS.get(gate) if base == "mdgl" else None


def _rule_order(rule: str) -> tuple[int, int, str]:
    base, _, gate = str(rule).partition("-")
    gates = list(_MDGL_COLORS)
    return (
        {"bptt": 0, "eprop": 1, "mdgl": 2}.get(base, 9),
        gates.index(gate) if gate in gates else 0,
        str(rule),
    )


def learning_curves(
    runs: pd.DataFrame, *, metric: str = "loss", split: str | None = None
) -> Figure:
    """Learning curves of every rule, mean ± SD over seeds, one panel per condition.

    Parameters
    ----------
    runs
        The table of :func:`collect_runs`.
    metric
        ``"loss"`` or ``"accuracy"``.
    split
        Which split to draw; default the validation split.

    Examples
    --------
    >>> runs = pd.DataFrame({"condition": "c", "rule": "mdgl", "seed": [0, 1], "iteration": [5, 5],
    ...     "split": "validation", "loss": [0.5, 0.7], "accuracy": [0.8, 0.6]})
    >>> fig = learning_curves(runs)
    >>> len(fig.axes)
    1
    """
    if metric not in ("loss", "accuracy"):
        raise ValueError(f"metric must be 'loss' or 'accuracy', got {metric!r}")
    split = split or _validation_split(runs)
    data = runs[runs["split"] == split] if split is not None else runs.iloc[:0]
    conditions = list(dict.fromkeys(data["condition"])) or [""]
    ncol = min(len(conditions), 3)
    nrow = int(np.ceil(len(conditions) / ncol))
    fig = Figure(figsize=(4.2 * ncol, 3.2 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax, condition in zip(axes, conditions):
        sub = data[data["condition"] == condition]
        for rule, g in sorted(sub.groupby("rule", sort=False), key=lambda kv: _rule_order(kv[0])):
            stats = g.groupby("iteration")[metric].agg(["mean", "std", "count"]).sort_index()
            x = stats.index.to_numpy(dtype=float)
            mean = stats["mean"].to_numpy(dtype=float)
            sd = np.nan_to_num(stats["std"].to_numpy(dtype=float))
            n = int(g["seed"].nunique())
            color = _rule_color(str(rule))
            ax.plot(x, mean, color=color, label=f"{rule} (n={n})")
            ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.2, linewidth=0)
        ax.set_title(condition or "runs", fontsize=10)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{split} {metric}")
        if len(sub):
            ax.legend(fontsize=8, frameon=False)
    for ax in axes[len(conditions) :]:
        ax.set_visible(False)
    return fig


def expression_heatmap(table: pd.DataFrame, *, title: str = "", max_genes: int = 60) -> Figure:
    """Types × genes heatmap of an aggregate table (rows types, columns genes).

    With more than ``max_genes`` columns only the most variable across types are drawn.

    Examples
    --------
    >>> t = pd.DataFrame([[1.0, 0.0], [0.2, 1.0]], index=["Vip", "Sst"], columns=["Vip", "Sst"])
    >>> expression_heatmap(t, title="smith2019").axes[0].get_title()
    'smith2019'
    """
    values = table.apply(pd.to_numeric, errors="coerce")
    if values.shape[1] > max_genes:
        keep = values.var(axis=0).sort_values(ascending=False).index[:max_genes]
        values = values[[c for c in values.columns if c in set(keep)]]
    k, g = values.shape
    fig = Figure(figsize=(min(2.5 + 0.22 * g, 18), min(1.5 + 0.2 * k, 16)), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(
        values.to_numpy(dtype=float), aspect="auto", cmap="viridis", interpolation="nearest"
    )
    ax.set_xticks(range(g), [str(c) for c in values.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(k), [str(i) for i in values.index], fontsize=7)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.6)
    return fig


def structure_figure(structure: Any, *, title: str = "") -> Figure:
    """The modulation between types: summed sender → receiver heatmap and the graph drawn in a circle.

    ``structure`` is a :class:`~neuromod_data.structure.CellTypeStructure` (or a path to its ``.npz``).

    Examples
    --------
    >>> from neuromod_data.structure import CellTypeStructure
    >>> len(structure_figure(CellTypeStructure.ei()).axes)
    3
    """
    from neuromod_data.structure import CellTypeStructure

    if not isinstance(structure, CellTypeStructure):
        structure = CellTypeStructure.load(structure)
    gate = structure.gate(kind="weighted")
    names = list(structure.names)
    k = len(names)
    colors = list(structure.colors) if structure.colors else ["#4c72b0"] * k
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax_h, ax_g = fig.subplots(1, 2, width_ratios=[1.1, 1])
    im = ax_h.imshow(gate, cmap="magma", vmin=0, interpolation="nearest")
    fs = 7 if k <= 30 else 5
    ax_h.set_xticks(range(k), names, rotation=90, fontsize=fs)
    ax_h.set_yticks(range(k), names, fontsize=fs)
    ax_h.set_xlabel("receiver type")
    ax_h.set_ylabel("sender type")
    ax_h.set_title(f"summed modulation ({structure.n_pairs} pairs)")
    fig.colorbar(im, ax=ax_h, shrink=0.7)

    angle = 2 * np.pi * np.arange(k) / max(k, 1)
    xy = np.c_[np.cos(angle), np.sin(angle)]
    top = np.quantile(gate[gate > 0], 0.5) if np.any(gate > 0) else np.inf
    for a in range(k):
        for b in range(k):
            if a != b and gate[a, b] >= top:
                ax_g.annotate(
                    "",
                    xy=xy[b],
                    xytext=xy[a],
                    arrowprops={
                        "arrowstyle": "-|>",
                        "color": colors[a],
                        "alpha": 0.15 + 0.6 * float(gate[a, b]),
                        "lw": 0.5 + 2 * float(gate[a, b]),
                        "shrinkA": 6,
                        "shrinkB": 6,
                        "connectionstyle": "arc3,rad=0.15",
                    },
                )
    sizes = 60 + 600 * structure.abundances / structure.abundances.max()
    markers = np.where(structure.signs > 0, "o", "s")
    for i in range(k):
        ax_g.scatter(*xy[i], s=sizes[i], c=colors[i], marker=markers[i], edgecolors="k", zorder=3)
        ax_g.text(*(xy[i] * 1.18), names[i], ha="center", va="center", fontsize=fs)
    ax_g.set_xlim(-1.45, 1.45)
    ax_g.set_ylim(-1.35, 1.35)
    ax_g.set_aspect("equal")
    ax_g.axis("off")
    ax_g.set_title("strongest half of the couplings (○ E, □ I; size = abundance)", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------- provenance
def sha256sum(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (works for files larger than memory).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> sha256sum(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(require_file(path, "data file"), "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return _metadata.version(package)
    except _metadata.PackageNotFoundError:
        return None


def provenance(data: Iterable[str | os.PathLike] = (), config: Any = None) -> dict[str, Any]:
    """Data files with size and SHA-256, package versions, platform and the configuration.

    Package versions are read from installed metadata, so nothing (torch included) is imported.
    """
    files = []
    for f in data:
        p = require_file(f, "data file")
        files.append({"path": str(f), "bytes": p.stat().st_size, "sha256": sha256sum(p)})
    versions = {name: v for name in _PACKAGES if (v := _version(name)) is not None}
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "files": files,
        "versions": versions,
        "config": config,
    }


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
    for gdir in graph_dirs:
        parts.append(f"<h3>{html.escape(gdir.name)}</h3>")
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

    section("training", "Learning curves")
    runs = collect_runs(root / "train") if (root / "train").is_dir() else _empty_runs()
    if len(runs):
        parts.append(
            "<p class='note'>Mean ± SD over seeds (shaded), validation split; n = number of seeds.</p>"
        )
        parts.append(_img(learning_curves(runs, metric="loss"), "validation loss"))
        if runs["accuracy"].notna().any():
            parts.append(_img(learning_curves(runs, metric="accuracy"), "validation accuracy"))
    else:
        parts.append("<p class='note'>No training runs found.</p>")

    section("results", "Results")
    summary = summarize_runs(runs)
    if len(summary):
        parts.append(
            "<p class='note'>Final validation loss and accuracy (last evaluation), mean and sample SD "
            "over seeds; iterations to 80 % accuracy averaged over the runs that reach it.</p>"
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


def _script_json(obj: Any) -> str:
    # "</" would end the <script> element; "<\/" is the same JSON string
    return json.dumps(obj, default=str).replace("</", "<\\/")


def _empty_runs() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in _RUN_COLUMNS})
