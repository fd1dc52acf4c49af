"""Pattern generation (the e-prop tutorial's regression task; docs/design.md, "Pattern generation").

100 frozen Poisson input channels at 50 Hz drive the network for 1 s; each output must follow a
target that is a sum of 4 sines with periods 1000, 500, 333 and 200 ms, amplitudes drawn from
U(0.5, 2) and phases from U(0, 2π), min–max scaled to span exactly [−1, 1]. Inputs and targets are
drawn once from the task's ``seed`` and are the same in every batch ("frozen"): the network learns
one fixed input → output mapping. Loss: mean squared error over all steps, trials and outputs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .base import Batch, Task, make_generator, poisson_spikes

__all__ = ["PatternGeneration"]


class PatternGeneration(Task):
    """Reproduce a fixed sum-of-sines target from frozen Poisson input.

    Parameters
    ----------
    T
        Steps (1000 at dt = 1 ms).
    n_in, rate
        Number of frozen Poisson input channels and their rate (Hz).
    n_out
        Number of target traces (one independent sum of sines each).
    periods, amplitude_range
        Sine periods (ms) and the range of their uniform random amplitudes.
    seed
        Draws the frozen input and the targets.
    dt
        Step (ms).

    Examples
    --------
    >>> task = PatternGeneration(seed=1)
    >>> batch = task.sample(2)
    >>> tuple(batch.target.shape), float(batch.target.min()), float(batch.target.max())
    ((1000, 2, 1), -1.0, 1.0)
    """

    name = "pattern_generation"

    def __init__(
        self,
        *,
        T: int = 1000,
        n_in: int = 100,
        n_out: int = 1,
        rate: float = 50.0,
        periods: tuple[float, ...] = (1000.0, 500.0, 333.0, 200.0),
        amplitude_range: tuple[float, float] = (0.5, 2.0),
        seed: int = 0,
        dt: float = 1.0,
    ) -> None:
        if T < 2 or n_in < 1 or n_out < 1:
            raise ValueError(
                f"need T >= 2, n_in >= 1, n_out >= 1; got T={T}, n_in={n_in}, n_out={n_out}"
            )
        lo, hi = amplitude_range
        if not 0 <= lo <= hi:
            raise ValueError(
                f"amplitude_range must satisfy 0 <= low <= high, got {amplitude_range}"
            )
        self.T = int(T)
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.rate = float(rate)
        self.periods = tuple(float(p) for p in periods)
        self.amplitude_range = (float(lo), float(hi))
        self.seed = int(seed)
        self.dt = float(dt)
        g = make_generator(self.seed)
        self.frozen_input = poisson_spikes(
            torch.full((self.T, self.n_in), self.rate, dtype=torch.float64), dt=self.dt, generator=g
        )
        n_sines = len(self.periods)
        self.amplitudes = lo + (hi - lo) * torch.rand(
            self.n_out, n_sines, generator=g, dtype=torch.float64
        )
        self.phases = (
            2 * math.pi * torch.rand(self.n_out, n_sines, generator=g, dtype=torch.float64)
        )
        self.target_trace = self._targets()  # [T, n_out]

    def _targets(self) -> Tensor:
        t = torch.arange(self.T, dtype=torch.float64) * self.dt  # ms
        freq = 1.0 / torch.tensor(self.periods, dtype=torch.float64)  # 1/ms
        arg = 2 * math.pi * t[:, None, None] * freq + self.phases  # [T, n_out, n_sines]
        s = (self.amplitudes * torch.sin(arg)).sum(-1)  # [T, n_out]
        lo, hi = s.min(0).values, s.max(0).values
        return 2 * (s - lo) / (hi - lo) - 1

    def _sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        x = self.frozen_input[:, None, :].expand(self.T, batch_size, self.n_in).clone()
        target = (
            self.target_trace[:, None, :].expand(self.T, batch_size, self.n_out).float().clone()
        )
        return Batch(x, target, {})

    def loss(self, y: Tensor, batch: Batch) -> Tensor:
        """Mean squared error over all steps, trials and outputs."""
        self._check_y(y, batch)
        return torch.mean((y - batch.target.to(device=y.device, dtype=y.dtype)) ** 2)

    def accuracy(self, y: Tensor, batch: Batch) -> None:
        """Regression: no accuracy (the metrics files leave the column empty)."""
        return None

    def network_kwargs(self) -> dict[str, Any]:
        """The tutorial's network: 100 LIF neurons, τ_m = τ_out = 30 ms, v_th 0.03; fully connected
        (a 10 %-sparse readout of one output from 100 neurons is too weak to draw the pattern)."""
        return {
            "n_in": self.n_in,
            "n_rec": 100,
            "n_out": self.n_out,
            "n_adaptive": 0,
            "tau_m": 30.0,
            "tau_out": 30.0,
            "v_th": 0.03,
            "p_in": 1.0,
            "p_rec": 1.0,
            "p_out": 1.0,
            "dt": self.dt,
        }

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "T": self.T,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "rate": self.rate,
            "periods": list(self.periods),
            "amplitude_range": list(self.amplitude_range),
            "seed": self.seed,
            "dt": self.dt,
        }
