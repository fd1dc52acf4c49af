"""MDGL: the fused and autograd implementations against explicit formulas written here (docs/design.md, "MDGL")."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neuromod_data.structure import CellTypeStructure
from neuromod_models import MDGL, make_rule

sys.path.insert(0, str(Path(__file__).parent))
from test_eprop import (  # noqa: E402
    learning_signal,
    loss_fn_factory,
    poisson,
    reference_run,
    small_net,
    theta_grads,
)


def three_types() -> CellTypeStructure:
    mod = np.zeros((2, 3, 3))
    mod[0, 0, 1] = 2.0  # type 0 → type 1
    mod[0, 2, 2] = 1.0
    mod[1, 1, 0] = 0.5
    return CellTypeStructure(
        names=("Exc", "Sst", "Pvalb"),
        abundances=np.array([0.5, 0.3, 0.2]),
        signs=np.array([1, -1, -1]),
        modulation=mod,
        pairs=("A→a", "B→b"),
    )


def direct_modulation(
    w: torch.Tensor, types: list[int], k: int, variant: str, gate
) -> torch.Tensor:
    """W̃ by loops: block means of nonzero weights (local) or including zeros (nonlocal)."""
    n = w.shape[0]
    g = np.ones((k, k)) if gate is None else np.asarray(gate)
    wbar = np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            vals = [
                float(w[j, p])
                for j in range(n)
                for p in range(n)
                if types[j] == a and types[p] == b
            ]
            if variant == "local":
                nz = [v for v in vals if v != 0.0]
                wbar[a, b] = sum(nz) / len(nz) if nz else 0.0
            else:
                wbar[a, b] = sum(vals) / len(vals) if vals else 0.0
    out = torch.zeros(n, n, dtype=torch.float64)
    for j in range(n):
        for p in range(n):
            a, b = types[j], types[p]
            if variant == "exact":
                out[j, p] = g[a, b] * float(w[j, p])
            elif variant == "local":
                out[j, p] = g[a, b] * wbar[a, b] if w[j, p] != 0 else 0.0
            else:  # non-local: every j of the type, p itself included (the authors' NL-MDGL)
                out[j, p] = g[a, b] * wbar[a, b]
    return out


def explicit_mdgl(net, x, loss_fn, wtil: torch.Tensor, fb=None):
    """g_pq = Σ_t e_pq^t [L_p^t + (1-α) Σ_j W̃_jp L_j^{t+1} ψ_j^{t+1}] (explicit sums over j)."""
    ref = reference_run(net, x)
    y = ref["y"].clone().requires_grad_(True)
    (gy,) = torch.autograd.grad(loss_fn(y), y)
    fb = net.w_out.detach() if fb is None else fb
    lsig = learning_signal(gy, fb, net.kappa)
    t_len, bsz, n = lsig.shape
    ltil = lsig.clone()
    alpha = net.alpha
    for t in range(t_len - 1):
        for p in range(n):
            acc = torch.zeros(bsz, dtype=torch.float64)
            for j in range(n):
                acc += wtil[j, p] * lsig[t + 1, :, j] * ref["psi"][t + 1, :, j] * (1 - alpha[j])
            ltil[t, :, p] += acc
    g_pre = torch.einsum("tbp,tbpq->pq", ltil, ref["e"])
    return theta_grads(net, g_pre)


X = poisson()
LOSS = loss_fn_factory(
    torch.randn(X.shape[0], X.shape[1], 2, generator=torch.Generator().manual_seed(1)).double()
)


@pytest.mark.parametrize("impl", ["fused", "autograd"])
def test_exact_variant_equals_one_step_formula(impl):
    net = small_net()
    make_rule("mdgl", variant="exact", impl=impl).backward(net, X, LOSS)
    ref_net = small_net()
    exp_rec, exp_in = explicit_mdgl(ref_net, X, LOSS, ref_net.w_rec.detach())
    assert torch.allclose(net.theta_rec.grad, exp_rec, atol=1e-10, rtol=0)
    assert torch.allclose(net.theta_in.grad, exp_in, atol=1e-10, rtol=0)
    # and it is not e-prop
    ep = small_net()
    make_rule("eprop").backward(ep, X, LOSS)
    assert (ep.theta_rec.grad - net.theta_rec.grad).abs().max() > 1e-6


@pytest.mark.parametrize("variant", ["local", "nonlocal"])
@pytest.mark.parametrize("gate", [None, "data", "binary"])
def test_type_averaged_variants_equal_explicit_formula(variant, gate):
    st = three_types()
    net = small_net(structure=st)
    rule = make_rule("mdgl", variant=variant, gate=gate)
    rule.backward(net, X, LOSS)
    ref_net = small_net(structure=st)
    g = None if gate is None else st.gate(kind="weighted" if gate == "data" else "binary")
    wtil = direct_modulation(ref_net.w_rec.detach(), ref_net.type_index.tolist(), 3, variant, g)
    assert torch.allclose(rule.modulation(ref_net).dense(ref_net.synapses), wtil, atol=1e-14)
    exp_rec, exp_in = explicit_mdgl(ref_net, X, LOSS, wtil)
    assert torch.allclose(net.theta_rec.grad, exp_rec, atol=1e-10, rtol=0)
    assert torch.allclose(net.theta_in.grad, exp_in, atol=1e-10, rtol=0)


@pytest.mark.parametrize("variant", ["local", "nonlocal", "exact"])
@pytest.mark.parametrize("feedback", ["symmetric", "random"])
def test_fused_equals_two_pass_autograd(variant, feedback, sequence_backend):
    st = three_types()
    grads = []
    for impl in ("fused", "autograd"):
        net = small_net(structure=st)
        make_rule(
            "mdgl", variant=variant, gate="data", feedback=feedback, impl=impl, seed=4
        ).backward(net, X, LOSS)
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert grads[0].abs().max() > 1e-4
    assert torch.allclose(grads[0], grads[1], atol=1e-11, rtol=0)


@pytest.mark.parametrize("variant", ["local", "nonlocal", "exact"])
def test_zero_gate_is_eprop(variant):
    st = three_types()
    net = small_net(structure=st)
    rule = MDGL(variant=variant, feedback="random", seed=3)
    rule.gate_matrix = np.zeros((3, 3))
    rule.backward(net, X, LOSS)
    ep = small_net(structure=st)
    make_rule("eprop", feedback="random", seed=3).backward(ep, X, LOSS)
    for a, b in zip(net.parameters(), ep.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-13, rtol=0)


def test_gate_routes_signal_only_between_coupled_types():
    st = three_types()
    net = small_net(structure=st)
    wtil = make_rule("mdgl", variant="nonlocal", gate="binary").modulation(net).dense(net.synapses)
    ti = net.type_index
    coupled = torch.as_tensor(st.gate(kind="binary"))[ti][:, ti] > 0
    assert bool((wtil[~coupled] == 0).all())
    assert bool((wtil[coupled & ~torch.eye(net.n_rec, dtype=torch.bool)] != 0).any())


def test_ei_gate_uses_sign_classes():
    st = three_types()
    net = small_net(structure=st)
    wtil = make_rule("mdgl", variant="local", gate="ei").modulation(net).dense(net.synapses)
    types = (net.signs < 0).long().tolist()
    assert torch.allclose(
        wtil, direct_modulation(net.w_rec.detach(), types, 2, "local", None), atol=1e-14
    )


def test_modulation_recomputed_from_current_weights():
    net = small_net()
    rule = make_rule("mdgl")
    before = rule.modulation(net).dense(net.synapses).clone()
    with torch.no_grad():
        net.theta_rec.mul_(2.0)
    assert torch.allclose(rule.modulation(net).dense(net.synapses), 2 * before, atol=1e-14)


def test_bad_options():
    with pytest.raises(ValueError, match="variant"):
        make_rule("mdgl", variant="global")
    with pytest.raises(ValueError, match="gate"):
        make_rule("mdgl", gate="random")
    with pytest.raises(ValueError, match="rule"):
        make_rule("hebb")
    with pytest.raises(ValueError, match="online"):
        make_rule("mdgl", online=True)


def test_rule_config_round_trip():
    rule = make_rule("mdgl", variant="nonlocal", gate="grid-shuffled", feedback="random", seed=5)
    cfg = rule.config()
    assert cfg == {
        "name": "mdgl",
        "feedback": "random",
        "impl": "fused",
        "seed": 5,
        "variant": "nonlocal",
        "gate": "grid-shuffled",
    }
    again = make_rule(**cfg)
    assert again.config() == cfg
    assert make_rule("e-prop", online=True).config()["impl"] == "online"


@pytest.mark.parametrize("impl", ["fused", "autograd"])
def test_nonlocal_equals_the_authors_type_sum_formula(impl, sequence_backend):
    """NL-MDGL as the authors write it (their `all_j` branch): per type a the block mean of Wrec
    including zeros, W̄[a←b] = mean(Wrec[a, b]), and the modulatory signal of type a summed over ALL
    neurons j of a — the neuron p itself included:
    g_pq = Σ_t e_pq^t [L_p^t + (1-α) Σ_a W̄[a←type(p)] Σ_{j∈a} L_j^{t+1} ψ_j^{t+1}]."""
    st = three_types()
    net = small_net(structure=st)
    make_rule("mdgl", variant="nonlocal", impl=impl).backward(net, X, LOSS)
    ref_net = small_net(structure=st)
    ref = reference_run(ref_net, X)
    y = ref["y"].clone().requires_grad_(True)
    (gy,) = torch.autograd.grad(LOSS(y), y)
    lsig = learning_signal(gy, ref_net.w_out.detach(), ref_net.kappa)
    types = ref_net.type_index.tolist()
    w = ref_net.w_rec.detach()
    n = len(types)
    members = {a: [j for j in range(n) if types[j] == a] for a in range(3)}
    wbar = {
        (a, b): sum(float(w[j, p]) for j in members[a] for p in members[b])
        / (len(members[a]) * len(members[b]))
        for a in range(3)
        for b in range(3)
    }
    ltil = lsig.clone()
    one_m_alpha = float(1 - ref_net.alpha[0])
    for t in range(X.shape[0] - 1):
        type_sums = {
            a: sum(lsig[t + 1, :, j] * ref["psi"][t + 1, :, j] for j in members[a])
            for a in range(3)
        }
        for p in range(n):
            ltil[t, :, p] += one_m_alpha * sum(wbar[a, types[p]] * type_sums[a] for a in range(3))
    exp_rec, exp_in = theta_grads(ref_net, torch.einsum("tbp,tbpq->pq", ltil, ref["e"]))
    assert torch.allclose(net.theta_rec.grad, exp_rec, atol=1e-10, rtol=0)
    assert torch.allclose(net.theta_in.grad, exp_in, atol=1e-10, rtol=0)


# an asymmetric gate with distinct, nonzero entries: G[a, b] ≠ G[b, a] for every a ≠ b, so a gate
# read the wrong way round (receiver → sender) gives another W̃ on every pair of types
ASYMMETRIC_GATE = np.array([[0.2, 1.0, 0.05], [0.6, 0.3, 0.9], [0.1, 0.45, 0.75]])


def hand_written_wtil(
    w: np.ndarray, types: np.ndarray, gate: np.ndarray, variant: str
) -> np.ndarray:
    """W̃ from docs/design.md, "MDGL", with numpy: ``W̃_jp = G[type(j), type(p)] · W̄_{type(j)←type(p)}``
    (local: over p's synaptic targets only, W̄ the mean of the nonzero weights of the block;
    nonlocal: every pair, W̄ the block mean with zeros) and ``G[type(j), type(p)] · W^rec_jp``
    (exact). ``w`` is ``[post j, pre p]``: W^rec_jp is the synapse p → j, and j, which receives
    p's spike, is the one that broadcasts the modulatory signal back to p."""
    g_pair = gate[types[:, None], types[None, :]]  # G[type(j), type(p)], rows j, columns p
    if variant == "exact":
        return g_pair * w
    k = gate.shape[0]
    wbar = np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            block = w[np.ix_(types == a, types == b)]
            if variant == "local":
                nonzero = block[block != 0]
                wbar[a, b] = nonzero.mean() if nonzero.size else 0.0
            else:
                wbar[a, b] = block.mean()
    out = g_pair * wbar[types[:, None], types[None, :]]
    return out * (w != 0) if variant == "local" else out


