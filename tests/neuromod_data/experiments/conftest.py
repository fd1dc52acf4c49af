"""Tiny run folders written by hand, in the layouts of the committed runs and of the workflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def write_run(
    folder: Path,
    points: list[tuple],
    *,
    seconds: float | None = None,
    batch_size: int = 16,
    command: str = "",
    total: bool = True,
) -> Path:
    """``folder/metrics.csv`` with a train row before each validation point
    ``(iteration, loss, accuracy[, total_loss])`` and a ``summary.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "iteration,split,loss,accuracy" + (",total_loss" if total else "")
    lines = [header]
    for p in points:
        it, loss, acc = p[:3]
        tot = p[3] if len(p) > 3 else loss
        a = "" if acc is None else acc
        if it:
            lines.append(f"{it},train,{loss + 0.5},0.5" + (f",{loss + 0.5}" if total else ""))
        lines.append(f"{it},validation,{loss},{a}" + (f",{tot}" if total else ""))
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    summary: dict = {"settings": {"batch_size": batch_size}, "command": command}
    if seconds is not None:
        summary["metrics"] = {"seconds": seconds}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


@pytest.fixture
def make_run():
    return write_run
