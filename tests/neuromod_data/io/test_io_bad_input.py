"""Bad input to the readers: one clear message (or a warning plus a record) naming the culprit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from neuromod_data.errors import (
    ColumnError,
    DataValueError,
    FormatError,
    InputFileError,
    NeuromodWarning,
)
from neuromod_data.io import add_taxonomy, detect_format, read


def test_missing_file_and_missing_metadata(tmp_path):
    with pytest.raises(InputFileError, match=r"input not found: .*nope\.csv"):
        read(tmp_path / "nope.csv")
    p = tmp_path / "c.csv"
    p.write_text(",a,b\nVip,1,2\n")
    with pytest.raises(InputFileError, match=r"metadata file not found: .*meta\.csv"):
        read(p, metadata=tmp_path / "meta.csv")


def test_png_named_csv_and_random_text(tmp_path):
    png = tmp_path / "counts.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(FormatError, match=r"counts\.csv: this is a PNG image"):
        read(png)
    txt = tmp_path / "notes.txt"
    txt.write_text("Dear reviewer,\nthank you for the comments.\nWe have now revised it\n")
    with pytest.raises(FormatError, match=r"notes\.txt: not a delimited table"):
        read(txt)
    h5 = tmp_path / "x.h5ad"
    h5.write_text("a,b\n1,2\n")
    with pytest.raises(FormatError, match=r"named \.h5ad but is not an HDF5 file"):
        detect_format(h5)


def test_join_or_label_column_that_does_not_exist(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(",s1,s2\nVip,1,2\nSst,0,3\nNpy,4,0\n")
    m = tmp_path / "m.csv"
    m.write_text("Cell,type\ns1,A\ns2,B\n")
    with pytest.raises(
        ColumnError, match="join column 'cell_id' not in the metadata; available: Cell, type"
    ):
        read(p, metadata=m, join="cell_id", progress=False)
    a = read(p, metadata=m, progress=False)  # detected: Cell
    with pytest.raises(ColumnError, match="label column 'RNA type' not in obs"):
        add_taxonomy(a, pd.DataFrame({"cluster_label": ["A"]}), key="RNA type")


def test_duplicated_gene_symbols_named_or_made_unique(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(",s1,s2\nVip,1,2\nSst,0,3\nVip,4,0\nPvalb,0,0\nPvalb,1,1\n")
    with pytest.raises(
        DataValueError, match=r"2 duplicated gene name\(s\): Vip, Pvalb.*make_unique=True"
    ):
        read(p, progress=False)
    with pytest.warns(NeuromodWarning, match="made unique"):
        a = read(p, progress=False, make_unique=True)
    assert list(a.var_names) == ["Vip", "Sst", "Vip-1", "Pvalb", "Pvalb-1"]
    assert a.uns["neuromod"]["genes_made_unique"] == ["Vip", "Pvalb"]
    np.testing.assert_array_equal(a.X[:, 2].toarray().ravel(), [4, 0])


def test_cells_without_annotation_and_annotation_without_cells(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(",s1,s2,s3,s4\nVip,1,2,0,0\nSst,0,3,1,1\nNpy,0,0,0,5\n")
    m = tmp_path / "m.csv"
    m.write_text("Cell,type\ns1,A\ns2,B\nzz9,C\n")
    with pytest.raises(
        DataValueError,
        match=r"2 of 4 cells in the counts have no row in the metadata.*e\.g\. s3, s4",
    ):
        read(p, metadata=m, join="Cell", progress=False)
    with pytest.warns(NeuromodWarning) as rec:
        a = read(p, metadata=m, join="Cell", missing="drop", progress=False)
    msgs = " | ".join(str(r.message) for r in rec)
    assert "1 metadata row(s) have no cell in the counts" in msgs and "zz9" in msgs
    assert list(a.obs_names) == ["s1", "s2"] and a.obs["type"].tolist() == ["A", "B"]
    assert a.uns["neuromod"]["cells_without_metadata"]["n"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuromodWarning)
        k = read(p, metadata=m, join="Cell", missing="keep", progress=False)
    assert k.n_obs == 4 and k.obs["type"].isna().sum() == 2


def test_duplicate_sample_names_in_metadata(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(",s1,s2\nVip,1,2\nSst,0,3\nNpy,4,0\n")
    m = tmp_path / "m.csv"
    m.write_text("Cell,type\ns1,A\ns2,B\ns2,C\n")
    with pytest.raises(
        DataValueError, match="appear more than once in the metadata column 'Cell': s2"
    ):
        read(p, metadata=m, join="Cell", progress=False)


def test_a_wrong_orientation_guess_is_named_with_its_fix(tmp_path):
    # 3 cells x 2 genes, one gene repeated: with no metadata the longer side (the cells) is taken
    # as genes, so the repeat shows up as a duplicated *sample*; the message must say it guessed
    p = tmp_path / "c.csv"
    p.write_text("cell,Sst,Sst\nc1,1,2\nc2,3,4\nc3,0,1\n")
    with pytest.raises(
        DataValueError,
        match=r"duplicated sample name\(s\): Sst \(with no metadata the longer side is taken as "
        r"genes, so this table of 3 rows × 2 columns was read as genes × cells; .*--metadata.*"
        r"orientation='cells_x_genes'\)",
    ):
        read(p, progress=False)
    # following the advice gives the real problem, named as a gene
    with pytest.raises(DataValueError, match=r"duplicated gene name\(s\): Sst") as info:
        read(p, orientation="cells_x_genes", progress=False)
    assert "longer side" not in str(info.value)  # a declared orientation is not a guess


def test_repeated_column_names_are_refused(tmp_path):
    # pandas would rename the second copy to 'x.1' and every later step would use the first one
    m = tmp_path / "m.csv"
    m.write_text("Cell,type,type\ns1,A,B\ns2,B,A\n")
    c = tmp_path / "c.csv"
    c.write_text(",s1,s2\nVip,1,2\nSst,0,3\n")
    with pytest.raises(FormatError, match=r"m\.csv.*column 'type' appears more than once"):
        read(c, metadata=m, join="Cell", progress=False)
    e = tmp_path / "explorer.csv"
    e.write_text("sample_name,cluster_label,Vip_log10_cpm,Sst_log10_cpm,Vip_log10_cpm\na,X,1,2,3\n")
    with pytest.raises(FormatError, match=r"explorer\.csv.*column 'Vip_log10_cpm' appears more"):
        read(e, progress=False)
    # a column really named 'type.1' next to 'type' is not a copy
    m.write_text("Cell,type,type.1\ns1,A,B\ns2,B,A\n")
    assert read(c, metadata=m, join="Cell", progress=False).obs["type.1"].tolist() == ["B", "A"]


@pytest.mark.parametrize(
    "value, what",
    [
        ("-3", "negative"),
        ("nan", "non-finite or missing"),
        ("inf", "non-finite"),
        ("", "non-finite or missing"),
    ],
)
def test_negative_or_nonfinite_counts_name_gene_and_cell(tmp_path, value, what):
    p = tmp_path / "c.csv"
    p.write_text(f",s1,s2,s3\nVip,1,2,0\nSst,0,{value},1\nNpy,4,0,0\n")
    with pytest.raises(DataValueError, match=rf"{what}.*row 'Sst', column 's2'"):
        read(p, progress=False)  # orientation not yet known while reading: rows and columns
    with pytest.raises(DataValueError, match=rf"{what}.*gene 'Sst', cell 's2'"):
        read(p, orientation="genes_x_cells", progress=False)
    allen = tmp_path / "x_exon-matrix.csv"
    allen.write_text(p.read_text())
    with pytest.raises(DataValueError, match=rf"{what}.*gene 'Sst', cell 's2'"):
        read(allen, progress=False)


def test_label_whitespace_and_case_warned_and_recorded(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(",s1,s2,s3,s4\nVip,1,2,0,0\nSst,0,3,1,1\nNpy,0,0,0,5\n")
    m = tmp_path / "m.csv"
    m.write_text('Cell,subclass\ns1,"Vip "\ns2,"  Vip"\ns3,Sst\ns4,SST\n')
    with pytest.warns(NeuromodWarning) as rec:
        a = read(p, metadata=m, progress=False)
    msgs = " | ".join(str(r.message) for r in rec)
    assert "stray whitespace" in msgs and "differ only in case" in msgs
    assert a.obs["subclass_label"].tolist() == ["Vip", "Vip", "Sst", "SST"]
    rec_ = a.uns["neuromod"]["label_cleaning"]["subclass_label"]
    assert sorted(rec_["whitespace_fixed"]) == ["  Vip", "Vip "]
    assert rec_["case_clashes"] == ["SST / Sst"]


def test_ragged_rows_and_empty_file(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(",s1,s2\nVip,1,2\nSst,0\nNpy,1,1\n")
    # a short line is a missing value, named by gene and cell
    with pytest.raises(DataValueError, match=r"c\.csv.*missing value.*row 'Sst', column 's2'"):
        read(p, format="table", progress=False)
    long = tmp_path / "l.csv"
    long.write_text(",s1,s2\nVip,1,2\nSst,0,1,5\nNpy,1,1\n")
    with pytest.raises(FormatError, match=r"l\.csv"):
        read(long, format="table", progress=False)
    e = tmp_path / "e.csv"
    e.write_text("")
    with pytest.raises(FormatError, match=r"e\.csv"):
        read(e, format="table", progress=False)


def test_unknown_option_named(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(",s1,s2\nVip,1,2\nSst,0,3\nNpy,4,0\n")
    with pytest.raises(TypeError, match="no option.*backed"):
        read(p, backed="r")


def test_annotation_given_as_counts_and_r_data(tmp_path):
    m = tmp_path / "meta.csv"
    m.write_text("Cell\tRNA type\tdepth\ns1\tSst A\t300\ns2\tVip B\t200\n")
    with pytest.raises(
        DataValueError, match=r"non-numeric value 'Sst A'.*'RNA type'.*metadata table"
    ):
        read(m, progress=False)
    r = tmp_path / "db.rda"
    r.write_bytes(b"\xfd7zXZ\x00\x00" + bytes(50))
    with pytest.raises(FormatError, match=r"db\.rda: this is xz-compressed data"):
        read(r)


def test_zero_padded_ids_and_types_named_like_missing_values_are_kept(tmp_path):
    """Labels are text: ``0001`` joins as ``0001`` (not 1), and types named ``NA`` / ``None`` stay
    types; only an empty field is missing. Numeric columns still become numbers."""
    p = tmp_path / "counts.csv"
    p.write_text(",0001,0002,0010,0011\nVip,1,0,2,0\nSst,0,3,1,1\n")
    m = tmp_path / "meta.csv"
    m.write_text("Cell,cell_type,depth\n0001,NA,10\n0002,None,20.5\n0010,NA,NA\n0011,,7\n")
    a = read(p, metadata=m, progress=False)
    assert a.obs_names.tolist() == ["0001", "0002", "0010", "0011"]
    types = a.obs["cell_type"].astype(object).tolist()
    assert types[:3] == ["NA", "None", "NA"] and pd.isna(types[3])
    assert a.obs["depth"].dtype.kind == "f" and np.isnan(a.obs["depth"].iloc[2])
    assert a.obs["depth"].iloc[1] == 20.5
    # the same labels counted independently of the reader
    raw = pd.read_csv(m, dtype=str, keep_default_na=False)
    assert raw["cell_type"].value_counts().to_dict() == {"NA": 2, "None": 1, "": 1}
    assert a.obs["cell_type"].value_counts().to_dict() == {"NA": 2, "None": 1}


def test_non_finite_values_in_an_h5ad_name_gene_and_cell(tmp_path):
    import anndata as ad

    X = np.array([[1.0, 0.0], [0.0, np.inf]], dtype=np.float32)
    ad.AnnData(
        X, obs=pd.DataFrame(index=["c1", "c2"]), var=pd.DataFrame(index=["Vip", "Sst"])
    ).write_h5ad(tmp_path / "a.h5ad")
    with pytest.raises(DataValueError, match="non-finite.*'Sst'.*'c2'"):
        read(tmp_path / "a.h5ad")


def test_truncated_10x_matrix_is_one_error(tmp_path):
    import gzip

    f = tmp_path / "tenx"
    f.mkdir()
    mtx = b"%%MatrixMarket matrix coordinate integer general\n2 2 2\n1 1 5\n2 2 3\n"
    (f / "matrix.mtx.gz").write_bytes(gzip.compress(mtx)[:30])
    (f / "barcodes.tsv.gz").write_bytes(gzip.compress(b"A-1\nB-1\n"))
    (f / "features.tsv.gz").write_bytes(
        gzip.compress(b"g1\tVip\tGene Expression\ng2\tSst\tGene Expression\n")
    )
    with pytest.raises(FormatError, match="tenx: cannot read as a 10x matrix folder"):
        read(f)
