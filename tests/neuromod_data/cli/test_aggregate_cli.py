"""``neuromod aggregate``: CSV layout, values against independent computations, errors, atomicity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import trim_mean

from neuromod_data.cli import main
from neuromod_data.datasets import toy_cortex

GENES = ["Vip", "Sst", "Npy", "Vipr2"]


@pytest.fixture(scope="module")
def toy_h5ad(tmp_path_factory):
    a = toy_cortex(n_cells=1200, seed=2)
    path = tmp_path_factory.mktemp("agg") / "toy.h5ad"
    a.write_h5ad(path)
    return path, a


def test_mean_table_layout_and_values(toy_h5ad, tmp_path, capsys):
    path, a = toy_h5ad
    out = tmp_path / "mean.csv"
    rc = main(
        [
            "aggregate",
            str(path),
            "--groupby",
            "subclass_label",
            "--stat",
            "mean",
            "--genes",
            ",".join(GENES),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    table = pd.read_csv(out, index_col=0)
    assert table.index.name == "subclass_label" and list(table.columns) == GENES
    dense = pd.DataFrame(a[:, GENES].X.toarray(), columns=GENES)
    ref = dense.groupby(a.obs["subclass_label"].astype(str).to_numpy()).mean()
    np.testing.assert_allclose(table.to_numpy(), ref.loc[table.index].to_numpy(), rtol=1e-5)
    n_types = a.obs["subclass_label"].nunique()
    assert f"{n_types} types (by 'subclass_label') × 4 genes" in capsys.readouterr().err


def test_smith2019_against_hand_computation(toy_h5ad, tmp_path):
    path, a = toy_h5ad
    out = tmp_path / "smith.csv"
    assert (
        main(
            [
                "aggregate",
                str(path),
                "--groupby",
                "cluster_label",
                "--stat",
                "smith2019",
                "--genes",
                "Vip,Sst",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out, index_col=0)
    counts = a.X.toarray().astype(np.float64)
    cpm = counts / counts.sum(1, keepdims=True) * 1e6
    idx = [list(a.var_names).index(g) for g in ("Vip", "Sst")]
    labels = a.obs["cluster_label"].astype(str).to_numpy()
    tm = np.array([trim_mean(cpm[labels == t][:, idx], 0.05, axis=0) for t in table.index])
    logv = np.log10(tm + 1)
    np.testing.assert_allclose(table.to_numpy(), logv / logv.max(0), rtol=1e-5)
    assert table["Vip"].idxmax().startswith("Vip") and table["Sst"].idxmax().startswith("Sst")


@pytest.mark.parametrize("stat", ["median", "trimmed_mean", "trimean", "frac_expressing"])
def test_other_stats_run(toy_h5ad, tmp_path, stat):
    path, a = toy_h5ad
    out = tmp_path / f"{stat}.csv"
    assert (
        main(
            [
                "aggregate",
                str(path),
                "--groupby",
                "class_label",
                "--stat",
                stat,
                "--genes",
                "Sst",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out, index_col=0)
    assert sorted(table.index) == sorted(set(a.obs["class_label"].astype(str)))
    sst = a[:, "Sst"].X.toarray().ravel()
    gaba = sst[(a.obs["class_label"] == "GABAergic").to_numpy()]
    ref = {
        "median": np.median(gaba),
        "trimmed_mean": trim_mean(gaba, 0.05),
        "trimean": (np.quantile(gaba, 0.25) + 2 * np.median(gaba) + np.quantile(gaba, 0.75)) / 4,
        "frac_expressing": (gaba > 0).mean(),
    }[stat]
    assert table.loc["GABAergic", "Sst"] == pytest.approx(ref, rel=1e-5)


def test_backed_option_matches(toy_h5ad, tmp_path):
    path, _ = toy_h5ad
    a_out, b_out = tmp_path / "a.csv", tmp_path / "b.csv"
    args = ["aggregate", str(path), "--groupby", "subclass_label", "--stat", "median"]
    assert main([*args, "--out", str(a_out)]) == 0
    assert main([*args, "--backed", "--out", str(b_out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(a_out, index_col=0), pd.read_csv(b_out, index_col=0))


def test_missing_genes_and_small_types_warn(toy_h5ad, tmp_path, capsys):
    path, _ = toy_h5ad
    out = tmp_path / "w.csv"
    assert (
        main(
            [
                "aggregate",
                str(path),
                "--groupby",
                "cluster_label",
                "--stat",
                "mean",
                "--genes",
                "Vip,NotAGene1",
                "--min-cells",
                "30",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "warning" in err and "NotAGene1" in err and "min_cells=30" in err
    table = pd.read_csv(out, index_col=0)
    assert list(table.columns) == ["Vip"]


def test_bad_groupby_fails_cleanly_and_writes_nothing(toy_h5ad, tmp_path, capsys):
    path, _ = toy_h5ad
    out = tmp_path / "bad.csv"
    rc = main(
        ["aggregate", str(path), "--groupby", "celltype", "--stat", "mean", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "'celltype' not found" in err and "cluster_label" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    rc = main(
        [
            "aggregate",
            str(tmp_path / "none.h5ad"),
            "--groupby",
            "x",
            "--stat",
            "mean",
            "--out",
            str(out),
        ]
    )
    assert rc == 2 and "not found" in capsys.readouterr().err


def test_explorer_file_through_the_reader(shared_data, tmp_path):
    path = shared_data / "allen_tasic2018_explorer" / "sample_heatmap_plot_data.csv"
    out = tmp_path / "explorer.csv"
    assert (
        main(
            [
                "aggregate",
                str(path),
                "--groupby",
                "cluster_label",
                "--stat",
                "smith2019",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out, index_col=0)
    # one row per cluster of the file; the reader strips the spaces around a field (one label in
    # this file ends in a space)
    clusters = pd.read_csv(path, usecols=["cluster_label"])["cluster_label"].str.strip()
    assert sorted(table.index) == sorted(clusters.unique())
    assert table["Vip"].idxmax().startswith("Vip") and table["Sst"].idxmax().startswith("Sst")
