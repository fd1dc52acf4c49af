"""A sweep of bad inputs and faults through the ``neuromod`` command line.

Every case runs one command in a folder of its own and checks what a user would see and keep:

* the exit code is not 0 — or, for the few cases marked ``safe``, the documented safe result
  holds (checked by the case);
* stderr holds exactly one line, ``neuromod <command>: ...``, that names the culprit (the file,
  option, column or value at fault), and no Python traceback or internal error;
* nothing is lost or mixed: after a failure every file of the case's folder (inputs, earlier
  outputs, hidden files) is byte for byte what it was, and nothing was added.

The cases run in this process (``neuromod_data.cli.main``); faults that need a real process —
SIGTERM and SIGKILL in the middle of a write, a closed pipe, a FIFO — run the command as a
subprocess at the end of the module. Inputs are tiny: ``toy_cortex`` cells and files written here.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from neuromod_data.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY_TRAIN = (
    "task_options: {T: 40, n_cues: 3, t_cue: 4, t_interval: 6, recall_duration: 8}\n"
    "network: {n_rec: 12, n_adaptive: 4}\n"
    "batch_size: 2\n"
    "validate_every: 1\n"
)


# --------------------------------------------------------------------------- the base folder
def _write_counts(path: Path, cells: list[str], genes: list[str], X: np.ndarray) -> None:
    df = pd.DataFrame(X.T, index=genes, columns=cells)
    df.index.name = ""
    df.to_csv(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Files every case starts from (copied into the case's own folder)."""
    from neuromod_data.datasets import toy_cortex

    d = tmp_path_factory.mktemp("base")
    toy = toy_cortex(n_cells=400, seed=3, n_genes_background=20)
    toy.write_h5ad(d / "toy.h5ad")
    # a small genes × cells counts table and its metadata, as the M1 Patch-seq files are laid out
    sub = toy[:60, :40]
    X = np.asarray(sub.X.todense()) if hasattr(sub.X, "todense") else np.asarray(sub.X)
    cells = [f"{i + 1:04d}" for i in range(sub.n_obs)]  # zero-padded ids
    genes = list(sub.var_names)
    _write_counts(d / "counts.csv", cells, genes, X)
    meta = pd.DataFrame(
        {"Cell": cells, "cell_type": sub.obs["subclass_label"].astype(str).to_numpy()}
    )
    meta.to_csv(d / "meta.csv", index=False)
    (d / "tiny.yaml").write_text(TINY_TRAIN)
    (d / "cache").mkdir()  # the download cache (a cache folder, once made, stays)
    assert main(["graph", str(d / "toy.h5ad"), "--groupby", "subclass_label", "--min-cells", "5",
                 "--out", str(d / "graph")]) == 0  # fmt: skip
    shutil.copy(d / "graph" / "structure.npz", d / "structure.npz")
    return d


@dataclass
class Case:
    """One command line; ``{d}`` in an argument is the case's folder."""

    id: str
    argv: list[str]
    culprit: str | tuple[str, ...] = ()  # each must appear in the error line
    setup: Callable[[Path], None] | None = None
    safe: Callable[[Path, str, str], None] | None = None  # rc 0 allowed; checks the result
    env: dict[str, str] = field(default_factory=dict)


