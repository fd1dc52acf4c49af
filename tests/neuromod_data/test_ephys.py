"""Intrinsic parameters from Patch-seq electrophysiology: the real M1 files against independent
pandas computations, the parent-level fallback, the feature → parameter mapping on hand-computed
cases, and every bad input."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from neuromod_data.ephys import (
    MAD_SCALE,
    ParameterMap,
    cell_parameters,
    intrinsic_from_ephys,
    map_features,
    read_ephys,
    robust_spread,
    summarize_ephys,
)
from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    FormatError,
    InputFileError,
    NeuromodError,
    NeuromodWarning,
)
from neuromod_data.structure import PARAMETERS

TAU, SFA, THR, RMP, WIDTH = (
    "Membrane time constant (ms)",
    "Spike frequency adaptation",
    "AP threshold (mV)",
    "Resting membrane potential (mV)",
    "AP width (ms)",
)
M1_FAMILIES = ["ET", "IT", "NP", "Pvalb", "Sst"]


@pytest.fixture(scope="module")
def m1_files(shared_data):
    d = shared_data / "allen_m1_patchseq"
    return d / "m1_patchseq_ephys_features.csv", d / "m1_patchseq_meta_data.csv"


@pytest.fixture(scope="module")
def m1_cells(m1_files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuromodWarning)
        return read_ephys(*m1_files, labels=["RNA family", "RNA type"])


@pytest.fixture(scope="module")
def m1_pandas(m1_files):
    """The joined table computed independently with plain pandas."""
    feats = pd.read_csv(m1_files[0])
    meta = pd.read_csv(m1_files[1], sep="\t")
    return feats.merge(meta, left_on="cell id", right_on="Cell", how="left")


def _mad(x: pd.Series) -> float:
    x = x.dropna()
    return float(MAD_SCALE * (x - x.median()).abs().median()) if len(x) > 1 else 0.0


# --------------------------------------------------------------------- reading, real files
def test_read_real_files(m1_files):
    feats = pd.read_csv(m1_files[0])
    meta = pd.read_csv(m1_files[1], sep="\t")
    no_feat = meta.loc[~meta["Cell"].isin(feats["cell id"]), "Cell"].tolist()
    assert no_feat  # the file has metadata rows without features: their warning is checked
    with pytest.warns(
        NeuromodWarning, match=rf"{len(no_feat)} cell.* have no features .* {no_feat[0]}"
    ):
        cells = read_ephys(*m1_files, labels=["RNA family", "RNA type"])
    assert cells.shape[0] == len(feats) and cells.index.is_unique
    assert sorted(cells.index) == sorted(feats["cell id"].astype(str))
    rec = cells.attrs["neuromod_ephys"]
    assert rec["features"] == [c for c in feats.columns if c != "cell id"]
    assert rec["n_cells"] == len(feats) and rec["metadata_rows_without_features"] == len(no_feat)
    assert cells.loc["20171204_sample_2", "RNA type"] == "L5 ET_1"
    assert cells.loc["20171204_sample_2", TAU] == pytest.approx(
        pd.read_csv(m1_files[0]).set_index("cell id").loc["20171204_sample_2", TAU]
    )


def test_family_summaries_match_pandas(m1_cells, m1_pandas):
    """Every feature of every RNA family: median, 1.4826·MAD and n against a pandas groupby."""
    features = m1_cells.attrs["neuromod_ephys"]["features"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuromodWarning)
        summ = summarize_ephys(m1_cells, "RNA family", min_cells=5)
    summ = summ.set_index(["type", "feature"])
    grouped = m1_pandas.groupby("RNA family")
    assert sorted(summ.index.get_level_values(0).unique()) == sorted(grouped.groups)
    for fam, df in grouped:
        for f in features:
            row = summ.loc[(fam, f)]
            assert row["level"] == "RNA family" and row["group"] == fam
            assert row["n_cells"] == df[f].count()
            assert row["median"] == pytest.approx(df[f].median(), rel=1e-12), (fam, f)
            assert row["spread"] == pytest.approx(_mad(df[f]), rel=1e-12, abs=1e-12), (fam, f)


def test_family_parameters_match_pandas(m1_cells, m1_pandas):
    """The documented mapping applied to pandas medians of the real files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuromodWarning)
        ip = intrinsic_from_ephys(m1_cells, "RNA family", types=M1_FAMILIES)
    d = m1_pandas.copy()
    d["gap"] = d[THR] - d[RMP]
    d.loc[d["gap"] <= 0, "gap"] = np.nan  # impossible: threshold below rest
    d.loc[d[SFA] < 0, SFA] = np.nan  # impossible: a negative spike count ratio
    d.loc[d[WIDTH] <= 0, WIDTH] = np.nan
    ref_gap, ref_w, ref_s = d["gap"].median(), d[WIDTH].median(), d[SFA].median()
    # each cell mapped as documented (ephys module docstring, design.md), clipped to the bounds
    with np.errstate(divide="ignore"):  # SFA = 0 (silent second half): β = +inf → the bound 9
        d["beta"] = (1.8 * (1 / d[SFA] - 1) / (1 / ref_s - 1)).clip(0, 9)
    d["v_th"] = (0.01 * d["gap"] / ref_gap).clip(0.0025, 0.04)
    d["n_ref"] = (5 * d[WIDTH] / ref_w).clip(1, 20)
    g = d.groupby("RNA family")
    col = {p: PARAMETERS.index(p) for p in PARAMETERS}
    for i, fam in enumerate(M1_FAMILIES):
        med = g.get_group(fam)
        assert ip.median[i, col["tau_m"]] == pytest.approx(med[TAU].median())
        assert ip.median[i, col["v_th"]] == pytest.approx(0.01 * med["gap"].median() / ref_gap)
        assert ip.median[i, col["n_ref"]] == pytest.approx(5 * med[WIDTH].median() / ref_w)
        s = med[SFA].median()
        beta = np.clip(1.8 * (1 / s - 1) / (1 / ref_s - 1), 0, 9)
        assert ip.median[i, col["beta"]] == pytest.approx(beta)
        assert ip.median[i, col["adaptive"]] == pytest.approx((med[SFA].dropna() < 0.9).mean())
        assert ip.median[i, col["tau_a"]] == 2000.0
        assert ip.n_cells[i, col["beta"]] == med[SFA].count()
        assert ip.n_cells[i, col["v_th"]] == med["gap"].count()
        per_cell = np.log(med[TAU].dropna())
        assert ip.spread[i, col["tau_m"]] == pytest.approx(_mad(per_cell))
        # the spreads behind heterogeneity=True: 1.4826·MAD of the log of each cell's mapped value
        # (clipped to the bounds; values ≤ 0, i.e. β of cells that do not adapt, left out)
        for p in ("beta", "v_th", "n_ref"):
            x = med[p].dropna()
            assert ip.spread[i, col[p]] == pytest.approx(_mad(np.log(x[x > 0])), rel=1e-9), (fam, p)
        assert ip.spread[i, col["tau_a"]] == 0.0
    assert ip.meta["reference"]["threshold"] == pytest.approx(ref_gap)
    assert set(ip.level[:, col["tau_m"]]) == {"RNA family"}


