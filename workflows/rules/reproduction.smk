"""Reproduction of Liu et al. 2021 (Fig. 3C) and the data-derived modulation question.

Each (task, rule, structure, seed) is one job: `neuromod train` into RESULTS/train/... (checkpoints
there, so an interrupted job resumes), then `neuromod results record` keeps its metrics.csv and a
summary.json in RESULTS/runs/<name>/<task>/<rule>/<structure>/seed<k>/. A job whose record exists
(there, or published in experiments/runs/<name>/...) has no inputs, so it is never rerun and
nothing upstream of it is rebuilt. RESULTS is the config's `reproduction.results`.

Everything is written under RESULTS, the results page included (RESULTS/results.md). With
`--config publish=true` each finished run is also copied into experiments/runs/<name>/ (the
committed runs) and the page goes to docs/results.md (+ docs/figures/).

Run it on its own, from the repository root:

    snakemake -s workflows/rules/reproduction.smk --configfile workflows/config/reproduction_quick.yaml \\
        --cores 2 --rerun-triggers mtime reproduce

Switches: `--config smoke=true` runs the grid at smoke size (10 iterations of batch 4, each grid
entry's first seed) under RESULTS/smoke; `--config retrain=true` trains every job again, whatever
is published, under RESULTS/retrain. Neither ever writes over the committed runs or docs/.

And to publish (`--config` takes every word after it up to the next option, so keep the target
`reproduce` before it or after another option):

    snakemake -s workflows/rules/reproduction.smk --configfile workflows/config/reproduction.yaml \\
        --config publish=true --cores 2 --rerun-triggers mtime --keep-going reproduce
"""

from pathlib import Path
import shlex
import sys

from snakemake.utils import validate

from neuromod_data import names
from neuromod_data.config_check import check_files
from neuromod_data.errors import NeuromodError
from neuromod_data.experiments import grid as repro_grid

if "reproduction" not in config:
    print(
        "neuromod workflow: error: no grid: give one with --configfile, e.g. "
        "workflows/config/reproduction_quick.yaml",
        file=sys.stderr,
    )
    sys.exit(1)
# the grid's one check, one line naming the file, line or key: a key given twice in a config file
# (YAML lets the last one win silently), then the schema and the rules joining settings;
# Snakemake's validate then only fills in the schema's defaults (nice, threads, ...)
try:
    check_files(workflow.configfiles)
    REPRO = repro_grid.load(config)
    if config.get("align") is not None:  # align.smk's section, with the same one-line check
        from neuromod_data.config_check import check_config

        check_config(
            {"reproduction": config["reproduction"], "align": config["align"]},
            repro_grid.SCHEMA,
            files=workflow.configfiles,
        )
except NeuromodError as _exc:
    print(f"neuromod workflow: error: {_exc}", file=sys.stderr)
    sys.exit(1)
validate(config, schema="../schemas/reproduction.schema.yaml")
PUBLISH = str(config.get("publish", False)).lower() == "true"
if PUBLISH and REPRO["results"] != config["reproduction"]["results"]:
    print(
        "neuromod workflow: error: publish=true publishes the grid as configured; drop smoke=true "
        "or retrain=true to publish (their runs stay under their own results folder)",
        file=sys.stderr,
    )
    sys.exit(1)
REPRO_R = REPRO["results"].rstrip("/")
REPRO_RUNS = repro_grid.runs_dir(REPRO)
REPRO_RECORDS = f"{repro_grid.local_runs_root(REPRO)}/{REPRO['name']}"
PAGE = "docs/results.md" if PUBLISH else f"{REPRO_R}/results.md"
FIGURES = "docs/figures" if PUBLISH else f"{REPRO_R}/figures"
# the page shows every grid's published runs, and this grid's own records unless publishing
PAGE_RUNS = [str(Path(REPRO_RUNS).parent)] + ([] if PUBLISH else [repro_grid.local_runs_root(REPRO)])
JOB = "{task}/{lrule}/{structure}/seed{seed}"


wildcard_constraints:
    task="|".join(names.TASKS),
    lrule="|".join(names.RULES),
    structure=r"[A-Za-z0-9_.]+(-[a-z-]+)?",
    seed=r"\d+",
    dataset=r"[A-Za-z0-9_.]+",


rule reproduce:
    """Every run of the grid and the results page built from all runs."""
    input:
        repro_grid.targets(REPRO, publish=PUBLISH),
        PAGE,


rule repro_results_page:
    """The results page and its figures from every run (docs/results.md only when publishing)."""
    conda:
        "../envs/neuromod.yaml"
    input:
        repro_grid.targets(REPRO, publish=PUBLISH),
    output:
        PAGE,
    params:
        runs=" ".join(shlex.quote(r) for r in PAGE_RUNS),
        figures=FIGURES,
    log:
        f"{REPRO_R}/logs/results_page.log",
    shell:
        "MPLBACKEND=Agg neuromod results page {params.runs} --out {output:q} "
        "--figures {params.figures:q} > {log:q} 2>&1"


