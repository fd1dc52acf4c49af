"""The settings of a training run and their defaults: one table, read by the ``neuromod train``
command (:mod:`neuromod_data.cli.train`, which resolves a run's settings against it) and by the
reproduction grid (:mod:`neuromod_data.experiments.grid`, which checks that a grid sets only
settings the command knows).

It lives here, beside the other shared tables (:mod:`neuromod_data.names`), and not in the command
or in ``neuromod_models``: the grid is library code and must not import a command (layers only
call downwards, docs/design.md, "Data flow"), and ``neuromod_data`` never imports torch. The table
is read-only, so no caller can change another's defaults.

Examples
--------
>>> from neuromod_data.training_defaults import TRAINING_DEFAULTS
>>> TRAINING_DEFAULTS["batch_size"], TRAINING_DEFAULTS["lr"]
(64, 0.0025)
>>> TRAINING_DEFAULTS["lr"] = 1.0
Traceback (most recent call last):
...
TypeError: 'mappingproxy' object does not support item assignment
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["TRAINING_DEFAULTS"]

#: every setting of a training run and its default (``None``: decided from the others, e.g. the
#: gate from the rule and the structure); ``task_options`` and ``network`` are empty mappings
TRAINING_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "task": None,
        "rule": None,
        "structure": None,
        "gate": None,
        "feedback": "symmetric",
        "variant": "local",
        "online": False,
        "iterations": 2000,
        "batch_size": 64,
        "lr": 2.5e-3,
        "seed": 0,
        "device": "cpu",
        "validate_every": 25,
        "validation_batches": 1,
        "validation_batch_size": None,
        "l1": 0.0,
        "rate_reg": 0.0,
        "rate_target_hz": 10.0,
        "checkpoint_every": None,
        "task_options": MappingProxyType({}),
        "network": MappingProxyType({}),
        # None: each neuron draws its intrinsic parameters when the structure carries them
        "heterogeneity": None,
    }
)
