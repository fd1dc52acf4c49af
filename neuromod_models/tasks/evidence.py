"""Evidence accumulation (Liu et al. 2021 PNAS Fig. 3C; the LSNN/e-prop "click" task).

The default is the authors' generator (docs/design.md, "Tasks"), checked line by line against their
code: 40 input channels in 4 groups of 10 — left cues, right cues, recall cue, background. Each
trial's 7 cues each pick their side independently with probability ½ (the trial's cue pattern is
uniform over all 2^7 = 128 patterns, and within a batch the patterns are distinct: a random
permutation of the 128 patterns, first B taken, as the authors draw them). Cue ``k`` (k = 0…6)
drives its side's 10 channels at 40 Hz during steps ``[first_cue + k·t_interval, … + t_cue)`` =
``[150k, 150k + 100)``. The recall channels fire at 40 Hz in the last 150 ms, the background
channels at 10 Hz throughout. Spikes are Poisson counts per 1 ms step (a step can carry 2 spikes).
T = 2000 ms. The label is the majority side (0 = left, 1 = right; with 7 cues there is no tie),
scored by softmax cross-entropy on the last step's two outputs.

``p_group`` gives the other variant (our earlier default): each trial first picks a favoured side,
then each cue lands on the other side with probability ``p_group`` (0.3: 70 % of the cues favour
one side), which makes most trials easier (4–3 trials are 32 % of trials instead of 55 %).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import Batch, _Classification, poisson_spikes

__all__ = ["EvidenceAccumulation"]


#: The authors' evidence-accumulation network (Liu et al. 2021): 50 LIF + 50 ALIF, shared by the
#: delayed match-to-sample task, whose delay also needs adaptation to hold the first cue.
PAPER_NETWORK: dict[str, Any] = {
    "n_rec": 100,
    "n_adaptive": 50,
    # as in the authors' code: 81 E / 19 I (int(0.8·100) + 1), the 50 ALIF neurons excitatory,
    # 33 of 40 input channels excitatory (int(0.8·40) + 1), synapses as index pairs drawn with
    # replacement (docs/design.md, "Tasks")
    "adaptive_placement": "excitatory",
    "frac_excitatory": 0.81,
    "frac_excitatory_in": 0.825,
    "mask_sampling": "draws",
    "tau_m": 20.0,
    "tau_a": 2000.0,
    "beta": 1.8,
    "v_th": 0.01,
    "n_ref": 5,
    "tau_out": 20.0,
}


class EvidenceAccumulation(_Classification):
    """Left/right evidence accumulation with a delayed recall cue.

    Parameters
    ----------
    T
        Trial length in steps (2000 at dt = 1 ms).
    n_in
        Input channels, split into 4 equal groups (left, right, recall, background); the last group
        takes the remainder when ``n_in`` is not a multiple of 4 (the authors use 40).
    n_cues, t_cue, t_interval
        Number of cues, cue duration and cue period (ms): cue ``k`` spans
        ``[first_cue + k·t_interval, first_cue + k·t_interval + t_cue)``.
    recall_duration
        The recall channels are on during the last ``recall_duration`` ms.
    f0, f_background
        Rates (Hz) of active cue/recall channels and of the background group.
    first_cue
        Onset of the first cue (ms): 0 in the authors' generator.
    p_group
        ``None`` (default): every cue picks its side independently with probability ½ and the
        patterns of a batch are distinct (the authors' generator). A number: each trial has a
        favoured side and a cue lands on the other side with probability ``p_group``.
    counts
        Poisson spike counts (default, as the authors) or 0/1 Bernoulli spikes.
    dt
        Step (ms).

    Examples
    --------
    >>> task = EvidenceAccumulation()
    >>> batch = task.sample(4, seed=0)
    >>> tuple(batch.x.shape), batch.target.tolist() == (batch.info["cues"].sum(1) > 3).long().tolist()
    ((2000, 4, 40), True)
    """

    name = "evidence_accumulation"

    def __init__(
        self,
        *,
        T: int = 2000,
        n_in: int = 40,
        n_cues: int = 7,
        t_cue: int = 100,
        t_interval: int = 150,
        recall_duration: int = 150,
        f0: float = 40.0,
        f_background: float = 10.0,
        first_cue: int = 0,
        p_group: float | None = None,
        counts: bool = True,
        dt: float = 1.0,
    ) -> None:
        if n_cues < 1 or n_cues % 2 == 0:
            raise ValueError(f"n_cues must be a positive odd number (no ties), got {n_cues}")
        if not 0 < t_cue <= t_interval:
            raise ValueError(
                f"need 0 < t_cue <= t_interval, got t_cue={t_cue}, t_interval={t_interval}"
            )
        if n_in < 4:
            raise ValueError(f"n_in must be at least 4 (four input groups), got {n_in}")
        if p_group is not None and not 0.0 <= p_group <= 1.0:
            raise ValueError(f"p_group must be None or lie in [0, 1], got {p_group}")
        if first_cue < 0:
            raise ValueError(f"first_cue must be >= 0, got {first_cue}")
        self.dt = float(dt)
        self.T = int(T)
        self.n_in = int(n_in)
        self.n_out = 2
        self.n_cues = int(n_cues)
        self.t_cue = int(t_cue)
        self.t_interval = int(t_interval)
        self.recall_duration = int(recall_duration)
        self.f0 = float(f0)
        self.f_background = float(f_background)
        self.first_cue = int(first_cue)
        self.p_group = None if p_group is None else float(p_group)
        self.counts = bool(counts)
        last_cue_end = self.cue_onsets()[-1] + self._steps(self.t_cue)
        if last_cue_end > self.T - self._steps(self.recall_duration):
            raise ValueError(
                f"T={self.T} steps is too short: the cues end at step {last_cue_end} and the recall "
                f"cue needs the last {self._steps(self.recall_duration)} steps"
            )

    # ---------------------------------------------------------------- layout
    def groups(self) -> dict[str, slice]:
        """Input channels of each group: ``left``, ``right``, ``recall``, ``background``."""
        c = self.n_channel
        return {
            "left": slice(0, c),
            "right": slice(c, 2 * c),
            "recall": slice(2 * c, 3 * c),
            "background": slice(3 * c, self.n_in),
        }

    def cue_onsets(self) -> list[int]:
        """First step of each cue."""
        return [self._steps(self.first_cue + k * self.t_interval) for k in range(self.n_cues)]

    def rates(self, cues: Tensor) -> Tensor:
        """Input rates (Hz) ``[T, B, n_in]`` of trials with cue sides ``cues`` ``[B, n_cues]``."""
        B = cues.shape[0]
        c = self.n_channel
        g = self.groups()
        r = torch.zeros(self.T, B, self.n_in, dtype=torch.float32)
        r[:, :, g["background"]] = self.f_background
        r[self.T - self._steps(self.recall_duration) :, :, g["recall"]] = self.f0
        dur = self._steps(self.t_cue)
        for k, t0 in enumerate(self.cue_onsets()):
            side = cues[:, k]
            for s in (0, 1):
                rows = torch.nonzero(side == s).flatten()
                if rows.numel():
                    r[t0 : t0 + dur, rows, s * c : (s + 1) * c] = self.f0
        return r

    # ------------------------------------------------------------------ API
    def _cues(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """Cue sides ``[B, n_cues]`` (0 = left, 1 = right)."""
        if self.p_group is not None:
            favour_right = torch.rand(batch_size, generator=generator, dtype=torch.float64) < 0.5
            p_right = torch.where(favour_right, 1.0 - self.p_group, self.p_group)
            u = torch.rand(batch_size, self.n_cues, generator=generator, dtype=torch.float64)
            return (u < p_right[:, None]).long()
        # uniform over the 2^n patterns, distinct within each block of 2^n trials (the authors
        # take the first B of one random permutation of all patterns)
        n_patterns = 2**self.n_cues
        blocks = -(-batch_size // n_patterns)
        codes = torch.cat([torch.randperm(n_patterns, generator=generator) for _ in range(blocks)])
        bits = 2 ** torch.arange(self.n_cues - 1, -1, -1)
        return ((codes[:batch_size, None] & bits) > 0).long()

    def _sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        cues = self._cues(batch_size, generator)
        x = poisson_spikes(self.rates(cues), dt=self.dt, generator=generator, counts=self.counts)
        n_right = cues.sum(dim=1)
        label = (n_right > self.n_cues // 2).long()
        return Batch(x, label, {"cues": cues, "n_right": n_right})

    def network_kwargs(self) -> dict[str, Any]:
        """The paper's network: 100 neurons (50 LIF + 50 ALIF), τ_m 20 ms, τ_a 2 s, β 1.8,
        v_th 0.01, 5 refractory steps, τ_out 20 ms, 2 outputs."""
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            **PAPER_NETWORK,
            "dt": self.dt,
        }

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "T": self.T,
            "n_in": self.n_in,
            "n_cues": self.n_cues,
            "t_cue": self.t_cue,
            "t_interval": self.t_interval,
            "recall_duration": self.recall_duration,
            "f0": self.f0,
            "f_background": self.f_background,
            "first_cue": self.first_cue,
            "p_group": self.p_group,
            "counts": self.counts,
            "dt": self.dt,
        }
