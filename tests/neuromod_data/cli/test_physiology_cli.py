"""`neuromod physiology` end to end on the real M1 Patch-seq and Billeh files, and its bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuromod_data.cli import main
from neuromod_data.structure import PARAMETERS, CellTypeStructure

FIXTURE_V1 = Path(__file__).parents[1] / "fixtures" / "structure_v1.npz"
OUTPUTS = ("structure.npz", "intrinsic.csv", "ephys_summary.csv", "connectivity.csv",
           "physiology.json", "intrinsic.png", "connectivity.png")  # fmt: skip


@pytest.fixture(scope="module")
def files(shared_data):
    d = shared_data / "allen_m1_patchseq"
    return {
        "features": str(d / "m1_patchseq_ephys_features.csv"),
        "meta": str(d / "m1_patchseq_meta_data.csv"),
        "conn": str(shared_data / "billeh2020_connectivity" / "connectivity_long.csv"),
    }


def test_adds_both_to_a_format_1_structure(files, tmp_path, capsys, m1_by_pandas):
    """The committed format-1 structure (IT, Pvalb, Sst; groupby 'RNA family') gains intrinsic
    parameters and connectivity; values checked against pandas on the files."""
    out = tmp_path / "phys"
    rc = main(["physiology", str(FIXTURE_V1), "--ephys", files["features"], "--ephys-metadata", files["meta"],
               "--method", "map", "--connectivity", files["conn"], "--layer", "Inferred layer",
               "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    s = CellTypeStructure.load(out / "structure.npz")
    assert s.names == ("IT", "Pvalb", "Sst") and s.meta["groupby"] == "RNA family"
    with np.load(out / "structure.npz") as z:
        assert int(z["format_version"]) == 2
    names = list(s.names)
    # intrinsic parameters: every parameter of every type against pandas on the files
    want = m1_by_pandas.family_parameters(files["features"], files["meta"], names)
    ip = s.intrinsic
    assert ip.types == s.names and ip.params == PARAMETERS
    for j, p in enumerate(PARAMETERS):
        np.testing.assert_allclose(ip.median[:, j], want[p].to_numpy(), rtol=1e-12, err_msg=p)
    ready = s.intrinsic_parameters(("tau_m", "beta", "adaptive", "v_th", "n_ref"))
    adaptive = want["adaptive"].to_numpy() >= 0.5  # a type adapts when most of its cells do
    np.testing.assert_array_equal(ready["adaptive"], adaptive)
    np.testing.assert_allclose(ready["beta"], np.where(adaptive, want["beta"], 0.0), rtol=1e-12)
    np.testing.assert_allclose(ready["v_th"], want["v_th"], rtol=1e-12)
    np.testing.assert_array_equal(ready["n_ref"], np.rint(want["n_ref"]).astype(int))
    table = pd.read_csv(out / "intrinsic.csv")
    assert len(table) == 3 * len(PARAMETERS) and set(table["level"]) == {"RNA family", "constant"}
    values = table.pivot(index="type", columns="parameter", values="value").loc[names]
    np.testing.assert_allclose(values[list(PARAMETERS)], want[list(PARAMETERS)], rtol=1e-12)
    # connectivity: every entry against the layer-weighted Billeh mix computed with pandas
    classes = {"IT": "E", "Pvalb": "PV", "Sst": "SST"}  # the documented class-by-name rule
    prob, strength, left_out = m1_by_pandas.billeh_mix(files["meta"], files["conn"], names, classes)
    np.testing.assert_allclose(s.connectivity.probability, prob, rtol=1e-12)
    np.testing.assert_allclose(s.connectivity.strength, strength, rtol=1e-12)
    conn = pd.read_csv(out / "connectivity.csv")
    assert conn[["pre", "post"]].values.tolist() == [[a, b] for a in names for b in names]
    np.testing.assert_allclose(conn["probability"], prob.reshape(-1), rtol=1e-12)
    np.testing.assert_allclose(conn["strength"], strength.reshape(-1), rtol=1e-12)
    # the cells in layers the table lacks (layer 1) are counted in the warning
    assert "warning: cells in layers that" in err
    named = [(t, lay, n) for (t, lay), n in left_out.items() if t in names]
    assert named  # the real files have layer-1 cells of these types
    for t, lay, n in named:
        assert re.search(rf"\b{t}: [^;]*\b{n} in L{re.escape(lay)}\b", err), (t, lay, n)
    record = json.loads((out / "physiology.json").read_text())
    assert record["label"] == "RNA family" and record["intrinsic"]["reference"]["tau_m"] > 0
    assert record["connectivity"]["type_populations"]["Pvalb"].keys() <= {"PV2/3", "PV5", "PV6"}


def test_connectivity_only_keeps_existing_intrinsic(files, tmp_path):
    first = tmp_path / "a"
    assert main(["physiology", str(FIXTURE_V1), "--ephys", files["features"], "--ephys-metadata", files["meta"],
                 "--no-figures", "--out", str(first)]) == 0  # fmt: skip
    second = tmp_path / "b"
    assert main(["physiology", str(first), "--connectivity", files["conn"], "--layer", "Inferred layer",
                 "--layer-metadata", files["meta"], "--out", str(second)]) == 0  # fmt: skip
    a = CellTypeStructure.load(first / "structure.npz")
    b = CellTypeStructure.load(second / "structure.npz")
    np.testing.assert_array_equal(a.intrinsic.median, b.intrinsic.median)
    assert a.connectivity is None and b.connectivity is not None
    assert not (second / "intrinsic.csv").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --ephys FEATURES and/or --connectivity TABLE"),
        (["--ephys", "F"], "--ephys needs --ephys-metadata"),
        (["--connectivity", "C"], "--connectivity needs --layer COLUMN"),
    ],
)
def test_missing_options_are_one_line(extra, message, tmp_path, capsys):
    rc = main(["physiology", str(FIXTURE_V1), *extra, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_wrong_label_is_one_line(files, tmp_path, capsys):
    rc = main(["physiology", str(FIXTURE_V1), "--ephys", files["features"], "--ephys-metadata", files["meta"],
               "--label", "RNA class", "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert (
        rc == 2 and "label column(s) ['RNA class'] not found" in err and len(err.splitlines()) == 1
    )
    assert not (tmp_path / "o").exists()


def test_unmapped_type_is_named_and_type_map_resolves_it(files, tmp_path, capsys):
    vip = CellTypeStructure(
        ("IT", "Vip"), [1, 1], [1, -1], np.ones((1, 2, 2)), ("x",), meta={"groupby": "RNA family"}
    )
    path = vip.save(tmp_path / "vip.npz")
    args = ["physiology", str(path), "--connectivity", files["conn"], "--layer", "Inferred layer",
            "--layer-metadata", files["meta"], "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no population class for type(s) ['Vip']" in err and "--type-map 'Vip=SST'" in err
    assert main([*args, "--type-map", "Vip=SST"]) == 0
    c = CellTypeStructure.load(tmp_path / "o" / "structure.npz").connectivity
    assert c.meta["type_classes"]["Vip"] == "type_map: SST"


def test_layer_mix_counts_metadata_cells_without_features(files, tmp_path, m1_by_pandas):
    # a Pvalb cell in layer 6 that has a metadata row but no features: the layer mix counts it
    meta = pd.read_csv(files["meta"], sep="\t")
    extra = dict.fromkeys(meta.columns, np.nan)
    extra.update({"Cell": "no_features_cell", "RNA family": "Pvalb", "Inferred layer": "6"})
    meta_file = tmp_path / "meta.tsv"
    pd.concat([meta, pd.DataFrame([extra])]).to_csv(meta_file, sep="\t", index=False)
    out = tmp_path / "phys"
    assert main(["physiology", str(FIXTURE_V1), "--ephys", files["features"], "--ephys-metadata",
                 str(meta_file), "--method", "map", "--connectivity", files["conn"], "--layer",
                 "Inferred layer", "--out", str(out)]) == 0  # fmt: skip
    s = CellTypeStructure.load(out / "structure.npz")
    classes = {"IT": "E", "Pvalb": "PV", "Sst": "SST"}
    prob, strength, _ = m1_by_pandas.billeh_mix(str(meta_file), files["conn"], s.names, classes)
    np.testing.assert_allclose(s.connectivity.probability, prob, rtol=1e-12)
    np.testing.assert_allclose(s.connectivity.strength, strength, rtol=1e-12)


def test_fit_writes_the_validation_and_uses_the_warm_recordings(files, shared_data, tmp_path):
    d = shared_data / "allen_m1_patchseq"
    out = tmp_path / "fit"
    assert main(["physiology", str(FIXTURE_V1), "--ephys", files["features"], "--ephys-metadata",
                 files["meta"], "--ephys-warm", str(d / "m1_patchseq_phys_temp_ephys_features.csv"),
                 "--ephys-warm-metadata", str(d / "m1_patchseq_phys_temp_meta_data.csv"),
                 "--out", str(out)]) == 0  # fmt: skip
    for name in ("fit_validation.csv", "fit_cells.csv", "fit_validation.png", "intrinsic.png"):
        assert (out / name).stat().st_size > 0, name
    val = pd.read_csv(out / "fit_validation.csv")
    assert set(val["type"]) == {"IT", "Pvalb", "Sst"}
    np.testing.assert_allclose(val["error"], val["model"] - val["recorded"])
    record = json.loads((out / "physiology.json").read_text())
    sources = {r["type"]: r["source"] for r in record["intrinsic"]["temperature"]}
    assert sources == {t: "34 °C recordings" for t in ("IT", "Pvalb", "Sst")}
    s = CellTypeStructure.load(out / "structure.npz")
    assert s.intrinsic.meta["method"] == "fit"
    sfa = val[val["feature"] == "spike-frequency adaptation"]
    assert sfa["error"].abs().max() < 0.1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ephys-warm", "W"], "--ephys-warm needs --ephys-warm-metadata"),
        (["--ephys-warm", "W", "--ephys-warm-metadata", "M", "--method", "map"],
         "--ephys-warm applies to --method fit"),
        (["--fallback-label", "RNA type"], "--fallback-label applies to --method map"),
    ],
)  # fmt: skip
def test_fit_options_refused_in_one_line(files, extra, message, tmp_path, capsys):
    rc = main(["physiology", str(FIXTURE_V1), "--ephys", files["features"], "--ephys-metadata",
               files["meta"], *extra, "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