@pytest.mark.filterwarnings("ignore::neuromod_data.errors.NeuromodWarning")
def test_type_with_few_cells_falls_back_to_its_family(m1_cells, m1_pandas):
    """RNA type 'L6b Kcnip1' has 2 cells: its values come from its cells' family (pandas: CT)."""
    few, many = "L6b Kcnip1", "L2/3 IT_3"
    fam = m1_pandas.loc[m1_pandas["RNA type"] == few, "RNA family"].mode()[0]
    assert (m1_pandas["RNA type"] == few).sum() == 2 and fam == "CT"
    with pytest.warns(NeuromodWarning, match=r"L6b Kcnip1 → CT \[RNA family\]"):
        ip = intrinsic_from_ephys(
            m1_cells, "RNA type", fallback=["RNA family"], min_cells=5, types=[few, many]
        )
    j = PARAMETERS.index("tau_m")
    assert ip.level[0, j] == "RNA family" and ip.group[0, j] == "CT"
    assert ip.median[0, j] == pytest.approx(
        m1_pandas.loc[m1_pandas["RNA family"] == fam, TAU].median()
    )
    assert ip.n_cells[0, j] == (m1_pandas["RNA family"] == fam).sum()
    assert ip.level[1, j] == "RNA type" and ip.group[1, j] == many
    assert ip.median[1, j] == pytest.approx(
        m1_pandas.loc[m1_pandas["RNA type"] == many, TAU].median()
    )


