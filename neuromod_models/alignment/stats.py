"""Statistics of the gradient alignment: the permutation rank of the data gate and the
per-checkpoint summary over seeds (:func:`summarize`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .arms import ARMS

#: columns of :func:`summarize`
SUMMARY_COLUMNS: tuple[str, ...] = (
    "checkpoint",
    "arm",
    "n_draws",
    "n_seeds",
    "mean_cosine",
    "sd_cosine",
    "mean_norm_ratio",
    "mean_cosine_exact",
    "mean_distance_exact",
    "diff_to_data",
    "diff_ci_low",
    "diff_ci_high",
    "perm_rank",
    "perm_p",
    "n_perms",
    "perm_exact",
    "perm_mean",
    "gap_closed_perm_to_ones",
    "position_eprop_to_exact",
)


def permutation_rank(value: float, null: Sequence[float] | np.ndarray) -> tuple[int, float]:
    """Rank of ``value`` among the permutation statistics ``null`` (1 = above all of them) and the
    one-sided p-value ``(#{null ≥ value} + 1) / (len(null) + 1)``.

    Ties count against ``value`` (a permutation that reproduces the gate is as good as it).

    Examples
    --------
    >>> permutation_rank(0.5, [0.1, 0.2, 0.5, 0.7])
    (3, 0.6)
    >>> permutation_rank(0.9, [0.1, 0.2, 0.5, 0.7])
    (1, 0.2)
    """
    null = np.asarray(null, dtype=np.float64)
    if null.size == 0:
        raise ValueError("the permutation null is empty")
    ge = int(np.sum(null >= value))
    return ge + 1, (ge + 1) / (null.size + 1)


def _t_ci(d: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t interval of the paired differences ``d`` (NaN bounds for n < 2)."""
    from scipy import stats

    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan, math.nan, math.nan
    m = float(d.mean())
    if d.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return m, m - half, m + half


def summarize(table: Any, *, level: float = 0.95) -> Any:
    """Per checkpoint and arm: means over seeds (of the per-seed means over batches and draws), the
    paired difference to ``data`` with its t interval over seeds, and for ``data`` its permutation
    rank and p (among the label permutations' seed-averaged cosines), its position between the
    label-permuted mean and ``ones`` and between ``eprop`` and ``exact``.

    Parameters
    ----------
    table
        A :class:`pandas.DataFrame` with :data:`TABLE_COLUMNS` (from :func:`align`).
    level
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        :data:`SUMMARY_COLUMNS`, one row per checkpoint and arm present.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [dict(seed=s, batch=0, checkpoint=0, arm=a, draw=d, cosine=c, norm_ratio=1.0,
    ...              cosine_exact=1.0, distance_exact=0.0)
    ...         for s in (0, 1) for a, d, c in [("data", 0, 0.5 + s / 10), ("ones", 0, 0.6),
    ...                                         ("label-permuted", 0, 0.4), ("label-permuted", 1, 0.5)]]
    >>> out = summarize(pd.DataFrame(rows)).set_index("arm")
    >>> int(out.loc["data", "perm_rank"]), int(out.loc["data", "n_perms"])
    (1, 2)
    >>> round(float(out.loc["data", "perm_p"]), 3), round(float(out.loc["data", "gap_closed_perm_to_ones"]), 3)
    (0.333, 0.667)
    """
    import pandas as pd

    t = table
    per_seed = (
        t.groupby(["checkpoint", "arm", "draw", "seed"], sort=False)[
            ["cosine", "norm_ratio", "cosine_exact", "distance_exact"]
        ]
        .mean()
        .reset_index()
    )
    order = {a: i for i, a in enumerate(ARMS)}
    rows = []
    for ckpt, c in per_seed.groupby("checkpoint", sort=True):
        arm_seed = c.groupby(["arm", "seed"])[["cosine"]].mean()["cosine"]  # draws averaged
        data_s = arm_seed.get("data")
        means = {a: float(arm_seed[a].mean()) for a in arm_seed.index.get_level_values(0).unique()}
        perm = c[c["arm"] == "label-permuted"].groupby("draw")["cosine"].mean()
        for arm in sorted(means, key=lambda a: order.get(a, len(order))):
            ca = c[c["arm"] == arm]
            s = arm_seed[arm]
            row: dict[str, Any] = {
                "checkpoint": int(ckpt),
                "arm": arm,
                "n_draws": int(ca["draw"].nunique()),
                "n_seeds": int(ca["seed"].nunique()),
                "mean_cosine": means[arm],
                "sd_cosine": float(s.std(ddof=1)) if len(s) > 1 else math.nan,
                "mean_norm_ratio": float(ca["norm_ratio"].mean()),
                "mean_cosine_exact": float(ca["cosine_exact"].mean()),
                "mean_distance_exact": float(ca["distance_exact"].mean()),
            }
            if data_s is not None and arm != "data":
                d = (s - data_s).dropna().to_numpy()
                row["diff_to_data"], row["diff_ci_low"], row["diff_ci_high"] = _t_ci(d, level)
            if arm == "data" and len(perm):
                rank, p = permutation_rank(means["data"], perm.to_numpy())
                pm = float(perm.mean())
                row.update(
                    perm_rank=rank,
                    perm_p=p,
                    n_perms=int(len(perm)),
                    perm_mean=pm,
                )
                if "ones" in means and means["ones"] != pm:
                    row["gap_closed_perm_to_ones"] = (means["data"] - pm) / (means["ones"] - pm)
            if arm == "data" and "eprop" in means and "exact" in means:
                span = means["exact"] - means["eprop"]
                if span != 0:
                    row["position_eprop_to_exact"] = (means["data"] - means["eprop"]) / span
            rows.append(row)
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    # counts stay integers where only some rows have them
    return out.astype({"perm_rank": "Int64", "n_perms": "Int64"})