def _w(name: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            p.write_text(data)
        else:
            p.write_bytes(data)

    return setup


def _all(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for s in steps:
            s(d)

    return setup


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda d: os.mkfifo(d / name)


def _truncate(name: str, keep: float = 0.5, dest: str | None = None) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        data = (d / name).read_bytes()
        (d / (dest or name)).write_bytes(data[: int(len(data) * keep)])

    return setup


def _gz(name: str, dest: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / dest).write_bytes(gzip.compress((d / name).read_bytes()))

    return setup


def _mtx_folder(d: Path, *, truncate: bool = False, drop: str | None = None) -> None:
    f = d / "tenx"
    f.mkdir()
    lines = ["%%MatrixMarket matrix coordinate integer general", "3 2 4"]
    lines += ["1 1 5", "2 1 3", "3 2 7", "1 2 1"]
    data = gzip.compress(("\n".join(lines) + "\n").encode() * 1)
    if truncate:
        data = data[: len(data) // 2]
    (f / "matrix.mtx.gz").write_bytes(data)
    (f / "barcodes.tsv.gz").write_bytes(gzip.compress(b"AAAC-1\nAAAG-1\n"))
    (f / "features.tsv.gz").write_bytes(
        gzip.compress(
            b"g1\tVip\tGene Expression\ng2\tSst\tGene Expression\ng3\tNpy\tGene Expression\n"
        )
    )
    if drop:
        (f / drop).unlink()


def _h5ad_with(name: str, edit: Callable[[Any], Any]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        import anndata as ad

        a = ad.read_h5ad(d / "toy.h5ad")
        a = edit(a)
        a.write_h5ad(d / name)

    return setup


def _nan_x(a):
    X = a.X.toarray()
    X[0, 0] = np.nan
    a.X = X
    return a


def _one_type(a):
    a.obs["one"] = "Sst"
    return a


def _numeric_labels(a):
    """Types numbered 0, 1, ... (integers in the file): labels all the same."""
    a.obs["num"] = a.obs["subclass_label"].cat.codes.astype(np.int64)
    return a


def _none_labels(a):
    """Types named like missing values: NA, None (must stay types)."""
    a.obs["odd"] = np.where(np.arange(a.n_obs) % 2 == 0, "NA", "None")
    return a


def _counts(rows: list[str]) -> str:
    return "\n".join(rows) + "\n"


GOOD = _counts([",c1,c2,c3", "Vip,1,0,2", "Sst,0,3,1", "Npy,2,2,0"])


def _info_ok(expect: str) -> Callable[[Path, str, str], None]:
    def check(d: Path, out: str, err: str) -> None:  # noqa: ARG001
        assert expect in out, out

    return check


# ------------------------------------------------------------------ fetch: a local mirror
class _Mirror(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A local HTTP server (127.0.0.1) with a good and a swapped copy of a registry file."""
    root = tmp_path_factory.mktemp("www")
    (root / "good").mkdir()
    (root / "bad").mkdir()
    # GEO GSE115746 has no published checksum: the first download is trusted and recorded
    counts = ",c1,c2,c3\nVip,3,0,1\nSst,0,7,2\nNpy,1,1,0\n"
    meta = "sample_name,cell_class,cell_subclass,cell_cluster\nc1,GABAergic,Vip,Vip A\n"
    meta += "c2,GABAergic,Sst,Sst B\nc3,GABAergic,Sst,Sst C\n"
    (root / "good" / "GSE115746_cells_exon_counts.csv.gz").write_bytes(
        gzip.compress(counts.encode())
    )
    (root / "good" / "GSE115746_complete_metadata_28706-cells.csv.gz").write_bytes(
        gzip.compress(meta.encode())
    )
    for name in ("m1_patchseq_phys_temp_exon_counts.csv.gz", "yao2020_cluster.annotation.csv"):
        (root / "bad" / name).write_bytes(b"not the published file\n")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Mirror, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    MIRROR["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield MIRROR["url"]
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> str:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


# ----------------------------------------------------------------------------- the cases
T = "{d}/toy.h5ad"
G = ["graph", T, "--groupby", "subclass_label"]
A = ["aggregate", T, "--groupby", "subclass_label", "--stat", "mean"]
TR = ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config", "{d}/tiny.yaml",
      "--iterations", "1", "--no-progress"]  # fmt: skip
MD = ["train", "--task", "evidence_accumulation", "--rule", "mdgl", "--config", "{d}/tiny.yaml",
      "--iterations", "1", "--no-progress"]  # fmt: skip


#: the local mirror's URL, set by the ``mirror`` fixture (setups use it too)
MIRROR: dict[str, str] = {}


def _run_once(d: Path, argv: list[str]) -> None:
    argv = [a.replace("{d}", str(d)).replace("{mirror}", MIRROR.get("url", "")) for a in argv]
    assert main(argv) == 0


def _prior_train(d: Path) -> None:
    _run_once(d, [*TR, "--out", "{d}/run"])


def _prior_mdgl(d: Path) -> None:
    _run_once(d, [*MD, "--structure", "{d}/structure.npz", "--out", "{d}/run"])


def _graph_rerun_ok(d: Path, out: str, err: str) -> None:  # noqa: ARG001
    names = {p.name for p in (d / "graph").iterdir()}
    assert "graph.png" not in names and "summary.json" in names  # --no-figures: old figures gone
    assert not [p for p in d.iterdir() if p.name.startswith(".graph.")]


def _rerun_finished(d: Path, out: str, err: str) -> None:  # noqa: ARG001
    assert "already finished" in out


def _observed(d: Path, text: str) -> None:
    (d / "cache").mkdir(exist_ok=True)
    (d / "cache" / "observed_sha256.json").write_text(text)


def _lock(out: str, pid: int | None = None, host: str | None = None) -> Callable[[Path], None]:
    """A lock file beside ``d/out`` recorded by ``pid`` on ``host`` (default: a process of this
    host that has ended, i.e. a lock a killed run left)."""

    def setup(d: Path) -> None:
        import socket

        from neuromod_data._files import lock_path

        p = pid
        if p is None:
            dead = subprocess.Popen([sys.executable, "-c", "pass"])
            dead.wait()
            p = dead.pid
        record = {"pid": p, "host": host or socket.gethostname(), "command": "neuromod train"}
        lock_path(d / out).write_text(json.dumps(record) + "\n")

    return setup


def _reclaimed(out: str) -> Callable[[Path, str, str], None]:
    """The stale lock was taken over with one warning naming it, and removed at the end."""

    def check(d: Path, o: str, err: str) -> None:  # noqa: ARG001
        from neuromod_data._files import lock_path

        warned = [ln for ln in err.splitlines() if ": warning: " in ln and "lock" in ln]
        assert len(warned) == 1 and "no longer runs" in warned[0], err
        assert not lock_path(d / out).exists()

    return check


def _warned(*words: str) -> Callable[[Path, str, str], None]:
    def check(d: Path, o: str, err: str) -> None:  # noqa: ARG001
        lines = [ln for ln in err.splitlines() if ": warning: " in ln]
        assert len(lines) == 1 and all(w in lines[0] for w in words), err

    return check


def _low_quality(d: Path) -> None:
    """meta.csv's cells of the most frequent type relabelled 'low quality' (as the M1 Patch-seq
    'RNA family' marks cells that failed quality control), written as lq.csv."""
    meta = pd.read_csv(d / "meta.csv", dtype=str)
    top = meta["cell_type"].value_counts().index[0]
    meta.loc[meta["cell_type"] == top, "cell_type"] = "low quality"
    meta.to_csv(d / "lq.csv", index=False)


def _left_out_first(out: str) -> Callable[[Path, str, str], None]:
    """'low quality' is left out at once, with one warning naming it, and never appears in the
    output (the table's rows, or the structure's types) nor as a 'non-neuronal' type later."""

    def check(d: Path, o: str, err: str) -> None:  # noqa: ARG001
        warned = [ln for ln in err.splitlines() if "'low quality'" in ln]
        assert len(warned) == 1 and "quality control" in warned[0], err
        assert "non-neuronal" not in warned[0]
        if out.endswith(".csv"):
            assert "low quality" not in pd.read_csv(d / out, index_col=0).index
        else:
            from neuromod_data.structure import CellTypeStructure

            assert "low quality" not in CellTypeStructure.load(d / out / "structure.npz").names

    return check


def _config_device(value: str) -> Callable[[Path, str, str], None]:
    def check(d: Path, o: str, err: str) -> None:  # noqa: ARG001
        assert json.loads((d / "run" / "config.json").read_text())["device"] == value

    return check


#: the tiny training config with one setting changed
def _tiny(**over: str) -> str:
    lines = TINY_TRAIN.splitlines()
    for k, v in over.items():
        lines = [ln for ln in lines if not ln.startswith(f"{k}:")] + [f"{k}: {v}"]
    return "\n".join(lines) + "\n"


PH = ["physiology", "{d}/structure.npz", "--ephys", "{d}/meta.csv", "--ephys-metadata",
      "{d}/meta.csv", "--method", "map"]  # fmt: skip


# ------------------------------------------------ issue 24: results pages and units (helpers)
EA = "evidence_accumulation"
_GRID = (
    "reproduction:\n  name: {name}\n  results: results/{name}\n"
    "  tasks: {{evidence_accumulation: {{iterations: 20, batch_size: 4}}}}\n"
    "  grid: [{{tasks: [evidence_accumulation], rules: [bptt], structures: [ei], seeds: [0, 1, 2]}}]\n"
)


def _metrics(n: int = 3) -> str:
    rows = [f"{10 * i},validation,{0.7 - 0.1 * i},{0.5 + 0.1 * i}" for i in range(n)]
    return "iteration,split,loss,accuracy\n" + "\n".join(rows) + "\n"


def _run(folder: str, done: int = 20, text: str | None = None) -> Callable[[Path], None]:
    """A recorded run: metrics.csv (validation every 10 iterations up to ``done``) and a
    summary.json that records ``done`` iterations."""
    return _all(
        _w(f"{folder}/metrics.csv", _metrics(done // 10 + 1) if text is None else text),
        _w(f"{folder}/summary.json", json.dumps({"metrics": {"iterations_done": done}})),
    )


_QUICK = _all(_run(f"runs/quick/{EA}/bptt/ei/seed0"), _run(f"runs/quick/{EA}/bptt/ei/seed1"))
RP = ["results", "page", "--figures", "{d}/f", "--out", "{d}/p.md"]
AG = ["aggregate", T, "--groupby", "subclass_label", "--stat", "mean", "--genes", "Vip,Sst"]


def _page_has(*lines: str, warned: str | None = None) -> Callable[[Path, str, str], None]:
    def check(d: Path, o: str, err: str) -> None:  # noqa: ARG001
        text = (d / "p.md").read_text()
        for line in lines:
            assert line in text, line
        warnings = [ln for ln in err.splitlines() if ": warning: " in ln]
        assert len(warnings) == (warned is not None) and all(warned in w for w in warnings), err

    return check


def _ephys(in_seconds: str) -> Callable[[Path], None]:
    """Features of 4 cells per type of the base structure, membrane time constants in seconds
    for ``all`` or ``half`` of the cells."""

    def setup(d: Path) -> None:
        from neuromod_data.structure import CellTypeStructure

        types = CellTypeStructure.load(d / "structure.npz").names
        rows, meta = [], []
        for i in range(4 * len(types)):
            tau = 8.0 + i % 10
            if in_seconds == "all" or (in_seconds == "half" and i % 2):
                tau /= 1000
            rows.append(
                {"cell id": f"c{i}", "Membrane time constant (ms)": tau,
                 "Input resistance (MOhm)": 150.0, "Rheobase (pA)": 80.0, "Max number of APs": 15,
                 "Spike frequency adaptation": 0.7 if i % 2 else 1.0,
                 "ISI adaptation index": 1.3 if i % 2 else 1.0, "Latency (ms)": 50.0,
                 "AP width (ms)": 1.0, "AP threshold (mV)": -40.0,
                 "Resting membrane potential (mV)": -65.0}
            )  # fmt: skip
            meta.append({"Cell": f"c{i}", "subclass_label": types[i % len(types)], "layer": "L2/3"})
        pd.DataFrame(rows).to_csv(d / "e.csv", index=False)
        pd.DataFrame(meta).to_csv(d / "em.csv", index=False)

    return setup


PHE = ["physiology", "{d}/structure.npz", "--ephys", "{d}/e.csv", "--ephys-metadata", "{d}/em.csv",
       "--label", "subclass_label", "--min-cells", "2", "--no-figures"]  # fmt: skip


PHC = [*PHE, "--method", "map", "--connectivity", "{d}/c.csv", "--layer", "layer"]


def _nan_pair_warned(d: Path, o: str, err: str) -> None:  # noqa: ARG001
    """A pair without a probability counts as no connection, said in one warning naming the
    table; the output is written."""
    lines = [ln for ln in err.splitlines() if "no probability" in ln]
    assert len(lines) == 1 and "c.csv" in lines[0] and "no connection" in lines[0], err
    assert (d / "p" / "structure.npz").is_file()


def _conn(text: str) -> Callable[[Path], None]:
    """The ephys tables of the units cases and a connectivity table ``c.csv``."""
    return _all(_ephys("none"), _w("c.csv", text))


CASES: list[Case] = [
    # -------------------------------------------------------------------- the command itself
    Case("no-command", [], "COMMAND"),
    Case("unknown-command", ["bogus"], "bogus"),
    Case("unknown-option", ["info", T, "--bogus"], "--bogus"),
    # ------------------------------------------------------------------ info: what is read
    Case("info-missing", ["info", "{d}/nope.csv"], "nope.csv"),
    Case("info-empty-dir", ["info", "{d}/empty"], "empty", setup=lambda d: (d / "empty").mkdir()),
    Case("info-empty-file", ["info", "{d}/e.csv"], "e.csv", setup=_w("e.csv", "")),
    Case("info-png", ["info", "{d}/p.csv"], ("p.csv", "PNG"), setup=_w("p.csv", b"\x89PNG\r\n\x1a\n" + bytes(64))),
    Case("info-prose", ["info", "{d}/n.csv"], "n.csv", setup=_w("n.csv", "Dear reviewer,\nthank you.\nWe revised it.\n")),
    Case("info-binary", ["info", "{d}/b.csv"], "b.csv", setup=_w("b.csv", bytes(range(256)) * 8)),
    Case("info-gzip-garbage", ["info", "{d}/g.csv.gz"], "g.csv.gz", setup=_w("g.csv.gz", b"\x1f\x8b" + bytes(50))),
    Case("info-gzip-truncated", ["info", "{d}/t.csv.gz"], "t.csv.gz",
         setup=_all(_w("c.csv", GOOD * 1), _gz("c.csv", "full.csv.gz"), _truncate("full.csv.gz", 0.6, "t.csv.gz"))),
    Case("info-h5ad-truncated", ["info", "{d}/t.h5ad"], "t.h5ad", setup=_truncate("toy.h5ad", 0.5, "t.h5ad")),
    Case("info-h5ad-is-text", ["info", "{d}/x.h5ad"], "x.h5ad", setup=_w("x.h5ad", "a,b\n1,2\n")),
    Case("info-zip-garbage", ["info", "{d}/z.zip"], "z.zip", setup=_w("z.zip", b"PK\x03\x04" + bytes(40))),
    Case("info-zip-empty", ["info", "{d}/z.zip"], "z.zip", setup=_w("z.zip", b"PK\x05\x06" + bytes(18))),
    Case("info-10x-truncated-mtx", ["info", "{d}/tenx"], "tenx", setup=lambda d: _mtx_folder(d, truncate=True)),
    Case("info-10x-no-barcodes", ["info", "{d}/tenx"], "tenx", setup=lambda d: _mtx_folder(d, drop="barcodes.tsv.gz")),
    Case("info-negative", ["info", "{d}/c.csv"], ("Sst", "negative"), setup=_w("c.csv", _counts([",c1,c2", "Vip,1,0", "Sst,-3,1"]))),
    Case("info-nan", ["info", "{d}/c.csv"], "c.csv", setup=_w("c.csv", _counts([",c1,c2", "Vip,1,nan", "Sst,0,1"]))),
    Case("info-inf", ["info", "{d}/c.csv"], "c.csv", setup=_w("c.csv", _counts([",c1,c2", "Vip,1,inf", "Sst,0,1"]))),
    Case("info-overflow", ["info", "{d}/c.csv"], "c.csv", setup=_w("c.csv", _counts([",c1,c2", "Vip,1,1e400", "Sst,0,1"]))),
    Case("info-text-value", ["info", "{d}/c.csv"], "c.csv", setup=_w("c.csv", _counts([",c1,c2", "Vip,1,abc", "Sst,0,1"]))),
    Case("info-dup-genes", ["info", "{d}/c.csv"], "Vip", setup=_w("c.csv", _counts([",c1,c2", "Vip,1,0", "Vip,0,1", "Sst,2,2"]))),
    Case("info-dup-cells", ["info", "{d}/c.csv"], "c1", setup=_w("c.csv", _counts([",c1,c1", "Vip,1,0", "Sst,0,1", "Npy,2,2"]))),
    Case("info-ragged", ["info", "{d}/c.csv"], "c.csv", setup=_w("c.csv", _counts([",c1,c2,c3", "Vip,1,0", "Sst,0,1,4,5", "Npy,1,1,1"]))),
    Case("info-header-only", ["info", "{d}/c.csv"], "c.csv", setup=_w("c.csv", ",c1,c2,c3\n")),
    Case("info-one-column", ["info", "{d}/c.csv"], "c.csv", setup=_w("c.csv", "gene\nVip\nSst\n")),
    Case("info-utf16", ["info", "{d}/c.csv"], "c.csv", setup=_w("c.csv", GOOD.encode("utf-16"))),
    Case("info-latin1", ["info", "{d}/c.csv"], "c.csv",
         setup=_w("c.csv", ",c1,c2\nVip\xe9,1,0\nSst,0,1\nNpy,2,2\n".encode("latin-1")),
         safe=_info_ok("genes:   3")),
    Case("info-metadata-missing", ["info", "{d}/counts.csv", "--metadata", "{d}/nope.csv"], "nope.csv"),
    Case("info-metadata-no-join", ["info", "{d}/counts.csv", "--metadata", "{d}/m.csv"], "m.csv",
         setup=_w("m.csv", "id,type\nx1,A\nx2,B\n")),
    Case("info-metadata-dup-ids", ["info", "{d}/counts.csv", "--metadata", "{d}/m.csv"], "0001",
         setup=_w("m.csv", "Cell,type\n0001,A\n0001,B\n0002,C\n")),
    Case("info-metadata-missing-cells", ["info", "{d}/counts.csv", "--metadata", "{d}/m.csv"], "m.csv",
         setup=_w("m.csv", "Cell,type\n0001,A\n0002,B\n")),
    Case("info-join-missing", ["info", "{d}/counts.csv", "--metadata", "{d}/meta.csv", "--join", "nope"], "nope"),
    Case("info-zero-padded-ids", ["info", "{d}/counts.csv", "--metadata", "{d}/meta.csv"], safe=_info_ok("cells:   60")),
    Case("info-types-named-NA", ["info", "{d}/c.csv", "--metadata", "{d}/m.csv"],
         setup=_all(_w("c.csv", GOOD), _w("m.csv", "cell,cell_type\nc1,NA\nc2,None\nc3,NA\n")),
         safe=_info_ok("NA (2), None (1)")),
    Case("info-format-bogus", ["info", T, "--format", "bogus"], ("--format", "bogus")),
    Case("info-format-wrong", ["info", "{d}/counts.csv", "--format", "h5ad"], "counts.csv"),
    Case("info-intron-on-h5ad", ["info", T, "--intron"], ("toy.h5ad", "intron")),
    Case("info-fifo", ["info", "{d}/p.csv"], ("p.csv", "regular file"), setup=_fifo("p.csv")),
    Case("info-metadata-fifo", ["info", "{d}/counts.csv", "--metadata", "{d}/m.csv"], ("m.csv", "regular"), setup=_fifo("m.csv")),
    Case("info-device", ["info", "/dev/null"], "/dev/null"),
    Case("info-h5ad-nan", ["info", "{d}/n.h5ad"], "n.h5ad", setup=_h5ad_with("n.h5ad", _nan_x)),
    Case("info-summary-text", ["info", "{d}/trimmed_means.csv"], "trimmed_means.csv",
         setup=_w("trimmed_means.csv", "feature,A,B\nVip,1,x\nSst,2,3\n")),
    Case("info-explorer-negative", ["info", "{d}/sample_heatmap_plot_data.csv"], "sample_heatmap_plot_data.csv",
         setup=_w("sample_heatmap_plot_data.csv", "sample_name,cluster_label,Vip_log10_cpm\na,X,-1\nb,Y,2\n")),
    Case("info-backed-csv", ["info", "{d}/counts.csv", "--backed"], ("counts.csv", "backed")),
    # --------------------------------------------------------------------------- aggregate
    Case("agg-groupby-missing", [*A, "--groupby", "nope", "--out", "{d}/a.csv"], "nope"),
    Case("agg-stat-bogus", ["aggregate", T, "--groupby", "subclass_label", "--stat", "bogus", "--out", "{d}/a.csv"], "bogus"),
    Case("agg-min-cells-0", [*A, "--min-cells", "0", "--out", "{d}/a.csv"], "--min-cells"),
    Case("agg-min-cells-neg", [*A, "--min-cells", "-1", "--out", "{d}/a.csv"], "--min-cells"),
    Case("agg-min-cells-text", [*A, "--min-cells", "abc", "--out", "{d}/a.csv"], "--min-cells"),
    Case("agg-min-cells-huge", [*A, "--min-cells", "100000", "--out", "{d}/a.csv"], "100000"),
    Case("agg-trim-0.6", [*A, "--trim", "0.6", "--out", "{d}/a.csv"], "--trim"),
    Case("agg-trim-neg", [*A, "--trim", "-0.1", "--out", "{d}/a.csv"], "--trim"),
    Case("agg-trim-nan", [*A, "--trim", "nan", "--out", "{d}/a.csv"], "--trim"),
    Case("agg-threshold-nan", [*A, "--threshold", "nan", "--out", "{d}/a.csv"], "--threshold"),
    Case("agg-threshold-inf", [*A, "--threshold", "inf", "--out", "{d}/a.csv"], "--threshold"),
    Case("agg-genes-empty", [*A, "--genes", ",,", "--out", "{d}/a.csv"], "--genes"),
    Case("agg-genes-unknown", [*A, "--genes", "Nope1,Nope2", "--out", "{d}/a.csv"], "Nope1"),
    Case("agg-out-is-input", [*A, "--out", T], ("toy.h5ad", "input")),
    Case("agg-out-is-metadata", ["aggregate", "{d}/counts.csv", "--metadata", "{d}/meta.csv", "--groupby",
                                 "cell_type", "--stat", "mean", "--out", "{d}/meta.csv"], "meta.csv"),
    Case("agg-out-is-dir", [*A, "--out", "{d}/graph"], ("graph", "folder")),
    Case("agg-out-parent-is-file", [*A, "--out", "{d}/toy.h5ad/a.csv"], "toy.h5ad"),
    Case("agg-out-unwritable", [*A, "--out", "/proc/neuromod-test/a.csv"], "/proc"),
    # not a real device: code that wrote there anyway would replace the device node
    Case("agg-out-pipe", [*A, "--out", "{d}/pipe.csv"], ("pipe.csv", "not a regular file"), setup=_fifo("pipe.csv")),
    Case("agg-backed-csv", ["aggregate", "{d}/counts.csv", "--backed", "--groupby", "x", "--stat", "mean", "--out", "{d}/a.csv"], "--backed"),
    Case("agg-backed-metadata", [*A, "--backed", "--metadata", "{d}/meta.csv", "--out", "{d}/a.csv"], "--metadata"),
    Case("agg-input-missing", ["aggregate", "{d}/nope.h5ad", "--groupby", "x", "--stat", "mean", "--out", "{d}/a.csv"], "nope.h5ad"),
    Case("agg-input-truncated", ["aggregate", "{d}/t.h5ad", "--groupby", "x", "--stat", "mean", "--out", "{d}/a.csv"], "t.h5ad",
         setup=_truncate("toy.h5ad", 0.3, "t.h5ad")),
    Case("agg-nan-values", ["aggregate", "{d}/n.h5ad", "--groupby", "subclass_label", "--stat", "mean", "--out", "{d}/a.csv"],
         "n.h5ad", setup=_h5ad_with("n.h5ad", _nan_x)),
    Case("agg-missing-arg", ["aggregate", T, "--stat", "mean", "--out", "{d}/a.csv"], "--groupby"),
    Case("agg-rerun-replaces", [*A, "--out", "{d}/a.csv"], setup=_w("a.csv", "old\n"),
         safe=lambda d, o, e: pd.read_csv(d / "a.csv").columns[0] == "subclass_label"),
    Case("agg-zero-padded-join", ["aggregate", "{d}/counts.csv", "--metadata", "{d}/meta.csv", "--groupby", "cell_type",
                                  "--stat", "mean", "--out", "{d}/a.csv"],
         safe=lambda d, o, e: len(pd.read_csv(d / "a.csv")) >= 2),
    Case("agg-types-named-NA", ["aggregate", "{d}/o.h5ad", "--groupby", "odd", "--stat", "mean", "--out", "{d}/a.csv"],
         setup=_h5ad_with("o.h5ad", _none_labels),
         safe=lambda d, o, e: sorted(pd.read_csv(d / "a.csv", keep_default_na=False)["odd"]) == ["NA", "None"]),
    # ------------------------------------------------------------------------------- graph
    Case("graph-n-perms-neg", [*G, "--n-perms", "-1", "--out", "{d}/o"], "--n-perms"),
    Case("graph-n-perms-text", [*G, "--n-perms", "abc", "--out", "{d}/o"], "--n-perms"),
    Case("graph-n-perms-0-pvalue", [*G, "--method", "cellphonedb", "--n-perms", "0", "--pvalue", "0.05", "--out", "{d}/o"], ("--pvalue", "--n-perms")),
    Case("graph-pvalue-2", [*G, "--method", "cellphonedb", "--pvalue", "2", "--out", "{d}/o"], "--pvalue"),
    Case("graph-pvalue-neg", [*G, "--method", "cellphonedb", "--pvalue", "-1", "--out", "{d}/o"], "--pvalue"),
    Case("graph-pvalue-0", [*G, "--method", "cellphonedb", "--pvalue", "0", "--out", "{d}/o"], "--pvalue"),
    Case("graph-pvalue-nan", [*G, "--method", "cellphonedb", "--pvalue", "nan", "--out", "{d}/o"], "--pvalue"),
    Case("graph-pvalue-product", [*G, "--pvalue", "0.01", "--out", "{d}/o"], ("--pvalue", "cellphonedb")),
    Case("graph-quantile-90", [*G, "--quantile", "90", "--out", "{d}/o"], "--quantile"),
    Case("graph-quantile-neg", [*G, "--quantile", "-0.1", "--out", "{d}/o"], "--quantile"),
    Case("graph-quantile-nan", [*G, "--quantile", "nan", "--out", "{d}/o"], "--quantile"),
    Case("graph-top-k-neg", [*G, "--top-k", "-3", "--out", "{d}/o"], "--top-k"),
    Case("graph-top-k-0", [*G, "--top-k", "0", "--out", "{d}/o"], "--top-k"),
    Case("graph-top-k-float", [*G, "--top-k", "1.5", "--out", "{d}/o"], "--top-k"),
    Case("graph-expr-prop-1.5", [*G, "--method", "cellphonedb", "--expr-prop", "1.5", "--out", "{d}/o"], "--expr-prop"),
    Case("graph-expr-prop-neg", [*G, "--method", "cellphonedb", "--expr-prop", "-0.1", "--out", "{d}/o"], "--expr-prop"),
    Case("graph-expr-prop-product", [*G, "--expr-prop", "0.3", "--out", "{d}/o"], "--expr-prop"),
    Case("graph-seed-neg", [*G, "--seed", "-1", "--out", "{d}/o"], "--seed"),
    Case("graph-n-perms-product", [*G, "--n-perms", "100", "--out", "{d}/o"], ("--n-perms", "cellphonedb")),
    Case("graph-seed-smith2019", [*G, "--method", "smith2019", "--seed", "3", "--out", "{d}/o"], ("--seed", "cellphonedb")),
    Case("graph-n-jobs-product", [*G, "--n-jobs", "2", "--out", "{d}/o"], ("--n-jobs", "cellphonedb")),
    Case("graph-n-jobs-0", [*G, "--n-jobs", "0", "--out", "{d}/o"], "--n-jobs"),
    Case("graph-n-jobs-neg2", [*G, "--n-jobs", "-2", "--out", "{d}/o"], "--n-jobs"),
    Case("graph-n-jobs-text", [*G, "--n-jobs", "many", "--out", "{d}/o"], "--n-jobs"),
    Case("graph-n-jobs-all", [*G, "--method", "cellphonedb", "--n-perms", "20", "--n-jobs", "-1", "--no-figures", "--out", "{d}/o"],
         safe=lambda d, o, e: json.loads((d / "o" / "summary.json").read_text())["params"]["n_perms"] == 20),
    Case("graph-min-cells-0", [*G, "--min-cells", "0", "--out", "{d}/o"], "--min-cells"),
    Case("graph-min-cells-huge", [*G, "--min-cells", "100000", "--out", "{d}/o"], "100000"),
    Case("graph-groupby-missing", ["graph", T, "--groupby", "nope", "--out", "{d}/o"], "nope"),
    Case("graph-one-type", ["graph", "{d}/one.h5ad", "--groupby", "one", "--out", "{d}/o"], "one", setup=_h5ad_with("one.h5ad", _one_type)),
    Case("graph-resource-bogus", [*G, "--resource", "bogus", "--out", "{d}/o"], "bogus"),
    Case("graph-resource-missing-file", [*G, "--resource", "liana:{d}/nope.csv", "--out", "{d}/o"], "nope.csv"),
    Case("graph-resource-garbage", [*G, "--resource", "liana:{d}/r.csv", "--out", "{d}/o"], "r.csv", setup=_w("r.csv", b"\x89PNG" + bytes(40))),
    Case("graph-resource-rda-garbage", [*G, "--resource", "neuronchat:{d}/r.rda", "--out", "{d}/o"], "r.rda", setup=_w("r.rda", "hello\n")),
    Case("graph-method-bogus", [*G, "--method", "bogus", "--out", "{d}/o"], "bogus"),
    Case("graph-stat-bogus", [*G, "--stat", "bogus", "--out", "{d}/o"], "bogus"),
    Case("graph-complex-bogus", [*G, "--complex-policy", "max", "--out", "{d}/o"], "max"),
    Case("graph-via-without-abundances", [*G, "--abundance-via", "cluster_label", "--out", "{d}/o"], "--abundance-via"),
    Case("graph-abundances-missing", [*G, "--abundances", "{d}/nope.csv", "--out", "{d}/o"], "nope.csv"),
    Case("graph-abundances-no-column", [*G, "--abundances", "{d}/ab.csv", "--out", "{d}/o"], "cluster_label",
         setup=_w("ab.csv", "label,size\nA,3\n")),
    Case("graph-abundances-unknown-type", [*G, "--abundances", "{d}/ab.csv", "--abundance-key", "label",
                                           "--abundance-count", "size", "--out", "{d}/o"], "ab.csv",
         setup=_w("ab.csv", "label,size\nA,3\n")),
    Case("graph-out-is-input", [*G, "--out", T], "toy.h5ad"),
    Case("graph-out-holds-input", [*G, "--out", "{d}"], ("--out", "input")),
    Case("graph-out-foreign-files", [*G, "--out", "{d}/mine"], ("mine", "notes.txt"), setup=_w("mine/notes.txt", "keep me\n")),
    Case("graph-out-is-file", [*G, "--out", "{d}/meta.csv"], ("meta.csv", "not a folder")),
    Case("graph-out-parent-is-file", [*G, "--out", "{d}/meta.csv/o"], "meta.csv"),
    Case("graph-out-unwritable", [*G, "--out", "/proc/neuromod-test/o"], "/proc"),
    Case("graph-metadata-missing", ["graph", "{d}/counts.csv", "--metadata", "{d}/nope.csv", "--groupby", "cell_type", "--out", "{d}/o"], "nope.csv"),
    Case("graph-input-missing", ["graph", "{d}/nope.h5ad", "--groupby", "x", "--out", "{d}/o"], "nope.h5ad"),
    Case("graph-input-truncated", ["graph", "{d}/t.h5ad", "--groupby", "x", "--out", "{d}/o"], "t.h5ad", setup=_truncate("toy.h5ad", 0.7, "t.h5ad")),
    Case("graph-input-fifo", ["graph", "{d}/p.h5ad", "--groupby", "x", "--out", "{d}/o"], "p.h5ad", setup=_fifo("p.h5ad")),
    Case("graph-nan-values", ["graph", "{d}/n.h5ad", "--groupby", "subclass_label", "--out", "{d}/o"], "n.h5ad", setup=_h5ad_with("n.h5ad", _nan_x)),
    Case("graph-failed-rerun-keeps-old", ["graph", T, "--groupby", "nope", "--out", "{d}/graph"], "nope"),
    Case("graph-rerun-no-figures", [*G, "--min-cells", "5", "--no-figures", "--out", "{d}/graph"], safe=_graph_rerun_ok),
    Case("graph-numeric-labels", ["graph", "{d}/num.h5ad", "--groupby", "num", "--no-figures", "--out", "{d}/o"],
         setup=_h5ad_with("num.h5ad", _numeric_labels),
         safe=lambda d, o, e: (d / "o" / "structure.npz").is_file()),
    # ------------------------------------------------------------------------------- train
    Case("train-iterations-neg", [*TR, "--iterations", "-1", "--out", "{d}/run"], "--iterations"),
    Case("train-iterations-text", [*TR, "--iterations", "abc", "--out", "{d}/run"], "--iterations"),
    Case("train-batch-0", [*TR, "--batch-size", "0", "--out", "{d}/run"], "--batch-size"),
    Case("train-lr-0", [*TR, "--lr", "0", "--out", "{d}/run"], "--lr"),
    Case("train-lr-neg", [*TR, "--lr", "-1", "--out", "{d}/run"], "--lr"),
    Case("train-lr-nan", [*TR, "--lr", "nan", "--out", "{d}/run"], "--lr"),
    Case("train-lr-text", [*TR, "--lr", "abc", "--out", "{d}/run"], "--lr"),
    Case("train-seed-neg", [*TR, "--seed", "-1", "--out", "{d}/run"], "--seed"),
    Case("train-validate-0", [*TR, "--validate-every", "0", "--out", "{d}/run"], "--validate-every"),
    Case("train-checkpoint-0", [*TR, "--checkpoint-every", "0", "--out", "{d}/run"], "--checkpoint-every"),
    Case("train-l1-neg", [*TR, "--l1", "-0.1", "--out", "{d}/run"], "--l1"),
    Case("train-rate-reg-nan", [*TR, "--rate-reg", "nan", "--out", "{d}/run"], "--rate-reg"),
    Case("train-threads-0", [*TR, "--threads", "0", "--out", "{d}/run"], "--threads"),
    Case("train-threads-env", [*TR, "--out", "{d}/run"], "NEUROMOD_THREADS", env={"NEUROMOD_THREADS": "lots"}),
    Case("train-gate-shuffled", [*MD, "--structure", "{d}/structure.npz", "--gate", "shuffled", "--out", "{d}/run"], ("shuffled", "grid-shuffled")),
    Case("train-gate-bogus", [*MD, "--gate", "bogus", "--out", "{d}/run"], "bogus"),
    Case("train-gate-data-no-structure", [*MD, "--gate", "data", "--out", "{d}/run"], ("data", "--structure")),
    Case("train-gate-with-bptt", [*TR, "--gate", "uniform", "--out", "{d}/run"], ("uniform", "mdgl")),
    Case("train-online-bptt", [*TR, "--online", "--out", "{d}/run"], "--online"),
    Case("train-task-bogus", ["train", "--task", "bogus", "--rule", "bptt", "--out", "{d}/run"], "bogus"),
    Case("train-rule-bogus", ["train", "--task", "evidence_accumulation", "--rule", "bogus", "--out", "{d}/run"], "bogus"),
    Case("train-no-task", ["train", "--rule", "bptt", "--out", "{d}/run"], "--task"),
    Case("train-structure-missing", [*MD, "--structure", "{d}/nope.npz", "--out", "{d}/run"], "nope.npz"),
    Case("train-structure-truncated", [*MD, "--structure", "{d}/t.npz", "--out", "{d}/run"], "t.npz", setup=_truncate("structure.npz", 0.5, "t.npz")),
    Case("train-structure-text", [*MD, "--structure", "{d}/t.npz", "--out", "{d}/run"], "t.npz", setup=_w("t.npz", "hello\n")),
    Case("train-structure-dir", [*MD, "--structure", "{d}/graph", "--out", "{d}/run"], "graph"),
    Case("train-config-missing", ["train", "--config", "{d}/nope.yaml", "--out", "{d}/run"], "nope.yaml"),
    Case("train-config-bad-yaml", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "c.yaml", setup=_w("c.yaml", "a: [1,\n")),
    Case("train-config-list", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "c.yaml", setup=_w("c.yaml", "- 1\n- 2\n")),
    Case("train-config-iterations-text", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], ("c.yaml", "iterations"),
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\niterations: abc\n")),
    Case("train-config-lr-text", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], ("c.yaml", "lr"),
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\nlr: abc\n")),
    Case("train-config-n-rec-neg", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "n_rec",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\nnetwork: {n_rec: -5}\n")),
    Case("train-config-unknown", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "itterations",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\nitterations: 3\n")),
    Case("train-config-task-options-list", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "task_options",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\ntask_options: [1]\n")),
    Case("train-config-task-option-unknown", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "n_cuez",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\ntask_options: {n_cuez: 3}\n")),
    Case("train-config-network-unknown", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "n_neurons",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\nnetwork: {n_neurons: 3}\n")),
    Case("train-config-T-0", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "T",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\ntask_options: {T: 0}\n")),
    Case("train-config-even-cues", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "n_cues",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\ntask_options: {n_cues: 4}\n")),
    Case("train-config-online-text", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "online",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: eprop\nonline: 'yes'\n")),
    Case("train-config-gate-shuffled", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], "grid-shuffled",
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: mdgl\ngate: shuffled\n")),
    Case("train-config-json-bad", ["train", "--config", "{d}/c.json", "--out", "{d}/run"], "c.json", setup=_w("c.json", "{'a': 1}")),
    Case("train-device-bogus", [*TR, "--device", "toaster", "--out", "{d}/run"], "toaster"),
    Case("train-out-is-file", [*TR, "--out", "{d}/meta.csv"], "meta.csv"),
    Case("train-out-unwritable", [*TR, "--out", "/proc/neuromod-test/run"], "/proc"),
    Case("train-resume-other-lr", [*TR, "--iterations", "2", "--lr", "0.01", "--out", "{d}/run"], "lr", setup=_prior_train),
    Case("train-resume-other-batch", [*TR, "--iterations", "2", "--batch-size", "3", "--out", "{d}/run"], "batch_size", setup=_prior_train),
    Case("train-resume-other-gate", [*MD, "--structure", "{d}/structure.npz", "--gate", "uniform", "--iterations", "2",
                                     "--out", "{d}/run"], "gate", setup=_prior_mdgl),
    Case("train-resume-corrupt-checkpoint", [*TR, "--iterations", "2", "--out", "{d}/run"], "checkpoint.pt",
         setup=_all(_prior_train, _truncate("run/checkpoint.pt", 0.5))),
    Case("train-resume-corrupt-config", ["train", "--out", "{d}/run", "--iterations", "2"], "config.json",
         setup=_all(_prior_train, _w("run/config.json", "{not json"))),
    Case("train-rerun-finished", [*TR, "--out", "{d}/run"], setup=_prior_train, safe=_rerun_finished),
    # ------------------------------------------------------------------------------- fetch
    Case("fetch-unknown-dataset", ["fetch", "bogus"], "bogus"),
    Case("fetch-region-bogus", ["fetch", "tasic2018", "--region", "V1", "--cache-dir", "{d}/cache"], "V1"),
    Case("fetch-404", ["fetch", "tasic2018_explorer", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/none"], "404"),
    Case("fetch-connection-refused", ["fetch", "tasic2018_explorer", "--cache-dir", "{d}/cache", "--base-url", "{closed}"], "127.0.0.1"),
    Case("fetch-checksum-mismatch", ["fetch", "m1_patchseq", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/bad", "--quiet"], "checksum"),
    Case("fetch-observed-corrupt", ["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good"],
         "observed_sha256.json", setup=lambda d: _observed(d, "{broken")),
    Case("fetch-observed-not-mapping", ["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good"],
         "observed_sha256.json", setup=lambda d: _observed(d, "[1, 2]")),
    Case("fetch-observed-swapped", ["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good"], ("GSE115746_cells_exon_counts.csv.gz", "first download"),
         setup=_all(lambda d: _run_once(d, ["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good", "--quiet"]),
                    _w("cache/GSE115746_cells_exon_counts.csv.gz", gzip.compress(b",c1\nVip,9\n")))),
    Case("fetch-cache-is-file", ["fetch", "gse115746", "--cache-dir", "{d}/meta.csv", "--base-url", "{mirror}/good"], "meta.csv"),
    Case("fetch-out-is-dir", [*["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good"], "--out", "{d}/graph"], "graph"),
    Case("fetch-out-is-input", [*["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good"], "--out", "{d}/cache/GSE115746_cells_exon_counts.csv.gz"],
         "--out", setup=lambda d: _run_once(d, ["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good", "--quiet"])),
    Case("fetch-cached-swapped", ["fetch", "tasic2018_explorer", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good"],
         "sample_heatmap_plot_data.csv",
         setup=_all(_w("cache/sample_heatmap_plot_data.csv", "sample_name,x\n"))),
    Case("fetch-quiet-ok", [*["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good"], "--quiet", "--out", "{d}/e.h5ad"],
         safe=lambda d, o, e: o == "" and e == "" and (d / "e.h5ad").is_file()),
    # ------------------------------------------- issue 24: sizes checked before any work
    Case("train-batch-huge", [*TR, "--batch-size", "1000000000", "--out", "{d}/run"], ("--batch-size", "memory")),
    Case("train-validation-batch-huge", [*TR, "--validation-batch-size", "1000000000", "--out", "{d}/run"],
         ("--validation-batch-size", "memory")),
    Case("train-config-T-huge", ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config", "{d}/c.yaml",
                                 "--iterations", "1", "--no-progress", "--out", "{d}/run"], ("task_options.T", "memory"),
         setup=_w("c.yaml", TINY_TRAIN.replace("T: 40", "T: 1000000000"))),
    Case("train-config-n-rec-huge", ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config", "{d}/c.yaml",
                                     "--iterations", "1", "--no-progress", "--out", "{d}/run"], ("network.n_rec", "memory"),
         setup=_w("c.yaml", TINY_TRAIN.replace("n_rec: 12", "n_rec: 1000000000"))),
    Case("train-config-batch-huge", ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config", "{d}/c.yaml",
                                     "--iterations", "1", "--no-progress", "--out", "{d}/run"], ("--batch-size", "memory"),
         setup=_w("c.yaml", _tiny(batch_size="1000000000"))),
    Case("align-n-rec-huge", ["align", "--structure", "{d}/structure.npz", "--n-rec", "1000000000", "--out", "{d}/al"],
         ("--n-rec", "memory")),
    Case("align-batch-huge", ["align", "--structure", "{d}/structure.npz", "--batch-size", "1000000000", "--out", "{d}/al"],
         ("--batch-size", "memory")),
    Case("train-threads-huge", [*TR, "--threads", "1000000", "--out", "{d}/run"], ("--threads", "cores")),
    Case("train-threads-env-huge", [*TR, "--out", "{d}/run"], ("NEUROMOD_THREADS", "cores"), env={"NEUROMOD_THREADS": "1000000"}),
    Case("graph-n-jobs-huge", [*G, "--method", "cellphonedb", "--n-jobs", "1000000", "--out", "{d}/o"], ("--n-jobs", "cores")),
    Case("train-device-gpu", [*TR, "--device", "gpu", "--out", "{d}/run"], ("--device", "gpu", "cpu", "auto")),
    Case("train-device-cuda-index", [*TR, "--device", "cuda:x", "--out", "{d}/run"], ("--device", "cuda:x")),
    Case("train-config-device-bogus", ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config", "{d}/c.yaml",
                                       "--iterations", "1", "--no-progress", "--out", "{d}/run"], ("c.yaml", "device", "auto"),
         setup=_w("c.yaml", _tiny(device="tpu"))),
    Case("train-device-auto", [*TR, "--device", "auto", "--out", "{d}/run"], safe=_config_device("auto")),
    Case("train-l1-removes-everything", [*TR, "--l1", "1000", "--out", "{d}/run"], ("--l1", "every")),
    Case("train-rate-target-above-1khz", [*TR, "--rate-reg", "0.1", "--rate-target-hz", "2000", "--out", "{d}/run"],
         ("--rate-target-hz", "1000")),
    Case("train-config-rate-target-above-1khz", ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config",
                                                 "{d}/c.yaml", "--iterations", "1", "--no-progress", "--out", "{d}/run"],
         ("c.yaml", "rate_target_hz"), setup=_w("c.yaml", _tiny(rate_target_hz="5000"))),
    Case("train-rate-target-without-reg", [*TR, "--rate-target-hz", "20", "--out", "{d}/run"],
         safe=_warned("--rate-target-hz", "--rate-reg")),
    Case("physiology-tau-a-huge", [*PH, "--tau-a", "1e9", "--out", "{d}/p"], ("--tau-a", "1e9")),
    Case("physiology-tau-a-tiny", [*PH, "--tau-a", "0.001", "--out", "{d}/p"], ("--tau-a", "0.001")),
    # -------------------------------------------------------- issue 24: config files
    Case("train-config-duplicate-key", ["train", "--config", "{d}/c.yaml", "--out", "{d}/run"], ("c.yaml", "line 4", "'lr'"),
         setup=_w("c.yaml", "task: evidence_accumulation\nrule: bptt\nlr: 0.01\nlr: 0.02\n")),
    Case("train-config-duplicate-nested-key", ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config",
                                               "{d}/c.yaml", "--out", "{d}/run"], ("c.yaml", "'T'", "line"),
         setup=_w("c.yaml", "task_options:\n  T: 40\n  n_cues: 3\n  T: 400\n")),
    # ---------------------------------------------------- issue 24: two writers (locks)
    Case("train-locked-other-host", [*TR, "--out", "{d}/run"], ("run", "4242", "elsewhere"), setup=_lock("run", 4242, "elsewhere")),
    Case("graph-locked-other-host", [*G, "--min-cells", "5", "--no-figures", "--out", "{d}/o"], ("o", "4242"),
         setup=_lock("o", 4242, "elsewhere")),
    Case("physiology-locked-other-host", [*PH, "--out", "{d}/p"], ("p", "4242"), setup=_lock("p", 4242, "elsewhere")),
    Case("align-locked-other-host", ["align", "--structure", "{d}/structure.npz", "--out", "{d}/al"], ("al", "4242"),
         setup=_lock("al", 4242, "elsewhere")),
    Case("train-stale-lock-reclaimed", [*TR, "--out", "{d}/run"], setup=_lock("run"), safe=_reclaimed("run")),
    Case("graph-stale-lock-reclaimed", [*G, "--min-cells", "5", "--no-figures", "--out", "{d}/o"], setup=_lock("o"),
         safe=_reclaimed("o")),
    # commands that write one file (or a record folder) hold the same lock
    Case("aggregate-locked-other-host", [*AG, "--out", "{d}/a.csv"], ("a.csv", "4242"), setup=_lock("a.csv", 4242, "elsewhere")),
    Case("aggregate-stale-lock-reclaimed", [*AG, "--out", "{d}/a.csv"], setup=_lock("a.csv"), safe=_reclaimed("a.csv")),
    Case("fetch-locked-other-host", [*["fetch", "gse115746", "--cache-dir", "{d}/cache", "--base-url", "{mirror}/good"], "--out", "{d}/e.h5ad"],
         ("e.h5ad", "4242"), setup=_lock("e.h5ad", 4242, "elsewhere")),
    Case("report-locked-other-host", ["report", "--results", "{d}", "--out", "{d}/r.html"], ("r.html", "4242"),
         setup=_lock("r.html", 4242, "elsewhere")),
    Case("report-summary-locked-other-host", ["report", "--results", "{d}", "--summary", "{d}/s.csv"], ("--summary", "s.csv", "4242"),
         setup=_lock("s.csv", 4242, "elsewhere")),
    Case("report-stale-lock-reclaimed", ["report", "--results", "{d}", "--summary", "{d}/s.csv"], setup=_lock("s.csv"),
         safe=_reclaimed("s.csv")),
    Case("results-summary-locked-other-host", ["results", "summary", "{d}/runs", "--out", "{d}/s.csv"], ("s.csv", "4242"),
         setup=_all(_QUICK, _lock("s.csv", 4242, "elsewhere"))),
    Case("results-summary-stale-lock-reclaimed", ["results", "summary", "{d}/runs", "--out", "{d}/s.csv"],
         setup=_all(_QUICK, _lock("s.csv")), safe=_reclaimed("s.csv")),
    Case("results-page-locked-other-host", [*RP, "{d}/runs", "--configs", "{d}/cfg"], ("p.md", "4242"),
         setup=_all(_QUICK, _w("cfg/quick.yaml", _GRID.format(name="quick")), _lock("p.md", 4242, "elsewhere"))),
    Case("results-page-figures-locked-other-host", [*RP, "{d}/runs", "--configs", "{d}/cfg"], ("--figures", "4242"),
         setup=_all(_QUICK, _w("cfg/quick.yaml", _GRID.format(name="quick")), _lock("f", 4242, "elsewhere"))),
    Case("results-curves-locked-other-host", ["results", "curves", f"{{d}}/runs/quick/{EA}/bptt/ei/seed0", "--out", "{d}/c.png"],
         ("c.png", "4242"), setup=_all(_QUICK, _lock("c.png", 4242, "elsewhere"))),
    Case("results-record-locked-other-host", ["results", "record", "--run-dir", "{d}/graph", "--out-dir", "{d}/rec"],
         ("--out-dir", "rec", "4242"), setup=_lock("rec", 4242, "elsewhere")),
    Case("results-publish-locked-other-host", ["results", "publish", "{d}/graph", "{d}/pub"], ("pub", "4242"),
         setup=_lock("pub", 4242, "elsewhere")),
    Case("train-refused-after-lock-leaves-no-folder", [*TR, "--l1", "1000", "--out", "{d}/new/deeper/run"], "--l1"),
    # ------------------------------------- issue 24: a quality-control label is no cell type
    Case("aggregate-low-quality-label", ["aggregate", "{d}/counts.csv", "--metadata", "{d}/lq.csv", "--groupby", "cell_type",
                                         "--stat", "mean", "--out", "{d}/a.csv"], setup=_low_quality, safe=_left_out_first("a.csv")),
    Case("graph-low-quality-label", ["graph", "{d}/counts.csv", "--metadata", "{d}/lq.csv", "--groupby", "cell_type",
                                     "--no-figures", "--out", "{d}/g"], setup=_low_quality, safe=_left_out_first("g")),
    # ------------------------------------------------------------------------------ report
    Case("report-bad-yaml", ["report", "--results", "{d}/graph", "--out", "{d}/r.html", "--config", "{d}/c.yaml"], "c.yaml",
         setup=_w("c.yaml", "a: [1,\n")),
    Case("report-config-list", ["report", "--results", "{d}/graph", "--out", "{d}/r.html", "--config", "{d}/c.yaml"], "c.yaml",
         setup=_w("c.yaml", "- a\n")),
    Case("report-config-missing", ["report", "--results", "{d}/graph", "--out", "{d}/r.html", "--config", "{d}/nope.yaml"], "nope.yaml"),
    Case("report-results-missing", ["report", "--results", "{d}/nope", "--out", "{d}/r.html"], "nope"),
    Case("report-nothing-to-write", ["report", "--results", "{d}/graph"], "--out"),
    Case("report-out-is-dir", ["report", "--results", "{d}/graph", "--out", "{d}/graph"], "graph"),
    Case("report-out-is-data", ["report", "--results", "{d}/graph", "--out", "{d}/meta.csv", "--data", "{d}/meta.csv"], "meta.csv"),
    Case("report-summary-is-dir", ["report", "--results", "{d}/graph", "--summary", "{d}/graph"], "graph"),
    # ---------------------------------------------------- issue 24: results pages
    Case("results-page-one-grid-folder", [*RP, "{d}/runs/quick", "--configs", "{d}/cfg"],
         setup=_all(_QUICK, _w("cfg/quick.yaml", _GRID.format(name="quick"))),
         safe=_page_has("| quick | `", "| 3 | 2 | 1 |")),
    Case("results-page-configs-missing", [*RP, "{d}/runs", "--configs", "{d}/nope"], "nope", setup=_QUICK),
    Case("results-page-config-unreadable", [*RP, "{d}/runs", "--configs", "{d}/cfg"], ("a.yaml", "YAML"),
         setup=_all(_QUICK, _w("cfg/a.yaml", "reproduction: [1,\n"))),
    Case("results-page-config-duplicate-name", [*RP, "{d}/runs", "--configs", "{d}/cfg"], ("b.yaml", "'quick'", "a.yaml"),
         setup=_all(_QUICK, _w("cfg/a.yaml", _GRID.format(name="quick")), _w("cfg/b.yaml", _GRID.format(name="quick")))),
    Case("results-page-contrast-unknown-dataset", [*RP, "{d}/runs", "--configs", "{d}/cfg"], ("a.yaml", "contrast", "'m1'"),
         setup=_all(_QUICK, _w("cfg/a.yaml", _GRID.format(name="quick")
                               + "  structures: {toy: {source: toy}}\n  contrasts: [[toy, m1]]\n"))),
    Case("results-summary-cut-row", ["results", "summary", "{d}/runs"], ("seed1/metrics.csv", "cut short"),
         setup=_all(_QUICK, _run(f"runs/quick/{EA}/bptt/ei/seed1", text=_metrics(3)[:-9]))),
    Case("results-page-cut-at-a-row", [*RP, "{d}/runs"], ("seed1/metrics.csv", "iteration 10", "20 iterations"),
         setup=_all(_QUICK, _run(f"runs/quick/{EA}/bptt/ei/seed1", text=_metrics(2)))),
    Case("results-summary-copied-run-folder", ["results", "summary", "{d}/runs", "--out", "{d}/s.csv"],
         setup=_all(_QUICK, _run(f"runs/quick/{EA}/bptt/ei/seed0 copy")),
         safe=lambda d, o, e: pd.read_csv(d / "s.csv")["n_seeds"].tolist() == [2]
         and len(e.strip().splitlines()) == 1 and "seed0 copy" in e),
    Case("results-summary-layout-workflow", ["results", "summary", "{d}/runs", "--layout", "workflow"],
         ("reproduction layout", "--layout reproduction"), setup=_QUICK),
    Case("results-summary-layout-reproduction", ["results", "summary", "{d}/train"], ("no runs", "--layout workflow"),
         setup=_run("train/subclass/bptt/seed0")),
    Case("results-summary-out-is-input", ["results", "summary", "{d}/runs", "--out", f"{{d}}/runs/quick/{EA}/bptt/ei/seed0/metrics.csv"],
         ("metrics.csv", "input"), setup=_QUICK),
    Case("results-page-out-is-input", ["results", "page", "{d}/runs", "--figures", "{d}/f", "--out",
                                       f"{{d}}/runs/quick/{EA}/bptt/ei/seed1/summary.json"], ("summary.json", "input"), setup=_QUICK),
    Case("results-page-notes-missing", [*RP, "{d}/runs", "--notes", "{d}/nope.md"], "nope.md", setup=_QUICK),
    # a user's grid with `runs: results/mine_runs`: its records and training folders below
    # results/ and the main workflow's runs are not counted again, the project's notes not shown
    Case("results-page-user-grid-under-results", [*RP, "{d}/results", "{d}/results/mine/runs"],
         setup=_all(*(_run(f"results/{where}/{EA}/bptt/ei/seed{k}") for k in (0, 1)
                      for where in ("mine_runs", "mine/runs/mine", "mine/train")),
                    _run("results/train/subclass/mdgl-data/seed0")),
         safe=_page_has("Runs found: **2** in 1 groups", "| mine_runs | — | — | 2 |", warned="not runs of a grid")),
    Case("report-not-workflow-layout", ["report", "--results", "{d}/runs", "--out", "{d}/r.html"],
         ("runs", "not a results folder", "train/"), setup=_QUICK),
    Case("report-empty-folder", ["report", "--results", "{d}/cache", "--out", "{d}/r.html"], ("cache", "not a results folder")),
    # ---------------------------------------------------- issue 24: units checked before work
    Case("physiology-map-tau-in-seconds", [*PHE, "--method", "map", "--out", "{d}/p"],
         ("e.csv", "Membrane time constant (ms)", "look like s, not ms"), setup=_ephys("all")),
    Case("physiology-map-half-tau-in-seconds", [*PHE, "--method", "map", "--out", "{d}/p"],
         ("e.csv", "Membrane time constant (ms)", "s, not ms"), setup=_ephys("half")),
    Case("physiology-fit-tau-in-seconds", [*PHE, "--method", "fit", "--out", "{d}/p"],
         ("e.csv", "Membrane time constant (ms)", "s, not ms"), setup=_ephys("all")),
    Case("physiology-fit-half-tau-in-seconds", [*PHE, "--method", "fit", "--out", "{d}/p"],
         ("e.csv", "Membrane time constant (ms)", "s, not ms"), setup=_ephys("half")),
    Case("physiology-connectivity-layer-45", [*PHE, "--method", "map", "--connectivity", "{d}/c.csv", "--layer", "layer",
                                              "--out", "{d}/p"],
         ("c.csv", "'E45'"), setup=_all(_ephys("none"), _w("c.csv", "pre,post,p_connect,psp_mV\nE23,E23,0.1,0.5\nE45,E23,0.2,0.4\n"))),
    # ------------------------------------------------ issue 24: wrong blame
    Case("train-structure-png", [*TR, "--structure", "{d}/s.png", "--out", "{d}/run"], ("s.png", "PNG image", "not a neuromod structure"),
         setup=_w("s.png", b"\x89PNG\r\n\x1a\n" + bytes(64))),
    Case("physiology-structure-text", ["physiology", "{d}/s.npz", *PH[2:], "--out", "{d}/p"], ("s.npz", "not a .npz"),
         setup=_w("s.npz", "names,signs\nVip,-1\n")),
    # ------------------------------------------------ issue 24: connectivity tables
    Case("physiology-connectivity-no-pre-column", [*PHC, "--out", "{d}/p"], ("c.csv", "'pre'"),
         setup=_conn("source,post,p_connect,psp_mV\nE23,E23,0.1,0.5\n")),
    Case("physiology-connectivity-probability-above-1", [*PHC, "--out", "{d}/p"], ("c.csv", "p_connect"),
         setup=_conn("pre,post,p_connect,psp_mV\nE23,E23,1.5,0.5\n")),
    Case("physiology-connectivity-probability-negative", [*PHC, "--out", "{d}/p"], ("c.csv", "p_connect"),
         setup=_conn("pre,post,p_connect,psp_mV\nE23,E23,-0.1,0.5\n")),
    Case("physiology-connectivity-probability-text", [*PHC, "--out", "{d}/p"], ("c.csv", "p_connect"),
         setup=_conn("pre,post,p_connect,psp_mV\nE23,E23,often,0.5\n")),
    Case("physiology-connectivity-probability-nan", [*PHC, "--unmapped", "sign", "--out", "{d}/p"], safe=_nan_pair_warned,
         setup=_conn("pre,post,p_connect,psp_mV\nE23,E23,nan,0.5\nE23,PV23,0.2,0.4\nPV23,E23,0.3,0.4\nPV23,PV23,0.1,0.4\n")),
    Case("physiology-connectivity-duplicate-pair", [*PHC, "--out", "{d}/p"], ("c.csv", "E2/3 → E2/3", "more than once"),
         setup=_conn("pre,post,p_connect,psp_mV\nE23,E23,0.1,0.5\nE23,E23,0.3,0.5\n")),
    Case("physiology-connectivity-header-only", [*PHC, "--out", "{d}/p"], "c.csv", setup=_conn("pre,post,p_connect,psp_mV\n")),
    Case("physiology-connectivity-probability-column-absent", [*PHC, "--probability", "prob", "--out", "{d}/p"],
         ("c.csv", "prob"), setup=_conn("pre,post,p_connect,psp_mV\nE23,E23,0.1,0.5\n")),
    Case("physiology-connectivity-missing", [*PHC, "--out", "{d}/p"], "c.csv", setup=_ephys("none")),
    Case("physiology-connectivity-png", [*PHC, "--out", "{d}/p"], "c.csv",
         setup=_all(_ephys("none"), _w("c.csv", b"\x89PNG\r\n\x1a\n" + bytes(64)))),
    Case("physiology-connectivity-layer-column-absent", [*PHE, "--method", "map", "--connectivity", "{d}/c.csv",
                                                         "--layer", "nope", "--out", "{d}/p"],
         ("nope",), setup=_conn("pre,post,p_connect,psp_mV\nE23,E23,0.1,0.5\n")),
]  # fmt: skip


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (hidden ones too) with its content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_fifo():
                out[str(p.relative_to(root))] = "fifo"
                continue
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cli(argv: list[str], capfd) -> tuple[Any, str, str]:
    """``main(argv)``; an exception escaping it is what the user would see as a traceback."""
    import traceback

    capfd.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - any escape is a failure of this sweep
        out, err = capfd.readouterr()
        return "traceback", out, err + traceback.format_exc()
    out, err = capfd.readouterr()
    return rc, out, err


def check_one_line(
    err: str, culprit: str | tuple[str, ...], *, after_warnings: bool = False
) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if after_warnings:  # a process stopped mid-way may have warned about its input before
        lines = [ln for ln in lines if ": warning: " not in ln]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    line = lines[0]
    assert line.startswith("neuromod"), line
    assert "Traceback" not in err and "internal error" not in line, line
    for c in (culprit,) if isinstance(culprit, str) else culprit:
        assert c in line, f"{c!r} not named in: {line}"
    return line


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, base, mirror, tmp_path, capfd, monkeypatch):
    d = tmp_path / "w"
    shutil.copytree(base, d)
    if case.setup:
        case.setup(d)
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    subst = {"{d}": str(d), "{mirror}": mirror, "{closed}": _closed_port()}
    argv = []
    for a in case.argv:
        for k, v in subst.items():
            a = a.replace(k, v)
        argv.append(a)
    before = _snapshot(d)
    rc, out, err = run_cli(argv, capfd)
    assert rc != "traceback", err
    if case.safe is not None and rc == 0:
        assert "Traceback" not in err
        assert not [ln for ln in err.splitlines() if "internal error" in ln]
        result = case.safe(d, out, err)
        assert result is None or result, f"unsafe result: {out}\n{err}"
        return
    assert case.safe is None, f"expected the safe result, got rc={rc}:\n{err}"
    assert rc != 0
    check_one_line(err, case.culprit)
    assert _snapshot(d) == before, "a failed command changed, added or removed files"


def test_the_sweep_is_large_enough():
    assert len(CASES) + len(PROCESS_CASES) >= 150


# ------------------------------------------------------------- faults that need a process
def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kw.pop("env", {})}
    return subprocess.Popen(
        [sys.executable, "-m", "neuromod_data.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def _wait_for(pred: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def _hidden(folder: Path, prefix: str = ".") -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix))


def _graph_argv(d: Path, *extra: str) -> list[str]:
    return ["graph", str(d / "toy.h5ad"), "--groupby", "subclass_label", "--min-cells", "5",
            "--method", "cellphonedb", "--n-perms", "50", "--out", str(d / "graph"), *extra]  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_graph_rerun_killed_mid_write(sig, base, tmp_path):
    """A rerun killed while writing leaves the previous run's folder as it was; a later run
    removes what the killed one left and replaces the folder whole."""
    d = tmp_path / "w"
    shutil.copytree(base, d)
    old = _snapshot(d / "graph")
    proc = _cli(*_graph_argv(d))
    staged = _wait_for(lambda: bool(_hidden(d, ".graph.tmp")), proc)
    assert staged, proc.communicate()
    time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # finished before the signal: the new run is complete
        assert json.loads((d / "graph" / "summary.json").read_text())["params"]["n_perms"] == 50
    else:
        assert _snapshot(d / "graph") == old, "the previous results were changed"
        if sig == signal.SIGTERM:
            assert proc.returncode == 143
            check_one_line(err, "SIGTERM", after_warnings=True)
            assert not _hidden(d, ".graph."), "SIGTERM left temporaries"
    # the next run cleans up and writes a complete folder of one run
    done = subprocess.run([sys.executable, "-m", "neuromod_data.cli", *_graph_argv(d, "--no-figures")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not _hidden(d, ".graph."), _hidden(d)
    names = {p.name for p in (d / "graph").iterdir()}
    assert "summary.json" in names and "graph.png" not in names


def test_stale_temporaries_of_a_dead_writer_are_removed(base, tmp_path):
    """A SIGKILL leaves a hidden temporary; the next write of the same file removes it, while a
    live process's temporary and other files are left alone."""
    from neuromod_data._files import _prefix

    d = tmp_path / "w"
    shutil.copytree(base, d)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = _prefix("a.csv")  # this (live) process
    stale = mine.replace(f"tmp{os.getpid()}.", f"tmp{dead.pid}.") + "x1.csv"
    (d / stale).write_text("half")
    (d / (mine + "x2.csv")).write_text("being written")
    argv = ["aggregate", str(d / "toy.h5ad"), "--groupby", "subclass_label", "--stat", "mean",
            "--out", str(d / "a.csv")]  # fmt: skip
    assert main(argv) == 0
    hidden = _hidden(d, ".a.csv")
    assert hidden == [mine + "x2.csv"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_train_killed_resumes_from_its_checkpoint(sig, base, tmp_path):
    d = tmp_path / "w"
    shutil.copytree(base, d)
    run = d / "run"
    argv = ["train", "--task", "evidence_accumulation", "--rule", "bptt", "--config",
            str(d / "tiny.yaml"), "--iterations", "100000", "--checkpoint-every", "1",
            "--no-progress", "--out", str(run)]  # fmt: skip
    proc = _cli(*argv)
    import torch

    def progressed() -> bool:
        try:
            return torch.load(run / "checkpoint.pt", weights_only=True)["iteration"] >= 3
        except Exception:  # noqa: BLE001 - not there yet, or being replaced
            return False

    assert _wait_for(progressed, proc, timeout=300), proc.communicate()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        check_one_line(err, ("SIGTERM", "resume"), after_warnings=True)
        assert not _hidden(run), _hidden(run)
    done = torch.load(run / "checkpoint.pt", weights_only=True)["iteration"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["iterations"] == 100000
    # continue to done + 2 from the saved config alone: the real resume point is reported
    res = subprocess.run([sys.executable, "-m", "neuromod_data.cli", "train", "--out", str(run),
                          "--iterations", str(done + 2), "--no-progress"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert f"resumed at {done}," in res.stdout
    assert not _hidden(run), _hidden(run)
    rows = pd.read_csv(run / "metrics.csv")
    assert rows[rows.split == "train"].iteration.tolist() == list(range(1, done + 3))


def test_closed_pipe_is_quiet(base):
    """``neuromod info ... | head -1``: no traceback, no BrokenPipe message."""
    res = subprocess.run(
        f"{sys.executable} -m neuromod_data.cli info {base / 'toy.h5ad'} | head -1",
        shell=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.stdout.startswith("source:")
    assert res.stderr == "", res.stderr


def test_fifo_input_does_not_hang(tmp_path):
    fifo = tmp_path / "cells.csv"
    os.mkfifo(fifo)
    res = subprocess.run([sys.executable, "-m", "neuromod_data.cli", "info", str(fifo)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 2
    check_one_line(res.stderr, "cells.csv")


def test_warnings_are_one_clean_line(tmp_path):
    """A warning from a real process reads ``neuromod <command>: warning: ...`` (no ``sys:1:``)."""
    p = tmp_path / "c.csv"
    p.write_text(",c1,c2,c3\nVip,1,0,2\nSst,0,3,1\n")
    m = tmp_path / "m.csv"
    m.write_text("cell,cell_type\nc1,A \nc2,A\nc3,B\n")  # stray whitespace: fixed with a warning
    res = subprocess.run([sys.executable, "-m", "neuromod_data.cli", "info", str(p), "--metadata", str(m)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuromod info: warning: "), res.stderr
    assert "sys:1" not in res.stderr and "NeuromodWarning" not in res.stderr


#: the subprocess faults above, counted with the in-process cases
PROCESS_CASES = (
    "graph rerun SIGTERM mid-write",
    "graph rerun SIGKILL mid-write",
    "stale temporary of a dead writer",
    "train SIGTERM, then resume",
    "train SIGKILL, then resume",
    "info | head",
    "info on a FIFO",
    "warning as one line",
    # tests/test_faults.py (issue 24)
    "two train writers of one --out",
    "stale lock of a dead process",
    "lock held in this process",
    "graph while another process holds its lock",
    "physiology while another process holds its lock",
    "SIGINT inside a numba kernel call",
    "SIGTERM inside a numba kernel call",
    "SIGINT at random moments of training",
    "SIGINT while importing",
    "full disk while writing a checkpoint (RuntimeError)",
    "full disk while writing a checkpoint (OSError ENOSPC)",
)
