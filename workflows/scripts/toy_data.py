"""Write the embedded synthetic dataset ``toy_cortex`` to an h5ad file (atomically)."""

from __future__ import annotations

import argparse

from neuromod_data._files import atomic_path
from neuromod_data.datasets import toy_cortex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-cells", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    adata = toy_cortex(n_cells=args.n_cells, seed=args.seed)
    # uns must stay h5ad-writable; the generator records that the data is synthetic
    with atomic_path(args.out, suffix=".h5ad") as tmp:
        adata.write_h5ad(tmp)
    print(
        f"toy_cortex(n_cells={args.n_cells}, seed={args.seed}): {adata.n_obs} cells × {adata.n_vars} genes → {args.out}"
    )


if __name__ == "__main__":
    main()
