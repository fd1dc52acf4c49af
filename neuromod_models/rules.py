"""Learning rules behind one interface: BPTT, e-prop (fused, autograd-by-detach, online) and MDGL.

>>> import torch
>>> from neuromod_models import SpikingNetwork, make_rule
>>> net = SpikingNetwork(4, 12, 2, seed=0)
>>> rule = make_rule("mdgl", variant="local")
>>> out = rule.backward(net, torch.rand(40, 3, 4), lambda y: (y[-1] ** 2).mean())
>>> net.theta_rec.grad.shape == (net.synapses.nnz,)   # one entry per recurrent synapse
True

Every rule runs the forward pass, computes its gradient and **accumulates** it into ``.grad`` of the
network parameters (like ``loss.backward()``), returning :class:`RuleOutput` (detached loss, y, z).

Implementations (``impl``):

``"fused"`` (default)
    the hand-written sequence code of :mod:`neuromod_models._fast` (exact BPTT; e-prop and MDGL as
    an element-wise per-neuron backward plus one weight-gradient product).
``"autograd"``
    a reference built from :func:`neuromod_models.neurons.step` and autograd: BPTT through
    everything; e-prop as autograd with ``z^{t-1}`` detached in the Wrec path only (the memory-lean
    way); MDGL as two passes (learning signal first, then the modulated signal injected on z).
``"online"`` (e-prop only)
    forward-mode eligibility traces, memory independent of T (O(B·N·(N+N_in)) state), with the
    readout-only learning signal applied online through the readout filter (:class:`OnlineEprop`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ._fast import Modulation, SequenceConfig, exp_filter, exp_filter_reverse, flush_denormal
from .modulation import VARIANTS, check_gate, modulation_terms, resolve_gate
from .network import SpikingNetwork
from .neurons import initial_state, step

__all__ = ["BPTT", "MDGL", "EProp", "LearningRule", "OnlineEprop", "RuleOutput", "make_rule"]

LossFn = Callable[[Tensor], Tensor]
#: a penalty on each neuron's mean spike count per step ``[N]`` (averaged over time and trials), e.g.
#: :class:`~neuromod_models.regularization.FiringRateRegularizer`
Regularizer = Callable[[Tensor], Tensor]


class RuleOutput(NamedTuple):
    """What a rule's backward returns: the (detached) task loss, readout ``y``, spikes ``z``
    (``uint8``) and the regulariser's value (``penalty``, 0 without one); the rule descends
    ``loss + penalty``."""

    loss: Tensor
    y: Tensor
    z: Tensor
    penalty: Tensor | None = None


def _scalar_loss(loss: Tensor) -> Tensor:
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn must return a scalar tensor")
    return loss.reshape(())


def _total(loss: Tensor, rates: Tensor, regularizer: Regularizer | None) -> tuple[Tensor, Tensor]:
    """``(loss + penalty, penalty)`` with the regulariser's penalty on the rates (0 without one)."""
    if regularizer is None:
        return loss, loss.new_zeros(())
    penalty = _scalar_loss(regularizer(rates))
    return loss + penalty, penalty


def _output(loss: Tensor, y: Tensor, z: Tensor, penalty: Tensor) -> RuleOutput:
    z = z.detach()
    if z.dtype != torch.uint8:
        z = (z > 0.5).to(torch.uint8)
    return RuleOutput(loss.detach(), y.detach(), z, penalty.detach())


def _rates(z: Tensor) -> Tensor:
    return z.mean(dim=(0, 1))


