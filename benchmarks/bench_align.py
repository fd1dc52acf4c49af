"""Speed of ``neuromod align``'s scoring: every arm on one network and batch (docs/design.md,
"Gradient alignment").

One *unit* is one seed × batch × checkpoint: a forward pass, BPTT's gradient, the e-prop backward
pass for K + 2 learning signals (``neuromod_models.alignment._multi_backward``) and the Gram
algebra that turns them into every arm's cosine. Evidence accumulation at its default T = 2000,
B = 64, N = 100, one thread, a K = 5 structure (all 5! − 1 = 119 label permutations, 99 grid
shuffles: 224 arms) unless ``--structure`` gives another. For comparison: one fused MDGL backward
pass (what scoring one arm by running its rule costs) and one reference-training iteration.

    python benchmarks/bench_align.py                     # 5 timed units
    python benchmarks/bench_align.py --structure S.npz --units 10

Writes ``benchmarks/results/align.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def synthetic_structure(k: int = 5, seed: int = 0):
    """A K-type structure (3 excitatory types, the rest inhibitory) with a random sparse gate."""
    from neuromod_data.structure import CellTypeStructure

    rng = np.random.default_rng(seed)
    mod = rng.random((3, k, k)) * (rng.random((3, k, k)) < 0.5)
    signs = np.array([1 if a < 3 else -1 for a in range(k)])
    return CellTypeStructure(
        names=tuple(f"t{a}" for a in range(k)),
        abundances=np.array([0.35, 0.25, 0.2, 0.12, 0.08][:k]),
        signs=signs,
        modulation=mod,
        pairs=("p", "q", "r"),
    )


def _best_median(fn, reps: int) -> tuple[float, float]:
    fn()  # warm-up: numba compilation or cache load, page faults
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def measure(structure, *, units: int, batch_size: int = 64, n_rec: int | None = None) -> dict:
    from neuromod_models import SpikingNetwork, make_rule
    from neuromod_models import alignment as al
    from neuromod_models.tasks import make_task
    from neuromod_models.training import train

    task = make_task("evidence_accumulation")
    kw = task.network_kwargs()
    if n_rec is not None:
        kw.update(n_rec=n_rec, n_adaptive=n_rec // 2)
    net = SpikingNetwork(**kw, structure=structure, seed=0)
    arms = al.make_arms(structure)
    batches = [task.sample(batch_size, seed=100 + i) for i in range(units + 1)]
    it = iter(batches * 10)

    def unit():
        b = next(it)
        al.score_arms(net, b.x, task.loss_fn(b), arms)

    b0 = batches[0]
    x = b0.x.to(net.theta_rec.dtype)
    lf = task.loss_fn(b0)

    def part_forward():
        al._forward(net, x, lf, None)

    def part_bptt():
        al._bptt_grads(net, x, lf, None)

    fwd = al._forward(net, x, lf, None)
    syn, til = net.synapses, net.synapses.tiled()
    k = net.n_types
    types = net.type_index.numpy().astype(np.int64)
    w = net.w_rec_values.detach().double().numpy()
    p = net.params

    def part_kernel():
        g_rec = np.zeros((syn.nnz, k + 2))
        g_in = np.zeros((net.n_in, syn.n, k + 2))
        al._kernel()(
            x.numpy(), fwd.z.numpy(), fwd.psi.numpy(), fwd.gy.numpy(),
            net.w_out.detach().numpy(), fwd.gzc.double().numpy(),
            p.alpha.double().numpy(), p.rho.double().numpy(), p.beta.double().numpy(),
            p.v_th.double().numpy(), float(net.kappa), syn.indptr.numpy(), syn.post.numpy(),
            til.in_indptr.numpy(), til.in_pre.numpy(),
            np.ascontiguousarray(w[til.in_syn.numpy()]), types, int(k), False, g_rec, g_in,
        )  # fmt: skip

    def one_rule():
        net.zero_grad(set_to_none=True)
        make_rule("mdgl", gate="data").backward(net, x, lf)

    out = {
        "n_rec": net.n_rec,
        "synapses": syn.nnz,
        "types": k,
        "arms": len(arms),
        "T": task.T,
        "B": batch_size,
    }
    out["unit"] = _best_median(unit, units)
    out["forward"] = _best_median(part_forward, 3)
    out["bptt"] = _best_median(part_bptt, 3)
    out["kernel"] = _best_median(part_kernel, 3)
    out["one_rule"] = _best_median(one_rule, 3)
    ref = SpikingNetwork(**kw, structure=structure, seed=0)
    seconds = []
    train(ref, make_rule("mdgl", gate="ones"), task, iterations=21, batch_size=batch_size,
          validate_every=1000, threads=None, progress=False, figure=False,
          callback=lambda i, _r: seconds.append(time.perf_counter()))  # fmt: skip
    out["train_iteration"] = float(np.median(np.diff(seconds)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--structure",
        action="append",
        default=[],
        help="a CellTypeStructure .npz (repeatable; default: synthetic, K = 5)",
    )
    ap.add_argument("--units", type=int, default=5, help="timed units (default 5)")
    ap.add_argument("--n-rec", type=int, default=None, help="neurons (default: the task's, 100)")
    ap.add_argument("--out", default=str(HERE / "results" / "align.md"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)  # a benchmark script: the process is ours
    from neuromod_data.structure import CellTypeStructure

    cases = [(p, CellTypeStructure.load(p)) for p in args.structure] or [
        ("synthetic K = 5", synthetic_structure())
    ]
    load0 = os.getloadavg()[0]
    t_start = time.time()
    results = [(name, measure(st, units=args.units, n_rec=args.n_rec)) for name, st in cases]
    load1 = os.getloadavg()[0]
    grid = 20 * 5 * 4
    r0 = results[0][1]
    lines = [
        "# Gradient alignment: scoring speed",
        "",
        f"Generated by `python benchmarks/bench_align.py` on "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"({(time.time() - t_start) / 60:.1f} min).",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"{platform.system()} {platform.release()}; 1-min load average {load0:.1f} at the start, "
        f"{load1:.1f} at the end (the machine is shared with other jobs: the times include "
        "their interference).",
        f"- Python {platform.python_version()}, torch {torch.__version__}, one thread.",
        f"- Evidence accumulation, T = {r0['T']}, B = {r0['B']}, N = {r0['n_rec']}; the arms are "
        "eprop, ones, ei, data, every label permutation (K ≤ 7) or 999 random ones, 99 grid "
        "shuffles, uniform, exact.",
        "- One unit = one seed × batch × checkpoint with every arm scored (`score_arms`); after "
        "one untimed warm-up, the best and the median of the timed repetitions (s). Its parts: "
        "the forward pass (spikes, ψ, ∂E/∂y), BPTT's gradient (fused), e-prop's backward pass "
        "for the K + 2 learning signals. *One rule*: one fused MDGL backward pass (what scoring "
        "one arm by running its own rule costs). *Train it.*: median reference-training "
        "iteration (MDGL, gate ones).",
        "",
        "| structure | K | synapses | arms | unit (best) | unit (median) | forward | BPTT "
        "| K + 2 signals | one rule | train it. | 400 units, CPU-min | own rules instead |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        naive = r["arms"] * r["one_rule"][0] + r["bptt"][0]
        lines.append(
            f"| {name} | {r['types']} | {r['synapses']} | {r['arms']} | {r['unit'][0]:.3f} | "
            f"{r['unit'][1]:.3f} | {r['forward'][0]:.3f} | {r['bptt'][0]:.3f} | "
            f"{r['kernel'][0]:.3f} | {r['one_rule'][0]:.3f} | {r['train_iteration']:.3f} | "
            f"**{grid * r['unit'][1] / 60:.1f}** | {naive:.1f} s/unit "
            f"({naive / r['unit'][0]:.0f}×) |"
        )
    lines += [
        "",
        f"*400 units, CPU-min*: 20 seeds × 5 batches × 4 checkpoints = {grid} units at the median "
        "time (goal: ≤ 30 CPU-minutes), without the reference training, which costs about "
        "1,000 × *train it.* per seed for the checkpoints 0, 250, 500, 1000. *Own rules instead*: "
        "every arm scored by running its own rule, arms × one rule + BPTT, per unit.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
