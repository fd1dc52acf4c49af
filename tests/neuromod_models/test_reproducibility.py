"""Reproducibility across code: small reference runs of every rule rerun bit for bit, and the
arithmetic version guarding resumes (docs/design.md, "Reproducibility").

Each reference run (a tiny evidence-accumulation network, the authors' protocol of L1 shrinkage and
firing-rate regulariser, 50 iterations) was recorded under the current
:data:`~neuromod_models._arithmetic.ARITHMETIC_VERSION`, its losses written as exact decimals
(Python's repr) in ``tests/data/reproducibility/<case>.csv``, with the version, the commit and
the machine in ``manifest.json``. A change that alters any loss fails here: bump the version and
regenerate the records with

    python tests/neuromod_models/test_reproducibility.py --regenerate

(run from the repository root with no uncommitted changes under neuromod_models/, so that the
recorded commit is the code that made the records).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from neuromod_data.errors import TrainingError
from neuromod_data.structure import CellTypeStructure
from neuromod_models import SpikingNetwork, make_rule
from neuromod_models._arithmetic import ARITHMETIC_VERSION
from neuromod_models.checkpoint import CHECKPOINT_NAME
from neuromod_models.regularization import FiringRateRegularizer
from neuromod_models.tasks import make_task
from neuromod_models.training import train

RECORDS = Path(__file__).resolve().parents[1] / "data" / "reproducibility"
MANIFEST = RECORDS / "manifest.json"
REGENERATE = "python tests/neuromod_models/test_reproducibility.py --regenerate"
ITERATIONS = 50
#: one reference run per rule and gate: (rule, gate); BPTT and e-prop on the E/I network, MDGL on a
#: three-type structure with its data gate and with the all-ones gate (the positive anchor)
CASES: dict[str, tuple[str, str | None]] = {
    "bptt": ("bptt", None),
    "eprop": ("eprop", None),
    "mdgl-data": ("mdgl", "data"),
    "mdgl-ones": ("mdgl", "ones"),
}
#: what every reference run shares (recorded in the manifest)
SETTINGS: dict[str, Any] = {
    "task": "evidence_accumulation",
    "task_options": {"T": 60, "n_cues": 3, "t_cue": 5, "t_interval": 8, "recall_duration": 10},
    # denser and more strongly driven than the paper's network, so that 20 neurons spike (about
    # 6 % of neurons per step) and every rule changes the weights within 50 iterations
    "network": {
        "n_rec": 20,
        "n_adaptive": 10,
        "p_in": 0.3,
        "p_rec": 0.3,
        "p_out": 0.5,
        "w_in_scale": 2.0,
    },
    "batch_size": 4,
    "lr": 1e-2,
    "seed": 7,
    "iterations": ITERATIONS,
    "validate_every": 25,
    "l1": 0.01,
    "rate_reg": 0.1,
    "rate_target_hz": 10.0,
    "threads": 1,
}


def three_types() -> CellTypeStructure:
    """A hand-made structure whose gate is far from uniform (what the data gate runs on)."""
    mod = np.zeros((2, 3, 3))
    mod[0, 0, 1] = 2.0
    mod[0, 2, 2] = 1.0
    mod[1, 1, 0] = 0.5
    return CellTypeStructure(
        names=("Exc", "Sst", "Pvalb"),
        abundances=np.array([0.7, 0.2, 0.1]),
        signs=np.array([1, -1, -1]),
        modulation=mod,
        pairs=("A→a", "B→b"),
    )


def reference_run(case: str, *, out_dir: Path | None = None, iterations: int = ITERATIONS, **kw):
    """Train the reference run of ``case``; returns :func:`train`'s result."""
    rule_name, gate = CASES[case]
    task = make_task(SETTINGS["task"], **SETTINGS["task_options"])
    structure = three_types() if rule_name == "mdgl" else None
    net = SpikingNetwork(
        **{**task.network_kwargs(), **SETTINGS["network"]},
        structure=structure,
        seed=SETTINGS["seed"],
    )
    rule = make_rule(rule_name, gate=gate, seed=SETTINGS["seed"])
    return train(
        net,
        rule,
        task,
        iterations=iterations,
        batch_size=SETTINGS["batch_size"],
        lr=SETTINGS["lr"],
        seed=SETTINGS["seed"],
        out_dir=out_dir,
        validate_every=SETTINGS["validate_every"],
        l1=SETTINGS["l1"],
        rate_regularizer=FiringRateRegularizer(SETTINGS["rate_reg"], SETTINGS["rate_target_hz"]),
        threads=SETTINGS["threads"],
        progress=False,
        figure=False,
        **kw,
    )


