"""Each reader against an independent computation, and the real files in ../shared/data."""

from __future__ import annotations

import gzip
import warnings
import zipfile

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from neuromod_data.errors import NeuromodWarning
from neuromod_data.io import (
    add_taxonomy,
    detect_format,
    read,
    read_allen_smartseq,
    read_counts_table,
    read_summary,
)


def _allen_files(d, *, gz=False, prefix="mouse_VISp_2018-06-14"):
    rng = np.random.default_rng(3)
    exon = rng.poisson(1.0, (5, 4))
    intron = rng.poisson(0.6, (5, 4))
    ids = [str(1000 + i) for i in range(5)]
    cells = ["s1", "s2", "s3", "s4"]

    def mat(m):
        return (
            '"",'
            + ",".join(f'"{c}"' for c in cells)
            + "\n"
            + "".join(f'"{g}",' + ",".join(map(str, r)) + "\n" for g, r in zip(ids, m))
        )

    files = {
        f"{prefix}_exon-matrix.csv": mat(exon),
        f"{prefix}_intron-matrix.csv": mat(intron),
        # genes-rows in another order than the matrix: the reader must map by id, not position
        f"{prefix}_genes-rows.csv": "gene_symbol,gene_id,gene_entrez_id\n"
        + "".join(f"Gene{i},{i},{1000 + i}\n" for i in (4, 2, 0, 1, 3)),
        f"{prefix}_samples-columns.csv": "sample_name,class,subclass,cluster,cluster_id\n"
        "s1,GABAergic,Vip,Vip Ptprt,1\ns2,GABAergic,Sst,Sst Chodl,2\n"
        "s3,Glutamatergic,L4,L4 IT,3\ns4,Non-Neuronal,Astro,Astro Aqp4,4\n",
    }
    for name, text in files.items():
        if gz:
            (d / (name + ".gz")).write_bytes(gzip.compress(text.encode()))
        else:
            (d / name).write_text(text)
    return exon, intron, files


def test_allen_folder_file_and_zip_agree(tmp_path):
    exon, intron, files = _allen_files(tmp_path)
    zp = tmp_path.parent / "allen.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"sub/{name}", text)
    a = read(tmp_path, progress=False)
    b = read(tmp_path / "mouse_VISp_2018-06-14_exon-matrix.csv", progress=False)
    c = read(zp, progress=False)
    for x in (a, b, c):
        assert x.uns["neuromod"]["reader"] == "allen_smartseq"
        np.testing.assert_array_equal(x.X.toarray(), exon.T)
        assert list(x.var_names) == [f"Gene{i}" for i in range(5)]
        assert x.obs["cluster_label"].tolist() == ["Vip Ptprt", "Sst Chodl", "L4 IT", "Astro Aqp4"]
        assert x.obs["subclass_label"].tolist() == ["Vip", "Sst", "L4", "Astro"]
        assert x.obs["class_label"].nunique() == 3 and "cluster_id" in x.obs
        assert x.var["gene_entrez_id"].tolist() == [str(1000 + i) for i in range(5)]


def test_allen_gzip_and_exon_plus_intron(tmp_path):
    exon, intron, _ = _allen_files(tmp_path, gz=True)
    a = read_allen_smartseq(
        tmp_path / "mouse_VISp_2018-06-14_exon-matrix.csv.gz", intron=True, progress=False
    )
    np.testing.assert_array_equal(a.X.toarray(), (exon + intron).T)
    assert a.uns["neuromod"]["counts"] == "exon+intron" and a.X.dtype == np.float32


def test_geo_layout(tmp_path):
    counts = tmp_path / "GSE115746_cells_exon_counts.csv"
    counts.write_text(",c1,c2,c3\nVip,3,0,1\nSst,0,7,0\n")
    (tmp_path / "GSE115746_complete_metadata_28706-cells.csv").write_text(
        "sample_name,cell_class,cell_subclass,cell_cluster,dissected_region\n"
        "c0,GABAergic,Lamp5,Lamp5 A,ALM\nc1,GABAergic,Vip,Vip A,VISp\nc2,GABAergic,Sst,Sst B,VISp\n"
        "c3,Glutamatergic,L4,L4 C,VISp\n"
    )
    assert detect_format(counts) == "geo_gse115746"
    with pytest.warns(NeuromodWarning, match="1 metadata row"):
        a = read(counts, progress=False)
    np.testing.assert_array_equal(a.X.toarray(), [[3, 0], [0, 7], [1, 0]])
    assert a.obs["cluster_label"].tolist() == ["Vip A", "Sst B", "L4 C"]
    assert a.uns["neuromod"]["metadata_rows_without_cells"]["examples"] == ["c0"]


