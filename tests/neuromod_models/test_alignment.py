"""Gradient alignment against independent computations: BPTT by autograd through the reference
step loop, every arm's gradient from the existing learning rules, cosines written out by hand;
the permutation null and the summary statistics on hand-made tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from neuromod_data.structure import CellTypeStructure
from neuromod_models import SpikingNetwork, make_rule
from neuromod_models.alignment import (
    ARMS,
    make_arms,
    permutation_rank,
    score_arms,
    summarize,
)


def structure(k: int = 3) -> CellTypeStructure:
    rng = np.random.default_rng(k)
    mod = rng.random((2, k, k)) * (rng.random((2, k, k)) < 0.5)
    mod[0, 0, 1] = 2.0  # not constant, largest entry known
    signs = np.array([1, -1, 1, -1, 1, 1, -1, 1, 1][:k])
    return CellTypeStructure(
        names=tuple("abcdefghi"[:k]),
        abundances=np.linspace(1.0, 2.0, k),
        signs=signs,
        modulation=mod,
        pairs=("p", "q"),
    )


def network(st: CellTypeStructure, seed: int = 3) -> SpikingNetwork:
    return SpikingNetwork(
        5, 18, 2, structure=st, seed=seed, p_rec=0.3, p_out=0.5, dtype=torch.float64
    )


def batch() -> torch.Tensor:
    return (torch.rand(50, 3, 5, generator=torch.Generator().manual_seed(1)) < 0.3).double()


def loss_fn(y: torch.Tensor) -> torch.Tensor:
    # cross-entropy at the last step (the tasks' loss) plus a readout term over every step, so
    # the gradient has credit from the whole trial
    target = torch.tensor([0, 1, 1])
    return torch.nn.functional.cross_entropy(y[-1], target) + 0.1 * (y**2).mean()


def theta_grad(net: SpikingNetwork) -> torch.Tensor:
    return torch.cat([net.theta_rec.grad.ravel(), net.theta_in.grad.ravel()]).clone()


def rule_gradient(st, arms, i, variant, x, impl="fused") -> torch.Tensor:
    """Arm ``i``'s gradient from the learning rule itself."""
    net = network(st)
    name = arms.name[i]
    if name == "eprop":
        rule = make_rule("eprop", impl=impl)
    elif name == "exact":
        rule = make_rule("mdgl", variant="exact", impl=impl)
    elif name == "ei":
        rule = make_rule("mdgl", variant=variant, gate="ei", impl=impl)
    else:
        rule = make_rule("mdgl", variant=variant, impl=impl)
        rule.gate_matrix = torch.as_tensor(arms.gates[i])
    rule.backward(net, x, loss_fn)
    return theta_grad(net)


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


@pytest.mark.parametrize("variant", ["local", "nonlocal"])
def test_scores_equal_autograd_and_the_rules(variant, sequence_backend):
    st = structure(3)
    x = batch()
    arms = make_arms(st, grid_draws=2, seed=5)
    net = network(st)
    scores = score_arms(net, x, loss_fn, arms, variant=variant)
    assert net.theta_rec.grad is None  # the network's .grad is left alone

    ref = network(st)
    out, _ = ref.forward_steps(x)  # autograd through the plain step loop: BPTT
    loss_fn(out.y).backward()
    g_bptt = theta_grad(ref)
    assert scores.bptt_norm == pytest.approx(float(g_bptt.norm()), rel=1e-9)

    # the rules' fused code (compiled kernels or torch loops, as the fixture chooses); the
    # autograd implementations for the single arms
    grads = {i: rule_gradient(st, arms, i, variant, x) for i in range(len(arms))}
    for name in ("eprop", "ei", "data", "exact"):
        i = arms.index(name)
        g = rule_gradient(st, arms, i, variant, x, impl="autograd")
        torch.testing.assert_close(g, grads[i], rtol=1e-9, atol=1e-12)
    g_exact = grads[arms.index("exact")]
    for i, g in grads.items():
        what = f"{arms.name[i]} {arms.label[i]}"
        assert scores.cosine[i] == pytest.approx(cos(g, g_bptt), abs=1e-5), what
        assert scores.norm_ratio[i] == pytest.approx(float(g.norm() / g_bptt.norm()), rel=1e-5)
        assert scores.cosine_exact[i] == pytest.approx(cos(g, g_exact), abs=1e-5), what
        dist = float((g - g_exact).norm() / g_exact.norm())
        assert scores.distance_exact[i] == pytest.approx(dist, abs=1e-5), what
    # the arms are different gradients: a broken gate would make them coincide
    assert len({round(float(c), 8) for c in scores.cosine}) > len(arms) - 3
    assert scores.cosine[arms.index("eprop")] != pytest.approx(scores.cosine[arms.index("exact")])


