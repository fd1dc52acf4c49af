"""CellPhoneDB-style scoring with a label-permutation test: neuromod against LIANA, side by side.

One synthetic data set (default 20,000 cells × 20,000 genes, sparse log1p-normalised, ~100 types, the
47 genes of Smith et al.'s 37 neuropeptide pairs expressed type-specifically) is written once to an
h5ad; every case then runs in its own subprocess, which loads the file, records its RSS, runs the method while a
thread samples the RSS every 2 ms, and records the time and the peak RSS above that baseline. Cases:

* ``neuromod`` — :func:`neuromod_data.score.score_interactions(method="cellphonedb")`;
* ``liana`` — ``liana.mt.cellphonedb`` (``pip install liana``; give its interpreter with
  ``--liana-python`` if it lives in another environment).

Agreement is checked on LIANA's rows: ligand / receptor means, the score (LIANA's ``lr_means``) and the
p-values. Both draw permutation ``i`` as ``default_rng(seed).permutation(n_cells)`` in order and count
permuted scores ``≥`` observed; LIANA reports ``k / n``, neuromod ``(k + 1) / (n + 1)``, so the
comparison converts LIANA's to ``(n · p + 1) / (n + 1)``.

    python benchmarks/bench_score.py                               # full size, 100 and 1000 permutations
    python benchmarks/bench_score.py --cells 2000 --genes 2000     # quick check
    python benchmarks/bench_score.py --liana-python /path/to/venv/bin/python

Writes ``benchmarks/results/score.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "score.md"


def generate(
    path: Path, n_cells: int, n_genes: int, n_types: int, density: float, seed: int
) -> None:
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    from neuromod_data.complexes import split_genes
    from neuromod_data.resources import load_resource

    res = load_resource("neuropeptides")
    lr_genes = sorted(
        {g for c in pd.concat([res.ligand_genes, res.receptor_genes]) for g in split_genes(c)}
    )
    rng = np.random.default_rng(seed)
    n_bg = n_genes - len(lr_genes)
    # background: per row a random set of columns (geometric gaps), values log1p(counts)
    m = int(density * n_bg * 2 + 40)
    gaps = rng.geometric(density, size=(n_cells, m)).astype(np.int32)
    cols = np.cumsum(gaps, axis=1, dtype=np.int32) - 1
    keep = cols < n_bg
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    indices = cols[keep]
    data = np.log1p(1 + rng.geometric(0.35, size=indices.size)).astype(np.float32)
    bg = sp.csr_matrix((data, indices, indptr), shape=(n_cells, n_bg))
    labels = rng.choice(n_types, size=n_cells, p=rng.dirichlet(np.full(n_types, 5.0)))
    # resource genes: each type expresses each gene in a random fraction of its cells (many near 0)
    frac = rng.beta(0.4, 1.2, size=(n_types, len(lr_genes)))
    level = rng.gamma(2.0, 1.0, size=(n_types, len(lr_genes)))
    on = rng.random((n_cells, len(lr_genes))) < frac[labels]
    vals = np.where(on, np.log1p(level[labels] * rng.gamma(2.0, 1.0, size=on.shape) * 5), 0.0)
    X = sp.hstack([bg, sp.csr_matrix(vals.astype(np.float32))], format="csr")
    names = [f"Gene{i:05d}" for i in range(n_bg)] + lr_genes
    obs = pd.DataFrame(
        {"type": pd.Categorical([f"type_{t:03d}" for t in labels])},
        index=[f"cell{i:06d}" for i in range(n_cells)],
    )
    ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=names)).write_h5ad(path)


CASE = r"""
import json, resource, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
kind, data, n_perms, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
import anndata as ad, pandas as pd
from neuromod_data.resources import load_resource
res = load_resource("neuropeptides")
if kind == "liana":
    import liana as li
else:
    # import everything the call uses before the clock starts, as `import liana` does for LIANA
    import neuromod_data.graph  # noqa: F401
    from neuromod_data.score import score_interactions
adata = ad.read_h5ad(data)
import gc, threading, psutil
gc.collect()
proc = psutil.Process()
base = proc.memory_info().rss
peak = [base]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.002)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
t0 = time.perf_counter()
c0 = time.process_time()
if kind == "liana":
    lr = pd.DataFrame({"ligand": res.ligand_genes, "receptor": res.receptor_genes})
    li.mt.cellphonedb(adata, groupby="type", resource=lr, expr_prop=0.1, min_cells=5, n_perms=n_perms,
                      seed=0, use_raw=False, verbose=False, inplace=True, n_jobs=1)
    t = adata.uns["liana_res"]
    t = t.rename(columns={"lr_means": "score", "cellphone_pvals": "pvalue"})