def test_unlabelled_and_nan_cells_are_reported(m1_cells, m1_pandas):
    with pytest.warns(NeuromodWarning) as rec:
        ip = intrinsic_from_ephys(m1_cells, "RNA type", fallback=["RNA family"], types=["L5 IT_1"])
    text = " | ".join(str(w.message) for w in rec)
    n = len(m1_pandas)
    n_unlabelled = int(m1_pandas["RNA type"].isna().sum())
    n_sfa_nan = int(m1_pandas[SFA].isna().sum())
    n_gap_bad = int((m1_pandas[THR] - m1_pandas[RMP] <= 0).sum())
    assert n_unlabelled and n_sfa_nan and n_gap_bad  # the real files have all three
    assert f"{n_unlabelled} of {n} cells have no 'RNA type' label" in text
    assert f"{n_sfa_nan} of {n} cells have no value (NaN) of 'Spike frequency adaptation'" in text
    assert (
        f"{n_gap_bad} cell(s) have an impossible value (≤ 0 or infinite) of '{THR} − {RMP}'" in text
    )
    assert ip.meta["n_unlabelled"] == n_unlabelled and ip.meta["n_cells_table"] == n
    assert ip.meta["n_invalid"]["threshold"] == n_gap_bad
    assert ip.meta["n_missing"]["sfa"] == n_sfa_nan + int((m1_pandas[SFA] < 0).sum())


# ------------------------------------------------------------------ the mapping, by hand
REF = {"tau_m": 10.0, "sfa": 0.75, "threshold": 20.0, "ap_width": 1.25}


def _one(**inputs):
    full = {"tau_m": 10.0, "sfa": 0.75, "threshold": 20.0, "ap_width": 1.25, **inputs}
    return {k: float(v) for k, v in map_features(full, reference=REF).items()}


def test_tau_m_is_the_membrane_time_constant_in_ms():
    assert _one(tau_m=15.0)["tau_m"] == 15.0
    assert _one(tau_m=500.0)["tau_m"] == 100.0 and _one(tau_m=0.5)["tau_m"] == 2.0  # bounds
    rel = map_features(
        {"tau_m": 15.0, "sfa": 0.75, "threshold": 20.0, "ap_width": 1.25},
        mapping=ParameterMap(tau_m="relative"),
        reference=REF,
    )
    assert float(rel["tau_m"]) == pytest.approx(20 * 15 / 10)


