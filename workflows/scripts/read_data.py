"""Read any supported data file once (``neuromod_data.io.read``) and store it as h5ad.

Every later step then reads the h5ad, which is much faster than re-parsing a large CSV. Reader
options arrive as one JSON object (keyword arguments of ``neuromod_data.io.read``).
"""

from __future__ import annotations

import argparse
import json

from neuromod_data._files import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input")
    parser.add_argument("--metadata", default=None)
    parser.add_argument("--options", default="{}", help="JSON object of reader keyword arguments")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from neuromod_data.io import read

    adata = read(args.input, metadata=args.metadata, **json.loads(args.options))
    # Lists in the reader's notes come back from h5ad as numpy arrays; store them as text so the
    # notes read back exactly as written (and stay printable as JSON by `neuromod info`).
    notes = adata.uns.get("neuromod", {})
    for key, value in list(notes.items()):
        if isinstance(value, list | tuple):
            notes[key] = "; ".join(map(str, value))
    with atomic_path(args.out, suffix=".h5ad") as tmp:
        adata.write_h5ad(tmp, compression="gzip")
    print(f"{args.input}: {adata.n_obs} cells × {adata.n_vars} genes → {args.out}")


if __name__ == "__main__":
    main()