def test_explorer_back_transform(tmp_path):
    p = tmp_path / "sample_heatmap_plot_data.csv"
    logv = np.array([[0.0, 2.0], [1.0, np.log10(4.5)]])
    p.write_text(
        "sample_name,cluster_id,cluster_color,cluster_label,class_id,class_color,class_label,Vip_log10_cpm,Sst_log10_cpm\n"
        f"a,1,#fff,Vip A,1,#f00,GABAergic,{float(logv[0, 0])!r},{float(logv[0, 1])!r}\n"
        f"b,2,#eee,Sst B,1,#f00,GABAergic,{float(logv[1, 0])!r},{float(logv[1, 1])!r}\n"
    )
    a = read(p)
    np.testing.assert_allclose(a.X.toarray(), [[0, 99], [9, 3.5]], rtol=1e-6)
    np.testing.assert_allclose(np.log10(a.X.toarray() + 1), logv, atol=1e-6)
    assert a.uns["neuromod"]["X"] == "cpm" and list(a.var_names) == ["Vip", "Sst"]


@pytest.mark.parametrize("orientation", ["genes_x_cells", "cells_x_genes"])
def test_table_orientation_detected_from_metadata(tmp_path, orientation):
    M = np.array([[0, 2, 5], [1, 0, 0]])  # 2 genes × 3 cells
    genes, cells = ["Vip", "Sst"], ["x1", "x2", "x3"]
    if orientation == "genes_x_cells":
        df = pd.DataFrame(M, index=genes, columns=cells)
    else:
        df = pd.DataFrame(M.T, index=cells, columns=genes)
    df.to_csv(tmp_path / "t.tsv", sep="\t")
    (tmp_path / "meta.csv").write_text("id\tcell_type\nx1\tA\nx2\tB\nx3\tA\n")  # tab under .csv
    a = read_counts_table(tmp_path / "t.tsv", metadata=tmp_path / "meta.csv", progress=False)
    assert a.uns["neuromod"]["orientation"] == orientation
    np.testing.assert_array_equal(a.X.toarray(), M.T)
    assert list(a.var_names) == genes and a.obs["cell_type"].tolist() == ["A", "B", "A"]


def test_summary_table(tmp_path):
    p = tmp_path / "trimmed_means.csv"
    p.write_text("feature,Vip A,Sst B,Pvalb C\nVip,50.5,0,1\nSst,0,80,2\n")
    ann = pd.DataFrame(
        {
            "cluster_label": ["Vip A", "Sst B"],
            "cluster_size": [10, 20],
            "subclass_label": ["Vip", "Sst"],
        }
    )
    with pytest.warns(NeuromodWarning, match="not in the annotation"):
        t = read_summary(p, annotation=ann)
    assert detect_format(p) == "summary"
    assert t.obs_names.tolist() == ["Vip A", "Sst B", "Pvalb C"]
    np.testing.assert_array_equal(t.layers["trimmed_mean"], [[50.5, 0], [0, 80], [1, 2]])
    np.testing.assert_array_equal(t.obs["n_cells"].to_numpy()[:2], [10, 20])
    assert np.isnan(t.obs["n_cells"].iloc[2]) and t.uns["neuromod"]["X"] == "trimmed_mean"


