"""Network construction: types in proportion to abundances, Dale signs, masks, initialisation,
sign constraints after optimiser steps, dtypes and bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neuromod_data.errors import CellTypeError
from neuromod_data.structure import CellTypeStructure
from neuromod_models import SpikingNetwork, make_rule
from neuromod_models.init import allocate_types, balanced_signed, spectral_radius


def five_types() -> CellTypeStructure:
    return CellTypeStructure(
        names=("L2/3 IT", "L5 PT", "Pvalb", "Sst", "Vip"),
        abundances=np.array([40.0, 27.0, 13.0, 12.0, 8.0]),
        signs=np.array([1, 1, -1, -1, -1]),
        modulation=np.ones((1, 5, 5)),
        pairs=("x→y",),
    )


def test_default_structure_is_80_20_ei():
    net = SpikingNetwork(40, 100, 2)
    assert net.structure.names == ("E", "I")
    assert int((net.signs > 0).sum()) == 80 and int((net.signs < 0).sum()) == 20
    assert int(net.adaptive.sum()) == 50
    assert torch.allclose(net.beta[net.adaptive], torch.tensor(1.8))
    assert bool((net.beta[~net.adaptive] == 0).all())


def test_types_follow_abundances_and_signs():
    st = five_types()
    net = SpikingNetwork(10, 50, 3, structure=st)
    counts = torch.bincount(net.type_index, minlength=5).tolist()
    assert counts == [
        20,
        14,
        6,
        6,
        4,
    ]  # 50 × (0.40, 0.27, 0.13, 0.12, 0.08) = 20, 13.5, 6.5, 6, 4: ties to the first
    assert torch.equal(net.signs, torch.as_tensor(st.signs, dtype=net.signs.dtype)[net.type_index])
    assert allocate_types(np.array([1, 1, 1]), 10).tolist() == [4, 3, 3]


def test_masks_and_dale_signs():
    net = SpikingNetwork(40, 100, 2, seed=3)
    w = net.w_rec.detach()
    assert bool((w.diagonal() == 0).all())
    density = float(net.rec_mask.mean())
    assert 0.07 < density < 0.13
    assert 0.07 < float(net.in_mask.mean()) < 0.13
    assert bool((net.out_mask.sum(1) >= 1).all())
    exc = net.signs > 0
    assert bool((w[:, exc] >= 0).all()) and bool((w[:, ~exc] <= 0).all())
    assert bool((w[net.rec_mask == 0] == 0).all())


def test_balanced_initialisation_recipe():
    gen = torch.Generator().manual_seed(0)
    signs = torch.tensor([1.0] * 16 + [-1.0] * 4)
    w = balanced_signed(signs, 20, gen)
    assert spectral_radius(w) == pytest.approx(1.0, abs=1e-9)
    assert torch.allclose(
        w.sum(1), torch.zeros(20, dtype=w.dtype), atol=1e-12
    )  # balanced per neuron
    assert bool((w[:, :16] > 0).all()) and bool((w[:, 16:] < 0).all())
    # more rows than presynaptic neurons: rows repeat (drawn with replacement)
    w_in = balanced_signed(torch.tensor([1.0, 1.0, -1.0]), 7, gen)
    assert w_in.shape == (7, 3) and torch.allclose(
        w_in.sum(1), torch.zeros(7, dtype=w.dtype), atol=1e-12
    )


def test_network_weights_are_the_masked_recipe():
    net = SpikingNetwork(40, 100, 2, seed=5, dtype=torch.float64)
    w = net.w_rec.detach()
    assert 0.1 < spectral_radius(w) < 1.0  # the dense radius-1 matrix, masked to 10 %
    # replay the recipe from the seed, draw by draw: adaptive set, the three masks, the input signs,
    # then one balanced radius-1 matrix per layer, each multiplied by its mask
    gen = torch.Generator().manual_seed(5)
    signs = torch.tensor([1.0] * 80 + [-1.0] * 20, dtype=torch.float64)
    adaptive = torch.zeros(100, dtype=torch.bool)
    adaptive[torch.randperm(100, generator=gen)[:50]] = True
    in_mask = torch.rand(100, 40, generator=gen) < 0.1
    rec_mask = torch.rand(100, 100, generator=gen) < 0.1
    rec_mask.fill_diagonal_(False)
    out_mask = torch.rand(2, 100, generator=gen) < 0.1
    in_sign = torch.where(torch.randperm(40, generator=gen) < 32, 1.0, -1.0).double()
    w_rec0 = balanced_signed(signs, 100, gen) * rec_mask
    w_in0 = balanced_signed(in_sign, 100, gen) * in_mask
    w_out0 = balanced_signed(signs, 2, gen) * out_mask
    assert torch.equal(net.params.beta != 0, adaptive)
    assert torch.equal(net.in_sign.double(), in_sign)
    assert torch.allclose(w, w_rec0, rtol=0, atol=1e-15)
    assert torch.allclose(net.w_in.detach(), w_in0, rtol=0, atol=1e-15)
    assert torch.allclose(net.w_out.detach(), w_out0, rtol=0, atol=1e-15)
    assert bool((net.in_sign > 0).sum() == 32)
    w_in = net.w_in.detach()
    assert bool((w_in[:, net.in_sign > 0] >= 0).all()) and bool(
        (w_in[:, net.in_sign < 0] <= 0).all()
    )
    w_out = net.w_out.detach()
    exc = net.signs > 0
    assert bool((w_out[:, exc] >= 0).all()) and bool((w_out[:, ~exc] <= 0).all())
    assert bool((w_out != 0).any())


def test_dale_signs_preserved_after_training_steps():
    torch.manual_seed(0)
    net = SpikingNetwork(6, 20, 2, seed=1, p_rec=0.3, p_in=0.5, w_in_scale=2.0, v_th=0.05)
    signs0 = torch.sign(net.w_rec.detach())
    in_signs0 = torch.sign(net.w_in.detach())
    out_signs0 = torch.sign(net.w_out.detach())
    opt = torch.optim.SGD(net.parameters(), lr=20.0)  # large steps push many weights across zero
    x = (torch.rand(40, 4, 6) < 0.3).float()
    rule = make_rule("bptt")
    for _ in range(3):
        opt.zero_grad()
        out = rule.backward(net, x, lambda y: -(y**2).mean() + y.mean() * 3)
        opt.step()
        net.apply_constraints()
    assert float(out.z.float().sum()) > 0
    # and a step whose gradient pushes every recurrent magnitude below zero
    opt.zero_grad()
    net.theta_rec.grad = torch.where(torch.rand(net.theta_rec.shape) < 0.5, 1.0, -1.0)
    opt.step()
    net.apply_constraints()
    w = net.w_rec.detach()
    assert bool((torch.sign(w) * signs0 >= 0).all())  # never flipped, possibly cut to zero
    assert bool((torch.sign(net.w_in.detach()) * in_signs0 >= 0).all())
    assert bool((torch.sign(net.w_out.detach()) * out_signs0 >= 0).all())
    assert bool((net.theta_rec >= 0).all()) and bool((w[net.rec_mask == 0] == 0).all())
    assert int((w == 0).sum()) > int((signs0 == 0).sum()) + 10  # cut, not flipped
    # a cut synapse regrows when its gradient points up again
    cut = (w == 0) & (net.rec_mask > 0)
    opt.zero_grad()
    net.theta_rec.grad = -torch.ones(net.theta_rec.shape)
    opt.step()
    net.apply_constraints()
    assert bool((net.w_rec.detach()[cut] * signs0[cut] > 0).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_shapes_and_dtypes(dtype):
    net = SpikingNetwork(4, 10, 3, dtype=dtype)
    out = net(torch.rand(25, 2, 4))
    assert out.y.shape == (25, 2, 3) and out.z.shape == (25, 2, 10)
    assert out.y.dtype == dtype and out.z.dtype == dtype
    assert set(out.z.unique().tolist()) <= {0.0, 1.0}


def test_seed_reproducible_and_distinct():
    a, b, c = (
        SpikingNetwork(4, 10, 2, seed=1),
        SpikingNetwork(4, 10, 2, seed=1),
        SpikingNetwork(4, 10, 2, seed=2),
    )
    assert torch.equal(a.w_rec, b.w_rec) and not torch.equal(a.w_rec, c.w_rec)


def test_state_dict_round_trip():
    a = SpikingNetwork(4, 10, 2, seed=1)
    b = SpikingNetwork(4, 10, 2, seed=9)
    assert a.synapses.nnz != b.synapses.nnz  # the synapse list travels with the state
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.w_rec, b.w_rec)
    x = torch.rand(20, 2, 4)
    assert torch.equal(a(x).y, b(x).y)


def test_bad_input():
    net = SpikingNetwork(4, 10, 2)
    with pytest.raises(ValueError, match="n_in=4"):
        net(torch.rand(10, 2, 5))
    with pytest.raises(ValueError, match="n_rec"):
        SpikingNetwork(4, 0, 2)
    with pytest.raises(ValueError, match="probability"):
        SpikingNetwork(4, 10, 2, p_rec=1.5)
    with pytest.raises(ValueError, match="dtype"):
        SpikingNetwork(4, 10, 2, dtype=torch.float16)
    with pytest.raises(CellTypeError, match="CellTypeStructure"):
        SpikingNetwork(4, 10, 2, structure="E/I")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = (torch.rand(50, 3, 4, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    loss = lambda y: (y**2).mean()  # noqa: E731
    grads = []
    for dev in ("cpu", "cuda"):
        net = SpikingNetwork(4, 10, 2, p_in=0.8, w_in_scale=0.5, device=dev, dtype=torch.float64)
        for name in ("bptt", "eprop", "mdgl"):
            make_rule(name).backward(net, x.to(dev), loss)
        grads.append(torch.cat([p.grad.flatten().cpu() for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-10)


@pytest.mark.parametrize("t_len,bsz", [(1, 1), (1, 4), (2, 1)])
@pytest.mark.parametrize(
    "name,kw",
    [("bptt", {}), ("eprop", {}), ("mdgl", {}), ("mdgl", {"variant": "nonlocal"})],
)
def test_every_rule_runs_at_one_step_and_one_trial(t_len, bsz, name, kw, sequence_backend):
    """T = 1 once crashed every fused rule (a reversed length-1 view kept a negative stride)."""
    x = torch.ones(t_len, bsz, 4)
    grads = []
    for impl in ("fused", "autograd"):
        net = SpikingNetwork(4, 10, 2, p_in=1.0, w_in_scale=50.0, seed=0, dtype=torch.float64)
        out = make_rule(name, impl=impl, **kw).backward(net, x, lambda y: ((y[-1] - 1) ** 2).sum())
        assert out.y.shape == (t_len, bsz, 2)
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-12, rtol=0)
    assert grads[0].abs().max() > 0


def test_authors_network_layout():
    """The evidence-accumulation network as the authors build it: 81 E / 19 I, the 50 ALIF neurons
    excitatory, 33 of 40 input channels excitatory, ≈ 1 − e^(−0.1) of the synapses drawn."""
    from neuromod_models.tasks import make_task

    nets = [SpikingNetwork(**make_task("evidence_accumulation").network_kwargs(), seed=s)
            for s in range(5)]  # fmt: skip
    for net in nets:
        assert int((net.signs > 0).sum()) == 81
        assert int(net.adaptive.sum()) == 50 and bool((net.signs[net.adaptive] > 0).all())
        assert int((net.in_sign > 0).sum()) == 33
        assert not bool(net.rec_mask.diagonal().any())
    density = sum(float(n.rec_mask.double().mean()) for n in nets) / 5
    assert abs(density - 0.0952) < 0.004  # Bernoulli sampling would give 0.099 (0.1 off-diagonal)


def test_rules_refuse_options_that_do_not_apply():
    with pytest.raises(ValueError, match="gate='data' does not apply to bptt"):
        make_rule("bptt", gate="data")
    with pytest.raises(ValueError, match="variant='exact' does not apply to eprop"):
        make_rule("eprop", variant="exact")
    with pytest.raises(ValueError, match="online=True does not apply to mdgl"):
        make_rule("mdgl", online=True)
    with pytest.raises(ValueError, match="unknown learning rule"):
        make_rule("hebb")
    from neuromod_models import BPTT, MDGL

    with pytest.raises(TypeError):
        BPTT(feedback="random")  # a misspelt or misplaced option is not swallowed
    with pytest.raises(TypeError):
        MDGL(varient="local")


def _physiology_structure():
    from neuromod_data.structure import Connectivity, IntrinsicParameters

    names = ("E", "P", "S")
    prob = np.array([[0.1, 0.4, 0.05], [0.45, 0.3, 0.0], [0.2, 0.35, 0.02]])  # [pre, post]
    strength = np.array([[0.4, 1.5, 0.8], [0.5, 0.7, 0.0], [0.3, 0.4, 0.3]])
    ip = IntrinsicParameters.constant(
        names, tau_m=[20.0, 8.0, 16.0], beta=[1.8, 0.0, 2.5], adaptive=[1.0, 0.0, 1.0],
        v_th=[0.01, 0.02, 0.008], n_ref=[5.0, 2.0, 4.0],
    )  # fmt: skip
    st = CellTypeStructure(names, [0.6, 0.25, 0.15], [1, -1, -1], np.ones((1, 3, 3)), ("p",))
    return (
        st.with_intrinsic(ip).with_connectivity(Connectivity(names, prob, strength)),
        prob,
        strength,
    )


def test_network_from_connectivity_and_intrinsic_parameters():
    st, prob, strength = _physiology_structure()
    net = SpikingNetwork(5, 600, 2, structure=st, seed=0, dtype=torch.float64)
    ti = net.type_index
    mask = net.rec_mask.bool()  # [post, pre]
    w = net.w_rec.detach()
    counts = torch.bincount(ti, minlength=3)
    assert counts.tolist() == [360, 150, 90]
    for a in range(3):  # pre
        for b in range(3):  # post
            block = mask[ti == b][:, ti == a]
            n_pairs = block.numel() - (int(counts[a]) if a == b else 0)  # no self-synapses
            p_hat = float(block.sum()) / n_pairs
            tol = 5 * np.sqrt(prob[a, b] * (1 - prob[a, b]) / n_pairs) + 1e-12
            assert abs(p_hat - prob[a, b]) <= tol, (a, b, p_hat, prob[a, b])
            vals = w[ti == b][:, ti == a][block]
            if len(vals):  # Dale's law: the sign of the presynaptic type
                assert bool((torch.sign(vals) == st.signs[a]).all())
    # magnitudes scale with the strength (a PSP: divided by 1 − α of the postsynaptic neuron,
    # docs/design.md "One input convention"): E→P synapses (1.5) are on average stronger than E→E
    # (0.4) once that gain is taken out
    psp = w.abs() * (1 - net.alpha.double())[:, None]
    mag = lambda a, b: float(psp[ti == b][:, ti == a][mask[ti == b][:, ti == a]].mean())  # noqa: E731
    assert 2.0 < mag(0, 1) / mag(0, 0) < 6.0
    # every neuron has its type's intrinsic parameters, in the model's units
    expected = st.sample_intrinsic(counts.numpy())
    assert torch.allclose(net.alpha, torch.exp(-1.0 / torch.as_tensor(expected["tau_m"])))
    assert torch.allclose(net.v_th, torch.as_tensor(expected["v_th"]))
    assert net.n_ref.tolist() == expected["n_ref"].tolist()
    assert net.adaptive.tolist() == expected["adaptive"].tolist()
    # without them (or when switched off) the paper's constants and uniform 10 % connectivity
    plain = SpikingNetwork(5, 600, 2, structure=st, intrinsic=False, connectivity=False, seed=0)
    assert len(set(plain.v_th.tolist())) == 1 and abs(float(plain.rec_mask.mean()) - 0.1) < 0.01


def test_paper_network_unchanged_by_the_new_options():
    """Without intrinsic parameters or connectivity the network is the one the paper's settings
    give: the same draws in the same order (a structure of the same types, once without and once
    explicitly switched off, builds identical weights)."""
    st, _, _ = _physiology_structure()
    bare = CellTypeStructure(st.names, st.abundances, st.signs, st.modulation, st.pairs)
    a = SpikingNetwork(5, 100, 2, structure=bare, seed=3)
    b = SpikingNetwork(5, 100, 2, structure=st, intrinsic=False, connectivity=False, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka


def test_spectral_radius_of_large_matrices_by_arpack():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(300, 300, generator=g, dtype=torch.float64)
    exact = float(torch.linalg.eigvals(a).abs().max())
    assert spectral_radius(a, exact_up_to=100) == pytest.approx(exact, rel=1e-9)


def test_loaded_synapses_of_the_same_size_replace_the_tiling():
    """A state dict whose synapse list has the size of the current one is copied into the same
    tensors; the tiling the backward pass uses must follow the new list, not the old one."""
    from neuromod_models._fast import Tiling

    net = SpikingNetwork(5, 40, 2, seed=0)
    _ = net.synapses  # the tiling of the original synapses is cached
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    n = net.n_rec
    post = (sd["rec_post"] + 1) % n  # other targets, the same count and presynaptic order
    keep = post != sd["rec_pre"]
    post[~keep] = (post[~keep] + 1) % n
    sd["rec_post"] = post
    net.load_state_dict(sd)
    got, want = net.synapses.tiling, Tiling.of(sd["rec_pre"], post, n)
    assert torch.equal(net.rec_post, post)
    for a, b in zip(got[:-1], want[:-1]):
        assert torch.equal(a, b)


def _balance_by_hand(w: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """The balance of docs/design.md, "Networks from data", written out with loops: inhibition
    scaled to the total excitation, then each neuron's inhibition to its own excitation."""
    w = w.copy()
    exc, inh = signs > 0, signs < 0
    w[:, inh] *= w[:, exc].sum() / -w[:, inh].sum()
    for r in range(w.shape[0]):
        e, i = w[r, exc].sum(), -w[r, inh].sum()
        if e > 0 and i > 0:
            w[r, inh] *= e / i
    return w