class LearningRule:
    """Base class: ``backward(net, x, loss_fn)`` accumulates the rule's gradient into ``.grad``."""

    name = "rule"

    def __init__(self, *, feedback: str = "symmetric", impl: str = "fused", seed: int = 0) -> None:
        if feedback not in ("symmetric", "random"):
            raise ValueError(f"feedback must be 'symmetric' or 'random', got {feedback!r}")
        self.feedback = feedback
        self.impl = impl
        self.seed = int(seed)
        self._fb_cache: dict = {}

    def feedback_matrix(self, net: SpikingNetwork) -> Tensor | None:
        """Fixed random feedback ``B`` ``[n_out, N]`` (drawn from ``seed``), or ``None`` (symmetric)."""
        if self.feedback == "symmetric":
            return None
        w = net.theta_rec
        key = (net.n_out, net.n_rec, w.device, w.dtype)
        if key not in self._fb_cache:
            gen = torch.Generator().manual_seed(self.seed + 7919)
            b = torch.randn(net.n_out, net.n_rec, generator=gen, dtype=torch.float64)
            self._fb_cache[key] = (b / net.n_rec**0.5).to(device=w.device, dtype=w.dtype)
        return self._fb_cache[key]

    def _prepare(self, net: SpikingNetwork, x: Tensor) -> Tensor:
        net._check_input(x)
        return x.to(dtype=net.theta_rec.dtype, device=net.theta_rec.device)

    def backward(
        self,
        net: SpikingNetwork,
        x: Tensor,
        loss_fn: LossFn,
        *,
        regularizer: Regularizer | None = None,
    ) -> RuleOutput:
        """Run ``net`` on ``x`` ``[T, B, n_in]`` and accumulate this rule's gradient of
        ``loss_fn(y) + regularizer(rates)`` into the parameters' ``.grad`` (``rates``: each
        neuron's mean spike count per step)."""
        raise NotImplementedError

    def config(self) -> dict:
        """The options that recreate this rule with :func:`make_rule` (JSON-serialisable)."""
        out = {"name": self.name, "feedback": self.feedback, "impl": self.impl, "seed": self.seed}
        for key in ("variant", "gate"):
            if hasattr(self, key):
                out[key] = getattr(self, key)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(feedback={self.feedback!r}, impl={self.impl!r})"


def _fused(
    net: SpikingNetwork,
    x: Tensor,
    loss_fn: LossFn,
    cfg: SequenceConfig,
    regularizer: Regularizer | None,
) -> RuleOutput:
    y, rates, z = net.run(x, cfg)
    loss = _scalar_loss(loss_fn(y))
    total, penalty = _total(loss, rates, regularizer)
    total.backward()
    return _output(loss, y, z, penalty)


class BPTT(LearningRule):
    """Backpropagation through time through the surrogate ψ (exact gradient of the model)."""

    name = "bptt"

    def __init__(self, *, impl: str = "fused", seed: int = 0) -> None:
        if impl not in ("fused", "autograd"):
            raise ValueError(f"BPTT impl must be 'fused' or 'autograd', got {impl!r}")
        super().__init__(feedback="symmetric", impl=impl, seed=seed)

    def backward(
        self,
        net: SpikingNetwork,
        x: Tensor,
        loss_fn: LossFn,
        *,
        regularizer: Regularizer | None = None,
    ) -> RuleOutput:
        x = self._prepare(net, x)
        if self.impl == "fused":
            return _fused(net, x, loss_fn, net.sequence_config("bptt"), regularizer)
        out, _ = net.forward_steps(x)
        loss = _scalar_loss(loss_fn(out.y))
        total, penalty = _total(loss, _rates(out.z), regularizer)
        with flush_denormal():
            total.backward()
        return _output(loss, out.y, out.z, penalty)


def _learning_signal(gy: Tensor, fb: Tensor, kappa: float) -> Tensor:
    """``L^t = (1-κ) Σ_{t'≥t} κ^{t'-t} fbᵀ ∂E/∂y^{t'}`` ``[T, B, N]``."""
    return (exp_filter_reverse(gy, kappa) * (1.0 - kappa)) @ fb


def _inject(
    net: SpikingNetwork,
    x: Tensor,
    loss_fn: LossFn,
    fb: Tensor,
    wtil: Tensor | None,
    regularizer: Regularizer | None,
) -> RuleOutput:
    """Autograd e-prop/MDGL with an explicit learning signal: readout grads from the loss, recurrent
    and input grads by injecting ``L̃`` on the spikes of the detached-recurrent forward pass."""
    out, psi = net.forward_steps(x, detach_recurrent=True)
    z = out.z
    y = exp_filter(z.detach() @ net.w_out.T, net.kappa) + net.b_out
    loss = _scalar_loss(loss_fn(y))
    zd = z.detach().requires_grad_(regularizer is not None)
    _, penalty = _total(loss, _rates(zd), regularizer)
    with flush_denormal():
        (gy,) = torch.autograd.grad(loss, y, retain_graph=True)
        sig = _learning_signal(gy, fb.detach(), net.kappa)
        if regularizer is not None:
            # the penalty's own gradient on z joins the learning signal (like the fused code)
            sig = sig + torch.autograd.grad(penalty, zd)[0]
        if wtil is not None:
            extra = (sig[1:] * psi[1:] * (1.0 - net.alpha)) @ wtil
            sig = sig + torch.cat([extra, torch.zeros_like(sig[:1])])
        loss.backward()
        z.backward(sig)
    return _output(loss, y, z, penalty)


