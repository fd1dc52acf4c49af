"""The Snakemake workflow: lint, dry runs of every config, a real tiny end-to-end run, partial re-runs,
and failures that leave no output behind.

Snakemake runs in a subprocess from the repository root (as users run it), with every result written
under pytest's tmp_path through a config file that sets ``results``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "workflows"
SNAKEFILE = WORKFLOW / "Snakefile"
CONFIGS = WORKFLOW / "config"
SCHEMA = WORKFLOW / "schemas" / "config.schema.yaml"

# A training setting small enough for the test suite: a 400-step evidence-accumulation task
TINY_TRAIN = {
    "iterations": 4,
    "batch_size": 4,
    "seeds": [0],
    "gates": ["data"],
    "options": {
        "validate_every": 2,
        "task_options": {
            "T": 400,
            "n_cues": 3,
            "t_cue": 50,
            "t_interval": 75,
            "recall_duration": 75,
        },
    },
}


def _snakemake_cmd() -> list[str]:
    exe = shutil.which("snakemake")
    return [exe] if exe else [sys.executable, "-m", "snakemake"]


def run_snakemake(
    *args: str, check: bool = True, timeout: int = 600
) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [*_snakemake_cmd(), "-s", str(SNAKEFILE), "--nolock", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def job_stats(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints for a (dry) run, as {rule: count}."""
    if "Nothing to be done" in output:
        return {}
    block = output[output.index("Job stats:") :].splitlines()[3:]
    stats = {}
    for line in block:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        stats[m.group(1)] = int(m.group(2))
    stats.pop("total", None)
    return stats


def write_config(path: Path, **cfg) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def expected_train_jobs(cfg: dict) -> int:
    """Training runs a config asks for, counted from the config file itself."""
    train = cfg.get("train", {})
    rules = train.get("rules", ["bptt", "eprop", "mdgl"])
    gates = train.get("gates", ["data", "label-permuted"])
    seeds = train.get("seeds", [0, 1, 2])
    levels = train.get("levels") or cfg.get("groupby", ["subclass_label"])
    variants = sum(len(gates) if r == "mdgl" else 1 for r in rules)
    return len(levels) * variants * len(seeds)


def merged(name: str) -> dict:
    """A dataset config layered over the default (what Snakemake does with --configfile)."""
    base = yaml.safe_load((CONFIGS / "config.yaml").read_text())
    over = yaml.safe_load((CONFIGS / name).read_text()) if name != "config.yaml" else {}

    def merge(a, b):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return out

    return merge(base, over)


# ------------------------------------------------------------------------------- static checks
def test_lint_is_clean():
    proc = run_snakemake("--lint")
    out = proc.stdout + proc.stderr
    assert "Lints for" not in out, out
    assert "good condition" in out


def test_every_config_validates_against_the_schema():
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text())
    for name in ("config.yaml", "tasic2018.yaml", "m1_patchseq.yaml", "local_dataset.yaml"):
        jsonschema.validate(merged(name), schema)


def test_schema_names_are_the_shared_vocabulary():
    from neuromod_data import names

    train = yaml.safe_load(SCHEMA.read_text())["properties"]["train"]["properties"]
    assert tuple(train["task"]["enum"]) == names.TASKS
    assert tuple(train["rules"]["items"]["enum"]) == names.RULES
    assert tuple(train["gates"]["items"]["enum"]) == names.GATES
    repro = yaml.safe_load((WORKFLOW / "schemas" / "reproduction.schema.yaml").read_text())
    grid = repro["properties"]["reproduction"]["properties"]["grid"]["items"]["properties"]
    assert tuple(grid["tasks"]["items"]["enum"]) == names.TASKS
    assert tuple(grid["rules"]["items"]["enum"]) == names.RULES