def test_h5ad_plain_backed_and_10x_mtx(tmp_path):
    X = np.array([[0, 3], [2, 0], [1, 1]], dtype=np.int64)
    p = tmp_path / "a.h5ad"
    ad.AnnData(
        X,
        obs=pd.DataFrame({"subclass": ["Vip", "Sst", "Vip"]}, index=["a", "b", "c"]),
        var=pd.DataFrame(index=["G1", "G2"]),
    ).write_h5ad(p)
    a = read(p)
    assert sp.isspmatrix_csr(a.X) and a.X.dtype == np.float32 and a.uns["neuromod"]["X"] == "counts"
    np.testing.assert_array_equal(a.X.toarray(), X)
    assert a.obs["subclass_label"].tolist() == ["Vip", "Sst", "Vip"]
    b = read(p, backed="r")
    assert b.isbacked and b.uns["neuromod"]["backed"] == "r"
    b.file.close()
    d = tmp_path / "tenx"
    d.mkdir()
    scipy.io.mmwrite(str(d / "matrix.mtx"), sp.coo_matrix(X.T))  # 10x stores genes × cells
    (d / "barcodes.tsv").write_text("a\nb\nc\n")
    (d / "genes.tsv").write_text("E1\tG1\nE2\tG2\n")
    t = read(d)
    assert t.uns["neuromod"]["reader"] == "10x_mtx"
    np.testing.assert_array_equal(t.X.toarray(), X)
    assert list(t.var_names) == ["G1", "G2"] and list(t.obs_names) == ["a", "b", "c"]


def test_10x_without_scanpy_names_the_extra(tmp_path, monkeypatch):
    # scanpy is optional (the tenx extra): without it the 10x readers stop with one message naming
    # the file and the extra to install, an ImportError that the command line reports in one line
    import sys

    from neuromod_data.errors import DependencyError, NeuromodError
    from neuromod_data.io import read_10x_h5, read_10x_mtx

    d = tmp_path / "tenx"
    d.mkdir()
    scipy.io.mmwrite(str(d / "matrix.mtx"), sp.coo_matrix(np.eye(2)))
    (d / "barcodes.tsv").write_text("a\nb\n")
    (d / "genes.tsv").write_text("E1\tG1\nE2\tG2\n")
    h5 = tmp_path / "filtered_feature_bc_matrix.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    monkeypatch.setitem(sys.modules, "scanpy", None)  # "import scanpy" now raises ImportError
    for call, where in (
        (lambda: read(d), d),
        (lambda: read_10x_mtx(d), d),
        (lambda: read_10x_h5(h5), h5),
    ):
        with pytest.raises(DependencyError) as info:
            call()
        msg = str(info.value)
        assert isinstance(info.value, ImportError) and isinstance(info.value, NeuromodError)
        assert str(where) in msg and "neuromod[tenx]" in msg
    # the other readers do not need it
    p = tmp_path / "counts.csv"
    p.write_text(",c1,c2\nVip,0,4\nSst,2,0\n")
    assert read(p, progress=False).shape == (2, 2)


# --- real files -------------------------------------------------------------------------------


def test_real_explorer_export(shared_data):
    p = shared_data / "allen_tasic2018_explorer" / "sample_heatmap_plot_data.csv"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a = read(p)
    assert a.shape == (23822, 7)
    assert a.obs["cluster_label"].nunique() == 133
    assert set(a.obs["class_label"].unique()) == {
        "GABAergic",
        "Glutamatergic",
        "Non-Neuronal",
        "Endothelial",
    }
    # the export has two cluster names with a trailing space: normalised, warned and recorded
    assert (
        "Sst Myh8 Etv1 " in a.uns["neuromod"]["label_cleaning"]["cluster_label"]["whitespace_fixed"]
    )
    assert any("whitespace" in str(x.message) for x in w)
    raw = pd.read_csv(p)
    np.testing.assert_allclose(
        a.X[:, a.var_names.get_loc("Vip")].toarray().ravel(),
        10 ** raw["Vip_log10_cpm"].to_numpy() - 1,
        rtol=1e-5,
        atol=1e-3,
    )
    # Vip CPM is highest in Vip cells (a sanity check of cell/label alignment)
    vip = a.obs["cluster_label"].astype(str).str.startswith("Vip").to_numpy()
    x = a.X[:, a.var_names.get_loc("Vip")].toarray().ravel()
    assert x[vip].mean() > 20 * x[~vip].mean()


