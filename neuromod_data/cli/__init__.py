"""The ``neuromod`` command line.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an
exit code). Modules are imported only when the parser is built; ``train`` imports torch only when run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from neuromod_data.errors import NeuromodError

#: Subcommands in the order ``neuromod --help`` lists them.
COMMANDS = ("info", "aggregate", "graph", "train", "fetch", "report")


def build_parser() -> argparse.ArgumentParser:
    from neuromod_data import __version__

    parser = argparse.ArgumentParser(
        prog="neuromod",
        description="Single-cell tables → modulation graphs → trainable spiking networks.",
    )
    parser.add_argument("--version", action="version", version=f"neuromod {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"neuromod_data.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"neuromod_data.cli.{name}":
                continue  # subcommand not shipped in this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neuromod`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NeuromodError as exc:
        print(f"neuromod {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neuromod {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
