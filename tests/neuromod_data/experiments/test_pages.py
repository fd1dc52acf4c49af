"""The results page on tiny run folders: the numbers in its tables against direct computations,
its figures, the pending jobs of a hand-made grid. Prose is not checked, only table cells."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from neuromod_data.errors import FormatError, InputFileError, OutputError
from neuromod_data.experiments import pages
from neuromod_data.experiments.runs import Run

EA = "evidence_accumulation"
# the published length: 2000 iterations; the last 100 hold 5 points
ITS = [0, 500, 1000, 1500, 1900, 1925, 1950, 1975, 2000]


def curve(end_loss, end_acc, offset=0.0):
    """A validation curve falling linearly to ``end_loss``; total loss = loss + offset."""
    n = len(ITS)
    loss = np.linspace(0.7, end_loss, n)
    acc = np.linspace(0.5, end_acc, n)
    return [(it, float(lo), float(a), float(lo + offset)) for it, lo, a in zip(ITS, loss, acc)]


FINALS = {  # rule: final validation loss of each seed
    "bptt": [0.10, 0.12, 0.08],
    "mdgl": [0.25, 0.30, 0.20],
    "eprop": [0.45, 0.50, 0.55],
}


@pytest.fixture
def runs(tmp_path, make_run):
    root = tmp_path / "runs"
    for rule, finals in FINALS.items():
        for seed, f in enumerate(finals):
            make_run(
                root / f"g/{EA}/{rule}/ei/seed{seed}",
                curve(f, 0.95 if rule != "eprop" else 0.7, offset=0.01),
                seconds=100.0,
                batch_size=64,
                command=f"neuromod train --rule {rule} --seed {seed}",
            )
    for gate, finals in (("data", [0.40, 0.42, 0.44]), ("label-permuted", [0.41, 0.45, 0.49])):
        for seed, f in enumerate(finals):
            make_run(root / f"g/{EA}/mdgl/toy-{gate}/seed{seed}", curve(f, 0.8))
    return root


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading`` (its header dropped)."""
    block = text[text.index(heading) :].split("\n## ", 1)[0].splitlines()
    first = next(i for i, line in enumerate(block) if line.startswith("| "))
    rows = []
    for line in block[first:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    cells = [[c.strip() for c in r.replace("\\|", "¦").strip("|").split("|")] for r in rows]
    return [c for c in cells[1:] if not c[0].startswith("---")]


def window_means(rule_or_structure: str, runs_root) -> np.ndarray:
    """The authors' final loss of each seed, straight from the CSV files with pandas."""
    out = []
    for path in sorted(runs_root.glob(f"g/{EA}/*/{rule_or_structure}/seed*/metrics.csv")):
        m = pd.read_csv(path)
        v = m[m.split == "validation"]
        out.append(v.loc[v.iteration >= v.iteration.max() - 100, "total_loss"].mean())
    return np.array(out)


def window_means_of(rule: str, structure: str, runs_root) -> np.ndarray:
    """The authors' final loss of each seed of one rule on one structure, with pandas."""
    out = []
    for path in sorted(runs_root.glob(f"g/{EA}/{rule}/{structure}/seed*/metrics.csv")):
        v = pd.read_csv(path).query("split == 'validation'")
        out.append(v.loc[v.iteration >= v.iteration.max() - 100, "total_loss"].mean())
    return np.array(out)


# The authors' saved runs (Liu et al. 2021, Fig. 3C; docs/design.md, "Summary statistics"), per
# run: final loss (mean total loss over iterations 1900–2000 of each results.pickle, to 5 decimals)
# and the iteration where the 5-point smoothed accuracy first reaches 80 % (inf: never).
PUBLISHED_LOSS = {
    "bptt": [0.06032, 0.08639, 0.08279, 0.10278, 0.07128],
    "mdgl": [0.22176, 0.24334, 0.25034, 0.22834, 0.29160],
    "eprop": [0.46081, 0.40723, 0.43840, 0.46450, 0.68334],
}
PUBLISHED_ITERS80 = {
    "bptt": [100, 90, 170, 140, 170],
    "mdgl": [420, 480, 380, 350, 660],
    "eprop": [1340, 1010, 1040, 980, math.inf],
}


def published_stats(rule: str) -> tuple[float, float, float]:
    """Mean, SD (ddof = 1) and median iterations to 80 % of the authors' runs."""
    x = np.array(PUBLISHED_LOSS[rule])
    return x.mean(), x.std(ddof=1), float(np.median(PUBLISHED_ITERS80[rule]))


def test_authors_numbers_are_the_published_runs():
    assert pages.AUTHORS_RUNS == 5
    assert all(len(v) == pages.AUTHORS_RUNS for v in PUBLISHED_LOSS.values())
    for rule in pages.RULE_ORDER:
        m, sd, med = published_stats(rule)
        a = pages.AUTHORS[rule]
        assert (a["loss"], a["loss_sd"], a["iters80"]) == (round(m, 3), round(sd, 3), med)
    assert [published_stats(r)[2] for r in pages.RULE_ORDER] == [140, 420, 1040]


def test_authors_table_against_pandas(runs, tmp_path):
    out = tmp_path / "docs" / "results.md"
    text = pages.build_page(runs, out, tmp_path / "docs" / "figures")
    assert out.read_text() == text
    rows = {r[1]: r for r in table_rows(text, "## Evidence accumulation")}
    assert list(rows) == ["bptt", "mdgl", "eprop"]
    for rule, finals in FINALS.items():
        r = rows[rule]
        w = np.array(
            [
                np.mean(np.linspace(0.7, f, len(ITS))[-5:]) + 0.01  # total = task loss + 0.01
                for f in finals
            ]
        )
        assert r[5] == f"{w.mean():.3f} ± {w.std(ddof=1):.3f} (5)"
        assert r[10] == f"{np.mean(finals):.3f} ± {np.std(finals, ddof=1):.3f}"  # ours: last point
        # the published columns against the authors' per-run numbers
        m, sd, med = published_stats(rule)
        assert r[6] == f"{m:.3f} ± {sd:.3f}"
        assert r[14] == f"{med:g}"
        a = pages.AUTHORS[rule]
        assert float(r[7].split()[0]) == pytest.approx(
            (w.mean() - a["loss"]) / a["loss_sd"], abs=0.01
        )
        welch = sps.ttest_ind_from_stats(
            w.mean(), w.std(ddof=1), len(w), a["loss"], a["loss_sd"], pages.AUTHORS_RUNS,
            equal_var=False,
        )  # fmt: skip
        assert r[8] == f"{welch.pvalue:.2g}"
        # excluded: the far end of the 90 % Welch interval of our mean − the published one
        va, vb = w.var(ddof=1) / len(w), a["loss_sd"] ** 2 / pages.AUTHORS_RUNS
        df = (va + vb) ** 2 / (va**2 / (len(w) - 1) + vb**2 / (pages.AUTHORS_RUNS - 1))
        far = abs(w.mean() - a["loss"]) + sps.t.ppf(0.95, df) * math.sqrt(va + vb)
        assert float(r[9]) == pytest.approx(far, abs=1e-3)
        assert r[3] == "64" and r[4] == "3"


def test_other_protocols_are_not_set_against_the_published_numbers(tmp_path, make_run):
    root = tmp_path / "runs"
    for seed in range(2):
        make_run(root / f"q/{EA}/bptt/ei/seed{seed}", curve(0.3, 0.9), batch_size=16)
    text = pages.build_page(root, tmp_path / "r.md", tmp_path / "f")
    (row,) = table_rows(text, "## Evidence accumulation")
    assert row[6] == "—" and row[7] == "other protocol" and row[8] == "—" and row[9] == "—"


def test_iterations_to_80_both_ways(runs, tmp_path):
    text = pages.build_page(runs, tmp_path / "r.md", tmp_path / "f")
    rows = {r[1]: r for r in table_rows(text, "## Evidence accumulation")}
    acc = np.linspace(0.5, 0.95, len(ITS))
    first = ITS[int(np.argmax(acc >= 0.8))]
    smooth = np.convolve(acc, np.ones(5) / 5, "valid")
    centre = ITS[2 + int(np.argmax(smooth >= 0.8))]
    assert rows["bptt"][13] == f"{centre}" and rows["bptt"][15] == f"{first} ± 0 (3/3)"
    assert rows["eprop"][13] == "never" and rows["eprop"][15] == "not reached (0/3)"


def holm_by_hand(ps):
    """Holm's adjustment written out for a family (independent of the module's)."""
    order = np.argsort(ps)
    m, out, running = len(ps), [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def check_paired_row(row, a, b, holm_p):
    """A row of the paired table against scipy on the per-seed values ``a`` and ``b``."""
    d = a - b
    ref = sps.ttest_rel(a, b)
    ci = ref.confidence_interval()
    assert row[4] == str(len(a))
    assert row[7] == f"{d.mean():+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]"
    assert row[8] == f"{np.corrcoef(a, b)[0, 1]:.2f}"
    assert row[9] == f"{ref.pvalue:.2g}"
    assert row[10] == f"{sps.wilcoxon(a, b).pvalue:.2g}"
    assert row[11].split(" (")[0] == f"{holm_p:.2g}"
    # the excluded bound: the larger absolute end of the 90 % interval of the mean difference
    se = d.std(ddof=1) / math.sqrt(len(d))
    half = sps.t.ppf(0.95, len(d) - 1) * se
    assert float(row[12]) == pytest.approx(
        max(abs(d.mean() - half), abs(d.mean() + half)), abs=1e-4
    )
    from neuromod_data.experiments.stats import detectable_effect_paired

    assert float(row[13]) == pytest.approx(
        detectable_effect_paired(len(d)) * d.std(ddof=1), abs=1e-4
    )


def test_statistics_rows_against_scipy(runs, tmp_path, make_run):
    # a control run at other seeds than the data gate's: compared unpaired
    for seed, f in zip((7, 8, 9), (0.52, 0.47, 0.50)):
        make_run(runs / f"g/{EA}/mdgl/toy-uniform/seed{seed}", curve(f, 0.8))
    text = pages.build_page(runs, tmp_path / "r.md", tmp_path / "f")
    rows = table_rows(text, "## Statistics, paired")
    assert [(r[2], r[3]) for r in rows] == [
        ("bptt · ei", "mdgl · ei"),
        ("mdgl · ei", "eprop · ei"),
        ("bptt · ei", "eprop · ei"),
        ("mdgl · toy-data", "mdgl · toy-label-permuted"),
    ]
    rules = [(window_means_of(x, "ei", runs), window_means_of(y, "ei", runs))
             for x, y in (("bptt", "mdgl"), ("mdgl", "eprop"), ("bptt", "eprop"))]  # fmt: skip
    holm_rules = holm_by_hand([sps.ttest_rel(x, y).pvalue for x, y in rules])
    for row, (x, y), q in zip(rows[:3], rules, holm_rules):
        assert row[11].endswith("(3)")
        check_paired_row(row, x, y, q)
    a, b = window_means("toy-data", runs), window_means("toy-label-permuted", runs)
    check_paired_row(rows[3], a, b, sps.ttest_rel(a, b).pvalue)  # a family of one: no change
    assert rows[3][11].endswith("(1)")

    unpaired = table_rows(text, "## Statistics, unpaired")
    assert [(r[2], r[3]) for r in unpaired] == [("mdgl · toy-data", "mdgl · toy-uniform")]
    u = window_means("toy-uniform", runs)
    ref = sps.ttest_ind(a, u, equal_var=False)
    ci = ref.confidence_interval()
    row = unpaired[0]
    assert row[6] == f"{a.mean() - u.mean():+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]"
    assert row[7].startswith(f"{ref.statistic:.2f} (")
    assert row[8] == f"{ref.pvalue:.2g}"
    sp = math.sqrt((a.var(ddof=1) + u.var(ddof=1)) / 2)
    from neuromod_data.experiments.stats import detectable_effect

    assert float(row[11]) == pytest.approx(detectable_effect(3, 3) * sp, abs=1e-4)


def test_rules_on_a_dataset_network_and_contrasts_against_scipy(tmp_path, make_run):
    """Rules compared on a dataset's network (MDGL with its data gate, never with a control),
    and each rule on one dataset's network against the same rule on another's, from the grid
    config's ``contrasts`` (a config found under any file name); all share seeds, so all are
    paired, Holm-adjusted within their family."""
    root = tmp_path / "runs"
    finals = {
        ("bptt", "derived"): [0.10, 0.14, 0.12],
        ("bptt", "base"): [0.20, 0.18, 0.25],
        ("mdgl", "derived-data"): [0.30, 0.33, 0.29],
        ("mdgl", "base-data"): [0.31, 0.36, 0.40],
        ("mdgl", "derived-uniform"): [0.11, 0.12, 0.13],  # a control: not a rule's arm
        ("eprop", "derived"): [0.50, 0.45, 0.52],
    }
    for (rule, structure), losses in finals.items():
        for seed, f in enumerate(losses):
            make_run(root / f"h/{EA}/{rule}/{structure}/seed{seed}", curve(f, 0.9))
    configs = tmp_path / "config"
    configs.mkdir()
    rc = {
        "name": "h",
        "results": "results/h",
        "tasks": {EA: {"iterations": 2000, "batch_size": 64}},
        "structures": {d: {"source": "toy"} for d in ("derived", "base")},
        "contrasts": [["derived", "base"]],
        "grid": [{"tasks": [EA], "rules": ["bptt"], "structures": ["derived"], "seeds": [0]}],
    }
    (configs / "any_name.yaml").write_text(yaml.safe_dump({"reproduction": rc}))
    (configs / "not_a_grid.yaml").write_text(yaml.safe_dump({"results": "x"}))
    assert list(pages.grid_configs(configs)) == ["h"]
    text = pages.build_page(root, tmp_path / "r.md", tmp_path / "f", config_dir=configs)
    rows = table_rows(text, "## Statistics, paired")
    assert [(r[2], r[3]) for r in rows] == [
        ("bptt · base", "mdgl · base-data"),
        ("bptt · derived", "mdgl · derived-data"),
        ("mdgl · derived-data", "eprop · derived"),
        ("bptt · derived", "eprop · derived"),
        ("bptt · derived", "bptt · base"),
        ("mdgl · derived-data", "mdgl · base-data"),
        ("mdgl · derived-data", "mdgl · derived-uniform"),
    ]

    def window_loss(cell):  # the authors' final loss of each seed, with pandas
        rule, structure = cell.split(" · ")
        out = []
        for path in sorted(root.glob(f"h/{EA}/{rule}/{structure}/seed*/metrics.csv")):
            v = pd.read_csv(path).query("split == 'validation'")
            out.append(v.loc[v.iteration >= v.iteration.max() - 100, "total_loss"].mean())
        assert len(out) == 3
        return np.array(out)

    values = [(window_loss(r[2]), window_loss(r[3])) for r in rows]
    p = [sps.ttest_rel(a, b).pvalue for a, b in values]
    # families: rules on base (1), rules on derived (3), the contrast's rules (2), the gate (1)
    adjusted = [p[0], *holm_by_hand(p[1:4]), *holm_by_hand(p[4:6]), p[6]]
    sizes = ["1", "3", "3", "3", "2", "2", "1"]
    for row, (a, b), q, k in zip(rows, values, adjusted, sizes):
        assert row[11].endswith(f"({k})")
        check_paired_row(row, a, b, q)
    assert "Every comparison above pairs its arms by seed" in text
    figs = sorted(p.name for p in (tmp_path / "f").glob("*.png"))
    assert figs == [
        f"h_{EA}_base_gates.png",
        f"h_{EA}_base_rules.png",
        f"h_{EA}_derived_gates.png",
        f"h_{EA}_derived_rules.png",
    ]
    # without the config, no contrast
    plain = pages.build_page(root, tmp_path / "r2.md", tmp_path / "f2")
    assert ("bptt · derived", "bptt · base") not in [
        (r[2], r[3]) for r in table_rows(plain, "## Statistics, paired")
    ]


def test_iterations_to_80_paired_where_every_seed_gets_there(tmp_path, make_run):
    root = tmp_path / "runs"
    # accuracy reaching 0.8 at a chosen validation point: seeds of B get there later, one never
    its = list(range(0, 2001, 100))

    def reaching(at):
        return [(it, 0.3, 0.9 if at is not None and it >= at else 0.5) for it in its]

    arms = {"toy-data": [300, 500, 700], "toy-uniform": [400, 700, 800], "toy-ei": [300, None, 700]}
    for structure, ats in arms.items():
        for seed, at in enumerate(ats):
            make_run(root / f"k/{EA}/mdgl/{structure}/seed{seed}", reaching(at))
    text = pages.build_page(root, tmp_path / "r.md", tmp_path / "f")
    rows = table_rows(text, "Iterations to 80% (authors' definition: the first crossing")
    assert [(r[2], r[3]) for r in rows] == [
        ("mdgl · toy-data", "mdgl · toy-uniform"),
        ("mdgl · toy-data", "mdgl · toy-ei"),
    ]
    # a 5-point mean of 0.5s and 0.9s reaches 0.8 with four 0.9s: at the centre one point after
    # the jump (0.82), not on it (0.74)
    a, b = np.array([400.0, 600.0, 800.0]), np.array([500.0, 800.0, 900.0])
    ref = sps.ttest_rel(a, b)
    ci = ref.confidence_interval()
    assert rows[0][5:7] == ["600", "800"]
    assert rows[0][7] == f"{(a - b).mean():+.0f} [{ci.low:+.0f}, {ci.high:+.0f}]"
    assert rows[0][8] == f"{ref.pvalue:.2g}" and rows[0][10] == f"{ref.pvalue:.2g}"
    d = a - b
    half = sps.t.ppf(0.95, 2) * d.std(ddof=1) / math.sqrt(3)
    assert rows[0][11] == f"{max(abs(d.mean() - half), abs(d.mean() + half)):.0f}"
    assert rows[1][7].startswith("— (1 of 6 runs never get there)")


def test_each_grid_names_its_commits_and_arithmetic_versions(tmp_path, make_run):
    import json

    root = tmp_path / "runs"
    resumed = {"version": 2, "iteration": 1500}
    for seed, (commit, version, changed) in enumerate(
        [
            ("aaaaaaa1", None, None),
            ("aaaaaaa1", None, None),
            ("bbbbbbb2", 3, None),
            ("ccccccc3", 3, None),
            ("ddddddd4", 3, resumed),
        ]
    ):
        run = make_run(root / f"v/{EA}/bptt/ei/seed{seed}", curve(0.1, 0.9))
        summary = json.loads((run / "summary.json").read_text())
        summary["git_commit"] = commit
        if version is not None:
            summary["metrics"] = {"arithmetic_version": version}
        if changed is not None:
            summary["metrics"]["arithmetic_version_resumed_from"] = changed
        (run / "summary.json").write_text(json.dumps(summary))
    text = pages.build_page(root, tmp_path / "r.md", tmp_path / "f")
    line = next(x for x in text.splitlines() if x.startswith("- `v` "))
    assert "(5 runs)" in line
    before, versioned, mixed = line.split("; ")
    assert before.endswith("before versioning, commit `aaaaaaa` (2)")
    assert versioned.startswith("arithmetic version 3, commits")
    assert "`bbbbbbb` (1)" in versioned and "`ccccccc` (1)" in versioned
    assert mixed.startswith("arithmetic version 3 (resumed from version 2 at iteration 1500)")
    assert "`ddddddd` (1)" in mixed


def test_figures(runs, tmp_path):
    out = tmp_path / "docs" / "results.md"
    text = pages.build_page(runs, out, tmp_path / "docs" / "figures")
    figs = sorted(p.name for p in (tmp_path / "docs" / "figures").glob("*.png"))
    assert figs == [f"g_{EA}_rules.png", f"g_{EA}_toy_gates.png"]
    assert f"](figures/g_{EA}_rules.png)" in text
    for p in (tmp_path / "docs" / "figures").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pending_jobs_of_a_grid_and_notes(runs, tmp_path):
    configs = tmp_path / "config"
    configs.mkdir()
    rc = {
        "name": "g",
        "results": "results/x",
        "tasks": {EA: {"iterations": 36_000, "batch_size": 64}},
        "grid": [
            {"tasks": [EA], "rules": ["bptt", "mdgl"], "structures": ["ei"], "seeds": [0, 1, 2, 3]}
        ],
    }
    (configs / "reproduction_x.yaml").write_text(yaml.safe_dump({"reproduction": rc}))
    notes = tmp_path / "notes.md"
    notes.write_text("Hand-written commentary.\n")
    text = pages.build_page(
        runs, tmp_path / "r.md", tmp_path / "f", config_dir=configs, notes=notes
    )
    assert "Hand-written commentary." in text
    (row,) = table_rows(text, "## Grids")
    # 8 jobs, 6 done; pending bptt 3 and mdgl 3: 36,000 iterations at the finished runs'
    # 100 s / 2000 iterations (B = 64) each, 2 × 1800 s = 1 h
    assert row == ["g", f"`{(configs / 'reproduction_x.yaml').as_posix()}`", "8", "6", "2", "1.0"]
    assert [(j["rule"], j["seed"]) for j in pages.pending(rc, pages.find_runs(runs))] == [
        ("bptt", 3),
        ("mdgl", 3),
    ]


def test_cpu_estimate_prefers_runs_at_the_same_batch(runs):
    found = pages.find_runs(runs)
    job = {"task": EA, "rule": "bptt", "structure": "ei", "seed": 9}
    timings = [
        {"task": EA, "rule": "bptt", "batch_size": b, "seconds_per_iteration": 0.1}
        for b in (64, 32)
    ]
    for batch, expected in ((64, 10.0), (32, 20.0)):
        rc = {"tasks": {EA: {"iterations": 200, "batch_size": batch}}}
        # batch 64: the finished runs themselves (100 s / 2000 iterations); batch 32: the timing
        assert pages.estimate_seconds(job, rc, found, timings) == pytest.approx(expected)
    rc = {"tasks": {EA: {"iterations": 200, "batch_size": 32}}}
    assert pages.estimate_seconds(job, rc, found) == pytest.approx(5.0)  # scaled linearly
    # another network size: neither the finished runs (of the task's network) nor the timings
    # say what it costs, and nothing is scaled across sizes
    rc = {"tasks": {EA: {"iterations": 200, "batch_size": 64, "network": {"n_rec": 500}}}}
    assert pages.estimate_seconds(job, rc, found, timings) is None
    # a finished run of that size is the evidence: 300 s for 100 iterations → 600 s for 200
    big = Run(
        labels={"task": EA, "rule": "bptt", "structure": "ei"},
        seed=0,
        metrics=pd.DataFrame({"iteration": [0, 100], "split": "validation", "loss": [0.7, 0.6]}),
        summary={"settings": {"batch_size": 64, "network": {"n_rec": 500}},
                 "metrics": {"seconds": 300.0}},
    )  # fmt: skip
    assert pages.estimate_seconds(job, rc, [*found, big], timings) == pytest.approx(600.0)
    assert (
        pages.estimate_seconds(
            {**job, "task": "delayed_match"},
            {"tasks": {"delayed_match": {"iterations": 1, "batch_size": 1}}},
            found,
        )
        is None
    )


# ---------------------------------------------------------------- issue 24: results pages
def _grid(name: str, **extra) -> dict:
    rc = {
        "name": name,
        "results": f"results/{name}",
        "tasks": {EA: {"iterations": 100, "batch_size": 8}},
        "grid": [{"tasks": [EA], "rules": ["bptt"], "structures": ["ei"], "seeds": [0]}],
    }
    return {"reproduction": {**rc, **extra}}


@pytest.mark.parametrize(
    "files, match",
    [
        ({"a.yaml": "reproduction: [1,\n"}, r"a\.yaml: not valid YAML"),
        (
            {"a.yaml": yaml.safe_dump(_grid("g")), "b.yaml": yaml.safe_dump(_grid("g"))},
            r"b\.yaml: reproduction\.name 'g' is also the name of the grid in .*a\.yaml",
        ),
        (
            {
                "a.yaml": yaml.safe_dump(
                    _grid("g", structures={"toy": {"source": "toy"}}, contrasts=[["toy", "m1"]])
                )
            },
            r"a\.yaml: .*contrast \['toy', 'm1'\] names dataset 'm1'",
        ),
        ({"a.yaml": yaml.safe_dump({"reproduction": {"name": "g"}})}, r"a\.yaml: .*'results'"),
    ],
    ids=["unreadable", "duplicate-name", "contrast-unknown-dataset", "missing-key"],
)
def test_bad_grid_configs_are_refused_naming_the_file(tmp_path, files, match):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "config.yaml").write_text("dataset: {name: toy}\n")  # not a grid: passed over
    with pytest.raises(FormatError, match=match):
        pages.grid_configs(tmp_path)


def test_grid_configs_folder_must_exist(tmp_path):
    with pytest.raises(InputFileError, match="nope"):
        pages.grid_configs(tmp_path / "nope")
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(_grid("g")))
    (tmp_path / "config.yaml").write_text("dataset: {name: toy}\n")
    assert list(pages.grid_configs(tmp_path)) == ["g"]


def test_the_page_never_replaces_an_input(runs, tmp_path):
    metrics = runs / f"g/{EA}/bptt/ei/seed0/metrics.csv"
    before = metrics.read_bytes()
    with pytest.raises(OutputError, match="also an input"):
        pages.build_page(runs, metrics, tmp_path / "f")
    assert metrics.read_bytes() == before and not (tmp_path / "f").exists()
