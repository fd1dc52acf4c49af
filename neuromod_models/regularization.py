"""Training regularisers of the authors' protocol (docs/design.md, "Training protocol").

* :class:`FiringRateRegularizer` — a penalty on each neuron's mean firing rate away from a target,
  added to the task loss. Every rule differentiates it like the task loss: BPTT exactly, e-prop and
  MDGL through the neuron's own eligibility (its gradient on ``z_j^t`` joins the learning signal
  ``L_j^t``).
* L1 shrinkage of the weight magnitudes after every optimiser step is
  :meth:`neuromod_models.SpikingNetwork.apply_constraints` with ``shrink = lr · l1``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["FiringRateRegularizer"]


class FiringRateRegularizer:
    """``E_rate = coef · Σ_j (r_j − r₀)²`` with ``r_j`` the mean rate of neuron ``j`` over the batch
    and the trial and ``r₀`` the target, both in spikes per ms (the LSNN convention the authors use:
    ``r_j = mean_{b,t} z_j^t / dt``, ``r₀ = target_hz / 1000``).

    It is called with each neuron's mean spike count per step, ``mean_{b,t} z_j^t`` (what the
    learning rules hand it), and differentiable in it.

    Parameters
    ----------
    coef
        Weight of the penalty (the authors: 0.1).
    target_hz
        Target rate (the authors: 10 Hz).
    dt
        Time step in ms.

    Examples
    --------
    >>> reg = FiringRateRegularizer(coef=0.1, target_hz=10.0)
    >>> z = torch.zeros(1000, 2, 3)
    >>> z[::50, :, 0] = 1.0                       # neuron 0 at 20 Hz, neurons 1 and 2 silent
    >>> round(float(reg(z.mean(dim=(0, 1)))), 8)  # 0.1 · (0.01² + 0.01² + 0.01²)
    3e-05
    """

    def __init__(self, coef: float = 0.1, target_hz: float = 10.0, *, dt: float = 1.0) -> None:
        if not (coef >= 0 and target_hz >= 0 and dt > 0):
            raise ValueError(
                f"need coef >= 0, target_hz >= 0 and dt > 0, got {coef}, {target_hz}, {dt}"
            )
        self.coef, self.target_hz, self.dt = float(coef), float(target_hz), float(dt)

    def __call__(self, spikes_per_step: Tensor) -> Tensor:
        """The penalty of mean spike counts per step ``[N]`` (a scalar tensor)."""
        rate = spikes_per_step / self.dt
        return self.coef * torch.sum((rate - self.target_hz / 1000.0) ** 2)

    def config(self) -> dict[str, float]:
        return {"coef": self.coef, "target_hz": self.target_hz, "dt": self.dt}

    def __repr__(self) -> str:
        return f"FiringRateRegularizer(coef={self.coef}, target_hz={self.target_hz})"