def test_beta_and_adaptive_from_spike_frequency_adaptation():
    # s = 0.5: (1/0.5 - 1) / (1/0.75 - 1) = 1 / (1/3) = 3, so beta = 1.8 * 3
    assert _one(sfa=0.5)["beta"] == pytest.approx(5.4)
    assert _one(sfa=0.75)["beta"] == pytest.approx(1.8)  # adapts like the reference: the paper's
    assert _one(sfa=1.0)["beta"] == 0.0 and _one(sfa=1.3)["beta"] == 0.0  # no adaptation
    assert _one(sfa=0.0)["beta"] == 9.0  # silent second half: the upper bound
    assert _one(sfa=0.89)["adaptive"] == 1.0 and _one(sfa=0.9)["adaptive"] == 0.0
    assert _one(sfa=0.95, tau_m=12)["tau_a"] == 2000.0
    loose = map_features(
        {"tau_m": 10.0, "sfa": 0.95, "threshold": 20.0, "ap_width": 1.0},
        mapping=ParameterMap(sfa_adaptive=0.96, tau_a=500.0),
        reference=REF,
    )
    assert float(loose["adaptive"]) == 1.0 and float(loose["tau_a"]) == 500.0


def test_threshold_and_refractory_period_scale_the_paper_values():
    assert _one(threshold=30.0)["v_th"] == pytest.approx(0.01 * 30 / 20)
    assert _one(threshold=200.0)["v_th"] == 0.04 and _one(threshold=1.0)["v_th"] == 0.0025
    assert _one(ap_width=0.5)["n_ref"] == pytest.approx(5 * 0.5 / 1.25)  # 2 steps
    assert _one(ap_width=0.1)["n_ref"] == 1.0  # at least one step


def test_threshold_from_rheobase():
    cells = pd.DataFrame(
        {
            "t": ["A", "A", "B", "B"],
            TAU: [10.0] * 4,
            SFA: [0.7] * 4,
            WIDTH: [1.0] * 4,
            "Rheobase (pA)": [50.0, 70.0, 150.0, 250.0],
        }  # fmt: skip
    )
    ip = intrinsic_from_ephys(cells, "t", min_cells=2, mapping=ParameterMap(threshold="rheobase"))
    ref = np.median([50.0, 70.0, 150.0, 250.0])  # 110
    assert ip.values()["v_th"].tolist() == pytest.approx([0.01 * 60 / ref, 0.01 * 200 / ref])


def test_reference_that_does_not_adapt_is_refused():
    with pytest.raises(DataValueError, match="reference spike-frequency adaptation is 1"):
        map_features(
            {"tau_m": 1, "sfa": 1, "threshold": 1, "ap_width": 1}, reference={**REF, "sfa": 1.0}
        )


def test_types_levels_and_spreads_by_hand():
    """Type A: 4 cells; type B: 2 cells (family F, with A); type C: 1 cell with no SFA."""
    cells = pd.DataFrame(
        {
            "type": ["A", "A", "A", "A", "B", "B", "C"],
            "family": ["F", "F", "F", "F", "F", "F", "G"],
            TAU: [10.0, 20.0, 40.0, 80.0, 5.0, 5.0, 30.0],
            SFA: [0.5, 0.8, 0.95, 1.0, 0.6, 0.6, np.nan],
            THR: [-40.0] * 7,
            RMP: [-60.0] * 7,
            WIDTH: [1.0] * 7,
        },
        index=[f"c{i}" for i in range(7)],
    )
    with pytest.warns(NeuromodWarning) as rec:
        ip = intrinsic_from_ephys(cells, "type", fallback=["family"], min_cells=3)
    assert ip.types == ("A", "B", "C")
    t, b, a = (PARAMETERS.index(p) for p in ("tau_m", "beta", "adaptive"))
    # A: own cells; median of 10, 20, 40, 80 = 30; spread = 1.4826 · MAD of ln values
    assert ip.median[0, t] == 30.0 and ip.level[0, t] == "type"
    logs = np.log([10.0, 20.0, 40.0, 80.0])
    assert ip.spread[0, t] == pytest.approx(MAD_SCALE * np.median(np.abs(logs - np.median(logs))))
    assert ip.median[0, a] == pytest.approx(0.5)  # 0.5, 0.8 adapt; 0.95, 1.0 do not
    # B: 2 cells < 3, so family F (all six cells)
    assert ip.level[1, t] == "family" and ip.group[1, t] == "F" and ip.n_cells[1, t] == 6
    assert ip.median[1, t] == pytest.approx(np.median([10, 20, 40, 80, 5, 5]))
    # C: one cell, family G has one cell too: the level with most cells (its own, the finest)
    assert ip.level[2, t] == "type" and ip.n_cells[2, t] == 1 and ip.median[2, t] == 30.0
    # C has no SFA anywhere: the paper's beta and adaptive fraction
    assert ip.level[2, b] == "default" and ip.median[2, b] == 1.8 and ip.median[2, a] == 0.5
    text = " | ".join(str(w.message) for w in rec)
    assert "B → F [family]: all" in text
    assert "C → C [type]: tau_m (1 cells)" in text
    assert "the paper's value is used for C: beta" in text
    # the per-cell values behind the plots use the same reference
    per_cell = cell_parameters(cells, reference=ip.meta["reference"])
    assert per_cell.loc["c0", "tau_m"] == 10.0 and np.isnan(per_cell.loc["c6", "beta"])


