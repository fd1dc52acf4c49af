"""The results page's stage-2 section on tiny run folders: each arm against the data gate paired
by seed (against scipy here), Holm over the gate controls, and the pilot's sample size."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from neuromod_data.experiments import pages
from neuromod_data.experiments.sample_size import pairs_needed

GRID = "gate_stage2"
TASKS = ("evidence_accumulation", "delayed_match")
ARMS = {"data": "mdgl/m1_types-data", "label-permuted": "mdgl/m1_types-label-permuted",
        "ones": "mdgl/m1_types-ones", "ei": "mdgl/m1_types-ei", "uniform": "mdgl/m1_types-uniform",
        "e-prop": "eprop/m1_types"}  # fmt: skip
ITS = list(range(0, 1001, 100))
HEAD = "## The gate question, stage 2: training grid"


def _write(root, make_run, seeds, rng):
    for task in TASKS:
        base = rng.uniform(0.3, 0.5, 10)  # a seed effect shared by the arms (paired)
        for i, path in enumerate(ARMS.values()):
            for s in seeds:
                end = base[s] + 0.01 * i + rng.normal(0, 0.01)
                loss = [0.7 + (end - 0.7) * it / 1000 for it in ITS]
                make_run(
                    root / f"{GRID}/{task}/{path}/seed{s}",
                    [(it, lo, 0.6) for it, lo in zip(ITS, loss)],
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
