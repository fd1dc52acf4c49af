"""Training loop: bit-identical resume, NaN stop, metric files, learning on a tiny task."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from neuromod_data.errors import TrainingError
from neuromod_models import SpikingNetwork, make_rule
from neuromod_models.checkpoint import load_checkpoint
from neuromod_models.tasks import make_task
from neuromod_models.training import batch_seed, train


def _tiny_evidence():
    return make_task(
        "evidence_accumulation", T=60, n_cues=3, t_cue=5, t_interval=8, recall_duration=10
    )


def _tiny_net(task, seed=0):
    kw = task.network_kwargs()
    kw["n_rec"] = 20
    kw["n_adaptive"] = 10
    return SpikingNetwork(**kw, seed=seed)


def _run(tmp, iterations, rule="mdgl", **kw):
    task = _tiny_evidence()
    net = _tiny_net(task)
    opts = dict(batch_size=4, validate_every=2, seed=3, progress=False, figure=False)
    opts.update(kw)
    res = train(
        net, make_rule(rule, feedback="random"), task, iterations=iterations, out_dir=tmp, **opts
    )
    return net, res


def _params(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _assert_same_run(dir_a, dir_b, net_a, net_b):
    pa, pb = _params(net_a), _params(net_b)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    assert (dir_a / "metrics.csv").read_text() == (dir_b / "metrics.csv").read_text()


def test_resume_is_bit_identical(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    net_a, _ = _run(straight, 8)
    _run(split, 4)
    net_b, res_b = _run(split, 8)  # a fresh process-like start: new network, resumes at 4
    _assert_same_run(straight, split, net_a, net_b)
    assert [r["iteration"] for r in res_b.history if r["split"] == "train"] == list(range(1, 9))
    # the optimiser state travelled too: Adam's step count is 8
    ck = load_checkpoint(split / "checkpoint.pt", net=_tiny_net(_tiny_evidence()))
    assert ck["iteration"] == 8
    assert all(int(s["step"]) == 8 for s in ck["optimizer"]["state"].values())


def test_resume_after_interruption(tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    net_a, _ = _run(straight, 8, rule="eprop")

    def interrupt(it, record):
        if it == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(broken, 8, rule="eprop", callback=interrupt)
    assert (
        load_checkpoint(broken / "checkpoint.pt", net=_tiny_net(_tiny_evidence()))["iteration"] == 4
    )
    net_b, _ = _run(broken, 8, rule="eprop")
    _assert_same_run(straight, broken, net_a, net_b)


def test_finished_run_does_nothing_and_settings_are_checked(tmp_path):
    net_a, res_a = _run(tmp_path, 4)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    net_b, res_b = _run(tmp_path, 4)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert res_b.history == res_a.history
    with pytest.raises(TrainingError, match=r"with lr=0\.\d+ but this run has lr=0\.01;"):
        _run(tmp_path, 6, lr=1e-2)
    with pytest.raises(TrainingError, match="more than the 3 asked for"):
        _run(tmp_path, 3)


def test_changed_nested_setting_is_named_by_its_path():
    from neuromod_models.checkpoint import _first_difference

    old = {"lr": 0.1, "network": {"n_rec": 20, "seed": 0}, "seed": 0}
    assert _first_difference(old, old) is None
    new = {"lr": 0.1, "network": {"n_rec": 20, "seed": 1}, "seed": 1}
    assert _first_difference(old, new) == ("network.seed", 0, 1)
    assert _first_difference(old, {**old, "gate": "data"}) == ("gate", None, "data")
    assert _first_difference({"a": {"b": 1}}, {"a": 2}) == ("a", {"b": 1}, 2)


def test_non_finite_loss_stops_with_clear_error(tmp_path):
    def poison(it, record):
        if it == 3:
            with torch.no_grad():
                net_holder["net"].theta_out.fill_(float("nan"))

    task = _tiny_evidence()
    net = _tiny_net(task)
    net_holder = {"net": net}
    with pytest.raises(TrainingError, match="iteration 4"):
        train(
            net,
            make_rule("bptt"),
            task,
            iterations=10,
            batch_size=4,
            validate_every=2,
            out_dir=tmp_path,
            progress=False,
            figure=False,
            callback=poison,
        )
    rows = _read_csv(tmp_path / "metrics.csv")
    assert max(int(r["iteration"]) for r in rows) == 3
    # the last good checkpoint (iteration 2) is intact and finite
    ck = load_checkpoint(tmp_path / "checkpoint.pt", net=_tiny_net(task))
    assert ck["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in ck["network"].values() if v.is_floating_point())


def test_metric_files(tmp_path):
    _, res = _run(tmp_path, 5, figure=True)
    rows = _read_csv(tmp_path / "metrics.csv")
    assert list(rows[0].keys()) == ["iteration", "split", "loss", "accuracy", "total_loss"]
    train_rows = [r for r in rows if r["split"] == "train"]
    val_rows = [r for r in rows if r["split"] == "validation"]
    assert [int(r["iteration"]) for r in train_rows] == [1, 2, 3, 4, 5]
    assert [int(r["iteration"]) for r in val_rows] == [0, 2, 4, 5]
    for r in rows:
        assert float(r["loss"]) > 0
        acc = float(r["accuracy"])
        assert 0 <= acc <= 1 and (acc * 4).is_integer()  # batch of 4 trials
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["iterations_done"] == 5
    assert summary["final_validation_loss"] == pytest.approx(float(val_rows[-1]["loss"]))
    assert summary["best_validation_loss"] == pytest.approx(min(float(r["loss"]) for r in val_rows))
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_batches_follow_seed_and_iteration():
    assert batch_seed(0, "train", 5) == batch_seed(0, "train", 5)
    assert (
        len(
            {
                batch_seed(0, "train", 5),
                batch_seed(0, "validation", 5),
                batch_seed(1, "train", 5),
                batch_seed(0, "train", 6),
            }
        )
        == 4
    )


@pytest.mark.parametrize("rule", ["bptt", "eprop", "mdgl"])
def test_tiny_pattern_task_learns(rule, tmp_path):
    task = make_task("pattern_generation", T=100, n_in=20)
    kw = task.network_kwargs()
    kw["n_rec"] = 30
    net = SpikingNetwork(**kw, seed=0)
    res = train(
        net,
        make_rule(rule),
        task,
        iterations=40,
        batch_size=1,
        validate_every=20,
        lr=1e-2,
        progress=False,
        out_dir=tmp_path,
        figure=False,
    )
    val = [r["loss"] for r in res.history if r["split"] == "validation"]
    assert val[-1] < 0.5 * val[0]
    assert all(r["accuracy"] is None for r in res.history)
    rows = _read_csv(tmp_path / "metrics.csv")
    assert rows and all(r["accuracy"] == "" for r in rows)  # regression: no accuracy
    # the sign constraint held after every step
    assert (net.theta_rec >= 0).all() and (net.theta_in >= 0).all()


def test_training_leaves_process_wide_state_alone(tmp_path):
    """No reseeding of the global random generators, no change of torch's thread count, before,
    during a resume, or after."""
    import numpy as np

    torch.manual_seed(123)
    np.random.seed(7)  # noqa: NPY002 - the caller's global state, which must survive
    torch_before, np_before = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    threads = torch.get_num_threads()
    _run(tmp_path / "a", 3)
    _run(tmp_path / "a", 5)  # resumes from the checkpoint
    assert torch.equal(torch.get_rng_state(), torch_before)
    np_after = np.random.get_state()  # noqa: NPY002
    assert np_after[2] == np_before[2] and np.array_equal(np_after[1], np_before[1])
    assert torch.get_num_threads() == threads


def test_threads_hold_while_training_and_are_restored_even_on_failure(tmp_path):
    """``threads=`` is torch's thread count during training only: seen by every iteration, and the
    caller's count comes back after a normal end and after an error raised inside training."""
    before = torch.get_num_threads()
    want = 2 if before != 2 else 3
    seen = []
    _run(
        tmp_path / "a",
        2,
        threads=want,
        callback=lambda it, rec: seen.append(torch.get_num_threads()),
    )
    assert seen == [want, want] and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="iterations"):
        _run(tmp_path / "b", -1, threads=want)
    assert torch.get_num_threads() == before


