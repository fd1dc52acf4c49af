"""The HTML report and the run summary: numbers against direct computations, self-containment, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuromod_data import report
from neuromod_data.cli import main
from neuromod_data.errors import FormatError, InputFileError
from neuromod_data.structure import CellTypeStructure

RULES = ("bptt", "eprop", "mdgl")
SEEDS = (0, 1, 2)
ITERS = np.arange(0, 60, 10)


def _fake_results(root: Path, rng: np.random.Generator) -> dict:
    """A results folder in the workflow layout with random metrics; returns the values written."""
    (root / "aggregate").mkdir(parents=True)
    table = pd.DataFrame(
        rng.random((4, 5)), index=["Vip", "Sst", "Pvalb", "L4 IT"], columns=list("ABCDE")
    )
    table.index.name = "subclass_label"
    table.to_csv(root / "aggregate" / "subclass_label.smith2019.csv")
    (root / "graph" / "subclass_label").mkdir(parents=True)
    CellTypeStructure(
        names=table.index,
        abundances=[1, 2, 3, 4],
        signs=[-1, -1, -1, 1],
        modulation=rng.random((2, 4, 4)),
        pairs=("Vip→Vipr1", "Sst→Sstr2"),
    ).save(root / "graph" / "subclass_label" / "structure.npz")
    (root / "info").mkdir()
    (root / "info" / "dataset.txt").write_text("3000 cells × 500 genes <synthetic>\n")
    written = {}
    for structure in ("data", "shuffled"):
        for rule in RULES:
            for seed in SEEDS:
                loss = rng.random(len(ITERS))
                acc = rng.random(len(ITERS))
                d = root / "train" / "subclass_label" / structure / rule / f"seed{seed}"
                d.mkdir(parents=True)
                val = pd.DataFrame(
                    {"iteration": ITERS, "split": "validation", "loss": loss, "accuracy": acc}
                )
                trn = val.assign(split="train", loss=9.0, accuracy=0.0)
                pd.concat([trn, val]).to_csv(d / "metrics.csv", index=False)
                written[(f"subclass_label/{structure}", rule, seed)] = (loss, acc)
    return written


@pytest.fixture
def results(tmp_path):
    rng = np.random.default_rng(7)
    root = tmp_path / "results"
    return root, _fake_results(root, rng)


def test_summary_csv_matches_direct_computation(results, tmp_path):
    root, written = results
    summary = report.write_summary(root, tmp_path / "s.csv")
    assert pd.read_csv(tmp_path / "s.csv")["rule"].tolist() == summary["rule"].tolist()
    assert len(summary) == 6
    assert summary["rule"].tolist()[:3] == list(RULES)
    for _, row in summary.iterrows():
        finals = np.array([written[(row.condition, row.rule, s)][0][-1] for s in SEEDS])
        accs = np.array([written[(row.condition, row.rule, s)][1][-1] for s in SEEDS])
        assert row.n_seeds == 3 and row.iterations == ITERS[-1]
        assert row.final_loss_mean == pytest.approx(finals.sum() / 3)
        # sample SD written out, not np.std's default
        sd = np.sqrt(((finals - finals.mean()) ** 2).sum() / 2)
        assert row.final_loss_sd == pytest.approx(sd)
        assert row.final_accuracy_mean == pytest.approx(accs.mean())
        reached = []
        for s in SEEDS:
            acc = written[(row.condition, row.rule, s)][1]
            hit = [it for it, a in zip(ITERS, acc) if a >= 0.8]
            if hit:
                reached.append(hit[0])
        assert row.n_reached == len(reached)
        if reached:
            assert row.iters_to_threshold_mean == pytest.approx(np.mean(reached))
        # the authors' definition: validation points of the last 100 iterations (all six here)
        windows = [written[(row.condition, row.rule, s)][0].mean() for s in SEEDS]
        assert row.window_loss_mean == pytest.approx(np.mean(windows))


def test_report_is_self_contained_with_provenance(results, tmp_path):
    root, _ = results
    data = tmp_path / "data.bin"
    payload = bytes(range(256)) * 1000
    data.write_bytes(payload)
    out = report.build_report(
        root,
        out=root / "report.html",
        data=[data],
        config={"train": {"seeds": [0, 1, 2]}},
        title="T",
    )
    text = out.read_text()
    # every image is inlined: no src pointing outside the file
    srcs = re.findall(r"src='([^']*)'", text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # heatmap, structure, loss curves, accuracy curves
    assert len(srcs) == 4
    assert "4 types (1 E, 3 I), 2 pairs" in text  # the structure summary
    prov = json.loads(re.search(r"id='neuromod-provenance'>(.*?)</script>", text, re.S).group(1))
    assert prov["files"][0]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert prov["files"][0]["bytes"] == len(payload)
    assert prov["config"] == {"train": {"seeds": [0, 1, 2]}}
    assert "numpy" in prov["versions"] and "anndata" in prov["versions"]
    # the results table shows each rule of each condition
    table = text[text.index("id='results'") :]
    assert sum(table.count(f"<td class='l'>{r}</td>") for r in RULES) == 6


def test_cli_summary_and_report(results, tmp_path):
    root, written = results
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"results": str(root)}))
    rc = main(
        [
            "report",
            "--results",
            str(root),
            "--summary",
            str(tmp_path / "s.csv"),
            "--out",
            str(tmp_path / "r.html"),
            "--config",
            str(cfg),
        ]
    )
    assert rc == 0
    got = pd.read_csv(tmp_path / "s.csv")
    for _, row in got.iterrows():
        finals = [written[(row.condition, row.rule, s)][0][-1] for s in SEEDS]
        assert row.final_loss_mean == pytest.approx(np.mean(finals))
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_bad_metrics_names_the_file(results):
    root, _ = results
    bad = root / "train" / "subclass_label" / "data" / "bptt" / "seed0" / "metrics.csv"
    bad.write_text("step,value\n1,2\n")
    with pytest.raises(FormatError, match=r"seed0/metrics\.csv.*iteration"):
        report.write_summary(root, root / "summary.csv")
    # a failed report leaves no file behind
    with pytest.raises(FormatError):
        report.build_report(root, out=root / "report.html")
    assert not (root / "report.html").exists()
    assert not list(root.glob(".report.html*"))


def test_missing_results_folder(tmp_path):
    with pytest.raises(InputFileError, match="nowhere"):
        report.build_report(tmp_path / "nowhere", out=tmp_path / "r.html")
    with pytest.raises(InputFileError, match="missing.csv"):
        report.provenance([tmp_path / "missing.csv"])


def test_workflow_variants_are_ordered(tmp_path):
    """train/<level>/<variant>/seed<N>: bptt, eprop, then MDGL gates with data first."""
    for variant in ("mdgl-label-permuted", "eprop", "mdgl-data", "bptt"):
        d = tmp_path / "train" / "RNA_family" / variant / "seed0"
        d.mkdir(parents=True)
        d.joinpath("metrics.csv").write_text(
            "iteration,split,loss,accuracy\n5,validation,0.5,0.9\n"
        )
    summary = report.write_summary(tmp_path, tmp_path / "s.csv")
    assert summary["rule"].tolist() == ["bptt", "eprop", "mdgl-data", "mdgl-label-permuted"]
    assert set(summary["condition"]) == {"RNA_family"}


def test_report_explains_chance_level_runs(tmp_path):
    """Runs whose mean final accuracy is below 0.6 are named in the at-chance note; a run well
    above chance is not."""
    for rule, rows in (
        ("eprop", "0,validation,0.69,0.5\n80,validation,0.69,0.52\n"),  # at chance
        ("bptt", "0,validation,0.69,0.5\n80,validation,0.20,0.9\n"),  # learned
    ):
        d = tmp_path / "train" / "subclass" / rule / "seed0"
        d.mkdir(parents=True)
        d.joinpath("metrics.csv").write_text("iteration,split,loss,accuracy\n" + rows)
    text = report.build_report(tmp_path, out=tmp_path / "r.html").read_text()
    results = text[text.index("id='results'") :]
    notes = re.findall(r"<p class='note'><b>At chance</b>(.*?)</p>", results, re.S)
    assert len(notes) == 1
    note = notes[0]
    listed = re.match(r" \(accuracy below 0\.6 on a two-choice task\): ([^.]*)\.", note)
    assert listed is not None and listed.group(1) == "subclass · eprop"
    assert "subclass · bptt" not in note
    assert "(80 iterations here)" in note  # the longest run's last iteration


def test_report_shows_the_physiology_figures(tmp_path):
    """A results folder with a physiology step: the report has its section, both figures inlined
    and the per-type parameter table."""
    import base64

    from neuromod_data.report import build_report

    pdir = tmp_path / "physiology" / "RNA_family"
    pdir.mkdir(parents=True)
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    (pdir / "intrinsic.png").write_bytes(png)
    (pdir / "connectivity.png").write_bytes(png + b"\0")
    (pdir / "intrinsic.csv").write_text("type,parameter,value\nSst,tau_m,17.8\n")
    (pdir / "fit_validation.png").write_bytes(png + b"\0\0")
    (pdir / "fit_validation.csv").write_text(
        "type,feature,recorded,model,error,source,n_cells\n"
        "Sst,spike-frequency adaptation,0.667,0.6123,-0.0547,34 °C recordings,110\n"
    )
    html = build_report(tmp_path, out=tmp_path / "r.html").read_text()
    assert "Intrinsic parameters and connectivity" in html
    assert html.count(base64.b64encode(png).decode()) >= 1
    assert base64.b64encode(png + b"\0\0").decode() in html  # the validation figure
    assert "fitted neurons against their recordings" in html and "-0.0547" in html
    assert "17.8" in html and "RNA_family" in html
    plain = tmp_path / "plain"
    plain.mkdir()
    assert (
        "Intrinsic parameters and connectivity"
        not in build_report(plain, out=plain / "r.html").read_text()
    )


@pytest.mark.parametrize("folder", ["empty", "runs", "notes"])
def test_report_refuses_a_folder_in_another_layout(tmp_path, capsys, folder):
    """A folder that holds none of the workflow's info/, aggregate/, graph/, physiology/, train/
    (an empty one, committed grid runs, any other folder) gets one line and exit 2, not an
    empty report with exit 0."""
    d = tmp_path / folder
    d.mkdir()
    if folder == "runs":
        run = d / "g/evidence_accumulation/bptt/ei/seed0"
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text("iteration,split,loss,accuracy\n0,validation,0.7,0.5\n")
    elif folder == "notes":
        (d / "notes.md").write_text("hello\n")
    out = tmp_path / "r.html"
    assert main(["report", "--results", str(d), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(d) in err and "not a results folder of the workflow" in err and "train/" in err
    assert not out.exists()
    # the run summary alone also takes the train folder itself
    (d / "x/subclass/bptt/seed0").mkdir(parents=True)
    (d / "x/subclass/bptt/seed0/metrics.csv").write_text(
        "iteration,split,loss,accuracy\n0,validation,0.7,0.5\n"
    )
    rc = main(["report", "--results", str(d / "x"), "--summary", str(tmp_path / "s.csv")])
    assert rc == 0 and (tmp_path / "s.csv").is_file()


# ------------------------------------------------- issue 24: readable graph, captions, table
def test_structure_figure_draws_only_the_strongest_couplings():
    """With 40 types (1,560 couplings between different types) the circle panel draws the 20
    strongest, each from its sender to its receiver; the heatmap keeps them all."""
    from matplotlib.text import Annotation

    from neuromod_data.report_figures import structure_figure

    k = 40
    rng = np.random.default_rng(3)
    s = CellTypeStructure(
        names=[f"T{i}" for i in range(k)],
        abundances=np.arange(1, k + 1),
        signs=np.where(np.arange(k) < 30, 1, -1),
        modulation=rng.random((3, k, k)),
        pairs=("A→a", "B→b", "C→c"),
    )
    fig = structure_figure(s)
    arrows = [t for t in fig.axes[1].texts if isinstance(t, Annotation)]
    assert len(arrows) == 20
    angle = 2 * np.pi * np.arange(k) / k

    def index(point) -> int:
        return int(np.argmin(np.hypot(np.cos(angle) - point[0], np.sin(angle) - point[1])))

    drawn = {(index(a.xyann), index(a.xy)) for a in arrows}
    gate = s.modulation.sum(0)
    np.fill_diagonal(gate, -np.inf)
    flat = np.argsort(gate, axis=None)[::-1][:20]
    assert drawn == {tuple(int(v) for v in np.unravel_index(i, gate.shape)) for i in flat}
    assert fig.axes[0].images[0].get_array().shape == (k, k)


def _pngs(gdir: Path) -> dict[str, bytes]:
    tiny = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    names = ("type_heatmap.png", "pair_heatmap.png", "graph.png", "dotplot.png")
    written = {n: tiny + bytes(i + 1) for i, n in enumerate(names)}  # four distinct files
    for n, b in written.items():
        (gdir / n).write_bytes(b)
    return written


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def test_report_graph_figures_are_captioned_and_the_full_graph_is_on_request(results, tmp_path):
    """The graph step's figures come with captions (not file names); the drawing of every link,
    graph.png, is left out with a note saying how to get it, and shown with --full-graph."""
    root, _ = results
    pngs = _pngs(root / "graph" / "subclass_label")
    text = report.build_report(root, out=tmp_path / "r.html").read_text()
    for name, data in pngs.items():
        assert (_b64(data) in text) == (name != "graph.png"), name
        assert f"<p class='note'>{name}</p>" not in text and f"alt='{name}'" not in text
    alts = re.findall(r"<img alt='([^']*)'", text)
    assert alts and not [a for a in alts if a.endswith(".png")], alts
    assert "--full-graph" in text
    rc = main(["report", "--results", str(root), "--out", str(tmp_path / "f.html"),
               "--full-graph"])  # fmt: skip
    assert rc == 0
    full = (tmp_path / "f.html").read_text()
    assert all(_b64(data) in full for data in pngs.values())
    assert f"alt='{report.GRAPH_FIGURES['graph.png']}'" in full.replace("&gt;", ">")


def test_results_table_has_headers_in_words_and_no_inf(tmp_path):
    """Runs that never reach the accuracy threshold: the table says 'never', not inf or nan;
    headers are words, not column names; mean ± SD against a direct computation."""
    finals = {0: 0.61, 1: 0.47}
    for seed, last in finals.items():
        d = tmp_path / "train" / "subclass" / "eprop" / f"seed{seed}"
        d.mkdir(parents=True)
        rows = "".join(
            f"{it},validation,{0.69 if it < 40 else last},0.5\n" for it in range(0, 50, 10)
        )
        d.joinpath("metrics.csv").write_text("iteration,split,loss,accuracy\n" + rows)
    text = report.build_report(tmp_path, out=tmp_path / "r.html").read_text()
    section = text[text.index("id='results'") : text.index("id='provenance'")]
    table = section[section.index("<table>") :]
    assert not re.search(r"\binf\b|\bnan\b|NaN", table), table
    for raw in ("final_loss_mean", "smoothed_iters_median", "n_reached", "n_seeds", "condition"):
        assert raw not in section
    heads = re.findall(r"<th class='l'>([^<]*)</th>", table)
    assert "final validation loss" in heads and "label level" in heads
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    sd = np.std(list(finals.values()), ddof=1)
    assert f"{np.mean(list(finals.values())):.3g} ± {sd:.2g}" in cells
    assert cells.count("never") == 2  # neither our mean crossing nor the smoothed median
