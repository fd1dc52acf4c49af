"""``neuromod export``: a trained network (``RUN/model.npz``) in another tool's format.

``--to sonata`` writes ``DIR/network/`` as BMTK and NEST's SONATA reader expect it (cell types,
per-neuron parameters, signed trained weights, delay one step = 1 ms;
:mod:`neuromod_models.export_sonata`). NIR and NEST are not implemented yet. torch is imported
only when the command runs.
"""

from __future__ import annotations

import argparse

from neuromod_data.cli._args import hold_output

FORMATS = ("sonata", "nir", "nest")
#: formats announced but not written yet (a later step of issue 23)
PLANNED = ("nir", "nest")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a trained network in another tool's format (SONATA)",
        description=(
            "Read RUN/model.npz (written by neuromod train) and write the network — cell types, "
            "per-neuron parameters, signed trained weights — as SONATA files into DIR/network/ "
            "(replaced as a whole): <name>_nodes.h5, <name>_node_types.csv, <name>_edges.h5, "
            "<name>_edge_types.csv, the input channels as a virtual population and the readout "
            "weights (<name>_readout.h5)."
        ),
        epilog="example: neuromod export runs/mdgl --to sonata --out runs/mdgl/sonata",
    )
    p.add_argument(
        "run_dir", metavar="RUN", help="a `neuromod train --out` folder (or a model.npz)"
    )
    p.add_argument("--to", required=True, choices=FORMATS, help="format (nir, nest: not yet)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--name",
        default="neuromod",
        help="population name and file prefix (default neuromod)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuromod_data._files import check_output
    from neuromod_data.errors import UsageError

    if args.to in PLANNED:
        raise UsageError(f"--to {args.to} is not implemented yet (a later step); use --to sonata")
    if not args.name or not all(c.isalnum() or c in "_-" for c in args.name):
        raise UsageError(f"--name must be letters, digits, '_' or '-', got {args.name!r}")

    from neuromod_models.export_sonata import export_sonata
    from neuromod_models.model_file import model_path, read_model

    model = model_path(args.run_dir)  # a run without one: the error says how to get it
    out = check_output(Path(args.out), [model], kind="dir")
    hold_output(args, out)
    contents = read_model(model)
    files = export_sonata(contents, out, name=args.name)
    n_nodes = len(contents.arrays["signs"])
    n_edges = len(contents.arrays["rec_pre"])
    print(
        f"{n_nodes} neurons of {contents.structure.n_types} types, {n_edges} recurrent synapses "
        f"→ {files['nodes'].parent}"
    )
    return 0