def test_validation_batches_are_never_training_batches(tmp_path):
    # docs/design.md, "Reproducibility" and "Our training loop": training batches come from seeds
    # derived from (seed, "train", iteration), validation batches from (seed, "validation",
    # iteration, k) and are fresh trials. Record every batch the loop draws and compare the trials
    # themselves: no validation trial may be one the network was trained on.
    import sys

    task = _tiny_evidence()
    draws = {"train": [], "validation": []}
    sample = task.sample

    def recording_sample(batch_size, *, seed, **kw):
        batch = sample(batch_size, seed=seed, **kw)
        # evaluate() draws the validation batches; the loop itself draws the training ones
        split = "validation" if sys._getframe(1).f_code.co_name == "evaluate" else "train"
        draws[split].append((seed, batch.x.detach().clone()))
        return batch

    task.sample = recording_sample
    train(_tiny_net(task), make_rule("eprop"), task, iterations=6, batch_size=4, seed=3,
          validate_every=2, validation_batches=2, progress=False, figure=False)  # fmt: skip
    # one batch per iteration; two per validation, at iterations 0, 2, 4 and 6
    assert len(draws["train"]) == 6 and len(draws["validation"]) == 8

    def trials(split):
        return [x[:, b].numpy().tobytes() for _, x in draws[split] for b in range(x.shape[1])]

    train_trials, val_trials = trials("train"), trials("validation")
    assert len(set(train_trials)) == len(train_trials) == 24  # premise: trials are distinguishable
    assert set(val_trials).isdisjoint(train_trials)
    assert len(set(val_trials)) == len(val_trials) == 32  # every validation draws fresh trials
    assert {s for s, _ in draws["validation"]}.isdisjoint(s for s, _ in draws["train"])
