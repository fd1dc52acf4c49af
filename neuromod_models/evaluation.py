"""Fresh trials of a trained network: loss, accuracy, spikes, rates per type and MDGL's signals.

What ``neuromod evaluate`` computes (the figures are drawn from these numpy arrays by
:mod:`neuromod_data.plotting_evaluate`). Trials come from their own seed stream — the seed
sequence ``(seed, 2)``; training draws from ``(seed, 0, iteration)`` and validation from ``(seed,
1, iteration)`` (:func:`neuromod_models.training.batch_seed`) — so an evaluation never reuses a
batch the network was trained or validated on.

The modulatory signal is what MDGL adds to each neuron's learning signal (docs/design.md, "MDGL"):
``L̃_p^t = L_p^t + Σ_j (1 − α_j) ψ_j^{t+1} L_j^{t+1} W̃_jp`` with ``L`` the readout's learning
signal (``(1 − κ) Σ_{t' ≥ t} κ^{t'−t} Bᵀ ∂E/∂y^{t'}``, ``B`` = ``W_out`` or the rule's random
feedback) and ``W̃`` the rule's type-averaged, gated weights now
(:func:`neuromod_models.modulation.modulation_terms`). ψ comes from the step-by-step reference
pass (:meth:`SpikingNetwork.forward_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._fast import flush_denormal
from .network import SpikingNetwork
from .rules import LearningRule, _learning_signal, make_rule
from .tasks import Task

__all__ = ["EVALUATION_STREAM", "TrialRecord", "evaluation_seed", "record_trials", "rule_from"]

#: index of the evaluation stream in the seed sequence (training 0, validation 1)
EVALUATION_STREAM = 2


def evaluation_seed(seed: int) -> int:
    """Seed of the evaluation batch for ``seed`` (its own stream, see the module docstring).

    Examples
    --------
    >>> from neuromod_models.training import batch_seed
    >>> evaluation_seed(0) not in (batch_seed(0, "train", 0), batch_seed(0, "validation", 0))
    True
    """
    a, b = np.random.SeedSequence([int(seed), EVALUATION_STREAM]).generate_state(2)
    return int(a) << 31 ^ int(b)


@dataclass
class TrialRecord:
    """What :func:`record_trials` measured, as numpy arrays (time-major; dt ms per step).

    ``loss``, ``accuracy`` (``None`` where the task has none); ``z`` spikes ``[T, B, N]`` (uint8);
    ``y`` readout ``[T, B, n_out]``; ``target`` labels ``[B]`` or traces ``[T, B, n_out]``;
    ``type_index`` ``[N]``; ``rate_hz`` per neuron; ``learning_signal`` and ``modulation``: mean
    absolute ``L`` and MDGL's added term per type and step ``[T, K]`` (``None`` where the rule has
    none: BPTT has no learning signal, e-prop no modulation).
    """

    loss: float
    accuracy: float | None
    z: np.ndarray
    y: np.ndarray
    target: np.ndarray
    type_index: np.ndarray
    rate_hz: np.ndarray
    dt: float
    learning_signal: np.ndarray | None = None
    modulation: np.ndarray | None = None

    def type_rates_hz(self, n_types: int) -> np.ndarray:
        """Mean rate (Hz) of each type's neurons over the trials ``[K]``."""
        counts = np.bincount(self.type_index, minlength=n_types)
        sums = np.bincount(self.type_index, weights=self.rate_hz, minlength=n_types)
        return np.divide(sums, counts, out=np.full(n_types, np.nan), where=counts > 0)


def rule_from(config: dict[str, Any] | None) -> LearningRule | None:
    """The learning rule a model file's ``rule`` entry describes (``None`` if none is recorded).

    Examples
    --------
    >>> rule_from({"name": "mdgl", "feedback": "symmetric", "variant": "local", "gate": "data",
    ...            "impl": "fused", "seed": 0})
    MDGL(variant='local', gate='data', feedback='symmetric', impl='fused')
    """
    if not isinstance(config, dict) or "name" not in config:
        return None
    name = config["name"]
    kw: dict[str, Any] = {"seed": int(config.get("seed", 0))}
    if name in ("eprop", "mdgl"):
        kw["feedback"] = config.get("feedback") or "symmetric"
    if name == "mdgl":
        kw["variant"] = config.get("variant") or "local"
        kw["gate"] = config.get("gate")
    return make_rule(name, **kw)


