"""Copy what a `neuromod align` run publishes into a committed folder (experiments/alignment/...).

The full ``alignment.csv`` (one row per seed, batch, checkpoint and arm: tens of MB with 1,000
permutations) stays where it was written; the folder gets ``summary.csv`` and ``alignment.png``
as written, ``config.json`` with the structure path made relative to the repository, the rows of
the single arms (``alignment_single_arms.csv``) and each draw of the many-draw arms averaged over
seeds and batches (``draw_means.csv``: what the data gate's rank and p are computed from).

    python3 workflows/scripts/collect_alignment.py RESULTS/align/<dataset>/<task> \
        experiments/alignment/<name>
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd

SINGLE = ("eprop", "ones", "ei", "data", "uniform", "exact")
MEASURES = ["cosine", "norm_ratio", "cosine_exact", "distance_exact"]


def collect(src: Path, dst: Path, *, root: Path) -> None:
    table = pd.read_csv(src / "alignment.csv")
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("summary.csv", "alignment.png"):
        shutil.copyfile(src / name, dst / name)
    cfg = json.loads((src / "config.json").read_text())
    cfg.pop("resources", None)  # in-process measurements, not settings
    for key in ("structure", "out"):
        path = Path(cfg.get(key, ""))
        if path.is_absolute() and path.is_relative_to(root):
            cfg[key] = str(path.relative_to(root))
    (dst / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    table[table["arm"].isin(SINGLE)].to_csv(dst / "alignment_single_arms.csv", index=False)
    many = table[~table["arm"].isin(SINGLE)]
    draws = many.groupby(["checkpoint", "arm", "draw", "label"], dropna=False)[MEASURES].mean()
    draws.reset_index().to_csv(dst / "draw_means.csv", index=False, float_format="%.8g")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", type=Path, help="the folder `neuromod align --out` wrote")
    p.add_argument("dst", type=Path, help="the committed folder")
    p.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    a = p.parse_args()
    collect(a.src, a.dst, root=a.root.resolve())


if __name__ == "__main__":
    main()
