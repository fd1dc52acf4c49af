"""Benchmark: reading an Allen-layout genes × cells count CSV into cells × genes AnnData.

Compares ``neuromod_data.io.read`` (chunked byte parser → float32 CSR) with ``pandas.read_csv`` +
AnnData (the C parser with float64 inference, then the same float32 CSR) and ``scanpy.read_csv``,
and times loading the Allen Transcriptomics Explorer export (23,822 cells) from ``../shared/data``.

Every case runs in its own Python process. Peak memory = the process's peak resident size minus
its resident size after the imports (so library import footprints cancel out).

    python benchmarks/bench_read.py                      # 20,000 genes × 5,000 cells, ~12.5 % nonzero
    python benchmarks/bench_read.py --genes 2000 --skip-scanpy   # quick look

The CSV is written with numpy into a temporary folder (``--workdir``) and deleted afterwards.
Writes ``benchmarks/results/read.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "read.md"

_PRELUDE = """
import json, resource, sys, time
def _rss_mib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
"""

_EPILOGUE = """
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
import hashlib, numpy as np, scipy.sparse as sp
Xc = sp.csr_matrix(a.X, dtype=np.float32)
Xc.sort_indices()
h = hashlib.sha1()
for arr in (Xc.indptr.astype(np.int64), Xc.indices.astype(np.int64), Xc.data):
    h.update(np.ascontiguousarray(arr).tobytes())
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mib": peak - base, "shape": list(shape), "nnz": int(nnz),
                  "sha1": h.hexdigest()}))
"""

CASES = {
    "neuromod": """
import numpy as np
from neuromod_data.io import read
base = _rss_mib()
t = time.perf_counter(); c0 = _cpu()
a = read(PATH, progress=False)
seconds = time.perf_counter() - t; cpu = _cpu() - c0
shape, nnz = a.shape, a.X.nnz
""",
    "pandas": """
import numpy as np, pandas as pd, scipy.sparse as sp, anndata as ad
base = _rss_mib()
t = time.perf_counter(); c0 = _cpu()
df = pd.read_csv(PATH, index_col=0)
a = ad.AnnData(sp.csr_matrix(df.to_numpy(np.float32).T))
a.obs_names = df.columns.astype(str)
a.var_names = df.index.astype(str)
seconds = time.perf_counter() - t; cpu = _cpu() - c0
shape, nnz = a.shape, a.X.nnz
""",
    "scanpy": """
import numpy as np, scipy.sparse as sp, scanpy as sc
base = _rss_mib()
t = time.perf_counter(); c0 = _cpu()
a = sc.read_csv(PATH).T
a.X = sp.csr_matrix(a.X)
seconds = time.perf_counter() - t; cpu = _cpu() - c0
shape, nnz = a.shape, a.X.nnz
""",
    "explorer_neuromod": """
import numpy as np
from neuromod_data.io import read
import warnings
warnings.simplefilter("ignore")
base = _rss_mib()
t = time.perf_counter(); c0 = _cpu()
a = read(PATH)
seconds = time.perf_counter() - t; cpu = _cpu() - c0
shape, nnz = a.shape, a.X.nnz
""",
    "explorer_pandas": """
