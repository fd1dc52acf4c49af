"""Tasks (docs/design.md, "Tasks"): input statistics, timing, labels and targets against the spec."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuromod_models.tasks import (
    DelayedMatch,
    EvidenceAccumulation,
    PatternGeneration,
    make_generator,
    make_task,
)


def _rate_hz(spikes: torch.Tensor) -> float:
    return float(spikes.double().mean()) * 1000.0


def _binomial_tol(p: float, n: int, k: float = 5.0) -> float:
    """k standard deviations of a mean of n Bernoulli(p) draws, in Hz (dt = 1 ms)."""
    return k * math.sqrt(p * (1 - p) / n) * 1000.0


# ----------------------------------------------------------------- evidence accumulation
@pytest.fixture(scope="module")
def evidence_batch():
    task = EvidenceAccumulation()
    return task, task.sample(96, seed=3)


def test_evidence_shapes_and_labels(evidence_batch):
    task, b = evidence_batch
    assert task.n_in == 40 and task.n_out == 2 and task.T == 2000
    assert b.x.shape == (2000, 96, 40)
    # Poisson counts, as the authors' np.random.poisson: whole numbers, occasionally 2 in a step
    assert torch.equal(b.x, b.x.round()) and b.x.min() == 0
    cues = b.info["cues"]
    assert cues.shape == (96, 7)
    # label = majority side (right = 1), recomputed by counting cues directly
    majority = [1 if sum(row) >= 4 else 0 for row in cues.tolist()]
    assert b.target.tolist() == majority
    assert b.target.dtype == torch.long


def test_evidence_cue_timing_and_rates(evidence_batch):
    task, b = evidence_batch
    x = b.x
    cues = b.info["cues"]
    on = torch.zeros(2000, 96, 2, dtype=torch.bool)  # when the left/right group should fire
    for k in range(7):
        start = 150 * k  # the authors: cue k over steps [150k, 150k + 100), the first at t = 0
        for trial in range(96):
            on[start : start + 100, trial, int(cues[trial, k])] = True
    left, right, recall, background = x[..., 0:10], x[..., 10:20], x[..., 20:30], x[..., 30:40]
    for side, group in enumerate((left, right)):
        mask = on[..., side]
        active = group[mask]
        assert abs(_rate_hz(active) - 40.0) < _poisson_tol(0.04, active.numel())
        assert group[~mask].sum() == 0  # cue channels are silent outside their cues
    assert recall[:1850].sum() == 0
    rec = recall[1850:]
    assert abs(_rate_hz(rec) - 40.0) < _poisson_tol(0.04, rec.numel())
    assert abs(_rate_hz(background) - 10.0) < _poisson_tol(0.01, background.numel())
    # the last cue ends at 6·150 + 100 = 1000 ms
    assert x[1000:, :, 0:20].sum() == 0 and x[900:1000, :, 0:20].sum() > 0
    # counts: P(2 or more spikes | mean 0.04) = 1 - e^-0.04 (1.04) = 7.8e-4, seen in 96 trials
    assert (x[..., 0:30] >= 2).any()


def _poisson_tol(mean: float, n: int, k: float = 5.0) -> float:
    """k standard deviations of a mean of n Poisson(mean) counts, in Hz (dt = 1 ms)."""
    return k * math.sqrt(mean / n) * 1000.0


def test_evidence_cues_are_independent_fair_draws():
    # the authors' generator: each cue on either side with probability 1/2, independently, so the
    # number of right cues is Binomial(7, 1/2) and 4–3 trials are 70/128 = 55 % of all
    task = EvidenceAccumulation(T=20, t_cue=1, t_interval=2, recall_duration=2)
    n_right, cue_means = [], []
    for seed in range(300):
        cues = task.sample(64, seed=seed).info["cues"].numpy()
        n_right.append(cues.sum(1))
        cue_means.append(cues.mean(0))
    n_right = np.concatenate(n_right)
    counts = np.bincount(n_right, minlength=8) / n_right.size
    expected = np.array([math.comb(7, k) for k in range(8)]) / 128
    tol = 5 * np.sqrt(expected * (1 - expected) / n_right.size)
    assert np.all(np.abs(counts - expected) < tol), (counts, expected)
    assert abs(counts[3] + counts[4] - 70 / 128) < 0.01
    np.testing.assert_allclose(np.mean(cue_means, 0), 0.5, atol=0.01)
    # the variant with a favoured side differs: 4–3 trials are only 32 % there
    fav = EvidenceAccumulation(T=20, t_cue=1, t_interval=2, recall_duration=2, p_group=0.3)
    nr = fav.sample(20000, seed=11).info["cues"].sum(1).numpy()
    assert abs(np.isin(nr, (3, 4)).mean() - 0.32) < 0.015


def test_evidence_patterns_distinct_within_a_batch():
    task = EvidenceAccumulation(T=20, t_cue=1, t_interval=2, recall_duration=2)
    weights = 2 ** np.arange(6, -1, -1)
    for bsz in (64, 128):
        codes = task.sample(bsz, seed=4).info["cues"].numpy() @ weights
        assert len(set(codes.tolist())) == bsz  # the authors: permutation(128)[:B]
    codes = task.sample(200, seed=4).info["cues"].numpy() @ weights
    assert sorted(codes[:128].tolist()) == list(range(128))  # blocks of all 128 patterns
    assert len(set(codes[128:].tolist())) == 72


def test_evidence_favoured_side_variant_distribution():
    # the earlier default, kept as an option: a favoured side, each cue on it with probability 0.7
    task = EvidenceAccumulation(T=20, t_cue=1, t_interval=2, recall_duration=2, p_group=0.3)
    b = task.sample(20000, seed=11)
    n_right = b.info["cues"].sum(1).numpy()
    counts = np.bincount(n_right, minlength=8) / n_right.size
    expected = [
        0.5 * math.comb(7, k) * (0.7**k * 0.3 ** (7 - k) + 0.3**k * 0.7 ** (7 - k))
        for k in range(8)
    ]
    np.testing.assert_allclose(counts, expected, atol=0.012)
    assert abs(b.target.float().mean().item() - 0.5) < 0.02


def test_evidence_determinism():
    task = EvidenceAccumulation(T=400, t_cue=20, t_interval=30, recall_duration=50)
    a, b = task.sample(8, seed=5), task.sample(8, seed=5)
    assert torch.equal(a.x, b.x) and torch.equal(a.target, b.target)
    c = task.sample(8, seed=6)
    assert not torch.equal(a.x, c.x)
    g = make_generator(5)
    first, second = task.sample(8, generator=g), task.sample(8, generator=g)
    assert torch.equal(first.x, a.x)  # a generator seeded 5 gives the seed-5 batch first
    assert not torch.equal(first.x, second.x)  # and moves on


def test_evidence_loss_and_accuracy_by_hand():
    task = EvidenceAccumulation(T=400, t_cue=20, t_interval=30, recall_duration=50)
    b = task.sample(3, seed=0)
    y = torch.zeros(400, 3, 2)
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.25], [-3.0, 1.0]])
    y[-1] = logits
    y[:-1] = 100.0  # only the last step counts
    labels = b.target.tolist()
    rows = logits.tolist()
    expected = (
        -sum(
            math.log(math.exp(rows[i][labels[i]]) / sum(math.exp(v) for v in rows[i]))
            for i in range(3)
        )
        / 3
    )
    assert task.loss(y, b).item() == pytest.approx(expected, rel=1e-6)
    pred = [0, 0, 1]
    assert task.accuracy(y, b) == pytest.approx(sum(p == t for p, t in zip(pred, labels)) / 3)


def test_evidence_rejects_bad_options():
    with pytest.raises(ValueError, match="too short"):
        EvidenceAccumulation(T=1000)
    with pytest.raises(ValueError, match="odd"):
        EvidenceAccumulation(n_cues=6)
    with pytest.raises(ValueError, match="unknown task"):
        make_task("nope")


# ----------------------------------------------------------------- pattern generation
def test_pattern_targets_are_scaled_sums_of_four_sines():
    task = PatternGeneration(seed=4, n_out=2)
    b = task.sample(3)
    tgt = b.target
    assert tgt.shape == (1000, 3, 2)
    assert tgt.min() >= -1 and tgt.max() <= 1
    for o in range(2):
        trace = tgt[:, 0, o].double().numpy()
        assert trace.min() == pytest.approx(-1.0) and trace.max() == pytest.approx(1.0)
        # an independent least-squares fit on sin/cos at 1, 2, 3.003, 5 Hz plus a constant is exact
        t = np.arange(1000.0)
        cols = [np.ones_like(t)]
        for period in (1000.0, 500.0, 333.0, 200.0):
            cols += [np.sin(2 * np.pi * t / period), np.cos(2 * np.pi * t / period)]
        A = np.stack(cols, 1)
        coef, *_ = np.linalg.lstsq(A, trace, rcond=None)
        np.testing.assert_allclose(A @ coef, trace, atol=1e-6)
        amps = np.hypot(coef[1::2], coef[2::2])
        assert amps.max() / amps.min() <= 4.0 + 1e-9  # amplitudes from U(0.5, 2)
    # frozen: every trial and every batch is the same
    assert torch.equal(tgt[:, 0], tgt[:, 2])
    b2 = task.sample(3, seed=99)
    assert torch.equal(b.x, b2.x) and torch.equal(b.target, b2.target)
    assert torch.equal(b.x[:, 0], b.x[:, 1])


def test_pattern_input_rate_and_seed():
    task = PatternGeneration(seed=0)
    x = task.sample(1).x
    assert x.shape == (1000, 1, 100)
    assert abs(_rate_hz(x) - 50.0) < _binomial_tol(0.05, x.numel())
    other = PatternGeneration(seed=1).sample(1)
    assert not torch.equal(x, other.x)
    assert torch.equal(PatternGeneration(seed=0).sample(1).target, task.sample(1).target)


def test_pattern_loss_is_mse():
    task = PatternGeneration(T=50, n_in=5)
    b = task.sample(2)
    y = torch.zeros(50, 2, 1)
    assert task.loss(y, b).item() == pytest.approx(float((b.target**2).mean()), rel=1e-6)
    assert task.accuracy(y, b) is None
    kw = task.network_kwargs()
    assert kw["n_adaptive"] == 0 and kw["tau_m"] == 30.0 and kw["v_th"] == 0.03


# ----------------------------------------------------------------- delayed match-to-sample
def test_delayed_match_labels_timing_rates():
    task = DelayedMatch()
    assert task.T == 1000
    b = task.sample(64, seed=2)
    cue1, cue2 = b.info["cue1"], b.info["cue2"]
    assert b.target.tolist() == [int(a == c) for a, c in zip(cue1.tolist(), cue2.tolist())]
    x = b.x
    on = torch.zeros(1000, 64, 2, dtype=torch.bool)
    for start, cue in ((50, cue1), (650, cue2)):
        for trial in range(64):
            on[start : start + 100, trial, int(cue[trial])] = True
    for s in (0, 1):
        group = x[..., 10 * s : 10 * (s + 1)]
        active = group[on[..., s]]
        assert abs(_rate_hz(active) - 40.0) < _binomial_tol(0.04, active.numel())
        assert group[~on[..., s]].sum() == 0
    assert x[:850, :, 20:30].sum() == 0
    assert abs(_rate_hz(x[850:, :, 20:30]) - 40.0) < _binomial_tol(0.04, 150 * 64 * 10)
    assert abs(_rate_hz(x[..., 30:]) - 10.0) < _binomial_tol(0.01, 1000 * 64 * 10)


def test_delayed_match_balance_and_determinism():
    task = DelayedMatch(t_silence=1, t_cue=1, delay=2, gap=1, recall_duration=1)
    b = task.sample(20000, seed=0)
    assert abs(b.target.float().mean().item() - 0.5) < 0.02
    assert abs(b.info["cue1"].float().mean().item() - 0.5) < 0.02
    assert torch.equal(task.sample(10, seed=1).x, task.sample(10, seed=1).x)
    assert make_task("delayed_match").T == 1000
