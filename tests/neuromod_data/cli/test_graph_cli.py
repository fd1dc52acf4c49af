"""`neuromod graph` end to end: toy h5ad, M1 Patch-seq counts + metadata, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neuromod_data.cli import main
from neuromod_data.graph import read_graphml, read_scores, to_tensor
from neuromod_data.structure import CellTypeStructure

OUTPUTS = ("interactions.csv", "graph.graphml", "structure.npz", "scores.h5ad", "summary.json",
           "type_heatmap.png", "graph.png", "pair_heatmap.png", "dotplot.png")  # fmt: skip


@pytest.fixture(scope="module")
def toy_h5ad(tmp_path_factory):
    from neuromod_data.datasets import toy_cortex

    path = tmp_path_factory.mktemp("toy") / "toy.h5ad"
    toy_cortex(n_cells=800, seed=1).write_h5ad(path)
    return path


def test_cellphonedb_on_toy(toy_h5ad, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["graph", str(toy_h5ad), "--groupby", "subclass_label", "--method", "cellphonedb", "--n-perms", "50",
               "--seed", "3", "--min-cells", "5", "--out", str(out)])  # fmt: skip
    assert rc == 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    table = pd.read_csv(out / "interactions.csv")
    assert list(table.columns[:12]) == ["source", "target", "ligand", "receptor", "ligand_complex",
                                        "receptor_complex", "ligand_means", "receptor_means", "ligand_props",
                                        "receptor_props", "score", "pvalue"]  # fmt: skip
    assert table.pvalue.min() == pytest.approx(1 / 51)
    g = read_graphml(out / "graph.graphml")
    sig = table[(table.pvalue <= 0.05) & (table.score > 0)]
    assert g.number_of_edges() == len(sig)
    s = CellTypeStructure.load(out / "structure.npz")
    tensor, names, pairs = to_tensor(g, names=list(s.names), pairs=list(s.pairs))
    np.testing.assert_allclose(s.modulation, tensor)
    assert "Astro" not in s.names and s.signs[list(s.names).index("Sst")] == -1
    agg = read_scores(out / "scores.h5ad")
    assert len(agg.uns["neuromod_interactions"]) == len(table)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_edges"] == g.number_of_edges() and summary["params"]["n_perms"] == 50
    assert "edges" in capsys.readouterr().out


def test_m1_counts_with_metadata(shared_data, tmp_path, capsys):
    d = shared_data / "allen_m1_patchseq"
    out = tmp_path / "m1"
    rc = main(["graph", str(d / "m1_patchseq_phys_temp_exon_counts.csv.gz"), "--metadata",
               str(d / "m1_patchseq_phys_temp_meta_data.csv"), "--groupby", "RNA family", "--method", "smith2019",
               "--quantile", "0.9", "--no-figures", "--out", str(out)])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().err
    assert "Npy2r" in printed and "Trhr" in printed  # missing genes reported, not hidden
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["missing_interactions"] == ["Npy→Npy2r", "Trh→Trhr"]
    s = CellTypeStructure.load(out / "structure.npz")
    assert set(s.names) == {"Sst", "IT", "ET", "Pvalb", "NP"} and s.n_pairs == 35
    assert not (out / "graph.png").exists()


def test_bad_input_is_one_clear_message(toy_h5ad, tmp_path, capsys):
    out = tmp_path / "bad"
    rc = main(["graph", str(toy_h5ad), "--groupby", "no_such_label", "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no_such_label" in err and "Traceback" not in err
    assert not (out / "interactions.csv").exists()
    rc = main(
        [
            "graph",
            str(toy_h5ad),
            "--groupby",
            "class_label",
            "--resource",
            "liana:/nonexistent.csv",
            "--out",
            str(out),
        ]
    )
    assert rc == 2 and "nonexistent" in capsys.readouterr().err


def test_m1_tissue_abundances_from_the_taxonomy(shared_data, tmp_path, capsys):
    d = shared_data / "allen_m1_patchseq"
    out = tmp_path / "m1t"
    rc = main(["graph", str(d / "m1_patchseq_phys_temp_exon_counts.csv.gz"), "--metadata",
               str(d / "m1_patchseq_phys_temp_meta_data.csv"), "--groupby", "RNA family",
               "--method", "smith2019", "--n-perms", "0", "--no-figures",
               "--abundances", str(d / "yao2020_cluster.annotation.csv"),
               "--abundance-via", "RNA type", "--out", str(out)])  # fmt: skip
    assert rc == 0
    s = CellTypeStructure.load(out / "structure.npz")
    ann = pd.read_csv(d / "yao2020_cluster.annotation.csv")
    meta = pd.read_csv(d / "m1_patchseq_phys_temp_meta_data.csv", sep="\t")
    # by default every cluster of the subclasses a family's sampled clusters belong to counts
    sub = ann.set_index("cluster_label")["subclass_label"]
    expected = {
        f: ann.loc[
            ann.subclass_label.isin(sub[meta.loc[meta["RNA family"] == f, "RNA type"].unique()]),
            "cluster_size",
        ].sum()
        for f in s.names
    }
    total = sum(expected.values())
    assert s.abundances == pytest.approx([expected[n] / total for n in s.names])
    summary = json.loads((out / "summary.json").read_text())
    assert "yao2020_cluster.annotation.csv" in summary["abundances_source"]
    assert "every cluster of the sampled 'subclass_label'" in summary["abundances_source"]
    assert len(s.meta["sampled_abundances"]) == s.n_types
    record = s.meta["abundance_clusters"]  # the clusters behind each abundance
    assert {n: sum(record[n].values()) for n in s.names} == pytest.approx(expected)
    assert "L5 IT_4" in record["IT"] and "L5 IT_4" not in set(meta["RNA type"])  # not sampled
    rc = main(["graph", str(d / "m1_patchseq_phys_temp_exon_counts.csv.gz"), "--metadata",
               str(d / "m1_patchseq_phys_temp_meta_data.csv"), "--groupby", "RNA family",
               "--method", "smith2019", "--n-perms", "0", "--no-figures",
               "--abundances", str(d / "yao2020_cluster.annotation.csv"),
               "--out", str(tmp_path / "bad")])  # fmt: skip
    assert rc == 2  # families are not cluster labels: one message naming them, nothing written
    err = capsys.readouterr().err
    assert "no count for types" in err and "Traceback" not in err
    assert not (tmp_path / "bad" / "structure.npz").exists()
    rc = main(["graph", str(d / "m1_patchseq_phys_temp_exon_counts.csv.gz"), "--groupby", "RNA family",
               "--abundance-via", "RNA type", "--out", str(tmp_path / "bad2")])  # fmt: skip
    assert rc == 2 and "--abundances" in capsys.readouterr().err
    assert not (tmp_path / "bad2").exists()
    rc = main(["graph", str(d / "m1_patchseq_phys_temp_exon_counts.csv.gz"), "--groupby", "RNA family",
               "--abundances", str(d / "yao2020_cluster.annotation.csv"), "--abundance-via",
               "RNA type", "--abundance-expand", "none", "--abundance-extra-cells",
               str(d / "m1_patchseq_meta_data.csv"), "--out", str(tmp_path / "bad3")])  # fmt: skip
    assert rc == 2 and "--abundance-expand subclass" in capsys.readouterr().err