def test_robust_spread():
    assert robust_spread([1.0, 2.0, 4.0]) == pytest.approx(1.4826)
    assert robust_spread([3.0]) == 0.0 and robust_spread([np.nan, 2.0]) == 0.0


# ------------------------------------------------------------------------- bad input
def _tables():
    feats = pd.DataFrame({"cell id": ["a", "b", "c"], TAU: [10.0, 12.0, 14.0]})
    meta = pd.DataFrame({"Cell": ["a", "b", "c"], "RNA family": ["Sst", "Sst", "Pvalb"]})
    return feats, meta


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputFileError, match="features file not found: .*nope.csv"):
        read_ephys(tmp_path / "nope.csv", tmp_path / "meta.csv")


def test_missing_join_and_label_columns_are_named(tmp_path):
    feats, meta = _tables()
    path = tmp_path / "feats.csv"
    feats.rename(columns={"cell id": "id"}).to_csv(path, index=False)
    with pytest.raises(
        ColumnError, match=r"feats.csv: cell name column 'cell id' not found; available: id"
    ):
        read_ephys(path, meta)
    with pytest.raises(ColumnError, match=r"label column\(s\) \['RNA type'\] not found"):
        read_ephys(feats, meta, labels=["RNA type"])


def test_tab_separated_metadata_is_read(tmp_path):
    feats, meta = _tables()
    meta.to_csv(tmp_path / "meta.csv", sep="\t", index=False)  # .csv, TAB inside, like the M1 file
    cells = read_ephys(feats, tmp_path / "meta.csv", labels=["RNA family"])
    assert cells["RNA family"].tolist() == ["Sst", "Sst", "Pvalb"]


def test_tab_separated_metadata_with_commas_in_its_header(tmp_path):
    # the header holds commas too (as "Soma depth (µm, from pia)" would): still read on TABs, and
    # a missing column is named against the file's real columns, not comma-split pieces
    feats, meta = _tables()
    meta = meta.assign(**{"Soma depth (um, from pia)": [100.0, 200.0, 300.0]})
    meta.to_csv(tmp_path / "meta.csv", sep="\t", index=False)
    cells = read_ephys(feats, tmp_path / "meta.csv", labels=["RNA family"])
    assert cells["RNA family"].tolist() == ["Sst", "Sst", "Pvalb"]
    with pytest.raises(NeuromodError) as err:
        read_ephys(feats, tmp_path / "meta.csv", labels=["RNA typo"])
    text = str(err.value)
    assert "meta.csv" in text and "'RNA typo'" in text and "Soma depth (um, from pia)" in text
    assert "'Soma depth (um'" not in text