def test_balance_masked_against_a_hand_computation():
    from neuromod_models.init import balance_masked

    rng = np.random.default_rng(0)
    signs = np.array([1, 1, 1, 1, -1, -1])
    mask = rng.random((6, 6)) < 0.6
    mask[0, 4:] = False  # neuron 0 receives excitation only
    mask[1, :4] = False  # neuron 1 inhibition only
    mask[1, 4] = True
    w = np.abs(rng.standard_normal((6, 6))) * signs[None, :] * mask
    got = balance_masked(torch.as_tensor(w), torch.as_tensor(mask), torch.as_tensor(signs))
    want = _balance_by_hand(w, signs)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=0)
    assert bool((got[~torch.as_tensor(mask)] == 0).all())
    assert torch.equal(torch.sign(got), torch.sign(torch.as_tensor(w)))  # no weight flips sign
    scaled = balance_masked(torch.as_tensor(w), torch.as_tensor(mask), torch.as_tensor(signs),
                            radius=0.5)  # fmt: skip
    assert spectral_radius(scaled) == pytest.approx(0.5, rel=1e-12)


def test_connectivity_network_is_balanced_after_the_mask():
    """Recurrent synapses from an asymmetric connectivity: every neuron's summed input is zero,
    total inhibition equals total excitation, the spectral radius is that of the uniform network of
    the same seed (with which the input and output weights are shared), and the excitatory
    magnitudes keep the type-pair strengths. Balancing the dense matrix before the mask (as before
    issue 21) leaves I/E at whatever the probabilities imply."""
    from neuromod_data.structure import Connectivity

    names = ("E", "P", "S")
    prob = np.array([[0.1, 0.4, 0.3], [0.45, 0.3, 0.1], [0.25, 0.35, 0.05]])  # [pre, post]
    strength = np.array([[0.4, 1.5, 0.8], [0.5, 0.7, 0.2], [0.3, 0.4, 0.3]])
    st = CellTypeStructure(names, [0.6, 0.25, 0.15], [1, -1, -1], np.ones((1, 3, 3)), ("p",))
    st = st.with_connectivity(Connectivity(names, prob, strength))
    net = SpikingNetwork(5, 300, 2, structure=st, seed=1, dtype=torch.float64)
    uni = SpikingNetwork(5, 300, 2, structure=st, connectivity=False, seed=1, dtype=torch.float64)
    w, sg, ti = net.w_rec.detach().numpy(), net.signs.numpy(), net.type_index.numpy()
    mask = net.rec_mask.numpy().astype(bool)
    exc, inh = sg > 0, sg < 0
    assert (mask[:, exc].any(1) & mask[:, inh].any(1)).all()  # premise: every row has both signs
    np.testing.assert_allclose(w.sum(1), 0.0, atol=1e-12 * np.abs(w).sum(1).max())
    assert -w[:, inh].sum() / w[:, exc].sum() == pytest.approx(1.0, rel=1e-12)
    assert spectral_radius(net.w_rec) == pytest.approx(spectral_radius(uni.w_rec), rel=1e-9)
    assert torch.equal(net.w_in, uni.w_in) and torch.equal(net.w_out, uni.w_out)
    assert net.config["rec_balance"] == "after mask" and "rec_balance" not in uni.config
    # excitatory weight / strength is |N(0, 1)| times one constant: equal means for every pair
    # (standard error of a mean of |N(0,1)|: 0.60/sqrt(n); 5 of them allowed)
    unit = [w[ti == b][:, ti == 0][mask[ti == b][:, ti == 0]] / strength[0, b] for b in range(3)]
    pooled = np.concatenate(unit).mean()
    for vals in unit:
        assert abs(vals.mean() - pooled) < 5 * 0.6 * pooled / 0.8 / np.sqrt(len(vals))
    # the recipe before: the dense balanced matrix, masked by type pair, is inhibition-dominated
    gen = torch.Generator().manual_seed(1)
    old = balanced_signed(torch.as_tensor(sg, dtype=torch.float64), 300, gen).numpy() * mask
    assert -old[:, inh].sum() / old[:, exc].sum() > 1.2


