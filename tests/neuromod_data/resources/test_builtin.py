"""The shipped tables against lists written out independently from Smith et al. 2019
(docs/design.md, "Resources")."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from neuromod_data.resources import (
    NP_GPCR_GENES,
    NPP_GENES,
    REQUIRED_COLUMNS,
    gene_groups,
    infer_family,
    load_resource,
    neuromodulators,
    neuropeptides,
    receptor_g_protein,
)

NPP = set(
    [
        "Npy",
        "Sst",
        "Vip",
        "Tac2",
        "Cck",
        "Penk",
        "Crh",
        "Cort",
        "Tac1",
        "Pdyn",
        "Pthlh",
        "Pnoc",
        "Trh",
        "Grp",
        "Rln1",
        "Adcyap1",
        "Nts",
        "Nmb",
    ]
)
GI = set(
    [
        "Sstr1",
        "Sstr2",
        "Sstr3",
        "Sstr4",
        "Npy1r",
        "Npy2r",
        "Npy5r",
        "Oprd1",
        "Oprk1",
        "Oprl1",
        "Oprm1",
    ]
)
GS = set(["Rxfp1", "Rxfp2", "Rxfp3", "Adcyap1r1", "Crhr1", "Crhr2", "Vipr1", "Vipr2"])
GQ = set(["Grpr", "Cckbr", "Ntsr1", "Ntsr2", "Nmbr", "Trhr", "Trhr2", "Tacr1", "Tacr3", "Pth1r"])
PAIRS = {
    tuple(p.split("-"))
    for p in [
        "Vip-Vipr1",
        "Vip-Vipr2",
        "Npy-Npy1r",
        "Npy-Npy2r",
        "Npy-Npy5r",
        "Sst-Sstr1",
        "Sst-Sstr2",
        "Sst-Sstr3",
        "Sst-Sstr4",
        "Penk-Oprd1",
        "Penk-Oprm1",
        "Tac2-Tacr3",
        "Cck-Cckbr",
        "Crh-Crhr1",
        "Crh-Crhr2",
        "Tac1-Tacr1",
        "Pdyn-Oprd1",
        "Pdyn-Oprk1",
        "Pdyn-Oprm1",
        "Cort-Sstr1",
        "Cort-Sstr2",
        "Cort-Sstr3",
        "Cort-Sstr4",
        "Pthlh-Pth1r",
        "Pnoc-Oprl1",
        "Adcyap1-Adcyap1r1",
        "Adcyap1-Vipr1",
        "Adcyap1-Vipr2",
        "Trh-Trhr",
        "Trh-Trhr2",
        "Grp-Grpr",
        "Nmb-Nmbr",
        "Nts-Ntsr1",
        "Nts-Ntsr2",
        "Rln1-Rxfp1",
        "Rln1-Rxfp2",
        "Rln1-Rxfp3",
    ]
}


def test_shipped_as_package_data():
    files = resources.files("neuromod_data._shipped")
    assert files.joinpath("neuropeptides_smith2019.csv").is_file()
    assert files.joinpath("neuromodulators.csv").is_file()


def test_neuropeptides_smith2019():
    df = neuropeptides()
    assert list(df.columns[: len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
    assert len(df) == 37 and len(PAIRS) == 37
    assert set(zip(df["ligand_genes"], df["receptor_genes"])) == PAIRS
    assert set(df["ligand_genes"]) == NPP and len(NPP) == 18
    assert set(df["receptor_genes"]) == GI | GS | GQ and len(GI | GS | GQ) == 29
    expected = {**dict.fromkeys(GI, "Gi/o"), **dict.fromkeys(GS, "Gs"), **dict.fromkeys(GQ, "Gq")}
    assert dict(zip(df["receptor_genes"], df["g_protein"])) == expected
    assert (df["family"] == "neuropeptide").all()
    assert (df["interaction"] == df["ligand"] + "→" + df["receptor"]).all()
    assert df["interaction"].is_unique


def test_gene_constants():
    assert len(NPP_GENES) == 18 and set(NPP_GENES) == NPP
    assert len(NP_GPCR_GENES) == 29 and set(NP_GPCR_GENES) == GI | GS | GQ


def test_copies_are_independent():
    a = neuropeptides()
    a.loc[0, "ligand"] = "changed"
    assert neuropeptides().loc[0, "ligand"] != "changed"


def test_neuromodulators():
    df = neuromodulators().set_index("interaction")
    assert set(df["ligand"]) == {
        "Dopamine", "Serotonin", "Noradrenaline", "Histamine", "Acetylcholine", "GABA", "Glutamate",
    }  # fmt: skip
    # Ligands are synthesis enzyme(s) AND vesicular transporter, alternatives grouped.
    groups = {
        lig: gene_groups(g, k)
        for lig, g, k in zip(df["ligand"], df["ligand_genes"], df["ligand_groups"])
    }
    assert groups["Dopamine"] == [["Th"], ["Ddc"], ["Slc18a1", "Slc18a2"]]
    assert groups["Noradrenaline"] == [["Th"], ["Ddc"], ["Dbh"], ["Slc18a1", "Slc18a2"]]
    assert groups["Serotonin"] == [["Tph1", "Tph2"], ["Ddc"], ["Slc18a1", "Slc18a2"]]
    assert groups["Acetylcholine"] == [["Chat"], ["Slc18a3"]]
    assert groups["Histamine"] == [["Hdc"], ["Slc18a2"]]
    assert groups["GABA"] == [["Gad1", "Gad2"], ["Slc32a1"]]
    # Gα classes from pharmacology (IUPHAR), written here independently.
    known = {
        "Dopamine→Drd1": "Gs", "Dopamine→Drd5": "Gs", "Dopamine→Drd2": "Gi/o",
        "Serotonin→Htr1a": "Gi/o", "Serotonin→Htr2a": "Gq", "Serotonin→Htr2c": "Gq",
        "Serotonin→Htr4": "Gs", "Serotonin→Htr7": "Gs", "Noradrenaline→Adra1a": "Gq",
        "Noradrenaline→Adra2a": "Gi/o", "Noradrenaline→Adrb1": "Gs", "Histamine→Hrh1": "Gq",
        "Histamine→Hrh2": "Gs", "Histamine→Hrh3": "Gi/o", "Acetylcholine→Chrm1": "Gq",
        "Acetylcholine→Chrm2": "Gi/o", "Acetylcholine→Chrm4": "Gi/o", "Acetylcholine→Chrm3": "Gq",
        "GABA→Gabbr1_Gabbr2": "Gi/o", "Glutamate→Grm1": "Gq", "Glutamate→Grm2": "Gi/o",
        "Serotonin→Htr3a": "", "Acetylcholine→Chrna4_Chrnb2": "", "Acetylcholine→Chrna7": "",
    }  # fmt: skip
    for inter, g in known.items():
        assert df.loc[inter, "g_protein"] == g, inter
    assert set(df["receptor_type"]) == {"GPCR", "ionotropic"}
    assert ((df["receptor_type"] == "ionotropic") == (df["g_protein"] == "")).all()
    fam = df.groupby("ligand")["family"].unique().map(tuple).to_dict()
    assert fam["Dopamine"] == ("monoamine",) and fam["Acetylcholine"] == ("acetylcholine",)
    assert fam["GABA"] == ("amino acid",)


def test_receptor_g_protein_and_family():
    assert receptor_g_protein("Vipr2") == "Gs"
    assert receptor_g_protein("Tacr3") == "Gq"
    assert receptor_g_protein("Gabbr1_Gabbr2") == "Gi/o"
    assert receptor_g_protein("Tgfbr1_Tgfbr2") == ""
    assert infer_family("Gal") == "neuropeptide"
    assert infer_family("Chat_Slc18a3") == "acetylcholine"
    assert infer_family("Wnt7a", default="x") == "x"


def test_load_resource_builtin_specs():
    default = load_resource()  # the neuropeptide pairs of Smith et al., checked against PAIRS
    assert set(zip(default["ligand_genes"], default["receptor_genes"])) == PAIRS
    assert set(load_resource("Neuromodulators")["ligand"]) >= {"Dopamine", "GABA", "Acetylcholine"}
    both = load_resource("neuropeptides+neuromodulators")
    assert len(both) == 37 + len(neuromodulators()) and both["interaction"].is_unique
    # "smith2019" names the scoring method; as a resource name it still works, deprecated
    with pytest.warns(DeprecationWarning, match="'neuropeptides'"):
        old = load_resource("smith2019")
    pd.testing.assert_frame_equal(old, default)


@pytest.mark.parametrize("bad", ["nonsense", "", "foo:bar", 3])
def test_unknown_spec(bad):
    from neuromod_data.errors import ResourceError

    with pytest.raises(ResourceError, match="resource spec"):
        load_resource(bad)
