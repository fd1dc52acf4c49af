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
    """One network trained with one rule and seed; resumes from its checkpoint when re-run."""
    conda:
        "../envs/neuromod.yaml"
    input:
        structure=f"{R}/graph/{{level}}/structure.npz",
        options=f"{R}/train/options.json",
    output:
        f"{R}/train/{{level}}/{{variant}}/seed{{seed}}/metrics.csv",
    params:
        outdir=lambda wc, output: q(Path(output[0]).parent),
        task=TRAIN["task"],
        rule=lambda wc: wc.variant.split("-")[0],
        gate=lambda wc: f"--gate {wc.variant.split('-', 1)[1]}" if "-" in wc.variant else "",
        iterations=TRAIN["iterations"],
        batch_size=TRAIN["batch_size"],
        device=TRAIN["device"],
        extra=TRAIN["extra_args"],
    threads: TRAIN["threads"]
    resources:
        gpu=TRAIN["gpus"],
    log:
        f"{R}/logs/train/{{level}}/{{variant}}/seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{level}}/{{variant}}/seed{{seed}}.tsv"
    shell:
        # A checkpoint is resumed only if it was trained with the same structure, options and flags
        # (more iterations resume; anything else starts the run afresh instead of failing).
        'fp="$(cat {input.structure:q} {input.options:q} | sha256sum | cut -c1-32) '
        '{params.task} {params.rule} {params.gate} {params.batch_size} {params.extra}"; '
        "mkdir -p {params.outdir}; "
        'if [ "$(cat {params.outdir}/.settings 2>/dev/null)" != "$fp" ]; then '
        "rm -f {params.outdir}/checkpoint.pt; fi; "
        'printf "%s\\n" "$fp" > {params.outdir}/.settings; '
        "device={params.device}; "
        'if [ "$device" = auto ]; then device=$(python -c '
        "'import torch; print(\"cuda\" if torch.cuda.is_available() else \"cpu\")'); fi; "
        "OMP_NUM_THREADS={threads} neuromod train --task {params.task} --rule {params.rule} {params.gate} "
        "--structure {input.structure:q} --iterations {params.iterations} "
        "--batch-size {params.batch_size} --seed {wildcards.seed} --device $device "
        "--no-progress --config {input.options:q} {params.extra} --out {params.outdir} > {log:q} 2>&1"