def test_neurons_of_a_type_draw_from_its_distribution_by_default():
    """With intrinsic parameters each neuron draws its constants from its type's per-cell
    distribution (docs/design.md, "Networks from data"): the network's neurons are the structure's
    draws for its type counts and seed (whose statistics tests/neuromod_data/test_structure.py
    checks on a large type); the neurons of one type differ. heterogeneity=False gives every
    neuron its type's median; without intrinsic parameters it is off, and asking for it fails."""
    from neuromod_data.structure import BOUNDS, PARAMETERS, IntrinsicParameters

    names = ("E", "I")
    # tau_m, tau_a, beta, adaptive, v_th, n_ref
    med = np.array([[20.0, 2000.0, 1.8, 0.7, 0.010, 5.0], [10.0, 2000.0, 1.0, 0.2, 0.015, 3.0]])
    spread = np.array([[0.3, 0.0, 0.4, 0.0, 0.25, 0.2], [0.2, 0.0, 0.3, 0.0, 0.2, 0.15]])
    ip = IntrinsicParameters(
        names, PARAMETERS, med, spread, np.full(med.shape, 50), np.full(med.shape, "RNA family"),
        np.repeat(np.array(names)[:, None], 6, axis=1), np.array([BOUNDS[p] for p in PARAMETERS]),
    )  # fmt: skip
    st = CellTypeStructure(names, [0.8, 0.2], [1, -1], np.ones((1, 2, 2)), ("p",))
    st = st.with_intrinsic(ip)
    net = SpikingNetwork(5, 200, 2, structure=st, seed=3, dtype=torch.float64)
    assert net.config["heterogeneity"] is True
    want = st.sample_intrinsic([160, 40], heterogeneity=True, seed=3)
    np.testing.assert_allclose((-1.0 / torch.log(net.alpha)).numpy(), want["tau_m"], rtol=1e-12)
    np.testing.assert_allclose(net.v_th.numpy(), want["v_th"], rtol=1e-15)
    np.testing.assert_allclose(net.beta.numpy(), want["beta"], rtol=1e-15)
    assert net.adaptive.tolist() == want["adaptive"].tolist()
    assert net.n_ref.tolist() == want["n_ref"].tolist()
    e = net.type_index == 0
    assert net.v_th[e].unique().numel() == 160 and 0 < int(net.adaptive[e].sum()) < 160
    # switched off: every neuron takes its type's median; adapts when most of its type does
    same = SpikingNetwork(5, 200, 2, structure=st, heterogeneity=False, seed=3)
    assert same.config["heterogeneity"] is False
    assert torch.equal(same.v_th, torch.tensor([0.010] * 160 + [0.015] * 40, dtype=same.v_th.dtype))
    assert bool(same.adaptive[e].all()) and not bool(same.adaptive[~e].any())
    # without intrinsic parameters there is nothing to draw: off by default, an error when asked
    assert SpikingNetwork(5, 50, 2, structure=st, intrinsic=False).config["heterogeneity"] is False
    with pytest.raises(CellTypeError, match="needs the structure's intrinsic parameters"):
        SpikingNetwork(5, 50, 2, structure=st, intrinsic=False, heterogeneity=True)


