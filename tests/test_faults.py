"""Faults that need real processes (issue 24): two writers of one output folder, interrupts inside
numba kernels and during imports, a full disk while a checkpoint is written.

Each ends with the documented exit code, no traceback, and one line naming what is at fault
(``check_one_line`` of the fault sweep). Subprocess runs are tiny and bounded in number and time.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuromod_data.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = (
    "task_options: {T: 40, n_cues: 3, t_cue: 4, t_interval: 6, recall_duration: 8}\n"
    "network: {n_rec: 12, n_adaptive: 4}\n"
    "batch_size: 2\n"
    "validate_every: 1\n"
)


def check_one_line(err: str, *culprits: str, after_warnings: bool = False) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if after_warnings:
        lines = [ln for ln in lines if ": warning: " not in ln]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    line = lines[0]
    assert line.startswith("neuromod"), line
    assert "Traceback" not in err and "internal error" not in line, err
    for c in culprits:
        assert c in line, f"{c!r} not named in: {line}"
    return line


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def _sigint_default() -> None:
    """Run in each child before it starts: SIGINT at its default, as a terminal's Ctrl-C finds a
    command. A shell without job control starts background jobs (``nohup pytest ... &``) with
    SIGINT ignored, children inherit that, and an ignored Ctrl-C is no test of our handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "neuromod_data.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=_sigint_default,
        **kw,
    )


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 120) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def _train_argv(d: Path, out: Path, iterations: int = 100000, *extra: str) -> list[str]:
    return ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config",
            str(d / "tiny.yaml"), "--iterations", str(iterations), "--checkpoint-every", "1",
            "--no-progress", "--out", str(out), *extra]  # fmt: skip


@pytest.fixture
def d(tmp_path) -> Path:
    (tmp_path / "tiny.yaml").write_text(TINY)
    return tmp_path


# ------------------------------------------------------------------------------ two writers
def test_second_writer_of_one_folder_is_refused(d):
    """While one ``neuromod train`` writes ``run``, a second into ``run`` exits 2 naming the folder
    and the first one's PID; the first one's run is untouched and finishes its checkpoints."""
    run = d / "run"
    first = _cli(*_train_argv(d, run))
    try:
        assert _wait_for(lambda: (run / "checkpoint.pt").exists(), first), first.communicate()
        second = subprocess.run(
            [sys.executable, "-m", "neuromod_data.cli", *_train_argv(d, run)],
            capture_output=True, text=True, timeout=60, env=_env(), preexec_fn=_sigint_default,
        )  # fmt: skip
        assert second.returncode == 2, second.stderr
        line = check_one_line(second.stderr, str(run), str(first.pid))
        assert "train" in line
        assert first.poll() is None, "the first writer was disturbed"
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 143
    assert not [p for p in d.iterdir() if p.name.endswith(".lock")], "the lock was left behind"


def test_stale_lock_of_a_dead_process_is_reclaimed(d, capfd):
    """A lock left by a killed process (its PID is gone) is taken over, with one warning."""
    from neuromod_data._files import lock_path

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = lock_path(d / "run")
    host = socket.gethostname()
    lock.write_text(f'{{"pid": {dead.pid}, "host": "{host}", "command": "neuromod train"}}\n')
    rc = main(_train_argv(d, d / "run", 1))
    out, err = capfd.readouterr()
    assert rc == 0, err
    warning = [ln for ln in err.splitlines() if ": warning: " in ln]
    assert len(warning) == 1 and str(dead.pid) in warning[0] and "lock" in warning[0], err
    assert not lock.exists()
    assert (d / "run" / "metrics.json").is_file()


def test_lock_of_a_live_process_in_this_process_is_refused(d, capfd):
    """In-process: a lock held (flock) by an open descriptor refuses the command before any work."""
    from neuromod_data._files import output_lock

    with output_lock(d / "run", command="neuromod graph"):
        rc = main(_train_argv(d, d / "run", 1))
    _, err = capfd.readouterr()
    assert rc == 2
    check_one_line(err, str(d / "run"), str(os.getpid()))
    assert not (d / "run").exists()


