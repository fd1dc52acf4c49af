"""The runs of a workflow results folder for the report (:mod:`neuromod_data.report`): the results
layout checked before any work, and the training runs summarised into one table."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from neuromod_data._files import atomic_path
from neuromod_data.errors import FormatError, InputFileError


# ------------------------------------------------------------------------------------- runs
def _find_train_runs(root: Path) -> list:
    from neuromod_data.experiments.runs import WORKFLOW, find_runs

    train = root / "train" if (root / "train").is_dir() else root
    return find_runs(train, layout=WORKFLOW)


def _summary(runs: list) -> pd.DataFrame:
    from neuromod_data.experiments.curves import label_order
    from neuromod_data.experiments.runs import WORKFLOW
    from neuromod_data.experiments.summary import summary_table

    table = summary_table(runs, WORKFLOW)
    if table.empty:
        return table
    order = sorted(
        range(len(table)), key=lambda i: (table.condition[i], label_order(table.rule[i]))
    )
    return table.iloc[order].reset_index(drop=True)


def write_summary(results: str | os.PathLike, out: str | os.PathLike) -> pd.DataFrame:
    """Summarise the training runs of a results folder to a CSV, atomically.

    ``results`` is the workflow's results folder (runs in ``train/<level>/<variant>/seed<N>/``)
    or the ``train`` folder itself. One row per (condition, rule) with our and the authors'
    definitions (:func:`neuromod_data.experiments.summary.summary_table`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> run = root / "train/subclass/bptt/seed0"; run.mkdir(parents=True)
    >>> _ = (run / "metrics.csv").write_text("iteration,split,loss,accuracy\\n5,validation,0.5,0.9\\n")
    >>> write_summary(root, root / "s.csv")[["condition", "rule", "final_loss_mean"]].values.tolist()
    [['subclass', 'bptt', 0.5]]
    """
    root = Path(results)
    if not root.is_dir():
        raise InputFileError(f"results folder not found: {root}")
    summary = _summary(_find_train_runs(root))
    with atomic_path(out, suffix=".csv") as tmp:
        summary.to_csv(tmp, index=False)
    return summary


#: what the workflow writes below its results folder (:mod:`neuromod_data.report`): a folder
#: holding none of these is not a results folder, and its report would be empty
LAYOUT = ("info/dataset.txt", "aggregate", "graph", "physiology", "train")


def check_layout(results: str | os.PathLike, *, summary_only: bool = False) -> Path:
    """Refuse a folder that is not in the workflow's results layout, before any work.

    ``results`` must hold at least one of :data:`LAYOUT` (``info/dataset.txt``, ``aggregate/``,
    ``graph/``, ``physiology/``, ``train/``). With ``summary_only`` (only the run summary is
    wanted) the ``train`` folder itself is accepted too: a folder with ``<level>/<variant>/
    seed<k>/metrics.csv`` below it.

    Raises
    ------
    InputFileError
        ``results`` is not a folder.
    FormatError
        It holds none of the layout's parts; the message names the folder and the layout.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "graph").mkdir()
    >>> check_layout(d) == d
    True
    """
    root = Path(results)
    if not root.is_dir():
        raise InputFileError(f"results folder not found: {root}")
    if any((root / part).exists() for part in LAYOUT):
        return root
    if summary_only and next(root.rglob("metrics.csv"), None) is not None:
        return root
    raise FormatError(
        f"{root} is not a results folder of the workflow: it holds none of "
        f"{', '.join(p if '.' in p else p + '/' for p in LAYOUT)} (the layout the Snakemake "
        "workflow writes: info/dataset.txt, aggregate/<level>.<stat>.csv, graph/<level>/, "
        "physiology/<level>/, train/<level>/<variant>/seed<k>/); give the folder that the "
        "workflow's `results:` names"
    )