def test_repeated_feature_column_is_named(tmp_path):
    feats, meta = _tables()
    col = feats.columns[1]
    path = tmp_path / "feats.csv"
    text = feats.to_csv(index=False).splitlines()
    # the same name twice in the header, the second copy holding other numbers
    rows = [text[0] + f",{col}"] + [line + ",99" for line in text[1:]]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(FormatError, match=rf"feats\.csv.*column '{re.escape(col)}' appears more"):
        read_ephys(path, meta)


def test_duplicated_cells_are_named():
    feats, meta = _tables()
    feats.loc[2, "cell id"] = "a"
    with pytest.raises(DataValueError, match=r"appear more than once in column 'cell id': a"):
        read_ephys(feats, meta)


def test_non_numeric_feature_is_named():
    feats, meta = _tables()
    feats[TAU] = feats[TAU].astype(object)
    feats.loc[1, TAU] = "12,5"
    with pytest.raises(
        FormatError, match=r"feature 'Membrane time constant \(ms\)' of cell 'b' is '12,5'"
    ):
        read_ephys(feats, meta)


def test_no_common_cells():
    feats, meta = _tables()
    meta["Cell"] = ["x", "y", "z"]
    with pytest.raises(DataValueError, match="no cell of the features table"):
        read_ephys(feats, meta)


def test_cells_without_metadata_are_kept_unlabelled_with_a_warning():
    feats, meta = _tables()
    with pytest.warns(NeuromodWarning, match="1 of 3 cells .* have no row"):
        cells = read_ephys(feats, meta.iloc[:2])
    assert pd.isna(cells.loc["c", "RNA family"])
    with pytest.warns(NeuromodWarning, match="1 of 3 cells have no 'RNA family' label"):
        s = summarize_ephys(cells, "RNA family", min_cells=1)
    assert s["type"].tolist() == ["Sst"]


def test_nan_features_are_reported():
    feats, meta = _tables()
    feats.loc[0, TAU] = np.nan
    cells = read_ephys(feats, meta)
    with pytest.warns(NeuromodWarning, match=r"'Membrane time constant \(ms\)' \(1\)"):
        s = summarize_ephys(cells, "RNA family", min_cells=1)
    assert s.set_index("type").loc["Sst", "n_cells"] == 1


def test_infinite_feature_is_warned_and_left_out():
    cells = pd.DataFrame(
        {
            "family": ["A"] * 4,
            TAU: [10.0, 12.0, 14.0, np.inf],
            "Spike frequency adaptation": [0.5, 0.6, 0.7, 0.8],
            "AP threshold (mV)": [-40.0] * 4,
            "Resting membrane potential (mV)": [-60.0] * 4,
            "AP width (ms)": [1.0] * 4,
        }
    )
    with pytest.warns(NeuromodWarning, match=r"1 cell\(s\) have an impossible value .*infinite"):
        ip = intrinsic_from_ephys(cells, "family", min_cells=3)
    j = list(ip.params).index("tau_m")
    assert ip.median[0, j] == 12.0 and ip.n_cells[0, j] == 3  # the three finite values


def test_missing_feature_column_is_named():
    feats, meta = _tables()
    cells = read_ephys(feats, meta)
    with pytest.raises(ColumnError, match=r"\['AP threshold \(mV\)', 'AP width \(ms\)'.*not found"):
        intrinsic_from_ephys(cells, "RNA family")


@pytest.mark.filterwarnings("ignore::neuromod_data.errors.NeuromodWarning")
def test_type_without_cells():
    cells = pd.DataFrame(
        {
            "t": ["A"] * 3,
            TAU: [10.0] * 3,
            SFA: [0.7] * 3,
            THR: [-40.0] * 3,
            RMP: [-60.0] * 3,
            WIDTH: [1.0] * 3,
        }
    )
    with pytest.raises(CellTypeError, match=r"no cell labelled \['Vip'\] in column 't'"):
        intrinsic_from_ephys(cells, "t", types=["A", "Vip"])
    with pytest.warns(
        NeuromodWarning, match=r"no cell labelled \['Vip'\]; they get the paper's values"
    ):
        ip = intrinsic_from_ephys(cells, "t", types=["A", "Vip"], missing="default", min_cells=1)
    assert set(ip.level[1]) <= {"default", "constant"}
    assert ip.values()["tau_m"].tolist() == [10.0, 20.0]