# ------------------------------------------------------------------------------- interrupts
#: a signal sent from inside numba's unpickling callback, which the dispatcher calls from C while it
#: loads a cached kernel: where a Python exception becomes "SystemError: CPUDispatcher(<function
#: _forward ...>) returned a result with an exception set" (exit 70) or a crash
_IN_KERNEL = """
import os, signal, sys
import numba.core.serialize as serialize
original, sent, sig = serialize._numba_unpickle, [], getattr(signal, sys.argv.pop(1))
def unpickle(*args):
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), sig)
    return original(*args)
serialize._numba_unpickle = unpickle
from neuromod_data.cli import main
rc = main(sys.argv[1:])
assert sent, "the kernel was not loaded through the patched callback"
sys.exit(rc)
"""


@pytest.mark.parametrize(("sig", "rc", "word"), [("SIGINT", 130, "interrupted"),
                                                  ("SIGTERM", 143, "SIGTERM")])  # fmt: skip
def test_signal_inside_a_numba_kernel_call_is_a_clean_interrupt(d, sig, rc, word):
    argv = ["train", "--task", "evidence_accumulation", "--rule", "eprop", "--config",
            str(d / "tiny.yaml"), "--iterations", "3", "--no-progress", "--out", str(d / "run")]  # fmt: skip
    res = subprocess.run([sys.executable, "-c", _IN_KERNEL, sig, *argv], capture_output=True,
                         text=True, timeout=300, env=_env(), preexec_fn=_sigint_default)  # fmt: skip
    assert res.returncode == rc, f"rc {res.returncode}\n{res.stderr}"
    check_one_line(res.stderr, word, "resume", after_warnings=True)


def _started(proc: subprocess.Popen) -> bool:
    """The command is past the interpreter's own start-up (where no program can catch a signal)
    and inside ``neuromod`` itself: numpy, which ``main()`` imports while building its parser, is
    mapped into the process."""
    try:
        return "_multiarray_umath" in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


needs_proc = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")


@needs_proc
def test_ctrl_c_at_random_moments_of_training_is_a_clean_interrupt(d):
    """SIGINT at random moments of a real ``neuromod train`` (importing, loading the kernels,
    training): exit 130 and one line each time, never exit 70 or a traceback."""
    rng = random.Random(24)
    for k in range(6):
        argv = _train_argv(d, d / f"run{k}")
        argv[argv.index("bptt")] = "eprop"
        proc = _cli(*argv)
        assert _wait_for(lambda p=proc: _started(p), proc, timeout=60), proc.communicate()
        time.sleep(rng.uniform(0.0, 7.0))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, f"try {k}: rc {proc.returncode}\n{err}"
        check_one_line(err, "interrupted", after_warnings=True)


@needs_proc
def test_ctrl_c_while_importing_is_a_clean_interrupt(d):
    """SIGINT while the command still imports its modules (the parser imports every subcommand,
    seconds): exit 130 and one line, no traceback, nothing written."""
    rng = random.Random(7)
    interrupted = 0
    for k in range(6):
        proc = _cli(*_train_argv(d, d / f"run{k}", 1))
        assert _wait_for(lambda p=proc: _started(p), proc, timeout=60), proc.communicate()
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            # on an idle machine the one-iteration command can be done before the signal: a
            # Ctrl-C after the command's work changes nothing (cli._main.main), and the run is
            # there in full
            assert (d / f"run{k}" / "metrics.csv").exists(), err
            continue
        assert proc.returncode == 130, f"try {k}: rc {proc.returncode}\n{err}"
        check_one_line(err, "interrupted", after_warnings=True)
        assert not (d / f"run{k}").exists()
        interrupted += 1
    assert interrupted >= 2, f"only {interrupted} of 6 tries were still starting at the signal"


