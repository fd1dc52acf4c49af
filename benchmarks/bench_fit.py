"""Fitting the model neuron to Patch-seq recordings: time and memory of the whole M1 tables.

Cases, each in its own subprocess (time of the call only; the tables are read before it; numba's
compilation is paid once, outside the timing, by a warm-up on a two-cell table):

* ``fit_cells`` — :func:`neuromod_data.fitting.fit_cells` on every cell of the 1,328-cell
  room-temperature table (coarse grid 8 τ_a × 23 δ plus the refinement, 256 neurons per cell,
  each simulated on the step protocol);
* ``fit_intrinsic`` — :func:`neuromod_data.intrinsic_fit.fit_intrinsic` for the five M1 families
  with the 185-cell 34 °C table (what ``neuromod physiology`` runs);
* ``map`` — the earlier feature-by-feature mapping, :func:`neuromod_data.ephys.intrinsic_from_ephys`.

    python benchmarks/bench_fit.py                  # needs ../shared/data (or NEUROMOD_SHARED_DATA)
    python benchmarks/bench_fit.py --threads 1

Writes ``benchmarks/results/fit.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "fit.md"
FAMILIES = ["ET", "IT", "NP", "Pvalb", "Sst"]

CASE = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
case, root = sys.argv[1], sys.argv[2]
from neuromod_data.ephys import read_ephys, intrinsic_from_ephys
from neuromod_data.fitting import fit_cells
from neuromod_data.intrinsic_fit import fit_intrinsic
d = root + "/allen_m1_patchseq/"
room = read_ephys(d + "m1_patchseq_ephys_features.csv", d + "m1_patchseq_meta_data.csv",
                  labels=["RNA family"])
warm = read_ephys(d + "m1_patchseq_phys_temp_ephys_features.csv",
                  d + "m1_patchseq_phys_temp_meta_data.csv", labels=["RNA family"])
fit_cells(room.iloc[:2], n_ref=5)  # compile (numba caches it on disk too)
types = ["ET", "IT", "NP", "Pvalb", "Sst"]
before = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
if case == "fit_cells":
    out = fit_cells(room, n_ref=5)
    n = int(out["fitted"].sum())
elif case == "fit_intrinsic":
    out = fit_intrinsic(room, "RNA family", warm=warm, types=types)
    n = int(out.cells["fitted"].sum())
else:
    intrinsic_from_ephys(room, "RNA family", types=types)
    n = len(room)
wall = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(json.dumps({"case": case, "wall": wall, "cpu": cpu, "cells": n,
                  "peak_rss_mb": after.ru_maxrss / 1024}))
"""


def run_case(case: str, root: str, threads: int) -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CASE, case, root],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from neuromod_data._files import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    root = shared_data_dir()
    if root is None:
        sys.exit("bench_fit: the real data are needed (../shared/data or NEUROMOD_SHARED_DATA)")
    load0 = os.getloadavg()[0]
    rows = [run_case(c, str(root), args.threads) for c in ("fit_cells", "fit_intrinsic", "map")]
    load1 = os.getloadavg()[0]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        "# Fitting neurons to their recordings (M1 Patch-seq)",
        "",
        f"Date: {now}. Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"{mem:.0f} GiB RAM, {platform.platform()}. Python {platform.python_version()}; numba "
        f"threads: {args.threads}.",
        "",
        "Each case runs in its own subprocess after a two-cell warm-up (numba compiled); time is the "
        "call only. `fit_cells`: every cell of the 1,328-cell room-temperature table, 256 model "
        "neurons per cell, each simulated on the 600-ms step protocol (bisection to the recorded "
        "maximum count, then steps above rheobase for the ISI index). `fit_intrinsic`: the five M1 "
        "families with the 185-cell 34 °C table (what `neuromod physiology --method fit` runs). "
        "`map`: the earlier mapping (no simulation).",
        "",
        "| case | cells | wall time (s) | CPU time (s) | ms per cell (CPU) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per = 1000 * r["cpu"] / max(r["cells"], 1)
        lines.append(
            f"| {r['case']} | {r['cells']} | {r['wall']:.2f} | {r['cpu']:.2f} | {per:.2f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        f"1-minute load average: {load0:.1f} at the start, {load1:.1f} at the end, on "
        f"{os.cpu_count()} cores (other jobs stretch wall times; CPU time is the robust number).",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
