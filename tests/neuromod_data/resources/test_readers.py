"""NeuronChat, LIANA / OmniPath and CellChatDB readers on the real files, plus bad input."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
import rdata

from neuromod_data.errors import ColumnError, FormatError, InputFileError, ResourceError
from neuromod_data.resources import (
    REQUIRED_COLUMNS,
    gene_groups,
    liana_resource_names,
    load_resource,
    neuropeptides,
    read_cellchat,
    read_liana,
    read_neuronchat,
    split_genes,
)
from neuromod_data.resources._rda import read_rda_objects


@pytest.fixture(scope="module")
def lr(shared_data):
    return shared_data / "lr_resources"


@pytest.fixture(scope="module")
def neuronchat(lr):
    return read_neuronchat(lr / "neuronchat_interactionDB_mouse.rda")


@pytest.fixture(scope="module")
def cellchat(lr):
    return read_cellchat(lr / "CellChatDB.mouse.rda")


def _schema_ok(df):
    assert list(df.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    for c in REQUIRED_COLUMNS:
        assert all(isinstance(v, str) for v in df[c]), c
    assert df["interaction"].is_unique
    assert set(df["g_protein"]) <= {"Gi/o", "Gs", "Gq", ""}


# --- NeuronChat -------------------------------------------------------------------------------


def test_neuronchat_counts(neuronchat):
    _schema_ok(neuronchat)
    assert len(neuronchat) == 183
    assert (neuronchat["source"] == "NeuronChat").all()
    fam = neuronchat["family"].value_counts()
    assert fam["neuropeptide"] == 37
    assert fam["gap junction"] == 20 and fam["adhesion"] == 9 and fam["gas"] == 8


def test_neuronchat_neuropeptides_equal_smith2019(neuronchat):
    npep = neuronchat[neuronchat["family"] == "neuropeptide"]
    got = set(zip(npep["ligand_genes"], npep["receptor_genes"]))
    builtin = neuropeptides()
    assert got == set(zip(builtin["ligand_genes"], builtin["receptor_genes"]))
    # same interaction names and Gα classes as the built-in table
    merged = npep.merge(builtin, on="interaction", suffixes=("_nc", "_b"))
    assert len(merged) == 37
    assert (merged["g_protein_nc"] == merged["g_protein_b"]).all()


def test_neuronchat_multigene_ligands(neuronchat):
    df = neuronchat.set_index("source_id")
    glu = df.loc["Glu_Grin1"]
    assert glu["ligand"] == "Glu" and glu["receptor_genes"] == "Grin1"
    assert gene_groups(glu["ligand_genes"], glu["ligand_groups"]) == [
        ["Gls"],
        ["Slc17a6", "Slc17a7", "Slc17a8"],
    ]
    gaba = df.loc["GABA_Gabbr1"]
    assert gene_groups(gaba["ligand_genes"], gaba["ligand_groups"]) == [
        ["Gad1", "Gad2"],
        ["Slc32a1"],
    ]
    assert gaba["g_protein"] == "Gi/o" and gaba["family"] == "amino acid"
    ne = df.loc["NE_Adra2a"]
    assert ne["ligand_genes"] == "Th_Ddc_Dbh_Slc18a1_Slc18a2" and ne["family"] == "monoamine"
    assert ne["g_protein"] == "Gi/o" and ne["ligand_group_coeffs"] == "1_1_1_1"
    assert df.loc["DA_Drd1", "g_protein"] == "Gs"
    assert df.loc["Ach_Chrm1", "family"] == "acetylcholine"
    assert df.loc["DA_Slc6a3", "interaction_type"] == "ligand uptake"


def test_neuronchat_independent_parse(lr, neuronchat):
    # Compare with a direct walk over the R list.
    raw = rdata.read_rda(lr / "neuronchat_interactionDB_mouse.rda")["interactionDB_mouse"]
    assert len(raw) == len(neuronchat)
    for key, entry in raw.items():
        row = neuronchat.loc[neuronchat["source_id"] == str(key)].iloc[0]
        assert split_genes(row["ligand_genes"]) == [str(g) for g in entry["lig_contributor"]]
        assert split_genes(row["receptor_genes"]) == [str(g) for g in entry["receptor_subunit"]]


# --- LIANA ------------------------------------------------------------------------------------


def _direct_pairs(path, name):
    with open(path, newline="") as f:
        return {
            (r["source_genesymbol"], r["target_genesymbol"])
            for r in csv.DictReader(f)
            if r["resource"] == name
        }


def test_liana_mouseconsensus(lr):
    path = lr / "liana_omni_resource.csv"
    df = load_resource(f"liana:{path}")
    _schema_ok(df)
    expected = _direct_pairs(path, "mouseconsensus")
    assert set(zip(df["ligand_genes"], df["receptor_genes"])) == expected
    assert len(df) == len(expected) == 3989
    assert (df["source"] == "liana:mouseconsensus").all()
    # complexes split into their subunits
    cx = df[df["receptor_genes"].str.contains("_")]
    assert len(cx) > 500
    for genes in cx["receptor_genes"]:
        parts = split_genes(genes)
        assert len(parts) >= 2 and all(p and p[0].isupper() for p in parts)
    row = df.set_index("interaction").loc["Nrg2→Erbb2_Erbb3"]
    assert split_genes(row["receptor_genes"]) == ["Erbb2", "Erbb3"]
    lig = df.set_index("interaction").loc["Clcf1_Crlf1→Cntfr_Il6st"]
    assert split_genes(lig["ligand_genes"]) == ["Clcf1", "Crlf1"]
    npy = df.set_index("interaction").loc["Npy→Npy1r"]
    assert npy["family"] == "neuropeptide" and npy["g_protein"] == "Gi/o"


def test_liana_other_named_resource(lr):
    path = lr / "liana_omni_resource.csv"
    df = load_resource(f"liana:{path}:cellphonedb")
    assert set(zip(df["ligand"], df["receptor"])) == _direct_pairs(path, "cellphonedb")
    assert (df["source"] == "liana:cellphonedb").all()
    names = liana_resource_names(path)
    assert {"consensus", "mouseconsensus", "cellchatdb", "cellphonedb"} <= set(names)


def test_liana_unknown_resource_lists_available(lr):
    with pytest.raises(ResourceError, match="'mousecons' not found") as exc:
        read_liana(lr / "liana_omni_resource.csv", "mousecons")
    assert "mouseconsensus" in str(exc.value) and "cellphonedb" in str(exc.value)


def test_liana_missing_columns(tmp_path):
    p = tmp_path / "omni.csv"
    p.write_text("source,target,resource\nA,B,x\n")
    with pytest.raises(ColumnError, match="source_genesymbol, target_genesymbol"):
        read_liana(p, "x")


def test_liana_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="nope.csv"):
        load_resource(f"liana:{tmp_path / 'nope.csv'}")


def test_liana_small_hand_made(tmp_path):
    p = tmp_path / "omni.csv"
    p.write_text(
        "source_genesymbol,target_genesymbol,resource\n"
        "Vip,Vipr2,r1\nVip,Vipr2,r1\nTgfb1,Tgfbr1_Tgfbr2,r1\nNpy,Npy1r,r2\n"
    )
    df = read_liana(p, "r1")
    assert df["interaction"].tolist() == ["Vip→Vipr2", "Tgfb1→Tgfbr1_Tgfbr2"]  # deduplicated
    assert df["g_protein"].tolist() == ["Gs", ""]
    assert df["family"].tolist() == ["neuropeptide", "other"]


# --- CellChatDB -------------------------------------------------------------------------------


def test_cellchat_loads(cellchat):
    _schema_ok(cellchat)
    assert len(cellchat) == 3379
    assert (cellchat["source"] == "CellChatDB").all()


def test_cellchat_complexes_resolved(lr, cellchat):
    db = read_rda_objects(lr / "CellChatDB.mouse.rda", what="CellChatDB")["CellChatDB.mouse"]
    symbols = set(db["geneInfo"]["Symbol"].astype(str))
    complexes = db["complex"]
    genes = {
        g
        for col in ("ligand_genes", "receptor_genes")
        for s in cellchat[col]
        for g in split_genes(s)
    }
    assert genes <= symbols  # every complex name was replaced by its subunits
    by_id = cellchat.set_index("source_id")
    assert by_id.loc["TGFB1_TGFBR1_TGFBR2", "receptor_genes"] == "Tgfbr1_Tgfbr2"
    assert by_id.loc["TGFB1_TGFBR1_TGFBR2", "receptor"] == "TGFbR1_R2"
    # each complex-named receptor equals the non-empty subunits of its complex row, in order
    for rec, rec_genes in zip(cellchat["receptor"], cellchat["receptor_genes"]):
        if rec in complexes.index:
            sub = [str(s) for s in complexes.loc[rec] if isinstance(s, str) and s.strip()]
            assert split_genes(rec_genes) == sub
    npy = cellchat.set_index("interaction").loc["Npy→Npy1r"]
    assert npy["family"] == "neuropeptide" and npy["g_protein"] == "Gi/o"
    fam = cellchat.groupby("pathway_name")["family"].agg(lambda s: set(s)).to_dict()
    assert fam["Dopamine"] == {"monoamine"} and fam["GABA-B"] == {"amino acid"}


def test_rda_autodetect(lr, neuronchat):
    pd.testing.assert_frame_equal(
        load_resource(str(lr / "neuronchat_interactionDB_mouse.rda")), neuronchat
    )
    pd.testing.assert_frame_equal(
        load_resource(f"neuronchat:{lr / 'neuronchat_interactionDB_mouse.rda'}"), neuronchat
    )


def test_wrong_rda_objects(lr, tmp_path):
    with pytest.raises(FormatError, match="not a CellChatDB"):
        read_cellchat(lr / "neuronchat_interactionDB_mouse.rda")
    df_rda = tmp_path / "frame.rda"
    rdata.write_rda(df_rda, {"frame": pd.DataFrame({"a": [1, 2]})})
    with pytest.raises(FormatError, match="not a NeuronChat interaction database.*frame"):
        read_neuronchat(df_rda)
    with pytest.raises(FormatError, match="not a CellChatDB"):
        load_resource(f"cellchat:{df_rda}")


def test_not_an_rda(tmp_path):
    p = tmp_path / "fake.rda"
    p.write_text("this is not R data\n")
    with pytest.raises(FormatError, match="fake.rda is not a readable R data"):
        read_neuronchat(p)
    with pytest.raises(InputFileError, match="missing.rda"):
        read_cellchat(tmp_path / "missing.rda")
    with pytest.raises(InputFileError, match="missing.rda"):
        load_resource(f"neuronchat:{tmp_path / 'missing.rda'}")


def test_neuronchat_hand_made_round_trip(tmp_path):
    db = {
        "Foo_Bar": {
            "interaction_name": np.array(["Foo_Bar"]),
            "lig_contributor": np.array(["Syn1", "VesA", "VesB"]),
            "lig_contributor_group": np.array([1.0, 2.0, 2.0]),
            "lig_contributor_coeff": np.array([1.0, 0.5]),
            "receptor_subunit": np.array(["Npy1r"]),
            "interaction_type": np.array(["ligand-receptor"]),
            "ligand_type": np.array(["Neurotransmitter"]),
        }
    }
    p = tmp_path / "db.rda"
    rdata.write_rda(p, {"myDB": db})
    df = read_neuronchat(p)
    assert df.loc[0, "interaction"] == "Foo→Bar"
    assert gene_groups(df.loc[0, "ligand_genes"], df.loc[0, "ligand_groups"]) == [
        ["Syn1"],
        ["VesA", "VesB"],
    ]
    assert df.loc[0, "ligand_group_coeffs"] == "1_0.5"
    assert df.loc[0, "g_protein"] == "Gi/o" and df.loc[0, "family"] == "other"
