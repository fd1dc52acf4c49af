"""Fetch or locate the data, then describe what was read."""

import json


rule toy_data:
    """Write the embedded synthetic dataset (toy_cortex) as an h5ad file."""
    conda:
        "../envs/neuromod.yaml"
    output:
        f"{R}/data/{DATASET['name']}.h5ad",
    params:
        n_cells=q(DATASET["toy"]["n_cells"]),
        seed=q(DATASET["toy"]["seed"]),
    log:
        f"{R}/logs/toy_data.log",
    benchmark:
        f"{R}/benchmarks/toy_data.tsv"
    shell:
        "python workflows/scripts/toy_data.py --n-cells {params.n_cells} --seed {params.seed} "
        "--out {output:q} > {log:q} 2>&1"


rule fetch_data:
    """Download a public dataset (needs internet) and store it as h5ad."""
    conda:
        "../envs/neuromod.yaml"
    output:
        f"{R}/data/{DATASET['name']}.h5ad",
    params:
        # every value reaching the shell is quoted (the schema also restricts the names)
        name=q(DATASET["fetch"]["name"]),
        region=q(DATASET["fetch"]["region"]),
        extra=q_args(DATASET["fetch"]["extra_args"]),
    log:
        f"{R}/logs/fetch_data.log",
    benchmark:
        f"{R}/benchmarks/fetch_data.tsv"
    shell:
        "neuromod fetch {params.name} --region {params.region} --quiet {params.extra} "
        "--out {output:q} > {log:q} 2>&1"


rule read_data:
    """Read a local file in any supported format (plus its metadata) once and store it as h5ad."""
    conda:
        "../envs/neuromod.yaml"
    input:
        **raw_inputs() if DATASET["source"] == "local" else {},
    output:
        f"{R}/data/{DATASET['name']}.h5ad",
    params:
        metadata=lambda wc, input: f"--metadata {q(input.metadata)}" if "metadata" in input.keys() else "",
        options=json.dumps(DATASET["read_options"], sort_keys=True),
    log:
        f"{R}/logs/read_data.log",
    benchmark:
        f"{R}/benchmarks/read_data.tsv"
    shell:
        "python workflows/scripts/read_data.py {input.data:q} {params.metadata} "
        "--options {params.options:q} --out {output:q} > {log:q} 2>&1"


if DATASET["source"] == "toy":
    ruleorder: toy_data > fetch_data > read_data
elif DATASET["source"] == "fetch":
    ruleorder: fetch_data > toy_data > read_data
else:
    ruleorder: read_data > toy_data > fetch_data


rule info:
    """What was read: cells, genes, label columns and their sizes."""
    conda:
        "../envs/neuromod.yaml"
    input:
        data=data_file(),
    output:
        f"{R}/info/dataset.txt",
    params:
        backed="--backed" if config["aggregate"]["backed"] else "",
    log:
        f"{R}/logs/info.log",
    benchmark:
        f"{R}/benchmarks/info.tsv"
    shell:
        "neuromod info {input.data:q} {params.backed} > {output:q} 2> {log:q}"