def test_connectivity_table_is_read_pre_to_post():
    # docs/design.md, "Orientation": probability[a, b] is presynaptic type a → postsynaptic type b,
    # the network's matrices are [post, pre]. A cyclic table with probabilities 0 and 1 makes the
    # synapses certain: E → P, P → S and S → E exist, nothing else (read transposed it would be
    # E → S, P → E and S → P: not one synapse in common)
    from neuromod_data.structure import Connectivity

    names = ("E", "P", "S")
    prob = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # [pre, post]
    strength = prob * np.array([[0.0, 1.5, 0.0], [0.0, 0.0, 0.7], [0.4, 0.0, 0.0]])
    st = CellTypeStructure(names, [0.5, 0.3, 0.2], [1, -1, -1], np.ones((1, 3, 3)), ("p",))
    st = st.with_connectivity(Connectivity(names, prob, strength))
    net = SpikingNetwork(3, 30, 2, structure=st, seed=2, dtype=torch.float64)
    ti = net.type_index.numpy()
    assert sorted(set(ti.tolist())) == [0, 1, 2]
    # by hand: neuron p (pre) → neuron j (post) exists iff prob[type(p), type(j)] == 1
    expected = np.array([[prob[ti[p], ti[j]] == 1.0 for p in range(30)] for j in range(30)])
    np.testing.assert_array_equal(net.rec_mask.numpy().astype(bool), expected)
    w = net.w_rec.detach().numpy()
    np.testing.assert_array_equal(w != 0, expected)
    # the synapse list the kernels run on holds the same (pre, post) pairs
    pairs = {
        (int(a), int(b))
        for a, b in zip(ti[net.synapses.pre.numpy()], ti[net.synapses.post.numpy()])
    }
    assert pairs == {(0, 1), (1, 2), (2, 0)}
    assert len(net.synapses.pre) == int(expected.sum())
    # Dale's law follows the presynaptic type: E's synapses excite, P's and S's inhibit
    sign_of_pre = np.array([1, -1, -1])[ti]
    assert (np.sign(w[expected]) == np.broadcast_to(sign_of_pre, w.shape)[expected]).all()


