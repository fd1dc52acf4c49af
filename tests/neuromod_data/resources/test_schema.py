"""Validation, gene groups and missing-gene checks."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from neuromod_data.errors import ColumnError, DataValueError, MissingGenesWarning, ResourceError
from neuromod_data.resources import (
    check_genes,
    gene_groups,
    load_resource,
    neuromodulators,
    neuropeptides,
    read_resource_csv,
    resource_genes,
    split_genes,
    validate_resource,
)


def _row(**kw):
    base = {
        "interaction": "Npy→Npy1r", "ligand": "Npy", "receptor": "Npy1r", "ligand_genes": "Npy",
        "receptor_genes": "Npy1r", "family": "neuropeptide", "g_protein": "Gi/o", "source": "t",
    }  # fmt: skip
    base.update(kw)
    return base


def test_validate_names_all_missing_columns():
    df = pd.DataFrame([_row()]).drop(columns=["family", "g_protein"])
    with pytest.raises(ColumnError, match="family, g_protein") as exc:
        validate_resource(df, name="my table")
    assert "my table" in str(exc.value)


def test_validate_rejects_bad_values():
    with pytest.raises(ResourceError, match="Gx"):
        validate_resource(pd.DataFrame([_row(g_protein="Gx")]))
    with pytest.raises(ResourceError, match="receptor_genes is empty"):
        validate_resource(pd.DataFrame([_row(receptor_genes=" ")]))
    with pytest.raises(DataValueError, match="Npy→Npy1r"):
        validate_resource(pd.DataFrame([_row(), _row()]))
    with pytest.raises(ResourceError, match="no interactions"):
        validate_resource(pd.DataFrame([_row()]).iloc[:0])
    with pytest.raises(ResourceError, match="DataFrame"):
        validate_resource([_row()])
    with pytest.raises(ResourceError, match="2 groups for 3 genes"):
        validate_resource(pd.DataFrame([_row(ligand_genes="A_B_C", ligand_groups="1_2")]))


def test_validate_cleans_strings_and_keeps_extras():
    df = pd.DataFrame([_row(ligand=" Npy ", extra=1.5)])
    out = validate_resource(df)
    assert out.loc[0, "ligand"] == "Npy"
    assert list(out.columns)[-1] == "extra"


def test_split_and_groups():
    assert split_genes("Itga1_Itgb1") == ["Itga1", "Itgb1"]
    assert gene_groups("Gls_Slc17a6_Slc17a7_Slc17a8", "1_2_2_2") == [
        ["Gls"],
        ["Slc17a6", "Slc17a7", "Slc17a8"],
    ]
    assert gene_groups("A_B", "") == [["A"], ["B"]]


def test_resource_genes():
    genes = resource_genes(neuropeptides())
    assert len(genes) == 18 + 29
    nm = resource_genes(neuromodulators())
    assert {"Th", "Ddc", "Slc18a2", "Chrna4", "Chrnb2", "Gabbr1", "Gabbr2"} <= nm
    with pytest.raises(ColumnError):
        resource_genes(pd.DataFrame({"ligand": ["x"]}))


def test_check_genes_on_hand_made_data():
    res = neuropeptides()
    genes = sorted(resource_genes(res) - {"Npy", "Vipr2"})
    with pytest.warns(MissingGenesWarning, match="Npy, Vipr2") as rec:
        missing = check_genes(res, genes)
    msg = str(rec[0].message)
    assert "2 resource gene(s)" in msg
    expected = {i: ["Npy"] for i in ["Npy→Npy1r", "Npy→Npy2r", "Npy→Npy5r"]}
    expected.update({"Vip→Vipr2": ["Vipr2"], "Adcyap1→Vipr2": ["Vipr2"]})
    assert missing == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_genes(res, sorted(resource_genes(res))) == {}
        assert check_genes(res, genes, warn=False) == expected


def test_check_genes_accepts_anndata():
    from neuromod_data.datasets import toy_cortex

    adata = toy_cortex(n_cells=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_genes(neuropeptides(), adata) == {}


def test_check_genes_m1_patchseq(shared_data):
    path = shared_data / "allen_m1_patchseq" / "m1_patchseq_phys_temp_exon_counts.csv.gz"
    genes = pd.read_csv(path, usecols=[0]).iloc[:, 0].astype(str)
    assert len(genes) == 30749
    with pytest.warns(MissingGenesWarning, match="Npy2r, Trhr"):
        missing = check_genes(load_resource("neuropeptides"), genes)
    assert missing == {"Npy→Npy2r": ["Npy2r"], "Trh→Trhr": ["Trhr"]}


def test_user_csv(tmp_path):
    p = tmp_path / "mine.tsv"
    p.write_text("ligand\treceptor\tfamily\nNpy\tNpy1r\tneuropeptide\nDopamine\tDrd1\tmonoamine\n")
    df = load_resource(str(p))
    assert df["interaction"].tolist() == ["Npy→Npy1r", "Dopamine→Drd1"]
    assert df["g_protein"].tolist() == ["Gi/o", "Gs"]
    assert (df["source"] == "mine.tsv").all()
    pd.testing.assert_frame_equal(load_resource(f"csv:{p}"), df)


def test_user_csv_missing_columns(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("lig,receptor\nNpy,Npy1r\n")
    with pytest.raises(ColumnError, match=r"bad\.csv lacks column\(s\) ligand"):
        read_resource_csv(p)
    with pytest.raises(ColumnError, match="ligand"):
        load_resource(f"csv:{p}")


def test_user_csv_missing_file(tmp_path):
    from neuromod_data.errors import InputFileError

    with pytest.raises(InputFileError, match="nothere.csv"):
        load_resource(str(tmp_path / "nothere.csv"))