@pytest.mark.parametrize("variant", ["local", "nonlocal", "exact"])
def test_asymmetric_gate_gradient_against_a_hand_written_wtil(variant):
    # the gate reaches the rule through the structure ("data": its weighted gate, largest entry 1)
    st = CellTypeStructure(
        names=("Exc", "Sst", "Pvalb"),
        abundances=np.array([0.4, 0.3, 0.3]),
        signs=np.array([1, -1, -1]),
        modulation=ASYMMETRIC_GATE[None],
        pairs=("p",),
    )
    np.testing.assert_array_equal(st.gate(), ASYMMETRIC_GATE)
    net = small_net(structure=st)
    rule = make_rule("mdgl", variant=variant, gate="data")
    rule.backward(net, X, LOSS)

    ref_net = small_net(structure=st)
    types = ref_net.type_index.numpy()
    assert set(types.tolist()) == {0, 1, 2}  # every type present, so every G entry is used
    w = ref_net.w_rec.detach().numpy()
    wtil = hand_written_wtil(w, types, ASYMMETRIC_GATE, variant)
    # the transposed gate must give another W̃ (else this test could not tell the orientation)
    assert np.abs(hand_written_wtil(w, types, ASYMMETRIC_GATE.T, variant) - wtil).max() > 1e-3
    got = rule.modulation(ref_net).dense(ref_net.synapses).numpy()
    np.testing.assert_allclose(got, wtil, rtol=0, atol=1e-14)
    exp_rec, exp_in = explicit_mdgl(ref_net, X, LOSS, torch.as_tensor(wtil))
    assert torch.allclose(net.theta_rec.grad, exp_rec, atol=1e-10, rtol=0)
    assert torch.allclose(net.theta_in.grad, exp_in, atol=1e-10, rtol=0)
    # and the gradient of the transposed gate is measurably another one
    wrong_rec, _ = explicit_mdgl(ref_net, X, LOSS, torch.as_tensor(
        hand_written_wtil(w, types, ASYMMETRIC_GATE.T, variant)))  # fmt: skip
    assert (wrong_rec - exp_rec).abs().max() > 1e-6