@pytest.mark.filterwarnings("ignore::neuromod_data.errors.NeuromodWarning")
def test_feature_missing_for_a_whole_type_falls_back():
    """Every cell of type B lacks an SFA value: B takes its family's β, with a warning naming it."""
    cells = pd.DataFrame(
        {
            "t": ["A"] * 3 + ["B"] * 3,
            "fam": ["F"] * 6,
            TAU: [10.0] * 6,
            SFA: [0.6, 0.7, 0.8, np.nan, np.nan, np.nan],
            THR: [-40.0] * 6,
            RMP: [-60.0] * 6,
            WIDTH: [1.0] * 6,
        }
    )
    with pytest.warns(NeuromodWarning, match=r"B → F \[fam\]: beta \(3 cells\)"):
        ip = intrinsic_from_ephys(cells, "t", fallback=["fam"], min_cells=3)
    b = PARAMETERS.index("beta")
    assert ip.level[1, b] == "fam" and ip.median[1, b] == pytest.approx(ip.median[0, b])


def test_bad_options():
    cells = pd.DataFrame({"t": ["A"], TAU: [1.0]})
    with pytest.raises(ValueError, match="min_cells must be at least 1"):
        intrinsic_from_ephys(cells, "t", min_cells=0)
    with pytest.raises(ColumnError, match="label column 'RNA type' not found"):
        summarize_ephys(cells, "RNA type")
    with pytest.raises(ValueError, match="threshold must be 'gap' or 'rheobase'"):
        ParameterMap(threshold="spike")


# ---------------------------------------------------------- issue 24: units checked before work
TAU_COL = "Membrane time constant (ms)"


def _cells(tau_m: list[float]) -> pd.DataFrame:
    n = len(tau_m)
    return pd.DataFrame(
        {
            "family": ["A", "B"] * (n // 2),
            TAU_COL: tau_m,
            "Spike frequency adaptation": [0.6, 0.95] * (n // 2),
            "AP threshold (mV)": [-40.0] * n,
            "Resting membrane potential (mV)": [-65.0] * n,
            "AP width (ms)": [1.0] * n,
        }
    )


TAUS_MS = [8.0, 21.0, 11.5, 17.0, 9.0, 25.0, 12.0, 15.0]


@pytest.mark.parametrize("cells_in_s", ["all", "half"])
def test_time_constants_in_seconds_are_refused_not_clipped(cells_in_s):
    """In seconds every value lies below the 2-ms bound: a mapping that clipped them would give
    every type τ_m = 2 ms. Refused, naming the column and the unit the values look like."""
    taus = [t / 1000 for t in TAUS_MS]
    if cells_in_s == "half":
        taus = [t / 1000 if i % 2 else t for i, t in enumerate(TAUS_MS)]
    for call in (
        lambda c: intrinsic_from_ephys(c, "family", min_cells=2),
        lambda c: cell_parameters(c),
    ):
        with pytest.raises(DataValueError, match=rf"'{re.escape(TAU_COL)}'.*look like s, not ms"):
            call(_cells(taus))


def test_a_few_outlying_time_constants_are_clipped_as_before():
    taus = [*TAUS_MS[:-1], 150.0]  # one cell of eight beyond the 100-ms bound
    ip = intrinsic_from_ephys(_cells(taus), "family", min_cells=2)
    assert ip.values()["tau_m"].tolist() == [
        float(np.median([8.0, 11.5, 9.0, 12.0])),
        float(np.median([21.0, 17.0, 25.0, 100.0])),  # 150 clipped to the bound, as before
    ]