@pytest.mark.parametrize(
    "override",
    [
        {"dataset": {"source": "fetch", "fetch": {"name": "tasic2018; touch HACKED"}}},
        {"dataset": {"source": "fetch", "fetch": {"region": "$(touch HACKED)"}}},
        {"dataset": {"name": "../../etc"}},
        {"train": {"gates": ["shuffled"]}},  # the former name of grid-shuffled
    ],
)
def test_unsafe_or_unknown_names_are_refused(tmp_path, override):
    cfg = write_config(tmp_path / "bad.yaml", results=str(tmp_path / "r"), **override)
    proc = run_snakemake("-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "ValidationError" in proc.stdout + proc.stderr
    assert not (REPO / "HACKED").exists()


def test_values_reaching_the_shell_are_quoted(tmp_path):
    """Free-text values (extra options, label columns, titles) reach each command as quoted words:
    `$(...)` and `;` are passed on as text, never run."""
    cfg = write_config(
        tmp_path / "c.yaml",
        results=str(tmp_path / "r"),
        groupby=["sub class; touch HACKED"],
        graph={"extra_args": "--top-k 5 $(touch HACKED)"},
        train={"extra_args": "--lr 0.01 `touch HACKED`"},
        report={"title": "it's $(touch HACKED)"},
    )
    out = run_snakemake("-n", "-p", "--configfile", str(cfg)).stdout
    assert "--groupby 'sub class; touch HACKED'" in out
    assert "--top-k 5 '$(touch' 'HACKED)'" in out
    assert "--lr 0.01 '`touch' 'HACKED`'" in out
    assert "--title 'it'\"'\"'s $(touch HACKED)'" in out


def test_heterogeneity_key_switches_it_off_in_every_training_command(tmp_path):
    """`train.heterogeneity: false` gives each `neuromod train` --no-heterogeneity; by default
    (true) the option is absent and derived neurons draw their own parameters."""
    on = write_config(tmp_path / "on.yaml", results=str(tmp_path / "r"))
    off = write_config(
        tmp_path / "off.yaml", results=str(tmp_path / "r"), train={"heterogeneity": False}
    )
    trains = lambda cfg: [  # noqa: E731
        line for line in run_snakemake("-n", "-p", "--configfile", str(cfg)).stdout.splitlines()
        if "neuromod train" in line
    ]  # fmt: skip
    assert trains(on) and not any("--no-heterogeneity" in line for line in trains(on))
    assert trains(off) and all("--no-heterogeneity" in line for line in trains(off))


def test_bad_config_is_refused(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", results=str(tmp_path / "r"), train={"rules": ["sgd"]})
    proc = run_snakemake("-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "sgd" in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["config.yaml", "tasic2018.yaml"])
def test_dry_run(name, tmp_path):
    cfg = merged(name)
    over = write_config(tmp_path / "over.yaml", results=str(tmp_path / "results"))
    args = (
        ["--configfile", str(CONFIGS / name), str(over)]
        if name != "config.yaml"
        else ["--configfile", str(over)]
    )
    stats = job_stats(run_snakemake("-n", *args).stdout)
    n_levels = len(cfg["groupby"])
    n_stats = len(cfg["aggregate"]["stats"])
    assert stats["train"] == expected_train_jobs(cfg)
    assert stats["aggregate"] == n_levels * n_stats
    assert stats["graph"] == n_levels
    assert stats["report"] == stats["evaluate"] == stats["info"] == 1
    source_rule = {"toy": "toy_data", "fetch": "fetch_data"}[cfg["dataset"]["source"]]
    assert stats[source_rule] == 1
    assert not {"toy_data", "fetch_data", "read_data"} - {source_rule} & set(stats)


def test_dry_run_m1_patchseq(shared_data, tmp_path):
    cfg = merged("m1_patchseq.yaml")
    m1 = shared_data / "allen_m1_patchseq"
    over = write_config(
        tmp_path / "over.yaml",
        results=str(tmp_path / "results"),
        dataset={
            "path": str(m1 / "m1_patchseq_phys_temp_exon_counts.csv.gz"),
            "metadata": str(m1 / "m1_patchseq_phys_temp_meta_data.csv"),
        },
    )
    over_cfg = yaml.safe_load(over.read_text())
    over_cfg["physiology"] = _physiology_paths(shared_data)
    over.write_text(yaml.safe_dump(over_cfg))
    out = run_snakemake("-n", "--configfile", str(CONFIGS / "m1_patchseq.yaml"), str(over)).stdout
    stats = job_stats(out)
    assert stats["read_data"] == 1
    assert stats["graph"] == 2 and stats["aggregate"] == 4
    assert stats["train"] == expected_train_jobs(cfg) == 8
    # label columns with spaces become path-safe names
    assert "graph/RNA_family/structure.npz" in out and "graph/RNA_type/structure.npz" in out
    # the trained level's networks come from its structure with intrinsic parameters added
    assert stats["physiology"] == 1 and "physiology/RNA_family/structure.npz" in out


def _physiology_paths(shared_data):
    m1 = shared_data / "allen_m1_patchseq"
    return {
        "ephys": str(m1 / "m1_patchseq_ephys_features.csv"),
        "ephys_metadata": str(m1 / "m1_patchseq_meta_data.csv"),
        "connectivity": str(shared_data / "billeh2020_connectivity" / "connectivity_long.csv"),
        "layer": "Inferred layer",
    }


def test_dry_run_local_h5ad_is_used_in_place(tmp_path):
    from neuromod_data.datasets import toy_cortex

    h5ad = tmp_path / "mine.h5ad"
    toy_cortex(n_cells=200, seed=1).write_h5ad(h5ad)
    over = write_config(
        tmp_path / "over.yaml",
        results=str(tmp_path / "results"),
        dataset={"path": str(h5ad)},
        groupby=["subclass_label", "class_label"],
        train={"levels": ["subclass_label"]},
    )
    out = run_snakemake("-n", "--configfile", str(CONFIGS / "local_dataset.yaml"), str(over)).stdout
    stats = job_stats(out)
    assert "read_data" not in stats  # an h5ad without separate metadata is read where it lies
    assert stats["aggregate"] == 2 and stats["graph"] == 2
    assert stats["train"] == 4 * 2  # one level × (bptt, eprop, mdgl-data, mdgl-shuffled) × 2 seeds
    assert str(h5ad) in out


def test_slurm_profile_requests_a_gpu_for_training(tmp_path, monkeypatch):
    """The profile parses without editing: partitions come from the environment (training jobs to
    $SLURM_GPU_PARTITION, the others to $SLURM_PARTITION) and training jobs ask for the config's
    `train.gpus`; checked with the local executor, since the SLURM plugin and sbatch are not
    needed to read the profile."""
    profile = WORKFLOW / "profiles" / "slurm"
    assert yaml.safe_load((profile / "config.yaml").read_text())["executor"] == "slurm"
    assert "<" not in (profile / "config.yaml").read_text().split("default-resources")[1]
    monkeypatch.setenv("SLURM_PARTITION", "cpuq")
    monkeypatch.setenv("SLURM_GPU_PARTITION", "gpuq")
    over = write_config(
        tmp_path / "over.yaml", results=str(tmp_path / "results"), train={"gpus": 1}
    )
    out = run_snakemake(
        "-n",
        "--profile",
        str(profile),
        "--executor",
        "local",
        "--cores",
        "2",
        "--configfile",
        str(over),
    ).stdout
    jobs = out.split("rule ")
    train = [j for j in jobs if j.startswith("train:")]
    other = [j for j in jobs if j.startswith(("graph:", "aggregate:", "info:"))]
    assert train and all("gpu=1" in j and "slurm_partition=gpuq" in j for j in train)
    assert other and all("gpu=1" not in j and "slurm_partition=cpuq" in j for j in other)


# ------------------------------------------------------------------------------ real runs
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The default workflow, end to end, on a small toy dataset with tiny training."""
    root = tmp_path_factory.mktemp("wf")
    cfg = write_config(
        root / "tiny.yaml",
        results=str(root / "results"),
        dataset={"toy": {"n_cells": 1200, "seed": 3}},
        train=TINY_TRAIN,
    )
    proc = run_snakemake("--cores", "2", "--configfile", str(cfg))
    return root / "results", cfg, proc


@pytest.mark.slow
def test_end_to_end_default_workflow(tiny_run):
    results, cfg, _ = tiny_run
    report = results / "report.html"
    assert report.is_file()
    html = report.read_text()
    srcs = re.findall(r"src='([^']*)'", html)
    assert len(srcs) >= 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    # every training run of the grid, and the summary over them
    variants = ["bptt", "eprop", "mdgl-data"]
    for v in variants:
        run = results / "train" / "subclass_label" / v / "seed0"
        metrics = pd.read_csv(run / "metrics.csv")
        assert {"iteration", "split", "loss", "accuracy"} <= set(metrics.columns)
        assert metrics["iteration"].max() == TINY_TRAIN["iterations"]
        done = json.loads((run / "metrics.json").read_text())  # the declared output
        assert done["iterations_done"] == TINY_TRAIN["iterations"]
    summary = pd.read_csv(results / "evaluate" / "summary.csv")
    assert summary["rule"].tolist() == variants
    assert (summary["condition"] == "subclass_label").all()
    assert (summary["n_seeds"] == len(TINY_TRAIN["seeds"])).all()
    assert (summary["iterations"] == TINY_TRAIN["iterations"]).all()
    # final loss / accuracy = the last validation point of each run's metrics.csv (one seed: the
    # mean is that run's value and the sample SD is undefined)
    for v, row in zip(variants, summary.itertuples(), strict=True):
        m = pd.read_csv(results / "train" / "subclass_label" / v / "seed0" / "metrics.csv")
        val = m[m["split"] == "validation"]
        last = val[val["iteration"] == val["iteration"].max()].iloc[-1]
        assert row.final_loss_mean == pytest.approx(last["loss"], rel=1e-12), v
        assert row.final_accuracy_mean == pytest.approx(last["accuracy"], rel=1e-12), v
        assert np.isnan(row.final_loss_sd), v
    # the report's table carries the same numbers
    for v in variants:
        assert f"<td class='l'>{v}</td>" in html
    # aggregate: one row per subclass of the toy data with at least min_cells cells
    agg = pd.read_csv(results / "aggregate" / "subclass_label.smith2019.csv", index_col=0)
    assert agg.shape[0] >= 10 and agg.max().max() == pytest.approx(1.0)
    # ... recomputed from the workflow's h5ad with numpy/pandas (Smith et al. 2019: CPM per cell,
    # 5 % trimmed mean per type, log10(x + 1), divided by the gene's maximum over types)
    import anndata

    adata = anndata.read_h5ad(results / "data" / "toy_cortex.h5ad")
    counts = adata.X.toarray().astype(np.float64)
    cpm = pd.DataFrame(
        counts / counts.sum(axis=1, keepdims=True) * 1e6,
        index=adata.obs_names,
        columns=adata.var_names,
    )
    labels = adata.obs["subclass_label"].astype(str)
    sizes = labels.value_counts()
    min_cells = merged("config.yaml")["aggregate"]["min_cells"]
    assert sorted(agg.index) == sorted(sizes.index[sizes >= min_cells])

    def trimmed_mean(x: pd.Series) -> float:
        x = np.sort(x.to_numpy())
        cut = int(0.05 * len(x))
        return float(x[cut : len(x) - cut].mean())

    tm = cpm[agg.columns].groupby(labels).agg(trimmed_mean).loc[agg.index]
    logv = np.log10(tm + 1.0)
    top = logv.max(axis=0)
    want = (logv / top.where(top > 0)).fillna(0.0)
    np.testing.assert_allclose(agg.to_numpy(), want.to_numpy(), rtol=1e-5, atol=1e-6)
    # a log and a benchmark file for every job
    for rule in ("toy_data", "info", "evaluate", "report", "config_snapshot", "train_options"):
        assert (results / "logs" / f"{rule}.log").is_file()
        assert (results / "benchmarks" / f"{rule}.tsv").is_file()
    assert len(list((results / "benchmarks" / "train").rglob("*.tsv"))) == len(variants)
    # provenance: the checksum of the generated data file
    import hashlib

    sha = hashlib.sha256((results / "data" / "toy_cortex.h5ad").read_bytes()).hexdigest()
    assert sha in html


@pytest.mark.slow
def test_rerun_rebuilds_only_what_depends_on_a_deleted_file(tiny_run):
    results, cfg, _ = tiny_run
    assert job_stats(run_snakemake("-n", "--configfile", str(cfg)).stdout) == {}
    outputs = [
        p
        for p in results.rglob("*")
        if p.is_file() and "logs" not in p.parts and "benchmarks" not in p.parts
    ]
    before = {p: p.stat().st_mtime_ns for p in outputs}

    agg = results / "aggregate" / "subclass_label.smith2019.csv"
    run = results / "train" / "subclass_label" / "eprop" / "seed0" / "metrics.json"
    agg.unlink()
    run.unlink()
    planned = job_stats(run_snakemake("-n", "--configfile", str(cfg)).stdout)
    assert planned == {"aggregate": 1, "train": 1, "evaluate": 1, "report": 1, "all": 1}

    run_snakemake("--cores", "2", "--configfile", str(cfg))
    assert agg.is_file() and run.is_file()
    rebuilt = {agg, run, results / "evaluate" / "summary.csv", results / "report.html"}
    for p, mtime in before.items():
        if (
            p in rebuilt or p.parent == run.parent
        ):  # the run folder's checkpoint files may be rewritten
            continue
        assert p.stat().st_mtime_ns == mtime, f"{p} was rebuilt"
    for p in rebuilt - {agg, run}:
        assert p.stat().st_mtime_ns > before[p]


def test_half_trained_run_is_not_finished(tiny_run):
    """A run killed after a checkpoint has checkpoint.pt and metrics.csv but no metrics.json (which
    `neuromod train` writes only at the end): Snakemake must train it again, not take it as done."""
    results, cfg, _ = tiny_run
    done = results / "train" / "subclass_label" / "bptt" / "seed0" / "metrics.json"
    saved = done.read_bytes()
    done.unlink()
    try:
        assert (done.parent / "checkpoint.pt").is_file() and (done.parent / "metrics.csv").is_file()
        planned = job_stats(run_snakemake("-n", "--configfile", str(cfg)).stdout)
        assert planned["train"] == 1
    finally:
        done.write_bytes(saved)


@pytest.mark.slow
def test_more_iterations_resume_and_changed_settings_are_refused(tiny_run, tmp_path):
    results, cfg, _ = tiny_run
    base = yaml.safe_load(cfg.read_text())
    run = results / "train" / "subclass_label" / "bptt" / "seed0"
    target = run / "metrics.json"
    log = results / "logs" / "train" / "subclass_label" / "bptt" / "seed0.log"

    more = write_config(
        tmp_path / "more.yaml", **{**base, "train": {**TINY_TRAIN, "iterations": 6}}
    )
    stats = job_stats(run_snakemake("-n", "--configfile", str(more), "--", str(target)).stdout)
    assert stats == {"train": 1}  # only the requested run, because its iterations changed
    run_snakemake("--cores", "1", "--configfile", str(more), "--", str(target))
    assert "resumed" in log.read_text()
    assert pd.read_csv(run / "metrics.csv")["iteration"].max() == 6

    # another batch size cannot continue the checkpoint: `neuromod train` refuses, naming the
    # setting, and the run is not marked finished; removing the folder starts it afresh
    other = write_config(tmp_path / "bs.yaml", **{**base, "train": {**TINY_TRAIN, "batch_size": 3}})
    proc = run_snakemake("--cores", "1", "--configfile", str(other), "--", str(target), check=False)
    assert proc.returncode != 0
    assert "batch_size" in log.read_text() and "Traceback" not in log.read_text()
    assert not target.exists()
    shutil.rmtree(run)
    run_snakemake("--cores", "1", "--configfile", str(other), "--", str(target))
    assert "resumed" not in log.read_text()
    assert json.loads(target.read_text())["iterations_done"] == TINY_TRAIN["iterations"]


@pytest.mark.slow
def test_m1_patchseq_real_files_to_graph(shared_data, tmp_path, m1_by_pandas):
    """The M1 Patch-seq config on the real files, up to the graphs (training is the toy run's job)."""
    m1 = shared_data / "allen_m1_patchseq"
    results = tmp_path / "results"
    over = write_config(
        tmp_path / "over.yaml",
        results=str(results),
        dataset={
            "path": str(m1 / "m1_patchseq_phys_temp_exon_counts.csv.gz"),
            "metadata": str(m1 / "m1_patchseq_phys_temp_meta_data.csv"),
        },
        physiology=_physiology_paths(shared_data),
    )
    targets = [
        str(results / "graph" / "RNA_family" / "structure.npz"),
        str(results / "physiology" / "RNA_family" / "structure.npz"),
        str(results / "info" / "dataset.txt"),
    ]
    run_snakemake(
        "--cores", "2", "--configfile", str(CONFIGS / "m1_patchseq.yaml"), str(over), "--", *targets
    )
    # cells and genes as the files have them: the count matrix is genes (rows) × cells (columns)
    counts_file = m1 / "m1_patchseq_phys_temp_exon_counts.csv.gz"
    n_cells = pd.read_csv(counts_file, nrows=0).shape[1] - 1
    n_genes = len(pd.read_csv(counts_file, usecols=[0]))
    meta = pd.read_csv(m1 / "m1_patchseq_phys_temp_meta_data.csv", sep="\t")
    assert len(meta) == n_cells
    info = (results / "info" / "dataset.txt").read_text()
    assert re.search(rf"^cells:\s+{n_cells:,}$", info, re.MULTILINE), info
    assert re.search(rf"^genes:\s+{n_genes:,}$", info, re.MULTILINE), info
    assert "RNA family" in info
    from neuromod_data.structure import CellTypeStructure

    s = CellTypeStructure.load(results / "graph" / "RNA_family" / "structure.npz")
    # every neuronal family of the cells (the 'low quality' label is not a cell type)
    assert set(s.names) == set(meta["RNA family"].dropna()) - {"low quality"}
    # the two genes the data lacks are reported in the log, not silently dropped
    log = (results / "logs" / "graph" / "RNA_family.log").read_text()
    assert "Npy2r" in log and "Trhr" in log
    derived = CellTypeStructure.load(results / "physiology" / "RNA_family" / "structure.npz")
    assert derived.names == s.names and np.array_equal(derived.modulation, s.modulation)
    assert (results / "physiology" / "RNA_family" / "intrinsic.png").is_file()
    assert (results / "physiology" / "RNA_family" / "fit_validation.png").is_file()
    phys = _physiology_paths(shared_data)
    names = list(derived.names)
    # intrinsic parameters: the neurons fitted (the config's default) to the 1,328 room-temperature
    # cells and the 34 °C cells its physiology section names, as the library fits them
    # (the fit itself is checked against an independent simulation in test_intrinsic_fit.py)
    from neuromod_data.ephys import read_ephys
    from neuromod_data.intrinsic_fit import fit_intrinsic

    with pytest.warns(Warning):
        room = read_ephys(phys["ephys"], phys["ephys_metadata"], labels=["RNA family"])
        warm = read_ephys(m1 / "m1_patchseq_phys_temp_ephys_features.csv",
                          m1 / "m1_patchseq_phys_temp_meta_data.csv", labels=["RNA family"])  # fmt: skip
        want = fit_intrinsic(room, "RNA family", warm=warm, types=names).intrinsic
    assert derived.intrinsic.types == derived.names and derived.intrinsic.meta["method"] == "fit"
    np.testing.assert_array_equal(derived.intrinsic.median, want.median)
    np.testing.assert_array_equal(derived.intrinsic.spread, want.spread)
    sources = {r["type"]: r["source"] for r in derived.intrinsic.meta["temperature"]}
    assert sources["Sst"].startswith("34 °C") and sources["NP"].startswith(
        "25 °C"
    )  # 2 NP cells at 34 °C
    # connectivity: the layer-weighted mix of the Billeh populations, in pandas
    classes = {"ET": "E", "IT": "E", "NP": "E", "CT": "E", "Pvalb": "PV", "Sst": "SST"}
    assert set(names) <= set(classes)
    prob, strength, _ = m1_by_pandas.billeh_mix(
        phys["ephys_metadata"], phys["connectivity"], names, classes
    )
    np.testing.assert_allclose(derived.connectivity.probability, prob, rtol=1e-12)
    np.testing.assert_allclose(derived.connectivity.strength, strength, rtol=1e-12)


@pytest.mark.slow
def test_failed_rules_leave_no_partial_output(tmp_path):
    bad = tmp_path / "broken.h5ad"
    bad.write_bytes(b"this is not an HDF5 file\n" * 10)
    results = tmp_path / "results"
    cfg = write_config(
        tmp_path / "broken.yaml",
        results=str(results),
        dataset={"source": "local", "name": "broken", "path": str(bad)},
        train=TINY_TRAIN,
    )
    proc = run_snakemake("--cores", "2", "--keep-going", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    # `neuromod info ... > dataset.txt` creates its output before failing; Snakemake removes it
    assert not (results / "info" / "dataset.txt").exists()
    assert (
        not list((results / "aggregate").glob("*.csv"))
        if (results / "aggregate").exists()
        else True
    )
    graph = results / "graph" / "subclass_label"
    for name in ("interactions.csv", "graph.graphml", "structure.npz"):
        assert not (graph / name).exists()
    assert not (results / "report.html").exists()
    # ... and each failure is explained in its log, naming the file at fault
    for log in ("info.log", "aggregate/subclass_label.smith2019.log", "graph/subclass_label.log"):
        text = (results / "logs" / log).read_text()
        assert "broken.h5ad" in text, (log, text)
        assert "Traceback" not in text, (log, text)
