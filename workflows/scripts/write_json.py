"""Write a JSON document given on the command line to a file, atomically (used for run settings)."""

from __future__ import annotations

import argparse
import json

from neuromod_data._files import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("document", help="a JSON document")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = json.loads(args.document)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
