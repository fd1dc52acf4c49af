"""Tasks (docs/design.md, "Tasks"): generators of time-major batches with a seed, a loss and an accuracy.

>>> from neuromod_models.tasks import make_task
>>> task = make_task("evidence_accumulation")
>>> batch = task.sample(2, seed=0)
>>> tuple(batch.x.shape), task.n_out
((2000, 2, 40), 2)
"""

from __future__ import annotations

from typing import Any

from .base import Batch, Task, make_generator, poisson_spikes
from .delayed_match import DelayedMatch
from .evidence import EvidenceAccumulation
from .pattern import PatternGeneration

__all__ = [
    "TASKS",
    "Batch",
    "DelayedMatch",
    "EvidenceAccumulation",
    "PatternGeneration",
    "Task",
    "make_generator",
    "make_task",
    "poisson_spikes",
]

#: canonical task names → classes
TASKS: dict[str, type[Task]] = {
    "evidence_accumulation": EvidenceAccumulation,
    "pattern_generation": PatternGeneration,
    "delayed_match": DelayedMatch,
}

_ALIASES = {
    "evidence": "evidence_accumulation",
    "pattern": "pattern_generation",
    "delayed_match_to_sample": "delayed_match",
    "dms": "delayed_match",
}


def make_task(name: str, **kwargs: Any) -> Task:
    """Build a task by name (``evidence_accumulation``, ``pattern_generation``, ``delayed_match``).

    Keyword arguments go to the task's constructor (e.g. ``T=500`` for a short evidence task).
    """
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    try:
        return TASKS[key](**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad option for task {key!r}: {exc}") from exc
