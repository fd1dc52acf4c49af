"""Build and run an exported neuromod network in NEST (nest-simulator 3.10, ``eprop_iaf_adapt``).

This file is copied next to ``nest_network.npz`` by ``neuromod export RUN --to nest --out DIR``
(:mod:`neuromod_models.export_nest`) and needs only numpy and NEST, not neuromod::

    python DIR/nest_network.py --input x.npy --out spikes.npz    # x: [T, n_in] spike counts

or, from Python, ``simulate(load(), x)``. Running it resets NEST's kernel (``nest.ResetKernel``):
NEST keeps one simulation per process, so use it in a process of its own.

The model (docs/design.md, "Neuron model"; dt = 1 ms, step ``t``)::

    v^t = α v^{t-1} + (1 − α) (W^in x^t + W^rec z^{t-1}) − v_th z^{t-1}
    b^t = ρ b^{t-1} + (1 − ρ) z^{t-1};   z^t = H(v^t − v_th − β b^t), 0 for n_ref steps after a spike

NEST's ``eprop_iaf_adapt`` (3.10, read from its update loop and checked step by step against
neuromod's :func:`neuromod_models.neurons.step`)::

    v^t = α v^{t-1} + Σ w · (spikes arriving at t)                      (no (1 − α) factor)
    a^t = ρ a^{t-1} + z^{t-1};   z^t = [v^t ≥ V_th + adapt_beta · a^t] and not refractory
    at a spike v^t −= V_th at once (so the next step sees −α V_th), refractory r = t_ref / dt,
    counted down in the spike's own step

so the mapping is:

========================  ============================================================
NEST                      neuromod
========================  ============================================================
``tau_m``                 −dt / ln α  (NEST recomputes α = exp(−dt/τ_m), equal to ~1 ulp)
``V_th``, ``E_L``, ``V_m``  v_th, 0, 0 (model units; ``C_m`` 1 and ``I_e`` 0 are unused)
``adapt_tau``             −dt / ln ρ
``adapt_beta``            β (1 − ρ)  (NEST's a = our b / (1 − ρ))
``t_ref``                 (n_ref + 1) dt  (NEST blocks t_ref/dt − 1 steps after a spike)
weight, delay 1 ms        (1 − α_post) W  (ζ = 1 in NEST: the (1 − α) goes into the weight)
autapse, delay 1 ms       −(1 − α) v_th: NEST's immediate reset subtracts α v_th from the next
                          step, our reset v_th; the autapse adds the missing (1 − α) v_th
input spike at step t     ``spike_generator`` at (t + 1) ms, delay 1 ms, multiplicity = count
spike at NEST time s      our step s − 2
========================  ============================================================

Every neuron is an ``eprop_iaf_adapt`` (β = 0 makes it a LIF neuron); the connections are
``static_synapse``: the network is run, not trained. NEST works in float64: against a network
trained in float32 the sums are rounded differently (see :func:`neuromod_models.export_nest`).
The readout is not a NEST neuron: :func:`readout` filters the spikes as neuromod does,
``psp^t = κ psp^{t−1} + (1 − κ) z^t``, ``y^t = W^out psp^t + b``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

#: the data file this script reads, in its own folder
DATA_NAME = "nest_network.npz"
#: NEST's time of our step 0's spikes (input at (t + 1) ms with a 1-ms delay acts at t + 2)
STEP_OFFSET = 2


def load(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The exported network's arrays (default: ``nest_network.npz`` beside this file)."""
    p = Path(path) if path is not None else Path(__file__).resolve().parent / DATA_NAME
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def nest_parameters(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-neuron ``eprop_iaf_adapt`` parameters (float64) from neuromod's constants."""
    dt = float(data["dt"])
    alpha = data["alpha"].astype(np.float64)
    rho = data["rho"].astype(np.float64)
    return {
        "tau_m": -dt / np.log(alpha),
        "adapt_tau": -dt / np.log(rho),
        "adapt_beta": data["beta"].astype(np.float64) * (1.0 - rho),
        "V_th": data["v_th"].astype(np.float64),
        "t_ref": (data["n_ref"].astype(np.float64) + 1.0) * dt,
    }


def build(nest, data: dict[str, np.ndarray]) -> dict:
    """Create the network in NEST's current kernel: neurons, recurrent synapses with their reset
    autapses, one ``spike_generator`` per input channel and a ``spike_recorder``.

    Returns the node collections (``neurons``, ``inputs``, ``recorder``).
    """
    n, dt = len(data["alpha"]), float(data["dt"])
    alpha = data["alpha"].astype(np.float64)
    par = nest_parameters(data)
    neurons = nest.Create("eprop_iaf_adapt", n)
    common = {"C_m": 1.0, "E_L": 0.0, "V_m": 0.0, "I_e": 0.0, "adaptation": 0.0}
    neurons.set([{**common, **{k: float(v[j]) for k, v in par.items()}} for j in range(n)])
    ids = np.asarray(neurons.tolist())
    zeta = 1.0 - alpha  # our (1 − α) current gain, which NEST leaves to the weight

    def connect(src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> None:
        # NEST's array form of one_to_one wants one weight and one delay per connection
        if len(src):
            spec = {"synapse_model": "static_synapse", "weight": weight,
                    "delay": np.full(len(src), dt)}  # fmt: skip
            nest.Connect(src, dst, {"rule": "one_to_one", "allow_autapses": True}, spec)

    pre, post = data["rec_pre"].astype(np.int64), data["rec_post"].astype(np.int64)
    w = data["w_rec"].astype(np.float64) * zeta[post]
    keep = w != 0  # a cut synapse (θ = 0) carries nothing
    connect(ids[pre[keep]], ids[post[keep]], w[keep])
    # the reset: ours subtracts v_th at the next step, NEST's α v_th; the autapse adds the rest
    connect(ids, ids, -(1.0 - alpha) * data["v_th"].astype(np.float64))
    w_in = data["w_in"].astype(np.float64) * zeta[:, None]  # [N, n_in]
    inputs = nest.Create("spike_generator", w_in.shape[1])
    in_ids = np.asarray(inputs.tolist())
    post_in, pre_in = np.nonzero(w_in)
    connect(in_ids[pre_in], ids[post_in], w_in[post_in, pre_in])
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    return {"neurons": neurons, "inputs": inputs, "recorder": recorder}


def simulate(data: dict[str, np.ndarray], x: np.ndarray, *, threads: int = 1) -> np.ndarray:
    """Run one trial: input spike counts ``x`` ``[T, n_in]`` → spikes ``[T, N]`` (uint8).

    Resets NEST's kernel (NEST holds one simulation per process).
    """
    import nest

    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != data["w_in"].shape[1]:
        raise ValueError(f"input must be [T, n_in={data['w_in'].shape[1]}], got {x.shape}")
    dt = float(data["dt"])
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.set(resolution=dt, local_num_threads=int(threads), rng_seed=1)
    net = build(nest, data)
    counts = np.rint(x).astype(np.int64)
    for i, gen in enumerate(net["inputs"]):
        steps = np.flatnonzero(counts[:, i] > 0)
        if not len(steps):  # NEST refuses an empty list of multiplicities
            continue
        gen.set(
            spike_times=((steps + STEP_OFFSET - 1) * dt).tolist(),
            spike_multiplicities=counts[steps, i].tolist(),
        )
    nest.Simulate((x.shape[0] + STEP_OFFSET) * dt)
    ev = net["recorder"].get("events")
    first = int(net["neurons"].tolist()[0])
    t = np.rint(np.asarray(ev["times"]) / dt).astype(np.int64) - STEP_OFFSET
    z = np.zeros((x.shape[0], len(data["alpha"])), dtype=np.uint8)
    ok = (t >= 0) & (t < x.shape[0])
    z[t[ok], np.asarray(ev["senders"], dtype=np.int64)[ok] - first] = 1
    return z


def readout(data: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """The readout ``y`` ``[T, n_out]`` of spikes ``z`` ``[T, N]`` (float64)."""
    kappa = float(data["kappa"])
    psp = np.zeros(z.shape[1])
    y = np.empty((z.shape[0], data["w_out"].shape[0]))
    w_out, b = data["w_out"].astype(np.float64), data["b_out"].astype(np.float64)
    for t in range(z.shape[0]):
        psp = kappa * psp + (1.0 - kappa) * z[t]
        y[t] = w_out @ psp + b
    return y


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run an exported neuromod network in NEST.")
    ap.add_argument("--input", required=True, help=".npy of input spike counts [T, n_in]")
    ap.add_argument("--out", required=True, help=".npz to write: z [T, N] (uint8), y [T, n_out]")
    ap.add_argument("--data", default=None, help=f"the network (default: {DATA_NAME} beside this)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    data = load(args.data)
    z = simulate(data, np.load(args.input, allow_pickle=False), threads=args.threads)
    np.savez(args.out, z=z, y=readout(data, z))
    print(f"{int(z.sum())} spikes of {z.shape[1]} neurons over {z.shape[0]} steps → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