def test_connectivity_strengths_are_psps_of_the_postsynaptic_neuron():
    """With intrinsic parameters the published strength is a PSP amplitude: the weight onto a
    neuron with membrane factor α is strength / (1 − α) (docs/design.md, "One input convention"),
    so excitatory weight × (1 − α_post) / strength has one mean for every postsynaptic type."""
    from neuromod_data.structure import Connectivity, IntrinsicParameters

    names = ("E", "P", "S")
    prob = np.array([[0.3, 0.4, 0.3], [0.45, 0.3, 0.1], [0.25, 0.35, 0.05]])  # [pre, post]
    strength = np.array([[0.4, 1.5, 0.8], [0.5, 0.7, 0.2], [0.3, 0.4, 0.3]])
    tau = np.array([30.0, 4.0, 12.0])
    st = CellTypeStructure(names, [0.6, 0.25, 0.15], [1, -1, -1], np.ones((1, 3, 3)), ("p",))
    st = st.with_connectivity(Connectivity(names, prob, strength))
    st = st.with_intrinsic(IntrinsicParameters.constant(names, tau_m=tau))
    net = SpikingNetwork(5, 600, 2, structure=st, heterogeneity=False, seed=2, dtype=torch.float64)
    w, ti = net.w_rec.detach().numpy(), net.type_index.numpy()
    mask = net.rec_mask.numpy().astype(bool)
    alpha = np.exp(-1.0 / tau)
    unit = [w[ti == b][:, ti == 0][mask[ti == b][:, ti == 0]] * (1 - alpha[b]) / strength[0, b]
            for b in range(3)]  # fmt: skip
    pooled = np.concatenate(unit).mean()
    for vals in unit:
        assert abs(vals.mean() - pooled) < 5 * 0.6 * pooled / 0.8 / np.sqrt(len(vals))
    # without the gain the fast P neurons (1 − α = 0.22) would get 0.22/0.03 = 7 times less
    assert unit[1].mean() / unit[0].mean() == pytest.approx(1.0, abs=0.3)


