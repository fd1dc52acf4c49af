"""``neuromod info`` and ``neuromod fetch`` through the console entry point."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd

from neuromod_data.cli import main


def _files(tmp_path):
    c = tmp_path / "counts.csv"
    c.write_text(",s1,s2,s3,s4\nVip,5,0,0,1\nSst,0,7,2,0\nNpy,1,0,0,0\n")
    m = tmp_path / "meta.tsv"
    m.write_text(
        "Cell\tsubclass\tcluster\ns1\tVip\tVip A\ns2\tSst\tSst B\ns3\tSst\tSst C\ns4\tVip\tVip A\n"
    )
    return c, m


def test_info_text(tmp_path, capsys):
    c, m = _files(tmp_path)
    assert main(["info", str(c), "--metadata", str(m)]) == 0
    out = capsys.readouterr().out
    assert "cells:   4" in out and "genes:   3" in out
    assert "X:       counts (float32, sparse CSR, 5 nonzero" in out
    assert "subclass_label" in out and "2 categories" in out
    assert "cluster_label" in out and "3 categories" in out


def test_info_json_matches_independent_counts(tmp_path, capsys):
    c, m = _files(tmp_path)
    assert main(["info", str(c), "--metadata", str(m), "--join", "Cell", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    meta = pd.read_csv(m, sep="\t")
    assert d["n_cells"] == len(meta) and d["n_genes"] == 3 and d["X"] == "counts"
    assert d["labels"]["cluster_label"]["n_categories"] == meta["cluster"].nunique()
    assert d["labels"]["cluster_label"]["largest"][0] == ["Vip A", 2]


def test_info_h5ad_and_errors(tmp_path, capsys):
    p = tmp_path / "a.h5ad"
    ad.AnnData(
        np.eye(3, dtype=np.float32),
        obs=pd.DataFrame({"class_label": ["A", "B", "A"]}, index=list("xyz")),
    ).write_h5ad(p)
    assert main(["info", str(p)]) == 0
    assert "class_label" in capsys.readouterr().out
    assert main(["info", str(p), "--backed", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["storage"] == "backed (on disk)" and d["labels"]["class_label"]["n_categories"] == 2
    assert main(["info", str(tmp_path / "missing.csv")]) == 2
    assert "input not found" in capsys.readouterr().err
    png = tmp_path / "x.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    assert main(["info", str(png)]) == 2
    assert "PNG image" in capsys.readouterr().err


def test_info_real_explorer(shared_data, capsys):
    p = shared_data / "allen_tasic2018_explorer" / "sample_heatmap_plot_data.csv"
    assert main(["info", str(p), "--json"]) == 0
    cap = capsys.readouterr()
    d = json.loads(cap.out)
    assert (d["n_cells"], d["n_genes"], d["X"]) == (23822, 7, "cpm")
    assert d["labels"]["cluster_label"]["n_categories"] == 133
    assert d["labels"]["class_label"]["n_categories"] == 4
    assert "warning: label column 'cluster_label': stray whitespace" in cap.err


def test_fetch_unknown_region_is_a_clean_error(tmp_path, capsys):
    assert main(["fetch", "tasic2018", "--region", "V1", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown region" in capsys.readouterr().err


def test_fetch_writes_h5ad_from_mirror(shared_data, tmp_path, capsys):
    import http.server
    import threading
    from functools import partial

    src = shared_data / "allen_tasic2018_explorer"

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the server's request log is not the command's output
            pass

    handler = partial(Quiet, directory=str(src))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "e.h5ad"
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        capsys.readouterr()
        rc = main(
            [
                "fetch",
                "tasic2018_explorer",
                "--cache-dir",
                str(tmp_path / "c"),
                "--base-url",
                url,
                "--out",
                str(out),
                "--quiet",
            ]
        )
        assert rc == 0
        printed = capsys.readouterr()
        assert printed.out == "" and printed.err == ""  # --quiet: nothing but errors
    finally:
        httpd.shutdown()
        httpd.server_close()
    a = ad.read_h5ad(out)
    assert a.shape == (23822, 7) and a.uns["neuromod"]["dataset"] == "tasic2018_explorer"
