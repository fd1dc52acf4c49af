"""The 2 × 2 factorial contrasts against hand computations and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neuromod_data.experiments.factorial import factorial_effects

FACTORS = {"neurons": ["paper", "fitted"], "connectivity": ["uniform", "billeh"]}


def _table(y: dict[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    rows = []
    for (n, c), vals in y.items():
        for s, v in enumerate(vals):
            rows.append({"neurons": n, "connectivity": c, "seed": s, "value": v})
    return pd.DataFrame(rows)


def test_effects_by_hand_and_scipy():
    rng = np.random.default_rng(0)
    base = rng.normal(0.3, 0.05, 10)  # a seed effect shared by every cell: pairing removes it
    y = {
        ("paper", "uniform"): base + rng.normal(0, 0.01, 10),
        ("fitted", "uniform"): base - 0.02 + rng.normal(0, 0.01, 10),
        ("paper", "billeh"): base + 0.01 + rng.normal(0, 0.01, 10),
        ("fitted", "billeh"): base - 0.04 + rng.normal(0, 0.01, 10),
    }
    eff = factorial_effects(_table(y), factors=FACTORS).set_index("effect")
    pu, fu, pb, fb = (y[k] for k in [("paper", "uniform"), ("fitted", "uniform"),
                                     ("paper", "billeh"), ("fitted", "billeh")])  # fmt: skip
    hand = {
        "neurons: fitted − paper": ((fu - pu) + (fb - pb)) / 2,
        "connectivity: billeh − uniform": ((pb - pu) + (fb - fu)) / 2,
        "interaction": (fb - pb) - (fu - pu),
    }
    for name, d in hand.items():
        row = eff.loc[name]
        assert row["diff"] == pytest.approx(d.mean(), abs=1e-12)
        assert row["p_t"] == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-9)
        lo, hi = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
        assert (row["diff_low"], row["diff_high"]) == pytest.approx((lo, hi), rel=1e-9)
        assert row["n"] == 10
    # the neurons' effect is real here (about -0.025) and pairing sees it despite the seed spread
    assert eff.loc["neurons: fitted − paper", "p_t"] < 1e-3


def test_missing_seed_left_out_everywhere_and_bad_design_refused():
    y = {k: np.array([0.3, 0.31, 0.29]) for k in [("paper", "uniform"), ("fitted", "uniform"),
                                                   ("paper", "billeh"), ("fitted", "billeh")]}  # fmt: skip
    t = _table(y)
    t = t.drop(
        t[(t["neurons"] == "fitted") & (t["connectivity"] == "billeh") & (t["seed"] == 1)].index
    )
    eff = factorial_effects(t, factors=FACTORS)
    assert (eff["n"] == 2).all() and (eff["seeds"] == "0,2").all()
    with pytest.raises(ValueError, match="two factors of two levels"):
        factorial_effects(
            t, factors={"neurons": ["paper", "fitted", "x"], "connectivity": ["a", "b"]}
        )
    with pytest.raises(ValueError, match=r"no runs for the cell\(s\) \[\('paper', 'dense'\)"):
        factorial_effects(
            t, factors={"neurons": ["paper", "fitted"], "connectivity": ["uniform", "dense"]}
        )
