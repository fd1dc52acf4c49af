"""The results page's stage-2 section on tiny run folders: each arm against the data gate paired
by seed (against scipy here), Holm over the gate controls, and the pilot's sample size."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy import stats

from neuromod_data.experiments import pages
from neuromod_data.experiments.sample_size import pairs_needed
from neuromod_data.experiments.stats import detectable_effect_paired

GRID = "gate_stage2"
TASKS = ("evidence_accumulation", "delayed_match")
ARMS = {"data": "mdgl/m1_types-data", "label-permuted": "mdgl/m1_types-label-permuted",
        "ones": "mdgl/m1_types-ones", "ei": "mdgl/m1_types-ei", "uniform": "mdgl/m1_types-uniform",
        "e-prop": "eprop/m1_types"}  # fmt: skip
ITS = list(range(0, 1001, 100))
HEAD = "## The gate question, stage 2: training grid"


def _write(root, make_run, seeds, rng, *, seconds=None, noise=0.01):
    for task in TASKS:
        base = rng.uniform(0.3, 0.5, 10)  # a seed effect shared by the arms (paired)
        for i, path in enumerate(ARMS.values()):
            for s in seeds:
                end = base[s] + 0.01 * i + rng.normal(0, noise)
                loss = [0.7 + (end - 0.7) * it / 1000 for it in ITS]
                make_run(
                    root / f"{GRID}/{task}/{path}/seed{s}",
                    [(it, lo, 0.6) for it, lo in zip(ITS, loss)],
                    seconds=None if seconds is None else seconds[task],
                )


def _auc(path) -> float:
    v = pd.read_csv(path / "metrics.csv").query("split == 'validation'")
    return float(np.trapezoid(v.total_loss, v.iteration) / 1000)


def _section(text: str) -> str:
    return text[text.index(HEAD) :].split("\n## ", 1)[0]


def test_arms_against_the_data_gate_and_the_pilot(tmp_path, make_run):
    root = tmp_path / "runs"
    _write(root, make_run, range(3), np.random.default_rng(0))
    sec = _section(pages.build_page(root, tmp_path / "r.md", tmp_path / "f"))
    auc = {
        (t, a, s): _auc(root / f"{GRID}/{t}/{p}/seed{s}")
        for t in TASKS for a, p in ARMS.items() for s in range(3)
    }  # fmt: skip
    # the AUC table of evidence accumulation: ones − data, paired, against scipy
    block = sec[sec.index("**evidence_accumulation, mean loss over iterations 0–1,000**") :]
    ones = next(line for line in block.splitlines() if line.startswith("| ones |"))
    cells = [c.strip() for c in ones.strip("|").split("|")]
    a = np.array([auc[("evidence_accumulation", "ones", s)] for s in range(3)])
    d = np.array([auc[("evidence_accumulation", "data", s)] for s in range(3)])
    res = stats.ttest_rel(a, d)
    ci = res.confidence_interval(0.95)
    assert cells[3] == f"{(a - d).mean():+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]"
    assert cells[4] == "3" and cells[5] == f"{res.pvalue:.2g}"
    # the pilot: SD of label-permuted − data AUC differences, the larger task, seeds for 0.015
    sds = {
        t: np.std([auc[(t, "label-permuted", s)] - auc[(t, "data", s)] for s in range(3)], ddof=1)
        for t in TASKS
    }
    worst = max(sds, key=sds.get)
    assert f"{sds[worst]:.4f} ({worst}" in sec
    assert f"needs **{pairs_needed(sds[worst], 0.015)} seeds**" in sec


def test_an_incomplete_pilot_concludes_nothing(tmp_path, make_run):
    root = tmp_path / "runs"
    _write(root, make_run, range(2), np.random.default_rng(1))
    sec = _section(pages.build_page(root, tmp_path / "r.md", tmp_path / "f"))
    assert "**Pilot: not complete**" in sec and "evidence_accumulation 2, delayed_match 2" in sec
    assert "needs **" not in sec


def test_no_runs_no_section(tmp_path, make_run):
    root = tmp_path / "runs"
    make_run(root / "quick/evidence_accumulation/bptt/ei/seed0", [(0, 0.7, 0.5), (10, 0.6, 0.6)])
    assert HEAD not in pages.build_page(root, tmp_path / "r.md", tmp_path / "f")


def _align(tmp_path, seconds):
    """The stage's alignment records beside the runs folder, as `collect_alignment` writes them."""
    for task, sec in zip(TASKS, seconds, strict=True):
        folder = tmp_path / "alignment/stage2" / task
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"task": task, "seconds": sec}))


def _sds(root, seeds):
    return {
        t: np.std(
            [
                _auc(root / f"{GRID}/{t}/{ARMS['label-permuted']}/seed{s}")
                - _auc(root / f"{GRID}/{t}/{ARMS['data']}/seed{s}")
                for s in seeds
            ],
            ddof=1,
        )
        for t in TASKS
    }


