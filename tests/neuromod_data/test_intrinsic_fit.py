"""Per-type parameters fitted to recordings: recovery on the toy table, and the real M1 files fitted
and checked against an independent simulation of the documented equations (the torch neuron)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neuromod_data.datasets.toy_ephys import TOY_EPHYS_TYPES, toy_ephys
from neuromod_data.ephys import read_ephys
from neuromod_data.errors import CellTypeError
from neuromod_data.intrinsic_fit import fit_intrinsic
from neuromod_data.structure import CellTypeStructure
from neuromod_models import initial_state, make_parameters, step

FAMILIES = ["ET", "IT", "NP", "Pvalb", "Sst"]
SFA, MAXAP, TAU = "Spike frequency adaptation", "Max number of APs", "Membrane time constant (ms)"


def torch_sfa_at_count(values: dict[str, np.ndarray], targets: np.ndarray) -> np.ndarray:
    """SFA of each type's neuron (the structure's type values, the torch step of neuromod_models)
    on the 600-ms step whose spike count first reaches the target: bisection on the drive."""
    k = len(targets)
    p = make_parameters(
        k, tau_m=torch.tensor(values["tau_m"]), tau_a=torch.tensor(values["tau_a"]),
        beta=torch.tensor(values["beta"]), v_th=torch.tensor(values["v_th"]),
        n_ref=torch.tensor(values["n_ref"]), dtype=torch.float64,
    )  # fmt: skip

    def run(drive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = initial_state(1, k, dtype=torch.float64)
        cur = torch.tensor(drive, dtype=torch.float64)[None, :]
        n1 = np.zeros(k)
        n2 = np.zeros(k)
        for t in range(600):
            s, _ = step(s, cur, p)
            (n1 if t < 300 else n2)[:] += s.z[0].numpy()
        return n1, n2

    lo = values["v_th"].copy()  # never spikes at v_th (the membrane approaches it from below)
    hi = values["v_th"] * 64
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        n1, n2 = run(mid)
        reached = n1 + n2 >= targets
        hi = np.where(reached, mid, hi)
        lo = np.where(reached, lo, mid)
    n1, n2 = run(hi)
    return n2 / n1


def test_toy_types_recovered():
    cells = toy_ephys(n_per_type=8, seed=3, jitter=0.1)
    ip, val, per_cell = fit_intrinsic(cells, "type", min_cells=5)
    v = ip.values()
    # v_th against the gaps computed by hand: 0.01 × (type's median gap) / (median gap of all)
    alpha = np.exp(-1.0 / cells["Membrane time constant (ms)"])
    gap = cells["Input resistance (MOhm)"] * cells["Rheobase (pA)"] * 1e-3 * (1 - alpha**600)
    want = 0.01 * gap.groupby(cells["type"]).median() / gap.median()
    np.testing.assert_allclose(v["v_th"], want.loc[list(ip.types)].to_numpy(), rtol=1e-9)
    tau = cells.groupby("type")["Membrane time constant (ms)"].median()
    np.testing.assert_allclose(v["tau_m"], tau.loc[list(ip.types)].to_numpy(), rtol=1e-12)
    for i, t in enumerate(ip.types):
        truth = TOY_EPHYS_TYPES[t]
        assert bool(v["adaptive"][i]) == (truth["increment"] > 0), t
        if truth["increment"] > 0:
            inc = val.loc[val["type"] == t, "increment"].iloc[0]
            assert inc == pytest.approx(truth["increment"], rel=0.6), t
            row = val[val["type"] == t].iloc[0]
            assert row["tau_a_lo"] <= truth["tau_a"] <= row["tau_a_hi"], t
        else:
            assert v["beta"][i] == 0 and v["tau_a"][i] == 2000.0
    # validation: every fitted type reproduces its recorded SFA and ISI index closely
    fitted = val[val["feature"].isin(["spike-frequency adaptation", "ISI adaptation index"])]
    assert fitted["error"].abs().max() < 0.1
    assert set(per_cell.columns) >= {"tau_m", "tau_a", "beta", "adaptive", "v_th", "n_ref"}


def test_missing_type_is_named():
    with pytest.raises(CellTypeError, match=r"no cell labelled \['Vip'\]"):
        fit_intrinsic(toy_ephys(n_per_type=2), "type", types=["Pyr", "Vip"], min_cells=1)


@pytest.fixture(scope="module")
def m1(shared_data):
    d = shared_data / "allen_m1_patchseq"
    room_f, room_m = d / "m1_patchseq_ephys_features.csv", d / "m1_patchseq_meta_data.csv"
    warm_f, warm_m = (d / "m1_patchseq_phys_temp_ephys_features.csv",
                      d / "m1_patchseq_phys_temp_meta_data.csv")  # fmt: skip
    with pytest.warns(Warning):
        room = read_ephys(room_f, room_m, labels=["RNA family"])
        warm = read_ephys(warm_f, warm_m, labels=["RNA family"])
    fit = fit_intrinsic(room, "RNA family", warm=warm, types=FAMILIES)

    def by_pandas(f, m):
        return pd.read_csv(f).merge(pd.read_csv(m, sep="\t"), left_on="cell id", right_on="Cell")

    return fit, by_pandas(room_f, room_m), by_pandas(warm_f, warm_m)


def test_m1_temperature_choice_and_factors(m1):
    fit, room, warm = m1
    record = {r["type"]: r for r in fit.intrinsic.meta["temperature"]}
    counts = warm[warm["RNA family"].isin(FAMILIES)].groupby("RNA family").size()
    for t in FAMILIES:
        warm_enough = counts.get(t, 0) >= 5
        assert record[t]["source"].startswith("34 °C" if warm_enough else "25 °C"), t
    assert record["NP"]["source"].startswith("25 °C")  # 2 cells at 34 °C
    # τ_m factor by hand: geometric mean over the types with 5 cells at both temperatures
    shared = [t for t in FAMILIES if counts.get(t, 0) >= 5]
    ratios = [warm.loc[warm["RNA family"] == t, TAU].median()
              / room.loc[room["RNA family"] == t, TAU].median() for t in shared]  # fmt: skip
    factors = {f["role"]: f for f in fit.intrinsic.meta["temperature_factors"]}
    assert factors["tau_m"]["factor"] == pytest.approx(np.exp(np.mean(np.log(ratios))), rel=1e-12)
    assert factors["tau_m"]["factor"] < 1  # warmer membranes are faster
    # NP's τ_m: its room-temperature median × the factor
    np_tau = room.loc[room["RNA family"] == "NP", TAU].median() * factors["tau_m"]["factor"]
    i = fit.intrinsic.types.index("NP")
    assert fit.intrinsic.values()["tau_m"][i] == pytest.approx(np_tau, rel=1e-12)


def test_m1_fitted_neurons_reproduce_the_recorded_adaptation(m1):
    """The structure's type neurons, simulated by the torch step (not the fit's own simulator),
    at each type's median maximum spike count: SFA within 0.10 of the recordings' median, for every
    type with at least 5 cells (the recordings the type was fitted to, by pandas)."""
    fit, room, warm = m1
    s = CellTypeStructure(tuple(FAMILIES), np.ones(5), [1, 1, 1, -1, -1], np.ones((1, 5, 5)),
                          ("x",)).with_intrinsic(fit.intrinsic)  # fmt: skip
    values = s.intrinsic_parameters()
    factors = {f["role"]: f["factor"] for f in fit.intrinsic.meta["temperature_factors"]}
    targets, recorded = [], []
    for t in FAMILIES:
        w = warm[warm["RNA family"] == t]
        if len(w) >= 5:
            targets.append(w[MAXAP].median())
            recorded.append(w[SFA].median())
        else:
            r = room[room["RNA family"] == t]
            assert len(r) >= 5
            targets.append(r[MAXAP].median() * factors["max_spikes"])
            recorded.append(r[SFA].median() * factors["sfa"])
    sfa = torch_sfa_at_count(values, np.round(np.array(targets)))
    err = np.abs(sfa - np.array(recorded))
    assert np.all(err < 0.10), dict(zip(FAMILIES, err.round(3), strict=True))


def test_m1_validation_table_matches_the_parameters(m1):
    fit, _, _ = m1
    val = fit.validation
    assert set(val["type"]) == set(FAMILIES)
    assert set(val["feature"]) == {"spike-frequency adaptation", "ISI adaptation index",
                                   "latency (ms)", "rheobase (pA)", "max spikes", "tau_m (ms)"}  # fmt: skip
    np.testing.assert_allclose(val["error"], val["model"] - val["recorded"])
    # every type that adapts at the type level has β > 0 and the others β = 0
    v = fit.intrinsic.values()
    frac = fit.intrinsic.median[:, fit.intrinsic.params.index("adaptive")]
    assert np.array_equal(v["adaptive"], frac >= 0.5)
    assert np.all((v["beta"] > 0) <= v["adaptive"])
    # the per-cell spread is the spread of the per-cell fits
    cells = fit.cells[fit.cells["RNA family"] == "Sst"]
    j = fit.intrinsic.params.index("tau_m")
    i = fit.intrinsic.types.index("Sst")
    x = np.log(cells.loc[cells["fitted"], "tau_m"])
    assert fit.intrinsic.spread[i, j] == pytest.approx(1.4826 * np.median(np.abs(x - x.median())))


def test_heterogeneous_neurons_keep_the_fitted_increment():
    """Per-neuron draws keep each neuron's threshold increment per spike, δ = β (1 − ρ) / v_th, at
    the type's fitted δ times a log-normal factor of the fitted spread, whatever τ_a and v_th it
    drew (independent draws of β, τ_a and v_th gave increments of 100 v_th and more, and BPTT
    gradients of 1e25 on the M1 network)."""
    ip = fit_intrinsic(toy_ephys(n_per_type=12, seed=4, jitter=0.2), "type", min_cells=5).intrinsic
    k = len(ip.types)
    counts = np.full(k, 4000)
    d = ip.sample(counts, heterogeneity=True, seed=0)
    col = {p: ip.params.index(p) for p in ("beta", "tau_a", "v_th")}
    for i, t in enumerate(ip.types):
        sl = slice(i * 4000, (i + 1) * 4000)
        on = d["adaptive"][sl] & (d["beta"][sl] > 0)
        med = ip.median[i]
        want = med[col["beta"]] * (1 - np.exp(-1 / med[col["tau_a"]])) / med[col["v_th"]]
        if want == 0:
            assert not np.any(d["beta"][sl] > 0), t
            continue
        inc = d["beta"][sl][on] * (1 - np.exp(-1 / d["tau_a"][sl][on])) / d["v_th"][sl][on]
        x = np.log(inc)
        assert np.exp(np.median(x)) == pytest.approx(want, rel=0.05), t
        sigma = ip.spread[i, col["beta"]]
        assert 1.4826 * np.median(np.abs(x - np.median(x))) == pytest.approx(sigma, abs=0.03), t


def test_bptt_gradients_stay_finite_on_a_heterogeneous_fitted_network():
    from neuromod_models import SpikingNetwork, make_rule
    from neuromod_models.tasks import make_task

    fit = fit_intrinsic(toy_ephys(n_per_type=12, seed=4, jitter=0.3), "type", min_cells=5)
    s = CellTypeStructure(fit.intrinsic.types, [6, 2, 2], [1, -1, -1], np.ones((1, 3, 3)), ("x",))
    s = s.with_intrinsic(fit.intrinsic)
    task = make_task("evidence_accumulation")
    batch = task.sample(4, seed=0)
    grads = []
    for het in (False, True):
        net = SpikingNetwork(task.n_in, 60, 2, structure=s, heterogeneity=het, seed=1)
        net.zero_grad()
        make_rule("bptt").backward(net, batch.x, task.loss_fn(batch))
        grads.append(float(net.theta_rec.grad.abs().max()))
    assert np.isfinite(grads).all() and grads[1] < 100 * grads[0]
