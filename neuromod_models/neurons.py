"""LIF and ALIF neurons (docs/design.md, "Neuron model"; LSNN convention of Bellec et al. / Liu et
al. 2021, dt = 1 ms).

One time step, for neuron ``j`` with input current ``i_j^t = Σ_i Win_ji x_i^t + Σ_{i≠j} Wrec_ji z_i^{t-1}``::

    b_j^t = ρ b_j^{t-1} + (1-ρ) z_j^{t-1}
    A_j^t = v_th + β_j b_j^t                         (β_j = 0 for LIF cells)
    v_j^t = α v_j^{t-1} + (1-α) i_j^t - v_th z_j^{t-1}
    z_j^t = H(v_j^t - A_j^t), held at 0 for n_ref steps after a spike
    ψ_j^t = (γ / v_th) max(0, 1 - |v_j^t - A_j^t| / v_th), 0 while refractory

The refractory counter ``ref`` holds the number of steps the neuron is still held at 0: a spike at
step ``t`` sets it to ``n_ref``, so ``z`` is 0 at steps ``t+1 … t+n_ref`` (as the LSNN code's spike
buffer does). States are immutable named tuples and the step is a pure function; the fast sequence
code in :mod:`neuromod_models._fast` implements the same equations.

``surrogate="sigmoid"`` replaces the Heaviside by the smooth ``z = σ(k (v - A) / v_th)`` with its true
derivative as ψ; it exists so that gradients can be checked against finite differences in tests.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "NeuronParameters",
    "NeuronState",
    "initial_state",
    "make_parameters",
    "pseudo_derivative",
    "spike",
    "step",
]

#: steepness ``k`` of the smooth test-only surrogate ``σ(k (v - A) / v_th)``
SIGMOID_STEEPNESS = 4.0


class NeuronParameters(NamedTuple):
    """Constants of a population of LIF/ALIF neurons, one entry per neuron (tensors ``(N,)``).

    ``alpha`` = exp(-dt/τ_m), ``rho`` = exp(-dt/τ_a), ``beta`` (0 for LIF), ``v_th`` (threshold),
    ``n_ref`` (refractory steps, int64), ``gamma`` (pseudo-derivative dampening, one number),
    ``surrogate`` (``"heaviside"`` with the triangular pseudo-derivative, or the smooth test-only
    ``"sigmoid"``).
    """

    alpha: Tensor
    rho: Tensor
    beta: Tensor
    v_th: Tensor
    n_ref: Tensor
    gamma: float
    surrogate: str = "heaviside"


class NeuronState(NamedTuple):
    """State of the population after a step: membrane ``v``, adaptation ``b``, spikes ``z``,
    refractory counter ``ref`` (steps left, float), each ``[B, N]``."""

    v: Tensor
    b: Tensor
    z: Tensor
    ref: Tensor


def make_parameters(
    n: int,
    *,
    tau_m: float | Tensor = 20.0,
    tau_a: float | Tensor = 2000.0,
    beta: float | Tensor = 1.8,
    adaptive: Tensor | None = None,
    v_th: float | Tensor = 0.01,
    n_ref: int | Tensor = 5,
    gamma: float = 0.3,
    dt: float = 1.0,
    surrogate: str = "heaviside",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> NeuronParameters:
    """Build :class:`NeuronParameters` for ``n`` neurons.

    Every constant is one number for all neurons or one value per neuron (``(n,)``); ``adaptive``
    (bool, ``(n,)``) marks the ALIF cells (``beta`` is set to 0 elsewhere).

    Examples
    --------
    >>> p = make_parameters(4, adaptive=torch.tensor([True, False, True, False]))
    >>> [round(b, 3) for b in p.beta.tolist()], p.n_ref.tolist()
    ([1.8, 0.0, 1.8, 0.0], [5, 5, 5, 5])
    >>> make_parameters(2, v_th=torch.tensor([0.01, 0.02])).v_th.tolist()
    [0.009999999776482582, 0.019999999552965164]
    """
    if surrogate not in ("heaviside", "sigmoid"):
        raise ValueError(f"surrogate must be 'heaviside' or 'sigmoid', got {surrogate!r}")

    def per_neuron(val: float | Tensor, name: str, kind: torch.dtype = dtype) -> Tensor:
        # from a Python number directly in the target dtype (0.01 must not pass through float32)
        t = torch.as_tensor(val, device=device, dtype=None if isinstance(val, Tensor) else kind)
        t = t.to(kind)
        if t.dim() == 0:
            return t.expand(n).clone()
        if t.numel() != n:
            raise ValueError(f"{name} has {t.numel()} values for {n} neurons")
        return t.reshape(n).clone()

    tm, ta = per_neuron(tau_m, "tau_m"), per_neuron(tau_a, "tau_a")
    if bool((tm <= 0).any()) or bool((ta <= 0).any()):
        raise ValueError("time constants tau_m and tau_a must be positive")
    alpha = torch.exp(-dt / tm)
    rho = torch.exp(-dt / ta)
    bet = per_neuron(beta, "beta")
    if adaptive is not None:
        bet = bet * torch.as_tensor(adaptive, device=device).reshape(n).to(dtype)
    th = per_neuron(v_th, "v_th")
    if not bool((th > 0).all()):
        raise ValueError("thresholds v_th must be positive")
    ref = per_neuron(n_ref, "n_ref", torch.int64)
    if bool((ref < 0).any()):
        raise ValueError("refractory steps n_ref must be >= 0")
    return NeuronParameters(alpha, rho, bet, th, ref, float(gamma), surrogate)


def initial_state(
    batch: int,
    n: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> NeuronState:
    """All-zero state (at rest, no adaptation, not refractory)."""
    zeros = torch.zeros(batch, n, device=device, dtype=dtype)
    return NeuronState(zeros, zeros.clone(), zeros.clone(), zeros.clone())


def pseudo_derivative(d: Tensor, p: NeuronParameters) -> Tensor:
    """ψ as a function of ``d = v - A`` (before the refractory mask)."""
    if p.surrogate == "sigmoid":
        s = torch.sigmoid(SIGMOID_STEEPNESS * d / p.v_th)
        return s * (1 - s) * (SIGMOID_STEEPNESS / p.v_th)
    return (p.gamma / p.v_th) * torch.clamp(1.0 - d.abs() / p.v_th, min=0.0)


class _Spike(torch.autograd.Function):
    """z = H(d)·(1 - refractory) forward, ψ backward."""

    @staticmethod
    def forward(ctx, d: Tensor, free: Tensor, p: NeuronParameters) -> Tensor:  # type: ignore[override]
        if p.surrogate == "sigmoid":
            z = torch.sigmoid(SIGMOID_STEEPNESS * d / p.v_th) * free
        else:
            z = (d > 0).to(d.dtype) * free
        ctx.save_for_backward(d, free)
        ctx.p = p
        return z

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        d, free = ctx.saved_tensors
        return grad * pseudo_derivative(d, ctx.p) * free, None, None


def spike(d: Tensor, free: Tensor, p: NeuronParameters) -> Tensor:
    """Spikes of neurons with ``d = v - A``; ``free`` is 1 where not refractory (surrogate gradient ψ)."""
    return _Spike.apply(d, free, p)


def step(state: NeuronState, current: Tensor, p: NeuronParameters) -> tuple[NeuronState, Tensor]:
    """Advance one time step given the input current ``i^t`` ``[B, N]``; returns ``(new_state, ψ)``.

    Differentiable (autograd flows through the surrogate ψ and through reset and adaptation).

    Examples
    --------
    >>> p = make_parameters(1, adaptive=torch.tensor([False]), n_ref=2)
    >>> s = initial_state(1, 1)
    >>> zs = []
    >>> for _ in range(8):
    ...     s, _ = step(s, torch.tensor([[0.25]]), p)
    ...     zs.append(int(s.z))
    >>> zs
    [1, 0, 0, 1, 0, 0, 1, 0]
    """
    b = p.rho * state.b + (1 - p.rho) * state.z
    v = p.alpha * state.v + (1 - p.alpha) * current - p.v_th * state.z
    d = v - p.v_th - p.beta * b
    free = (state.ref <= 0).to(v.dtype)
    z = spike(d, free, p)
    psi = pseudo_derivative(d.detach(), p) * free
    spiked = (z.detach() > 0.5).to(v.dtype)
    ref = torch.clamp(state.ref - 1, min=0) * (1 - spiked) + p.n_ref.to(v.dtype) * spiked
    return NeuronState(v, b, z, ref), psi