def test_real_m1_patchseq_exon_intron_metadata_taxonomy(shared_data):
    d = shared_data / "allen_m1_patchseq"
    exon = d / "m1_patchseq_phys_temp_exon_counts.csv.gz"
    meta = pd.read_csv(d / "m1_patchseq_phys_temp_meta_data.csv", sep="\t")
    a = read(
        exon,
        metadata=d / "m1_patchseq_phys_temp_meta_data.csv",
        join="Cell",
        intron=True,
        progress=False,
    )
    ex = pd.read_csv(exon, index_col=0)
    it = pd.read_csv(d / "m1_patchseq_phys_temp_intron_counts.csv.gz", index_col=0)
    assert ex.shape[1] == len(meta) == 185  # count columns vs metadata rows: they agree
    assert a.shape == (185, 30749) == (ex.shape[1], ex.shape[0])
    np.testing.assert_array_equal(a.X.toarray(), (ex + it.loc[ex.index, ex.columns]).to_numpy().T)
    assert list(a.obs_names) == list(ex.columns)
    assert a.obs["RNA type"].nunique() == 30 and a.obs["RNA family"].nunique() == 6
    with pytest.warns(NeuromodWarning, match="8 of 185 cells"):
        add_taxonomy(a, d / "yao2020_cluster.annotation.csv", key="RNA type")
    typed = a.obs["RNA type"].notna()
    assert a.obs.loc[typed, "subclass_label"].notna().all()
    assert a.obs.loc[a.obs["RNA family"] == "Sst", "subclass_label"].eq("Sst").all()
    assert a.uns["neuromod"]["taxonomy"]["n_matched"] == 177


def test_real_m1_round_trips_through_h5ad(shared_data, tmp_path):
    d = shared_data / "allen_m1_patchseq"
    a = read(
        d / "m1_patchseq_phys_temp_exon_counts.csv.gz",
        metadata=d / "m1_patchseq_phys_temp_meta_data.csv",
        join="Cell",
        progress=False,
    )
    p = tmp_path / "m1.h5ad"
    a.write_h5ad(p)
    b = read(p)
    assert b.uns["neuromod"]["X"] == "counts" and b.uns["neuromod"]["reader"] == "h5ad"
    assert (a.X != b.X).nnz == 0 and list(b.obs_names) == list(a.obs_names)
    assert b.obs["RNA type"].astype(str).tolist() == a.obs["RNA type"].astype(str).tolist()
    # "/" is not allowed in h5ad keys: the column is renamed and the rename recorded
    assert (
        "ALM_VISp top-3" in b.obs
        and "ALM/VISp top-3 → ALM_VISp top-3" in b.uns["neuromod"]["renamed_columns"]
    )


def test_h5ad_with_metadata_table(tmp_path):
    p = tmp_path / "a.h5ad"
    ad.AnnData(np.eye(3, dtype=np.float32), obs=pd.DataFrame(index=list("abc"))).write_h5ad(p)
    (tmp_path / "m.csv").write_text("id,cluster\nc,Z\na,X\nb,Y\n")  # other order than the cells
    a = read(p, metadata=tmp_path / "m.csv")
    assert a.obs["cluster_label"].tolist() == ["X", "Y", "Z"]
    assert "cluster → cluster_label" in a.uns["neuromod"]["renamed_columns"]


def test_readers_load_on_first_use(tmp_path):
    # every command's parser reads the format names (neuromod_data.io._detect): that must not load
    # anndata, pandas or scanpy, so `neuromod train` runs without the data stack's memory
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys\n"
        "import neuromod_data.io._detect, neuromod_data.io\n"
        "light = {m: m in sys.modules for m in ('anndata', 'pandas', 'scanpy', 'h5py')}\n"
        "from neuromod_data.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "after = {m: m in sys.modules for m in ('anndata', 'scanpy', 'h5py')}\n"
        "from neuromod_data.io import read_h5ad\n"
        "print(json.dumps({'light': light, 'train': after, 'lazy': read_h5ad.__module__}))\n"
    )
    args = ["train", "--task", "evidence_accumulation", "--rule", "eprop", "--iterations", "1"]
    args += ["--batch-size", "2", "--no-progress", "--out", str(tmp_path / "run")]
    out = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert (tmp_path / "run" / "metrics.csv").is_file()
    assert not any(got["light"].values()), got["light"]
    assert not any(got["train"].values()), got["train"]
    assert got["lazy"] == "neuromod_data.io.anndata_formats"
