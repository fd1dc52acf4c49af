"""Train the spiking networks: a grid over label levels, learning rules (MDGL × gates) and seeds."""

import json


rule train_options:
    """Task / network / optimiser settings shared by every run (passed as `neuromod train --config`)."""
    conda:
        "../envs/neuromod.yaml"
    output:
        f"{R}/train/options.json",
    params:
        options=json.dumps(TRAIN["options"], sort_keys=True),
    log:
        f"{R}/logs/train_options.log",
    benchmark:
        f"{R}/benchmarks/train_options.tsv"
    shell:
        "python workflows/scripts/write_json.py {params.options:q} --out {output:q} > {log:q} 2>&1"


rule train:
    """One network trained with one rule and seed; resumes from its checkpoint when re-run.

    The declared output is metrics.json, which `neuromod train` writes only when training has
    finished: checkpoint.pt and metrics.csv are rewritten at every checkpoint, so they would make a
    half-trained run look finished. `neuromod train` itself decides whether the checkpoint in the
    folder can be continued (same settings; more iterations continue) and refuses otherwise,
    naming the setting that changed (see workflows/README.md, "Changing settings").
    """
    conda:
        "../envs/neuromod.yaml"
    input:
        structure=lambda wc: structure_file(wc.level),
        options=f"{R}/train/options.json",
    output:
        f"{R}/train/{{level}}/{{variant}}/seed{{seed}}/metrics.json",
    params:
        outdir=lambda wc, output: q(Path(output[0]).parent),
        task=q(TRAIN["task"]),
        rule=lambda wc: q(wc.variant.split("-")[0]),
        gate=lambda wc: f"--gate {q(wc.variant.split('-', 1)[1])}" if "-" in wc.variant else "",
        iterations=q(TRAIN["iterations"]),
        batch_size=q(TRAIN["batch_size"]),
        device=q(TRAIN["device"]),
        extra=q_args(TRAIN["extra_args"]),
        heterogeneity="" if TRAIN.get("heterogeneity", True) else "--no-heterogeneity",
    threads: TRAIN["threads"]
    resources:
        gpu=TRAIN["gpus"],
    log:
        f"{R}/logs/train/{{level}}/{{variant}}/seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{level}}/{{variant}}/seed{{seed}}.tsv"
    shell:
        # device "auto" is decided on the machine that runs the job (a cluster's GPU node)
        "device={params.device}; "
        'if [ "$device" = auto ]; then device=$(python -c '
        "'import torch; print(\"cuda\" if torch.cuda.is_available() else \"cpu\")'); fi; "
        "NEUROMOD_THREADS={threads} OMP_NUM_THREADS={threads} neuromod train --task {params.task} "
        "--rule {params.rule} {params.gate} "
        "--structure {input.structure:q} --iterations {params.iterations} "
        "--batch-size {params.batch_size} --seed {wildcards.seed} --device $device "
        "--no-progress --config {input.options:q} {params.heterogeneity} {params.extra} "
        "--out {params.outdir} > {log:q} 2>&1"
