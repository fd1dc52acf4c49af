"""Fetch or locate the data, then describe what was read."""


rule toy_data:
    """Write the embedded synthetic dataset (toy_cortex) as an h5ad file."""
    conda:
        "../envs/neuromod.yaml"
    output:
        f"{R}/data/{DATASET['name']}.h5ad",
    params:
        n_cells=DATASET["toy"]["n_cells"],
        seed=DATASET["toy"]["seed"],
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
        name=DATASET["fetch"]["name"],
        region=DATASET["fetch"]["region"],
        extra=DATASET["fetch"]["extra_args"],
    log:
        f"{R}/logs/fetch_data.log",
    benchmark:
        f"{R}/benchmarks/fetch_data.tsv"
    shell:
        "neuromod fetch {params.name} --region {params.region:q} {params.extra} "
        "--out {output:q} > {log:q} 2>&1"


if DATASET["source"] == "toy":
    ruleorder: toy_data > fetch_data
else:
    ruleorder: fetch_data > toy_data


rule info:
    """What was read: cells, genes, label columns and their sizes."""
    conda:
        "../envs/neuromod.yaml"
    input:
        **data_inputs(),
    output:
        f"{R}/info/dataset.txt",
    params:
        read=read_args(),
    log:
        f"{R}/logs/info.log",
    benchmark:
        f"{R}/benchmarks/info.tsv"
    shell:
        "neuromod info {input.data:q} {params.read} > {output:q} 2> {log:q}"
