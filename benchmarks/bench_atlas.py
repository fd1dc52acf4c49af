"""Atlas-scale, out-of-core aggregation: peak memory against the size of the h5ad on disk.

Generates a synthetic cells × genes count matrix of a few million cells (CSR, float32 counts) and
writes it to an h5ad **chunk by chunk** (``anndata.io.sparse_dataset(...).append``), so the matrix is
never held in memory. Then, in a fresh subprocess, opens it backed (``anndata.read_h5ad(backed="r")``)
and aggregates it per cell type with :func:`neuromod_data.aggregate.aggregate`; the subprocess's peak
RSS minus the peak of a subprocess that only imports the same libraries and opens the file is the
memory the aggregation itself needs. The per-type means are checked against the exact sums
accumulated while generating. The file is deleted afterwards.

    python benchmarks/bench_atlas.py                      # 4,000,000 cells × 2,000 genes (~3.3 GB)
    python benchmarks/bench_atlas.py --cells 200000       # quick check

Writes ``benchmarks/results/atlas.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "atlas.md"


# ----------------------------------------------------------------------------- generation
def _chunk(rng, n_rows, n_genes, density, type_probs):
    """One CSR chunk with sorted unique column indices (cumulative geometric gaps per row)."""
    import scipy.sparse as sp

    m = int(density * n_genes * 2 + 40)  # draws per row; rows rarely need more than ~1.3x the mean
    gaps = rng.geometric(density, size=(n_rows, m)).astype(np.int32)
    cols = np.cumsum(gaps, axis=1, dtype=np.int32) - 1
    keep = cols < n_genes
    counts = keep.sum(axis=1)
    indices = cols[keep]
    data = (1 + rng.geometric(0.35, size=indices.size)).astype(np.float32)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    labels = rng.choice(len(type_probs), size=n_rows, p=type_probs).astype(np.int16)
    mat = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_genes))
    return mat, labels


def generate(path: Path, n_cells: int, n_genes: int, n_types: int, density: float, seed: int):
    """Write the h5ad in chunks; return exact per-type sums and counts for checking."""
    import anndata as ad
    import h5py
    import pandas as pd
    from anndata.io import sparse_dataset, write_elem
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    type_probs = rng.dirichlet(np.full(n_types, 2.0))
    type_names = np.array([f"type_{i:03d}" for i in range(n_types)])
    sums = np.zeros((n_types, n_genes))
    sizes = np.zeros(n_types, dtype=np.int64)
    chunk = 50_000
    labels_all = np.empty(n_cells, dtype=np.int16)
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        x = None
        for start in tqdm(range(0, n_cells, chunk), desc="writing", unit="chunk"):
            rows = min(chunk, n_cells - start)
            mat, labels = _chunk(rng, rows, n_genes, density, type_probs)
            labels_all[start : start + rows] = labels
            for t in np.unique(labels):
                sel = labels == t
                sums[t] += np.asarray(mat[sel].sum(axis=0)).ravel()
                sizes[t] += sel.sum()
            if x is None:
                write_elem(f, "X", mat, dataset_kwargs={"chunks": (1 << 18,)})
                x = sparse_dataset(f["X"])
            else:
                x.append(mat)
        obs = pd.DataFrame(
            {"cell_type": pd.Categorical.from_codes(labels_all, categories=type_names)},
            index=pd.RangeIndex(n_cells).astype(str),
        )
        var = pd.DataFrame(index=[f"Gene{i:05d}" for i in range(n_genes)])
        write_elem(f, "obs", obs)
        write_elem(f, "var", var)
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            write_elem(f, key, {})
    del obs, labels_all
    check = ad.read_h5ad(path, backed="r")
    assert check.shape == (n_cells, n_genes), check.shape
    check.file.close()
    return type_names, sums, sizes


# ------------------------------------------------------------------------------ measuring
_CHILD = r"""
import json, resource, sys, time
import numpy as np
import anndata as ad
from neuromod_data.aggregate import aggregate


def status(key):
    # this process's own counters; ru_maxrss would also count the parent's pages that the forked
    # child held before exec (Linux keeps the larger value across exec)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":")) / 1024


path, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
adata = ad.read_h5ad(path, backed="r")
result = {"open_seconds": time.perf_counter() - t0, "open_peak_mb": status("VmHWM"),
          "after_open_mb": status("VmRSS")}
if mode == "aggregate":
    # reset the high-water mark to the current RSS, so VmHWM below is the aggregation's own peak
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    t1 = time.perf_counter()
    agg = aggregate(adata, "cell_type", stats=("mean",))
    result["seconds"] = time.perf_counter() - t1
    result["aggregate_peak_mb"] = status("VmHWM")
    np.save(out, np.asarray(agg.layers["mean"], dtype=np.float64))
    result["types"] = [str(t) for t in agg.obs_names]
    result["n_cells"] = [int(n) for n in agg.obs["n_cells"]]
