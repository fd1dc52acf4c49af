"""Gradient alignment of the grid's structures (`neuromod align`; docs/design.md, "Gradient
alignment"): for each structure, the cosine of every gate's MDGL gradient with BPTT's, against the
data gate's label-permutation null, on reference networks trained with MDGL and the `ones` gate.

This file includes the reproduction workflow for its structure rules, so it runs on its own with a
reproduction config, from the repository root:

    snakemake -s workflows/rules/align.smk --configfile workflows/config/reproduction.yaml \\
        --cores 2 align

Settings: an optional `align:` mapping in the config file (defaults below); `structures` are
dataset names of `reproduction.structures`, `tasks` (or one `task`) names of
`reproduction.tasks`, whose protocol and network settings the reference training and the scored
networks take. Outputs: RESULTS/align/<dataset>/<task>/alignment.csv, summary.csv, alignment.png,
config.json (RESULTS: the config's `reproduction.results`).
"""

import shlex
from pathlib import Path


include: "reproduction.smk"



#: defaults of the `align:` section (the options of `neuromod align`)
ALIGN = {
    "structures": ["toy_cortex", "m1_tissue"],
    "task": "evidence_accumulation",
    "tasks": None,  # several tasks: scored one after the other, each in a folder of its own
    "seeds": 20,
    "first_seed": 0,
    "batches": 5,
    "checkpoints": [0, 250, 500, 1000],
    "batch_size": 64,
    "variant": "local",
    "permutations": 999,
    "grid_draws": 99,
    **(config.get("align") or {}),
}
ALIGN_TASKS = list(ALIGN["tasks"] or [ALIGN["task"]])


def align_args(dataset, task):
    """The options of `neuromod align` (each word shell-quoted); the reference training takes the
    task's protocol of the reproduction config (lr, l1, rate regulariser, task options, network)."""
    a = ALIGN
    protocol = REPRO["tasks"].get(task, {})
    words = [
        "--task", task, "--seeds", a["seeds"], "--first-seed", a["first_seed"],
        "--batches", a["batches"], "--checkpoints", ",".join(map(str, a["checkpoints"])),
        "--batch-size", a["batch_size"], "--variant", a["variant"],
        "--permutations", a["permutations"], "--grid-draws", a["grid_draws"],
    ]  # fmt: skip
    for key in ("lr", "l1", "rate_reg", "rate_target_hz"):
        if protocol.get(key) is not None:
            words += ["--" + key.replace("_", "-"), protocol[key]]
    for key, value in (protocol.get("task_options") or {}).items():
        words += ["--task-option", f"{key}={value}"]
    for key, value in (protocol.get("network") or {}).items():
        words += ["--network", f"{key}={value}"]
    return " ".join(shlex.quote(str(w)) for w in words)


rule align:
    """The gradient alignment of every structure of the `align:` section."""
    input:
        expand(
            f"{REPRO_R}/align/{{dataset}}/{{task}}/summary.csv",
            dataset=ALIGN["structures"],
            task=ALIGN_TASKS,
        ),


rule align_structure:
    """One structure: reference training per seed, then every arm scored at every checkpoint."""
    conda:
        "../envs/neuromod.yaml"
    input:
        structure=lambda wc: repro_grid.structure_file(REPRO, wc.dataset),
    output:
        table=f"{REPRO_R}/align/{{dataset}}/{{task}}/alignment.csv",
        summary=f"{REPRO_R}/align/{{dataset}}/{{task}}/summary.csv",
        figure=f"{REPRO_R}/align/{{dataset}}/{{task}}/alignment.png",
    params:
        args=lambda wc: align_args(wc.dataset, wc.task),
        outdir=lambda wc, output: Path(output.summary).parent,
        nice=int(REPRO.get("nice", 19)),
    threads: 1
    log:
        f"{REPRO_R}/logs/align/{{dataset}}/{{task}}.log",
    benchmark:
        f"{REPRO_R}/benchmarks/align/{{dataset}}/{{task}}.tsv"
    shell:
        "NEUROMOD_THREADS={threads} OMP_NUM_THREADS={threads} nice -n {params.nice} "
        "neuromod align --structure {input.structure:q} {params.args} --out {params.outdir:q} "
        "> {log:q} 2>&1"
