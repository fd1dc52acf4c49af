"""Atomic files and folders, the cleanup of a killed writer's temporaries, and output checks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from neuromod_data._files import (
    _prefix,
    atomic_dir,
    atomic_path,
    check_output,
    clean_stale,
    require_file,
)
from neuromod_data.errors import InputFileError, OutputError


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _as_dead(name: str, kind: str = "tmp") -> str:
    """The hidden name a dead process on this host would have used for ``name``."""
    return _prefix(name, kind).replace(f"{kind}{os.getpid()}.", f"{kind}{_dead_pid()}.")


def test_atomic_dir_replaces_the_whole_folder(tmp_path):
    out = tmp_path / "run"
    with atomic_dir(out) as stage:
        (stage / "a.txt").write_text("1")
        (stage / "old.png").write_text("figure")
    with atomic_dir(out) as stage:
        (stage / "a.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]  # the old figure did not survive
    assert (out / "a.txt").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing hidden left


def test_atomic_dir_failure_leaves_the_previous_folder(tmp_path):
    out = tmp_path / "run"
    with atomic_dir(out) as stage:
        (stage / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(out) as stage:
        (stage / "a.txt").write_text("half")
        raise RuntimeError("killed")
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_atomic_dir_fills_an_empty_folder(tmp_path):
    out = tmp_path / "made_by_snakemake"
    out.mkdir()
    with atomic_dir(out) as stage:
        (stage / "x").write_text("x")
    assert (out / "x").read_text() == "x"


def test_stale_temporaries_removed_live_ones_kept(tmp_path):
    stale = tmp_path / (_as_dead("out.csv") + "abc.csv")
    stale.write_text("half-written by a killed process")
    stale_dir = tmp_path / (_as_dead("graph") + "abc")
    stale_dir.mkdir()
    (stale_dir / "interactions.csv").write_text("x")
    live = tmp_path / (_prefix("out.csv") + "def.csv")  # this process: alive
    live.write_text("being written")
    foreign = tmp_path / ".out.csv.tmp1.otherhost.xyz.csv"  # another machine: cannot tell
    foreign.write_text("?")
    removed = clean_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted([stale.name, stale_dir.name])
    assert live.exists() and foreign.exists() and not stale.exists() and not stale_dir.exists()


def test_a_folder_moved_aside_by_a_killed_swap_is_restored(tmp_path):
    aside = tmp_path / (_as_dead("graph", "old") + "abc")
    aside.mkdir()
    (aside / "summary.json").write_text("{}")
    clean_stale(tmp_path, "graph")
    assert (tmp_path / "graph" / "summary.json").read_text() == "{}"
    assert not aside.exists()


def test_atomic_path_cleans_a_killed_writers_temporary(tmp_path):
    stale = tmp_path / (_as_dead("a.csv") + "zz.csv")
    stale.write_text("half")
    with atomic_path(tmp_path / "a.csv") as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_check_output(tmp_path):
    inp = tmp_path / "cells.h5ad"
    inp.write_text("x")
    with pytest.raises(OutputError, match="also an input"):
        check_output(inp, [inp])
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match="also an input"):  # the same file by another path
        check_output(tmp_path / "sub" / ".." / "cells.h5ad", [inp])
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path, [])
    with pytest.raises(OutputError, match="would replace the input"):
        check_output(tmp_path, [inp], kind="dir")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(inp / "out.csv", [])
    with pytest.raises(OutputError, match="cannot write"):
        check_output("/proc/neuromod-test/out.csv", [])
    assert check_output(tmp_path / "new" / "deeper" / "o.csv", [inp]).name == "o.csv"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_require_file_refuses_a_fifo(tmp_path):
    fifo = tmp_path / "cells.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="not a regular file"):
        require_file(fifo)


def test_umask_is_read_without_changing_it(monkeypatch, tmp_path):
    # setting the umask to read it left an instant in which another thread's new file got the
    # wrong mode: _umask must never call os.umask where the mask can be read (Linux /proc, else a
    # child shell), and must give the mask in force
    import builtins

    from neuromod_data import _files

    if os.name != "posix":
        pytest.skip("POSIX umask")
    before = os.umask(0o027)
    try:
        calls = []
        real_umask = os.umask
        monkeypatch.setattr(os, "umask", lambda m: calls.append(m) or real_umask(m))
        assert _files._umask() == 0o027
        # without /proc (macOS, BSD): the child shell's answer
        real_open = builtins.open

        def no_proc(file, *a, **kw):
            if str(file).startswith("/proc/"):
                raise FileNotFoundError(file)
            return real_open(file, *a, **kw)

        monkeypatch.setattr(builtins, "open", no_proc)
        assert _files._umask() == 0o027
        assert calls == []
        # what it is for: an output written atomically gets 0o666 & ~umask, as open() would give
        monkeypatch.setattr(builtins, "open", real_open)
        with _files.atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")  # atomic_path yields a Path
        assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o640
        assert calls == []
    finally:
        os.umask(before)
