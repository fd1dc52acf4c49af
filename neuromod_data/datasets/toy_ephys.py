"""A synthetic electrophysiology table whose cells are model neurons with known parameters.

Each cell is an LIF/ALIF neuron of :mod:`neuromod_models.neurons` with parameters drawn around its
type's; its features are what the step protocol of :mod:`neuromod_data.fitting` measures on it.
Fitting the table must give the parameters back (parameter recovery), so the table is the ground
truth for the fit's tests and examples. Column names are the M1 Patch-seq ones
(:data:`neuromod_data.fitting.FIT_FEATURES`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from neuromod_data.fitting import FIT_FEATURES, FitOptions, simulate_features

__all__ = ["TOY_EPHYS_TYPES", "toy_ephys"]

#: the types' true parameters: membrane time constant (ms), threshold gap R_in · rheobase (mV),
#: input resistance (MΩ), threshold increment per spike (units of v_th), τ_a (ms), refractory
#: steps, maximum spike count. ``Pv`` does not adapt.
TOY_EPHYS_TYPES: dict[str, dict[str, float]] = {
    "Pyr": {"tau_m": 18.0, "gap": 15.0, "r_in": 120.0, "increment": 0.3, "tau_a": 200.0,
            "n_ref": 5, "max_spikes": 20},
    "Sst": {"tau_m": 15.0, "gap": 10.0, "r_in": 250.0, "increment": 0.1, "tau_a": 1000.0,
            "n_ref": 4, "max_spikes": 30},
    "Pv": {"tau_m": 8.0, "gap": 14.0, "r_in": 150.0, "increment": 0.0, "tau_a": 2000.0,
           "n_ref": 3, "max_spikes": 60},
}  # fmt: skip


def toy_ephys(
    *,
    n_per_type: int = 8,
    seed: int = 0,
    jitter: float = 0.1,
    types: Mapping[str, Mapping[str, float]] | None = None,
    options: FitOptions | None = None,
) -> pd.DataFrame:
    """Cells simulated from known parameters, one row each, with a ``type`` label and ``cell id``.

    ``jitter`` is the σ of the log-normal per-cell spread of τ_m, the gap and the input
    resistance (adaptation and refractory period are the type's, so that they can be recovered
    exactly). The true parameters are in ``df.attrs["truth"]``.

    Examples
    --------
    >>> df = toy_ephys(n_per_type=2)
    >>> df["type"].tolist()
    ['Pyr', 'Pyr', 'Sst', 'Sst', 'Pv', 'Pv']
    >>> bool((df.loc[df["type"] == "Pv", "Spike frequency adaptation"] >= 0.95).all())
    True
    """
    spec = {k: dict(v) for k, v in (types or TOY_EPHYS_TYPES).items()}
    rng = np.random.default_rng(seed)
    opt = options or FitOptions()
    rows = []
    for name, p in spec.items():
        for i in range(int(n_per_type)):
            j = np.exp(jitter * rng.standard_normal(3))
            tau_m, gap, r_in = p["tau_m"] * j[0], p["gap"] * j[1], p["r_in"] * j[2]
            alpha = np.exp(-1.0 / tau_m)
            rows.append({
                "cell id": f"{name}_{i}", "type": name, "tau_m": tau_m, "r_in": r_in,
                # the current that charges the membrane by the gap within the step
                "rheobase": gap / (r_in * 1e-3 * (1 - alpha**opt.duration)),
                "increment": p["increment"], "tau_a": p["tau_a"], "n_ref": p["n_ref"],
                "max_spikes": p["max_spikes"], "ap_width": p["n_ref"] / 5.0,
            })  # fmt: skip
    cells = pd.DataFrame(rows)
    sim = simulate_features(
        tau_m=cells["tau_m"], tau_a=cells["tau_a"], increment=cells["increment"],
        n_ref=cells["n_ref"], max_spikes=cells["max_spikes"], rheobase=cells["rheobase"],
        options=opt,
    )  # fmt: skip
    out = pd.DataFrame({"cell id": cells["cell id"], "type": cells["type"]})
    for role, column in FIT_FEATURES.items():
        out[column] = (
            sim[role].to_numpy() if role in ("sfa", "isi_index", "latency") else cells[role]
        )
    out.attrs["truth"] = {k: dict(v) for k, v in spec.items()}
    return out
