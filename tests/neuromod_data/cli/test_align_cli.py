"""``neuromod align`` end to end on a tiny setting: the files, their rows, the errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from neuromod_data.cli import main  # noqa: E402
from neuromod_data.structure import CellTypeStructure  # noqa: E402

TINY = [
    "--task-option", "T=60", "--task-option", "n_cues=3", "--task-option", "t_cue=5",
    "--task-option", "t_interval=8", "--task-option", "recall_duration=10",
    "--n-rec", "16", "--batch-size", "4", "--grid-draws", "3",
]  # fmt: skip


@pytest.fixture
def structure_file(tmp_path):
    mod = np.zeros((1, 3, 3))
    mod[0, 0, 1], mod[0, 1, 2], mod[0, 2, 2] = 1.0, 0.5, 0.25
    st = CellTypeStructure(
        names=("a", "b", "c"),
        abundances=np.array([0.5, 0.3, 0.2]),
        signs=np.array([1, -1, 1]),
        modulation=mod,
        pairs=("p",),
    )
    path = tmp_path / "structure.npz"
    st.save(path)
    return path


def test_align_writes_every_file(tmp_path, structure_file, capsys):
    out = tmp_path / "align"
    argv = ["align", "--structure", str(structure_file), "--seeds", "2", "--batches", "2",
            "--checkpoints", "2,0", "--out", str(out), *TINY]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "seed 1 (2/2)" in err and "checkpoint 2: data cosine" in err
    table = pd.read_csv(out / "alignment.csv")
    n_arms = 4 + 5 + 3 + 2  # eprop, ones, ei, data; 3! - 1 permutations; 3 grid; uniform, exact
    assert len(table) == 2 * 2 * 2 * n_arms
    for col in ("seed", "batch", "checkpoint", "arm", "cosine", "norm_ratio", "cosine_exact"):
        assert col in table.columns
    assert sorted(table["checkpoint"].unique()) == [0, 2]
    assert table["cosine"].between(-1, 1).all()
    exact = table[table["arm"] == "exact"]
    assert np.allclose(exact["cosine_exact"], 1.0) and np.allclose(exact["distance_exact"], 0.0)
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 8
    data = summary[(summary["arm"] == "data") & (summary["checkpoint"] == 2)].iloc[0]
    # the data gate's rank among the 5 permutations, recomputed from the table
    c = table[table["checkpoint"] == 2]
    perm = c[c["arm"] == "label-permuted"].groupby("draw")["cosine"].mean()
    d = c[c["arm"] == "data"]["cosine"].mean()
    assert data["perm_rank"] == 1 + (perm >= d).sum()
    assert data["perm_p"] == pytest.approx((1 + (perm >= d).sum()) / 6)
    assert (out / "alignment.png").stat().st_size > 1000
    config = json.loads((out / "config.json").read_text())
    assert config["structure_types"] == ["a", "b", "c"] and config["seeds"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--checkpoints", "0,x"], "iterations separated by commas"),
        (["--task-option", "bogus=1"], "unknown option 'bogus'"),
        (["--structure", "missing.npz"], "structure file not found"),
    ],
)
def test_align_errors_are_one_line(tmp_path, structure_file, capsys, extra, message):
    argv = ["align", "--structure", str(structure_file), "--out", str(tmp_path / "o"), *TINY,
            *extra]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
