"""The committed alignment results: their README tables are what the files say."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGE2 = ROOT / "experiments" / "alignment" / "stage2"
TASKS = ("evidence_accumulation", "delayed_match")


def _script():
    path = ROOT / "workflows" / "scripts" / "alignment_criteria.py"
    spec = importlib.util.spec_from_file_location("alignment_criteria", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _block(text: str, name: str) -> list[str]:
    m = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert m, name
    return m.group(1).splitlines()


def test_stage2_readme_tables_are_generated_from_its_files():
    mod = _script()
    folders = [STAGE2 / t for t in TASKS]
    text = (STAGE2 / "README.md").read_text()
    assert _block(text, "criteria") == mod.criteria_rows(folders, 250)
    assert _block(text, "secondary") == mod.secondary_rows(folders)


@pytest.mark.parametrize("task", TASKS)
def test_rank_and_p_follow_from_the_per_draw_means(task):
    # independent of neuromod align's summary: the rank among the 999 label permutations from
    # the per-draw means, ties against the data gate
    folder = STAGE2 / task
    draws = pd.read_csv(folder / "draw_means.csv")
    single = pd.read_csv(folder / "alignment_single_arms.csv")
    summary = pd.read_csv(folder / "summary.csv").set_index(["checkpoint", "arm"])
    for ck in (0, 100, 250):
        perms = draws[(draws["checkpoint"] == ck) & (draws["arm"] == "label-permuted")]
        assert len(perms) == 999
        rows = single[(single["checkpoint"] == ck) & (single["arm"] == "data")]
        data = rows.groupby("seed")["cosine"].mean().mean()
        assert data == pytest.approx(summary.loc[(ck, "data"), "mean_cosine"], abs=1e-9)
        above = int((perms["cosine"] >= data - 1e-12).sum())
        assert summary.loc[(ck, "data"), "perm_rank"] == above + 1
        assert summary.loc[(ck, "data"), "perm_p"] == pytest.approx((above + 1) / 1000)
