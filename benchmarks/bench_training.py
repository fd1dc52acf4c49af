"""Seconds per training iteration and peak memory: our BPTT / e-prop / MDGL / online e-prop against
the same network trained by BPTT in snnTorch and in Norse, and the matrix-product lower bound.

Task: evidence accumulation at the paper's size (B=64, T=2000, N=100, 40 inputs, 2 outputs,
cross-entropy on the last step), plus growth with T (500, 1000, 2000, 4000) and N (100, 400, 1000).
Every case runs in its own subprocess; peak memory is the child's ``ru_maxrss`` after training minus
its ``ru_maxrss`` after setup (imports, network, one input batch), i.e. what the iterations add.
An iteration = forward + gradient + Adam step (+ our sign constraint); one warm-up iteration is not
timed. Denormal floats are flushed to zero in every case (the peers too: without it their decaying
state falls into denormals and they become far slower — DESIGN §6).

Run: ``python benchmarks/bench_training.py`` (writes ``benchmarks/results/training.md``);
``--quick`` for a small smoke run; ``--case NAME --T .. --N .. --B ..`` runs one case and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = {
    "ours_bptt": "ours, BPTT (fused, hand-written backward)",
    "ours_bptt_torch": "ours, BPTT (fused, torch per-step loops: the path CUDA runs)",
    "ours_eprop": "ours, e-prop (fused)",
    "ours_mdgl": "ours, MDGL (fused, local, E/I)",
    "ours_eprop_online": "ours, e-prop online (forward-mode traces)",
    "ours_bptt_autograd": "ours, BPTT by autograd through a plain step loop",
    "snntorch_bptt": "snnTorch, BPTT",
    "norse_bptt": "Norse, BPTT",
    "matmul_bound": "matrix-product bound (3 products/step, forward + backward)",
}


# ------------------------------------------------------------------------- cases (child process)
def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _batch(T: int, B: int, n_in: int, seed: int = 0):
    import torch
    from neuromod_models.tasks import make_task

    if T >= 1250:
        task = make_task("evidence_accumulation", T=T, n_in=n_in)
    else:  # shorter trials: the same cue layout compressed so that it fits
        scale = T / 2000.0
        task = make_task(
            "evidence_accumulation",
            T=T,
            n_in=n_in,
            t_cue=max(int(100 * scale), 1),
            t_interval=max(int(150 * scale), 2),
            recall_duration=max(int(150 * scale), 1),
        )
    b = task.sample(B, seed=seed)
    return task, b.x.contiguous(), b.target, torch


def _ours(
    rule_name: str, T: int, N: int, B: int, iters: int, impl: str | None = None, compiled=True
):
    import torch
    from neuromod_models import SpikingNetwork, _fast, make_rule

    if compiled:
        # numba's one-time load of the compiled kernels (~250 MB of runtime) belongs to setup,
        # like importing torch: run a tiny network once before the baseline is taken
        tiny = SpikingNetwork(3, 8, 2, seed=0)
        make_rule("bptt").backward(tiny, torch.rand(10, 2, 3), lambda y: y[-1].sum())
    else:
        _fast.kernels = lambda: None  # the torch loops, as on CUDA

    task, x, target, _ = _batch(T, B, 40)
    kw = task.network_kwargs()
    kw.update(n_rec=N, n_adaptive=N // 2)
    net = SpikingNetwork(**kw, seed=0)
    online = rule_name == "eprop_online"
    rule = make_rule("eprop" if online else rule_name, online=online, impl=impl)
    opt = torch.optim.Adam(net.parameters(), lr=2.5e-3)

    def loss_fn(y):
        return torch.nn.functional.cross_entropy(y[-1], target)

    def it():
        opt.zero_grad(set_to_none=True)
        rule.backward(net, x, loss_fn)
        opt.step()
        net.apply_constraints()

    return it


def _readout(z_seq, w_out, b_out, kappa):
    import torch

    psp = torch.zeros_like(z_seq[0])
    for zt in z_seq:
        psp = kappa * psp + (1 - kappa) * zt
    # only the last step enters the loss; the filter over all steps is still run (as the model does)
    return psp @ w_out.T + b_out


def _snntorch(T: int, N: int, B: int, iters: int):
    import math

    import snntorch as snn
    import torch
    from snntorch import surrogate

    _, x, target, _ = _batch(T, B, 40)
    alpha = math.exp(-1 / 20.0)
    kappa = math.exp(-1 / 20.0)
    v_th = 0.01

    class Net(torch.nn.Module):
        # LIF only: snnTorch has no adaptive-threshold neuron; no refractory period
        def __init__(self):
            super().__init__()
            self.w_in = torch.nn.Linear(40, N, bias=False)
            self.w_rec = torch.nn.Linear(N, N, bias=False)
            self.w_out = torch.nn.Linear(N, 2)
            self.lif = snn.Leaky(
                beta=alpha,
                threshold=v_th,
                spike_grad=surrogate.triangular(),
                reset_mechanism="subtract",
            )

        def forward(self, x):
            mem = self.lif.init_leaky()
            z = torch.zeros(x.shape[1], N)
            zs = []
            i_in = self.w_in(x)  # all steps at once, as in our code
            for it in i_in.unbind(0):
                z, mem = self.lif((1 - alpha) * (it + self.w_rec(z)), mem)
                zs.append(z)
            return _readout(zs, self.w_out.weight, self.w_out.bias, kappa)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2.5e-3)

    def it():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), target)
        loss.backward()
        opt.step()

    return it


def _norse(T: int, N: int, B: int, iters: int):
    import math

    import torch
    from norse.torch import LSNNParameters, LSNNRecurrent

    _, x, target, _ = _batch(T, B, 40)
    kappa = math.exp(-1 / 20.0)
    beta = torch.zeros(N)
    beta[N // 2 :] = 1.8 * 0.01  # ALIF half: threshold jump β·v_th per spike (LSNN convention)
    p = LSNNParameters(
        tau_syn_inv=torch.tensor(1000.0),  # dt = 1 ms: the synaptic current lasts one step
        tau_mem_inv=torch.tensor(1 / 0.020),
        tau_adapt_inv=torch.tensor(1 / 2.0),
        v_th=torch.tensor(0.01),
        beta=beta,
        method="triangle",
        alpha=0.3,
    )

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rec = LSNNRecurrent(40, N, p=p)
            self.w_out = torch.nn.Linear(N, 2)

        def forward(self, x):
            z, _ = self.rec(x)
            return _readout(z.unbind(0), self.w_out.weight, self.w_out.bias, kappa)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2.5e-3)

    def it():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), target)
        loss.backward()
        opt.step()

    return it


def _matmul_bound(T: int, N: int, B: int, iters: int):
    """The arithmetic every BPTT iteration must do: per step the input, recurrent and readout
    products forward, and for each of them the two products of its backward (input and weight
    gradient), in a per-step loop with nothing else."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.rand(T, B, 40, generator=g)
    z = (torch.rand(T, B, N, generator=g) < 0.02).float()
    w_in, w_rec, w_out = torch.randn(N, 40), torch.randn(N, N), torch.randn(2, N)
    gy = torch.randn(B, 2)
    gi = torch.randn(B, N)

    def it():
        xs, zs = x.unbind(0), z.unbind(0)
        for t in range(T):
            xs[t] @ w_in.T
            zs[t] @ w_rec.T
            zs[t] @ w_out.T
        d_in, d_rec, d_out = (
            torch.zeros_like(w_in),
            torch.zeros_like(w_rec),
            torch.zeros_like(w_out),
        )
        for t in range(T - 1, -1, -1):
            d_out += gy.T @ zs[t]
            gi_t = gy @ w_out + gi @ w_rec
            d_rec += gi.T @ zs[t]
            d_in += gi_t.T @ xs[t]

    return it


