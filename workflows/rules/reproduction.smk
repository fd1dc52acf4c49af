"""Reproduction of Liu et al. 2021 (Fig. 3C) and the data-derived modulation question (issue 6).

Each (task, rule, structure, seed) is one job: `neuromod train` into the ignored results folder
(checkpoints there, so an interrupted job resumes), then metrics.csv + summary.json are copied into
the tracked folder experiments/runs/<name>/<task>/<rule>/<structure>/seed<k>/. A job whose tracked
files exist has no inputs, so it is never rerun and nothing upstream of it is rebuilt.

Standalone (from the repository root):

    snakemake -s workflows/rules/reproduction.smk --configfile workflows/config/reproduction_quick.yaml \\
        --cores 2 --rerun-triggers mtime reproduce

Included in workflows/Snakefile (whose config schema has no `reproduction` key) the grid comes from
$NEUROMOD_REPRODUCTION_CONFIG, default workflows/config/reproduction.yaml.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path("experiments").resolve()))
import grid as repro_grid  # noqa: E402  (experiments/grid.py)

REPRO = repro_grid.load(config)
REPRO_R = REPRO["results"].rstrip("/")
REPRO_RUNS = repro_grid.runs_dir(REPRO)


rule reproduce:
    """Every run of the grid, kept in experiments/runs/, and the results page built from all runs."""
    input:
        repro_grid.targets(REPRO),
        "docs/results.md",


rule repro_results_page:
    """docs/results.md and docs/figures/ from every run kept in experiments/runs/."""
    conda:
        "../envs/neuromod.yaml"
    input:
        repro_grid.targets(REPRO),
    output:
        "docs/results.md",
    log:
        f"{REPRO_R}/logs/results_page.log",
    shell:
        "MPLBACKEND=Agg python experiments/summarise.py --runs experiments/runs "
        "--out {output:q} --figures docs/figures > {log:q} 2>&1"


rule repro_toy_data:
    """The embedded synthetic dataset as h5ad."""
    conda:
        "../envs/neuromod.yaml"
    output:
        f"{REPRO_R}/data/{{dataset}}.h5ad",
    params:
        n_cells=lambda wc: REPRO["structures"][wc.dataset]["n_cells"],
        seed=lambda wc: REPRO["structures"][wc.dataset]["seed"],
    log:
        f"{REPRO_R}/logs/data/{{dataset}}.log",
    shell:
        "python workflows/scripts/toy_data.py --n-cells {params.n_cells} --seed {params.seed} "
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
        args=lambda wc, input: repro_grid.graph_args(REPRO, wc.dataset, input),
        outdir=lambda wc, output: Path(output[0]).parent,
    log:
        f"{REPRO_R}/logs/structures/{{dataset}}.log",
    shell:
        "neuromod graph {input.data:q} {params.args} --out {params.outdir:q} > {log:q} 2>&1"


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
    """One training run; its metrics are copied into experiments/runs/ as soon as it finishes."""
    conda:
        "../envs/neuromod.yaml"
    input:
        unpack(lambda wc: repro_grid.train_inputs(REPRO, repro_grid.job_from_wildcards(wc))),
    output:
        metrics=f"{REPRO_RUNS}/{{task}}/{{lrule}}/{{structure}}/seed{{seed}}/metrics.csv",
        summary=f"{REPRO_RUNS}/{{task}}/{{lrule}}/{{structure}}/seed{{seed}}/summary.json",
    wildcard_constraints:
        task="|".join(repro_grid.TASKS),
        lrule="|".join(repro_grid.RULES),
        structure=r"[A-Za-z0-9_.]+(-[a-z-]+)?",
        seed=r"\d+",
    params:
        command=lambda wc: repro_grid.train_command(REPRO, repro_grid.job_from_wildcards(wc)),
        rundir=lambda wc: repro_grid.job_dir(REPRO, repro_grid.job_from_wildcards(wc), tracked=False),
        outdir=lambda wc, output: Path(output.metrics).parent,
        job=lambda wc: repro_grid.job_json(repro_grid.job_from_wildcards(wc)),
        nice=REPRO.get("nice", 19),
    threads: REPRO.get("threads", 1)
    log:
        f"{REPRO_R}/logs/train/{{task}}/{{lrule}}/{{structure}}/seed{{seed}}.log",
    benchmark:
        f"{REPRO_R}/benchmarks/train/{{task}}/{{lrule}}/{{structure}}/seed{{seed}}.tsv"
    shell:
        # the commit (and uncommitted model files) the job starts from goes into summary.json
        "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown); "
        "dirty=$(git status --porcelain -- models neuromod_data 2>/dev/null | wc -l); "
        "OMP_NUM_THREADS={threads} nice -n {params.nice} {params.command} > {log:q} 2>&1 && "
        "python experiments/record_run.py --run-dir {params.rundir:q} --out-dir {params.outdir:q} "
        "--command {params.command:q} --job {params.job:q} --commit $commit --dirty $dirty "
        ">> {log:q} 2>&1"
