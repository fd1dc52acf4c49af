"""The results page's 2 × 2 factorial section on tiny run folders: its numbers against pandas,
numpy and scipy computed here from the metrics files, the interim marking, and the figure."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from neuromod_data.experiments import pages

EA = "evidence_accumulation"
GRID = "m1_factorial"
ITS = [0, 250, 500, 750, 1000, 1500, 1900, 1950, 2000]
HEAD = "## The 2 × 2 factorial"
CELLS = [("paper", "uniform"), ("fitted", "uniform"), ("paper", "billeh"), ("fitted", "billeh")]
# where each cell's curve ends: fitted neurons +0.10 on uniform, +0.15 on Billeh connectivity
SHIFT = {("paper", "uniform"): 0.0, ("fitted", "uniform"): 0.10, ("paper", "billeh"): -0.02,
         ("fitted", "billeh"): 0.13}  # fmt: skip


def _curve(end: float, speed: float, offset: float) -> list[tuple]:
    """A validation curve from 0.7 to ``end``: ``speed`` shapes how soon it falls."""
    frac = (np.asarray(ITS) / ITS[-1]) ** speed
    loss = 0.7 + (end - 0.7) * frac
    return [(it, float(lo), 0.6, float(lo + offset)) for it, lo in zip(ITS, loss)]


@pytest.fixture
def factorial_runs(tmp_path, make_run):
    """BPTT: seeds 0–3 in every cell and seed 4 in one (not shared); MDGL (`ones`): seeds 0–2."""
    rng = np.random.default_rng(3)
    root = tmp_path / "runs"
    for rule, seeds, gate in (("bptt", range(4), ""), ("mdgl", range(3), "-ones")):
        base = rng.uniform(0.1, 0.3, 5)  # a seed effect shared by the four cells
        for cell in CELLS:
            extra = [4] if rule == "bptt" and cell == ("paper", "uniform") else []
            for s in [*seeds, *extra]:
                end = base[s] + SHIFT[cell] + rng.normal(0, 0.02)
                make_run(
                    root / f"{GRID}/{EA}/{rule}/m1_{cell[0]}_{cell[1]}{gate}/seed{s}",
                    _curve(end, rng.uniform(0.3, 1.5), offset=rng.uniform(0.0, 0.01)),
                    batch_size=64,
                )
    return root


def _measures(root, rule: str, gate: str) -> pd.DataFrame:
    """Per run, straight from metrics.csv: the authors' final loss and the mean total loss over
    iterations 0–1000 (numpy's trapezoid rule on the validation points up to 1000)."""
    rows = []
    for n, c in CELLS:
        for path in sorted((root / f"{GRID}/{EA}/{rule}/m1_{n}_{c}{gate}").glob("seed*")):
            v = pd.read_csv(path / "metrics.csv").query("split == 'validation'")
            final = v.loc[v.iteration >= v.iteration.max() - 100, "total_loss"].mean()
            e = v[v.iteration <= 1000]
            early = np.trapezoid(e.total_loss, e.iteration) / 1000
            rows.append({"n": n, "c": c, "seed": int(path.name[4:]), "final": final,
                         "early": early})  # fmt: skip
    return pd.DataFrame(rows)


def _section(text: str) -> str:
    return text[text.index(HEAD) :].split("\n## ", 1)[0]


def _tables(section: str) -> list[list[list[str]]]:
    """Every table of the section: its rows (header and rule dropped) as lists of cells."""
    out, cur = [], []
    for line in [*section.splitlines(), ""]:
        if line.startswith("|"):
            cur.append([c.strip() for c in line.replace("\\|", "¦").strip("|").split("|")])
        elif cur:
            out.append(cur[2:])
            cur = []
    return out


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"[+-]?\d+\.\d+", cell)]


def _holm(p: list[float]) -> list[float]:
    order = np.argsort(p)
    adj, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adj[i] = running
    return adj


