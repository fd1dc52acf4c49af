"""Seconds per training iteration and memory: our BPTT / e-prop / MDGL against the same network
trained by BPTT in snnTorch and in Norse, at the paper's size and at the sizes of a network derived
from Allen data.

* Paper size: evidence accumulation, B=64, T=2000, N=100 (the authors' network), 40 inputs,
  2 outputs, cross-entropy on the last step; plus growth with T (500 … 4000).
* Large: N = 1,000 and 4,000 neurons of the M1 Patch-seq families with intrinsic parameters from
  electrophysiology and type-to-type connectivity from Billeh et al. 2020 (what `neuromod graph` +
  `neuromod physiology` make from ../shared/data; the sampled synapses are the realistic sparsity),
  B=64, T=2000. The peers train a dense network of the same size. Where a peer cannot run T=2000
  within the memory or time limit, it is measured at a shorter T and scaled linearly in T (its cost
  per step is constant); the table says so.

Every case runs in its own subprocess. *Added* memory = the child's ``ru_maxrss`` after training
minus after setup (imports, network, input batch); *process* = the child's whole peak. An iteration =
forward + gradient + Adam step (+ our sign constraint); one warm-up iteration is not timed. Denormal
floats are flushed to zero in every case (docs/design.md, "Performance notes").

Run: ``python benchmarks/bench_training.py`` (writes ``benchmarks/results/training.md``; pause other
jobs with ``benchmarks/quiet.sh``); ``--quick`` for a small smoke run; ``--case NAME --T .. --N ..``
runs one case and prints JSON. Peers: ``pip install -e ".[bench]"`` and ``pip install --no-deps norse`` (norse's metadata pulls
torchvision, which would replace a CPU torch with a CUDA build; the extra leaves it out).
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

from _machine import cpu_model  # benchmarks/, the script's own folder

HERE = Path(__file__).resolve().parent
CASES = {
    "ours_bptt": "ours, BPTT (fused, hand-written backward)",
    "ours_eprop": "ours, e-prop (fused)",
    "ours_mdgl": "ours, MDGL (fused, local)",
    "ours_mdgl_nonlocal": "ours, MDGL (fused, non-local)",
    "ours_eprop_online": "ours, e-prop online (forward-mode traces)",
    "ours_bptt_torch": "ours, BPTT (fused, torch per-step loops: the path CUDA runs)",
    "ours_bptt_autograd": "ours, BPTT by autograd through a plain step loop",
    "snntorch_bptt": "snnTorch, BPTT",
    "norse_bptt": "Norse, BPTT",
    "matmul_bound": "matrix-product bound (3 products/step, forward + backward)",
}
#: cases run at the large sizes (the others are paper-size references)
LARGE_CASES = ("ours_bptt", "ours_eprop", "ours_mdgl", "ours_mdgl_nonlocal", "snntorch_bptt",
               "norse_bptt")  # fmt: skip
PEERS = ("snntorch_bptt", "norse_bptt")


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
    rule_name: str,
    T: int,
    N: int,
    B: int,
    iters: int,
    impl: str | None = None,
    compiled: bool = True,
    structure: str | None = None,
    variant: str = "local",
):
    import torch

    from neuromod_data.structure import CellTypeStructure
    from neuromod_models import SpikingNetwork, _fast, make_rule

    if compiled:
        # numba's one-time load of the compiled kernels belongs to setup, like importing torch
        tiny = SpikingNetwork(3, 8, 2, seed=0)
        make_rule("bptt").backward(tiny, torch.rand(10, 2, 3), lambda y: y[-1].sum())
    else:
        _fast.kernels = lambda: None  # the torch loops, as on CUDA

    task, x, target, _ = _batch(T, B, 40)
    if structure:  # the network derived from data: its types, neurons and synapses
        net = SpikingNetwork(40, N, 2, structure=CellTypeStructure.load(structure), seed=0)
    else:
        kw = task.network_kwargs()
        kw.update(n_rec=N, n_adaptive=N // 2)
        net = SpikingNetwork(**kw, seed=0)
    online = rule_name == "eprop_online"
    extra = {"variant": variant} if rule_name == "mdgl" else {}
    rule = make_rule("eprop" if online else rule_name, online=online, impl=impl, **extra)
    opt = torch.optim.Adam(net.parameters(), lr=2.5e-3)

    def loss_fn(y):
        return torch.nn.functional.cross_entropy(y[-1], target)

    def it():
        opt.zero_grad(set_to_none=True)
        rule.backward(net, x, loss_fn)
        opt.step()
        net.apply_constraints()

    it.info = {"synapses": net.synapses.nnz, "density": net.synapses.nnz / N / N}  # type: ignore[attr-defined]
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
    case: str,
    T: int,
    N: int,
    B: int,
    iters: int,
    threads: int | None,
    warmup: bool = True,
    structure: str | None = None,
) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    st = structure
    builders = {
        "ours_bptt": lambda: _ours("bptt", T, N, B, iters, structure=st),
        "ours_eprop": lambda: _ours("eprop", T, N, B, iters, structure=st),
        "ours_mdgl": lambda: _ours("mdgl", T, N, B, iters, structure=st),
        "ours_mdgl_nonlocal": lambda: _ours("mdgl", T, N, B, iters, structure=st,
                                            variant="nonlocal"),
        "ours_eprop_online": lambda: _ours("eprop_online", T, N, B, iters, structure=st),
        "ours_bptt_autograd": lambda: _ours("bptt", T, N, B, iters, impl="autograd", structure=st),
        "ours_bptt_torch": lambda: _ours("bptt", T, N, B, iters, compiled=False, structure=st),
        "snntorch_bptt": lambda: _snntorch(T, N, B, iters),
        "norse_bptt": lambda: _norse(T, N, B, iters),
        "matmul_bound": lambda: _matmul_bound(T, N, B, iters),
    }  # fmt: skip
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
        **getattr(step, "info", {}),
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
def _child_run(case, T, N, B, iters, threads, timeout, warmup=True, structure=None):
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
    if structure:
        cmd += ["--structure", str(structure)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": case, "T": T, "N": N, "B": B, "error": f"over {timeout} s"}
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"]
        return {"case": case, "T": T, "N": N, "B": B, "error": tail[0][:120]}
    return json.loads(r.stdout.strip().splitlines()[-1])


class _Resumable:
    """Measure a case in a subprocess unless a JSON-lines log already holds its result.

    Results are appended as measured (before any scaling to T0); lines printed by the benchmark
    itself (scaled peers carry ``scale``) are unscaled when read.
    """

    def __init__(self, log):
        self.log = Path(log) if log else None
        self.done = {}
        if self.log and self.log.exists():
            for line in self.log.read_text().splitlines():
                if line.strip():
                    r = json.loads(line)
                    if "scale" in r:
                        scale = r["scale"]
                        r = {k: v for k, v in r.items() if k not in ("scale", "T_asked")}
                        r["s_per_it"] /= scale
                        r["s_per_it_min"] /= scale
                    self.done[(r["case"], r.get("T_measured", r["T"]), r["N"], r["B"])] = r

    def __call__(self, case, T, N, B, *args, **kwargs):
        key = (case, T, N, B)
        if key in self.done and "error" not in self.done[key]:
            r = dict(self.done[key])
            r.pop("T_measured", None)
            return r
        r = _child_run(case, T, N, B, *args, **kwargs)
        if self.log:
            with self.log.open("a") as fh:
                fh.write(json.dumps({**r, "T_measured": T}) + "\n")
        return r


def _machine() -> str:
    cpu = cpu_model()
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


def _ok(flag: bool) -> str:
    return "met" if flag else "**not met**"


def _best(rows: list[dict], case: str, N: int, T: int | None = None) -> dict | None:
    for r in rows:
        same_t = T is None or r.get("T_asked", r["T"]) == T
        if r["case"] == case and r["N"] == N and same_t and "error" not in r:
            return r
    return None


def _goals(paper: list[dict], large: list[dict], growth: list[dict], old: dict) -> list[str]:
    out = ["", "## Goals", ""]
    bp, ep, md = (_best(paper, c, 100) for c in ("ours_bptt", "ours_eprop", "ours_mdgl"))
    for r, name in ((bp, "BPTT"), (ep, "e-prop"), (md, "MDGL")):
        if r and name in old:
            out.append(
                f"- Paper size, keep today's speed: our {name} {r['s_per_it_min']:.3f} s/iteration "
                f"against {old[name]:.3f} s before — {_ok(r['s_per_it_min'] <= old[name] * 1.05)}."
            )
    procs = [r["peak_mb"] + r["baseline_mb"] for r in (bp, ep, md) if r]
    if procs:
        out.append(
            f"- Paper size, whole-process peak under 700 MB: {max(procs):.0f} MB (the largest of "
            f"BPTT / e-prop / MDGL) — {_ok(max(procs) < 700)}."
        )
    for n in sorted({r["N"] for r in large}):
        ours = _best(large, "ours_bptt", n)
        peers = [r for r in (_best(large, c, n) for c in PEERS) if r]
        if ours and peers:
            fast = min(peers, key=lambda r: r["s_per_it_min"])
            q = ours["s_per_it_min"] / fast["s_per_it_min"]
            out.append(
                f"- N = {n:,}: our BPTT ≤ 0.25× the faster peer ({CASES[fast['case']].split(',')[0]}"
                f"): {q:.2f}× — {_ok(q <= 0.25)}."
            )
    b1 = _best(large, "ours_bptt", 1000)
    for case, label in (("ours_mdgl", "local"), ("ours_mdgl_nonlocal", "non-local")):
        m1 = _best(large, case, 1000)
        if b1 and m1:
            q = m1["s_per_it_min"] / b1["s_per_it_min"]
            out.append(f"- N = 1,000: MDGL ({label}) ≤ 0.5× our BPTT: {q:.2f}× — {_ok(q <= 0.5)}.")
    for case, label in (("ours_mdgl", "local"), ("ours_mdgl_nonlocal", "non-local")):
        m4 = _best(large, case, 4000)
        if m4:
            out.append(
                f"- N = 4,000: MDGL ({label}) ≤ 10 s/iteration on one core: "
                f"{m4['s_per_it_min']:.1f} s — {_ok(m4['s_per_it_min'] <= 10)}."
            )
    rows = [r for r in large + growth if r["case"].startswith("ours") and "error" not in r]
    if rows:
        per = max(r["peak_mb"] * 2**20 / (r["B"] * r["T"] * r["N"]) for r in rows)
        out.append(
            f"- Memory grows no faster than B·T·N: the added peak is at most {per:.1f} bytes per "
            "(trial, step, neuron) over every size measured (spikes are stored as 1 byte, ψ as one "
            "float, nothing else of that size) — see the tables."
        )
    return out


def _table(rows: list[dict], *, ratio_to: dict | None = None) -> list[str]:
    lines = [
        "| case | T | N | synapses | s / iteration (best) | (median) | × our BPTT | added MB | "
        "process MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ref = (ratio_to or {}).get(r["N"])
        ratio = "—" if "error" in r or not ref else f"{r['s_per_it_min'] / ref:.2f}"
        err = f" ({r['error']})" if "error" in r else ""
        scaled = f" (measured at T={r['T']}, ×{r['scale']:g})" if r.get("scale", 1) != 1 else ""
        syn = f"{r['synapses']:,}" if "synapses" in r else "dense"
        lines.append(
            f"| {CASES[r['case']]}{err}{scaled} | {r.get('T_asked', r['T'])} | {r['N']:,} | {syn} | "
            f"{_fmt(r, 's_per_it_min', '.3f')} | {_fmt(r, 's_per_it', '.3f')} | {ratio} | "
            f"{_fmt(r, 'peak_mb', '.0f')} | "
            f"{'—' if 'error' in r else format(r['peak_mb'] + r['baseline_mb'], '.0f')} |"
        )
    return lines


def derived_structure(folder: Path) -> Path:
    """The M1 Patch-seq families with tissue abundances, intrinsic parameters and connectivity,
    made by the CLI from ../shared/data (the large networks' structure)."""
    data = HERE.parent.parent / "shared" / "data"
    data = Path(os.environ.get("NEUROMOD_SHARED_DATA", data))
    m1 = data / "allen_m1_patchseq"
    out = folder / "m1_derived" / "structure.npz"
    if out.exists():
        return out
    cmds = [
        ["neuromod", "graph", str(m1 / "m1_patchseq_phys_temp_exon_counts.csv.gz"),
         "--metadata", str(m1 / "m1_patchseq_phys_temp_meta_data.csv"), "--groupby", "RNA family",
         "--method", "smith2019", "--abundances", str(m1 / "yao2020_cluster.annotation.csv"),
         "--abundance-via", "RNA type", "--no-figures", "--out", str(folder / "m1_graph")],
        ["neuromod", "physiology", str(folder / "m1_graph" / "structure.npz"),
         "--ephys", str(m1 / "m1_patchseq_ephys_features.csv"),
         "--ephys-metadata", str(m1 / "m1_patchseq_meta_data.csv"), "--label", "RNA family",
         "--connectivity", str(data / "billeh2020_connectivity" / "connectivity_long.csv"),
         "--layer", "Inferred layer", "--no-figures", "--out", str(folder / "m1_derived")],
    ]  # fmt: skip
    for cmd in cmds:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=list(CASES))
    ap.add_argument("--T", type=int, default=2000)
    ap.add_argument("--N", type=int, default=100)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--structure", help="structure.npz of the network (--case only)")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per case (default 1: on a shared 2-core machine more "
        "threads only add synchronisation to the many small per-step operations)",
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--no-warmup", action="store_true", help="time the first iteration too")
    ap.add_argument("--skip-large", action="store_true", help="paper size and growth only")
    ap.add_argument("--timeout", type=int, default=1500, help="seconds per case")
    ap.add_argument(
        "--peer-steps", type=int, default=500,
        help="T at which a peer is measured (and scaled to 2000) at N = 4,000",
    )  # fmt: skip
    ap.add_argument("--out", default=str(HERE / "results" / "training.md"))
    ap.add_argument(
        "--note", default="", help="a line about the conditions, written into the report"
    )
    ap.add_argument(
        "--resume",
        metavar="LOG",
        help="JSON-lines log of results: a case already in it is not measured again, every new "
        "result is appended (an interrupted benchmark continues; delete a line to remeasure it)",
    )
    args = ap.parse_args()
    if args.case:
        r = run_case(
            args.case, args.T, args.N, args.B, args.iters, args.threads, not args.no_warmup,
            args.structure,
        )  # fmt: skip
        print(json.dumps(r))
        return

    B = 8 if args.quick else 64
    T0 = 300 if args.quick else 2000
    iters = 1 if args.quick else args.iters
    t_start = time.time()
    args.load_start = os.getloadavg()[0]
    _child = _Resumable(args.resume)
    paper = []
    for case in CASES:
        r = _child(case, T0, 100, B, iters, args.threads, args.timeout)
        print(json.dumps(r), flush=True)
        paper.append(r)
    growth = []
    for T in (150,) if args.quick else (500, 1000, 4000):
        for case in ("ours_bptt", "ours_eprop", "ours_mdgl"):
            r = _child(case, T, 100, B, 1, args.threads, args.timeout)
            print(json.dumps(r), flush=True)
            growth.append(r)
    large = []
    if not args.skip_large:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            st = derived_structure(Path(tmp))
            for N in (200,) if args.quick else (1000, 4000):
                for case in LARGE_CASES:
                    T = T0
                    if case in PEERS and N >= 4000 and not args.quick:
                        T = args.peer_steps
                    r = _child(case, T, N, B, 1 if N >= 4000 else min(iters, 2), args.threads,
                               args.timeout, structure=None if case in PEERS else st)  # fmt: skip
                    if "error" not in r and T != T0:
                        r = {**r, "T_asked": T0, "scale": T0 / T,
                             "s_per_it": r["s_per_it"] * T0 / T,
                             "s_per_it_min": r["s_per_it_min"] * T0 / T}  # fmt: skip
                    print(json.dumps(r), flush=True)
                    large.append(r)
    write_report(args.out, paper, growth, large, B, T0, time.time() - t_start, args)


