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

import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuromod_data import names
from neuromod_data.errors import FormatError, InputFileError, NeuromodWarning

__all__ = [
    "REPRODUCTION",
    "VALIDATION",
    "WORKFLOW",
    "Run",
    "find_runs",
    "grid_folder",
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


def _warn(message: str) -> None:
    warnings.warn(message, NeuromodWarning, stacklevel=3)


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
    _check_last_row(p)
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


def _check_last_row(path: Path) -> None:
    """Refuse a ``metrics.csv`` whose last row was cut off (a copy or write stopped mid-way).

    ``neuromod train`` ends every row with a newline and writes as many fields as the header
    has; a file cut anywhere else lacks one or the other. pandas would read the cut row with its
    missing fields as NaN (or a cut number as a smaller one), i.e. as a shorter but complete run.
    """
    try:
        with open(path, "rb") as fh:
            header = fh.readline()
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(size - 65536, 0))
            tail = fh.read()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size == 0 or not header.strip():
        return  # an empty file: read_csv names it
    lines = tail.rstrip(b"\r\n").splitlines()
    last = lines[-1] if lines else b""
    cut = not tail.endswith(b"\n") or last.count(b",") != header.count(b",")
    if cut and last.strip() and last != header.rstrip(b"\r\n"):
        raise FormatError(
            f"{path}: the file is cut short (its last row, {last.decode('utf-8', 'replace')[:60]!r}, "
            "is incomplete); refused rather than summarised as a shorter run: restore the file "
            "(e.g. from git) or remove the run folder"
        )


def _check_complete(metrics: pd.DataFrame, summary: dict[str, Any], path: Path) -> None:
    """Refuse a run whose ``metrics.csv`` ends before the iterations its ``summary.json`` records
    (the file was cut at a row boundary: every row complete, the last ones missing)."""
    done = (summary.get("metrics") or {}).get("iterations_done")
    if done is None:
        done = (summary.get("settings") or {}).get("iterations")
    try:
        done = int(done) if done is not None else None
    except (TypeError, ValueError):
        return
    last = int(metrics["iteration"].max()) if len(metrics) else 0
    if done is not None and last < done:
        raise FormatError(
            f"{path / 'metrics.csv'}: the file ends at iteration {last}, but "
            f"{path / 'summary.json'} records {done} iterations: metrics.csv is cut short; "
            "refused rather than summarised as a shorter run: restore the file (e.g. from git) "
            "or remove the run folder"
        )


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

    @property
    def n_rec(self) -> int | None:
        """Recurrent neurons when the run set them (``settings.network.n_rec``); ``None``: the
        task's network."""
        value = ((self.summary.get("settings") or {}).get("network") or {}).get("n_rec")
        return None if value is None else int(value)


def _identity(parts: Sequence[str], layout: Sequence[str]) -> tuple[dict[str, str], int]:
    """Labels and seed of a run from its folders below the root (the last one ``seed<k>``)."""
    parts = list(parts)
    seed = 0
    if parts and (m := _SEED_DIR.match(parts[-1])):
        seed = int(m.group(1))
        parts = parts[:-1]
    n = len(layout)
    if len(parts) > n:
        parts = ["/".join(parts[: len(parts) - n + 1]), *parts[len(parts) - n + 1 :]]
    parts = [""] * (n - len(parts)) + parts
    return dict(zip(layout, parts, strict=True)), seed


def _is_grid_run(parts: Sequence[str]) -> bool:
    """Whether folders ``<grid>/<task>/<rule>/<structure>/seed<k>`` name a reproduction run:
    exactly that depth, a known task and rule (so that e.g. the workflow's
    ``train/<level>/<structure>/<rule>/seed<k>`` is not taken for one)."""
    return (
        len(parts) == len(REPRODUCTION) + 1
        and parts[1] in names.TASKS
        and parts[2] in names.RULES
        and _SEED_DIR.match(parts[-1]) is not None
    )


def grid_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is one grid's folder (``<grid>/``, its sub-folders named after tasks)
    rather than a runs root holding grids.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "quick/evidence_accumulation").mkdir(parents=True)
    >>> grid_folder(root / "quick"), grid_folder(root)
    (True, False)
    """
    d = Path(folder)
    try:
        return any(c.is_dir() and c.name in names.TASKS for c in d.iterdir())
    except OSError:
        return False


def _digest(folder: Path) -> str:
    """The content of a run's files: a record and its published copy are the same run."""
    h = hashlib.sha256()
    for name in ("metrics.csv", "summary.json"):
        f = folder / name
        h.update(f.read_bytes() if f.is_file() else b"")
        h.update(b"\0")
    return h.hexdigest()


def _listed(paths: Sequence[Path], n: int = 3) -> str:
    shown = ", ".join(p.as_posix() for p in paths[:n])
    return shown + (f" and {len(paths) - n} more" if len(paths) > n else "")


