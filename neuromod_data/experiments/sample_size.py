"""How many paired seeds an experiment needs, from a pilot (docs/design.md, "Summary statistics").

A grid whose arms share seeds is tested on the paired differences (``stats.paired``); its power
depends on their SD. A pilot of a few seeds estimates that SD, and :func:`pairs_needed` turns it
and the smallest difference worth detecting into the number of seeds. The inverse question — what
difference the seeds one has can detect — is ``stats.detectable_effect_paired``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from neuromod_data.experiments.stats import complete_pairs

__all__ = ["paired_power", "pairs_needed", "plan_from_pilot"]


def paired_power(n: int, effect: float, *, alpha: float = 0.05) -> float:
    """Power of a two-sided paired t-test at level ``alpha`` on ``n`` pairs for a true mean
    difference of ``effect`` SDs of the differences (noncentral t, df = n − 1, λ = effect √n).

    Examples
    --------
    >>> round(paired_power(5, 1.68), 2)
    0.8
    """
    from scipy import stats

    if n < 2:
        return math.nan
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    lam = abs(float(effect)) * math.sqrt(n)
    # far in the opposite tail scipy's noncentral t returns NaN for what is ~0
    other = float(np.nan_to_num(stats.nct.cdf(-crit, df, lam), nan=0.0))
    return float(stats.nct.sf(crit, df, lam)) + other


def pairs_needed(
    sd: float, difference: float, *, alpha: float = 0.05, power: float = 0.8, limit: int = 10_000
) -> int:
    """The smallest number of pairs whose two-sided paired t-test at ``alpha`` detects a mean
    difference ``difference`` with probability ``power``, given the SD of the paired differences.

    Examples
    --------
    >>> pairs_needed(0.02, 0.015)       # a 0.75-SD difference
    16
    >>> pairs_needed(0.005, 0.015)      # three SDs: few seeds suffice
    4
    """
    if not (sd > 0 and math.isfinite(sd)):
        raise ValueError(f"the SD of the paired differences must be positive and finite, got {sd}")
    if not difference > 0:
        raise ValueError(f"the difference to detect must be positive, got {difference}")
    effect = difference / sd
    for n in range(2, limit + 1):
        if paired_power(n, effect, alpha=alpha) >= power:
            return n
    raise ValueError(f"more than {limit} pairs needed for {difference} at SD {sd}")


def plan_from_pilot(
    a: Iterable[float | None],
    b: Iterable[float | None],
    difference: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> dict[str, float]:
    """From a pilot's paired values of two arms: the SD of the differences, the seeds needed to
    detect ``difference`` and, for comparison, what the pilot's own seeds detect.

    Examples
    --------
    >>> plan = plan_from_pilot([0.50, 0.42, 0.47], [0.49, 0.44, 0.45], 0.015)
    >>> plan["n_pilot"], round(plan["sd_diff"], 4), plan["n_needed"]
    (3, 0.0208, 18)
    """
    from neuromod_data.experiments.stats import detectable_effect_paired

    x, y = complete_pairs(a, b)
    n = int(x.size)
    if n < 2:
        raise ValueError(f"a pilot needs at least 2 pairs with both values, got {n}")
    sd = float(np.std(x - y, ddof=1))
    return {
        "n_pilot": n,
        "mean_diff": float(np.mean(x - y)),
        "sd_diff": sd,
        "difference": float(difference),
        "n_needed": pairs_needed(sd, difference, alpha=alpha, power=power),
        "detectable_at_pilot": detectable_effect_paired(n, alpha=alpha, power=power) * sd,
    }