def _rows(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    # repr of a float is the shortest decimal that reads back to the same double: equal strings
    # mean equal bits (and the file stays readable)
    return [
        {
            "iteration": str(r["iteration"]),
            "split": r["split"],
            "loss": repr(float(r["loss"])),
            "total_loss": repr(float(r["total_loss"])),
        }
        for r in history
    ]


def _environment() -> dict[str, Any]:
    from neuromod_data.experiments.record import machine

    try:
        import numba

        numba_version = numba.__version__
    except ImportError:
        numba_version = None
    return {
        "cpu": machine().get("cpu"),
        "torch": torch.__version__,
        "numba": numba_version,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def regenerate() -> None:
    """Rerun every case with the current code and rewrite the records and the manifest."""
    import subprocess

    def git(*args: str) -> str | None:
        # the repository this file is in (the code that makes the records), not the caller's cwd
        root = Path(__file__).resolve().parents[2]
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--", "neuromod_models")
    RECORDS.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        rows = _rows(reference_run(case).history)
        with open(RECORDS / f"{case}.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"{case}: {len(rows)} rows → {RECORDS / f'{case}.csv'}")
    manifest = {
        "arithmetic_version": ARITHMETIC_VERSION,
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_files_in_models": None if status is None else len(status.splitlines()),
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": _environment(),
        "cases": {k: {"rule": r, "gate": g or "none"} for k, (r, g) in CASES.items()},
        "settings": SETTINGS,
        "regenerate": REGENERATE,
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"manifest (arithmetic version {ARITHMETIC_VERSION}) → {MANIFEST}")


# ----------------------------------------------------------------------------- the records
def _manifest() -> dict[str, Any]:
    if not MANIFEST.is_file():
        pytest.fail(f"no reference records in {RECORDS}: create them with {REGENERATE}")
    return json.loads(MANIFEST.read_text())


def test_records_are_of_the_current_arithmetic_version():
    m = _manifest()
    assert m["arithmetic_version"] == ARITHMETIC_VERSION, (
        f"ARITHMETIC_VERSION is {ARITHMETIC_VERSION} but the reference records were made under "
        f"version {m['arithmetic_version']}: regenerate them with {REGENERATE}"
    )
    assert sorted(m["cases"]) == sorted(CASES), f"the records lack cases: regenerate ({REGENERATE})"
    assert m["settings"] == json.loads(json.dumps(SETTINGS)), "settings changed: regenerate"


@pytest.mark.parametrize("case", list(CASES))
def test_reference_runs_repeat_bit_for_bit(case):
    m = _manifest()
    path = RECORDS / f"{case}.csv"
    if not path.is_file():
        pytest.fail(f"no reference record {path}: create it with {REGENERATE}")
    with open(path, newline="") as fh:
        recorded = list(csv.DictReader(fh))
    now = _rows(reference_run(case).history)
    # validation at 0 and every validate_every iterations, one training row per iteration
    assert len(recorded) == 1 + ITERATIONS + ITERATIONS // SETTINGS["validate_every"]
    for old, new in zip(recorded, now, strict=True):
        if old != new:
            pytest.fail(
                f"{case}: the arithmetic changed: bump ARITHMETIC_VERSION "
                f"(neuromod_models/_arithmetic.py) and regenerate with {REGENERATE}. First "
                f"difference: the {old['split']} loss of iteration {old['iteration']} is "
                f"{new['loss']} (total {new['total_loss']}), recorded {old['loss']} (total "
                f"{old['total_loss']}) under arithmetic version {m['arithmetic_version']} at "
                f"commit {str(m['commit'])[:10]}. If the code did not change, the machine did: "
                f"recorded on {json.dumps(m['environment'], sort_keys=True)}, now "
                f"{json.dumps(_environment(), sort_keys=True)}.",
                pytrace=False,
            )


# ----------------------------------------------------------------------------- resume guard
def _rewrite_version(checkpoint: Path, version: int | None) -> None:
    payload = torch.load(checkpoint, weights_only=True)
    if version is None:
        payload.pop("arithmetic_version")
    else:
        payload["arithmetic_version"] = version
    torch.save(payload, checkpoint)


def test_checkpoint_and_summary_record_the_version(tmp_path):
    res = reference_run("eprop", out_dir=tmp_path, iterations=2)
    assert json.loads((tmp_path / "metrics.json").read_text())["arithmetic_version"] == (
        ARITHMETIC_VERSION
    )
    assert "arithmetic_version_resumed_from" not in res.summary
    payload = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert payload["arithmetic_version"] == ARITHMETIC_VERSION


@pytest.mark.parametrize("version", [None, ARITHMETIC_VERSION + 1])
def test_resume_under_another_arithmetic_is_refused_in_one_line(tmp_path, version):
    reference_run("eprop", out_dir=tmp_path, iterations=2)
    ckpt = tmp_path / CHECKPOINT_NAME
    _rewrite_version(ckpt, version)
    before = ckpt.read_bytes()
    with pytest.raises(TrainingError) as err:
        reference_run("eprop", out_dir=tmp_path, iterations=4)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(ckpt) in msg and f"version {ARITHMETIC_VERSION}" in msg
    assert ("before arithmetic versions" in msg) if version is None else (f"{version}" in msg)
    assert "new folder" in msg and "--allow-arithmetic-change" in msg
    assert ckpt.read_bytes() == before  # nothing was continued


def test_an_allowed_change_is_recorded_and_kept_across_resumes(tmp_path):
    reference_run("eprop", out_dir=tmp_path, iterations=2)
    _rewrite_version(tmp_path / CHECKPOINT_NAME, None)
    res = reference_run("eprop", out_dir=tmp_path, iterations=4, allow_arithmetic_change=True)
    expected = {"version": None, "iteration": 2}
    assert res.summary["arithmetic_version_resumed_from"] == expected
    assert res.summary["arithmetic_version"] == ARITHMETIC_VERSION
    # the checkpoint written after the change is of this version; a later resume needs no flag and
    # still says where the run changed arithmetic
    later = reference_run("eprop", out_dir=tmp_path, iterations=6)
    assert later.summary["arithmetic_version_resumed_from"] == expected
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["arithmetic_version_resumed_from"] == expected


def test_the_cli_refuses_and_allows_with_the_flag(tmp_path, capsys):
    from neuromod_data.cli import main

    out = tmp_path / "run"
    argv = [
        "train", "--task", "evidence_accumulation", "--rule", "eprop", "--seed", "1",
        "--batch-size", "2", "--validate-every", "2", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({k: SETTINGS[k] for k in ("task_options", "network")}))
    argv += ["--config", str(config)]
    assert main([*argv, "--iterations", "2"]) == 0
    _rewrite_version(out / CHECKPOINT_NAME, ARITHMETIC_VERSION + 5)
    capsys.readouterr()
    assert main([*argv, "--iterations", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--allow-arithmetic-change" in err
    assert main([*argv, "--iterations", "4", "--allow-arithmetic-change"]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["arithmetic_version_resumed_from"] == {
        "version": ARITHMETIC_VERSION + 5,
        "iteration": 2,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--regenerate", action="store_true", help="rewrite tests/data/reproducibility/"
    )
    if not parser.parse_args().regenerate:
        parser.print_help()
        sys.exit(2)
    regenerate()
