"""Score ligand → receptor coupling between types, build the graph, derive the structures."""


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
        method=config["graph"]["method"],
        n_perms=config["graph"]["n_perms"],
        seed=config["graph"]["seed"],
        extra=config["graph"]["extra_args"],
    log:
        f"{R}/logs/graph/{{level}}.log",
    benchmark:
        f"{R}/benchmarks/graph/{{level}}.tsv"
    shell:
        "neuromod graph {input.data:q} --groupby {params.groupby} "
        "--resource {params.resource} --method {params.method} --n-perms {params.n_perms} "
        "--seed {params.seed} {params.extra} --out {params.outdir} > {log:q} 2>&1"


rule structure:
    """The structure a network trains with: the data graph's, or a control derived from it."""
    conda:
        "../envs/neuromod.yaml"
    input:
        f"{R}/graph/{{level}}/structure.npz",
    output:
        f"{R}/structure/{{level}}/{{structure}}.npz",
    params:
        seed=config["graph"]["seed"],
    log:
        f"{R}/logs/structure/{{level}}.{{structure}}.log",
    benchmark:
        f"{R}/benchmarks/structure/{{level}}.{{structure}}.tsv"
    shell:
        "python workflows/scripts/control_structure.py {input:q} --kind {wildcards.structure} "
        "--seed {params.seed} --out {output:q} > {log:q} 2>&1"
