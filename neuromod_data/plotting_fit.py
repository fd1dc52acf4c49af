"""The figure that shows how well the fitted neurons reproduce their recordings.

Drawn on a bare :class:`matplotlib.figure.Figure` (no pyplot, no backend switch; docs/design.md,
"Reproducibility").
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuromod_data._files import atomic_path
from neuromod_data.fitting import fi_curve

__all__ = ["plot_fit_validation"]

#: features compared in bars, in panel order
_BARS = ("spike-frequency adaptation", "ISI adaptation index", "latency (ms)", "rheobase (pA)")


def plot_fit_validation(
    validation: pd.DataFrame,
    *,
    duration: int = 600,
    save: str | os.PathLike | None = None,
) -> Figure:
    """Recorded against fitted features, per type.

    First panel: each type's fitted neuron's spike count against the step current (its f–I
    curve), with the recorded median rheobase (circle, one spike) and the recorded median maximum
    spike count (dashed line). Other panels: recorded (light) and model (dark) spike-frequency
    adaptation, ISI adaptation index, latency and rheobase per type, the error written above.

    Parameters
    ----------
    validation
        The table of :func:`neuromod_data.intrinsic_fit.fit_intrinsic`.
    duration
        Step length in ms (the fit's).
    save
        Also write the figure there.

    Examples
    --------
    >>> from neuromod_data.datasets.toy_ephys import toy_ephys
    >>> from neuromod_data.intrinsic_fit import fit_intrinsic
    >>> val = fit_intrinsic(toy_ephys(n_per_type=3), "type", min_cells=3).validation
    >>> len(plot_fit_validation(val).axes)
    5
    """
    types = list(dict.fromkeys(validation["type"]))
    fig = Figure(figsize=(4.0 * (1 + len(_BARS)), 3.6), layout="constrained")
    axes = fig.subplots(1, 1 + len(_BARS))
    colours = [f"C{i % 10}" for i in range(len(types))]

    def value(t: str, feature: str, col: str) -> float:
        row = validation[(validation["type"] == t) & (validation["feature"] == feature)]
        return float(row[col].iloc[0]) if len(row) else np.nan

    ax = axes[0]
    for t, c in zip(types, colours, strict=True):
        row = validation[validation["type"] == t].iloc[0]
        rheo_model = value(t, "rheobase (pA)", "model")
        rheo_rec = value(t, "rheobase (pA)", "recorded")
        if not np.isfinite(rheo_model):
            continue
        currents = np.linspace(0.0, 4.0 * rheo_model, 41)
        counts = fi_curve(
            currents, rheobase_pa=rheo_model, tau_m=value(t, "tau_m (ms)", "model"),
            tau_a=float(row["tau_a"]), increment=float(row["increment"]),
            n_ref=int(row["n_ref"]), duration=duration,
        )  # fmt: skip
        ax.plot(currents, counts, color=c, label=t)
        ax.plot([rheo_rec], [1], "o", color=c, mfc="none")
        ax.axhline(value(t, "max spikes", "recorded"), color=c, ls="--", lw=0.8)
    ax.set_xlabel("step current (pA)")
    ax.set_ylabel(f"spikes in {duration} ms")
    ax.set_title("model f–I; ○ recorded rheobase, -- max count", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    x = np.arange(len(types))
    for ax, feature in zip(axes[1:], _BARS, strict=True):
        rec = np.array([value(t, feature, "recorded") for t in types])
        mod = np.array([value(t, feature, "model") for t in types])
        ax.bar(x - 0.2, rec, 0.4, color=colours, alpha=0.35, label="recorded")
        ax.bar(x + 0.2, mod, 0.4, color=colours, label="model")
        top = np.nanmax(np.concatenate([rec, mod, [0.0]]))
        for i, (r, m) in enumerate(zip(rec, mod, strict=True)):
            if np.isfinite(r) and np.isfinite(m):
                ax.text(i, max(r, m) + 0.03 * top, f"{m - r:+.2g}", ha="center", fontsize=7)
        ax.set_xticks(x, types, rotation=45, ha="right", fontsize=8)
        ax.set_title(feature, fontsize=9)
        ax.set_ylim(0, 1.15 * top if top > 0 else 1)
    axes[1].legend(fontsize=7, frameon=False)
    fig.suptitle("fitted neurons against their recordings (error = model − recorded)", fontsize=10)
    if save is not None:
        path = Path(save)
        with atomic_path(path, suffix=path.suffix or ".png") as tmp:
            fig.savefig(tmp, dpi=130, format=(path.suffix[1:] or "png"))
    return fig
