"""The ``neuromod`` command line.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an
exit code). Modules are imported only when the parser is built; ``train`` imports torch only when run.

Whatever goes wrong ends in one line on stderr, ``neuromod <command>: error: <what and where>``, and
a non-zero exit code: 2 for bad input or options (an output place refused before any work counts
here, so does an output folder another process is writing: its lock names that process's PID),
1 for a file-system failure during the work (a full disk included, whatever the writer raised),
130 / 143 when interrupted by SIGINT / SIGTERM (temporaries are removed on the way out; a signal
that arrives inside a compiled kernel is delivered when the kernel returns), 70 for an internal
error (a bug: ``NEUROMOD_DEBUG=1`` shows its traceback). Warnings print as one line each.

This module holds only :func:`main`, which the console script imports before anything can catch
Ctrl-C: main() installs its signal handlers first and only then loads the command line itself
(:mod:`neuromod_data.cli._main`, whose other names are looked up on first use), so an interrupt at
any moment after the console script's first line ends in one line and exit 130.
"""

from __future__ import annotations

import sys
from typing import Any


class _Held:
    """SIGINT / SIGTERM received before the command line is loaded: remembered, not raised, so no
    import is cut in half (an exception raised inside the import system, or in a callback it runs,
    ends in a traceback or is lost). :mod:`neuromod_data.cli._main` reports it."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}  # signal → the caller's handler
        self.received = 0

    def __call__(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        self.received = self.received or signum

    def install(self) -> None:
        import signal

        for s in (signal.SIGINT, signal.SIGTERM):
            before = signal.getsignal(s)
            if before is signal.SIG_IGN:
                continue  # ignored on purpose by whoever started us (nohup, a background job)
            try:
                signal.signal(s, self)
            except ValueError:  # not the main thread: signals are its business
                return
            self.previous[s] = before

    def restore(self) -> None:
        import signal

        for s, handler in self.previous.items():
            signal.signal(s, handler)


def _command_line() -> Any:
    import importlib

    return importlib.import_module("neuromod_data.cli._main")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neuromod`` console script: run ``argv`` (default ``sys.argv[1:]``).

    Returns the exit code (module docstring); with ``argv`` given, the caller's signal handlers
    are back in place when it returns. Without (the console script) an interrupted process exits
    here.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    neuromod ...
    0
    """
    held = _Held()
    try:
        held.install()  # first: everything after it may take seconds (importing every command)
    except KeyboardInterrupt:  # pragma: no cover - while importing signal, before any handler
        held.restore()
        print("neuromod: interrupted while starting; nothing was done", file=sys.stderr)
        return 130
    return _command_line().main(argv, held)


def __getattr__(name: str) -> Any:
    # the command line's other names (build_parser, COMMANDS, ...) live in _main, loaded on use
    if name.startswith("__") or name == "_main":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return getattr(_command_line(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
