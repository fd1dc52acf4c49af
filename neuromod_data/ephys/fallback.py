"""Types and their parents: which cells stand for a type, and the warnings when a type falls
back to a parent level, to the level with the most cells, or to the paper's value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuromod_data.ephys._common import _warn
from neuromod_data.errors import CellTypeError, ColumnError


def _labels(cells: pd.DataFrame, columns: Sequence[str]) -> dict[str, pd.Series]:
    where = (cells.attrs.get("neuromod_ephys") or {}).get("metadata_file", "the ephys table")
    out = {}
    for c in columns:
        if c not in cells.columns:
            raise ColumnError(
                f"{where}: label column {c!r} not found; available: "
                + ", ".join(map(str, cells.columns))
            )
        s = cells[c]
        out[c] = s.where(s.isna(), s.astype(str))
    return out


def _chains(
    labels: dict[str, pd.Series], label: str, fallback: Sequence[str], types: Sequence[str]
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, dict[str, Any]]]:
    """For each type: [(level, group)] from its own label up through its parents; the parent at a
    level is the most common label of the type's own cells there (alphabetical first on ties)."""
    chains, mixed = {}, {}
    for t in types:
        own = (labels[label] == t).to_numpy()
        chain = [(label, t)]
        for col in fallback:
            vals = labels[col][own].dropna()
            if vals.empty:
                break
            counts = vals.value_counts()
            top = sorted(counts.index[counts == counts.max()])[0]
            if len(counts) > 1:
                mixed.setdefault(t, {})[col] = {str(k): int(v) for k, v in counts.items()}
            chain.append((col, str(top)))
        chains[t] = chain
    return chains, mixed


def _select(
    valid: np.ndarray,
    labels: dict[str, pd.Series],
    chain: list[tuple[str, str]],
    min_cells: int,
) -> tuple[str, str, np.ndarray, str]:
    """(level, group, cell mask, how) for one type and one input; how: own, parent, few, default."""
    tried = []
    for depth, (level, group) in enumerate(chain):
        mask = (labels[level] == group).to_numpy() & valid
        n = int(mask.sum())
        if n >= min_cells:
            return level, group, mask, "own" if depth == 0 else "parent"
        tried.append((n, -depth, level, group, mask))
    n, _, level, group, mask = max(tried, key=lambda r: (r[0], r[1]))
    if n == 0:
        return "default", "", mask, "default"
    return level, group, mask, "few"


def _check_args(min_cells: int, label: str, fallback: Sequence[str]) -> tuple[str, ...]:
    if isinstance(fallback, str):
        fallback = (fallback,)
    fallback = tuple(c for c in fallback if c != label)
    if int(min_cells) < 1:
        raise ValueError(f"min_cells must be at least 1, got {min_cells}")
    return fallback


def _types(
    labels: pd.Series, label: str, types: Sequence[str] | None, missing: str, where: str
) -> tuple[list[str], list[str]]:
    present = sorted(labels.dropna().unique().tolist())
    if types is None:
        return present, []
    types = [str(t) for t in types]
    absent = [t for t in types if t not in set(present)]
    if absent and missing == "raise":
        raise CellTypeError(
            f"{where}: no cell labelled {absent} in column {label!r} (labels there: "
            f"{', '.join(present[:20])}{' ...' if len(present) > 20 else ''}); pick the label column "
            "the types come from, or give them the paper's values (missing='default'; on the command "
            "line --missing-types default)"
        )
    return types, absent


def _report_unlabelled(labels: pd.Series, label: str, where: str) -> int:
    n = int(labels.isna().sum())
    if n:
        ex = ", ".join(map(str, labels.index[labels.isna()][:3]))
        _warn(
            f"{where}: {n} of {len(labels)} cells have no {label!r} label (e.g. {ex}); they belong "
            "to no type (they still count in the reference medians)"
        )
    return n


_Events = dict[str, dict[tuple[str, str, str], list[str]]]


def _new_events() -> _Events:
    return {"parent": {}, "few": {}, "default": {}}


def _add_event(
    events: _Events, how: str, t: str, what: str, level: str, group: str, n: int
) -> None:
    text = what if how == "default" else f"{what} ({n} cells)"
    events[how].setdefault((t, level, group), []).append(text)


def _fallback_warnings(
    events: _Events, min_cells: int, label: str, where: str, n_total: int
) -> list[str]:
    """One warning per kind of fallback, naming every type, what fell back (``all`` when all
    ``n_total`` features or parameters did) and where to."""

    def listing(how: str) -> str:
        parts = []
        for (t, level, group), whats in events[how].items():
            what = "all" if len(whats) == n_total and n_total > 1 else ", ".join(whats)
            parts.append(f"{t}: {what}" if how == "default" else f"{t} → {group} [{level}]: {what}")
        return "; ".join(parts)

    msgs = []
    if events["parent"]:
        msgs.append(
            f"{where}: fewer than {min_cells} cells with a value at level {label!r}; the parent "
            f"level's cells are used for {listing('parent')}"
        )
    if events["few"]:
        msgs.append(
            f"{where}: fewer than {min_cells} cells with a value at every level; the level with "
            f"the most cells is used for {listing('few')}"
        )
    if events["default"]:
        msgs.append(
            f"{where}: no cell with a value; the paper's value is used for {listing('default')}"
        )
    for m in msgs:
        _warn(m)
    return msgs
