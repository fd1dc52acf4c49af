"""Score ligand → receptor coupling between types; write the graph and the CellTypeStructure."""


rule graph:
    """Long interaction table, GraphML, CellTypeStructure and figures of one label level."""
    conda:
        "../envs/neuromod.yaml"
    input:
        data=data_file(),
    output:
        interactions=f"{R}/graph/{{level}}/interactions.csv",
        graphml=f"{R}/graph/{{level}}/graph.graphml",
        structure=f"{R}/graph/{{level}}/structure.npz",
    params:
        groupby=lambda wc: q(LEVELS[wc.level]),
        outdir=lambda wc: q(f"{R}/graph/{wc.level}"),
        resource=q(config["graph"]["resource"]),
        method=q(config["graph"]["method"]),
        # the permutation options exist for the cellphonedb method only (graph refuses them otherwise)
        perms=(
            f"--n-perms {q(config['graph']['n_perms'])} --seed {q(config['graph']['seed'])}"
            if config["graph"]["method"] == "cellphonedb"
            else ""
        ),
        extra=q_args(config["graph"]["extra_args"]),
    log:
        f"{R}/logs/graph/{{level}}.log",
    benchmark:
        f"{R}/benchmarks/graph/{{level}}.tsv"
    shell:
        "neuromod graph {input.data:q} --groupby {params.groupby} "
        "--resource {params.resource} --method {params.method} {params.perms} "
        "{params.extra} --out {params.outdir} > {log:q} 2>&1"


rule physiology:
    """Intrinsic parameters from electrophysiology and type-to-type connectivity added to a level's
    structure, with tables and figures (only with a `physiology` section in the config)."""
    conda:
        "../envs/neuromod.yaml"
    input:
        structure=f"{R}/graph/{{level}}/structure.npz",
        tables=physiology_tables(),
    output:
        f"{R}/physiology/{{level}}/structure.npz",
    params:
        outdir=lambda wc: q(f"{R}/physiology/{wc.level}"),
        args=lambda wc: physiology_args(wc.level),
    log:
        f"{R}/logs/physiology/{{level}}.log",
    benchmark:
        f"{R}/benchmarks/physiology/{{level}}.tsv"
    shell:
        "neuromod physiology {input.structure:q} {params.args} --out {params.outdir} > {log:q} 2>&1"
