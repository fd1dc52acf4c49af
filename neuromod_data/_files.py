"""File helpers shared by readers and writers: atomic writes of files and folders, the cleanup of
temporaries a killed process left behind, input/output checks, the lock that keeps two processes
from writing one output, and the shared real-data folder.

Temporaries are hidden siblings of their target named ``.<name>.tmp<pid>.<host>.<random>``: the
process id and host in the name let the next writer of the same target tell a temporary of a dead
process (a ``kill -9``, a node failure) from one still being written, and remove it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from neuromod_data.errors import InputFileError, NeuromodWarning, OutputError

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"
_STALE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)(?P<pid>\d+)\.(?P<host>[A-Za-z0-9-]+)\.")


def _prefix(name: str, kind: str = "tmp") -> str:
    return f".{name}.{kind}{os.getpid()}.{_HOST}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale(directory: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove the temporaries of dead processes in ``directory`` (only those of ``name`` if given).

    A previous folder moved aside by :func:`atomic_dir` whose replacement never arrived (the
    process died between the two renames) is put back instead. Temporaries of live processes and
    of other hosts are left alone. Returns what was removed or restored.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".out.csv.tmp999999999.elsewhere.ab12.csv").write_text("x")  # another host: kept
    >>> clean_stale(d, "out.csv")
    []
    """
    d = Path(directory)
    done: list[Path] = []
    try:
        entries = list(d.iterdir())
    except OSError:
        return done
    for entry in entries:
        m = _STALE.match(entry.name)
        if not m or (name is not None and m["name"] != name):
            continue
        if m["host"] != _HOST or _alive(int(m["pid"])):
            continue
        target = d / m["name"]
        try:
            if m["kind"] == "old" and not target.exists():
                os.rename(entry, target)
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # another process cleaned it first
            continue
        done.append(entry)
    return done


#: what writers other than ``open()`` say when a disk is full or failing; ``torch.save`` raises a
#: ``RuntimeError`` ("PytorchStreamWriter failed writing file ...", "unexpected pos ...")
_DISK_SIGNS = (
    "No space left on device",
    "Disk quota exceeded",
    "Input/output error",
    "Read-only file system",
    "File too large",
    "file write failed",
    "PytorchStreamWriter failed",
    "unexpected pos",
)


