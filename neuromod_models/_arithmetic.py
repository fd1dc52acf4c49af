"""The arithmetic version: which floating-point computation a training run performs.

A run is reproducible bit for bit from its command, its seed and the code it ran under
(docs/design.md, "Reproducibility"). Two commits can compute the same thing with different
floating-point results, e.g. when a kernel sums in another order; the losses then agree for a while
and drift apart (one such change made local MDGL diverge after 39 iterations). The integer
:data:`ARITHMETIC_VERSION` names the arithmetic of the current code:

- ``neuromod train`` records it in the run's ``metrics.json`` (hence in the published
  ``summary.json``) and in every checkpoint;
- a resume from a checkpoint of another version, or of none (written before versioning), is
  refused, so a run never changes arithmetic in mid-course unless that is asked for explicitly
  (``neuromod train --allow-arithmetic-change``; the summary then records both versions);
- ``tests/neuromod_models/test_reproducibility.py`` reruns small reference runs of every rule and
  compares their losses bitwise with records made under this version.

**Bump it** (add one) in the same commit as any change that alters floating-point results of
training: the kernels (``_kernels.py``, ``_fast.py``), the order of operations in the neurons,
network, rules, regulariser, optimiser step or constraints, the initialisation or the batch
generators, a dtype. Then regenerate the reference records with
``python tests/neuromod_models/test_reproducibility.py --regenerate`` and commit them too.
A change that leaves every bit of the reference losses as it was needs no bump.
"""

from __future__ import annotations

__all__ = ["ARITHMETIC_VERSION"]

#: the arithmetic of the current code; raise by one whenever a change alters floating-point results
ARITHMETIC_VERSION: int = 1