else:
    agg = score_interactions(adata, "type", resource=res, method="cellphonedb", expr_prop=0.1,
                             min_cells=5, n_perms=n_perms, seed=0, n_jobs=1, inplace=False)
    t = agg.uns["neuromod_interactions"]
elapsed = time.perf_counter() - t0
cpu = time.process_time() - c0
done.set()
sampler.join()
peak[0] = max(peak[0], proc.memory_info().rss)
cols = ["source", "target", "ligand_complex", "receptor_complex", "ligand_means", "receptor_means",
        "score", "pvalue"]
t[cols].to_csv(out, index=False)
print(json.dumps({"time_s": elapsed, "cpu_s": cpu, "extra_mb": (peak[0] - base) / 2**20, "rows": len(t)}))
"""


def run_case(python: str, kind: str, data: Path, n_perms: int, out: Path) -> dict:
    proc = subprocess.run(
        [python, "-c", CASE, kind, str(data), str(n_perms), str(out)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def nearest_tie(data: Path, rows, n_perms: int) -> float:
    """Largest, over ``rows``, of the smallest relative gap between a permuted score and the observed
    one (float64, the same permutation stream): how close to a tie the disagreeing rows are."""
    import anndata as ad

    if len(rows) == 0:
        return float("nan")
    a = ad.read_h5ad(data)
    labels = a.obs["type"].astype(str).to_numpy()
    var = list(a.var_names)
    worst = 0.0
    for _, r in rows.iterrows():
        x = (
            a.X[:, [var.index(r.ligand_complex), var.index(r.receptor_complex)]]
            .toarray()
            .astype(np.float64)
        )
        src, tgt = labels == r.source, labels == r.target
        obs = (x[src, 0].mean() + x[tgt, 1].mean()) / 2
        rng = np.random.default_rng(0)
        gaps = []
        for _ in range(n_perms):
            perm = rng.permutation(len(labels))
            gaps.append(abs((x[perm[src], 0].mean() + x[perm[tgt], 1].mean()) / 2 - obs) / obs)
        worst = max(worst, min(gaps))
    return float(worst)


def agreement(ours: Path, theirs: Path, n_perms: int, data: Path) -> dict:
    import pandas as pd

    key = ["source", "target", "ligand_complex", "receptor_complex"]
    a = pd.read_csv(ours)
    b = pd.read_csv(theirs)
    m = b.merge(a, on=key, how="left", suffixes=("_liana", "_ours"), indicator=True)
    missing = int((m["_merge"] != "both").sum())
    m = m[m["_merge"] == "both"]
    conv = (n_perms * m["pvalue_liana"] + 1) / (n_perms + 1)
    return {
        "liana_rows": len(b),
        "our_rows": len(a),
        "liana_rows_missing_in_ours": missing,
        "max_abs_ligand_means": float((m.ligand_means_liana - m.ligand_means_ours).abs().max()),
        "max_abs_receptor_means": float(
            (m.receptor_means_liana - m.receptor_means_ours).abs().max()
        ),
        "max_abs_score": float((m.score_liana - m.score_ours).abs().max()),
        "max_abs_pvalue_raw": float((m.pvalue_liana - m.pvalue_ours).abs().max()),
        "max_abs_pvalue_converted": float((conv - m.pvalue_ours).abs().max()),
        "n_pvalue_differ_converted": int(((conv - m.pvalue_ours).abs() > 1e-12).sum()),
        "nearest_tie": nearest_tie(data, m[(conv - m.pvalue_ours).abs() > 1e-12], n_perms),
    }


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
        )
        ram = f"{int(mem.split()[1]) / 1024**2:.0f} GiB"
    except (OSError, StopIteration):
        ram = "unknown"
    return f"{os.cpu_count()} cores, {cpu}, {ram} RAM, {platform.platform()}"


def version(python: str, pkg: str) -> str:
    code = f"from importlib import metadata; print(metadata.version({pkg!r}))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "not installed"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=20_000)
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--types", type=int, default=100)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--perms", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--liana-python", default=sys.executable)
    ap.add_argument("--skip-liana", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)

    rows, agree = [], {}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_score_") as tmpd:
        tmp = Path(tmpd)
        data = tmp / "data.h5ad"
        print(f"generating {args.cells} × {args.genes}, {args.types} types ...", flush=True)
        generate(data, args.cells, args.genes, args.types, args.density, seed=0)
        have_liana = not args.skip_liana and version(args.liana_python, "liana") != "not installed"
        for n in args.perms:
            cases = [("neuromod", sys.executable)] + (
                [("liana", args.liana_python)] if have_liana else []
            )
            outs = {}
            for kind, py in cases:
                outs[kind] = tmp / f"{kind}_{n}.csv"
                r = run_case(py, kind, data, n, outs[kind])
                print(f"{kind:9s} {n:5d} perms: {r['time_s']:.2f} s, +{r['extra_mb']:.0f} MB, {r['rows']} rows",
                      flush=True)  # fmt: skip
                rows.append({"method": kind, "n_perms": n, **r})
            if have_liana:
                agree[n] = agreement(outs["neuromod"], outs["liana"], n, data)
                print(json.dumps(agree[n]), flush=True)

    lines = [
        "# Interaction scoring with a permutation test: neuromod vs LIANA",
        "",
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}. Machine: {machine()}.",
        f"Versions: neuromod {metadata.version('neuromod')}, liana {version(args.liana_python, 'liana')}, "
        f"numpy {np.__version__}, scipy {metadata.version('scipy')}, anndata {metadata.version('anndata')}, "
        f"python {platform.python_version()}.",
        "",
        f"Data: synthetic, {args.cells:,} cells × {args.genes:,} genes (sparse CSR float32, log1p values, "
        f"density {args.density}), {args.types} types, Smith 2019's 37 neuropeptide pairs (47 genes); "
        "`expr_prop=0.1`, `min_cells=5`, `seed=0`, one thread each (`n_jobs=1`, `OMP_NUM_THREADS=1`). "
        "Each case runs in its own subprocess; time is the scoring call only (data already loaded), "
        "extra memory is the peak RSS during the call (sampled every 2 ms by a thread) minus the RSS "
        "just before it (data loaded).",
        "",
        "| method | permutations | wall time (s) | CPU time (s) | extra peak memory (MB) | rows |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['n_perms']} | {r['time_s']:.2f} | {r['cpu_s']:.2f} | "
            f"{r['extra_mb']:.0f} | {r['rows']} |"
        )
    speed = []
    for n in args.perms:
        t = {r["method"]: r["time_s"] for r in rows if r["n_perms"] == n}
        c = {r["method"]: r["cpu_s"] for r in rows if r["n_perms"] == n}
        if "liana" in t:
            speed.append(
                f"{n} permutations: {t['liana'] / t['neuromod']:.1f}× (wall), "
                f"{c['liana'] / c['neuromod']:.1f}× (CPU)"
            )
    if speed:
        lines += ["", "Speed-up of neuromod over LIANA: " + "; ".join(speed) + "."]
    if agree:
        lines += [
            "",
            "## Agreement on LIANA's rows",
            "",
            "LIANA reports p = k/n, neuromod p = (k+1)/(n+1), both with k = #permutations with score ≥ "
            "observed and the same permutation stream; `converted` compares neuromod's p with "
            "(n·p_LIANA + 1)/(n + 1). Means differ only by float32 (LIANA) vs float64 (neuromod) "
            "summation.",
            "",
            "| permutations | LIANA rows | our rows | LIANA rows not in ours | max abs Δ ligand_means | "
            "max abs Δ receptor_means | max abs Δ score | max abs Δ p (raw) | max abs Δ p (converted) | "
            "#p differing (converted) | nearest tie of those rows |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, a in agree.items():
            lines.append(
                f"| {n} | {a['liana_rows']} | {a['our_rows']} | {a['liana_rows_missing_in_ours']} | "
                f"{a['max_abs_ligand_means']:.2e} | {a['max_abs_receptor_means']:.2e} | {a['max_abs_score']:.2e} | "
                f"{a['max_abs_pvalue_raw']:.2e} | {a['max_abs_pvalue_converted']:.2e} | "
                f"{a['n_pvalue_differ_converted']} | {a['nearest_tie']:.1e} |"
            )
        lines += [
            "",
            "`nearest tie`: for the rows whose converted p-values differ, the relative gap between the "
            "observed score and the closest permuted score (float64, same permutation stream), the largest "
            "over those rows. Gaps of ~1e-7 are within the rounding of LIANA's float32 means (sums of "
            "hundreds of float32 values): a permutation that ties the observed score up to float32, which "
            "LIANA counts as ≥ and neuromod (float64 sums, ties within a relative 1e-10) does not. A "
            "difference of 1/(n+1) in p is one permutation.",
        ]
    load_end = os.getloadavg()[0]
    lines += [
        "",
        f"1-minute load average: {load_start:.1f} at the start, {load_end:.1f} at the end, on "
        f"{os.cpu_count()} cores.",
        "",
        "The machine's 2 cores are shared with other jobs while this ran, so wall times are noisy "
        "(a loaded machine stretches them several-fold); CPU time (user + system of the scoring "
        "call's process) is the robust number.",
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"→ {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