import numpy as np, pandas as pd, scipy.sparse as sp, anndata as ad
base = _rss_mib()
t = time.perf_counter(); c0 = _cpu()
df = pd.read_csv(PATH)
g = [c for c in df.columns if c.endswith("_log10_cpm")]
a = ad.AnnData(sp.csr_matrix((10 ** df[g].to_numpy() - 1).astype(np.float32)), obs=df.drop(columns=g))
seconds = time.perf_counter() - t; cpu = _cpu() - c0
shape, nnz = a.shape, a.X.nnz
""",
}


def make_allen_csv(path: Path, n_genes: int, n_cells: int, density: float, seed: int = 0) -> None:
    """Genes × cells integer counts in the Tasic exon-matrix layout (quoted ids, header row)."""
    rng = np.random.default_rng(seed)
    # string forms of 0..99999 looked up by value: joins of precomputed strings are fast
    table = np.array([str(i) for i in range(100_000)], dtype=object)
    with open(path, "w") as fh:
        fh.write('""' + "".join(f',"F1S4_{i:06d}"' for i in range(n_cells)) + "\n")
        for g in range(n_genes):
            v = np.zeros(n_cells, dtype=np.int64)
            m = rng.random(n_cells) < density
            # SMART-seq read counts: heavy-tailed (log-normal), median ~20
            v[m] = np.minimum(
                np.exp(rng.normal(3.0, 1.5, int(m.sum()))).astype(np.int64) + 1, 99_999
            )
            fh.write(f'"{500_000 + g}",' + ",".join(table[v].tolist()) + "\n")


def run_case(name: str, path: Path, timeout: float) -> dict:
    code = _PRELUDE + CASES[name].replace("PATH", repr(str(path))) + _EPILOGUE
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if out.returncode != 0:
        raise RuntimeError(f"case {name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": mem,
        "python": platform.python_version(),
        "versions": ", ".join(
            f"{n} {v(n)}" for n in ("numpy", "pandas", "scipy", "anndata", "scanpy", "numba")
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--cells", type=int, default=5_000)
    ap.add_argument("--density", type=float, default=0.125)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-scanpy", action="store_true")
    ap.add_argument("--scanpy-timeout", type=float, default=900)
    ap.add_argument("--workdir", help="where to write the CSV (default: a temporary folder)")
    ap.add_argument(
        "--tasic-scale",
        action="store_true",
        help="also read a Tasic-VISp-sized file (45,768 genes × 15,413 cells, 18.6%% nonzero, 1.5 GB)",
    )
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="neuromod_bench_read_"))
    work.mkdir(parents=True, exist_ok=True)
    csv = work / "bench_2018-06-14_exon-matrix.csv"
    load0 = os.getloadavg()
    try:
        make_allen_csv(csv, args.genes, args.cells, args.density)
        size_mb = csv.stat().st_size / 1e6
        print(f"wrote {csv} ({size_mb:.0f} MB)", flush=True)
        results: dict[str, list[dict]] = {}
        order = ["neuromod", "pandas"] + ([] if args.skip_scanpy else ["scanpy"])
        for name in order:
            reps = 1 if name == "scanpy" else args.repeats
            timeout = args.scanpy_timeout if name == "scanpy" else 1800
            results[name] = [run_case(name, csv, timeout) for _ in range(reps)]
            print(name, results[name], flush=True)
        explorer = None
        shared = os.environ.get("NEUROMOD_SHARED_DATA") or str(ROOT.parent / "shared" / "data")
        ex = Path(shared) / "allen_tasic2018_explorer" / "sample_heatmap_plot_data.csv"
        if ex.is_file():
            explorer = {
                n: [run_case(n, ex, 600) for _ in range(args.repeats)]
                for n in ("explorer_neuromod", "explorer_pandas")
            }
            print(explorer, flush=True)
        big = None
        if args.tasic_scale:
            csv.unlink()
            big_csv = work / "tasic_scale_exon-matrix.csv"
            make_allen_csv(big_csv, 45_768, 15_413, 0.186, seed=1)
            big = run_case("neuromod", big_csv, 3600)
            big["mb"] = big_csv.stat().st_size / 1e6
            big_csv.unlink()
            print("tasic scale", big, flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()

    def med(rs, key):
        vals = [r[key] for r in rs if key in r]
        return statistics.median(vals) if vals else float("nan")

    m = machine()
    ref_t, ref_m = med(results["pandas"], "seconds"), med(results["pandas"], "peak_mib")
    ref_c = med(results["pandas"], "cpu")
    lines = [
        "# Reading an Allen-layout count CSV",
        "",
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {m['cores']} cores, {m['cpu']}, {m['ram']} RAM; "
        f"Python {m['python']}; {m['versions']}.",
        f"Load average (1 min) before / after: {load0[0]:.1f} / {load1[0]:.1f} — the machine is shared, so "
        "absolute times are noisy; ratios measured back to back are more reliable.",
        "",
        f"Input: {args.genes:,} genes × {args.cells:,} cells, {args.density:.1%} nonzero integer counts "
        f"(log-normal, Tasic-like), {size_mb:.0f} MB CSV written by numpy "
        f"(`python benchmarks/bench_read.py`). Output of every case: cells × genes float32 CSR AnnData. "
        f"Time: median of {args.repeats} runs (scanpy: 1), each in a fresh process; peak memory: peak RSS "
        "minus RSS after imports. CPU time (user + system of the reading process) is less disturbed by other load than wall time.",
        "",
        "| reader | wall time (s) | CPU time (s) | peak memory (MiB) | speed-up vs pandas (wall / CPU) | memory vs pandas |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "neuromod": "`neuromod_data.io.read` (chunked byte parser → CSR)",
        "pandas": "`pandas.read_csv` (C parser, float64) + AnnData",
        "scanpy": "`scanpy.read_csv`",
    }
    for name, rs in results.items():
        if any("timeout" in r for r in rs):
            lines.append(f"| {labels[name]} | > {rs[0]['timeout']:.0f} (stopped) | – | – | – | – |")
            continue
        t, c, mm = med(rs, "seconds"), med(rs, "cpu"), med(rs, "peak_mib")
        lines.append(
            f"| {labels[name]} | {t:.2f} | {c:.2f} | {mm:.0f} | {ref_t / t:.1f}× / {ref_c / c:.1f}× "
            f"| {mm / ref_m:.2f} |"
        )
    sc_rs = results.get("scanpy", [])
    if sc_rs and not any("timeout" in r for r in sc_rs):
        nt, nc, nm = (med(results["neuromod"], k) for k in ("seconds", "cpu", "peak_mib"))
        st, sc_c, sm = (med(sc_rs, k) for k in ("seconds", "cpu", "peak_mib"))
        lines += [
            "",
            f"Against `scanpy.read_csv`: {st / nt:.1f}× faster (wall; CPU {sc_c / nc:.1f}×), "
            f"{nm / sm:.2f} of its peak memory.",
        ]
    n0 = results["neuromod"][0]
    hashes = {r["sha1"] for rs in results.values() for r in rs if "sha1" in r}
    same = (
        "identical (same SHA-1 of the sorted CSR arrays)"
        if len(hashes) == 1
        else "DIFFERENT between readers"
    )
    lines += [
        "",
        f"Result: shape {tuple(n0['shape'])}, {n0['nnz']:,} nonzeros; the matrices of all readers "
        f"are {same}.",
    ]
    if explorer:
        lines += [
            "",
            "## Allen Transcriptomics Explorer export (23,822 cells × 7 genes, `../shared/data`)",
            "",
            "| reader | wall time (s) | CPU time (s) | peak memory (MiB) |",
            "|---|---:|---:|---:|",
            f"| `neuromod_data.io.read` (CPM in .X, log10 layer, labels cleaned) | {med(explorer['explorer_neuromod'], 'seconds'):.2f} | {med(explorer['explorer_neuromod'], 'cpu'):.2f} | {med(explorer['explorer_neuromod'], 'peak_mib'):.0f} |",
            f"| `pandas.read_csv` + 10**x − 1 + AnnData | {med(explorer['explorer_pandas'], 'seconds'):.2f} | {med(explorer['explorer_pandas'], 'cpu'):.2f} | {med(explorer['explorer_pandas'], 'peak_mib'):.0f} |",
        ]
    if big:
        lines += [
            "",
            "## At the size of Tasic 2018 VISp (45,768 genes × 15,413 cells, 18.6 % nonzero)",
            "",
            f"A {big['mb'] / 1e3:.2f} GB synthetic exon matrix (`--tasic-scale`): `neuromod_data.io.read` "
            f"takes {big['seconds']:.1f} s wall ({big['cpu']:.1f} s CPU; the compiled path, as the file "
            f"is over 1 GB) and peaks at {big['peak_mib'] / 1024:.2f} GiB above the imports for "
            f"{big['nnz']:,} nonzeros ({big['nnz'] * 8 / 1e9:.2f} GB as float32 CSR): it loads on a laptop.",
        ]
    lines += [
        "",
        "Why it is faster: count tables are mostly `0,`. The reader reads raw bytes in 1 MB chunks cut "
        "at line ends; numpy finds the separators, skips the fields that are exactly `0` and turns only "
        "the nonzero digit runs into integers (no float parsing, no dense matrix). The nonzeros go into "
        "one pair of int32/float32 arrays whose size is projected from the density so far, so memory is "
        "the nonzeros (8 bytes each, twice during the final transpose to cells × genes) plus one chunk's "
        "temporaries. For files of gigabytes (Tasic VISp: 1.5 GB) a numba-compiled single pass replaces "
        "the numpy one (about 3× faster per byte, but loading it costs ~1 s and ~130 MB, so it is not "
        "used at this size). Chunks with decimals, signs or missing values go to pandas' C parser, so "
        "general tables still read exactly.",
        "",
    ]
    from neuromod_data._files import atomic_path

    with atomic_path(args.out) as tmp:
        tmp.write_text("\n".join(lines))
    print(textwrap.indent("\n".join(lines), "  "))


if __name__ == "__main__":
    main()
