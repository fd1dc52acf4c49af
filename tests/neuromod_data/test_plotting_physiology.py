"""Figures of intrinsic parameters (with the cells behind them) and of connectivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuromod_data.ephys import cell_parameters, intrinsic_from_ephys
from neuromod_data.plotting_physiology import plot_connectivity, plot_intrinsic
from neuromod_data.structure import Connectivity

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture()
def cells():
    rng = np.random.default_rng(0)
    n = 30
    return pd.DataFrame(
        {
            "type": ["A"] * 20 + ["B"] * 8 + ["C"] * 2,
            "family": ["F"] * 27 + ["G"] * 3,  # G: one B cell and the two C cells
            "Membrane time constant (ms)": rng.lognormal(np.log(12), 0.3, n),
            "Spike frequency adaptation": rng.uniform(0.5, 1.0, n),
            "AP threshold (mV)": rng.normal(-38, 3, n),
            "Resting membrane potential (mV)": rng.normal(-63, 3, n),
            "AP width (ms)": rng.lognormal(0, 0.2, n),
        }
    )


def test_plot_intrinsic_draws_one_panel_per_parameter_and_the_cells(cells, tmp_path):
    with pytest.warns(Warning):  # C (2 cells) falls back to its family G (3 cells)
        ip = intrinsic_from_ephys(cells, "type", fallback=["family"], min_cells=3)
    per_cell = pd.concat(
        [cells[["type", "family"]], cell_parameters(cells, reference=ip.meta["reference"])], axis=1
    )
    fig = plot_intrinsic(ip, per_cell, save=tmp_path / "intrinsic.png")
    assert (tmp_path / "intrinsic.png").stat().st_size > 0
    axes = fig.axes
    assert axes[0].get_title(loc="left").startswith("τ_m") and len(axes) == 5
    labels = [t.get_text() for t in axes[0].get_xticklabels()]
    assert labels[0] == "A\n(n=20)" and labels[2].startswith("C → G")
    # the dots of type A are its 20 cells
    dots = [c for c in axes[0].collections if len(c.get_offsets()) == 20]
    assert dots
    plt.close(fig)
    fig = plot_intrinsic(ip, params=("tau_m", "v_th"))  # no cells: values with spread bars
    assert len(fig.axes) == 2
    plt.close(fig)


def test_plot_connectivity_orients_pre_rows(tmp_path):
    c = Connectivity(("E", "PV"), [[0.16, 0.395], [0.411, 0.451]], [[0.36, 1.49], [0.48, 0.68]])
    fig = plot_connectivity(c, save=tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0
    left = fig.axes[0]
    assert left.get_ylabel() == "presynaptic type" and left.get_xlabel() == "postsynaptic type"
    np.testing.assert_allclose(left.images[0].get_array(), c.probability)
    texts = {(t.get_position(), t.get_text()) for t in left.texts}
    assert ((1, 0), "0.40") in texts  # row 0 (E, pre), column 1 (PV, post): 0.395
    plt.close(fig)