def test_too_many_adaptive_excitatory_neurons_says_what_to_change():
    st = CellTypeStructure(("E", "I"), [0.3, 0.7], [1, -1], np.ones((1, 2, 2)), ("p",))
    with pytest.raises(ValueError) as err:
        SpikingNetwork(4, 100, 2, structure=st, n_adaptive=50, adaptive_placement="excitatory")
    text = str(err.value)
    assert "among the 30 excitatory ones" in text and "at most 30" in text
    assert "adaptive_placement" in text and "--abundances" in text
    net = SpikingNetwork(4, 100, 2, structure=st, n_adaptive=50, adaptive_placement="random")
    assert int(net.adaptive.sum()) == 50


def test_allocation_floor_against_a_hand_computation():
    # 100 neurons, 3 types, at least 30 each: 10 left, split 9 / 0.5 / 0.5 by abundance; the tie
    # goes to the first type of the two (largest remainder, then order)
    assert allocate_types(np.array([0.9, 0.05, 0.05]), 100, minimum=30).tolist() == [39, 31, 30]
    counts = allocate_types(np.array([40.0, 27.0, 13.0, 12.0, 8.0]), 200, minimum=30)
    assert counts.sum() == 200 and counts.min() >= 30
    # without a floor nothing changes
    ab = np.array([40.0, 27.0, 13.0, 12.0, 8.0])
    assert allocate_types(ab, 100, minimum=0).tolist() == allocate_types(ab, 100).tolist()
    with pytest.raises(ValueError, match="n_rec >= 150"):
        allocate_types(ab, 100, minimum=30)


