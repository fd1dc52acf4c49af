"""Finished training runs on disk: find them, read their metrics, name them by their folders.

A run is a folder holding ``metrics.csv`` (written by ``neuromod train``; one row per logged
evaluation, columns read by name) and, optionally, ``summary.json`` (written by
:func:`neuromod_data.experiments.record.record`). Its identity comes from the folders above it:
the last one is ``seed<k>``, the ones before it are named by a *layout*:

* :data:`REPRODUCTION` ``("grid", "task", "rule", "structure")`` — the committed runs,
  ``experiments/runs/<grid>/<task>/<rule>/<structure>/seed<k>/``;
* :data:`WORKFLOW` ``("condition", "rule")`` — the workflow's ``RESULTS/train/<level>/<variant>/
  seed<k>/`` (``variant`` = ``bptt``, ``eprop`` or ``mdgl-<gate>``).

Folders beyond the layout's length are joined with ``/`` into its first label, so a deeper tree
(``train/<level>/<structure>/<rule>/seed<k>``) keeps every folder in the run's name.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuromod_data.errors import FormatError, InputFileError

__all__ = [
    "REPRODUCTION",
    "VALIDATION",
    "WORKFLOW",
    "Run",
    "find_runs",
    "group_runs",
    "read_metrics",
    "runs_table",
]

#: labels of the committed run folders ``<grid>/<task>/<rule>/<structure>/seed<k>``
REPRODUCTION: tuple[str, ...] = ("grid", "task", "rule", "structure")
#: labels of the workflow's training folders ``<level>/<variant>/seed<k>``
WORKFLOW: tuple[str, ...] = ("condition", "rule")
#: the split name of held-out evaluations in ``metrics.csv``
VALIDATION = "validation"

_REQUIRED = ("iteration", "split", "loss")
_SEED_DIR = re.compile(r"^seed[_-]?(\d+)$")


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Read one ``metrics.csv``: columns ``iteration, split, loss, accuracy, total_loss``.

    Columns are taken by name, so their order and extra columns do not matter. ``accuracy`` is
    NaN where the task has none (empty cells, or no column); ``total_loss`` (the task loss plus
    any regulariser) equals ``loss`` in files written before it was recorded.

    Raises
    ------
    FormatError
        The file is not a CSV, lacks ``iteration``, ``split`` or ``loss``, or holds a value in
        them that is not a number (the message names the file and the column).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "metrics.csv"
    >>> _ = p.write_text("split,iteration,loss\\nvalidation,0,0.7\\n")
    >>> m = read_metrics(p)
    >>> list(m.columns), int(m.iteration[0]), float(m.total_loss[0])
    (['iteration', 'split', 'loss', 'accuracy', 'total_loss'], 0, 0.7)
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"metrics file not found: {p}")
    try:
        table = pd.read_csv(p, dtype={"split": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FormatError(f"{p}: not a readable metrics CSV ({exc})") from exc
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise FormatError(f"{p}: metrics CSV lacks column(s) {missing} (has {list(table.columns)})")
    out = pd.DataFrame({"split": table["split"].astype(str)})
    for column in ("iteration", "loss", "accuracy", "total_loss"):
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() & table[column].notna()
        if column != "accuracy" and bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise FormatError(
                f"{p}: column {column!r} holds {table[column].iloc[row]!r} (row {row + 2}), "
                "not a number"
            )
        out[column] = values.astype(float)
    if out["iteration"].isna().any():
        row = int(np.flatnonzero(out["iteration"].isna().to_numpy())[0])
        raise FormatError(f"{p}: column 'iteration' is empty in row {row + 2}")
    out["iteration"] = out["iteration"].astype(np.int64)
    if "accuracy" not in out:
        out["accuracy"] = np.nan
    if "total_loss" not in out:
        out["total_loss"] = out["loss"]
    else:  # a file with the column but an empty cell: no regulariser was recorded there
        out["total_loss"] = out["total_loss"].fillna(out["loss"])
    return out[["iteration", "split", "loss", "accuracy", "total_loss"]]


def _read_summary(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected a JSON object")
    return data


@dataclass
class Run:
    """One training run: its ``labels`` (from the folders, see the module docstring), ``seed``,
    ``metrics`` (:func:`read_metrics`) and ``summary`` (``summary.json``, or empty)."""

    labels: dict[str, str]
    seed: int
    metrics: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __getitem__(self, label: str) -> str:
        return self.labels[label]

    def key(self, by: Sequence[str]) -> tuple[str, ...]:
        """The run's labels ``by`` as a tuple (its group)."""
        return tuple(self.labels[b] for b in by)

    @property
    def validation(self) -> pd.DataFrame:
        """Validation rows, one per iteration (the last one logged wins), in iteration order."""
        v = self.metrics[self.metrics["split"] == VALIDATION]
        return v.drop_duplicates("iteration", keep="last").sort_values("iteration")

    @property
    def iterations_done(self) -> int:
        it = self.metrics["iteration"]
        return int(it.max()) if len(it) else 0

    @property
    def seconds(self) -> float | None:
        """Training time recorded in ``summary.json`` (``metrics.seconds``), if any."""
        value = (self.summary.get("metrics") or {}).get("seconds")
        return None if value is None or not math.isfinite(float(value)) else float(value)

    @property
    def batch_size(self) -> int | None:
        value = (self.summary.get("settings") or {}).get("batch_size")
        return None if value is None else int(value)


