"""Figures leave the caller's matplotlib alone (docs/design.md, "Reproducibility": library calls do
not change process-wide state).

A notebook selects its backend (Jupyter's inline one) before it calls the library; one
``matplotlib.use("Agg")`` inside a plotting function silently replaced it, and every figure made
through pyplot stayed registered in pyplot's figure list (memory, and a stray display in the next
cell). The check runs in a fresh interpreter without ``MPLBACKEND``, so neither pytest's own
matplotlib state nor the environment can hide a switch: it selects a backend a notebook would use,
then calls every public plotting function and every CLI figure writer, and after each call reads
the backend and pyplot's figure list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("matplotlib")

# Runs in the child interpreter; prints one JSON object: the backend chosen and, per call, what it
# changed (an empty list for a call that changed nothing).
_SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile
    from pathlib import Path

    import matplotlib

    # Jupyter's inline backend where it can be loaded headless, else svg: both are what a caller
    # might have chosen, and neither is the Agg that the old code forced.
    try:
        matplotlib.use("module://matplotlib_inline.backend_inline")
        import matplotlib.pyplot as plt
    except Exception:
        matplotlib.use("svg", force=True)
        import matplotlib.pyplot as plt
    chosen = matplotlib.get_backend()

    import numpy as np
    import pandas as pd

    from neuromod_data import plotting, plotting_physiology, report
    from neuromod_data.cli import graph as graph_cli, physiology as physiology_cli
    from neuromod_data.experiments import curves
    from neuromod_data.experiments.runs import Run
    from neuromod_data.graph import build_graph
    from neuromod_data.structure import CellTypeStructure, Connectivity, IntrinsicParameters

    out = Path(tempfile.mkdtemp())
    names = ["L5 IT", "Vip", "Sst"]
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        [
            {"source": s, "target": t, "interaction": i, "score": float(rng.random()),
             "pvalue": float(rng.random() / 10), "ligand_props": 0.5, "receptor_props": 0.5}
            for i in ("Vip→Vipr1", "Sst→Sstr2") for s in names for t in names
        ]
    )
    g = build_graph(table)
    conn = Connectivity(("E", "I"), [[0.16, 0.395], [0.411, 0.451]], [[0.36, 1.49], [0.48, 0.68]])
    intrinsic = IntrinsicParameters.constant(("E", "I"), tau_m=[20.0, 10.0])
    structure = CellTypeStructure.ei().with_intrinsic(intrinsic).with_connectivity(conn)
    history = [
        {"iteration": it, "split": split, "loss": 1.0 / (it + 1), "accuracy": 0.5 + it / 100,
         "total_loss": 1.0 / (it + 1)}
        for it in range(0, 30, 5) for split in ("train", "validation")
    ]
    metrics = pd.DataFrame(history)
    runs = [Run({"rule": "eprop"}, s, metrics) for s in (0, 1)]
    expression = pd.DataFrame(rng.random((3, 4)), index=names, columns=list("abcd"))

    calls = {
        "plotting.plot_pair_heatmap": lambda: plotting.plot_pair_heatmap(table, "Vip→Vipr1"),
        "plotting.plot_type_heatmap": lambda: plotting.plot_type_heatmap(table),
        "plotting.plot_graph": lambda: plotting.plot_graph(g),
        "plotting.plot_dotplot": lambda: plotting.plot_dotplot(table),
        "plotting_physiology.plot_intrinsic": lambda: plotting_physiology.plot_intrinsic(intrinsic),
        "plotting_physiology.plot_connectivity":
            lambda: plotting_physiology.plot_connectivity(conn),
        "experiments.curves.curves_figure": lambda: curves.curves_figure({"eprop": runs}),
        "experiments.curves.panels_figure":
            lambda: curves.panels_figure({"a": {"eprop": runs}}),
        "experiments.curves.history_figure": lambda: curves.history_figure(metrics, title="t"),
        "report.expression_heatmap": lambda: report.expression_heatmap(expression),
        "report.structure_figure": lambda: report.structure_figure(structure),
        "cli.graph._figures": lambda: graph_cli._figures(table, g, table, out / "graph"),
        "cli.physiology._figures":
            lambda: physiology_cli._figures(structure, None, out / "physiology"),
    }
    try:  # the models' single-run learning curve, where torch is installed
        from neuromod_models.training import plot_learning_curve
    except ImportError:
        pass
    else:
        calls["neuromod_models.training.plot_learning_curve"] = (
            lambda: plot_learning_curve(history, out / "learning_curve.png", title="t")
        )
    (out / "graph").mkdir()
    (out / "physiology").mkdir()

    changed = {}
    for name, call in calls.items():
        result = call()
        problems = []
        if matplotlib.get_backend() != chosen:
            problems.append(f"backend {chosen!r} -> {matplotlib.get_backend()!r}")
            matplotlib.use(chosen, force=True)
        if plt.get_fignums():
            problems.append(f"{len(plt.get_fignums())} pyplot figure(s) left open")
            plt.close("all")
        if name.startswith(("plotting", "experiments", "report")):
            from matplotlib.figure import Figure
            if not isinstance(result, Figure):
                problems.append(f"returned {type(result).__name__}, not a Figure")
        changed[name] = problems
    written = sorted(p.name for p in out.rglob("*.png"))
    print(json.dumps({"chosen": chosen, "changed": changed, "written": written}))
    """
)


@pytest.fixture(scope="module")
def child() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_caller_backend_is_not_agg(child):
    # the check means something only if the backend chosen is one that a switch would replace
    assert child["chosen"].lower() != "agg"


def test_no_plotting_call_changes_the_backend_or_leaves_a_pyplot_figure(child):
    assert len(child["changed"]) >= 13  # every call ran (14 with torch)
    assert {name: p for name, p in child["changed"].items() if p} == {}


def test_the_cli_writers_still_write_their_files(child):
    # the graph writer's four figures, the physiology writer's two, the learning curve (torch)
    expected = {"type_heatmap.png", "graph.png", "pair_heatmap.png", "dotplot.png"}
    expected |= {"intrinsic.png", "connectivity.png"}
    assert expected <= set(child["written"])