#: this benchmark's paper-size results before the sparse kernels (commit 09397e4, quiet machine)
PREVIOUS = {"BPTT": 0.173, "e-prop": 0.153, "MDGL": 0.207}


def write_report(path, paper, growth, large, B, T0, wall, args) -> None:
    lines = [
        "# Training speed and memory: evidence accumulation",
        "",
        f"Generated by `python benchmarks/bench_training.py{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({wall / 60:.1f} min).",
        "",
        f"- Machine: {_machine()}. 1-min load average {args.load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores.",
        *([f"- {args.note}"] if getattr(args, "note", "") else []),
        f"- Versions: {_versions()}.",
        f"- One iteration = forward + gradient + Adam step at B={B}, 40 inputs, 2 outputs, "
        "cross-entropy on the last step; after one untimed warm-up, the best (fastest) and the median "
        "of the timed iterations (one timed iteration at N = 4,000). Ratios and goals use the best "
        "time: it is the least disturbed by other work on the machine.",
        "- *Added MB* = the case's subprocess `ru_maxrss` after training minus after setup (imports, "
        "network, input batch; for ours also the one-time load of the compiled kernels): what "
        "training adds. *Process MB* = the whole subprocess's peak, imports included.",
        "",
        f"## Paper size (B={B}, T={T0}, N=100: the authors' network)",
        "",
    ]
    bptt = _best(paper, "ours_bptt", 100)
    lines += _table(paper, ratio_to={100: bptt["s_per_it_min"]} if bptt else None)
    lines += ["", f"## Growth with T at N = 100 (B={B}, one timed iteration after a warm-up)", ""]
    lines += _table(growth + [r for r in paper if r["case"] in ("ours_bptt", "ours_eprop",
                                                                 "ours_mdgl")])  # fmt: skip
    if large:
        refs = {}
        for n in {r["N"] for r in large}:
            b = _best(large, "ours_bptt", n)
            if b:
                refs[n] = b["s_per_it_min"]
        lines += [
            "",
            f"## Networks derived from Allen data (B={B}, T={T0})",
            "",
            "Ours: the M1 Patch-seq families (ET, IT, NP, Pvalb, Sst) with tissue abundances, "
            "intrinsic parameters from Patch-seq electrophysiology and connection probability and "
            "strength from Billeh et al. 2020 (`neuromod graph` + `neuromod physiology` on "
            "../shared/data); only the sampled synapses are stored and used. The peers train a "
            "dense recurrent matrix of the same size (they have no sparse recurrent layer).",
            "",
        ]
        lines += _table(large, ratio_to=refs)
    lines += _goals(paper, large, growth, PREVIOUS)
    lines += [
        "",
        "## What differs between the implementations",
        "",
        '- **Ours** (`neuromod_models`): the model of docs/design.md ("Neuron model") — LIF/ALIF '
        "neurons with refractory period, Dale's law (W = sign ⊙ relu(θ)), sparse synapses, sign "
        "constraint after each Adam step; fused sequence code with a hand-written backward. On the "
        "CPU the time loops are compiled numba kernels (`neuromod_models/_kernels.py`): event-driven input and "
        "recurrent currents over the sampled synapses only, spikes stored as bytes, the adjoints and "
        "weight gradients computed step by step (BPTT's recurrent adjoint as a gather over each "
        "neuron's synapses, batched over trials; local MDGL's modulation as the same gather, or, "
        "when few entries of L ψ are nonzero (the usual case: `benchmarks/results/mdgl_push.md`), "
        "a push of those through each neuron's incoming synapses; non-local MDGL as sums per "
        "type). The `torch per-step loops` row is the same model with the kernels off "
        "(`NEUROMOD_NUMBA=0`), a dense recurrent matrix: what runs on CUDA.",
        '- **Plain PyTorch loop** = our autograd reference (`impl="autograd"`).',
        "- **snnTorch**: `snn.Leaky` with subtractive reset by the threshold and the input scaled "
        "by (1−α), so the membrane equation is ours; the recurrent product is added per step; "
        "triangular surrogate. No adaptive-threshold neuron (all LIF), no refractory period, dense "
        "weights without Dale's law or masks.",
        "- **Norse**: `LSNNRecurrent` (Bellec's LSNN), β = 0 for the LIF half; triangle surrogate. "
        "Euler integration with a one-step synaptic current, reset to 0, threshold adaptation as a "
        "jump per spike; no refractory period; dense weights without Dale's law.",
        "- The peers do less work per neuron and step than ours (no refractory bookkeeping, no "
        "per-neuron parameters, no sign/mask products), so the comparison does not favour us.",
        "- **Matrix-product bound**: the dense products every BPTT iteration needs (per step the "
        "input, recurrent and readout products and their backward), in a bare per-step loop.",
        f"- Every case: denormal floats flushed to zero, {args.threads or 'default'} torch "
        "thread(s), the same input batch every iteration, data generation not timed.",
    ]
    errs = [r for r in paper + growth + large if "error" in r]
    if errs:
        lines += [
            "",
            "Not measured: "
            + "; ".join(f"{r['case']} at T={r['T']}, N={r['N']}: {r['error']}" for r in errs)
            + ".",
        ]
    lines += (
        ["", "## Raw results", "", "```"]
        + [json.dumps(r) for r in paper + growth + large]
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