def test_effects_against_a_hand_computation(factorial_runs, tmp_path):
    text = pages.build_page(factorial_runs, tmp_path / "r.md", tmp_path / "f")
    cells, effects = _tables(_section(text))
    for rule, gate, label in (("bptt", "", "BPTT"), ("mdgl", "-ones", "MDGL (`ones` gate)")):
        m = _measures(factorial_runs, rule, gate)
        counts = m.groupby("seed").size()
        shared = sorted(counts[counts == 4].index)
        assert shared == ([0, 1, 2, 3] if rule == "bptt" else [0, 1, 2])
        m = m[m.seed.isin(shared)]
        # the cell means: every seed the four cells share, and only those
        rows = [r for r in cells if r[0] == label]
        assert len(rows) == 4
        for row, (n, c) in zip(rows, CELLS):
            x = m[(m.n == n) & (m.c == c)]
            assert row[4] == str(len(shared))
            for col, name in ((5, "final"), (6, "early")):
                assert _numbers(row[col]) == pytest.approx(
                    [x[name].mean(), x[name].std(ddof=1)], abs=6e-5
                )
        assert rows[0][3] == ("5" if rule == "bptt" else "3")  # all runs of the cell
        for measure, name in (("final", "final loss"), ("early", "mean loss over iterations")):
            w = m.pivot(index="seed", columns=["n", "c"], values=measure)
            pu, fu, pb, fb = (w[c].to_numpy() for c in CELLS)
            contrasts = [((fu - pu) + (fb - pb)) / 2, ((pb - pu) + (fb - fu)) / 2,
                         (fb - pb) - (fu - pu)]  # fmt: skip
            mine = [r for r in effects if r[0] == label and r[1].startswith(name)]
            assert [r[2].split(":")[0] for r in mine] == ["neurons", "connectivity", "interaction"]
            p_t = [stats.ttest_1samp(d, 0.0).pvalue for d in contrasts]
            for row, d, q in zip(mine, contrasts, _holm(p_t)):
                res = stats.ttest_1samp(d, 0.0)
                ci = res.confidence_interval(0.95)
                assert row[3] == str(len(d))
                assert _numbers(row[4]) == pytest.approx([d.mean(), ci.low, ci.high], abs=6e-5)
                assert row[5] == f"{res.pvalue:.2g}"
                assert row[6] == f"{stats.wilcoxon(d).pvalue:.2g}"
                assert row[7] == f"{q:.2g}"
                # the detectable effect: a paired t-test of that size has power 0.8 here
                # (in loss units, then in SDs of the per-seed contrast)
                det, det_sd = _numbers(row[8])
                sd = d.std(ddof=1)
                assert det_sd == pytest.approx(det / sd, abs=0.006)
                df, crit = len(d) - 1, stats.t.ppf(0.975, len(d) - 1)
                lam = det / sd * math.sqrt(len(d))
                power = stats.nct.sf(crit, df, lam) + stats.nct.cdf(-crit, df, lam)
                assert power == pytest.approx(0.8, abs=0.005)
                # excluded: the far end of the 90 % interval
                lo90, hi90 = res.confidence_interval(0.90)
                assert float(row[9]) == pytest.approx(max(abs(lo90), abs(hi90)), abs=6e-5)


def test_the_built_in_effect_is_found_and_other_grids_get_no_section(
    factorial_runs, tmp_path, make_run
):
    # the runs were built with fitted neurons raising the end of the curve by 0.10 on uniform
    # and 0.15 on Billeh connectivity: 0.125 on average
    text = pages.build_page(factorial_runs, tmp_path / "r.md", tmp_path / "f")
    _, effects = _tables(_section(text))
    (row,) = [r for r in effects if r[0] == "BPTT" and r[1].startswith("final")
              and r[2].startswith("neurons")]  # fmt: skip
    assert _numbers(row[4])[0] == pytest.approx(0.125, abs=0.03)
    other = tmp_path / "other"
    make_run(other / f"g/{EA}/bptt/m1_paper_uniform/seed0", _curve(0.2, 1, 0))
    text = pages.build_page(other, tmp_path / "o.md", tmp_path / "fo")
    assert HEAD not in text and not list((tmp_path / "fo").glob("*_interaction.png"))


