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
"""

from __future__ import annotations

import os
import signal
import sys

# Ctrl-C before main() has installed its handler (the console script imports this module first)
# must not print a traceback: the interrupt is remembered and main() reports it (exit 130).
_IMPORT_INTERRUPTED = False
try:
    import contextlib
    import importlib
    import pkgutil
    import threading
    import warnings

    from neuromod_data import _interrupts
    from neuromod_data._files import disk_failure
    from neuromod_data.cli._args import Parser
    from neuromod_data.errors import NeuromodError, NeuromodWarning
except KeyboardInterrupt:  # pragma: no cover - timing dependent
    _IMPORT_INTERRUPTED = True

#: Subcommands listed first by ``neuromod --help``, in this order; any other module of this package
#: (not starting with ``_``) is a subcommand too and follows in alphabetical order.
COMMANDS = ("info", "aggregate", "graph", "train", "fetch", "report")


def _command_modules() -> list[str]:
    here = os.path.dirname(__file__)
    found = sorted(m.name for m in pkgutil.iter_modules([here]) if not m.name.startswith("_"))
    return [c for c in COMMANDS if c in found] + [m for m in found if m not in COMMANDS]


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Snakemake, SLURM and ``kill`` send), raised like Ctrl-C so cleanups run."""


def build_parser() -> Parser:
    from neuromod_data import __version__

    parser = Parser(
        prog="neuromod",
        description="Single-cell tables → modulation graphs → trainable spiking networks.",
    )
    parser.add_argument("--version", action="version", version=f"neuromod {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _command_modules():
        module = importlib.import_module(f"neuromod_data.cli.{name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


#: the signal main()'s handler received (0: none): an error surfacing after it is its consequence
_RECEIVED = 0


def _on_signal(signum: int, frame) -> None:  # noqa: ARG001
    global _RECEIVED
    # a second signal must not interrupt the cleanup the first one started
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    _RECEIVED = signum
    # inside compiled code the exception waits until the kernel returns (neuromod_data._interrupts)
    _interrupts.deliver(Terminated() if signum == signal.SIGTERM else KeyboardInterrupt())


def _as_interrupt(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt ``exc`` stands for: a ``KeyboardInterrupt`` in its chain (numba's dispatcher
    turns one raised in its Python callbacks into ``SystemError: ... returned a result with an
    exception set``), or any error raised after a signal arrived."""
    found = _interrupts.interrupt_in(exc)
    if found is not None:
        return found
    if _RECEIVED:
        return Terminated() if _RECEIVED == signal.SIGTERM else KeyboardInterrupt()
    return None


def _interrupted(command: str, exc: KeyboardInterrupt) -> int:
    how = "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
    more = str(exc.args[0]) if exc.args else "nothing half-written was kept"
    print(f"neuromod{' ' + command if command else ''}: {how}; {more}", file=sys.stderr)
    return 143 if isinstance(exc, Terminated) else 130


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001
    if not issubclass(category, NeuromodWarning) and not os.environ.get("NEUROMOD_DEBUG"):
        return  # third-party notices are noise on a command line
    command = _show_warning.command  # type: ignore[attr-defined]
    text = " ".join(str(message).split())
    print(f"neuromod {command}: warning: {text}", file=sys.stderr)


def _silence_stdout() -> None:
    """After a closed pipe (``neuromod info ... | head``): send what is left to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _describe_os_error(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    where = exc.filename
    return f"{what}: {where}" if where else what


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neuromod`` console script."""
    rc = _main(argv)
    if argv is None and rc in (130, 143):
        # The process ends here. An interrupt that went through C code which ran Python (an
        # extension module's import) leaves CPython's "unhandled KeyboardInterrupt" mark set even
        # though it was handled, and the interpreter would then kill itself with SIGINT at exit
        # (status -2 instead of the documented 130). Everything was cleaned up on the way here.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(rc)
    return rc


def _main(argv: list[str] | None) -> int:
    global _RECEIVED
    command = ""
    if _IMPORT_INTERRUPTED:  # pragma: no cover - timing dependent
        print("neuromod: interrupted while starting; nothing was done", file=sys.stderr)
        return 130
    # the handlers come first: the parser imports every subcommand (seconds), and Ctrl-C meanwhile
    # must end like any other interrupt
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = {}
    _RECEIVED = 0
    if main_thread:
        for s in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(s) is signal.SIG_IGN:
                continue  # ignored on purpose by whoever started us (nohup, a background job)
            handlers[s] = signal.signal(s, _on_signal)
    shown = warnings.showwarning
    resources = contextlib.ExitStack()  # what a command holds until it ends (its output's lock)
    try:
        with resources:
            try:
                parser = build_parser()
                args = parser.parse_args(argv)
            except SystemExit as exc:  # --help, --version, or a bad option (already printed)
                return exc.code if isinstance(exc.code, int) else 2
            except KeyboardInterrupt as exc:  # while importing the subcommands
                return _interrupted("", exc)
            except Exception as exc:
                if (interrupt := _as_interrupt(exc)) is None:
                    raise
                return _interrupted("", interrupt)
            command = args.command
            args.resources = resources
            _show_warning.command = command  # type: ignore[attr-defined]
            warnings.showwarning = _show_warning
            return _run(args, command)
    except KeyboardInterrupt as exc:  # while releasing what the command held
        return _interrupted(command, exc)
    finally:
        warnings.showwarning = shown
        for s, h in handlers.items():
            signal.signal(s, h)


def _run(args, command: str) -> int:
    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()
        return rc
    except NeuromodError as exc:
        print(f"neuromod {command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(command, exc)
    except BrokenPipeError:  # the reader of our output went away (`| head`): not an error
        _silence_stdout()
        return 141
    except OSError as exc:
        if (interrupt := _as_interrupt(exc)) is not None:
            return _interrupted(command, interrupt)
        print(f"neuromod {command}: error: {_describe_os_error(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"neuromod {command}: error: out of memory", file=sys.stderr)
        return 1
    except Exception as exc:
        if (interrupt := _as_interrupt(exc)) is not None:
            return _interrupted(command, interrupt)
        if disk_failure(exc) is not None:  # e.g. torch.save's RuntimeError on a full disk
            print(f"neuromod {command}: error: {disk_failure(exc)}", file=sys.stderr)
            return 1
        if os.environ.get("NEUROMOD_DEBUG"):
            raise
        text = " ".join(str(exc).split())[:300]
        print(
            f"neuromod {command}: internal error: {type(exc).__name__}: {text} (a bug; "
            "NEUROMOD_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
