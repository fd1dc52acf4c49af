"""Workflow configs (issue 24): a misspelt key, a key given twice and a bad value end in one line
naming the file, line and key (``neuromod_data.config_check``, used by workflows/rules/common.smk).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from neuromod_data.config_check import ConfigError, check_config, load_yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflows" / "schemas" / "config.schema.yaml"
DEFAULT = REPO / "workflows" / "config" / "config.yaml"


def _layered(*files: Path) -> dict:
    """What Snakemake makes of --configfile files layered over the default (nested merge)."""

    def merge(a, b):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return out

    cfg: dict = {}
    for f in files:
        cfg = merge(cfg, yaml.safe_load(f.read_text()) or {})
    return cfg


def test_a_key_given_twice_is_refused_naming_key_and_lines(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("results: r\ntrain:\n  iterations: 3\n  seeds: [0]\n  iterations: 5\n")
    assert yaml.safe_load(f.read_text())["train"]["iterations"] == 5  # PyYAML: the last one wins
    with pytest.raises(ConfigError) as err:
        load_yaml(f)
    msg = str(err.value)
    assert msg == f"{f}: line 5: key 'iterations' is given twice (first on line 3); keep one"


def test_top_level_duplicate_and_merge_keys(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("results: a\ngroupby: [x]\nresults: b\n")
    with pytest.raises(
        ConfigError, match=r"line 3: key 'results' is given twice \(first on line 1\)"
    ):
        load_yaml(f)
    # an anchor merged in and then overridden is not a repetition
    g = tmp_path / "g.yaml"
    g.write_text("base: &b {lr: 1, seed: 0}\nrun:\n  <<: *b\n  lr: 2\n")
    assert load_yaml(g)["run"] == {"lr": 2, "seed": 0}


def test_a_misspelt_key_names_file_line_and_the_closest_valid_key(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("results: r\ntrain:\n  seeds: [0]\n  itterations: 3\n")
    with pytest.raises(ConfigError) as err:
        check_config(_layered(DEFAULT, f), SCHEMA, files=[DEFAULT, f])
    assert str(err.value) == (
        f"{f}: line 4: unknown key 'train.itterations'; did you mean 'iterations'?"
    )
    top = tmp_path / "t.yaml"
    top.write_text("reslts: r\n")
    with pytest.raises(
        ConfigError, match=r"t.yaml: line 1: unknown key 'reslts'; did you mean 'results'"
    ):
        check_config(_layered(DEFAULT, top), SCHEMA, files=[DEFAULT, top])


def test_a_bad_value_is_one_line_at_the_file_that_sets_it(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("results: r\ntrain:\n  gates: [shuffled]\n")
    with pytest.raises(ConfigError) as err:
        check_config(_layered(DEFAULT, f), SCHEMA, files=[DEFAULT, f])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{f}: line 3: train.gates[0]: 'shuffled'"), msg


def test_the_shipped_configs_pass(tmp_path):
    for name in ("config.yaml", "tasic2018.yaml", "m1_patchseq.yaml", "local_dataset.yaml"):
        f = REPO / "workflows" / "config" / name
        check_config(_layered(DEFAULT, f), SCHEMA, files=[DEFAULT, f])


def _snakemake(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("snakemake")
    cmd = [exe] if exe else [sys.executable, "-m", "snakemake"]
    return subprocess.run(
        [*cmd, "-s", str(REPO / "workflows" / "Snakefile"), "--nolock", "-n", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("results: {r}\ntrian:\n  iterations: 3\n", ("line 2", "'trian'", "'train'")),
        ("results: {r}\ntrain:\n  iterations: 3\n  iterations: 5\n", ("line 4", "'iterations'")),
    ],
    ids=["misspelt-key", "duplicate-key"],
)
def test_the_workflow_refuses_in_one_line(tmp_path, text, words):
    """Snakemake itself: one line instead of the schema and config (448 lines before)."""
    f = tmp_path / "c.yaml"
    f.write_text(text.format(r=tmp_path / "r"))
    res = _snakemake("--configfile", str(f))
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1, res.stderr
    assert errors[0].startswith("neuromod workflow: error: ") and str(f) in errors[0]
    for w in words:
        assert w in errors[0], errors[0]
    assert len((res.stdout + res.stderr).splitlines()) < 5
