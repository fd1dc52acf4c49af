"""Training checkpoints that resume bit-identically.

A checkpoint holds everything the next iteration depends on: network parameters and buffers, the
optimiser state, the learning rule's tensors (e.g. a random feedback matrix), the iteration reached,
the metric history and the settings it was written with (checked on resume so that a run is never continued with other
settings). Training draws every random number from generators seeded per batch (see
:func:`neuromod_models.training.batch_seed`), never from the global random states, so a checkpoint
needs none of them and loading one leaves them alone. Every checkpoint records the arithmetic
version it was computed under (:data:`neuromod_models._arithmetic.ARITHMETIC_VERSION`); resuming one
of another version, or of none, is refused unless allowed explicitly, because the continued run
would not be the computation its first part was. Files are written atomically (temporary name, then rename): an interruption leaves the
previous checkpoint intact. Only tensors and plain Python values are stored, so files load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from neuromod_data._files import atomic_path
from neuromod_data.errors import InputFileError, TrainingError

from ._arithmetic import ARITHMETIC_VERSION

__all__ = ["CHECKPOINT_NAME", "load_checkpoint", "save_checkpoint"]

#: file name of the latest checkpoint inside a run directory
CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = 1


def _rule_tensors(rule: Any) -> dict[str, Any]:
    """Tensors a rule holds (directly or in dicts, e.g. a cache of its random feedback matrix)."""
    if rule is None:
        return {}
    if hasattr(rule, "state_dict") and callable(rule.state_dict):
        return {"state_dict": rule.state_dict()}
    out: dict[str, Any] = {}
    for name, value in vars(rule).items():
        if isinstance(value, torch.Tensor):
            out[name] = value
        elif (
            isinstance(value, dict)
            and value
            and all(isinstance(v, torch.Tensor) for v in value.values())
        ):
            # keys may be tuples holding devices/dtypes: keep the values in order, re-keyed on load
            out[name] = {"__values__": list(value.values()), "__keys__": [repr(k) for k in value]}
    return out


def _restore_rule(rule: Any, saved: dict[str, Any]) -> None:
    if rule is None or not saved:
        return
    if "state_dict" in saved and hasattr(rule, "load_state_dict"):
        rule.load_state_dict(saved["state_dict"])
        return
    current = vars(rule)
    for name, value in saved.items():
        if isinstance(value, dict) and "__values__" in value:
            cache = current.get(name)
            if isinstance(cache, dict):
                by_repr = {repr(k): k for k in cache}
                for key_repr, tensor in zip(value["__keys__"], value["__values__"]):
                    if key_repr in by_repr:
                        cache[by_repr[key_repr]].copy_(tensor)
            # a cache that is rebuilt from the rule's seed needs no restoring when absent
        elif isinstance(value, torch.Tensor):
            setattr(rule, name, value)


def _normalise(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str, sort_keys=True))


def save_checkpoint(
    path: str | os.PathLike,
    *,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    rule: Any = None,
    iteration: int,
    history: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically. ``settings`` are compared by :func:`load_checkpoint` on resume.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> net = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.Adam(net.parameters())
    >>> p = save_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "c.pt", net=net, optimizer=opt, iteration=3)
    >>> load_checkpoint(p, net=net, optimizer=opt)["iteration"]
    3
    """
    payload = {
        "format": _FORMAT,
        "arithmetic_version": ARITHMETIC_VERSION,
        "iteration": int(iteration),
        "network": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rule": _rule_tensors(rule),
        "history": [dict(r) for r in (history or [])],
        "settings": _normalise(settings or {}),
        "extra": dict(extra or {}),
    }
    path = Path(path)
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
    return path


def _first_difference(old: Any, new: Any, key: str = "") -> tuple[str, Any, Any] | None:
    """The first setting (dotted into nested dicts, keys in sorted order) whose values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            sub = f"{key}.{k}" if key else str(k)
            found = _first_difference(old.get(k), new.get(k), sub)
            if found is not None:
                return found
        return None
    return None if old == new else (key, old, new)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    rule: Any = None,
    settings: dict[str, Any] | None = None,
    allow_arithmetic_change: bool = False,
) -> dict[str, Any]:
    """Load a checkpoint into ``net`` / ``optimizer`` / ``rule`` (the global random states are not
    touched).

    Raises :class:`~neuromod_data.errors.TrainingError` when the checkpoint was computed under
    another arithmetic version than this code's, or under none (unless ``allow_arithmetic_change``),
    or when ``settings`` differ from those it was written with (naming the first differing
    setting). Returns the payload (``iteration``, ``history``, ``extra``, ``arithmetic_version``:
    None for a checkpoint from before versioning, ...).
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"checkpoint not found: {p}")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file: one clear message
        raise TrainingError(f"{p} is not a readable neuromod checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise TrainingError(f"{p} is not a neuromod checkpoint (format {_FORMAT})")
    payload.setdefault("arithmetic_version", None)
    was = payload["arithmetic_version"]
    if was != ARITHMETIC_VERSION and not allow_arithmetic_change:
        # continuing would splice two different floating-point computations into one run
        written = (
            "was written before arithmetic versions were recorded"
            if was is None
            else f"was computed under arithmetic version {was}"
        )
        raise TrainingError(
            f"{p} {written}, this code computes under version {ARITHMETIC_VERSION}: "
            "resuming would change the arithmetic in mid-run; train into a new folder, resume at "
            "the run's own commit, or pass --allow-arithmetic-change to continue anyway"
        )
    if settings is not None:
        diff = _first_difference(payload.get("settings", {}), _normalise(settings))
        if diff is not None:
            key, was, now = diff
            raise TrainingError(
                f"{p} was written with {key}={was!r} but this run has {key}={now!r}; use another "
                "output directory to train with new settings"
            )
    try:
        net.load_state_dict(payload["network"])
        if optimizer is not None:
            optimizer.load_state_dict(payload["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise TrainingError(f"{p} does not fit this network/optimiser: {exc}") from exc
    _restore_rule(rule, payload.get("rule", {}))
    return payload
