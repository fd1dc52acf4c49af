"""The pre-registered criteria table of committed alignment results (experiments/alignment/...).

For each folder (as ``collect_alignment.py`` writes it) and one checkpoint: the data gate's mean
cosine with BPTT's gradient, the label permutations' mean, ``ones``, the data gate's rank and
one-sided permutation p, the fraction of the permuted → ``ones`` gap it closes, and whether both
criteria hold (p < 0.05 and gap ≥ 0.5). The README of a result embeds this output, and a test
checks that it still does, so its numbers cannot drift from the files.

    python3 workflows/scripts/alignment_criteria.py experiments/alignment/stage2/* --checkpoint 250
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

P_MAX, GAP_MIN = 0.05, 0.5
HEADER = [
    "| result | K | permutations | data | permuted mean | ones | rank | p | gap closed | criteria |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
]


def criteria_rows(folders: list[Path], checkpoint: int) -> list[str]:
    rows = list(HEADER)
    for folder in folders:
        s = pd.read_csv(folder / "summary.csv")
        s = s[s["checkpoint"] == checkpoint].set_index("arm")
        cfg = json.loads((folder / "config.json").read_text())
        data = s.loc["data"]
        p, gap = float(data["perm_p"]), float(data["gap_closed_perm_to_ones"])
        met = [p < P_MAX, gap >= GAP_MIN]
        verdict = "**met**" if all(met) else "**not met**" + (" (neither)" if not any(met) else "")
        n = int(data["n_perms"])
        rows.append(
            f"| {folder.name} | {len(cfg['structure_types'])} | {n} | "
            f"{data['mean_cosine']:.4f} | {data['perm_mean']:.4f} | "
            f"{s.loc['ones', 'mean_cosine']:.4f} | {int(data['perm_rank'])} of {n + 1} | "
            f"{p:.3f} | {gap:.3f} | {verdict} |"
        )
    return rows


SECONDARY = [
    "| result | checkpoint | data rank, p | gap closed | ones − data [95 % CI] | "
    "permuted − data [95 % CI] | ei − ones | data between e-prop (0) and exact (1) |",
    "|---|---:|---|---:|---|---|---:|---:|",
]


def secondary_rows(folders: list[Path]) -> list[str]:
    """Every checkpoint, no pass/fail: the rank, the gap, the paired differences to the data gate
    and where the data gate sits between e-prop and the exact truncation."""
    rows = list(SECONDARY)
    for folder in folders:
        s = pd.read_csv(folder / "summary.csv")
        for ck, g in s.groupby("checkpoint", sort=True):
            g = g.set_index("arm")
            d, o, lp = g.loc["data"], g.loc["ones"], g.loc["label-permuted"]
            n = int(d["n_perms"])
            rows.append(
                f"| {folder.name} | {ck} | {int(d['perm_rank'])} of {n + 1}, {d['perm_p']:.3f} | "
                f"{d['gap_closed_perm_to_ones']:.3f} | {o['diff_to_data']:+.4f} "
                f"[{o['diff_ci_low']:+.4f}, {o['diff_ci_high']:+.4f}] | "
                f"{lp['diff_to_data']:+.4f} [{lp['diff_ci_low']:+.4f}, {lp['diff_ci_high']:+.4f}] | "
                f"{g.loc['ei', 'mean_cosine'] - o['mean_cosine']:+.4f} | "
                f"{d['position_eprop_to_exact']:.3f} |"
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--checkpoint", type=int, default=250)
    ap.add_argument("--secondary", action="store_true", help="every checkpoint, no pass/fail")
    a = ap.parse_args()
    rows = secondary_rows(a.folders) if a.secondary else criteria_rows(a.folders, a.checkpoint)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
