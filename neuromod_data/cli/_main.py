"""The ``neuromod`` command line proper, loaded by :func:`neuromod_data.cli.main` once its signal
handlers are in place (the package's docstring says what the command does with errors, signals and
warnings)."""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import signal
import sys
import warnings
from typing import Any

from neuromod_data import _interrupts
from neuromod_data._files import disk_failure
from neuromod_data.cli._args import Parser
from neuromod_data.errors import NeuromodError, NeuromodWarning

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


def main(argv: list[str] | None, held: Any) -> int:
    """Run the command ``argv`` (``None``: ``sys.argv``) for :func:`neuromod_data.cli.main`.

    ``held`` (:class:`neuromod_data.cli._Held`) holds the handlers main() installed before this
    module was imported: the signal they caught meanwhile, and the caller's handlers, restored at
    the end for a caller in this process (``argv`` given). The console script's process ends here,
    so its handlers stay until it exits: Ctrl-C after the command is done changes nothing.
    """
    try:
        rc = _main(argv, held)
    except KeyboardInterrupt as exc:  # outside the span where _main catches it
        rc = _interrupted("", exc)
    finally:
        if argv is not None:  # a caller in this process gets its handlers back
            held.restore()
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


def _main(argv: list[str] | None, held: Any) -> int:
    global _RECEIVED
    command = ""
    _RECEIVED = 0
    # main() caught the signals while this module was loading; from here on they raise (at once,
    # or when a compiled kernel returns), which ends the command and removes its temporaries
    for s in held.previous:
        signal.signal(s, _on_signal)
    if held.received:
        exc = Terminated() if held.received == signal.SIGTERM else KeyboardInterrupt()
        return _interrupted("", exc)
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
