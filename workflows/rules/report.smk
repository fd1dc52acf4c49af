"""Evaluate the training runs and write one self-contained HTML report."""


rule evaluate:
    """Final validation loss / accuracy per run and mean ± SD over seeds."""
    conda:
        "../envs/neuromod.yaml"
    input:
        train_targets(),
    output:
        f"{R}/evaluate/summary.csv",
    params:
        # the results folder is two levels above the summary
        results=lambda wc, output: q(Path(output[0]).parent.parent),
    log:
        f"{R}/logs/evaluate.log",
    benchmark:
        f"{R}/benchmarks/evaluate.tsv"
    shell:
        "neuromod report --results {params.results} --summary {output:q} > {log:q} 2>&1"


rule config_snapshot:
    """The effective configuration (defaults filled in), for the report's provenance."""
    conda:
        "../envs/neuromod.yaml"
    output:
        f"{R}/config.json",
    params:
        config=json.dumps(config, sort_keys=True, default=str),
    log:
        f"{R}/logs/config_snapshot.log",
    benchmark:
        f"{R}/benchmarks/config_snapshot.tsv"
    shell:
        "python workflows/scripts/write_json.py {params.config:q} --out {output:q} > {log:q} 2>&1"


rule report:
    """Heatmaps, modulation graph, learning curves, results table and provenance in one HTML file."""
    conda:
        "../envs/neuromod.yaml"
    input:
        data=source_files(),
        info=f"{R}/info/dataset.txt",
        aggregate=aggregate_targets(),
        graph=graph_targets(),
        physiology=physiology_targets(),
        summary=f"{R}/evaluate/summary.csv",
        config=f"{R}/config.json",
    output:
        f"{R}/report.html",
    params:
        results=lambda wc, output: q(Path(output[0]).parent),
        title=q(config["report"]["title"]),
        data=lambda wc, input: " ".join(q(f) for f in input.data),
    log:
        f"{R}/logs/report.log",
    benchmark:
        f"{R}/benchmarks/report.tsv"
    shell:
        "neuromod report --results {params.results} --data {params.data} --config {input.config:q} "
        "--title {params.title} --out {output:q} > {log:q} 2>&1"
