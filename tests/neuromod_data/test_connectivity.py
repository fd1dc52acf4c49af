"""Type-to-type connectivity: the real Billeh et al. table, a hand-made 2-type mix, the M1 types with
their layers (against an independent pandas computation), orientation, and every bad input."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from neuromod_data.connectivity import read_connectivity, table_populations, type_connectivity
from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    FormatError,
    NeuromodWarning,
)


@pytest.fixture(scope="module")
def billeh_path(shared_data):
    return shared_data / "billeh2020_connectivity" / "connectivity_long.csv"


@pytest.fixture(scope="module")
def billeh(billeh_path):
    return read_connectivity(billeh_path)


def _table(**changes) -> pd.DataFrame:
    """E and PV in layers 2/3 and 5: 16 pairs with distinct values."""
    pops = ["E2/3", "PV2/3", "E5", "PV5"]
    rows = [(a, b) for a in pops for b in pops]
    df = pd.DataFrame(rows, columns=["pre", "post"])
    df["p"] = np.round(np.linspace(0.05, 0.8, len(df)), 3)
    df["psp_mV"] = np.round(np.linspace(0.2, 1.7, len(df)), 3)
    for k, v in changes.items():
        df[k] = v
    return df


def _value(df: pd.DataFrame, pre: str, post: str, col: str) -> float:
    return float(df.loc[(df.pre == pre) & (df.post == post), col].iloc[0])


# ------------------------------------------------------------------------------ real table
def test_read_billeh(billeh):
    assert len(billeh) == 144
    assert billeh.attrs["neuromod_connectivity"]["columns"] == {
        "pre": "pre", "post": "post", "probability": "p_connect_75um", "strength": "unitary_psp_mV"
    }  # fmt: skip
    assert table_populations(billeh) == [
        "E2/3", "PV2/3", "SST2/3", "E4", "PV4", "SST4", "E5", "PV5", "SST5", "E6", "PV6", "SST6"
    ]  # fmt: skip


def test_billeh_pairs_land_where_they_should(billeh, billeh_path):
    """One type per population (its class by name, all its cells in the population's layer): the
    K × K matrices are the table itself, pre → post, checked against a pandas pivot of the file."""
    raw = pd.read_csv(billeh_path)
    pops = table_populations(billeh)
    names = {"E": "IT", "PV": "Pvalb", "SST": "Sst"}
    types, layers = [], {}
    for pop in pops:
        cls, layer = pop.rstrip("/0123456789"), pop[len(pop.rstrip("/0123456789")) :]
        t = f"{names[cls]} L{layer}"
        types.append(t)
        layers[t] = {layer: 1.0}
    c = type_connectivity(billeh, types, layers=layers)
    want_p = raw.pivot(index="pre", columns="post", values="p_connect_75um").loc[pops, pops]
    want_s = raw.pivot(index="pre", columns="post", values="unitary_psp_mV").loc[pops, pops]
    np.testing.assert_allclose(c.probability, want_p.to_numpy())
    # a strength without a connection is no synapse (the file has one: SST4 → SST5, p = 0, 0.28 mV)
    np.testing.assert_allclose(c.strength, np.where(want_p > 0, want_s, 0.0))
    e23, pv23 = types.index("IT L2/3"), types.index("Pvalb L2/3")
    assert c.probability[e23, pv23] == pytest.approx(0.395)  # E2/3 → PV2/3
    assert c.probability[pv23, e23] == pytest.approx(0.411)  # PV2/3 → E2/3
    assert c.probability[e23, e23] == pytest.approx(0.16)
    assert c.strength[e23, pv23] == pytest.approx(1.49)


def test_m1_types_against_pandas(billeh, shared_data, m1_by_pandas):
    """M1 families with their cells' layers: each entry is the layer-fraction-weighted mix of the
    Billeh populations, computed with pandas from the files (layer-1 cells left out)."""
    meta_file = shared_data / "allen_m1_patchseq" / "m1_patchseq_meta_data.csv"
    meta = pd.read_csv(meta_file, sep="\t")
    types = ["ET", "IT", "NP", "Pvalb", "Sst"]
    with pytest.warns(NeuromodWarning, match="IT: 1 in L1; Sst: 1 in L1"):
        c = type_connectivity(
            billeh, types, layers=meta, label="RNA family", layer_column="Inferred layer",
            signs=[1, 1, 1, -1, -1],
        )  # fmt: skip
    conn_file = shared_data / "billeh2020_connectivity" / "connectivity_long.csv"
    cls = {"ET": "E", "IT": "E", "NP": "E", "Pvalb": "PV", "Sst": "SST"}
    prob, strength, left_out = m1_by_pandas.billeh_mix(meta_file, conn_file, types, cls)
    np.testing.assert_allclose(c.probability, prob, rtol=1e-12)
    np.testing.assert_allclose(c.strength, strength, rtol=1e-12)
    assert {(t, n) for (t, _), n in left_out.items() if t in types} == {("IT", 1), ("Sst", 1)}
    # M1 has no layer 4: no layer-4 population is used
    used = {pop for w in c.meta["type_populations"].values() for pop in w}
    assert used and not any(pop.endswith("4") for pop in used)
    assert c.meta["type_populations"]["NP"] == {"E5": 1.0}


def test_hand_made_two_types():
    """A: E cells, 3 in L2/3 and 1 in L5; B: PV cells, all in L5."""
    df = _table()
    table = read_connectivity(df, probability="p", strength="psp_mV")
    c = type_connectivity(
        table, ["L2/3 IT", "Pvalb"], layers={"L2/3 IT": {"2/3": 3, "L5": 1}, "Pvalb": {"5": 2}}
    )

    def p(x, y):
        return _value(df, x, y, "p")

    def s(x, y):
        return _value(df, x, y, "psp_mV")

    ab = 0.75 * p("E2/3", "PV5") + 0.25 * p("E5", "PV5")
    assert c.probability[0, 1] == pytest.approx(ab)
    assert c.strength[0, 1] == pytest.approx(
        (0.75 * p("E2/3", "PV5") * s("E2/3", "PV5") + 0.25 * p("E5", "PV5") * s("E5", "PV5")) / ab
    )
    ba = 0.75 * p("PV5", "E2/3") + 0.25 * p("PV5", "E5")
    assert c.probability[1, 0] == pytest.approx(ba)  # orientation: row = presynaptic
    aa = sum(
        wi * wj * p(i, j)
        for i, wi in (("E2/3", 0.75), ("E5", 0.25))
        for j, wj in (("E2/3", 0.75), ("E5", 0.25))
    )
    assert c.probability[0, 0] == pytest.approx(aa)
    assert c.probability[1, 1] == pytest.approx(p("PV5", "PV5"))
    assert c.meta["type_populations"]["L2/3 IT"] == {"E2/3": 0.75, "E5": 0.25}


# ---------------------------------------------------------------------- mapping choices
def test_type_without_a_class_is_an_error_naming_it():
    table = read_connectivity(_table(), probability="p", strength="psp_mV")
    layers = {"IT": {"5": 1}, "Vip Chat_1": {"5": 1}}
    with pytest.raises(
        CellTypeError, match=r"no population class for type\(s\) \['Vip Chat_1'\].*type_map"
    ):
        type_connectivity(table, ["IT", "Vip Chat_1"], layers=layers)


def test_type_map_by_first_word_and_none():
    df = _table()
    table = read_connectivity(df, probability="p", strength="psp_mV")
    layers = {"IT": {"5": 1}, "Vip Chat_1": {"5": 1}, "Lamp5": {"5": 1}}
    c = type_connectivity(
        table, ["IT", "Vip Chat_1", "Lamp5"], layers=layers, type_map={"Vip": "PV", "Lamp5": "none"}
    )
    assert c.probability[0, 1] == pytest.approx(_value(df, "E5", "PV5", "p"))
    assert c.probability[2].sum() == 0 and c.probability[:, 2].sum() == 0
    assert c.meta["type_classes"]["Lamp5"].startswith("type_map: none")
    with pytest.raises(
        CellTypeError, match="sends 'Vip' to class 'VIP', which the table does not have"
    ):
        type_connectivity(table, ["IT", "Vip Chat_1"], layers=layers, type_map={"Vip": "VIP"})


def test_sign_fallback_mixes_the_classes_of_the_sign_with_a_warning(billeh):
    layers = {"IT": {"2/3": 1}, "Vip": {"2/3": 1}}
    with pytest.warns(NeuromodWarning, match=r"Vip → PV \+ SST in equal parts"):
        c = type_connectivity(billeh, ["IT", "Vip"], layers=layers, signs=[1, -1], unmapped="sign")
    assert c.probability[0, 1] == pytest.approx((0.395 + 0.182) / 2)
    assert c.probability[1, 0] == pytest.approx((0.411 + 0.424) / 2)


def test_sign_mismatch_is_an_error():
    table = read_connectivity(_table(), probability="p", strength="psp_mV")
    with pytest.raises(CellTypeError, match=r"type 'Pvalb' has sign \+1 but maps to class 'PV'"):
        type_connectivity(
            table, ["IT", "Pvalb"], layers={"IT": {"5": 1}, "Pvalb": {"5": 1}}, signs=[1, 1]
        )


def test_layers_the_table_lacks():
    table = read_connectivity(_table(), probability="p", strength="psp_mV")
    only_l1 = pd.DataFrame({"fam": ["IT", "IT", "Pvalb"], "layer": ["2/3", 5, "1"]})
    with pytest.raises(
        CellTypeError, match=r"type 'Pvalb': its cells lie in layer\(s\) \['1'\].*layer_map"
    ):
        type_connectivity(table, ["IT", "Pvalb"], layers=only_l1, label="fam", layer_column="layer")
    cells = pd.DataFrame(
        {"fam": ["IT", "IT", "IT", "Pvalb", "Pvalb"], "layer": ["2/3", "1", 5.0, "L1", "5"]}
    )
    with pytest.warns(NeuromodWarning, match="IT: 1 in L1; Pvalb: 1 in L1"):
        c = type_connectivity(
            table, ["IT", "Pvalb"], layers=cells, label="fam", layer_column="layer"
        )
    assert c.meta["layers_left_out"] == {"IT": {"1": 1.0}, "Pvalb": {"1": 1.0}}
    assert c.meta["type_populations"] == {"IT": {"E2/3": 0.5, "E5": 0.5}, "Pvalb": {"PV5": 1.0}}


def test_layer_map_sends_layer_1_to_2_3():
    df = _table()
    table = read_connectivity(df, probability="p", strength="psp_mV")
    cells = pd.DataFrame({"fam": ["IT", "Pvalb"], "layer": ["L1", "L5"]})
    c = type_connectivity(
        table,
        ["IT", "Pvalb"],
        layers=cells,
        label="fam",
        layer_column="layer",
        layer_map={"1": "2/3"},
    )
    assert c.probability[0, 1] == pytest.approx(_value(df, "E2/3", "PV5", "p"))
    with pytest.raises(CellTypeError, match="layer_map sends layer '1' to '4'"):
        type_connectivity(
            table,
            ["IT", "Pvalb"],
            layers=cells,
            label="fam",
            layer_column="layer",
            layer_map={"1": "4"},
        )


def test_unlisted_pairs_count_as_no_connection_with_a_warning():
    df = _table()
    df = df[~((df.pre == "E5") & (df.post == "PV5"))]
    table = read_connectivity(df, probability="p", strength="psp_mV")
    with pytest.warns(NeuromodWarning, match=r"1 population pair\(s\) are not listed .*E5 → PV5"):
        c = type_connectivity(table, ["IT", "Pvalb"], layers={"IT": {"5": 1}, "Pvalb": {"5": 1}})
    assert c.probability[0, 1] == 0.0 and c.strength[0, 1] == 0.0


def test_types_missing_from_the_layer_table():
    table = read_connectivity(_table(), probability="p", strength="psp_mV")
    cells = pd.DataFrame({"fam": ["IT"], "layer": ["5"]})
    with pytest.raises(CellTypeError, match="no cell labelled 'Pvalb' in column 'fam'"):
        type_connectivity(table, ["IT", "Pvalb"], layers=cells, label="fam", layer_column="layer")
    with pytest.raises(ColumnError, match="layer column 'Layer' not found"):
        type_connectivity(table, ["IT"], layers=cells, label="fam", layer_column="Layer")


# --------------------------------------------------------------------------- bad tables
def test_probability_outside_0_1_is_named():
    df = _table()
    df.loc[5, "p"] = 1.2
    with pytest.raises(
        DataValueError, match=r"must lie in \[0, 1\]; 1 do not: PV2/3 → PV2/3 = 1.2"
    ):
        read_connectivity(df, probability="p", strength="psp_mV")
    df.loc[5, "p"] = -0.1
    with pytest.raises(DataValueError, match=r"PV2/3 → PV2/3 = -0.1"):
        read_connectivity(df, probability="p", strength="psp_mV")


def test_unknown_population_is_named():
    df = _table()
    df.loc[0, "pre"] = "X2/3"
    with pytest.raises(DataValueError, match="unknown population 'X2/3'"):
        read_connectivity(df, probability="p", strength="psp_mV")


def test_duplicated_pair_is_named():
    df = pd.concat([_table(), _table().iloc[[3]]])
    with pytest.raises(DataValueError, match=r"listed more than once: E2/3 → PV5"):
        read_connectivity(df, probability="p", strength="psp_mV")


def test_negative_strength_and_text_values_are_named():
    df = _table()
    df.loc[2, "psp_mV"] = -0.5
    with pytest.raises(DataValueError, match="strength .* of E2/3 → E5 is -0.5"):
        read_connectivity(df, probability="p", strength="psp_mV")
    df = _table()
    df["p"] = df["p"].astype(object)
    df.loc[1, "p"] = "high"
    with pytest.raises(FormatError, match="'p' of E2/3 → PV2/3 is 'high', not a number"):
        read_connectivity(df, probability="p", strength="psp_mV")


def test_columns_are_found_or_named(tmp_path):
    df = _table()
    with pytest.raises(ColumnError, match="presynaptic population column 'source' not found"):
        read_connectivity(df, pre="source", probability="p", strength="psp_mV")
    df["p_other"] = 0.1
    with pytest.raises(ColumnError, match="several match: prob, p_other"):
        read_connectivity(df.rename(columns={"p": "prob"}), strength="psp_mV")
    path = tmp_path / "conn.tsv"
    _table().rename(columns={"p": "p_connect"}).to_csv(path, sep="\t", index=False)
    t = read_connectivity(path)  # TAB-separated, columns found by name
    assert t.attrs["neuromod_connectivity"]["columns"]["probability"] == "p_connect"


def test_nan_probability_counts_as_no_connection():
    df = _table()
    df.loc[0, "p"] = np.nan
    with pytest.warns(NeuromodWarning, match=r"1 pair\(s\) have no probability \(NaN\)"):
        t = read_connectivity(df, probability="p", strength="psp_mV")
    assert t.loc[0, "probability"] == 0.0


def test_table_must_come_from_the_reader():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="read_connectivity"):
            type_connectivity(_table(), ["IT"], layers={"IT": {"5": 1}})


# ---------------------------------------------------------- issue 24: units checked before work
def test_23_is_layer_2_3_in_the_table_and_in_the_cells():
    """E23 / PV23 (a common spelling) are the populations E2/3 / PV2/3: the same matrices as
    the table written E2/3, not a layer '23' that no cell lies in."""
    layers = {"L2/3 IT": {"2/3": 3, "L5": 1}, "Pvalb": {"5": 2, "23": 1}}
    want = type_connectivity(
        read_connectivity(_table(), probability="p", strength="psp_mV"),
        ["L2/3 IT", "Pvalb"],
        layers=layers,
    )
    df = _table()
    for side in ("pre", "post"):
        df[side] = df[side].str.replace("2/3", "23", regex=False)
    df.loc[df["pre"] == "PV23", "pre"] = "PVL23"  # with an L too
    table = read_connectivity(df, probability="p", strength="psp_mV")
    assert set(table["pre_layer"]) == {"2/3", "5"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuromodWarning)  # no cell left out of its layer
        got = type_connectivity(table, ["L2/3 IT", "Pvalb"], layers=layers)
    np.testing.assert_allclose(got.probability, want.probability, rtol=0, atol=0)
    np.testing.assert_allclose(got.strength, want.strength, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["E45", "E7", "PV2/4", "SST0", "E1/2"])
def test_a_layer_outside_the_vocabulary_is_an_error_naming_the_population(name):
    df = _table()
    df.loc[df["pre"] == "E5", "pre"] = name
    with pytest.raises(DataValueError, match=rf"unknown population '{re.escape(name)}'.*2/3"):
        read_connectivity(df, probability="p", strength="psp_mV")


def test_two_spellings_of_one_pair_are_one_pair_listed_twice():
    df = _table()
    extra = df[(df.pre == "E2/3") & (df.post == "E5")].assign(pre="E23")
    with pytest.raises(DataValueError, match="listed more than once: E2/3 → E5"):
        read_connectivity(pd.concat([df, extra]), probability="p", strength="psp_mV")
