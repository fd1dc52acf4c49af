"""Derive the structure a network trains with from the data graph's ``structure.npz``.

``data`` copies it; ``shuffled``, ``uniform`` and ``ei`` are the controls of
:meth:`neuromod_data.structure.CellTypeStructure.control`.
"""

from __future__ import annotations

import argparse

from neuromod_data.structure import CellTypeStructure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("structure", help="structure.npz written by `neuromod graph`")
    parser.add_argument("--kind", choices=["data", "shuffled", "uniform", "ei"], default="data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    base = CellTypeStructure.load(args.structure)
    derived = base.control(args.kind, seed=args.seed)
    derived.save(args.out)
    print(f"{args.kind}: {derived!r} → {args.out}")


if __name__ == "__main__":
    main()
