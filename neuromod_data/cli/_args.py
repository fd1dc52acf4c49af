"""Checked option types and small helpers the subcommands share.

Every ``type=`` here rejects an out-of-range value while the command line is parsed, i.e. before
any data is read, with one line that names the option, the value and the allowed range.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

from neuromod_data.errors import NeuromodWarning, UsageError


def _int(text: Any) -> int:
    if isinstance(text, bool):
        raise ValueError
    if isinstance(text, int):
        return text
    if isinstance(text, float) and text.is_integer():
        return int(text)
    return int(str(text).strip())


def int_at_least(lo: int) -> Callable[[Any], int]:
    """An integer ``≥ lo``.

    Examples
    --------
    >>> int_at_least(1)("3")
    3
    >>> int_at_least(1)("-3")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 1, got '-3'
    """

    def parse(text: Any) -> int:
        try:
            v = _int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {text!r}")
        return v

    parse.__name__ = f"integer >= {lo}"
    return parse


def _float(text: Any) -> float:
    if isinstance(text, bool):
        raise ValueError
    return float(text)


def number_in(
    lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False, hint: str = ""
) -> Callable[[Any], float]:
    """A finite number in the interval from ``lo`` to ``hi`` (each end open or closed).

    Examples
    --------
    >>> number_in(0, 1)("0.9")
    0.9
    >>> number_in(0, 1, hint="a fraction")("90")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a fraction in [0, 1], got '90'
    """
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    what = f"{hint or 'a number'} in {span}"

    def parse(text: Any) -> float:
        try:
            v = _float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        ok = (
            math.isfinite(v)
            and (v > lo if lo_open else v >= lo)
            and (v < hi if hi_open else v <= hi)
        )
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return v

    parse.__name__ = what
    return parse


def finite_float(text: Any) -> float:
    """Any finite number (``nan`` and ``inf`` are refused)."""
    try:
        v = _float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def positive_float(text: Any) -> float:
    """A finite number > 0."""
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return v


def n_workers(text: Any) -> int:
    """A count of threads: ``N ≥ 1``, or ``-1`` for every core of this machine.

    Examples
    --------
    >>> n_workers("2")
    2
    >>> n_workers("-1") == (os.cpu_count() or 1)
    True
    """
    try:
        v = _int(text)
    except (TypeError, ValueError):
        v = 0
    cores = os.cpu_count() or 1
    if v == -1:
        return cores
    if v < 1:
        raise argparse.ArgumentTypeError(
            f"must be a number of threads >= 1, or -1 for all cores, got {text!r}"
        )
    if v > cores:
        # more threads than cores only wait on each other; far more fail to start at all
        raise argparse.ArgumentTypeError(
            f"must be at most the {cores} cores of this machine (or -1 for all), got {text!r}"
        )
    return v


def available_memory() -> int | None:
    """Bytes of memory this machine can give a new allocation now (``None`` if unknown).

    ``MemAvailable`` of ``/proc/meminfo`` (free memory plus what the page cache can give back),
    else psutil where installed, else the free pages ``os.sysconf`` reports.
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - absent or unsupported here
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_setting(name: str, value: Any, parse: Callable[[Any], Any], where: str = "") -> Any:
    """Apply an option type to a value from a config file; one :class:`UsageError` if it fails."""
    try:
        return parse(value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{where}{name} {exc}") from None


class Parser(argparse.ArgumentParser):
    """``argparse`` with a one-line error: the message and where to look, without the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def show_warnings(caught: list[warnings.WarningMessage], command: str) -> None:
    """Print recorded warnings as one plain line each on stderr (the toolkit's own only)."""
    seen = set()
    for w in caught:
        if not issubclass(w.category, NeuromodWarning) and not os.environ.get("NEUROMOD_DEBUG"):
            continue
        text = " ".join(str(w.message).split())
        if text not in seen:
            seen.add(text)
            print(f"neuromod {command}: warning: {text}", file=sys.stderr)


def hold_output(args: argparse.Namespace, out: Any, *, option: str = "--out") -> None:
    """Lock the output ``out`` until the command ends, or refuse: another process writes it.

    The lock (:func:`neuromod_data._files.output_lock`) goes onto ``args.resources``, the stack
    ``neuromod_data.cli.main`` releases after the command, whatever way it ends.
    """
    from neuromod_data._files import output_lock

    resources = getattr(args, "resources", None)
    if resources is None:  # outside main() nothing would release the lock
        raise RuntimeError("internal: hold_output needs args.resources (set by cli.main)")
    command = f"neuromod {getattr(args, 'command', '')}".strip()
    resources.enter_context(output_lock(out, option=option, command=command))