class EProp(LearningRule):
    """e-prop (Bellec et al. 2020): readout-only learning signal times eligibility traces."""

    name = "eprop"

    def __init__(
        self,
        *,
        feedback: str = "symmetric",
        online: bool = False,
        impl: str | None = None,
        seed: int = 0,
    ) -> None:
        impl = impl or ("online" if online else "fused")
        if impl not in ("fused", "autograd", "online"):
            raise ValueError(f"e-prop impl must be 'fused', 'autograd' or 'online', got {impl!r}")
        super().__init__(feedback=feedback, impl=impl, seed=seed)

    def modulation(self, net: SpikingNetwork) -> Modulation | None:
        return None

    def backward(
        self,
        net: SpikingNetwork,
        x: Tensor,
        loss_fn: LossFn,
        *,
        regularizer: Regularizer | None = None,
    ) -> RuleOutput:
        x = self._prepare(net, x)
        fb = self.feedback_matrix(net)
        wtil = self.modulation(net)
        if self.impl == "fused":
            cfg = net.sequence_config("eprop", feedback=fb, modulation=wtil)
            return _fused(net, x, loss_fn, cfg, regularizer)
        if self.impl == "online":
            if regularizer is not None:
                raise ValueError(
                    "online e-prop takes no regularizer (its learning signal is the readout's only)"
                )
            return OnlineEprop(net, feedback=fb).run(x, loss_fn)
        if fb is None and wtil is None:
            out, _ = net.forward_steps(x, detach_recurrent=True)
            loss = _scalar_loss(loss_fn(out.y))
            total, penalty = _total(loss, _rates(out.z), regularizer)
            with flush_denormal():
                total.backward()
            return _output(loss, out.y, out.z, penalty)
        wtil_dense = None if wtil is None else wtil.dense(net.synapses)
        return _inject(net, x, loss_fn, net.w_out if fb is None else fb, wtil_dense, regularizer)


class MDGL(EProp):
    """MDGL (Liu et al. 2021): e-prop plus one-step credit carried by cell-type-specific modulation.

    ``L̃ = L + (1-α)·W̃ᵀ(Lψ)_{t+1}`` with ``W̃`` from :func:`modulatory_matrix`, recomputed every
    call from the current weights. ``variant``: ``local``, ``nonlocal`` or ``exact``; ``gate``: see
    :func:`neuromod_models.modulation.resolve_gate`.
    """

    name = "mdgl"

    def __init__(
        self,
        *,
        feedback: str = "symmetric",
        variant: str = "local",
        gate: str | None = None,
        impl: str | None = None,
        seed: int = 0,
    ) -> None:
        impl = impl or "fused"
        if impl not in ("fused", "autograd"):
            raise ValueError(f"MDGL impl must be 'fused' or 'autograd', got {impl!r}")
        if variant not in VARIANTS:
            raise ValueError(f"unknown MDGL variant {variant!r}; choose one of {VARIANTS}")
        check_gate(gate)
        if gate == "none":
            gate = None
        super().__init__(feedback=feedback, impl=impl, seed=seed)
        self.variant = variant
        self.gate = gate
        self.gate_matrix: Tensor | None = None  # set to override the structure's gate

    def modulation(self, net: SpikingNetwork) -> Modulation:
        """``W̃`` from the current weights (:func:`neuromod_models.modulation.modulation_terms`)."""
        if self.gate_matrix is not None:
            g, ei = self.gate_matrix, False
        else:
            g, ei = resolve_gate(net.structure, self.gate, seed=self.seed)
        if ei:
            types, k = (net.signs < 0).long(), 2
        else:
            types, k = net.type_index, net.n_types
        return modulation_terms(
            net.w_rec_values, net.synapses, types, k, variant=self.variant, gate=g
        )

    def __repr__(self) -> str:
        return (
            f"MDGL(variant={self.variant!r}, gate={self.gate!r}, feedback={self.feedback!r}, "
            f"impl={self.impl!r})"
        )


def _scalar_or(t: Tensor, shape: tuple[int, ...]) -> float | Tensor:
    """A Python float when every entry of ``t`` is equal (cheaper elementwise updates), else ``t``
    reshaped to ``shape``."""
    flat = t.reshape(-1)
    return float(flat[0]) if bool((flat == flat[0]).all()) else t.reshape(shape)