def disk_failure(exc: BaseException, where: str | os.PathLike | None = None) -> str | None:
    """What ``exc`` says when it is a failed write to a full or failing disk, else ``None``.

    ``where`` (a folder being written) also counts a failure while that file system has no
    space left, whatever the writer said.

    Examples
    --------
    >>> disk_failure(RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"))
    'PytorchStreamWriter failed writing file data/0: file write failed'
    >>> disk_failure(RuntimeError("shape mismatch")) is None
    True
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.strerror or str(exc)
    text = " ".join(str(exc).split())
    if any(sign in text for sign in _DISK_SIGNS):
        return text
    if where is not None:
        try:
            st = os.statvfs(where)
        except OSError:
            return None
        if st.f_bavail * st.f_frsize < 1 << 20:
            return f"No space left on device ({text})" if text else "No space left on device"
    return None


def _write_failed(exc: BaseException, target: Path, tmp: Path | None) -> None:
    """Re-raise a failure of writing ``target`` on a full or failing disk as an ``OSError`` naming
    ``target`` (a file-system failure, not a bug): a writer's ``RuntimeError`` (``torch.save``), or
    an ``OSError`` that names no file or only the hidden temporary. Anything else is left alone."""
    if isinstance(exc, OSError):
        if exc.errno is None or exc.filename not in (None, str(tmp), tmp):
            return
        raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
    what = disk_failure(exc, target.parent)
    if what is not None:
        raise OSError(errno.ENOSPC, f"cannot write ({what})", str(target)) from exc


def _umask() -> int:
    """The process umask, read without changing it.

    ``os.umask`` reads the mask only by setting a new one: set-and-restore leaves an instant in
    which a file another thread creates gets the wrong mode. Linux (4.7 and later) reports the mask
    in ``/proc/self/status`` (``Umask:``); elsewhere on POSIX a child shell, which inherits the
    mask, prints it (a few milliseconds, once per written output). Only where neither works
    (Windows, where the mask covers the write bit only) is it set and restored.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    if os.name == "posix":
        import subprocess

        try:
            out = subprocess.run(
                ["/bin/sh", "-c", "umask"], capture_output=True, text=True, timeout=30, check=True
            ).stdout
            return int(out.strip(), 8)
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back during a few renames that must happen together (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Readers of ``path`` therefore never see a half-written file, and a failure leaves nothing behind.
    Temporaries that a killed earlier writer of ``path`` left are removed first.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("a,b\\n")
    >>> target.read_text()
    'a,b\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent, path.name)
    sfx = suffix if suffix is not None else "".join(path.suffixes) or ".tmp"
    tmp_path: Path | None = None
    try:
        # a signal between creating the temporary and knowing its name would leak it
        with _signals_deferred():
            fd, tmp = tempfile.mkstemp(prefix=_prefix(path.name), suffix=sfx, dir=path.parent)
            tmp_path = Path(tmp)
            os.close(fd)
            # mkstemp creates 0600; give the final file the permissions a plain open() would
            os.chmod(tmp, 0o666 & ~_umask())
        try:
            yield tmp_path
        except Exception as exc:
            _write_failed(exc, path, tmp_path)
            raise
        with _signals_deferred():
            os.replace(tmp_path, path)
    finally:
        if tmp_path is not None:
            with _signals_deferred():
                if tmp_path.exists():
                    tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; it replaces ``path`` only if the block succeeds.

    The folder's contents therefore always come from one run: an interrupted rerun leaves the
    previous folder as it was, and files the new run does not write do not survive from the old
    one. The previous folder is removed once the new one is in place.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with atomic_dir(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("first")
    ...     _ = (tmp / "b.txt").write_text("first")
    >>> with atomic_dir(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("second")
    >>> sorted(p.name for p in out.iterdir()), (out / "a.txt").read_text()
    (['a.txt'], 'second')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent, path.name)
    stage: Path | None = None
    try:
        with _signals_deferred():
            stage = Path(tempfile.mkdtemp(prefix=_prefix(path.name), dir=path.parent))
            os.chmod(stage, 0o777 & ~_umask())
        yield stage
        with _signals_deferred():
            if path.is_symlink() or path.exists() and not (path.is_dir() and _empty(path)):
                aside = path.parent / (_prefix(path.name, "old") + secrets.token_hex(4))
                os.rename(path, aside)
                os.rename(stage, path)
                shutil.rmtree(aside, ignore_errors=True)
            else:  # absent or an empty folder: one rename replaces it
                os.rename(stage, path)
    finally:
        if stage is not None:
            with _signals_deferred():
                shutil.rmtree(stage, ignore_errors=True)


def _empty(folder: Path) -> bool:
    with os.scandir(folder) as it:
        return next(it, None) is None


def require_file(path: str | os.PathLike, what: str = "input file") -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`, or raise one clear error if it is not a file.

    Pipes, sockets and devices are refused too: reading one could block forever.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InputFileError(f"{what} not found: {p}")
    if p.is_dir():
        raise InputFileError(f"{what} is a directory, expected a file: {p}")
    require_regular(p, what)
    return p


def require_regular(path: str | os.PathLike, what: str = "input") -> Path:
    """Refuse an existing path that is neither a regular file nor a folder (FIFO, socket, device)."""
    p = Path(path).expanduser()
    if p.exists() and not (p.is_file() or p.is_dir()):
        raise InputFileError(
            f"{what} is not a regular file (a pipe, socket or device cannot be read safely): {p}"
        )
    return p


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    out: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None] = (),
    *,
    kind: str = "file",
    option: str = "--out",
) -> Path:
    """Check before any work that ``out`` can be written and overwrites no input.

    ``kind="file"``: ``out`` must not be an existing folder, a pipe or device, or one of ``inputs``.
    ``kind="dir"``: ``out`` must not be an existing file, and no input may lie inside it. In both
    cases the nearest existing parent must be a folder this process can create files in (tested by
    creating and removing one, which also catches read-only file systems).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "in.csv").write_text("x")
    >>> check_output(d / "in.csv", [d / "in.csv"])
    Traceback (most recent call last):
    ...
    neuromod_data.errors.OutputError: --out ... is also an input; write the result elsewhere
    """
    p = Path(out).expanduser()
    ins = [Path(i).expanduser() for i in inputs if i is not None]
    if kind == "file":
        if p.is_dir():
            raise OutputError(f"{option} {p} is a folder; give a file name (e.g. {p / 'out.csv'})")
        if p.exists() and not p.is_file():
            raise OutputError(f"{option} {p} is not a regular file (a pipe or device)")
        for i in ins:
            if _same(p, i) or p.resolve() == i.resolve():
                raise OutputError(f"{option} {p} is also an input; write the result elsewhere")
    else:
        if p.exists() and not p.is_dir():
            raise OutputError(f"{option} {p} exists and is not a folder")
        root = p.resolve()
        for i in ins:
            r = i.resolve()
            if r == root or root in r.parents:
                raise OutputError(
                    f"{option} {p} would replace the input {i}; write the results elsewhere"
                )
    probe = p if kind == "dir" and p.is_dir() else p.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{option} {p}: {probe} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise OutputError(
            f"{option} {p}: cannot write in {probe} ({exc.strerror or exc})"
        ) from None
    return p


def lock_path(out: str | os.PathLike) -> Path:
    """Where the lock of the output ``out`` lives: the hidden sibling ``.<name>.lock``.

    Beside the output, not inside it: :func:`atomic_dir` replaces the folder as a whole, which
    would take a lock inside it along.

    Examples
    --------
    >>> lock_path("/data/runs/seed0").name
    '.seed0.lock'
    """
    p = Path(out).expanduser().resolve()  # two names of one folder (a symlink) share one lock
    return p.parent / f".{p.name or 'root'}.lock"


def _read_holder(fd: int) -> dict:
    """The ``pid``/``host``/``command`` a lock file records (``{}`` when empty or unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace")
        holder = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe_holder(holder: dict) -> str:
    what = str(holder.get("command") or "another process")
    pid = holder.get("pid", "?")
    host = holder.get("host") or "?"
    return f"{what} (PID {pid} on {host})"


class OutputLock:
    """An exclusive lock on one output (file or folder) held by this process; see
    :func:`output_lock`."""

    def __init__(self, out: str | os.PathLike, *, option: str = "--out", command: str = "") -> None:
        self.out = Path(out).expanduser()
        self.path = lock_path(out)
        self.option = option
        self.command = command or "neuromod"
        self._fd: int | None = None
        self._made: list[Path] = []

    def _make_parents(self) -> None:
        # the output's parents would be made by the work anyway; the ones made only for the lock
        # are removed with it when they stay empty, so a refused command adds no folder
        missing = []
        p = self.path.parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        for q in reversed(missing):
            try:
                q.mkdir()
            except FileExistsError:
                continue
            self._made.append(q)

    def _refuse(self, holder: dict, why: str = "") -> OutputError:
        return OutputError(
            f"{self.option} {self.out} is being written by {_describe_holder(holder)}{why}; wait "
            f"for it to finish or give another {self.option} (lock: {self.path})"
        )

    def acquire(self) -> OutputLock:
        """Take the lock, or raise :class:`OutputError` naming the output and the holder's PID."""
        if self._fd is not None:
            return self
        self._make_parents()
        try:
            for _ in range(100):  # retried only when another process replaced the file under us
                try:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                except PermissionError:
                    # an existing folder written in place (a training run) inside a folder this
                    # process may not write: its lock goes inside it, where every writer looks next
                    inside = self.out.expanduser().resolve() / ".neuromod.lock"
                    if self.path == inside or not inside.parent.is_dir():
                        raise
                    self.path = inside
                    continue
                try:
                    if self._take(fd):
                        return self
                except BaseException:
                    os.close(fd)
                    raise
                os.close(fd)
            raise OutputError(f"{self.option} {self.out}: cannot take the lock {self.path}")
        except BaseException:
            self._remove_parents()
            raise

    def _take(self, fd: int) -> bool:
        """Lock ``fd``; ``False`` when the file was removed or replaced meanwhile (retry)."""
        import fcntl

        flocked = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._refuse(_read_holder(fd)) from None
        except OSError:  # a file system without flock: judge by the recorded process alone
            flocked = False
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:  # its holder released (removed) it between our open and our flock
            return False
        holder = _read_holder(fd)
        if holder and holder.get("pid") != os.getpid():
            host = str(holder.get("host") or "")
            pid = holder.get("pid")
            ours = host in (_HOST, socket.gethostname())
            if not ours:
                # a process on another machine cannot be checked from here; reclaiming a lock
                # that is still in use would silently mix two runs, so the user decides
                raise self._refuse(
                    holder,
                    f", a process on another host that cannot be checked from here (remove "
                    f"{self.path} if no run is writing there)",
                )
            if not flocked and isinstance(pid, int) and _alive(pid):
                raise self._refuse(holder)
            warnings.warn(
                f"{self.option} {self.out}: reclaimed the lock {self.path} left by "
                f"{_describe_holder(holder)}, which no longer runs",
                NeuromodWarning,
                stacklevel=4,
            )
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(record) + "\n").encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Remove the lock file, then drop the lock (in this order: see :meth:`_take`)."""
        if self._fd is None:
            return
        with _signals_deferred():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self._fd)
            self._fd = None
            self._remove_parents()

    def _remove_parents(self) -> None:
        for q in reversed(self._made):
            with contextlib.suppress(OSError):  # not empty: the work put something there
                q.rmdir()
        self._made = []

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def output_lock(out: str | os.PathLike, *, option: str = "--out", command: str = "") -> OutputLock:
    """A lock that keeps two processes from writing the same output at the same time.

    The lock is the file ``.<name>.lock`` beside ``out`` (:func:`lock_path`), holding the PID, host
    and command of its holder, and locked with ``flock`` while held, so the lock of a process that
    died (``kill -9``, a node failure) is free again: it is reclaimed with a
    :class:`~neuromod_data.errors.NeuromodWarning`. A lock held by a live process raises
    :class:`~neuromod_data.errors.OutputError` naming ``out`` and the holder's PID; one recorded by
    another host is refused too (its process cannot be checked from here). Use it as a context
    manager around everything the command writes; it is removed on the way out.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with output_lock(out, command="neuromod train"):
    ...     with output_lock(out):
    ...         pass
    Traceback (most recent call last):
    ...
    neuromod_data.errors.OutputError: --out ... is being written by neuromod train (PID ...
    >>> lock_path(out).exists()
    False
    """
    return OutputLock(out, option=option, command=command)


def shared_data_dir() -> Path | None:
    """The real public data used by tests and benchmarks, or ``None`` where it is absent.

    Looked up at ``$NEUROMOD_SHARED_DATA``, then ``../shared/data`` beside the repository root.
    """
    env = os.environ.get("NEUROMOD_SHARED_DATA")
    candidates = [Path(env)] if env else []
    repo_root = Path(__file__).resolve().parent.parent
    candidates += [repo_root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None
