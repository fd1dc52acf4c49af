"""Downloads through pooch from a local HTTP server: checksums, cache, resume, and tasic2018 end to end."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import warnings
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from neuromod_data.datasets import allen
from neuromod_data.datasets._registry import REGISTRY, RemoteFile
from neuromod_data.errors import DataValueError, InputFileError, NeuromodWarning


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (the stdlib handler ignores Range); logs requests."""

    requests_seen: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        rng = self.headers.get("Range")
        type(self).requests_seen.append((self.path, rng))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    _RangeHandler.requests_seen = []
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_RangeHandler, directory=str(root))
    )
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", _RangeHandler.requests_seen
    httpd.shutdown()
    httpd.server_close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_checksum_verified_and_cached(server, tmp_path):
    root, url, seen = server
    payload = b"gene,c1\nVip,3\n" * 100
    (root / "f.csv").write_bytes(payload)
    entry = RemoteFile("f.csv", f"{url}/f.csv", _sha(payload))
    cache = tmp_path / "cache"
    p = allen.fetch_file(entry, cache_dir=cache, progress=False)
    assert p == cache / "f.csv" and p.read_bytes() == payload
    n = len(seen)
    assert allen.fetch_file(entry, cache_dir=cache, progress=False) == p
    assert len(seen) == n  # second call served from the cache


def test_wrong_checksum_is_a_clear_error_and_nothing_kept(server, tmp_path):
    root, url, _ = server
    (root / "f.csv").write_bytes(b"tampered")
    entry = RemoteFile("f.csv", f"{url}/f.csv", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(DataValueError, match=r"f\.csv.*checksum"):
        allen.fetch_file(entry, cache_dir=cache, progress=False)
    assert not (cache / "f.csv").exists()


def test_unknown_checksum_recorded_then_enforced(server, tmp_path):
    root, url, _ = server
    payload = b"abc" * 1000
    (root / "u.bin").write_bytes(payload)
    entry = RemoteFile("u.bin", f"{url}/u.bin", None)
    cache = tmp_path / "cache"
    with pytest.warns(NeuromodWarning, match="no published sha256"):
        p = allen.fetch_file(entry, cache_dir=cache, progress=False)
    rec = json.loads((cache / "observed_sha256.json").read_text())
    assert rec["u.bin"] == _sha(payload)
    p.write_bytes(b"changed on disk")
    with pytest.raises(DataValueError, match="recorded at first download"):
        allen.fetch_file(entry, cache_dir=cache, progress=False)


def test_resume_from_part_file(server, tmp_path):
    root, url, seen = server
    payload = bytes(range(256)) * 400
    (root / "big.bin").write_bytes(payload)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "big.bin.part").write_bytes(payload[:40000])  # an interrupted earlier download
    entry = RemoteFile("big.bin", f"{url}/big.bin", _sha(payload))
    p = allen.fetch_file(entry, cache_dir=cache, progress=False)
    assert p.read_bytes() == payload
    assert ("/big.bin", "bytes=40000-") in seen
    assert not (cache / "big.bin.part").exists()


def test_base_url_env_and_missing_server_file(server, tmp_path, monkeypatch):
    root, url, _ = server
    monkeypatch.setenv("NEUROMOD_DATA_URL", url)
    monkeypatch.setenv("NEUROMOD_CACHE", str(tmp_path / "envcache"))
    with pytest.raises(InputFileError, match="cannot download m1_patchseq_exon"):
        allen.fetch_file("m1_patchseq_exon", progress=False)
    with pytest.raises(InputFileError, match="unknown dataset file"):
        allen.fetch_file("nope", progress=False)


