"""``neuromod export``: a trained network (``RUN/model.npz``) in another tool's format.

``--to sonata`` writes ``DIR/network/`` as BMTK and NEST's SONATA reader expect it (cell types,
per-neuron parameters, signed trained weights, delay one step = 1 ms;
:mod:`neuromod_models.export_sonata`). ``--to nir`` writes ``DIR/<name>.nir`` for a network of LIF
neurons (an adaptive one is refused: NIR has no adaptive threshold;
:mod:`neuromod_models.export_nir`). ``--to nest`` writes ``DIR/nest_network.py`` and
``DIR/nest_network.npz``, a script that builds and runs the network in NEST
(:mod:`neuromod_models.export_nest`). torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse

from neuromod_data.cli._args import hold_output

FORMATS = ("sonata", "nir", "nest")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a trained network in another tool's format (SONATA, NIR, NEST)",
        description=(
            "Read RUN/model.npz (written by neuromod train) and write the network. sonata: cell "
            "types, per-neuron parameters, signed trained weights as SONATA files into "
            "DIR/network/ (replaced as a whole): <name>_nodes.h5, <name>_node_types.csv, "
            "<name>_edges.h5, <name>_edge_types.csv, the input channels as a virtual population "
            "and the readout weights (<name>_readout.h5). nir: DIR/<name>.nir, a NIR graph "
            "(input, Linear, LIF with recurrence, LI readout filter, Affine, output) for networks "
            "of LIF neurons only; reset by subtraction and refractory steps are in the metadata "
            "(pip install 'neuromod[nir]'). nest: DIR/nest_network.py and DIR/nest_network.npz, "
            "a script that builds the network in NEST 3.10 with eprop_iaf_adapt neurons and runs "
            "it on input spikes (NEST, GPL, is needed only to run it: pip install "
            "'neuromod[nest]'). docs/design.md, 'Trained models'."
        ),
        epilog=(
            "examples: neuromod export runs/mdgl --to sonata --out runs/mdgl/sonata; "
            "neuromod export runs/mdgl --to nest --out runs/mdgl/nest"
        ),
    )
    p.add_argument(
        "run_dir", metavar="RUN", help="a `neuromod train --out` folder (or a model.npz)"
    )
    p.add_argument("--to", required=True, choices=FORMATS, help="format")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--name",
        default="neuromod",
        help="population name and file prefix (sonata, nir; default neuromod)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuromod_data._files import check_output
    from neuromod_data.errors import UsageError

    if not args.name or not all(c.isalnum() or c in "_-" for c in args.name):
        raise UsageError(f"--name must be letters, digits, '_' or '-', got {args.name!r}")

    from neuromod_models.model_file import model_path, read_model

    model = model_path(args.run_dir)  # a run without one: the error says how to get it
    out = check_output(Path(args.out), [model], kind="dir")
    hold_output(args, out)
    contents = read_model(model)
    n_nodes = len(contents.arrays["signs"])
    n_edges = len(contents.arrays["rec_pre"])
    what = f"{n_nodes} neurons of {contents.structure.n_types} types, {n_edges} recurrent synapses"
    if args.to == "nir":
        from neuromod_models.export_nir import export_nir

        print(f"{what} → {export_nir(contents, out, name=args.name)}")
    elif args.to == "nest":
        from neuromod_models.export_nest import export_nest

        files = export_nest(contents, out)
        print(f"{what} → {files['script']} (run it: python {files['script']} --help)")
    else:
        from neuromod_models.export_sonata import export_sonata

        files = export_sonata(contents, out, name=args.name)
        print(f"{what} → {files['nodes'].parent}")
    return 0
