"""What every task shares: the :class:`Batch` it samples and the :class:`Task` interface.

Tensors are time-major (``x`` is ``[T, B, n_in]``, network outputs ``y`` are ``[T, B, n_out]``) and
one time step is ``dt`` ms (1 ms throughout; docs/design.md, "Tasks"). Randomness comes only from the
``torch.Generator`` passed to :meth:`Task.sample` (or a seed), drawn on the CPU so that a batch is the
same whatever device it is moved to.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["Batch", "Task", "make_generator", "poisson_spikes"]


class Batch(NamedTuple):
    """One batch of a task.

    ``x``: input spikes ``[T, B, n_in]``; ``target``: class labels ``[B]`` (long) for classification
    tasks or target traces ``[T, B, n_out]`` for regression; ``info``: task-specific extras (cue
    sides, rates, ...), kept on the CPU.
    """

    x: Tensor
    target: Tensor
    info: dict[str, Any]

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Batch:
        """The batch with ``x`` (and float targets) moved to ``device`` / cast to ``dtype``."""
        x = self.x.to(device=device, dtype=dtype or self.x.dtype)
        if self.target.is_floating_point():
            target = self.target.to(device=device, dtype=dtype or self.target.dtype)
        else:
            target = self.target.to(device=device)
        return Batch(x, target, self.info)


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A CPU ``torch.Generator``: the one given, or a new one seeded with ``seed`` (0 if ``None``)."""
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator(device="cpu")
    g.manual_seed(0 if seed is None else int(seed))
    return g


def poisson_spikes(
    rates_hz: Tensor, *, dt: float, generator: torch.Generator, counts: bool = False
) -> Tensor:
    """Poisson spike trains on a grid of ``dt`` ms, as float32 of the shape of ``rates_hz`` (Hz).

    ``counts=False``: the Bernoulli approximation, a spike (1) with probability ``rate·dt`` per step.
    ``counts=True``: Poisson counts with mean ``rate·dt`` per step, so a step can carry 2 or more
    spikes (what ``numpy.random.poisson`` gives, as in the authors' evidence-accumulation code).

    Examples
    --------
    >>> g = make_generator(0)
    >>> x = poisson_spikes(torch.full((20000,), 40.0), dt=1.0, generator=g, counts=True)
    >>> round(float(x.mean()), 2), bool((x >= 2).any())
    (0.04, True)
    """
    p = rates_hz.to(torch.float32) * (dt / 1000.0)
    if counts:
        return torch.poisson(p, generator=generator)
    u = torch.rand(rates_hz.shape, generator=generator, dtype=torch.float32)
    return torch.lt(u, p, out=p)  # reuse p's memory: the batch is the largest tensor drawn


class Task:
    """Interface of a task: a generator of batches with a loss and an accuracy.

    Subclasses set ``name``, ``n_in``, ``n_out``, ``T`` (steps) and ``dt`` (ms) and implement
    :meth:`sample`, :meth:`loss`, :meth:`accuracy` and :meth:`network_kwargs`.
    """

    name: str = "task"
    n_in: int
    n_out: int
    T: int
    dt: float = 1.0

    # ------------------------------------------------------------------ API
    def sample(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Batch:
        """Draw a batch of ``batch_size`` trials from ``generator`` (or a fresh one seeded ``seed``)."""
        if generator is not None and seed is not None:
            raise ValueError("give either generator or seed, not both")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        g = generator if generator is not None else make_generator(seed)
        return self._sample(int(batch_size), g).to(device=device, dtype=dtype)

    def _sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def loss(self, y: Tensor, batch: Batch) -> Tensor:
        """Scalar loss of network outputs ``y`` ``[T, B, n_out]`` on ``batch``."""
        raise NotImplementedError

    def accuracy(self, y: Tensor, batch: Batch) -> float | None:
        """Fraction of correct trials, or ``None`` where the task has no notion of accuracy."""
        return None

    def network_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`neuromod_models.network.SpikingNetwork` for this task."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The task's parameters (JSON-serialisable); ``make_task(**config)`` rebuilds it."""
        raise NotImplementedError

    def loss_fn(self, batch: Batch):
        """``loss_fn(y) -> scalar`` bound to ``batch`` — the form the learning rules take."""
        return lambda y: self.loss(y, batch)

    def _check_y(self, y: Tensor, batch: Batch) -> None:
        if y.dim() != 3 or y.shape[0] != batch.x.shape[0] or y.shape[1] != batch.x.shape[1]:
            raise ValueError(
                f"{self.name}: outputs must be [T, B, n_out] = [{batch.x.shape[0]}, {batch.x.shape[1]}, "
                f"{self.n_out}], got {list(y.shape)}"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class _Classification(Task):
    """Shared loss/accuracy of the tasks that answer with a class at the last step.

    These tasks also share the four-group input layout (left, right, recall, background).
    """

    def _steps(self, ms: float) -> int:
        return int(round(ms / self.dt))

    @property
    def n_channel(self) -> int:
        """Channels per input group (10 for 40 inputs)."""
        return self.n_in // 4

    def loss(self, y: Tensor, batch: Batch) -> Tensor:
        """Softmax cross-entropy of the last step's outputs (logits) against the labels."""
        self._check_y(y, batch)
        return torch.nn.functional.cross_entropy(y[-1], batch.target.to(y.device))

    def accuracy(self, y: Tensor, batch: Batch) -> float:
        """Fraction of trials whose last-step arg-max equals the label."""
        self._check_y(y, batch)
        pred = y[-1].argmax(dim=-1)
        return float((pred == batch.target.to(pred.device)).float().mean().item())