def find_runs(
    root: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    layout: Sequence[str] = REPRODUCTION,
    strict: bool = False,
) -> list[Run]:
    """Every run (folder with a ``metrics.csv``) below ``root``, in path order.

    A run folder is named ``seed<k>``: a folder with a ``metrics.csv`` named otherwise (a copy
    such as ``seed0 copy``) is left out with a warning naming it. A run whose files are
    byte-identical to one already found (a record and its published copy) and that has the same
    labels below the first, found below an earlier root, is counted once.

    Parameters
    ----------
    root
        A folder, or several (runs are gathered from each; the first folder that holds a run of
        a given identity wins, so a local copy can be listed after the committed one). With
        :data:`REPRODUCTION`, one grid's folder (its sub-folders are tasks) is read as that grid.
    layout
        Names of the folders between ``root`` and ``seed<k>`` (:data:`REPRODUCTION` or
        :data:`WORKFLOW`).
    strict
        With :data:`REPRODUCTION`: only folders exactly ``<grid>/<task>/<rule>/<structure>/
        seed<k>`` with a known task and rule are runs; other folders with a ``metrics.csv`` (a
        training folder, the workflow's runs, a record below ``<results>/runs``) are left out
        with a warning.

    Raises
    ------
    FormatError
        A ``metrics.csv`` or ``summary.json`` that cannot be read or is cut short; with
        :data:`WORKFLOW`, runs that are all in the reproduction layout.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> run = root / "quick/evidence_accumulation/bptt/ei/seed3"; run.mkdir(parents=True)
    >>> _ = (run / "metrics.csv").write_text("iteration,split,loss,accuracy\\n0,validation,0.7,0.5\\n")
    >>> r = find_runs(root)[0]
    >>> r["grid"], r["rule"], r.seed
    ('quick', 'bptt', 3)
    >>> find_runs(root / "quick")[0]["grid"]  # one grid's folder: read as that grid
    'quick'
    """
    roots = [root] if isinstance(root, str | os.PathLike) else list(root)
    reproduction = tuple(layout) == REPRODUCTION
    runs: list[Run] = []
    seen: set[tuple] = set()
    contents: set[tuple] = set()
    taken: set[Path] = set()
    misnamed: list[Path] = []
    outside: list[Path] = []
    for base in map(Path, roots):
        if not base.is_dir():
            raise InputFileError(f"runs folder not found: {base}")
        # one grid's folder: its name is the grid's (else every run would be filed under "")
        prefix = [base.resolve().name] if reproduction and grid_folder(base) else []
        added: set[tuple] = set()
        for path in sorted(base.rglob("metrics.csv")):
            folder = path.parent
            parts = [*prefix, *folder.relative_to(base).parts]
            if parts[len(prefix) :] and not _SEED_DIR.match(parts[-1]):
                misnamed.append(folder)
                continue
            if reproduction and strict and not _is_grid_run(parts):
                outside.append(folder)
                continue
            labels, seed = _identity(parts, layout)
            ident = (*labels.values(), seed)
            if ident in seen:
                continue
            # only against earlier roots: one root may hold a run copied into two grids on
            # purpose (a grid that shares another's arm), and then each grid counts it
            same = (*list(labels.values())[1:], seed, _digest(folder))
            if same in contents:
                taken.add(folder.resolve())  # counted already, under its earlier root
                continue
            added.add(same)
            metrics = read_metrics(path)
            summary = _read_summary(folder / "summary.json")
            _check_complete(metrics, summary, folder)
            seen.add(ident)
            taken.add(folder.resolve())
            runs.append(
                Run(labels=labels, seed=seed, metrics=metrics, summary=summary, path=folder)
            )
        contents |= added
    if misnamed:
        _warn(
            f"left out {len(misnamed)} folder(s) with a metrics.csv not named seed<k> (a run "
            f"folder is named seed0, seed1, ...; a copy is not a run): {_listed(misnamed)}"
        )
    outside = [f for f in outside if f.resolve() not in taken]
    if outside:
        _warn(
            f"left out {len(outside)} folder(s) with a metrics.csv that are not runs of a grid "
            f"(<grid>/<task>/<rule>/<structure>/seed<k>): {_listed(outside)}"
        )
    if not reproduction and runs and all(_looks_reproduction(r) for r in runs):
        raise FormatError(
            f"the runs below {', '.join(map(str, roots))} are in the reproduction layout "
            "<grid>/<task>/<rule>/<structure>/seed<k>, not the workflow's <level>/<variant>/"
            "seed<k>: read them with that layout (neuromod results summary --layout "
            "reproduction)"
        )
    return runs


def _looks_reproduction(run: Run) -> bool:
    """A run read in the workflow layout whose folders are ``<grid>/<task>/<rule>/<structure>``
    (or ``<task>/<rule>/<structure>`` of one grid's folder)."""
    folders = "/".join(run.labels.values()).split("/")
    for i in range(len(folders) - 2):
        if folders[i] in names.TASKS and folders[i + 1] in names.RULES:
            return len(folders) - i == 3
    return False


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
