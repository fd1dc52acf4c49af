"""benchmarks/scaling.py: the list schedule and critical path on small cases worked by hand, and
which measurement each job of a grid takes."""

from __future__ import annotations

import pytest
from _load import load_script

scaling = load_script("scaling")

# one structure s (3 s) that three training jobs (4 s each) wait for, and an unrelated job u (5 s)
SECONDS = {"s": 3.0, "t1": 4.0, "t2": 4.0, "t3": 4.0, "u": 5.0}
DEPS = {"t1": {"s"}, "t2": {"s"}, "t3": {"s"}}


@pytest.mark.parametrize(
    ("cores", "wall"),
    [
        (1, 20.0),  # everything in a row: 3 + 3 x 4 + 5
        # s (0-3) and u (0-5) first (longest paths 7 and 5); t1 3-7 on s's core, t2 5-9 on u's,
        # t3 7-11
        (2, 11.0),
        # s and u at 0 (the third core idles: nothing else is ready); t1, t2 3-7; t3 5-9 on u's
        (3, 9.0),
        (16, 7.0),  # the critical path s -> t: dependencies hold even with cores to spare
    ],
)
def test_list_schedule_matches_the_hand_worked_case(cores, wall):
    assert scaling.list_schedule(SECONDS, DEPS, cores) == wall


def test_list_schedule_bounds():
    total = sum(SECONDS.values())
    cp = scaling.critical_path(SECONDS, DEPS)
    assert cp == 7.0
    for p in (1, 2, 3, 5, 16):
        assert scaling.list_schedule(SECONDS, DEPS, p) >= max(total / p, cp)


def test_longest_jobs_first_among_independent_ones():
    # 3, 3, 2, 2, 2 on two cores: 3 | 3, then 2 | 2, then 2 = 7 (shortest first would give 8:
    # 2 | 2, 2 | 3, then 3)
    seconds = {"a": 3, "b": 3, "c": 2, "d": 2, "e": 2}
    assert scaling.list_schedule(seconds, {}, 2) == 7.0


def test_a_cycle_and_an_unknown_dependency_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        scaling.list_schedule({"a": 1, "b": 1}, {"a": {"b"}, "b": {"a"}}, 2)
    with pytest.raises(ValueError, match="unknown"):
        scaling.list_schedule({"a": 1}, {"a": {"x"}}, 2)


def _rc() -> dict:
    task = {"iterations": 100, "batch_size": 4}
    return {
        "name": "g",
        "tasks": {"evidence_accumulation": task},
        "structures": {"toy": {"source": "toy"}, "m1": {"source": "local", "physiology": {"x": 1}}},
        "grid": [
            {"tasks": ["evidence_accumulation"], "rules": ["bptt"], "structures": ["ei"],
             "seeds": [0, 1]},
            {"tasks": ["evidence_accumulation"], "rules": ["mdgl"],
             "structures": ["toy-data", "m1-data"], "seeds": [0]},
        ],
    }  # fmt: skip


def test_grid_jobs_and_their_dependencies():
    defaults = {"seeds": 2, "task": "evidence_accumulation"}
    jobs, deps = scaling.grid_jobs(_rc(), {"structures": ["m1"]}, defaults)
    kinds = sorted(j["kind"] for j in jobs.values())
    assert kinds.count("training") == 4
    assert kinds.count("alignment") == 1
    # toy: data -> graph; m1: graph -> physiology
    assert deps["graph:toy"] == {"data:toy"}
    assert deps["physiology:m1"] == {"graph:m1"}
    assert deps["train:evidence_accumulation/mdgl/toy-data/seed0"] == {"graph:toy"}
    assert deps["train:evidence_accumulation/mdgl/m1-data/seed0"] == {"physiology:m1"}
    assert deps["align:m1/evidence_accumulation"] == {"physiology:m1"}
    assert deps["train:evidence_accumulation/bptt/ei/seed0"] == set()
    # several tasks: one alignment job each
    jobs, _ = scaling.grid_jobs(_rc(), {"structures": ["m1"], "tasks": ["a", "b"]}, defaults)
    assert {j for j in jobs if j.startswith("align:")} == {"align:m1/a", "align:m1/b"}


