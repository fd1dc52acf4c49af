"""A recurrent network of LIF/ALIF neurons that carry the cell types of a :class:`CellTypeStructure`.

Neurons are assigned to types in proportion to the type abundances (contiguous blocks in type order)
and take their Dale sign from their type. Weights keep their sign: ``W = sign ⊙ relu(θ)`` on the
sampled connections.

* recurrent and output weights: sign of the presynaptic neuron's type (Dale's law);
* input weights: sign of the input channel (80 % excitatory channels in random order), as in the
  authors' code.

What the structure carries decides the rest (docs/design.md, "Networks from data"); without
intrinsic parameters or connectivity the network is the paper's:

* intrinsic parameters (``structure.intrinsic``, from Patch-seq electrophysiology): every neuron
  draws its τ_m, τ_a, β, threshold and refractory period from its type's per-cell distribution and
  adapts with the probability of its type's adapting fraction (``heterogeneity=False``: every
  neuron takes its type's median and adapts if most of its type does); otherwise all neurons
  share the constants given here and ``n_adaptive`` of them adapt;
* connectivity (``structure.connectivity``, e.g. from Billeh et al. 2020): the recurrent synapse
  from a neuron of type ``a`` onto one of type ``b`` exists with probability ``probability[a, b]``
  and its initial magnitude is scaled by ``strength[a, b]`` (relative to the mean over the sampled
  synapses); the authors' E/I balance is applied to these synapses, after they are drawn, and the
  matrix scaled to the spectral radius of the uniform network of the same seed; otherwise every
  pair is connected with probability ``p_rec``.

Recurrent weights are stored for the sampled synapses only (:class:`~neuromod_models._fast.Synapses`,
``theta_rec`` has one entry per synapse); :attr:`SpikingNetwork.w_rec` gives the dense matrix.
A weight that would flip sign is cut (:meth:`SpikingNetwork.apply_constraints` sets its θ to 0).
Initialisation: :func:`neuromod_models.init.balanced_signed` (the authors' balanced, spectral-radius-1
recipe) for all three matrices, then the sparse masks; recurrent synapses from the structure's
connectivity: :func:`neuromod_models.init.balance_masked` after the mask.
Time-major tensors: ``x`` ``[T, B, n_in]`` → ``y`` ``[T, B, n_out]``, ``z`` ``[T, B, N]``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from neuromod_data.errors import CellTypeError
from neuromod_data.structure import CellTypeStructure

from ._fast import (
    Modulation,
    SequenceConfig,
    Synapses,
    Tiling,
    Workspace,
    exp_filter,
    flush_denormal,
    run_sequence,
)
from .init import (
    allocate_types,
    balance_masked,
    balanced_signed,
    random_mask,
    spectral_radius,
)
from .neurons import NeuronParameters, NeuronState, initial_state, make_parameters, step

__all__ = ["NetworkOutput", "SpikingNetwork"]


class NetworkOutput(NamedTuple):
    """Result of a forward pass: readout ``y`` ``[T, B, n_out]`` and spikes ``z`` ``[T, B, N]``."""

    y: Tensor
    z: Tensor


class SpikingNetwork(nn.Module):
    """Recurrent spiking network (docs/design.md, "Neuron model") with cell types, Dale's law and
    sparse connectivity.

    Parameters
    ----------
    n_in, n_rec, n_out
        Numbers of input channels, recurrent neurons and outputs.
    structure
        Cell types (abundances, E/I signs, modulation, optionally intrinsic parameters and
        connectivity); default ``CellTypeStructure.ei(frac_excitatory)``.
    n_adaptive
        Number of ALIF neurons (default half); ignored when the structure's intrinsic parameters
        decide which neurons adapt.
    adaptive_placement
        ``"random"``: the adaptive neurons are drawn among all neurons; ``"excitatory"``: among the
        excitatory ones only (as in the authors' network, whose 50 ALIF neurons are all excitatory).
    frac_excitatory
        Excitatory fraction of the default two-type structure when ``structure`` is ``None``
        (0.8; the authors' network has 81 of 100, ``int(0.8·100) + 1``).
    tau_m, tau_a, beta, v_th, n_ref, tau_out, dt, gamma
        Neuron and readout constants (ms, dt = 1 ms); τ_m, τ_a, β, v_th and n_ref are replaced by
        the structure's intrinsic parameters when it has them (and ``intrinsic`` is not ``False``).
    intrinsic
        Use the structure's intrinsic parameters (default: when it has them).
    heterogeneity
        With intrinsic parameters, draw every neuron's values from its type's per-cell distribution
        (log-normal around the type's median with the spread of its cells; adaptive with the
        probability of the type's adapting fraction; see
        :meth:`~neuromod_data.structure.IntrinsicParameters.sample`) instead of giving all of the
        type's neurons its median. Default (``None``): on when the intrinsic parameters are used;
        ``True`` without them is an error.
    connectivity
        Use the structure's type-to-type connectivity for the recurrent synapses (default: when it
        has it). Those synapses are then balanced after they are drawn (docs/design.md, "Networks
        from data"): :func:`~neuromod_models.init.balance_masked` with the spectral radius of the
        uniform network the same seed gives, whose input and output weights it shares.
    p_in, p_rec, p_out
        Connection probabilities (``p_rec``: without the structure's connectivity).
    mask_sampling
        ``"bernoulli"``: every possible synapse exists with probability ``p``; ``"draws"``: as the
        authors' code, ``int(p·n_pre·n_post)`` (pre, post) pairs drawn with replacement (so a
        fraction ≈ 1 − e^(−p) of the pairs, 9.5 % for p = 0.1), the recurrent diagonal removed.
    seed
        Seed of every random draw (types are deterministic; masks, weights, adaptive set are drawn).
    w_in_scale
        Multiplies the initial input weights.
    frac_excitatory_in
        Fraction of input channels with excitatory (positive) weights; the others are inhibitory.
    dale_output
        Output weights take the sign of the presynaptic neuron (as in the authors' code); ``False``
        gives them a fixed random sign per synapse instead.
    readout_types
        Type names or shell-style patterns (``"L5 ET*"``; a string is split on commas): only
        neurons of matching types project to the readout, so that every other type receives
        credit only through modulation (docs/design.md, "Readout from projection types").
        Default: every neuron may project.
    min_per_type
        Every type gets at least this many neurons, the rest in proportion to the abundances
        (:func:`~neuromod_models.init.allocate_types`). Default 0: in proportion only.
    surrogate
        ``"heaviside"`` (the model) or the smooth test-only ``"sigmoid"``.
    device, dtype
        Where the parameters live.

    Examples
    --------
    >>> net = SpikingNetwork(4, 10, 2, seed=0)
    >>> out = net(torch.rand(30, 3, 4))
    >>> out.y.shape, out.z.shape, int((net.signs < 0).sum())
    (torch.Size([30, 3, 2]), torch.Size([30, 3, 10]), 2)
    >>> net.theta_rec.shape == (net.synapses.nnz,)     # one magnitude per sampled synapse
    True
    """

    def __init__(
        self,
        n_in: int,
        n_rec: int,
        n_out: int,
        *,
        structure: CellTypeStructure | None = None,
        n_adaptive: int | None = None,
        adaptive_placement: str = "random",
        frac_excitatory: float = 0.8,
        tau_m: float = 20.0,
        tau_a: float = 2000.0,
        beta: float = 1.8,
        v_th: float = 0.01,
        n_ref: int = 5,
        tau_out: float = 20.0,
        dt: float = 1.0,
        gamma: float = 0.3,
        intrinsic: bool | None = None,
        heterogeneity: bool | None = None,
        connectivity: bool | None = None,
        p_in: float = 0.1,
        p_rec: float = 0.1,
        p_out: float = 0.1,
        mask_sampling: str = "bernoulli",
        seed: int = 0,
        w_in_scale: float = 1.0,
        frac_excitatory_in: float = 0.8,
        dale_output: bool = True,
        readout_types: Sequence[str] | str | None = None,
        min_per_type: int = 0,
        surrogate: str = "heaviside",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        for name, val in (("n_in", n_in), ("n_rec", n_rec), ("n_out", n_out)):
            if int(val) < 1:
                raise ValueError(f"{name} must be a positive integer, got {val}")
        if surrogate not in ("heaviside", "sigmoid"):
            raise ValueError(f"surrogate must be 'heaviside' or 'sigmoid', got {surrogate!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if adaptive_placement not in ("random", "excitatory"):
            raise ValueError(
                f"adaptive_placement must be 'random' or 'excitatory', got {adaptive_placement!r}"
            )
        if mask_sampling not in ("bernoulli", "draws"):
            raise ValueError(f"mask_sampling must be 'bernoulli' or 'draws', got {mask_sampling!r}")
        structure = (
            structure
            if structure is not None
            else CellTypeStructure.ei(frac_excitatory=float(frac_excitatory))
        )
        if not isinstance(structure, CellTypeStructure):
            raise CellTypeError(
                f"structure must be a CellTypeStructure, got {type(structure).__name__}"
            )
        use_intrinsic = _use(intrinsic, structure.intrinsic, "intrinsic parameters")
        use_connectivity = _use(connectivity, structure.connectivity, "connectivity")
        if heterogeneity and not use_intrinsic:
            raise CellTypeError(
                "heterogeneity=True draws each neuron's intrinsic parameters from its type's "
                "spread: it needs the structure's intrinsic parameters (and intrinsic not False)"
            )
        # derived neurons differ within a type by default: the spread is part of what the data say
        use_heterogeneity = use_intrinsic if heterogeneity is None else bool(heterogeneity)
        self.structure = structure
        self.n_in, self.n_rec, self.n_out = int(n_in), int(n_rec), int(n_out)
        n = self.n_rec
        n_adaptive = n // 2 if n_adaptive is None else int(n_adaptive)
        if not 0 <= n_adaptive <= n:
            raise ValueError(f"n_adaptive must lie in [0, {n}], got {n_adaptive}")
        self.config = dict(
            n_in=n_in,
            n_rec=n_rec,
            n_out=n_out,
            n_adaptive=n_adaptive,
            adaptive_placement=adaptive_placement,
            frac_excitatory=frac_excitatory,
            tau_m=tau_m,
            tau_a=tau_a,
            beta=beta,
            v_th=v_th,
            n_ref=n_ref,
            tau_out=tau_out,
            dt=dt,
            gamma=gamma,
            intrinsic=use_intrinsic,
            heterogeneity=use_heterogeneity,
            connectivity=use_connectivity,
            p_in=p_in,
            p_rec=p_rec,
            p_out=p_out,
            mask_sampling=mask_sampling,
            seed=seed,
            w_in_scale=w_in_scale,
            surrogate=surrogate,
        )
        if use_connectivity:
            # recorded only here, so that the paper's networks keep the settings their
            # checkpoints hold (a resume compares them)
            self.config["rec_balance"] = "after mask"
        readout = _readout_type_mask(structure.names, readout_types)
        if readout is not None:  # recorded only when set, for the same reason
            self.config["readout_types"] = [n_ for n_, r in zip(structure.names, readout) if r]
        if int(min_per_type):
            self.config["min_per_type"] = int(min_per_type)
        gen = torch.Generator().manual_seed(int(seed))

        try:
            counts = allocate_types(structure.abundances, n, minimum=int(min_per_type))
        except ValueError as exc:
            raise CellTypeError(str(exc)) from None
        type_index = torch.repeat_interleave(
            torch.arange(structure.n_types), torch.as_tensor(counts)
        )
        signs = torch.as_tensor(structure.signs.astype(np.float64))[type_index]
        if use_intrinsic:
            values = structure.sample_intrinsic(counts, heterogeneity=use_heterogeneity, seed=seed)
            adaptive = torch.as_tensor(values["adaptive"], dtype=torch.bool)
            neuron = {k: torch.as_tensor(values[k]) for k in ("tau_m", "tau_a", "beta", "v_th")}
            neuron["n_ref"] = torch.as_tensor(values["n_ref"], dtype=torch.int64)
        else:
            adaptive = _adaptive_set(n, n_adaptive, adaptive_placement, signs, gen)
            neuron = {"tau_m": tau_m, "tau_a": tau_a, "beta": beta, "v_th": v_th, "n_ref": n_ref}

        # The paper's draws, in the paper's order. A network whose recurrent synapses come from the
        # structure's connectivity makes the same draws first, so that its input and output
        # weights are those of the uniform network of the same seed, whose recurrent matrix then
        # sets the spectral radius it is scaled to; its own synapses are drawn afterwards.
        draws = mask_sampling == "draws"
        in_mask = random_mask(n, self.n_in, p_in, gen, draws=draws)
        rec_mask = random_mask(n, n, p_rec, gen, no_diagonal=True, draws=draws)
        out_mask = random_mask(
            self.n_out, n, p_out, gen, min_per_row=0 if draws else 1, draws=draws
        )
        # input channels carry a fixed sign, 80 % excitatory in random order (as in the authors' code)
        n_exc_in = int(round(frac_excitatory_in * self.n_in))
        in_sign = torch.where(
            torch.randperm(self.n_in, generator=gen) < n_exc_in, 1.0, -1.0
        ).double()
        if readout is not None:
            out_mask = _restrict_readout(out_mask, torch.as_tensor(readout)[type_index], seed)
        out_sign = signs if dale_output else torch.ones(n, dtype=torch.float64)

        w_rec0 = balanced_signed(signs, n, gen) * rec_mask
        w_in0 = balanced_signed(in_sign, n, gen) * in_mask * float(w_in_scale)
        w_out0 = balanced_signed(signs, self.n_out, gen) * out_mask
        if not dale_output:
            w_out0 = w_out0 * torch.where(torch.rand(w_out0.shape, generator=gen) < 0.5, -1.0, 1.0)
        if use_connectivity:
            # a published PSP contains the postsynaptic membrane: with per-neuron τ_m, the weight
            # that gives it is psp / (1 - α_post) (docs/design.md, "One input convention")
            psp_gain = (
                1.0
                / (
                    1.0
                    - torch.exp(-float(dt) / torch.as_tensor(neuron["tau_m"], dtype=torch.float64))
                )
                if use_intrinsic
                else None
            )
            rec_mask, w_rec0 = _recurrent_from_connectivity(
                structure,
                type_index,
                signs,
                gen,
                radius=spectral_radius(w_rec0),
                post_gain=psp_gain,
            )

        syn = Synapses.from_mask(rec_mask)
        fkw = dict(device=device, dtype=dtype)
        self.register_buffer("type_index", type_index.to(device))
        self.register_buffer("signs", signs.to(**fkw))
        self.register_buffer("adaptive", adaptive.to(device))
        self.register_buffer("in_mask", in_mask.to(**fkw))
        self.register_buffer("out_mask", out_mask.to(**fkw))
        self.register_buffer("in_sign", in_sign.to(**fkw))
        self.register_buffer("out_sign", out_sign.to(**fkw))
        self.register_buffer("rec_pre", syn.pre.to(device))
        self.register_buffer("rec_post", syn.post.to(device))
        self.register_buffer("rec_indptr", syn.indptr.to(device))
        p = make_parameters(n, **neuron, adaptive=adaptive, gamma=gamma, dt=dt,
                            surrogate=surrogate, device=device, dtype=dtype)  # fmt: skip
        self.register_buffer("alpha", p.alpha)
        self.register_buffer("rho", p.rho)
        self.register_buffer("beta", p.beta)
        self.register_buffer("v_th", p.v_th)
        self.register_buffer("n_ref", p.n_ref)
        self.gamma = float(gamma)
        self.kappa = float(np.exp(-dt / tau_out))
        self._workspace = Workspace()  # large arrays reused between training iterations
        self._tiling: tuple[Tensor, Tiling] | None = None
        self.surrogate = surrogate

        self.theta_in = nn.Parameter(w_in0.abs().to(**fkw))
        self.theta_rec = nn.Parameter(w_rec0[syn.post, syn.pre].abs().to(**fkw))
        self.theta_out = nn.Parameter(w_out0.abs().to(**fkw))
        self.b_out = nn.Parameter(torch.zeros(self.n_out, **fkw))

    # ---------------------------------------------------------------- weights
    @property
    def synapses(self) -> Synapses:
        """The recurrent synapses (sorted by presynaptic neuron, with their tiling)."""
        if self._tiling is None or self._tiling[0] is not self.rec_pre:
            # derived from the synapse list, once (again after a state dict was loaded)
            self._tiling = (self.rec_pre, Tiling.of(self.rec_pre, self.rec_post, self.n_rec))
        return Synapses(self.rec_pre, self.rec_post, self.rec_indptr, self.n_rec, self._tiling[1])

    @property
    def w_in(self) -> Tensor:
        """Effective input weights ``[N, n_in]``."""
        return self.in_mask * self.in_sign[None, :] * torch.clamp(self.theta_in, min=0)

    @property
    def w_rec_values(self) -> Tensor:
        """Effective recurrent weight of every synapse ``[nnz]`` (sign of the presynaptic neuron)."""
        return self.signs[self.rec_pre] * torch.clamp(self.theta_rec, min=0)

    @property
    def w_rec(self) -> Tensor:
        """Effective recurrent weights as a dense ``[post, pre]`` matrix (column ``p`` has the sign
        of neuron ``p``)."""
        return self.synapses.dense(self.w_rec_values)

    @property
    def rec_mask(self) -> Tensor:
        """Where recurrent synapses exist, ``[post, pre]`` (0/1 in the parameters' dtype)."""
        return self.synapses.dense(torch.ones_like(self.theta_rec.detach()))

    @property
    def w_out(self) -> Tensor:
        """Effective output weights ``[n_out, N]``."""
        return self.out_mask * self.out_sign[None, :] * torch.clamp(self.theta_out, min=0)

    @property
    def n_types(self) -> int:
        return self.structure.n_types

    @property
    def params(self) -> NeuronParameters:
        """Neuron constants as :class:`NeuronParameters`."""
        return NeuronParameters(
            self.alpha, self.rho, self.beta, self.v_th, self.n_ref, self.gamma, self.surrogate
        )

    @torch.no_grad()
    def apply_constraints(self, *, shrink: float = 0.0) -> None:
        """Cut weights that would flip sign (θ < 0 → 0), zero θ outside the masks, and optionally
        shrink every connected magnitude by ``shrink`` (L1 shrinkage, the authors' ``lr · l1``).

        A cut synapse keeps its place: its weight is ``clamp(θ, 0)`` with gradient at θ = 0, so it
        regrows if its gradient pushes it up again (as the authors' rewiring at temperature 0
        re-creates cut synapses at a tiny weight). With ``shrink``, as in the authors' code, the
        magnitudes that are positive after the step lose ``shrink`` and are cut again if that takes
        them below zero.
        """
        if shrink < 0:
            raise ValueError(f"shrink must be >= 0, got {shrink}")
        for theta, mask in (
            (self.theta_rec, None),
            (self.theta_in, self.in_mask),
            (self.theta_out, self.out_mask),
        ):
            theta.clamp_(min=0)
            if mask is not None:
                theta.mul_(mask)
            if shrink:
                theta.sub_(shrink * (theta > 0).to(theta.dtype)).clamp_(min=0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        # the synapse list is part of the state: take its size from what is loaded (an optimiser
        # made before loading a network with another synapse count must be made again)
        for name in ("theta_rec", "rec_pre", "rec_post"):
            new = state_dict.get(prefix + name)
            cur = getattr(self, name)
            if new is not None and new.shape != cur.shape:
                empty = cur.detach().new_empty(new.shape)
                if name == "theta_rec":
                    self.theta_rec = nn.Parameter(empty)
                else:
                    setattr(self, name, empty)
        # a synapse list of the same size is copied into the same tensors: the tiling derived
        # from the old list must go in either case
        self._tiling = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ---------------------------------------------------------------- forward
    def sequence_config(
        self,
        mode: str = "bptt",
        *,
        feedback: Tensor | None = None,
        modulation: Modulation | None = None,
    ) -> SequenceConfig:
        return SequenceConfig(
            self.params, self.kappa, self.synapses, mode, feedback, modulation, self._workspace
        )

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[2] != self.n_in:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"input must be a tensor [T, B, n_in={self.n_in}], got {shape}")
        if x.shape[0] < 1:
            raise ValueError("input has no time steps")

    def run(self, x: Tensor, cfg: SequenceConfig | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The fused sequence: ``(y, rates, z)`` with spikes ``z`` as ``uint8`` and ``rates`` each
        neuron's mean spike count per step (see :func:`neuromod_models._fast.run_sequence`)."""
        self._check_input(x)
        x = x.to(dtype=self.theta_rec.dtype, device=self.theta_rec.device)
        cfg = cfg if cfg is not None else self.sequence_config()
        return run_sequence(x, self.w_in, self.w_rec_values, self.w_out, self.b_out, cfg)

    def forward(self, x: Tensor) -> NetworkOutput:
        """Run the network over ``x`` ``[T, B, n_in]`` from rest (fused; differentiable by exact BPTT).

        ``z`` is returned as floats (0/1) of the parameters' dtype.
        """
        y, _, z = self.run(x)
        return NetworkOutput(y, z.to(self.theta_rec.dtype))

    def forward_steps(
        self, x: Tensor, *, detach_recurrent: bool = False
    ) -> tuple[NetworkOutput, Tensor]:
        """Reference forward pass built from :func:`neurons.step` (autograd through every step).

        ``detach_recurrent`` detaches ``z^{t-1}`` in the Wrec path only: autograd then computes e-prop.
        Returns the output and ψ ``[T, B, N]``. Slower than :meth:`forward`; used for checks.
        """
        self._check_input(x)
        x = x.to(dtype=self.theta_rec.dtype, device=self.theta_rec.device)
        p = self.params
        w_in, w_rec = self.w_in, self.w_rec
        t_len, bsz, _ = x.shape
        with flush_denormal():
            i_in = torch.einsum("tbi,ni->tbn", x, w_in)
            state: NeuronState = initial_state(bsz, self.n_rec, device=x.device, dtype=x.dtype)
            zs, psis = [], []
            for it in i_in.unbind(0):
                zp = state.z.detach() if detach_recurrent else state.z
                state, psi = step(state, it + zp @ w_rec.T, p)
                zs.append(state.z)
                psis.append(psi)
            z = torch.stack(zs)
            y = exp_filter(z @ self.w_out.T, self.kappa) + self.b_out
        return NetworkOutput(y, z), torch.stack(psis)

    def extra_repr(self) -> str:
        return (
            f"n_in={self.n_in}, n_rec={self.n_rec}, n_out={self.n_out}, "
            f"types={self.n_types}, adaptive={int(self.adaptive.sum())}, "
            f"synapses={self.synapses.nnz}"
        )


def _recurrent_from_connectivity(
    structure: CellTypeStructure,
    type_index: Tensor,
    signs: Tensor,
    gen: torch.Generator,
    *,
    radius: float,
    post_gain: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Recurrent mask and initial weights ``[post, pre]`` from the structure's connectivity
    (docs/design.md, "Networks from data").

    A synapse from a neuron of type ``a`` onto one of type ``b`` exists with probability
    ``probability[a, b]``; its magnitude is ``|N(0, 1)|`` times ``strength[a, b]`` (relative to the
    mean strength over the sampled synapses), signed by the presynaptic neuron. The authors' E/I
    balance is then applied to these synapses (:func:`~neuromod_models.init.balance_masked`) and
    the matrix scaled to ``radius``, the spectral radius of the uniform network's masked matrix.
    ``post_gain`` (one value per neuron) multiplies the strengths onto each postsynaptic neuron
    before the mean is taken: ``1 / (1 − α)`` turns a PSP amplitude into the weight that gives it.
    """
    n = len(type_index)
    conn = structure.connectivity
    prob = torch.as_tensor(conn.probability)  # [pre type, post type]
    p_pair = prob[type_index][:, type_index].T  # [post, pre]
    mask = torch.rand(n, n, generator=gen, dtype=torch.float64) < p_pair
    mask.fill_diagonal_(False)
    strength = torch.as_tensor(conn.strength)[type_index][:, type_index].T
    if post_gain is not None:
        strength = strength * post_gain.reshape(-1, 1)
    mean = float(strength[mask].mean()) if bool(mask.any()) else 1.0
    mag = torch.randn(n, n, generator=gen, dtype=torch.float64).abs()
    w = mag * signs[None, :] * (strength / mean if mean > 0 else strength) * mask
    return mask, balance_masked(w, mask, signs, radius=radius)


def _readout_type_mask(
    names: Sequence[str], patterns: Sequence[str] | str | None
) -> np.ndarray | None:
    """Which types may project to the readout (``None``: all), every pattern matching a type."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = [p.strip() for p in patterns.split(",") if p.strip()]
    patterns = [str(p) for p in patterns]
    if not patterns:
        raise CellTypeError("readout_types is empty: name at least one type or pattern")
    hit = np.zeros(len(names), dtype=bool)
    for pat in patterns:
        match = np.array([fnmatch.fnmatchcase(n, pat) for n in names])
        if not match.any():
            raise CellTypeError(
                f"readout_types: {pat!r} matches none of the structure's types ({', '.join(names)})"
            )
        hit |= match
    return hit


def _restrict_readout(out_mask: Tensor, allowed: Tensor, seed: int) -> Tensor:
    """``out_mask`` without the columns of neurons that may not project; an output left with no
    synapse gets one from a random allowed neuron.

    The extra draws use a generator of their own, so that every other draw of the network is the
    one the same seed gives without the restriction.
    """
    mask = out_mask * allowed.to(out_mask.dtype)[None, :]
    empty = (mask.sum(dim=1) == 0).nonzero().flatten()
    if len(empty):
        gen = torch.Generator().manual_seed(int(seed) + 7919)
        cols = allowed.nonzero().flatten()
        pick = cols[torch.randint(0, len(cols), (len(empty),), generator=gen)]
        mask[empty, pick] = 1
    return mask


def _use(asked: bool | None, available: object, what: str) -> bool:
    """Whether to use a part of the structure: as asked, or by default when it is there."""
    if asked is None:
        return available is not None
    if asked and available is None:
        raise CellTypeError(f"the structure carries no {what}")
    return bool(asked)


def _adaptive_set(
    n: int, n_adaptive: int, placement: str, signs: Tensor, gen: torch.Generator
) -> Tensor:
    adaptive = torch.zeros(n, dtype=torch.bool)
    if placement == "random":
        adaptive[torch.randperm(n, generator=gen)[:n_adaptive]] = True
        return adaptive
    exc = torch.nonzero(signs > 0).flatten()
    if n_adaptive > len(exc):
        raise ValueError(
            f"n_adaptive={n_adaptive} adaptive neurons requested among the {len(exc)} excitatory "
            f"ones (the task places them among excitatory neurons, as the authors did): lower "
            f"n_adaptive to at most {len(exc)}, place them among all neurons "
            "(adaptive_placement='random'; on the command line `network: {adaptive_placement: "
            "random}` in --config), or give the structure tissue abundances (neuromod graph "
            "--abundances), which have more excitatory cells than most samples"
        )
    adaptive[exc[torch.randperm(len(exc), generator=gen)[:n_adaptive]]] = True
    return adaptive