def _per_type(values: torch.Tensor, type_index: torch.Tensor, n_types: int) -> np.ndarray:
    """Mean of ``|values|`` ``[T, B, N]`` over trials and each type's neurons → ``[T, K]``."""
    per_neuron = values.abs().mean(dim=1)  # [T, N]
    onehot = torch.nn.functional.one_hot(type_index.long(), n_types).to(per_neuron.dtype)
    counts = onehot.sum(0).clamp(min=1)
    return (per_neuron @ onehot / counts).numpy()


@torch.no_grad()
def record_trials(
    net: SpikingNetwork,
    task: Task,
    *,
    trials: int = 64,
    seed: int = 0,
    rule: LearningRule | None = None,
) -> TrialRecord:
    """Run ``trials`` fresh trials of ``task`` through ``net`` and record what the evaluation needs.

    Parameters
    ----------
    net, task
        The network and its task (e.g. from :func:`neuromod_models.load_model`).
    trials
        Trials in the batch.
    seed
        Seed of the evaluation stream (:func:`evaluation_seed`).
    rule
        The rule the network was trained with: e-prop and MDGL give the learning signal per
        type, MDGL also its modulatory term.

    Examples
    --------
    >>> from neuromod_models.tasks import make_task
    >>> task = make_task("evidence_accumulation", T=100, t_cue=5, t_interval=10,
    ...                  recall_duration=20)
    >>> net = SpikingNetwork(**task.network_kwargs(), seed=0)
    >>> rec = record_trials(net, task, trials=4, rule=make_rule("mdgl"))
    >>> rec.z.shape, rec.modulation.shape, rec.type_rates_hz(2).shape
    ((100, 4, 100), (100, 2), (2,))
    """
    if int(trials) < 1:
        raise ValueError(f"trials must be a positive integer, got {trials}")
    p = next(net.parameters())
    batch = task.sample(int(trials), seed=evaluation_seed(seed), device=p.device, dtype=p.dtype)
    y, rates, z = net.run(batch.x)
    loss = float(task.loss(y, batch))
    acc = task.accuracy(y, batch)
    dt = float(net.config.get("dt", 1.0))
    rec = TrialRecord(
        loss=loss,
        accuracy=None if acc is None else float(acc),
        z=z.cpu().numpy().astype(np.uint8),
        y=y.cpu().numpy(),
        target=batch.target.cpu().numpy(),
        type_index=net.type_index.cpu().numpy(),
        rate_hz=rates.cpu().double().numpy() * 1000.0 / dt,
        dt=dt,
    )
    if rule is None or rule.name not in ("eprop", "mdgl"):
        return rec
    with torch.enable_grad():
        y_leaf = y.detach().requires_grad_(True)
        (gy,) = torch.autograd.grad(task.loss(y_leaf, batch), y_leaf)
    fb = rule.feedback_matrix(net)
    signal = _learning_signal(gy, net.w_out.detach() if fb is None else fb, net.kappa)
    k, ti = net.n_types, net.type_index.cpu()
    rec.learning_signal = _per_type(signal.cpu(), ti, k)
    if rule.name == "mdgl":
        with flush_denormal():
            _, psi = net.forward_steps(batch.x)
            wtil = rule.modulation(net).dense(net.synapses)
            drive = signal[1:] * psi[1:] * (1.0 - net.alpha)  # [T-1, B, N], modulated neuron j
            extra = torch.cat([drive @ wtil, torch.zeros_like(signal[:1])])
        rec.modulation = _per_type(extra.cpu(), ti, k)
    return rec
