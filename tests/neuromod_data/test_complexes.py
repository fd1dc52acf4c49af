"""Multi-gene ligands / receptors: minimum subunit, geometric mean, missing subunits."""

from __future__ import annotations

import numpy as np
import pytest

from neuromod_data.complexes import ComplexIndex, check_policy, split_genes


def test_split():
    assert split_genes("Gad1_Gad2_Slc32a1") == ["Gad1", "Gad2", "Slc32a1"]
    assert split_genes("Npy") == ["Npy"] and split_genes("_A__B_") == ["A", "B"]
    import neuromod_data.complexes as complexes
    import neuromod_data.resources as resources

    with pytest.warns(DeprecationWarning, match="split_genes"):
        assert complexes.split_complex is split_genes  # the old name
    assert resources.split_genes is split_genes  # one implementation


def test_min_and_gmean_by_hand():
    genes = ["A", "B", "C", "D"]
    ci = ComplexIndex.build(["A_B_C", "D", "B_D"], genes)
    assert ci.names == ["A_B_C", "D", "B_D"]
    vals = np.array([[8.0, 1.0, 2.0, 5.0], [0.0, 3.0, 3.0, 2.0]])  # two types
    mn = ci.reduce(vals, "min")
    np.testing.assert_allclose(mn, [[1.0, 5.0, 1.0], [0.0, 2.0, 2.0]])
    gm = ci.reduce(vals, "gmean")
    # (8·1·2)^(1/3) = 16^(1/3); zero subunit → 0; sqrt(1·5); sqrt(3·2)
    np.testing.assert_allclose(gm, [[16 ** (1 / 3), 5.0, np.sqrt(5.0)], [0.0, 2.0, np.sqrt(6.0)]])
    # a leading batch axis is kept
    assert ci.reduce(np.stack([vals, vals]), "min").shape == (2, 2, 3)


def test_missing_subunit_reported_not_dropped_silently():
    ci = ComplexIndex.build(["A_X", "B", "Y"], ["A", "B"])
    assert ci.names == ["B"]
    assert ci.missing == {"A_X": ["X"], "Y": ["Y"]}


def test_bad_policy():
    with pytest.raises(ValueError, match="complex_policy"):
        check_policy("max")


def test_groups_of_alternatives():
    # NeuronChat's AND of ORs: (Gad1 or Gad2) and Slc32a1
    genes = ["Gad1", "Gad2", "Slc32a1"]
    ci = ComplexIndex.build(["Gad1_Gad2_Slc32a1"], genes, groups=["1_1_2"])
    vals = np.array([[5.0, 1.0, 3.0], [0.0, 2.0, 4.0], [0.0, 0.0, 9.0]])
    np.testing.assert_allclose(ci.reduce(vals, "min")[:, 0], [3.0, 2.0, 0.0])
    np.testing.assert_allclose(ci.reduce(vals, "gmean")[:, 0], [np.sqrt(15), np.sqrt(8), 0.0])
    # an absent alternative is recorded, the entry is still scored through the other one
    part = ComplexIndex.build(["Gad1_Gad2_Slc32a1"], ["Gad2", "Slc32a1"], groups=["1_1_2"])
    assert part.names == ["Gad1_Gad2_Slc32a1|1_1_2"]
    assert part.absent_alternatives == {"Gad1_Gad2_Slc32a1|1_1_2": ["Gad1"]}
    # a whole group absent: missing
    gone = ComplexIndex.build(["Gad1_Gad2_Slc32a1"], ["Slc32a1"], groups=["1_1_2"])
    assert gone.names == [] and gone.missing == {"Gad1_Gad2_Slc32a1|1_1_2": ["Gad1", "Gad2"]}