def test_the_budget_counts_alignment_and_runs_and_caps_the_grid(tmp_path, make_run):
    root = tmp_path / "runs"
    # 1 h per evidence run, 0.5 h per delayed-match run: a seed of 12 runs costs 9 h
    secs = {"evidence_accumulation": 3600.0, "delayed_match": 1800.0}
    _write(root, make_run, range(3), np.random.default_rng(2), seconds=secs, noise=0.02)
    # one run of seed 3 is in: the seed's other 11 runs (8.5 h) are reserved
    make_run(
        root / f"{GRID}/delayed_match/{ARMS['data']}/seed3",
        [(it, 0.5, 0.6) for it in ITS],
        seconds=1800.0,
    )
    _align(tmp_path, [1800.0, 900.0])
    sec = _section(pages.build_page(root, tmp_path / "r.md", tmp_path / "f"))
    runs_h = 3 * (6 * 1.0 + 6 * 0.5) + 0.5
    assert f"Cost so far {0.75 + runs_h:.2f} of the 12 CPU-hours (alignment 0.75, 37 runs" in sec
    assert f"runs {runs_h:.2f};" in sec and "costs 9.00." in sec
    # 12 h is spent already: no seed beyond the four started, so the grid stops reduced at 4
    sd = max(_sds(root, range(3)).values())
    needed = pairs_needed(sd, 0.015)
    assert needed > 4
    assert f"needs **{needed} seeds**" in sec
    assert "The budget allows 4: the grid stops there, **reduced**, and detects " in sec
    assert f"detects {detectable_effect_paired(4) * sd:.4f} with power 0.8" in sec
    # seed 3 is not complete: nothing is judged yet
    assert "**Interim:** 3 of the 4 seeds complete" in sec
    assert "Against the preregistration" not in sec


def test_without_its_alignment_the_budget_says_so(tmp_path, make_run):
    root = tmp_path / "runs"
    secs = {"evidence_accumulation": 60.0, "delayed_match": 30.0}
    _write(root, make_run, range(1), np.random.default_rng(3), seconds=secs)
    sec = _section(pages.build_page(root, tmp_path / "r.md", tmp_path / "f"))
    assert "(alignment 0.00, not found, 12 runs 0.15;" in sec
    # one pair per task so far: counted, too few for a plan
    assert "so far: evidence_accumulation 1, delayed_match 1 of the 3" in sec


def test_a_finished_grid_is_judged_against_the_preregistration(tmp_path, make_run):
    root = tmp_path / "runs"
    # cheap runs, a small SD: the pilot's three seeds are all the plan needs
    secs = {"evidence_accumulation": 60.0, "delayed_match": 30.0}
    _write(root, make_run, range(3), np.random.default_rng(4), seconds=secs, noise=0.001)
    _align(tmp_path, [60.0, 60.0])
    sec = _section(pages.build_page(root, tmp_path / "r.md", tmp_path / "f"))
    sd = max(_sds(root, range(3)).values())
    assert pairs_needed(sd, 0.015) <= 3
    assert "the grid stops at **3 seeds**" in sec
    verdicts = sec[sec.index("**Against the preregistration** (3 complete seeds") :]
    # label-permuted − data in evidence accumulation's AUC: Holm over the four controls by hand
    t = "evidence_accumulation"
    d = np.array([_auc(root / f"{GRID}/{t}/{ARMS['data']}/seed{s}") for s in range(3)])
    p = {
        arm: stats.ttest_rel(
            [_auc(root / f"{GRID}/{t}/{ARMS[arm]}/seed{s}") for s in range(3)], d
        ).pvalue
        for arm in ("label-permuted", "ones", "ei", "uniform")
    }
    order = sorted(p, key=p.get)
    holm, running = {}, 0.0
    for i, arm in enumerate(order):
        running = max(running, min(1.0, (4 - i) * p[arm]))
        holm[arm] = running
    line = next(
        x for x in verdicts.splitlines()
        if x.startswith("- label-permuted − data, evidence_accumulation, mean loss")
    )  # fmt: skip
    assert f"Holm p {holm['label-permuted']:.2g}" in line
    # the arms' losses differ by construction (0.01 per arm): label-permuted is resolved
    assert (
        holm["label-permuted"] < 0.05 and "**a difference** (the data gate's loss is lower)" in line
    )
    assert sum(x.startswith("- ") for x in verdicts.splitlines()) == 8  # 2 controls × 2 tasks × 2


def test_later_seeds_do_not_resize_the_grid(tmp_path, make_run):
    root = tmp_path / "runs"
    secs = {"evidence_accumulation": 600.0, "delayed_match": 300.0}
    rng = np.random.default_rng(5)
    _write(root, make_run, range(3), rng, seconds=secs, noise=0.02)
    # seeds 3 and 4 differ far more between arms: the plan is still the pilot's (seeds 0-2)
    _write(root, make_run, range(3, 5), rng, seconds=secs, noise=0.2)
    sec = _section(pages.build_page(root, tmp_path / "r.md", tmp_path / "f"))
    pilot, everything = _sds(root, range(3)), _sds(root, range(5))
    worst = max(pilot, key=pilot.get)
    assert max(everything.values()) > 2 * pilot[worst]  # the later seeds would change the plan
    assert f"{pilot[worst]:.4f} ({worst}" in sec
    assert f"needs **{pairs_needed(pilot[worst], 0.015)} seeds**" in sec
