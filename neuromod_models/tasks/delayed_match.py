"""Delayed match-to-sample: two cues separated by a delay; answer "match" or "non-match".

Spec (this toolkit's; docs/design.md, "Delayed match-to-sample": the authors only name the task). Input: ``n_in`` = 40 Poisson channels in the
same 4 groups of 10 as evidence accumulation — cue A, cue B, recall, background. A trial is::

    silence (t_silence) | cue 1 (t_cue) | delay | cue 2 (t_cue) | gap | recall (recall_duration)

with defaults 50 | 100 | 500 | 100 | 100 | 150 ms, so T = 1000 ms. Cue 1 is A or B with probability
½; cue 2 repeats cue 1 with probability ``p_match`` (½) and is the other symbol otherwise. A cue
drives its group's channels at ``f0`` = 40 Hz; the recall group fires at 40 Hz during the last
``recall_duration`` ms; the background group at 10 Hz throughout. Label: 1 = match, 0 = non-match,
scored by softmax cross-entropy on the last step's two outputs. Solving it needs the first cue held
across the delay (the ALIF neurons' adaptation) and an XOR of the two cues.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import Batch, _Classification, poisson_spikes
from .evidence import PAPER_NETWORK

__all__ = ["DelayedMatch"]


class DelayedMatch(_Classification):
    """Delayed match-to-sample with two symbols.

    Parameters
    ----------
    n_in
        Input channels in 4 groups (cue A, cue B, recall, background).
    t_silence, t_cue, delay, gap, recall_duration
        Phase durations (ms); ``T`` is their sum (cue counted twice).
    f0, f_background
        Rates (Hz) of active cue/recall channels and of the background group.
    p_match
        Probability that the second cue repeats the first.
    dt
        Step (ms).

    Examples
    --------
    >>> task = DelayedMatch()
    >>> batch = task.sample(8, seed=0)
    >>> task.T, tuple(batch.x.shape)
    (1000, (1000, 8, 40))
    >>> bool(((batch.info["cue1"] == batch.info["cue2"]).long() == batch.target).all())
    True
    """

    name = "delayed_match"

    def __init__(
        self,
        *,
        n_in: int = 40,
        t_silence: int = 50,
        t_cue: int = 100,
        delay: int = 500,
        gap: int = 100,
        recall_duration: int = 150,
        f0: float = 40.0,
        f_background: float = 10.0,
        p_match: float = 0.5,
        dt: float = 1.0,
    ) -> None:
        if n_in < 4:
            raise ValueError(f"n_in must be at least 4 (four input groups), got {n_in}")
        if min(t_cue, recall_duration) <= 0 or min(t_silence, delay, gap) < 0:
            raise ValueError("phase durations must be non-negative (cue and recall positive)")
        if not 0.0 <= p_match <= 1.0:
            raise ValueError(f"p_match must lie in [0, 1], got {p_match}")
        self.n_in = int(n_in)
        self.n_out = 2
        self.t_silence = int(t_silence)
        self.t_cue = int(t_cue)
        self.delay = int(delay)
        self.gap = int(gap)
        self.recall_duration = int(recall_duration)
        self.f0 = float(f0)
        self.f_background = float(f_background)
        self.p_match = float(p_match)
        self.dt = float(dt)
        ms = self.t_silence + 2 * self.t_cue + self.delay + self.gap + self.recall_duration
        self.T = self._steps(ms)

    def groups(self) -> dict[str, slice]:
        """Input channels of each group: ``A``, ``B``, ``recall``, ``background``."""
        c = self.n_channel
        return {
            "A": slice(0, c),
            "B": slice(c, 2 * c),
            "recall": slice(2 * c, 3 * c),
            "background": slice(3 * c, self.n_in),
        }

    def cue_onsets(self) -> tuple[int, int]:
        """First steps of cue 1 and cue 2."""
        t1 = self._steps(self.t_silence)
        t2 = self._steps(self.t_silence + self.t_cue + self.delay)
        return t1, t2

    def _sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        cue1 = (torch.rand(batch_size, generator=generator, dtype=torch.float64) < 0.5).long()
        match = torch.rand(batch_size, generator=generator, dtype=torch.float64) < self.p_match
        cue2 = torch.where(match, cue1, 1 - cue1)
        c = self.n_channel
        g = self.groups()
        r = torch.zeros(self.T, batch_size, self.n_in, dtype=torch.float32)
        r[:, :, g["background"]] = self.f_background
        r[self.T - self._steps(self.recall_duration) :, :, g["recall"]] = self.f0
        dur = self._steps(self.t_cue)
        for t0, cue in zip(self.cue_onsets(), (cue1, cue2)):
            for s in (0, 1):
                rows = torch.nonzero(cue == s).flatten()
                if rows.numel():
                    r[t0 : t0 + dur, rows, s * c : (s + 1) * c] = self.f0
        x = poisson_spikes(r, dt=self.dt, generator=generator)
        return Batch(x, match.long(), {"cue1": cue1, "cue2": cue2})

    def network_kwargs(self) -> dict[str, Any]:
        """The evidence-accumulation network (50 LIF + 50 ALIF hold the first cue over the delay)."""
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            **PAPER_NETWORK,
            "dt": self.dt,
        }

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_in": self.n_in,
            "t_silence": self.t_silence,
            "t_cue": self.t_cue,
            "delay": self.delay,
            "gap": self.gap,
            "recall_duration": self.recall_duration,
            "f0": self.f0,
            "f_background": self.f_background,
            "p_match": self.p_match,
            "dt": self.dt,
        }