def _config(tmp_path, seeds_bptt, seeds_mdgl):
    structures = {f"m1_{n}_{c}": {"source": "toy"} for n, c in CELLS}
    rc = {
        "name": GRID,
        "results": f"results/{GRID}",
        "tasks": {EA: {"iterations": 2000, "batch_size": 64}},
        "structures": structures,
        "grid": [
            {"tasks": [EA], "rules": ["bptt"], "structures": list(structures),
             "seeds": seeds_bptt},
            {"tasks": [EA], "rules": ["mdgl"], "structures": [f"{s}-ones" for s in structures],
             "seeds": seeds_mdgl},
        ],
    }  # fmt: skip
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "f.yaml").write_text(yaml.safe_dump({"reproduction": rc}))
    return folder


def test_interim_until_every_planned_seed_is_in(factorial_runs, tmp_path):
    # without a config the design's 10 seeds are planned: 4 and 3 are in
    text = _section(pages.build_page(factorial_runs, tmp_path / "a.md", tmp_path / "f"))
    assert "Interim" in text and "4 of the planned 10" in text and "3 of the planned 10" in text
    assert "differs from zero" not in text and "not resolved" not in text
    # the config plans 10 seeds for BPTT and 3 for MDGL: BPTT still lacks 6
    cfg = _config(tmp_path, list(range(10)), [0, 1, 2])
    text = _section(pages.build_page(factorial_runs, tmp_path / "b.md", tmp_path / "f",
                                     config_dir=cfg))  # fmt: skip
    assert "Interim" in text and "4 of the planned 10" in text and "3 of the planned 3" in text
    # every planned seed in: no longer interim, and one verdict per effect of each rule
    cfg = _config(tmp_path, [0, 1, 2, 3], [0, 1, 2])
    text = _section(pages.build_page(factorial_runs, tmp_path / "c.md", tmp_path / "f",
                                     config_dir=cfg))  # fmt: skip
    assert "Interim" not in text and "interim" not in text
    verdicts = [ln for ln in text.splitlines() if ln.startswith("- ")]
    assert len(verdicts) == 6
    for v in verdicts:
        # a difference is claimed exactly where Holm's adjusted p is at most 0.05
        q = float(re.search(r"Holm-adjusted p ([0-9.e-]+)\)", v).group(1))
        assert ("differs from zero" in v) == (q <= 0.05) and ("not resolved" in v) == (q > 0.05)


def test_one_shared_seed_gives_estimates_without_tests(tmp_path, make_run):
    root = tmp_path / "runs"
    for n, c in CELLS:
        make_run(root / f"{GRID}/{EA}/bptt/m1_{n}_{c}/seed0", _curve(0.2 + SHIFT[(n, c)], 1, 0))
    text = _section(pages.build_page(root, tmp_path / "r.md", tmp_path / "f"))
    assert "Interim" in text and "1 of the planned 10" in text
    _, effects = _tables(text)
    assert len(effects) == 6 and all(r[3] == "1" for r in effects)
    # the curves are linear, so the authors' window (points at 1900, 1950, 2000) sits at 0.975
    # of the way down: every contrast of where the curves end, times 0.975
    final = [r for r in effects if r[1].startswith("final")]
    assert [_numbers(r[4])[0] for r in final] == pytest.approx(
        [0.975 * (0.10 + 0.15) / 2, 0.975 * (-0.02 + 0.03) / 2, 0.975 * (0.15 - 0.10)], abs=1e-4
    )
    assert all(r[5:] == ["—"] * 5 for r in effects)


def test_the_interaction_figure_is_written_and_linked(factorial_runs, tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    figures = tmp_path / "docs" / "figures"
    text = pages.build_page(factorial_runs, tmp_path / "docs" / "results.md", figures)
    png = figures / f"{GRID}_interaction.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"](figures/{GRID}_interaction.png)" in _section(text)
    assert matplotlib.get_backend() == backend