class OnlineEprop:
    """Forward-mode e-prop: eligibility traces carried along time, memory independent of T.

    State per sample: ``ε^v``, ``ε^a`` and the readout-filtered eligibility ``ē`` over all input and
    recurrent synapses, ``[B, N, N + n_in]``. Per step::

        ε^v_t = α ε^v_{t-1} - v_th e_{t-1} + (1-α) pre_t        (pre = [z^{t-1}, x^t])
        ε^a_t = ρ ε^a_{t-1} + (1-ρ) e_{t-1}
        e_t   = ψ_t (ε^v_t - β ε^a_t),      ē_t = κ ē_{t-1} + (1-κ) e_t

    and ``Σ_t L^t e^t = Σ_t (Bᵀ ∂E/∂y^t) ⊙ ē^t`` accumulates online (readout-only learning signal).
    Use :meth:`run` for a whole batch (a cheap no-grad pass gives ∂E/∂y, then the online pass), or
    :meth:`reset` / :meth:`step` / :meth:`learn` / :meth:`write_grads` for streaming.
    """

    def __init__(self, net: SpikingNetwork, *, feedback: Tensor | None = None) -> None:
        self.net = net
        self.feedback = feedback

    def reset(self, batch_size: int) -> None:
        """Start a new batch of ``batch_size`` sequences from rest (gradients gathered so far are kept
        until :meth:`write_grads`)."""
        net = self.net
        w = net.theta_rec
        kw = dict(device=w.device, dtype=w.dtype)
        n, n_pre = net.n_rec, net.n_rec + net.n_in
        self.state = initial_state(batch_size, n, **kw)
        # traces laid out [post N, batch B, pre N + n_in]: per-neuron factors broadcast as [N, 1, 1],
        # presynaptic activity as [1, B, pre], and the gradient is one batched product per step
        self.ev = torch.zeros(n, batch_size, n_pre, **kw)
        self.ea = torch.zeros_like(self.ev)
        self.e = torch.zeros_like(self.ev)
        self.ebar = torch.zeros_like(self.ev)
        self.psp = torch.zeros(batch_size, n, **kw)
        if not hasattr(self, "g_pre") or self.g_pre.shape != (n, n_pre):
            self.g_pre = torch.zeros(n, n_pre, **kw)
            self.g_out = torch.zeros(net.n_out, n, **kw)
            self.g_b = torch.zeros(net.n_out, **kw)
        with torch.no_grad():
            self._w_in, self._w_rec, self._w_out = net.w_in, net.w_rec, net.w_out
            self._fb = self._w_out if self.feedback is None else self.feedback
        p = net.params
        col = (-1, 1, 1)
        self._alpha, self._one_m_alpha = p.alpha.reshape(col), (1 - p.alpha).reshape(col)
        self._rho, self._one_m_rho = p.rho.reshape(col), (1 - p.rho).reshape(col)
        self._beta = p.beta.reshape(col)
        self._v_th = _scalar_or(p.v_th, col)
        self._adaptive = bool((p.beta != 0).any())

    def step(self, x_t: Tensor) -> Tensor:
        """Advance one step with input ``x_t`` ``[B, n_in]``; returns ``y_t`` ``[B, n_out]``."""
        with torch.no_grad(), flush_denormal():
            return self._step(x_t)

    def _step(self, x_t: Tensor) -> Tensor:
        net, p = self.net, self.net.params
        z_prev = self.state.z
        pre = torch.cat([z_prev, x_t], dim=1)[None]
        # ε^v = α ε^v - v_th e + (1-α) pre ;  ε^a = ρ ε^a + (1-ρ) e   (e from the previous step)
        self.ev.mul_(self._alpha)
        if isinstance(self._v_th, float):  # one threshold for all: the cheaper scalar update
            self.ev.add_(self.e, alpha=-self._v_th)
        else:
            self.ev.addcmul_(self.e, self._v_th, value=-1.0)
        self.ev.addcmul_(self._one_m_alpha, pre)
        if self._adaptive:
            self.ea.mul_(self._rho).addcmul_(self._one_m_rho, self.e)
        cur = torch.addmm(z_prev @ self._w_rec.T, x_t, self._w_in.T)
        self.state, psi = step(self.state, cur, p)
        psi_col = psi.T[:, :, None]
        if self._adaptive:
            torch.addcmul(self.ev, self._beta, self.ea, value=-1.0, out=self.e).mul_(psi_col)
        else:
            torch.mul(self.ev, psi_col, out=self.e)
        self.ebar.mul_(net.kappa).add_(self.e, alpha=1 - net.kappa)
        self.psp.mul_(net.kappa).add_(self.state.z, alpha=1 - net.kappa)
        return self.psp @ self._w_out.T + net.b_out.detach()

    @torch.no_grad()
    def learn(self, gy_t: Tensor) -> None:
        """Accumulate the gradient for ``∂E/∂y_t`` ``[B, n_out]`` of the current step."""
        sig = gy_t @ self._fb  # [B, N]
        self.g_pre += torch.bmm(sig.T.contiguous()[:, None, :], self.ebar).squeeze(1)
        self.g_out += gy_t.T @ self.psp
        self.g_b += gy_t.sum(0)

    def write_grads(self) -> None:
        """Accumulate the gathered gradients into the parameters' ``.grad``."""
        net, n = self.net, self.net.n_rec
        torch.autograd.backward(
            [net.w_rec, net.w_in, net.w_out, net.b_out],
            [self.g_pre[:, :n], self.g_pre[:, n:], self.g_out, self.g_b],
        )
        del self.g_pre, self.g_out, self.g_b

    @torch.no_grad()
    def _outputs(self, x: Tensor) -> Tensor:
        """A first pass that keeps only the readout (memory O(B·N) besides y)."""
        net, p = self.net, self.net.params
        w_in, w_rec, w_out = net.w_in, net.w_rec, net.w_out
        state = initial_state(x.shape[1], net.n_rec, device=x.device, dtype=x.dtype)
        psp = torch.zeros_like(state.z)
        ys = []
        for x_t in x.unbind(0):
            state, _ = step(state, torch.addmm(state.z @ w_rec.T, x_t, w_in.T), p)
            psp.mul_(net.kappa).add_(state.z, alpha=1 - net.kappa)
            ys.append(psp @ w_out.T)
        return torch.stack(ys) + net.b_out.detach()

    def run(self, x: Tensor, loss_fn: LossFn) -> RuleOutput:
        """Whole-batch online e-prop: a readout-only pass gives ∂E/∂y, then the trace pass."""
        with flush_denormal():
            y0 = self._outputs(x).requires_grad_(True)
            with torch.enable_grad():
                loss = _scalar_loss(loss_fn(y0))
                (gy,) = torch.autograd.grad(loss, y0)
            self.reset(x.shape[1])
            ys, zs = [], []
            for x_t, gy_t in zip(x.unbind(0), gy.unbind(0)):
                with torch.no_grad():
                    ys.append(self._step(x_t))
                zs.append(self.state.z)
                self.learn(gy_t)
        self.write_grads()
        return RuleOutput(loss.detach(), torch.stack(ys), torch.stack(zs))


