"""Per-type expression of the modulator genes at every label level."""


rule aggregate:
    """Types × genes table of one statistic (first column the type label)."""
    conda:
        "../envs/neuromod.yaml"
    input:
        data=data_file(),
    output:
        f"{R}/aggregate/{{level}}.{{stat}}.csv",
    params:
        groupby=lambda wc: q(LEVELS[wc.level]),
        genes=lambda wc: aggregate_genes(),
        min_cells=q(config["aggregate"]["min_cells"]),
        backed="--backed" if config["aggregate"]["backed"] else "",
    log:
        f"{R}/logs/aggregate/{{level}}.{{stat}}.log",
    benchmark:
        f"{R}/benchmarks/aggregate/{{level}}.{{stat}}.tsv"
    shell:
        "neuromod aggregate {input.data:q} --groupby {params.groupby} "
        "--stat {wildcards.stat} {params.genes} --min-cells {params.min_cells} {params.backed} "
        "--out {output:q} > {log:q} 2>&1"
