"""Type-averaged modulatory weights and gates against direct loop computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from neuromod_data.structure import CellTypeStructure
from neuromod_models import modulatory_matrix, resolve_gate, type_averaged_weights


def random_sparse(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, n, generator=g, dtype=torch.float64) * (torch.rand(n, n, generator=g) < 0.4)
    w.fill_diagonal_(0)
    return w


def loops(w, types, k, variant):
    n = w.shape[0]
    out = np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            block = [
                float(w[j, p])
                for j in range(n)
                for p in range(n)
                if types[j] == a and types[p] == b
            ]
            if variant == "local":
                nz = [v for v in block if v != 0]
                out[a, b] = np.mean(nz) if nz else 0.0
            else:
                out[a, b] = np.mean(block) if block else 0.0
    return out


@pytest.mark.parametrize("variant", ["local", "nonlocal"])
def test_type_averages_equal_loops(variant):
    w = random_sparse()
    types = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 0, 1]
    got = type_averaged_weights(w, torch.tensor(types), 5, variant=variant)  # type 4 has no neurons
    assert np.allclose(got.numpy(), loops(w, types, 5, variant), atol=1e-14)
    assert bool((got[4] == 0).all()) and bool((got[:, 4] == 0).all())


def test_modulatory_matrix_with_gate():
    w = random_sparse(seed=1)
    types = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 1, 0, 1])
    gate = np.array([[1.0, 0.0, 0.5], [0.2, 1.0, 0.0], [0.0, 0.3, 1.0]])
    wbar = loops(w, types.tolist(), 3, "local")
    local = modulatory_matrix(w, types, 3, variant="local", gate=gate)
    nonlocal_ = modulatory_matrix(w, types, 3, variant="nonlocal", gate=gate)
    exact = modulatory_matrix(w, types, 3, variant="exact", gate=gate)
    wbar_nl = loops(w, types.tolist(), 3, "nonlocal")
    for j in range(12):
        for p in range(12):
            a, b = int(types[j]), int(types[p])
            assert float(local[j, p]) == pytest.approx(
                gate[a, b] * wbar[a, b] * float(w[j, p] != 0), abs=1e-12
            )
            assert float(exact[j, p]) == pytest.approx(gate[a, b] * float(w[j, p]), abs=1e-14)
            exp_nl = gate[a, b] * wbar_nl[a, b]  # every j of the type, p itself included
            assert float(nonlocal_[j, p]) == pytest.approx(exp_nl, abs=1e-14)
    with pytest.raises(ValueError, match="gate has shape"):
        modulatory_matrix(w, types, 3, gate=np.ones((2, 2)))


def test_resolve_gate_options():
    mod = np.zeros((2, 3, 3))
    mod[0, 0, 1] = 4.0
    mod[1, 2, 0] = 1.0
    mod[1, 0, 1] = 1.0
    st = CellTypeStructure(
        names=("a", "b", "c"),
        abundances=np.ones(3),
        signs=np.array([1, -1, -1]),
        modulation=mod,
        pairs=("p", "q"),
    )
    data, ei = resolve_gate(st, "data")
    assert not ei and data[0, 1] == 1.0 and data[2, 0] == pytest.approx(0.2)
    binary, _ = resolve_gate(st, "binary")
    assert binary.tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 0]]
    shuffled, _ = resolve_gate(st, "grid-shuffled", seed=1)
    assert sorted(shuffled.ravel().tolist()) == sorted(data.ravel().tolist())
    assert not np.array_equal(shuffled, data)
    permuted, _ = resolve_gate(st, "label-permuted", seed=1)
    assert not np.array_equal(permuted, data)
    assert any(
        np.array_equal(permuted, data[np.ix_(p, p)]) for p in itertools.permutations(range(3))
    )
    uniform, _ = resolve_gate(st, "uniform")
    assert np.allclose(uniform, data.mean())
    assert resolve_gate(st, None) == (None, False)
    assert resolve_gate(st, "none") == (None, False)
    assert resolve_gate(st, "ei") == (None, True)
    with pytest.raises(ValueError, match="unknown gate"):
        resolve_gate(st, "diffuse")
    with pytest.raises(ValueError, match="grid-shuffled"):
        resolve_gate(st, "shuffled")


def _three_type_structure() -> CellTypeStructure:
    mod = np.zeros((2, 3, 3))
    mod[0, 0, 1] = 4.0
    mod[1, 2, 0] = 1.0
    mod[1, 0, 1] = 1.0
    mod[0, 1, 1] = 2.0
    return CellTypeStructure(
        names=("a", "b", "c"),
        abundances=np.array([0.5, 0.3, 0.2]),
        signs=np.array([1, -1, 1]),
        modulation=mod,
        pairs=("p", "q"),
    )


@pytest.mark.parametrize("variant", ["local", "nonlocal", "exact"])
def test_ones_gate_is_none_and_not_data(variant, sequence_backend):
    """``ones`` (G = 1 over the K types) is the explicit name of ``none``: the same gradient to the
    bit; the data gate, which has zeros, gives another one."""
    from neuromod_models import SpikingNetwork, make_rule

    st = _three_type_structure()
    g, ei = resolve_gate(st, "ones")
    assert g.tolist() == np.ones((3, 3)).tolist() and not ei
    x = (torch.rand(60, 3, 5, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    grads = {}
    for gate in ("none", "ones", "data"):
        net = SpikingNetwork(
            5, 16, 2, structure=st, seed=3, p_rec=0.3, p_out=0.5, dtype=torch.float64
        )
        rule = make_rule("mdgl", variant=variant, gate=gate)
        rule.backward(net, x, lambda y: (y**2).sum())
        grads[gate] = torch.cat([net.theta_rec.grad, net.theta_in.grad.ravel()])
    assert torch.equal(grads["ones"], grads["none"])
    assert (grads["data"] - grads["ones"]).abs().max() > 1e-4 * grads["ones"].abs().max()