def make_rule(
    name: str,
    *,
    feedback: str | None = None,
    variant: str | None = None,
    gate: str | None = None,
    online: bool = False,
    impl: str | None = None,
    seed: int = 0,
) -> LearningRule:
    """Create a learning rule; an option that does not apply to the rule is an error.

    Parameters
    ----------
    name
        ``"bptt"``, ``"eprop"`` or ``"mdgl"``.
    feedback
        e-prop/MDGL learning-signal feedback: ``"symmetric"`` (``Wout``, default) or ``"random"``
        (fixed ``B``).
    variant
        MDGL: ``"local"`` (default), ``"nonlocal"`` or ``"exact"``.
    gate
        MDGL modulation gate: ``"ones"`` (G = 1 over the structure's types, the gate MDGL's
        derivation calls for; ``None`` and ``"none"`` mean the same), ``"data"``, ``"binary"``,
        or a control: ``"label-permuted"``, ``"grid-shuffled"``, ``"uniform"``, ``"ei"``
        (:mod:`neuromod_data.controls`).
    online
        e-prop: forward-mode implementation whose memory does not grow with T.
    impl
        ``"fused"`` (default), ``"autograd"`` (reference) or ``"online"``.
    seed
        Seed of the random feedback matrix and of the controls' random draws.

    Examples
    --------
    >>> make_rule("mdgl", variant="nonlocal", gate="data")
    MDGL(variant='nonlocal', gate='data', feedback='symmetric', impl='fused')
    >>> make_rule("bptt", gate="data")
    Traceback (most recent call last):
    ...
    ValueError: option gate='data' does not apply to bptt (it takes: impl, seed)
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    given = {"feedback": feedback, "variant": variant, "gate": gate, "online": online or None}
    takes = {
        "bptt": (),
        "eprop": ("feedback", "online"),
        "mdgl": ("feedback", "variant", "gate"),
    }
    if key not in takes:
        raise ValueError(f"unknown learning rule {name!r}; choose 'bptt', 'eprop' or 'mdgl'")
    for option, value in given.items():
        if value is not None and option not in takes[key]:
            allowed = ", ".join((*takes[key], "impl", "seed"))
            raise ValueError(
                f"option {option}={value!r} does not apply to {key} (it takes: {allowed})"
            )
    if key == "bptt":
        return BPTT(impl=impl or "fused", seed=seed)
    if key == "eprop":
        return EProp(feedback=feedback or "symmetric", online=online, impl=impl, seed=seed)
    return MDGL(
        feedback=feedback or "symmetric",
        variant=variant or "local",
        gate=gate,
        impl=impl,
        seed=seed,
    )
