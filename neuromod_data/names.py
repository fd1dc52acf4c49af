"""The project's shared vocabulary: names of tasks, learning rules, MDGL variants, modulation gates
and controls, in one place for the CLI, the models, the experiments and the workflow schema.

Plain tuples of strings (no imports), so that every layer can use them without loading anything.
The meaning of each name is written down in ``docs/design.md``.

Examples
--------
>>> from neuromod_data import names
>>> names.RULES
('bptt', 'eprop', 'mdgl')
>>> "label-permuted" in names.GATES and "label-permuted" in names.CONTROLS
True
"""

from __future__ import annotations

__all__ = ["CONTROLS", "GATES", "MDGL_VARIANTS", "RULES", "TASKS"]

#: tasks of :func:`neuromod_models.tasks.make_task`
TASKS: tuple[str, ...] = ("evidence_accumulation", "pattern_generation", "delayed_match")

#: learning rules of :func:`neuromod_models.make_rule`
RULES: tuple[str, ...] = ("bptt", "eprop", "mdgl")

#: MDGL's modulatory-weight variants (docs/design.md, "MDGL")
MDGL_VARIANTS: tuple[str, ...] = ("local", "nonlocal", "exact")

#: controls of the data-derived gate (:mod:`neuromod_data.controls`); each replaces the gate ``G``
#: of the data by a gate of the same size built from it
CONTROLS: tuple[str, ...] = ("label-permuted", "grid-shuffled", "uniform", "ei")

#: MDGL gates: ``data`` (the neuropeptide graph), ``binary`` (its support), the controls, ``ones``
#: (G = 1 over the structure's K types: every type pair coupled with weight 1, MDGL's derivation;
#: the positive anchor of the controls) or ``none`` (a synonym of ``ones``, kept for earlier runs)
GATES: tuple[str, ...] = ("data", "binary", *CONTROLS, "ones", "none")
