"""CellTypeStructure: the format-2 file (intrinsic parameters, connectivity), old files, the
accessors the network calls, and every method that returns a modified structure keeping both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuromod_data.errors import CellTypeError, FormatError
from neuromod_data.structure import (
    BOUNDS,
    PAPER_VALUES,
    PARAMETERS,
    CellTypeStructure,
    Connectivity,
    IntrinsicParameters,
)

FIXTURE_V1 = Path(__file__).parent / "fixtures" / "structure_v1.npz"
NAMES = ("IT", "Pvalb", "Sst")


def _intrinsic(names=NAMES) -> IntrinsicParameters:
    k = len(names)
    med = np.array(
        [
            # tau_m, tau_a, beta, adaptive, v_th, n_ref
            [12.0, 2000.0, 2.0, 0.9, 0.012, 7.6],
            [8.0, 2000.0, 0.8, 0.3, 0.010, 2.6],
            [18.0, 2000.0, 2.4, 0.95, 0.008, 4.4],
        ][:k]
    )
    spread = np.array(
        [[0.4, 0.0, 0.6, 0.0, 0.25, 0.15], [0.25, 0, 0.6, 0, 0.3, 0.1], [0.3, 0, 0.5, 0, 0.3, 0.2]][
            :k
        ]
    )
    level = np.array([["RNA family"] * 6, ["RNA type"] * 6, ["default"] * 6][:k])
    group = np.array([[n] * 6 for n in names])
    return IntrinsicParameters(
        types=names,
        params=PARAMETERS,
        median=med,
        spread=spread,
        n_cells=np.array([[254, 0, 238, 238, 254, 254], [3, 0, 3, 3, 3, 3], [0] * 6][:k]),
        level=level,
        group=group,
        bounds=np.array([BOUNDS[p] for p in PARAMETERS]),
        meta={"source": "test", "reference": {"tau_m": 11.6}},
    )


def _connectivity(names=NAMES) -> Connectivity:
    p = np.array([[0.16, 0.395, 0.182], [0.411, 0.451, 0.03], [0.424, 0.857, 0.082]])
    s = np.array([[0.36, 1.49, 0.86], [0.48, 0.68, 0.42], [0.31, 0.50, 0.15]])
    return Connectivity(names, p, s, {"source": "test", "units": {"strength": "mV"}})


def _structure(**kw) -> CellTypeStructure:
    mod = np.zeros((2, 3, 3))
    mod[0, 2, 0] = 1.0
    mod[1, 0, 1] = 0.5
    return CellTypeStructure(
        names=NAMES,
        abundances=np.array([6.0, 2.0, 2.0]),
        signs=np.array([1, -1, -1]),
        modulation=mod,
        pairs=("Sst→Sstr2", "Npy→Npy1r"),
        classes=("Glutamatergic", "GABAergic", "GABAergic"),
        meta={"groupby": "RNA family"},
        **kw,
    )


def _same_physiology(a: CellTypeStructure, b: CellTypeStructure) -> None:
    for x, y in ((a.intrinsic, b.intrinsic),):
        assert x.types == y.types and x.params == y.params
        for f in ("median", "spread", "n_cells", "level", "group", "bounds"):
            np.testing.assert_array_equal(getattr(x, f), getattr(y, f))
        assert x.meta == y.meta
    np.testing.assert_array_equal(a.connectivity.probability, b.connectivity.probability)
    np.testing.assert_array_equal(a.connectivity.strength, b.connectivity.strength)
    assert a.connectivity.meta == b.connectivity.meta


# ------------------------------------------------------------------------------- files
def test_v2_round_trip_keeps_everything(tmp_path):
    s = _structure(intrinsic=_intrinsic(), connectivity=_connectivity())
    path = s.save(tmp_path / "s.npz")
    with np.load(path) as z:
        assert int(z["format_version"]) == 2
        assert {"intrinsic_median", "connectivity_probability"} <= set(z.files)
    back = CellTypeStructure.load(path)
    assert back.names == s.names and back.pairs == s.pairs and back.classes == s.classes
    np.testing.assert_array_equal(back.modulation, s.modulation)
    np.testing.assert_allclose(back.abundances, [0.6, 0.2, 0.2])
    _same_physiology(back, s)
    assert back.intrinsic.level[1, 0] == "RNA type" and back.intrinsic.n_cells.dtype == np.int64


def test_v2_without_physiology_writes_no_extra_arrays(tmp_path):
    path = _structure().save(tmp_path / "s.npz")
    with np.load(path) as z:
        assert not [f for f in z.files if f.startswith(("intrinsic_", "connectivity_"))]
    back = CellTypeStructure.load(path)
    assert back.intrinsic is None and back.connectivity is None


def test_loads_the_committed_v1_file():
    """A file written by the format-1 code (before intrinsic parameters existed)."""
    with np.load(FIXTURE_V1) as z:
        assert int(z["format_version"]) == 1
        assert not [f for f in z.files if f.startswith(("intrinsic_", "connectivity_"))]
    s = CellTypeStructure.load(FIXTURE_V1)
    assert s.names == ("IT", "Pvalb", "Sst")
    np.testing.assert_allclose(s.abundances, [0.6, 0.2, 0.2])
    assert s.signs.tolist() == [1, -1, -1]
    assert s.modulation[0, 2, 0] == 3.0 and s.modulation[1, 0, 0] == 0.5
    assert s.colors == ("#00ADEE", "#D93137", "#FF9900")
    assert s.meta["groupby"] == "RNA family"
    assert s.intrinsic is None and s.connectivity is None


def test_loads_a_v1_file_written_here_by_hand(tmp_path):
    """The format-1 layout, written explicitly (the keys and types the version-1 save wrote)."""
    path = tmp_path / "v1.npz"
    with open(path, "wb") as fh:
        np.savez(
            fh,
            format_version=np.array(1),
            names=np.array(["E", "I"]),
            abundances=np.array([0.8, 0.2]),
            signs=np.array([1, -1], dtype=np.int8),
            modulation=np.ones((1, 2, 2)),
            pairs=np.array(["E/I"]),
            classes=np.array([], dtype=str),
            colors=np.array([], dtype=str),
            meta=np.array(json.dumps({"source": "v1 by hand"})),
        )
    s = CellTypeStructure.load(path)
    assert s.names == ("E", "I") and s.classes is None and s.colors is None
    assert s.meta == {"source": "v1 by hand"} and s.intrinsic is None


def test_a_newer_format_is_refused_with_its_version(tmp_path):
    path = tmp_path / "v3.npz"
    np.savez(path, format_version=np.array(3), names=np.array(["E"]))
    with pytest.raises(FormatError, match="format version 3"):
        CellTypeStructure.load(path)


# ------------------------------------------------------------------ kept by every method
def test_with_abundances_and_controls_keep_physiology():
    s = _structure(intrinsic=_intrinsic(), connectivity=_connectivity())
    variants = [s.with_abundances({"IT": 1, "Pvalb": 1, "Sst": 1})]
    variants += [
        s.control(kind, seed=1) for kind in ("data", "label-permuted", "grid-shuffled", "uniform")
    ]
    for v in variants:
        _same_physiology(v, s)
    assert s.with_intrinsic(None).intrinsic is None
    assert s.with_connectivity(None).connectivity is None
    assert s.with_intrinsic(None).connectivity is s.connectivity


def test_ei_control_pools_physiology_by_sign():
    """Hand-computed: E = IT alone; I = Pvalb and Sst with abundances 0.2 and 0.2 (weights ½, ½)."""
    s = _structure(intrinsic=_intrinsic(), connectivity=_connectivity())
    ei = s.control("ei")
    assert ei.names == ("E", "I")
    ip, j = ei.intrinsic, PARAMETERS.index("tau_m")
    assert ip.median[0, j] == pytest.approx(12.0) and ip.spread[0, j] == pytest.approx(0.4)
    # I: geometric mean of 8 and 18 = 12; log-mixture sd = sqrt(½(0.25² + ln(8/12)²) + ½(0.3² + ln(18/12)²))
    assert ip.median[1, j] == pytest.approx(12.0)
    expected = np.sqrt(
        0.5 * (0.25**2 + np.log(8 / 12) ** 2) + 0.5 * (0.3**2 + np.log(18 / 12) ** 2)
    )
    assert ip.spread[1, j] == pytest.approx(expected)
    a = PARAMETERS.index("adaptive")
    assert ip.median[1, a] == pytest.approx((0.3 + 0.95) / 2)
    assert ip.n_cells[1, j] == 3
    c = ei.connectivity
    # E → I: mean of IT→Pvalb and IT→Sst; strength weighted by those probabilities
    assert c.probability[0, 1] == pytest.approx((0.395 + 0.182) / 2)
    assert c.strength[0, 1] == pytest.approx((0.395 * 1.49 + 0.182 * 0.86) / (0.395 + 0.182))
    # I → I: the four blocks, each weight ¼
    assert c.probability[1, 1] == pytest.approx((0.451 + 0.03 + 0.857 + 0.082) / 4)
    assert c.probability[1, 0] == pytest.approx((0.411 + 0.424) / 2)


# ------------------------------------------------------------------------ accessors
def test_intrinsic_parameters_are_model_ready():
    s = _structure(intrinsic=_intrinsic())
    v = s.intrinsic_parameters(("tau_m", "tau_a", "beta", "v_th", "n_ref", "adaptive"))
    assert v["tau_m"].tolist() == [12.0, 8.0, 18.0]
    assert v["adaptive"].tolist() == [True, False, True]  # fractions 0.9, 0.3, 0.95 (≥ 0.5)
    assert v["beta"].tolist() == [2.0, 0.0, 2.4]  # Pvalb is not adaptive here: beta 0
    assert v["n_ref"].tolist() == [8, 3, 4] and v["n_ref"].dtype == np.int64
    assert v["v_th"].tolist() == [0.012, 0.010, 0.008]
    with pytest.raises(CellTypeError, match="no intrinsic parameters"):
        _structure().intrinsic_parameters()


def test_sample_intrinsic_without_heterogeneity_repeats_the_type_values():
    s = _structure(intrinsic=_intrinsic())
    p = s.sample_intrinsic([2, 1, 3])
    assert set(p) == set(PARAMETERS)
    assert p["tau_m"].tolist() == [12.0, 12.0, 8.0, 18.0, 18.0, 18.0]
    assert p["beta"].tolist() == [2.0, 2.0, 0.0, 2.4, 2.4, 2.4]
    assert p["adaptive"].tolist() == [True, True, False, True, True, True]
    assert p["n_ref"].tolist() == [8, 8, 3, 4, 4, 4]
    assert s.sample_intrinsic([0, 0, 2])["tau_m"].tolist() == [18.0, 18.0]


def test_sample_intrinsic_heterogeneity_follows_the_spread():
    s = _structure(intrinsic=_intrinsic())
    n = 20000
    p = s.sample_intrinsic([n, n, n], heterogeneity=True, seed=7)
    again = s.sample_intrinsic([n, n, n], heterogeneity=True, seed=7)
    for k in p:
        np.testing.assert_array_equal(p[k], again[k])
    assert not np.array_equal(
        p["tau_m"], s.sample_intrinsic([n, n, n], heterogeneity=True, seed=8)["tau_m"]
    )
    it = slice(0, n)
    assert np.median(p["tau_m"][it]) == pytest.approx(12.0, rel=0.02)
    assert np.std(np.log(p["tau_m"][it])) == pytest.approx(0.4, rel=0.03)
    assert p["adaptive"][n : 2 * n].mean() == pytest.approx(0.3, abs=0.015)  # Pvalb's fraction
    assert np.all(p["beta"][~p["adaptive"]] == 0)
    assert np.all(p["tau_a"] == 2000.0)  # no spread
    for name in ("tau_m", "v_th", "n_ref", "beta"):
        lo, hi = BOUNDS[name]
        assert p[name].min() >= lo and p[name].max() <= hi
    assert p["n_ref"].dtype == np.int64
    # a subset of names draws the same neurons as the full set
    sub = s.sample_intrinsic([n, n, n], heterogeneity=True, seed=7, names=("v_th",))
    np.testing.assert_array_equal(sub["v_th"], p["v_th"])


def test_sample_intrinsic_checks_counts():
    s = _structure(intrinsic=_intrinsic())
    with pytest.raises(CellTypeError, match="one non-negative count for each of the 3 types"):
        s.sample_intrinsic([1, 2])


def test_constant_gives_the_paper_values():
    ip = IntrinsicParameters.constant(("E", "I"))
    v = ip.values()
    for name in ("tau_m", "tau_a", "v_th"):
        assert v[name].tolist() == [PAPER_VALUES[name]] * 2
    assert v["n_ref"].tolist() == [5, 5] and v["adaptive"].tolist() == [True, True]


# ----------------------------------------------------------------------- validation
def test_physiology_must_match_the_types():
    with pytest.raises(CellTypeError, match="same names in the same order"):
        _structure(intrinsic=_intrinsic(("Pvalb", "IT", "Sst")))
    with pytest.raises(CellTypeError, match="same names in the same order"):
        _structure(connectivity=_connectivity(("a", "b", "c")))


def test_invalid_values_name_the_culprit():
    with pytest.raises(CellTypeError, match=r"Pvalb → IT is 1.2, not in \[0, 1\]"):
        Connectivity(("IT", "Pvalb"), [[0.1, 0.2], [1.2, 0.1]], np.ones((2, 2)))
    with pytest.raises(CellTypeError, match="strength IT → Pvalb is -1"):
        Connectivity(("IT", "Pvalb"), np.full((2, 2), 0.1), [[1, -1], [1, 1]])
    ip = _intrinsic()
    med = ip.median.copy()
    med[2, PARAMETERS.index("v_th")] = 0.5
    with pytest.raises(CellTypeError, match="'v_th' of type 'Sst' is 0.5, outside its bounds"):
        IntrinsicParameters(
            ip.types, ip.params, med, ip.spread, ip.n_cells, ip.level, ip.group, ip.bounds
        )
    with pytest.raises(CellTypeError, match="distinct names among"):
        IntrinsicParameters(("E",), ("tau_x",), [[1.0]], [[0.0]], [[0]], [["x"]], [["E"]], [[0, 1]])


def test_repr_says_what_the_structure_carries():
    assert repr(_structure()).endswith("density 0.22)")
    assert repr(_structure(intrinsic=_intrinsic(), connectivity=_connectivity())).endswith(
        ", intrinsic parameters, connectivity)"
    )


def test_structure_module_imports_no_heavy_library():
    """structure.py itself needs numpy only (the package __init__ is bypassed here on purpose)."""
    pkg = Path(__file__).resolve().parents[2] / "neuromod_data"
    code = (
        "import sys, types\n"
        f"m = types.ModuleType('neuromod_data'); m.__path__ = [{str(pkg)!r}]\n"
        "sys.modules['neuromod_data'] = m\n"
        "import neuromod_data.structure\n"
        "print(sorted(x for x in ('pandas', 'anndata', 'h5py', 'torch', 'scipy') if x in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_heterogeneous_draws_reproduce_each_types_median_and_spread():
    """What a network's neurons draw (docs/design.md, "Networks from data"): per type, the median
    and the robust spread (1.4826 × MAD) of the log of the drawn values equal the type's median and
    spread (the spread ephys computes from the per-cell values), within 5 standard errors for
    20,000 neurons (median of normal values: 1.2533 σ/√n; 1.4826 × MAD: 1.1664 σ/√n); each neuron
    adapts with its type's adapting fraction (5 binomial standard errors); beta is drawn for the
    adapting neurons (through the increment per spike, beta (1 - rho) / v_th, whose median and
    spread are checked) and 0 for the others. Bounds are far enough not to clip these draws."""
    ip = _intrinsic()
    s = _structure(intrinsic=ip)
    n = 20000
    p = s.sample_intrinsic([n, n, n], heterogeneity=True, seed=11)
    for k, t in enumerate(NAMES):
        blk = slice(k * n, (k + 1) * n)
        frac = ip.median[k, PARAMETERS.index("adaptive")]
        adapt = p["adaptive"][blk]
        assert abs(adapt.mean() - frac) < 5 * np.sqrt(frac * (1 - frac) / n), t
        assert np.all(p["beta"][blk][~adapt] == 0), t
        med = dict(zip(PARAMETERS, ip.median[k], strict=True))
        for name in ("tau_m", "v_th", "beta"):
            j = PARAMETERS.index(name)
            x, centre = p[name][blk], ip.median[k, j]
            if name == "beta":  # drawn as the increment per spike, beta (1 - rho) / v_th
                on = adapt
                x = x[on] * (1 - np.exp(-1 / p["tau_a"][blk][on])) / p["v_th"][blk][on]
                centre = med["beta"] * (1 - np.exp(-1 / med["tau_a"])) / med["v_th"]
            logx, sigma, m = np.log(x), ip.spread[k, j], len(x)
            assert abs(np.median(logx) - np.log(centre)) < 5 * 1.2533 * sigma / np.sqrt(m)
            mad = 1.4826 * np.median(np.abs(logx - np.median(logx)))
            assert abs(mad - sigma) < 5 * 1.1664 * sigma / np.sqrt(m), (t, name)


def test_stored_bounds_wider_than_the_package_are_refused(tmp_path):
    # a file whose bounds were widened (τ_m down to 0) would let a median of 0 through, which
    # divides by zero in the network (1 / (1 − exp(−dt/τ_m))); narrower bounds are fine
    s = CellTypeStructure.ei().with_intrinsic(IntrinsicParameters.constant(("E", "I")))
    path = s.save(tmp_path / "s.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = dict(z)
    j = list(arrays["intrinsic_params"]).index("tau_m")
    narrow = arrays["intrinsic_bounds"].copy()
    narrow[j] = (5.0, 50.0)
    np.savez(tmp_path / "narrow.npz", **{**arrays, "intrinsic_bounds": narrow})
    assert CellTypeStructure.load(tmp_path / "narrow.npz").intrinsic.bounds[j, 0] == 5.0
    wide = arrays["intrinsic_bounds"].copy()
    wide[j, 0] = 0.0
    np.savez(tmp_path / "wide.npz", **{**arrays, "intrinsic_bounds": wide})
    with pytest.raises((CellTypeError, FormatError), match=r"'tau_m' are \[0, 100\], wider than"):
        CellTypeStructure.load(tmp_path / "wide.npz")
    assert BOUNDS["tau_m"] == (2.0, 100.0)
