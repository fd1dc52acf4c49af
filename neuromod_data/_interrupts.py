"""Interrupts that arrive inside compiled code are delivered after it returns.

A Python signal handler runs at the next bytecode boundary of the main thread, which may lie in a
Python callback made from C code that does not expect an exception there: numba's dispatcher
unpickles and type-checks arguments through Python calls, and a ``KeyboardInterrupt`` raised in one
of them surfaces as ``SystemError: CPUDispatcher(...) returned a result with an exception set``.
Library code therefore marks such calls with :func:`deferred`, and a handler that cooperates (the
``neuromod`` command's) hands its exception to :func:`deliver`, which raises it at once outside a
deferred region and at the end of the region inside one.

Nothing here installs a handler or changes process-wide state: without a cooperating handler
:func:`deferred` only counts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["deferred", "deliver", "interrupt_in"]

_local = threading.local()
#: the exception a handler delivered while the main thread was in a deferred region
_pending: list[BaseException] = []


def _depth() -> int:
    return getattr(_local, "depth", 0)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run a block during which an interrupt is held back and raised when the block ends.

    Examples
    --------
    >>> try:
    ...     with deferred():
    ...         deliver(KeyboardInterrupt("late"))  # what a handler does inside the block
    ...         print("the block finishes")
    ... except KeyboardInterrupt as exc:
    ...     print("then the interrupt:", exc)
    the block finishes
    then the interrupt: late
    """
    _local.depth = _depth() + 1
    try:
        yield
    finally:
        _local.depth -= 1
        if _local.depth == 0 and _pending:
            exc = _pending.pop()
            _pending.clear()
            raise exc  # replaces any error the interrupted block raised: the interrupt caused it


def deliver(exc: BaseException) -> None:
    """For a signal handler: raise ``exc`` now, or when the current deferred region ends."""
    if _depth() > 0:
        if not _pending:
            _pending.append(exc)
        return
    raise exc


def interrupt_in(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The ``KeyboardInterrupt`` in ``exc``'s chain of causes and contexts, else ``None``.

    Examples
    --------
    >>> try:
    ...     try:
    ...         raise KeyboardInterrupt
    ...     except KeyboardInterrupt as ki:
    ...         raise SystemError("returned a result with an exception set") from ki
    ... except SystemError as err:
    ...     type(interrupt_in(err)).__name__
    'KeyboardInterrupt'
    """
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, KeyboardInterrupt):
            return e
        todo += [e.__cause__, e.__context__]
    return None