def _tasic_zip(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    exon = rng.poisson(0.7, (6, 4))  # genes × cells
    intron = rng.poisson(0.5, (6, 4))
    ids = [str(500 + i) for i in range(6)]
    cells = [f"F1S4_{i}" for i in range(4)]

    def mat(m):
        head = '"",' + ",".join(f'"{c}"' for c in cells)
        return (
            head + "\n" + "".join(f'"{g}",' + ",".join(map(str, r)) + "\n" for g, r in zip(ids, m))
        )

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mouse_VISp_2018-06-14_exon-matrix.csv", mat(exon))
        zf.writestr("mouse_VISp_2018-06-14_intron-matrix.csv", mat(intron))
        zf.writestr(
            "mouse_VISp_2018-06-14_genes-rows.csv",
            "gene_symbol,gene_id,chromosome,gene_entrez_id,gene_name\n"
            + "".join(f"G{i},{i},1,{500 + i},name {i}\n" for i in range(6)),
        )
        zf.writestr(
            "mouse_VISp_2018-06-14_samples-columns.csv",
            "sample_name,class,subclass,cluster,cluster_color\n"
            + "".join(
                f"{c},{'GABAergic' if i < 2 else 'Glutamatergic'},{'Vip' if i < 2 else 'L4'},"
                f"{'Vip A' if i < 2 else 'L4 B'},#00000{i}\n"
                for i, c in enumerate(cells)
            ),
        )
    return exon, intron


def test_tasic2018_end_to_end_from_local_server(server, tmp_path, monkeypatch):
    root, url, _ = server
    fname = REGISTRY["tasic2018_VISp"].fname
    exon, intron = _tasic_zip(root / fname)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuromodWarning)  # the registry has no sha256 for this zip
        a = allen.tasic2018("VISp", cache_dir=tmp_path / "c", base_url=url, progress=False)
    assert a.shape == (4, 6)
    np.testing.assert_array_equal(a.X.toarray(), exon.T)
    assert list(a.var_names) == [f"G{i}" for i in range(6)]
    assert a.obs["subclass_label"].tolist() == ["Vip", "Vip", "L4", "L4"]
    assert a.obs["class_label"].nunique() == 2 and "cluster_color" in a.obs
    b = allen.tasic2018("VISp", cache_dir=tmp_path / "c", base_url=url, intron=True, progress=False)
    np.testing.assert_array_equal(b.X.toarray(), (exon + intron).T)
    assert b.uns["neuromod"]["counts"] == "exon+intron"
    with pytest.raises(InputFileError, match="unknown region"):
        allen.tasic2018("V1")


def test_m1_patchseq_from_mirror_of_shared_data(shared_data, server, tmp_path):
    """The registry's checksums are those of the real files: serve the shared copies and verify."""
    root, url, _ = server
    src = shared_data / "allen_m1_patchseq"
    for f in src.iterdir():
        (root / f.name).write_bytes(f.read_bytes())
    a = allen.m1_patchseq(cache_dir=tmp_path / "c", base_url=url, progress=False)
    assert a.shape == (185, 30749)
    assert a.uns["neuromod"]["counts"] == "exon+intron"
    typed = a.obs["cluster_label"].notna()
    assert a.obs.loc[typed, "subclass_label"].notna().all()
    assert set(a.obs["class_label"].dropna()) <= {"GABAergic", "Glutamatergic", "Non-Neuronal"}


@pytest.mark.parametrize("damage", ["{broken", "[1, 2]", '{"f.csv": 3}'])
def test_a_damaged_record_of_first_downloads_stops(server, tmp_path, damage):
    """Starting the record afresh would accept a swapped file as a first download: refuse."""
    root, url, seen = server
    (root / "f.csv").write_bytes(b"gene,c1\nVip,3\n")
    entry = RemoteFile("f.csv", f"{url}/f.csv", None)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "observed_sha256.json").write_text(damage)
    with pytest.raises(DataValueError, match="observed_sha256.json .*not reset"):
        allen.fetch_file(entry, cache_dir=cache, progress=False)
    assert (cache / "observed_sha256.json").read_text() == damage
    assert not seen  # nothing was downloaded
