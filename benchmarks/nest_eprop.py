"""NEST's e-prop as a peer: the authors' evidence-accumulation task trained by NEST 3.10's e-prop
and by ours (e-prop and MDGL), the same sizes, one run each, side by side.

* Task: ours (``neuromod_models.tasks``, docs/design.md "Evidence accumulation"): 40 input
  channels, 7 cues, T = 2000 steps of 1 ms, B = 64 trials per iteration. Every side trains on the
  same trials: iteration ``i`` is ``task.sample(64, seed=i)`` (NEST receives those spikes, counts
  of 2 in a step clipped to 1, as NEST's example feeds booleans).
* Network: 100 neurons, 50 LIF and 50 ALIF, 2 outputs.
  - NEST: the design of NEST's documented example
    ``eprop_supervised_classification_evidence-accumulation_bsshslm_2020`` (written anew here from
    its documentation): ``eprop_iaf_bsshslm_2020`` / ``eprop_iaf_adapt_bsshslm_2020`` neurons
    (v_th 0.6, τ_m 20 ms, τ_a 2000 ms, β 1.7 in the example's scaling, t_ref 5 ms), dense
    all-to-all e-prop synapses initialised as the example does, two
    ``eprop_readout_bsshslm_2020`` neurons with a softmax cross-entropy averaged over the last
    150 ms of each trial, Adam with η = 5e-3, firing-rate regularisation (c_reg 300, 10 Hz), the
    64 trials simulated one after another and their gradients averaged.
  - ours: the paper's network (81 E / 19 I, 10 % sparse connections, Dale's law), fused e-prop
    (symmetric feedback) and local MDGL, cross-entropy on the last step, Adam with lr 2.5e-3, no
    regulariser (``neuromod train``'s defaults).
* Measured in a subprocess per side, one thread: seconds per iteration (wall time of each
  iteration: ours forward + gradient + Adam step; NEST ``Simulate`` of the iteration's 64 trials
  including weight updates), *added MB* (``ru_maxrss`` after training minus after setup) and
  *process MB* (the whole peak), the loss after the last iteration (each side's own definition)
  and a common one: the cross-entropy of the softmax readout at the last step of each trial,
  averaged over the last 5 iterations.

Run: ``python benchmarks/nest_eprop.py [--iterations 30]`` (writes
``benchmarks/results/nest_eprop.md``); ``--side nest|eprop|mdgl --json F`` runs one side.
Needs ``pip install -e ".[nest]"`` (NEST, GPL) for the NEST side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _machine import describe  # benchmarks/, the script's own folder

HERE = Path(__file__).resolve().parent
T, B, N_IN, N_REC, N_OUT = 2000, 64, 40, 100, 2
RECALL = 150  # the learning window of NEST's example: the recall cue's last 150 ms
LAST = 5  # iterations the common loss is averaged over
LAG = 5  # steps from a trial's input to NEST's readout window (measured; checked in run_nest)

SIDES = {
    "nest": "NEST 3.10 e-prop (eprop_*_bsshslm_2020, dense, event-driven)",
    "eprop": "ours, e-prop (fused)",
    "mdgl": "ours, MDGL (fused, local)",
}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _batches(iterations: int):
    from neuromod_models.tasks import make_task

    task = make_task("evidence_accumulation")
    for i in range(iterations):
        b = task.sample(B, seed=i)
        yield b.x.numpy(), b.target.numpy()


def _ce_last(y_last: np.ndarray, target: np.ndarray) -> float:
    """Softmax cross-entropy of readouts ``[B, 2]`` against labels ``[B]``."""
    z = y_last - y_last.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(target)), target].mean())


# --------------------------------------------------------------------------- ours (child)
def run_ours(rule_name: str, iterations: int) -> dict:
    import torch
    import torch.nn.functional as F

    from neuromod_models import SpikingNetwork, make_rule
    from neuromod_models.tasks import make_task

    torch.set_num_threads(1)
    task = make_task("evidence_accumulation")
    net = SpikingNetwork(**task.network_kwargs(), seed=0)
    rule = make_rule(rule_name)
    opt = torch.optim.Adam(net.parameters(), lr=2.5e-3)
    # numba's one-time load of the compiled kernels belongs to setup, like importing torch
    tiny = SpikingNetwork(3, 8, 2, seed=0)
    make_rule("bptt").backward(tiny, torch.rand(10, 2, 3), lambda y: y[-1].sum())
    setup_mb = _maxrss_mb()
    seconds, cpu, losses, common = [], [], [], []
    for x, target in _batches(iterations):
        xt, tt = torch.as_tensor(x), torch.as_tensor(target)
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        out = rule.backward(net, xt, lambda y, tt=tt: F.cross_entropy(y[-1], tt))
        opt.step()
        net.apply_constraints()
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        losses.append(float(out.loss))
        common.append(_ce_last(out.y[-1].detach().double().numpy(), target))
    return {"seconds": seconds, "cpu": cpu, "loss": losses, "common": common,
            "setup_mb": setup_mb, "peak_mb": _maxrss_mb(),
            "synapses": int(net.synapses.nnz)}  # fmt: skip


# --------------------------------------------------------------------------- NEST (child)
def run_nest(iterations: int) -> dict:
    import nest

    rng = np.random.default_rng(1)
    nest.ResetKernel()  # this child is NEST's only user
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.set(
        resolution=1.0,
        total_num_virtual_procs=1,
        print_time=False,
        eprop_update_interval=float(T),  # one trial per update interval
        eprop_learning_window=float(RECALL),
        eprop_reset_neurons_on_update=True,
    )
    offset = 1  # generators cannot emit at 0: trial b starts at b·T + 1 ms
    rec = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "V_th": 0.6, "t_ref": 5.0,
           "tau_m": 20.0, "c_reg": 300.0, "f_target": 10.0, "regular_spike_arrival": True,
           "surrogate_gradient_function": "piecewise_linear",
           "surrogate_gradient_height": 0.3 / 0.6, "surrogate_gradient_width": 0.6,
           "flush_event_send_interval": float(T)}  # fmt: skip
    adapt = {**rec, "adapt_tau": 2000.0, "adaptation": 0.0,
             # the example's β = 1.7 in its scaling of the adaptation variable
             "adapt_beta": 1.7 * (1 - np.exp(-1 / 2000.0)) / (1 - np.exp(-1 / 20.0))}  # fmt: skip
    gens = nest.Create("spike_generator", N_IN)
    parrots = nest.Create("parrot_neuron", N_IN)
    lif = nest.Create("eprop_iaf_bsshslm_2020", N_REC // 2, rec)
    alif = nest.Create("eprop_iaf_adapt_bsshslm_2020", N_REC // 2, adapt)
    out = nest.Create(
        "eprop_readout_bsshslm_2020",
        N_OUT,
        {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "V_m": 0.0, "tau_m": 20.0,
         "loss": "cross_entropy", "regular_spike_arrival": False},
    )  # fmt: skip
    targets = nest.Create("step_rate_generator", N_OUT)
    neurons = lif + alif
    mm = nest.Create("multimeter", {"interval": 1.0, "record_from": ["readout_signal"]})

    f32 = np.float32  # the example draws its initial weights as float32
    w_in = np.asarray(rng.standard_normal((N_REC, N_IN)) / np.sqrt(N_IN), f32)
    w_rec = np.asarray(rng.standard_normal((N_REC, N_REC)) / np.sqrt(N_REC), f32)
    np.fill_diagonal(w_rec, 0.0)
    lim = np.sqrt(3.0 / max(1.0, (N_REC + N_OUT) / 2.0))  # Glorot uniform, as the example
    w_out = np.asarray(rng.uniform(-lim, lim, (N_OUT, N_REC)), f32)
    w_fb = np.asarray(rng.standard_normal((N_REC, N_OUT)), f32)
    nest.SetDefaults(
        "eprop_synapse_bsshslm_2020",
        {"optimizer": {"type": "adam", "batch_size": B, "beta_1": 0.9, "beta_2": 0.999,
                       "epsilon": 1e-8, "eta": 5e-3, "Wmin": -100.0, "Wmax": 100.0},
         "average_gradient": True},
    )  # fmt: skip
    eprop = {"synapse_model": "eprop_synapse_bsshslm_2020", "delay": 1.0, "tau_m_readout": 20.0}
    all_to_all = {"rule": "all_to_all", "allow_autapses": False}
    nest.Connect(gens, parrots, "one_to_one", {"synapse_model": "static_synapse", "delay": 1.0})
    nest.Connect(parrots, neurons, all_to_all, {**eprop, "weight": w_in})
    nest.Connect(neurons, neurons, all_to_all, {**eprop, "weight": w_rec})
    nest.Connect(neurons, out, all_to_all, {**eprop, "weight": w_out})
    nest.Connect(out, neurons, "all_to_all",
                 {"synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
                  "delay": 1.0, "weight": w_fb})  # fmt: skip
    nest.Connect(targets, out, "one_to_one",
                 {"synapse_model": "rate_connection_delayed", "delay": 1.0, "receptor_type": 2})  # fmt: skip
    nest.Connect(out, out, all_to_all,  # the softmax's normalisation: each readout the other's
                 {"synapse_model": "rate_connection_delayed", "delay": 1.0, "receptor_type": 1,
                  "weight": 1.0})  # fmt: skip
    nest.Connect(mm, out)
    setup_mb = _maxrss_mb()

    seconds, cpu, losses, common = [], [], [], []
    shift = 4  # the example's target switch: generator, input→rec, rec→out, out→out delays
    for i, (x, target) in enumerate(_batches(iterations)):
        t_iter = i * B * T
        t0, c0 = time.perf_counter(), time.process_time()
        spikes = np.minimum(x, 1).transpose(1, 0, 2).reshape(B * T, N_IN) > 0  # [B·T, n_in]
        spikes[np.arange(B) * T] = False  # no input in a trial's first step (as the example)
        times = np.arange(B * T, dtype=np.float64) + t_iter + offset
        gens.set([{"spike_times": times[spikes[:, c]]} for c in range(N_IN)])
        onehot = np.zeros((N_OUT, B))
        onehot[target, np.arange(B)] = 1.0
        starts = np.arange(B, dtype=np.float64) * T + t_iter + shift
        targets.set([{"amplitude_times": starts, "amplitude_values": onehot[k]}
                     for k in range(N_OUT)])  # fmt: skip
        mm.n_events = 0  # keep one iteration's readout only
        nest.Simulate(float(B * T))
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        ev = mm.get("events")
        # the sample at time t_iter + k is step k of the iteration. The readouts' learning window
        # is shifted by the delays on the way (generator → parrot → neuron → readout → the other
        # readout): trial b's is steps b·T + T − RECALL + LAG … b·T + T + LAG − 1 (nonzero there
        # only), so the last trial's window ends in the next iteration: it is left out (63 of 64)
        sig = np.zeros((N_OUT, B * T))
        k = np.rint(ev["times"]).astype(np.int64) - t_iter
        for j, s in enumerate(out.tolist()):
            sel = (ev["senders"] == s) & (k >= 0) & (k < B * T)
            sig[j, k[sel]] = ev["readout_signal"][sel]
        b = np.arange(B - 1)
        steps = b[:, None] * T + T - RECALL + LAG + np.arange(RECALL)[None, :]  # [B − 1, RECALL]
        p_target = sig[target[b][:, None], steps]  # π of the right answer over each window
        if not (p_target > 0).all():
            raise RuntimeError("NEST's readout window is not where expected (LAG)")
        losses.append(float(-np.mean(np.log(p_target))))  # NEST's loss: CE over the window
        common.append(float(-np.mean(np.log(p_target[:, -1]))))  # CE at the trial's end
    return {"seconds": seconds, "cpu": cpu, "loss": losses, "common": common,
            "setup_mb": setup_mb, "peak_mb": _maxrss_mb(),
            "synapses": N_REC * (N_REC - 1)}  # fmt: skip


# --------------------------------------------------------------------------- driver
def _child(side: str, iterations: int, timeout: float) -> dict:
    out = HERE / "results" / f".nest_eprop_{side}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--side", side, "--iterations", str(iterations),
           "--json", str(out)]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, timeout=timeout)
    res = json.loads(out.read_text())
    out.unlink()
    res["wall"] = time.perf_counter() - t0
    return res


def _versions() -> str:
    out = [f"Python {platform.python_version()}"]
    for mod in ("torch", "nest"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001 - a missing peer is reported, not fatal
            out.append(f"{mod} (not installed)")
    return ", ".join(out)


def write_report(path: Path, results: dict, iterations: int, wall: float, load: tuple) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# NEST's e-prop as a peer: evidence accumulation",
        "",
        f"Generated by `python benchmarks/nest_eprop.py --iterations {iterations}` on {now} "
        f"({wall / 60:.1f} min).",
        "",
        f"- Machine: {describe()}. 1-min load average {load[0]:.1f} at the start, "
        f"{load[1]:.1f} at the end (a long experiment grid shares the machine).",
        f"- Versions: {_versions()}.",
        f"- The authors' task at the authors' sizes: N = {N_REC} (50 LIF + 50 ALIF), "
        f"{N_IN} inputs, {N_OUT} outputs, T = {T} ms, B = {B}; {iterations} iterations, one run "
        "per side, the same trials (iteration i: `task.sample(64, seed=i)`), one thread each, "
        "each side in its own subprocess.",
        "- NEST: the design of its documented example (bsshslm_2020 e-prop models, dense, "
        "Adam η = 5e-3, rate regularisation, loss averaged over the last 150 ms). Ours: the "
        "paper's sparse Dale network, loss on the last step, Adam lr = 2.5e-3, no regulariser "
        "(`neuromod train`'s defaults). The two sides' settings are each their own defaults, so "
        "the losses say how far each got, not which rule is better.",
        "- *s / iteration*: wall time, median over the iterations (first one excluded: NEST "
        "builds its connection tables, numba warms up); *CPU s*: the process's CPU time per "
        "iteration, less disturbed by the other work on the machine; *added MB*: `ru_maxrss` after training minus after "
        "setup; *process MB*: the whole process's peak. *Own loss*: the side's training loss at "
        f"the last iteration; *CE at last step*: softmax cross-entropy of the readout at each "
        f"trial's last step, mean of the last {LAST} iterations (the same quantity for every "
        "side; chance is ln 2 = 0.693).",
        "",
        "| side | recurrent synapses | s / iteration (median) | (min) | CPU s / iteration (median) | added MB | process MB | own loss "
        "(last iteration) | CE at last step | first → last iteration's CE at last step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for side, r in results.items():
        s = np.asarray(r["seconds"][1:] or r["seconds"])
        c = np.asarray(r["cpu"][1:] or r["cpu"])
        lines.append(
            f"| {SIDES[side]} | {r['synapses']:,} | {np.median(s):.2f} | {s.min():.2f} | "
            f"{np.median(c):.2f} | "
            f"{r['peak_mb'] - r['setup_mb']:.0f} | {r['peak_mb']:.0f} | {r['loss'][-1]:.3f} | "
            f"{np.mean(r['common'][-LAST:]):.3f} | {r['common'][0]:.3f} → "
            f"{r['common'][-1]:.3f} |"
        )
    if "nest" in results and "eprop" in results:
        cpu = {k: float(np.median(r["cpu"][1:] or r["cpu"])) for k, r in results.items()}
        lines += [
            "",
            f"Per iteration NEST's e-prop took {cpu['nest'] / cpu['eprop']:.0f}× the CPU time of "
            f"our e-prop ({cpu['nest'] / cpu.get('mdgl', np.nan):.0f}× our MDGL's). It "
            "simulates the 64 trials one after another, event by event, with dense e-prop "
            f"synapses ({results['nest']['synapses']:,} recurrent, {N_IN * N_REC:,} input) whose "
            "updates are computed per synapse "
            "from the spike history; ours runs the batch at once on the paper's sparse network "
            f"({results['eprop']['synapses']:,} recurrent synapses, ~10 % of the inputs' pairs) "
            "in the fused kernels. The "
            "losses after the same iterations are each side's own protocol (NEST's example: "
            "twice our learning rate, a rate regulariser, the loss over the whole recall window); "
            "in a short run they say how fast each protocol starts, not where it ends.",
        ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--side", choices=tuple(SIDES))
    ap.add_argument("--json", help="with --side: write the result here")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per side")
    ap.add_argument("--out", default=str(HERE / "results" / "nest_eprop.md"))
    args = ap.parse_args()
    if args.side:
        res = run_nest(args.iterations) if args.side == "nest" else run_ours(args.side,
                                                                              args.iterations)  # fmt: skip
        Path(args.json).write_text(json.dumps(res))
        return
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    results = {}
    for side in SIDES:
        results[side] = _child(side, args.iterations, args.timeout)
        r = results[side]
        print(f"{side}: {np.median(r['seconds'][1:]):.2f} s/iteration, "
              f"{r['peak_mb']:.0f} MB, loss {r['loss'][-1]:.3f}", flush=True)  # fmt: skip
    write_report(Path(args.out), results, args.iterations, time.perf_counter() - t0,
                 (load0, os.getloadavg()[0]))  # fmt: skip


if __name__ == "__main__":
    main()
