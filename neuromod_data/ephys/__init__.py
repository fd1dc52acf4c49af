"""Intrinsic neuron parameters per cell type from Patch-seq electrophysiology.

Three steps, each usable on its own:

1. :func:`read_ephys` joins a table of electrophysiological features (one row per cell) to the
   cells' metadata (transcriptomic labels, layer, ...).
2. :func:`summarize_ephys` gives robust per-type summaries of every feature: the median, a robust
   spread (1.4826 × the median absolute deviation, MAD, which equals the standard deviation for
   normally distributed values) and the number of cells with a value.
3. :func:`intrinsic_from_ephys` maps the features onto the parameters of the model's LIF/ALIF
   neurons (:mod:`neuromod_models.neurons`: dt = 1 ms, LSNN convention) and returns
   :class:`~neuromod_data.structure.IntrinsicParameters`, which a
   :class:`~neuromod_data.structure.CellTypeStructure` carries to the network.

Too few cells
    A type needs ``min_cells`` cells (default 5) with a value for a feature. With fewer, its value
    comes from its parent: the most common label of its cells in the next ``fallback`` column
    (e.g. ``RNA type`` → ``RNA family``), then the next one. If no level has ``min_cells`` cells,
    the level with the most cells is used (the finest on ties) and a warning says so; a type with
    no cell at all gets the paper's value (level ``"default"``), also with a warning. The level and
    the group used are reported per type and parameter.

Feature → parameter mapping (units; ``ref`` is the median over all cells of the table, labelled or
not, unless given)
    ``tau_m`` (ms)
        ``Membrane time constant (ms)``, taken as it is (dt = 1 ms: one step is one ms);
        ``ParameterMap(tau_m="relative")`` scales the paper's 20 ms instead:
        ``20 · τ / ref``.
    ``beta`` (model voltage per unit of the adaptation trace)
        From ``Spike frequency adaptation`` ``s`` (spikes in the second half of the 600 ms step
        divided by spikes in the first half, on the step with most spikes; 1: no adaptation).
        A threshold-adapting neuron whose rate falls from ``r0`` to ``r0 / (1 + g β)`` has
        ``1/s − 1 ∝ β`` to first order, so ``β = 1.8 · (1/s − 1) / (1/ref − 1)``: the paper's
        1.8 for a cell that adapts like the reference cell, 0 for ``s ≥ 1``.
    ``adaptive`` (fraction)
        The fraction of the type's cells with ``s < 0.9`` (at least 10 % fewer spikes in the second
        half); the type is ALIF when it is ≥ 0.5 (then ``beta`` applies, otherwise ``beta`` is 0).
    ``tau_a`` (ms)
        No feature measures the adaptation time scale (the step lasts 600 ms, the paper's
        τ_a is 2,000 ms): the paper's value for every type (``ParameterMap(tau_a=...)`` to change).
    ``v_th`` (model voltage)
        The paper's 0.01 scaled by the type's distance from rest to threshold relative to the
        reference cell: ``0.01 · (V_thr − V_rest) / ref`` with ``AP threshold (mV)`` and
        ``Resting membrane potential (mV)`` (the model's membrane potential is 0 at rest and
        spikes at ``v_th``). ``ParameterMap(threshold="rheobase")`` uses ``Rheobase (pA)`` /
        ref instead, which also folds in the input resistance (use it only when the synaptic
        weights are currents, not PSP amplitudes in mV, or the resistance counts twice).
    ``n_ref`` (steps of 1 ms)
        The paper's 5 steps scaled by the action-potential width relative to the reference cell:
        ``5 · AP width / ref`` (``AP width (ms)``), rounded to whole steps when used.

    Every value is clipped to :data:`~neuromod_data.structure.BOUNDS`; a column read in a fixed
    unit whose values lie outside the bounds en masse (more than a quarter of the cells, e.g.
    time constants in seconds) is an error naming it and the unit it looks like
    (:func:`~neuromod_data.ephys.units.check_units`, which the fit calls too). A type's value is the
    mapping of its median feature value; its spread is the robust standard deviation (1.4826 ×
    MAD) of the natural log of the mapped per-cell values (cells of the group used, values > 0),
    which is the σ of the per-neuron log-normal draws of
    :meth:`~neuromod_data.structure.CellTypeStructure.sample_intrinsic`. Invalid per-cell values
    (a time constant, width or threshold distance ≤ 0, a negative SFA or rheobase, any infinite
    value) count as missing, with a warning. The same rules are written down in docs/design.md,
    "Intrinsic parameters from electrophysiology".

Modules
    :mod:`~neuromod_data.ephys.read` (reading), :mod:`~neuromod_data.ephys.mapping` (the
    mapping, :class:`ParameterMap`), :mod:`~neuromod_data.ephys.fallback` (types and their
    parents), :mod:`~neuromod_data.ephys.summary` and :mod:`~neuromod_data.ephys.intrinsic`; every
    name is importable from here.

Examples
--------
>>> import pandas as pd
>>> feats = pd.DataFrame({"cell id": ["a", "b", "c"], "Membrane time constant (ms)": [10.0, 20.0, 30.0]})
>>> meta = pd.DataFrame({"Cell": ["a", "b", "c"], "RNA family": ["Sst", "Sst", "Pvalb"]})
>>> cells = read_ephys(feats, meta, labels=["RNA family"])
>>> summarize_ephys(cells, "RNA family", min_cells=1, features=["Membrane time constant (ms)"])[
...     ["type", "median", "n_cells"]].to_dict("records")
[{'type': 'Pvalb', 'median': 30.0, 'n_cells': 1}, {'type': 'Sst', 'median': 15.0, 'n_cells': 2}]
"""

from __future__ import annotations

from neuromod_data.ephys._common import MAD_SCALE, robust_spread
from neuromod_data.ephys._common import _user_stacklevel as _user_stacklevel
from neuromod_data.ephys._common import _warn as _warn
from neuromod_data.ephys.intrinsic import intrinsic_from_ephys
from neuromod_data.ephys.mapping import FEATURE_COLUMNS, ParameterMap, cell_parameters, map_features
from neuromod_data.ephys.read import _read_table as _read_table
from neuromod_data.ephys.read import read_ephys
from neuromod_data.ephys.summary import summarize_ephys

__all__ = [
    "FEATURE_COLUMNS",
    "MAD_SCALE",
    "ParameterMap",
    "cell_parameters",
    "intrinsic_from_ephys",
    "map_features",
    "read_ephys",
    "robust_spread",
    "summarize_ephys",
]