print(json.dumps(result))
"""


def measure(path: Path, mode: str, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode, str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {model}, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def versions() -> str:
    out = []
    for pkg in ("neuromod", "anndata", "h5py", "numpy", "scipy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out.append(f"{pkg} {metadata.version(pkg)}")
    return ", ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--cells", type=int, default=4_000_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--types", type=int, default=100)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dir", default=None, help="where to write the temporary h5ad (default: $TMPDIR)"
    )
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--keep", action="store_true", help="do not delete the generated h5ad")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="neuromod_atlas_", dir=args.dir))
    need = args.cells * args.genes * args.density * 8 * 1.2
    free = shutil.disk_usage(workdir).free
    if free < 2 * need:
        raise SystemExit(
            f"not enough free disk in {workdir}: {free / 1e9:.1f} GB, need ~{2 * need / 1e9:.1f}"
        )
    path = workdir / "atlas.h5ad"
    try:
        t0 = time.perf_counter()
        names, sums, sizes = generate(
            path, args.cells, args.genes, args.types, args.density, args.seed
        )
        t_write = time.perf_counter() - t0
        size_gb = path.stat().st_size / 1e9
        print(f"wrote {path} ({size_gb:.2f} GB) in {t_write:.0f} s", flush=True)

        res = measure(path, "aggregate", workdir / "mean.npy")
        got = np.load(workdir / "mean.npy")
        order = [list(names).index(t) for t in res["types"]]
        want = sums[order] / sizes[order, None]
        max_err = float(np.max(np.abs(got - want)))
        counts_ok = res["n_cells"] == sizes[order].tolist()
        peak = max(res["open_peak_mb"], res["aggregate_peak_mb"])
        extra = res["aggregate_peak_mb"] - res["after_open_mb"]
        print(
            f"open backed: {res['open_seconds']:.1f} s, peak {res['open_peak_mb']:.0f} MB, "
            f"then {res['after_open_mb']:.0f} MB; aggregate: {res['seconds']:.1f} s, peak "
            f"{res['aggregate_peak_mb']:.0f} MB (+{extra:.0f} MB); process peak {peak:.0f} MB; "
            f"max |mean error| {max_err:.2e}; n_cells exact: {counts_ok}",
            flush=True,
        )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    nnz = int(round(args.cells * args.genes * args.density))
    lines = [
        "# Atlas-scale out-of-core aggregation",
        "",
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}. Machine: {machine()}. "
        f"Versions: {versions()}, Python {platform.python_version()}.",
        "",
        "A synthetic h5ad (CSR float32 counts, 100 cell types, written chunk by chunk without holding "
        "the matrix in memory) is opened backed (`anndata.read_h5ad(path, backed='r')`) and "
        "aggregated per cell type with `neuromod_data.aggregate.aggregate(adata, 'cell_type', "
        "stats=('mean',))` in a fresh process. Memory is that process's own resident high-water mark "
        "(`VmHWM`): while opening (anndata loads `obs` and `var` into memory: the 4 M cell names "
        "dominate), and during the aggregation after resetting the mark (`/proc/self/clear_refs`). "
        "The per-type means are checked against exact sums kept while generating. The machine is "
        "shared by several jobs (load average > 8 during the run), so times are noisy upper bounds.",
        "",
        "| cells | genes | non-zeros | file on disk | write time | open backed: time / peak | "
        "RSS after open | aggregate: time / peak | aggregation's own increase | process peak | "
        "peak / file size | max abs error of means | n_cells exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {args.cells:,} | {args.genes:,} | ≈{nnz:,} | {size_gb:.2f} GB | {t_write:.0f} s "
        f"| {res['open_seconds']:.1f} s / {res['open_peak_mb']:.0f} MB | {res['after_open_mb']:.0f} MB "
        f"| {res['seconds']:.1f} s / {res['aggregate_peak_mb']:.0f} MB | {extra:+.0f} MB "
        f"| {peak:.0f} MB | {peak / (size_gb * 1000):.1%} | {max_err:.1e} | {counts_ok} |",
        "",
        "Loading the same matrix into memory would need at least its size on disk (the CSR data and "
        "indices alone) plus the cell names; the backed aggregation reads it in chunks.",
        "",
        f"Command: `python benchmarks/bench_atlas.py --cells {args.cells} --genes {args.genes} "
        f"--types {args.types} --density {args.density}`. The generated file is deleted afterwards.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
