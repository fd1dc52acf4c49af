"""Seeds needed from a pilot: against the detectable effect (its inverse) and a simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neuromod_data.experiments.sample_size import paired_power, pairs_needed, plan_from_pilot
from neuromod_data.experiments.stats import detectable_effect_paired


@pytest.mark.parametrize(("sd", "difference"), [(0.02, 0.015), (0.05, 0.015), (0.01, 0.015)])
def test_pairs_needed_is_the_inverse_of_the_detectable_effect(sd, difference):
    n = pairs_needed(sd, difference)
    assert detectable_effect_paired(n) * sd <= difference + 1e-12
    assert detectable_effect_paired(n - 1) * sd > difference


def test_power_against_simulated_paired_t_tests():
    rng = np.random.default_rng(0)
    n, effect, reps = 8, 0.9, 20_000
    diffs = rng.normal(effect, 1.0, size=(reps, n))
    p = stats.ttest_1samp(diffs, 0.0, axis=1).pvalue
    simulated = float(np.mean(p < 0.05))
    # binomial SE at 20,000 draws is about 0.0035
    assert abs(paired_power(n, effect) - simulated) < 0.012


def test_plan_from_pilot_by_hand():
    a = [0.50, 0.42, 0.47, None]
    b = [0.49, 0.44, 0.45, 0.40]  # the fourth seed has one arm only: left out
    plan = plan_from_pilot(a, b, 0.015)
    d = np.array([0.01, -0.02, 0.02])
    assert plan["n_pilot"] == 3
    assert plan["mean_diff"] == pytest.approx(d.mean())
    assert plan["sd_diff"] == pytest.approx(d.std(ddof=1))
    assert plan["n_needed"] == pairs_needed(d.std(ddof=1), 0.015)
    assert plan["detectable_at_pilot"] == pytest.approx(detectable_effect_paired(3) * d.std(ddof=1))


def test_bad_plans_say_what_is_wrong():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        plan_from_pilot([0.5], [0.4], 0.015)
    with pytest.raises(ValueError, match="must be positive"):
        pairs_needed(0.0, 0.015)
    with pytest.raises(ValueError, match="difference to detect"):
        pairs_needed(0.02, 0.0)
