"""A 2 × 2 factorial design on paired seeds: main effects and the interaction.

Each cell of the design is one network (e.g. {paper's, fitted} neurons × {uniform, Billeh}
connectivity), trained with the same seeds, so every effect is a per-seed contrast of the four
cells and is tested on those contrasts (:func:`neuromod_data.experiments.stats.paired`):

* main effect of factor A: the mean over B's levels of (A₂ − A₁), i.e. per seed
  ((A₂B₁ − A₁B₁) + (A₂B₂ − A₁B₂)) / 2;
* main effect of factor B, the same way;
* interaction: (A₂B₂ − A₁B₂) − (A₂B₁ − A₁B₁), the difference that A makes at B₂ minus the one it
  makes at B₁.

Seeds missing from any cell are left out of every contrast (the design stays balanced).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuromod_data.experiments.stats import paired

__all__ = ["factorial_effects"]


def factorial_effects(
    values: pd.DataFrame,
    *,
    factors: Mapping[str, Sequence[str]],
    value: str = "value",
    seed: str = "seed",
) -> pd.DataFrame:
    """Main effects and interaction of a 2 × 2 design with paired seeds.

    Parameters
    ----------
    values
        One row per (cell, seed): a column per factor holding its level, the seed and the value
        (e.g. the final validation loss).
    factors
        The two factors in order, each with its two levels (reference level first), e.g.
        ``{"neurons": ["paper", "fitted"], "connectivity": ["uniform", "billeh"]}``.
    value, seed
        Column names.

    Returns
    -------
    DataFrame with one row per effect (``"<A>: <level2> − <level1>"``, the same for B, and
    ``"interaction"``) and the columns of :func:`~neuromod_data.experiments.stats.paired` (``n``,
    ``diff`` with ``diff_low``/``diff_high``, ``p_t``, ``p_wilcoxon``, ``excluded``,
    ``detectable``, ...), plus ``effect`` and ``seeds``.

    Examples
    --------
    >>> rows = []
    >>> for s, noise in enumerate([0.0, 0.01, -0.01, 0.02]):
    ...     for a, b, v in [("p", "u", 0.30), ("f", "u", 0.25), ("p", "b", 0.28), ("f", "b", 0.20)]:
    ...         rows.append({"A": a, "B": b, "seed": s, "value": v + noise})
    >>> eff = factorial_effects(pd.DataFrame(rows), factors={"A": ["p", "f"], "B": ["u", "b"]})
    >>> eff[["effect", "diff"]].round(3).values.tolist()
    [['A: f − p', -0.065], ['B: b − u', -0.035], ['interaction', -0.03]]
    """
    if len(factors) != 2 or any(len(v) != 2 for v in factors.values()):
        raise ValueError(f"a 2 × 2 design needs two factors of two levels, got {dict(factors)}")
    (fa, (a1, a2)), (fb, (b1, b2)) = ((k, list(v)) for k, v in factors.items())
    missing = [c for c in (fa, fb, value, seed) if c not in values.columns]
    if missing:
        raise ValueError(f"columns {missing} not found; columns are {list(values.columns)}")
    wide = values.pivot_table(index=seed, columns=[fa, fb], values=value, aggfunc="first")
    cells = [(a1, b1), (a2, b1), (a1, b2), (a2, b2)]
    absent = [c for c in cells if c not in wide.columns]
    if absent:
        raise ValueError(f"the design has no runs for the cell(s) {absent} ({fa}, {fb})")
    wide = wide[cells].dropna()
    y = {c: wide[c].to_numpy(dtype=float) for c in cells}
    contrasts: list[tuple[str, np.ndarray, np.ndarray]] = [
        (f"{fa}: {a2} − {a1}", (y[(a2, b1)] + y[(a2, b2)]) / 2, (y[(a1, b1)] + y[(a1, b2)]) / 2),
        (f"{fb}: {b2} − {b1}", (y[(a1, b2)] + y[(a2, b2)]) / 2, (y[(a1, b1)] + y[(a2, b1)]) / 2),
        ("interaction", y[(a2, b2)] - y[(a1, b2)], y[(a2, b1)] - y[(a1, b1)]),
    ]
    rows: list[dict[str, Any]] = []
    for name, x, ref in contrasts:
        rows.append({"effect": name, "seeds": ",".join(map(str, wide.index)), **paired(x, ref)})
    return pd.DataFrame(rows)