rule repro_toy_data:
    """The embedded synthetic dataset as h5ad."""
    conda:
        "../envs/neuromod.yaml"
    output:
        f"{REPRO_R}/data/{{dataset}}.h5ad",
    params:
        n_cells=lambda wc: int(REPRO["structures"][wc.dataset]["n_cells"]),
        seed=lambda wc: int(REPRO["structures"][wc.dataset]["seed"]),
    log:
        f"{REPRO_R}/logs/data/{{dataset}}.log",
    shell:
        "python workflows/scripts/toy_data.py --n-cells {params.n_cells:q} --seed {params.seed:q} "
        "--out {output:q} > {log:q} 2>&1"


rule repro_structure:
    """Subclass-level CellTypeStructure (types, abundances, E/I, neuropeptide gate) of one dataset."""
    conda:
        "../envs/neuromod.yaml"
    input:
        unpack(lambda wc: repro_grid.structure_inputs(REPRO, wc.dataset)),
    output:
        f"{REPRO_R}/structures/{{dataset}}/structure.npz",
    params:
        # every word shell-quoted by graph_args
        args=lambda wc, input: repro_grid.graph_args(REPRO, wc.dataset, input),
        outdir=lambda wc, output: Path(output[0]).parent,
    log:
        f"{REPRO_R}/logs/structures/{{dataset}}.log",
    benchmark:
        f"{REPRO_R}/benchmarks/structures/{{dataset}}.tsv"
    shell:
        "neuromod graph {input.data:q} {params.args} --out {params.outdir:q} > {log:q} 2>&1"


rule repro_physiology:
    """Intrinsic parameters (Patch-seq electrophysiology) and type-to-type connectivity added to a
    dataset's structure, with their tables and figures (for datasets with a `physiology` section)."""
    conda:
        "../envs/neuromod.yaml"
    input:
        unpack(lambda wc: repro_grid.physiology_inputs(REPRO, wc.dataset)),
    output:
        f"{REPRO_R}/physiology/{{dataset}}/structure.npz",
    params:
        # every word shell-quoted by physiology_args
        args=lambda wc: repro_grid.physiology_args(REPRO, wc.dataset),
        outdir=lambda wc, output: Path(output[0]).parent,
    log:
        f"{REPRO_R}/logs/physiology/{{dataset}}.log",
    benchmark:
        f"{REPRO_R}/benchmarks/physiology/{{dataset}}.tsv"
    shell:
        "neuromod physiology {input.structure:q} {params.args} --out {params.outdir:q} > {log:q} 2>&1"


rule repro_options:
    """Task keyword arguments and network overrides of one task (neuromod train --config)."""
    conda:
        "../envs/neuromod.yaml"
    output:
        f"{REPRO_R}/options/{{task}}.json",
    params:
        options=lambda wc: repro_grid.job_json(repro_grid.task_options(REPRO, wc.task)),
    log:
        f"{REPRO_R}/logs/options/{{task}}.log",
    shell:
        "python workflows/scripts/write_json.py {params.options:q} --out {output:q} > {log:q} 2>&1"


rule repro_train:
    """One training run, recorded (metrics.csv + summary.json) once it has finished."""
    conda:
        "../envs/neuromod.yaml"
    input:
        unpack(lambda wc: repro_grid.train_inputs(REPRO, repro_grid.job_from_wildcards(wc))),
    output:
        metrics=f"{REPRO_RECORDS}/{JOB}/metrics.csv",
        summary=f"{REPRO_RECORDS}/{JOB}/summary.json",
    params:
        # a command line built by shlex.join: every word is quoted already
        command=lambda wc: repro_grid.train_command(REPRO, repro_grid.job_from_wildcards(wc)),
        rundir=lambda wc: repro_grid.job_dir(REPRO, repro_grid.job_from_wildcards(wc)),
        outdir=lambda wc, output: Path(output.metrics).parent,
        job=lambda wc: repro_grid.job_json(repro_grid.job_from_wildcards(wc)),
        nice=int(REPRO.get("nice", 19)),
    threads: int(REPRO.get("threads", 1))
    log:
        f"{REPRO_R}/logs/train/{JOB}.log",
    benchmark:
        f"{REPRO_R}/benchmarks/train/{JOB}.tsv"
    shell:
        "neuromod results mark-start {params.rundir:q} > {log:q} 2>&1 && "
        "NEUROMOD_THREADS={threads} OMP_NUM_THREADS={threads} nice -n {params.nice} {params.command} "
        ">> {log:q} 2>&1 && "
        "neuromod results record --run-dir {params.rundir:q} --out-dir {params.outdir:q} "
        "--command {params.command:q} --job {params.job:q} >> {log:q} 2>&1"


rule repro_publish:
    """Copy a finished run's record into the committed folder (only asked for with publish=true)."""
    conda:
        "../envs/neuromod.yaml"
    input:
        unpack(lambda wc: repro_grid.publish_inputs(REPRO, repro_grid.job_from_wildcards(wc))),
    output:
        metrics=f"{REPRO_RUNS}/{JOB}/metrics.csv",
        summary=f"{REPRO_RUNS}/{JOB}/summary.json",
    params:
        record=lambda wc: repro_grid.record_dir(REPRO, repro_grid.job_from_wildcards(wc)),
        outdir=lambda wc, output: Path(output.metrics).parent,
    log:
        f"{REPRO_R}/logs/publish/{JOB}.log",
    shell:
        "neuromod results publish {params.record:q} {params.outdir:q} > {log:q} 2>&1"