def _identity(folder: Path, root: Path, layout: Sequence[str]) -> tuple[dict[str, str], int]:
    parts = list(folder.relative_to(root).parts)
    seed = 0
    if parts and (m := _SEED_DIR.match(parts[-1])):
        seed = int(m.group(1))
        parts = parts[:-1]
    n = len(layout)
    if len(parts) > n:
        parts = ["/".join(parts[: len(parts) - n + 1]), *parts[len(parts) - n + 1 :]]
    parts = [""] * (n - len(parts)) + parts
    return dict(zip(layout, parts, strict=True)), seed


def find_runs(
    root: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    layout: Sequence[str] = REPRODUCTION,
) -> list[Run]:
    """Every run (folder with a ``metrics.csv``) below ``root``, in path order.

    Parameters
    ----------
    root
        A folder, or several (runs are gathered from each; the first folder that holds a run of
        a given identity wins, so a local copy can be listed after the committed one).
    layout
        Names of the folders between ``root`` and ``seed<k>`` (:data:`REPRODUCTION` or
        :data:`WORKFLOW`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> run = root / "quick/evidence_accumulation/bptt/ei/seed3"; run.mkdir(parents=True)
    >>> _ = (run / "metrics.csv").write_text("iteration,split,loss,accuracy\\n0,validation,0.7,0.5\\n")
    >>> r = find_runs(root)[0]
    >>> r["grid"], r["rule"], r.seed
    ('quick', 'bptt', 3)
    """
    roots = [root] if isinstance(root, str | os.PathLike) else list(root)
    runs: list[Run] = []
    seen: set[tuple] = set()
    for base in map(Path, roots):
        if not base.is_dir():
            raise InputFileError(f"runs folder not found: {base}")
        for path in sorted(base.rglob("metrics.csv")):
            labels, seed = _identity(path.parent, base, layout)
            ident = (*labels.values(), seed)
            if ident in seen:
                continue
            seen.add(ident)
            runs.append(
                Run(
                    labels=labels,
                    seed=seed,
                    metrics=read_metrics(path),
                    summary=_read_summary(path.parent / "summary.json"),
                    path=path.parent,
                )
            )
    return runs


def group_runs(runs: Iterable[Run], by: Sequence[str]) -> dict[tuple[str, ...], list[Run]]:
    """Runs grouped by the labels ``by`` (groups in first-seen order, runs by seed)."""
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in runs:
        groups.setdefault(r.key(by), []).append(r)
    for g in groups.values():
        g.sort(key=lambda r: r.seed)
    return groups


def runs_table(runs: Iterable[Run]) -> pd.DataFrame:
    """One long table of every logged evaluation: the labels, ``seed`` and the metric columns."""
    frames = [r.metrics.assign(**r.labels, seed=r.seed) for r in runs]
    if not frames:
        return pd.DataFrame(
            columns=["seed", "iteration", "split", "loss", "accuracy", "total_loss"]
        )
    table = pd.concat(frames, ignore_index=True)
    first = [c for c in frames[0].columns if c not in ("iteration", "split", "loss")]
    labels = [c for c in first if c not in ("accuracy", "total_loss", "seed")]
    return table[[*labels, "seed", "iteration", "split", "loss", "accuracy", "total_loss"]]