def run_case(
    case: str, T: int, N: int, B: int, iters: int, threads: int | None, warmup: bool = True
) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    builders = {
        "ours_bptt": lambda: _ours("bptt", T, N, B, iters),
        "ours_eprop": lambda: _ours("eprop", T, N, B, iters),
        "ours_mdgl": lambda: _ours("mdgl", T, N, B, iters),
        "ours_eprop_online": lambda: _ours("eprop_online", T, N, B, iters),
        "ours_bptt_autograd": lambda: _ours("bptt", T, N, B, iters, impl="autograd"),
        "ours_bptt_torch": lambda: _ours("bptt", T, N, B, iters, compiled=False),
        "snntorch_bptt": lambda: _snntorch(T, N, B, iters),
        "norse_bptt": lambda: _norse(T, N, B, iters),
        "matmul_bound": lambda: _matmul_bound(T, N, B, iters),
    }
    step = builders[case]()
    base = _maxrss_mb()
    if warmup:
        step()  # first-call allocations and imports — counted in peak memory, not in time
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {
        "case": case,
        "T": T,
        "N": N,
        "B": B,
        "iters": iters,
        "threads": torch.get_num_threads(),
        "warmup": warmup,
        "s_per_it": sorted(times)[len(times) // 2],
        "s_per_it_min": min(times),
        "peak_mb": _maxrss_mb() - base,
        "baseline_mb": base,
    }


# --------------------------------------------------------------------------- driver (parent)
def _child(case, T, N, B, iters, threads, timeout, warmup=True):
    cmd = [
        sys.executable,
        __file__,
        "--case",
        case,
        "--T",
        str(T),
        "--N",
        str(N),
        "--B",
        str(B),
        "--iters",
        str(iters),
    ]
    if threads:
        cmd += ["--threads", str(threads)]
    if not warmup:
        cmd += ["--no-warmup"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": case, "T": T, "N": N, "B": B, "error": f"over {timeout} s"}
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"]
        return {"case": case, "T": T, "N": N, "B": B, "error": tail[0][:120]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:
        ram = "?"
    return f"{os.cpu_count()} cores, {cpu}, {ram} RAM, {platform.system()} {platform.release()}"


def _versions() -> str:
    out = [f"Python {platform.python_version()}"]
    for mod in ("torch", "snntorch", "norse"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001 - a missing peer is reported, not fatal
            out.append(f"{mod} (not installed)")
    return ", ".join(out)


def _fmt(r: dict, key: str, fmt: str) -> str:
    if "error" in r:
        return "—"
    return format(r[key], fmt)


def _goals(ref: dict) -> list[str]:
    def get(c):
        r = ref.get(c)
        return None if r is None or "error" in r else r

    out = ["", "## Goals of the issue", ""]
    bp, md = get("ours_bptt"), get("ours_mdgl")
    snn, nor, mm = get("snntorch_bptt"), get("norse_bptt"), get("matmul_bound")
    if md:
        ok = md["peak_mb"] < 1024
        out.append(
            f"- MDGL peak memory under 1 GB: {md['peak_mb']:.0f} MB — {'met' if ok else 'NOT met'} "
            "(the authors' code needs ~60 GB at this size)."
        )
    if md and bp:
        q = md["s_per_it_min"] / bp["s_per_it_min"]
        out.append(
            f"- MDGL ≤ 1.5× our BPTT per iteration: {q:.2f}× — {'met' if q <= 1.5 else 'NOT met'}."
        )
    for peer, name in ((snn, "snnTorch"), (nor, "Norse")):
        if peer and bp:
            q = bp["s_per_it_min"] / peer["s_per_it_min"]
            out.append(
                f"- Our BPTT ≤ ½ of {name}'s time: {q:.2f}× — {'met' if q <= 0.5 else 'NOT met'}."
            )
    if mm and bp:
        out.append(
            f"- Our BPTT vs the matrix-product bound: {bp['s_per_it_min'] / mm['s_per_it_min']:.1f}× "
            f"({bp['s_per_it_min']:.3f} s vs {mm['s_per_it_min']:.3f} s)."
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=list(CASES))
    ap.add_argument("--T", type=int, default=2000)
    ap.add_argument("--N", type=int, default=100)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per case (default 1: on a shared 2-core machine more "
        "threads only add synchronisation to the many small per-step operations)",
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--no-warmup", action="store_true", help="time the first iteration too")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument(
        "--cold-growth",
        action="store_true",
        help="growth sizes: time the first iteration (no warm-up; faster, but first-call page "
        "faults and allocations land in the time)",
    )
    ap.add_argument("--timeout", type=int, default=900, help="seconds per case")
    ap.add_argument("--out", default=str(HERE / "results" / "training.md"))
    ap.add_argument(
        "--note", default="", help="a line about the conditions, written into the report"
    )
    args = ap.parse_args()
    if args.case:
        r = run_case(
            args.case, args.T, args.N, args.B, args.iters, args.threads, not args.no_warmup
        )
        print(json.dumps(r))
        return

    B = 8 if args.quick else 64
    T0 = 300 if args.quick else 2000
    iters = 1 if args.quick else args.iters
    t_start = time.time()
    args.load_start = os.getloadavg()[0]
    main_rows = []
    for case in CASES:
        r = _child(case, T0, 100, B, iters, args.threads, args.timeout)
        print(json.dumps(r), flush=True)
        main_rows.append(r)
    scaling = []
    if not args.skip_scaling:
        Ts = (150, 300) if args.quick else (500, 1000, 2000, 4000)
        Ns = (100, 200) if args.quick else (100, 400, 1000)
        grid = [(T, 100) for T in Ts] + [(T0, N) for N in Ns if N != 100]
        for T, N in grid:
            for case in CASES:
                if case in ("ours_bptt_autograd", "ours_bptt_torch"):
                    continue
                if (T, N) == (T0, 100):
                    scaling.append(next(r for r in main_rows if r["case"] == case))
                    continue
                if case == "ours_eprop_online" and N >= 400:
                    scaling.append(
                        {
                            "case": case,
                            "T": T,
                            "N": N,
                            "B": B,
                            "error": "skipped (O(B·N²) per step: ~minutes per iteration)",
                        }
                    )
                    continue
                # growth cases: one timed iteration after one warm-up (--cold-growth: no warm-up)
                r = _child(case, T, N, B, 1, args.threads, args.timeout, not args.cold_growth)
                print(json.dumps(r), flush=True)
                scaling.append(r)
    write_report(args.out, main_rows, scaling, B, T0, time.time() - t_start, args)


def write_report(path, main_rows, scaling, B, T0, wall, args) -> None:
    ref = {r["case"]: r for r in main_rows}
    bptt = ref.get("ours_bptt", {}).get("s_per_it_min")
    lines = [
        "# Training speed and memory: evidence accumulation",
        "",
        f"Generated by `python benchmarks/bench_training.py{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({wall / 60:.1f} min).",
        "",
        f"- Machine: {_machine()}. 1-min load average {args.load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores"
        + (
            " (**shared with other jobs while measured: timings are noisy**)."
            if max(args.load_start, os.getloadavg()[0]) > 0.75 * (os.cpu_count() or 1)
            and not getattr(args, "note", "")  # the note says what else ran
            else " (the benchmark's one busy core is the load)."
        ),
        *([f"- {args.note}"] if getattr(args, "note", "") else []),
        f"- Versions: {_versions()}.",
        f"- One iteration = forward + gradient + Adam step at B={B}, 40 inputs, 2 outputs, "
        "cross-entropy on the last step; after one untimed warm-up, the best (fastest) and the median "
        "of the timed iterations. Ratios, goals and growth tables use the best time: it is the "
        "least disturbed by the other jobs on the machine.",
        "- Peak memory = the case's subprocess `ru_maxrss` after training minus after setup (imports, "
        "network, one input batch; for ours also the one-time load of the compiled kernels): what "
        "training adds. *Process* = the whole subprocess's peak (`ru_maxrss`), imports included.",
        "",
        f"## Paper size (B={B}, T={T0}, N=100)",
        "",
        "| case | s / iteration (best) | (median) | × our BPTT | peak memory (MB) | process (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in main_rows:
        ratio = "—" if "error" in r or not bptt else f"{r['s_per_it_min'] / bptt:.2f}"
        err = f" ({r['error']})" if "error" in r else ""
        lines.append(
            f"| {CASES[r['case']]}{err} | {_fmt(r, 's_per_it_min', '.3f')} | "
            f"{_fmt(r, 's_per_it', '.3f')} | {ratio} | "
            f"{_fmt(r, 'peak_mb', '.0f')} | "
            f"{'—' if 'error' in r else format(r['peak_mb'] + r['baseline_mb'], '.0f')} |"
        )
    lines += _goals(ref)
    lines += [
        "",
        "## What differs between the implementations",
        "",
        "- **Ours** (`neuromod_models`): the model of DESIGN §3.2 — 50 LIF + 50 ALIF, refractory "
        "period, Dale's law (W = sign ⊙ relu(θ)), 10 % sparse masks, sign constraint after each "
        'Adam step; fused sequence code with a hand-written backward (`impl="fused"`). On the CPU '
        "the time loops run as compiled numba kernels (`models/_kernels.py`) that use the sparsity "
        "of spikes: the recurrent input of a step adds the weight rows of the ≈1 % of neurons that "
        "spiked, and the recurrent weight gradient is a scatter over spikes. The `torch per-step "
        "loops` row is the same code with the kernels switched off (`NEUROMOD_NUMBA=0`), which is "
        "what runs on CUDA.",
        '- **Plain PyTorch loop** = our autograd reference (`impl="autograd"`): the same model, '
        "one `neurons.step` per time step, gradient by autograd.",
        "- **snnTorch 1.0**: `snn.Leaky` with subtractive reset by the threshold and the input scaled "
        "by (1−α), so the membrane equation is ours; the recurrent product is added per step; "
        "triangular surrogate. snnTorch has no adaptive-threshold neuron, so all 100 neurons are "
        "LIF; no refractory period; dense weights without Dale's law or masks.",
        "- **Norse 1.1**: `LSNNRecurrent` (Bellec's LSNN), β = 0 for the LIF half; triangle "
        "surrogate. Differences it does not let us remove: Euler integration "
        "(v += dt/τ_m·(i − v)) with a synaptic-current variable (set to last one step, τ_syn = dt, "
        "which delays the input by one step), reset to 0 instead of subtracting v_th, threshold "
        "adaptation as a jump per spike; no refractory period; dense weights without Dale's law.",
        "- The peers do less work per step than ours (no refractory bookkeeping, no sign/mask "
        "products), so the comparison does not favour us.",
        "- **Matrix-product bound**: per step the input, recurrent and readout products forward and "
        "the products of their backward (input and weight gradients), dense, in a bare per-step "
        "loop. It bounds any implementation that treats spikes as dense; ours can go below it "
        "because its forward and recurrent weight gradient skip the zeros.",
        f"- Every case: denormal floats flushed to zero, {args.threads or 'default'} torch thread(s), "
        "the same input batch (evidence accumulation) every iteration, data generation not timed.",
    ]
    if scaling:
        cases = [c for c in CASES if c not in ("ours_bptt_autograd", "ours_bptt_torch")]
        for label, key, fmt in (
            ("seconds per iteration", "s_per_it_min", ".3f"),
            ("peak memory (MB)", "peak_mb", ".0f"),
        ):
            lines += [
                "",
                f"## Growth with T and N: {label} (B={B})",
                "",
                f"One timed iteration per size {'without' if args.cold_growth else 'after one'} "
                "warm-up (the paper-size row repeats the table "
                "above); N=1000 at B=64 is memory-heavy for BPTT.",
                "",
                "| T | N | " + " | ".join(c for c in cases) + " |",
                "|---:|---:|" + "---:|" * len(cases),
            ]
            sizes = sorted({(r["T"], r["N"]) for r in scaling}, key=lambda s: (s[1], s[0]))
            for T, N in sizes:
                cells = []
                for c in cases:
                    r = next(
                        (r for r in scaling if r["case"] == c and (r["T"], r["N"]) == (T, N)), None
                    )
                    cells.append("—" if r is None else _fmt(r, key, fmt))
                lines.append(f"| {T} | {N} | " + " | ".join(cells) + " |")
        errs = [r for r in scaling if "error" in r]
        if errs:
            lines += [
                "",
                "Not measured: "
                + "; ".join(f"{r['case']} at T={r['T']}, N={r['N']}: {r['error']}" for r in errs)
                + ".",
            ]
    lines += (
        ["", "## Raw results", "", "```"]
        + [json.dumps(r) for r in main_rows + scaling]
        + ["```", ""]
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE.parent))
    from neuromod_data._files import atomic_path

    with atomic_path(path, suffix=".md") as tmp:
        tmp.write_text("\n".join(lines))
    print(f"→ {path}")


if __name__ == "__main__":
    main()