def test_min_per_type_network_counts_and_message():
    net = SpikingNetwork(4, 200, 2, structure=five_types(), min_per_type=30, seed=0)
    counts = np.bincount(net.type_index.numpy(), minlength=5)
    assert counts.tolist() == allocate_types(five_types().abundances, 200, minimum=30).tolist()
    assert counts.min() >= 30 and net.config["min_per_type"] == 30
    with pytest.raises(CellTypeError, match="raise n_rec or lower min_per_type"):
        SpikingNetwork(4, 100, 2, structure=five_types(), min_per_type=30)
    assert "min_per_type" not in SpikingNetwork(4, 100, 2, structure=five_types()).config


def test_readout_only_from_the_named_types():
    s = five_types()
    net = SpikingNetwork(4, 100, 3, structure=s, readout_types="L2/3*, L5 PT", p_out=0.05, seed=2)
    projecting = net.out_mask.sum(dim=0) > 0
    types = {s.names[i] for i in net.type_index[projecting].tolist()}
    assert types <= {"L2/3 IT", "L5 PT"} and types
    assert bool((net.out_mask.sum(dim=1) >= 1).all())  # every output keeps a synapse
    assert net.config["readout_types"] == ["L2/3 IT", "L5 PT"]
    # the restriction takes synapses away and draws nothing else differently
    free = SpikingNetwork(4, 100, 3, structure=s, p_out=0.05, seed=2)
    assert torch.equal(net.theta_rec, free.theta_rec) and torch.equal(net.theta_in, free.theta_in)
    kept = free.out_mask * projecting.to(free.out_mask.dtype)[None, :]
    assert bool(((net.out_mask - kept) >= 0).all())
    with pytest.raises(CellTypeError, match="'Chandelier' matches none"):
        SpikingNetwork(4, 100, 3, structure=s, readout_types=["Chandelier"])


