"""A network derived from the real M1 files (Patch-seq intrinsic parameters, Billeh connectivity)
trains with every rule: on one fixed batch of the authors' evidence-accumulation task, a few Adam
steps lower the loss, the gradients are finite, Dale's law holds and the sampled synapses stay the
only ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuromod_data import CellTypeStructure
from neuromod_models import SpikingNetwork, make_rule
from neuromod_models.init import spectral_radius
from neuromod_models.tasks import make_task

FAMILIES = ("ET", "IT", "NP", "Pvalb", "Sst")
SIGNS = (1, 1, 1, -1, -1)


@pytest.fixture(scope="module")
def m1_derived(shared_data):
    from neuromod_data.connectivity import read_connectivity, type_connectivity
    from neuromod_data.ephys import intrinsic_from_ephys, read_ephys

    d = shared_data / "allen_m1_patchseq"
    cells = read_ephys(d / "m1_patchseq_ephys_features.csv", d / "m1_patchseq_meta_data.csv")
    k = len(FAMILIES)
    # uniform modulation: this test is about the neurons and synapses the data give, not the gate
    st = CellTypeStructure(
        FAMILIES, [0.1, 0.55, 0.05, 0.15, 0.15], SIGNS, np.ones((1, k, k)), ("m",)
    )
    st = st.with_intrinsic(intrinsic_from_ephys(cells, "RNA family", types=FAMILIES))
    billeh = read_connectivity(shared_data / "billeh2020_connectivity" / "connectivity_long.csv")
    conn = type_connectivity(
        billeh, FAMILIES, layers=cells, label="RNA family", layer_column="Inferred layer",
        signs=st.signs,
    )  # fmt: skip
    return st.with_connectivity(conn)


@pytest.mark.parametrize(
    "name, kw",
    [("bptt", {}), ("eprop", {}), ("mdgl", {"variant": "local", "gate": "data"}),
     ("mdgl", {"variant": "nonlocal", "gate": "data"})],
)  # fmt: skip
def test_m1_derived_network_learns_with_every_rule(m1_derived, name, kw):
    task = make_task("evidence_accumulation")
    batch = task.sample(16, seed=0)
    net = SpikingNetwork(40, 100, 2, structure=m1_derived, heterogeneity=True, seed=0)
    # the data decide the neurons: per-neuron constants differ within and between types
    assert net.v_th.unique().numel() > len(FAMILIES)
    mask0 = net.rec_mask.clone()
    w_signs0 = torch.sign(net.w_rec.detach())
    rule = make_rule(name, **kw)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        out = rule.backward(net, batch.x, task.loss_fn(batch))
        losses.append(float(out.loss))
        assert all(
            bool(torch.isfinite(p.grad).all()) for p in net.parameters() if p.grad is not None
        )
        assert float(net.theta_rec.grad.abs().sum()) > 0  # credit reaches the recurrent synapses
        opt.step()
        net.apply_constraints()
    # one fixed batch and a deterministic network: any decrease is learning, not sampling noise
    assert losses[-1] < losses[0] - 0.01, losses
    w = net.w_rec.detach()
    assert torch.equal(net.rec_mask, mask0)  # only the sampled synapses exist
    assert bool((torch.sign(w) * w_signs0 >= 0).all())  # Dale: no synapse changed sign


def test_m1_derived_network_starts_balanced(m1_derived):
    """The Billeh connectivity is balanced after it is drawn (docs/design.md, "Networks from
    data"): every neuron that receives both signs has zero summed input, the radius is the
    uniform network's of the same seed, and the only unbalanced neurons are those without an
    inhibitory synapse (few inhibitory neurons, sparse connections), whose excitation keeps
    total I/E below 1 rather than above it as the dense balance before the mask left it."""
    for seed in (0, 1):
        net = SpikingNetwork(40, 100, 2, structure=m1_derived, seed=seed, dtype=torch.float64)
        uni = SpikingNetwork(40, 100, 2, structure=m1_derived, connectivity=False, seed=seed,
                             dtype=torch.float64)  # fmt: skip
        w, sg = net.w_rec.detach(), net.signs
        exc_in, inh_in = (w[:, sg > 0] != 0).any(1), (w[:, sg < 0] != 0).any(1)
        both = exc_in & inh_in
        assert bool((exc_in | ~inh_in).all())  # every neuron with inhibition has excitation too
        assert float(w[both].sum(1).abs().max()) < 1e-12 * float(w.abs().sum(1).max())
        mixed = -w[both][:, sg < 0].sum() / w[both][:, sg > 0].sum()
        assert float(mixed) == pytest.approx(1.0, rel=1e-12)
        assert float(-w[:, sg < 0].sum() / w[:, sg > 0].sum()) <= 1.0
        assert spectral_radius(w) == pytest.approx(spectral_radius(uni.w_rec), rel=1e-9)