#: the console script pip writes for ``neuromod`` (its template), with a SIGINT sent at one point
#: of the start: while a module is first imported (``signal`` is main()'s first import, so the
#: hook must not load it), or when main() asks for the caller's handler (before its own is in place)
_AT_START = """
import os, sys
point = sys.argv.pop(1)
def kill():
    os.kill(os.getpid(), 2)
if point.startswith("import:"):
    class Hook:
        def find_spec(self, fullname, path=None, target=None):
            if fullname == point[len("import:"):]:
                sys.meta_path.remove(self)
                kill()
            return None
    sys.meta_path.insert(0, Hook())
elif point == "before-handler":
    import signal
    real_getsignal = signal.getsignal
    def getsignal(signum):
        signal.getsignal = real_getsignal
        kill()
        return real_getsignal(signum)
    signal.getsignal = getsignal
import re
from neuromod_data.cli import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""


@pytest.mark.parametrize(
    "point", ["import:signal", "before-handler", "import:neuromod_data.cli._main",
              "import:neuromod_data._files", "import:neuromod_data.cli.train"],
)  # fmt: skip
def test_ctrl_c_at_each_point_of_the_start_is_a_clean_interrupt(d, point):
    """SIGINT at a fixed point of the console script's start (the random-moment tests above may
    miss the short windows): main()'s first import, between main()'s start and its handler, while
    the command line and the subcommands load. Exit 130 and one line each time, never a
    traceback, and the command does not run."""
    res = subprocess.run([sys.executable, "-c", _AT_START, point, "info", str(d / "tiny.yaml")],
                         capture_output=True, text=True, timeout=120, env=_env(), preexec_fn=_sigint_default)  # fmt: skip
    assert res.returncode == 130, f"rc {res.returncode}\n{res.stderr}"
    check_one_line(res.stderr, "interrupted")
    assert res.stdout == ""


# ------------------------------------------------------------------------------- full disk
@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(
            "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed "
            "writing file data/0: file write failed"
        ),  # fmt: skip
        OSError(28, "No space left on device"),
    ],
    ids=["RuntimeError", "OSError"],
)
def test_full_disk_while_writing_a_checkpoint(d, capfd, monkeypatch, error):
    """``torch.save`` failing on a full disk is a file-system failure (exit 1) naming the
    checkpoint, not an internal error; no temporary is left beside it."""
    import torch

    def full(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch, "save", full)
    rc = main(_train_argv(d, d / "run", 2))
    _, err = capfd.readouterr()
    assert rc == 1, err
    check_one_line(err, "checkpoint.pt", "write" if isinstance(error, RuntimeError) else "space")
    assert not [p.name for p in (d / "run").iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------- locks held by another process
_HOLD = """
import sys, time
from neuromod_data._files import output_lock
with output_lock(sys.argv[1], command="neuromod graph"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("command", ["graph", "physiology"])
def test_command_refused_while_another_process_holds_its_output(d, command):
    """``graph`` and ``physiology`` refuse an --out another live process is writing (exit 2,
    naming the folder and that process's PID) before reading any input."""
    out = d / "o"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True, env=_env(), preexec_fn=_sigint_default)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        if command == "graph":
            argv = ["graph", str(d / "cells.h5ad"), "--groupby", "x", "--out", str(out)]
        else:
            argv = ["physiology", str(d / "structure.npz"), "--ephys", str(d / "f.csv"),
                    "--ephys-metadata", str(d / "m.csv"), "--out", str(out)]  # fmt: skip
        res = subprocess.run([sys.executable, "-m", "neuromod_data.cli", *argv],
                             capture_output=True, text=True, timeout=120, env=_env(), preexec_fn=_sigint_default)  # fmt: skip
        assert res.returncode == 2, res.stderr
        check_one_line(res.stderr, str(out), str(holder.pid))
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()


def test_lock_goes_inside_an_existing_output_when_its_folder_is_not_writable(d, monkeypatch):
    """A training folder written in place inside a folder this process may not write: the lock
    is taken inside the output (where a second writer looks too), and removed afterwards."""
    from neuromod_data import _files

    out = d / "run"
    out.mkdir()
    real_open = os.open

    def no_sibling(path, *args, **kwargs):
        if str(path) == str(_files.lock_path(out)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_files.os, "open", no_sibling)
    with _files.output_lock(out) as held:
        assert held.path == out.resolve() / ".neuromod.lock" and held.path.exists()
        with pytest.raises(_files.OutputError, match=str(os.getpid())):
            _files.output_lock(out).acquire()
    assert not held.path.exists()
