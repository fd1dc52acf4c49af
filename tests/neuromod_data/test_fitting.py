"""The fit of the model neuron to step-protocol features: its simulator against the torch neuron of
neuromod_models (an independent implementation of the documented equations), features by hand, and
parameter recovery on the package's toy table of known neurons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neuromod_data.datasets.toy_ephys import TOY_EPHYS_TYPES, toy_ephys
from neuromod_data.errors import ColumnError
from neuromod_data.fitting import (
    FitOptions,
    fi_curve,
    fit_cells,
    input_scale,
    simulate_features,
    spike_train,
)
from neuromod_models import initial_state, make_parameters, step


def torch_spikes(drive: float, *, tau_m, tau_a, increment, n_ref, duration=600) -> np.ndarray:
    """Spike steps of one neuron by neuromod_models.neurons.step (float64), v_th = 1."""
    rho = np.exp(-1.0 / tau_a)
    beta = increment / (1 - rho) if increment > 0 else 0.0
    p = make_parameters(1, tau_m=tau_m, tau_a=tau_a, beta=beta, v_th=1.0, n_ref=n_ref,
                        dtype=torch.float64)  # fmt: skip
    s = initial_state(1, 1, dtype=torch.float64)
    current = torch.full((1, 1), float(drive), dtype=torch.float64)
    out = []
    for t in range(duration):
        s, _ = step(s, current, p)
        if float(s.z) > 0.5:
            out.append(t)
    return np.array(out, dtype=int)


@pytest.mark.parametrize(
    ("drive", "tau_m", "tau_a", "increment", "n_ref"),
    [(1.5, 20.0, 2000.0, 0.0, 5), (3.0, 12.0, 200.0, 0.3, 3), (1.2, 8.0, 50.0, 0.8, 1),
     (6.0, 30.0, 1000.0, 0.05, 7)],
)  # fmt: skip
def test_spike_train_equals_the_torch_neuron(drive, tau_m, tau_a, increment, n_ref):
    ref = torch_spikes(drive, tau_m=tau_m, tau_a=tau_a, increment=increment, n_ref=n_ref)
    n1, n2, t1, t2, t3 = spike_train(drive, tau_m=tau_m, tau_a=tau_a, increment=increment,
                                     n_ref=n_ref)  # fmt: skip
    assert ref.size >= 3
    assert (n1, n2) == (int((ref < 300).sum()), int((ref >= 300).sum()))
    assert (t1, t2, t3) == tuple(ref[:3])


def test_rheobase_is_the_documented_threshold():
    # v_t = I (1 - alpha^(t+1)): the neuron spikes within T steps iff I > 1 / (1 - alpha^T)
    tau = 40.0
    rheo = 1 / (1 - np.exp(-600 / tau))
    assert sum(spike_train(rheo * (1 - 1e-6), tau_m=tau)[:2]) == 0
    assert sum(spike_train(rheo * (1 + 1e-6), tau_m=tau)[:2]) >= 1
    counts = fi_curve([0.0, 99.0, 101.0, 400.0], rheobase_pa=100.0, tau_m=tau)
    assert counts[0] == counts[1] == 0 and 0 < counts[2] < counts[3]


def test_input_scale_by_hand():
    # 250 MΩ × 40 pA = 10 mV, charged for 600 ms with τ_m = 100 ms: 10 (1 - e^-6)
    assert float(input_scale(250.0, 40.0, 100.0)) == pytest.approx(10 * (1 - np.exp(-6)), rel=1e-12)


def test_simulated_features_by_hand():
    opt = FitOptions()
    tau_m, tau_a, inc, n_ref, rheo_pa, target = 15.0, 300.0, 0.2, 3, 80.0, 25
    f = simulate_features(tau_m=tau_m, tau_a=tau_a, increment=inc, n_ref=n_ref,
                          max_spikes=target, rheobase=rheo_pa).iloc[0]  # fmt: skip
    rheo = 1 / (1 - np.exp(-opt.duration / tau_m))
    # the drive reaches the target count and a slightly smaller one does not
    ref = torch_spikes(f["drive"] * rheo, tau_m=tau_m, tau_a=tau_a, increment=inc, n_ref=n_ref)
    assert ref.size >= target
    below = spike_train(f["drive"] * rheo * (1 - 1e-4), tau_m=tau_m, tau_a=tau_a,
                        increment=inc, n_ref=n_ref)  # fmt: skip
    assert sum(below[:2]) < target
    assert f["sfa"] == pytest.approx((ref >= 300).sum() / (ref < 300).sum())
    # ISI index: median of ISI2/ISI1 over the first five 20-pA steps above rheobase with 3 spikes
    ratios, latency = [], None
    for k in range(1, 200):
        s = torch_spikes(rheo * (1 + k * 20.0 / rheo_pa), tau_m=tau_m, tau_a=tau_a,
                         increment=inc, n_ref=n_ref)  # fmt: skip
        if k == 1:
            latency = s[0] + 1
        if s.size >= 3:
            ratios.append((s[2] - s[1]) / (s[1] - s[0]))
        if len(ratios) == 5:
            break
    assert f["isi_index"] == pytest.approx(np.median(ratios))
    assert f["latency"] == latency


def test_more_adaptation_fewer_late_spikes():
    f = simulate_features(tau_m=15.0, tau_a=500.0, increment=[0.0, 0.05, 0.2, 0.6], n_ref=3,
                          max_spikes=30, rheobase=100.0)  # fmt: skip
    assert f["sfa"].iloc[0] >= 0.95
    # at a fixed spike count, adaptation moves spikes to the first half (until the split
    # saturates) and stretches the second ISI against the first
    assert np.all(np.diff(f["sfa"].to_numpy()) <= 0) and f["sfa"].iloc[-1] < 0.5
    assert np.all(np.diff(f["isi_index"].to_numpy()) >= 0) and f["isi_index"].iloc[-1] > 1.2


@pytest.fixture(scope="module")
def toy():
    return toy_ephys(n_per_type=6, seed=1, jitter=0.15)


def test_parameter_recovery_per_cell(toy):
    """Cells simulated with known parameters are fitted back: the non-adapting type is found
    non-adapting, the adapting types adapting with their increment within one grid step and
    their τ_a inside the reported range."""
    n_ref = toy["AP width (ms)"] * 5.0  # the toy's width encodes its refractory period
    fit = fit_cells(toy, n_ref=n_ref)
    assert fit["fitted"].all()
    grid = np.array(FitOptions().increments[1:])
    step_ratio = grid[1] / grid[0]
    for name, truth in TOY_EPHYS_TYPES.items():
        mine = fit[toy["type"] == name]
        if truth["increment"] == 0:
            assert not mine["adaptive"].any(), name
            assert mine["tau_a"].isna().all()
            continue
        assert mine["adaptive"].all(), name
        ratio = mine["increment"] / truth["increment"]
        assert ((ratio <= step_ratio**1.5) & (ratio >= step_ratio**-1.5)).all(), (name, ratio)
        assert ((mine["tau_a_lo"] <= truth["tau_a"]) & (mine["tau_a_hi"] >= truth["tau_a"])).all()
        # the fitted neuron reproduces the features it was fitted to
        rec = toy.loc[mine.index, "Spike frequency adaptation"]
        assert np.abs(mine["sfa_model"] - rec).max() < 0.05


def test_features_missing_are_not_fitted_and_bad_columns_named(toy):
    t = toy.copy()
    t.loc[t.index[0], "Rheobase (pA)"] = -5.0  # impossible: missing
    fit = fit_cells(t, n_ref=3)
    assert not fit["fitted"].iloc[0] and fit["fitted"].iloc[1:].all()
    assert np.isnan(fit["increment"].iloc[0])
    with pytest.raises(ColumnError, match=r"mine.csv: feature column\(s\) \['Rheobase \(pA\)'\]"):
        fit_cells(t.drop(columns=["Rheobase (pA)"]), n_ref=3, where="mine.csv")


def test_fit_options_are_checked():
    with pytest.raises(ValueError, match="include 0"):
        FitOptions(increments=(0.1, 0.2))
    with pytest.raises(ValueError, match="duration"):
        FitOptions(duration=5)
    assert FitOptions().to_dict()["duration"] == 600
    assert isinstance(pd.Series(FitOptions().tau_a).sum(), float)


# ---------------------------------------------------------- issue 24: units checked before work
@pytest.mark.parametrize("cells_in_s", ["all", "half"])
def test_the_fit_refuses_time_constants_in_seconds(cells_in_s):
    """The fit simulates the neuron with the recorded τ_m: in seconds it would be clipped to
    2 ms (the types' values) or simulate a neuron of 0.015 steps; refused, naming the column."""
    from neuromod_data.errors import DataValueError
    from neuromod_data.intrinsic_fit import fit_intrinsic

    cells = toy_ephys(seed=0)
    col = "Membrane time constant (ms)"
    rows = cells.index if cells_in_s == "all" else cells.index[::2]
    cells.loc[rows, col] = cells.loc[rows, col] / 1000
    with pytest.raises(
        DataValueError, match=r"'Membrane time constant \(ms\)'.*look like s, not ms"
    ):
        fit_cells(cells, n_ref=3)
    with pytest.raises(DataValueError, match=r"'Membrane time constant \(ms\)'.*look like s"):
        fit_intrinsic(cells, "type", min_cells=3)