def test_an_alignment_takes_only_a_published_one_of_the_same_settings():
    rc = _rc()
    rc["tasks"]["evidence_accumulation"]["network"] = {"n_rec": 500}
    defaults = {"task": "evidence_accumulation", "seeds": 8, "batches": 4}
    jobs, _ = scaling.grid_jobs(rc, {"structures": ["m1"]}, defaults)
    published = {"task": "evidence_accumulation", "seeds": 8, "batches": 4, "seconds": 60.0}
    seconds, _ = scaling.job_seconds(jobs, [], [{**published, "network": {}}])
    assert seconds["align:m1/evidence_accumulation"] is None  # N = 500 was never measured
    seconds, _ = scaling.job_seconds(jobs, [], [{**published, "network": {"n_rec": 500}}])
    assert seconds["align:m1/evidence_accumulation"] == 60.0


def test_each_job_takes_the_first_source_that_measured_its_kind():
    rc = _rc()
    jobs, deps = scaling.grid_jobs(rc, None, {})
    s = rc["tasks"]["evidence_accumulation"]
    bptt = scaling.cost_kind("evidence_accumulation", "bptt", s)
    mdgl = scaling.cost_kind("evidence_accumulation", "mdgl", s)
    other_batch = scaling.cost_kind("evidence_accumulation", "bptt", {**s, "batch_size": 64})
    sources = [
        ("runs of g", {bptt: [1.0, 3.0, 2.0], other_batch: [99.0]}),  # median 2 s/iteration
        ("runs of other grids", {bptt: [50.0], mdgl: [0.5]}),
    ]
    seconds, source = scaling.job_seconds(jobs, sources, [])
    assert seconds["train:evidence_accumulation/bptt/ei/seed1"] == 200.0  # 2 s x 100 iterations
    assert source["train:evidence_accumulation/bptt/ei/seed1"][0] == "runs of g"
    assert seconds["train:evidence_accumulation/mdgl/m1-data/seed0"] == 50.0
    assert seconds["graph:m1"] is None  # no measurement: never invented

    row = scaling.grid_row("g", seconds, deps, jobs, overhead=2.0)
    cells = [c.strip() for c in row.strip("|").split("|")]
    # 8 jobs (4 structure-building, not measured: 0 s), 4 measured: 2 x 200 + 2 x 50 = 500 s;
    # 1 core: 500 s; 16 cores: the longest chain, 200 s
    assert cells[1:4] == ["8", "4", "0.1"]
    assert cells[4] == "8.3 min" and cells[6] == "3.3 min" and cells[7] == "3.3 min"
    assert "2 graph" in cells[9] and "1 physiology" in cells[9] and "1 toy data" in cells[9]

    # a training job without a measurement: the numbers become floors; nothing measured: none
    row = scaling.grid_row("g", {**seconds, "train:evidence_accumulation/bptt/ei/seed1": None},
                           deps, jobs, overhead=2.0)  # fmt: skip
    assert row.split("|")[4].strip() == "≥ 0.1"
    row = scaling.grid_row("g", dict.fromkeys(seconds), deps, jobs, overhead=2.0)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 10 and cells[3:8] == ["not measured"] * 5 and cells[8] == "2.0 s"


def test_cluster_md_overhead_and_payloads(tmp_path):
    md = tmp_path / "cluster.md"
    md.write_text(
        "Generated on 2026-01-02 03:04 UTC.\n\n- Grid: `workflows/config/x.yaml` (...)\n\n"
        "| SLURM job | rule | wildcards | state | payload s | in-job overhead s |\n"
        "|---|---|---|---|---:|---:|\n"
        "| 1 | repro_options | task=a | COMPLETED | — | — |\n"
        "| 2 | repro_train | task=a, lrule=eprop, structure=ei, seed=0 | COMPLETED | 9.0 | 6.0 |\n"
        "| 3 | repro_train | task=a, lrule=eprop, structure=ei, seed=1 | COMPLETED | 11.0 | 7.0 |\n"
    )
    got = scaling.cluster_measurements(md)
    assert got["config"] == "workflows/config/x.yaml"
    assert got["date"] == "2026-01-02 03:04 UTC"
    assert got["overheads"] == [6.0, 7.0]
    assert got["payloads"] == {("a", "eprop", "ei", 0): [9.0], ("a", "eprop", "ei", 1): [11.0]}