def test_neurons_outside_the_readout_get_credit_only_through_modulation():
    sys.path.insert(0, str(Path(__file__).parent))
    from test_eprop import loss_fn_factory, poisson, small_net

    s = CellTypeStructure(
        names=("E", "I"),
        abundances=np.array([0.6, 0.4]),
        signs=np.array([1, -1]),
        modulation=np.ones((1, 2, 2)),
        pairs=("x→y",),
    )
    x = poisson()
    loss = loss_fn_factory(
        torch.randn(x.shape[0], x.shape[1], 2, generator=torch.Generator().manual_seed(1)).double()
    )
    grads = {}
    for rule, kw in (("eprop", {}), ("mdgl", {"gate": "ones"})):
        net = small_net(structure=s, readout_types=["E"])
        make_rule(rule, **kw).backward(net, x, loss)
        grads[rule] = net.theta_in.grad.abs().sum(dim=1)
    inhibitory = (net.type_index == 1).numpy()
    assert inhibitory.any()
    # e-prop's learning signal is the readout error fed back through W_out: zero for I neurons
    assert float(grads["eprop"][inhibitory].max()) == 0.0
    assert float(grads["eprop"][~inhibitory].max()) > 0.0
    # MDGL adds what the readout neurons' signals say about them through W̃: no longer zero
    assert float(grads["mdgl"][inhibitory].max()) > 0.0