def test_the_rate_regulariser_enters_every_arm():
    from neuromod_models.regularization import FiringRateRegularizer

    st = structure(3)
    x = batch()
    reg = FiringRateRegularizer(0.5, 40.0)
    arms = make_arms(st, grid_draws=0)
    scores = score_arms(network(st), x, loss_fn, arms, regularizer=reg)
    ref = network(st)
    make_rule("bptt", impl="autograd").backward(ref, x, loss_fn, regularizer=reg)
    g_bptt = theta_grad(ref)
    for name in ("eprop", "data", "exact"):
        i = arms.index(name)
        net = network(st)
        rule = (
            make_rule("eprop", impl="autograd")
            if name == "eprop"
            else make_rule("mdgl", variant="exact" if name == "exact" else "local", impl="autograd")
        )
        if name == "data":
            rule.gate_matrix = torch.as_tensor(st.gate())
        rule.backward(net, x, loss_fn, regularizer=reg)
        assert scores.cosine[i] == pytest.approx(cos(theta_grad(net), g_bptt), abs=1e-5), name


@pytest.mark.parametrize("k", [2, 3, 4])
def test_every_label_permutation_once_for_small_k(k):
    st = structure(k)
    arms = make_arms(st, grid_draws=2)
    perm = [i for i, n in enumerate(arms.name) if n == "label-permuted"]
    assert len(perm) == math.factorial(k) - 1 and arms.exact_null
    data = st.gate()
    labels = {arms.label[i] for i in perm}
    expected = {" ".join(map(str, p)) for p in itertools.permutations(range(k))}
    assert labels == expected - {" ".join(map(str, range(k)))}
    for i in perm:
        p = [int(v) for v in arms.label[i].split()]
        assert np.array_equal(arms.gates[i], data[np.ix_(p, p)])
    singles = [n for n in arms.name if n not in ("label-permuted", "grid-shuffled")]
    assert singles == [a for a in ARMS if a not in ("label-permuted", "grid-shuffled")]
    assert np.array_equal(arms.gates[arms.index("data")], data)
    assert np.allclose(arms.gates[arms.index("uniform")], data.mean())
    assert np.array_equal(arms.gates[arms.index("ones")], np.ones((k, k)))
    for i in (j for j, n in enumerate(arms.name) if n == "grid-shuffled"):
        assert sorted(arms.gates[i].ravel()) == sorted(data.ravel())


def test_random_distinct_permutations_above_seven_types():
    arms = make_arms(structure(8), permutations=30, grid_draws=0, seed=2)
    labels = [lab for n, lab in zip(arms.name, arms.label) if n == "label-permuted"]
    assert len(labels) == len(set(labels)) == 30 and not arms.exact_null
    assert " ".join(map(str, range(8))) not in labels


def test_permutation_rank_by_hand():
    # 2 of the 5 permutation values reach the data value (one ties): rank 3, p = 3 / 6
    assert permutation_rank(0.5, [0.1, 0.5, 0.2, 0.9, 0.3]) == (3, 0.5)
    assert permutation_rank(1.0, [0.1, 0.5]) == (1, 1 / 3)
    with pytest.raises(ValueError, match="empty"):
        permutation_rank(0.1, [])


def test_summary_on_a_hand_made_table():
    # 3 seeds × 2 batches; data's seed means 0.50, 0.60, 0.70 (mean 0.6); four permutations with
    # seed-averaged means 0.4, 0.55, 0.65, 0.3; ones 0.8; eprop 0.2; exact 1.0
    rows = []
    perms = [0.4, 0.55, 0.65, 0.3]
    for s, d in enumerate([0.5, 0.6, 0.7]):
        for b, jitter in enumerate([-0.01, 0.01]):
            values = [("data", 0, d), ("ones", 0, 0.8 + 0.05 * s), ("eprop", 0, 0.2)]
            values += [("exact", 0, 1.0)]
            values += [("label-permuted", i, v + 0.02 * (s - 1)) for i, v in enumerate(perms)]
            for arm, draw, value in values:
                rows.append(dict(seed=s, batch=b, checkpoint=7, arm=arm, draw=draw, label="",
                                 cosine=value + jitter, norm_ratio=1.0, cosine_exact=0.5,
                                 distance_exact=0.5))  # fmt: skip
    out = summarize(pd.DataFrame(rows)).set_index("arm")
    data = out.loc["data"]
    assert data["mean_cosine"] == pytest.approx(0.6)
    # 0.65 >= 0.6, the others below: rank 2, p = 2 / 5
    assert int(data["perm_rank"]) == 2 and int(data["n_perms"]) == 4
    assert data["perm_p"] == pytest.approx(2 / 5)
    perm_mean = np.mean(perms)
    assert data["perm_mean"] == pytest.approx(perm_mean)
    assert data["gap_closed_perm_to_ones"] == pytest.approx((0.6 - perm_mean) / (0.85 - perm_mean))
    assert data["position_eprop_to_exact"] == pytest.approx((0.6 - 0.2) / (1.0 - 0.2))
    # paired difference ones − data over seeds, with scipy's paired t interval
    ones = np.array([0.8, 0.85, 0.9])
    datas = np.array([0.5, 0.6, 0.7])
    ci = stats.ttest_rel(ones, datas).confidence_interval(0.95)
    assert out.loc["ones", "diff_to_data"] == pytest.approx(0.25)
    assert out.loc["ones", "diff_ci_low"] == pytest.approx(ci.low)
    assert out.loc["ones", "diff_ci_high"] == pytest.approx(ci.high)
    assert out.loc["label-permuted", "n_draws"] == 4
    assert out.loc["label-permuted", "mean_cosine"] == pytest.approx(perm_mean)
    assert list(out.index) == ["eprop", "ones", "data", "label-permuted", "exact"]
