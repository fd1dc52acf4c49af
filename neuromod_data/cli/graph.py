"""``neuromod graph``: score ligand → receptor coupling between types and write the modulation graph.

Writes into ``--out``: ``interactions.csv`` (the long table), ``graph.graphml``, ``structure.npz``
(:class:`~neuromod_data.structure.CellTypeStructure`), ``scores.h5ad`` (the aggregate holding the table),
``summary.json`` and the figures ``type_heatmap.png``, ``pair_heatmap.png``, ``graph.png``,
``dotplot.png``. The files are written into a fresh hidden folder beside ``--out`` that replaces
``--out`` only once complete, so the folder always holds the files of one run: an interrupted rerun
leaves the previous results as they were, and a rerun with ``--no-figures`` drops the old figures.
``--out`` must be new, empty, or the folder of an earlier ``neuromod graph`` run.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from neuromod_data.cli._args import int_at_least, n_workers, number_in, show_warnings
from neuromod_data.errors import NeuromodWarning

#: every file a run can write (anything else in ``--out`` is refused rather than deleted)
OUTPUTS = (
    "interactions.csv",
    "graph.graphml",
    "structure.npz",
    "scores.h5ad",
    "summary.json",
    "type_heatmap.png",
    "pair_heatmap.png",
    "graph.png",
    "dotplot.png",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "graph",
        help="score ligand → receptor coupling between cell types; write table, GraphML, structure, figures",
        description=(
            "Read a single-cell table (any format `neuromod info` reads, or an h5ad), score every "
            "(sender type, receiver type, ligand–receptor pair) and write the long table, the modulation "
            "graph (GraphML), the CellTypeStructure (.npz) and figures."
        ),
    )
    p.add_argument("input", help="cells × genes file (h5ad, csv/tsv(.gz), 10x, Allen export, ...)")
    p.add_argument("--metadata", help="per-cell metadata table joined on the cell names")
    p.add_argument(
        "--groupby", required=True, help="label column defining the types, e.g. subclass_label"
    )
    p.add_argument(
        "--resource",
        default="neuropeptides",
        help="neuropeptides | neuromodulators | neuronchat:PATH | liana:PATH[:NAME] | cellchat:PATH",
    )
    p.add_argument("--method", default="product", choices=("product", "smith2019", "cellphonedb"))
    p.add_argument(
        "--stat",
        choices=("mean", "median", "trimmed_mean", "frac_expressing"),
        help="per-type statistic (default: mean; smith2019: trimmed_mean)",
    )
    p.add_argument(
        "--n-perms",
        type=int_at_least(0),
        help="cellphonedb permutations (default 1000; 0: scores without p-values)",
    )
    p.add_argument("--seed", type=int_at_least(0), help="cellphonedb permutation seed (default 0)")
    p.add_argument(
        "--n-jobs",
        type=n_workers,
        help="cellphonedb: threads for the permutations (default 1; -1: all cores)",
    )
    p.add_argument(
        "--expr-prop",
        type=number_in(0, 1, hint="a fraction"),
        default=0.1,
        help="cellphonedb: fraction of a type's cells that must express ligand / receptor",
    )
    p.add_argument(
        "--min-cells", type=int_at_least(1), default=1, help="leave out types with fewer cells"
    )
    p.add_argument("--complex-policy", default="min", choices=("min", "gmean"))
    p.add_argument(
        "--pvalue",
        type=number_in(0, 1, lo_open=True, hint="a p-value"),
        help="edge threshold on p-values (cellphonedb with --n-perms >= 1; default 0.05)",
    )
    p.add_argument(
        "--quantile",
        type=number_in(0, 1, hint="a fraction (0.9 = 90th percentile)"),
        help="keep edges with score ≥ this quantile (e.g. 0.9)",
    )
    p.add_argument("--top-k", type=int_at_least(1), help="keep the k strongest edges")
    p.add_argument(
        "--abundances",
        metavar="TABLE",
        help="type abundances from this taxonomy table's cell counts (e.g. Allen "
        "cluster.annotation.csv) instead of the cells sampled in the data",
    )
    p.add_argument("--abundance-key", default="cluster_label", help="label column of TABLE")
    p.add_argument("--abundance-count", default="cluster_size", help="cell-count column of TABLE")
    p.add_argument(
        "--abundance-via",
        metavar="COLUMN",
        help="finer obs labels that TABLE counts (e.g. 'RNA type'), summed per --groupby type",
    )
    p.add_argument(
        "--abundance-expand",
        choices=("subclass", "none"),
        help="with --abundance-via: subclass = every cluster of TABLE in the subclasses of a "
        "type's sampled clusters counts (default); none = the sampled clusters only "
        "(docs/design.md, 'Networks from data')",
    )
    p.add_argument(
        "--abundance-subclass",
        default="subclass_label",
        metavar="COLUMN",
        help="subclass column of TABLE (default subclass_label)",
    )
    p.add_argument(
        "--abundance-extra-cells",
        metavar="CELLS",
        help="more labelled cells (a table with the --groupby and --abundance-via columns, e.g. "
        "a larger Patch-seq metadata file) whose clusters also decide a type's subclasses",
    )
    p.add_argument(
        "--abundance-shared",
        choices=("error", "split"),
        default="error",
        help="a subclass sampled under several types: stop (default) or split its unsampled "
        "clusters between them by their sampled counts",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument(
        "--out",
        required=True,
        help="output folder (new, empty, or an earlier graph run's, which is replaced)",
    )
    p.set_defaults(func=run)


def _read(path: str, metadata: str | None):
    try:
        from neuromod_data.io import read
    except ImportError:  # readers not installed: h5ad only
        read = None
    if read is not None:  # no progress bars in logs and pipes
        return read(path, metadata=metadata, progress=sys.stderr.isatty())
    import anndata as ad

    from neuromod_data._files import require_file
    from neuromod_data.errors import FormatError

    p = require_file(path)
    if metadata is not None or not p.name.endswith(".h5ad"):
        raise FormatError(f"{p}: only .h5ad input is supported without neuromod_data.io")
    return ad.read_h5ad(p)


def _resource_file(spec: str) -> str | None:
    """The file a ``--resource`` spec reads (``liana:PATH:NAME`` → ``PATH``), if any."""
    if ":" not in spec:
        return None
    return spec.split(":", 2)[1] or None


def check_args(args: argparse.Namespace) -> None:
    """Refuse contradicting options and unsafe outputs before any data is read."""
    from neuromod_data._files import check_output
    from neuromod_data.cli._args import hold_output
    from neuromod_data.errors import OutputError, UsageError

    if args.method != "cellphonedb":
        # permutations belong to the cellphonedb test; another method would silently ignore them
        given = [
            f"--{o.replace('_', '-')}" for o in ("seed", "n_jobs") if getattr(args, o) is not None
        ]
        if args.n_perms:
            given.insert(0, "--n-perms")
        if given:
            raise UsageError(
                f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} to "
                f"--method cellphonedb only (got --method {args.method})"
            )
    args.n_perms = 1000 if args.n_perms is None else args.n_perms
    args.seed = 0 if args.seed is None else args.seed
    args.n_jobs = 1 if args.n_jobs is None else args.n_jobs
    if args.abundance_via and not args.abundances:
        raise UsageError("--abundance-via needs --abundances TABLE (the counts it looks up)")
    if args.abundance_expand == "subclass" and not args.abundance_via:
        raise UsageError(
            "--abundance-expand subclass needs --abundance-via COLUMN (the clusters it expands)"
        )
    if args.abundance_expand is None:  # the tissue's counts wherever the clusters are known
        args.abundance_expand = "subclass" if args.abundance_via else "none"
    if args.abundance_extra_cells and args.abundance_expand != "subclass":
        raise UsageError(
            "--abundance-extra-cells widens the subclasses of --abundance-expand subclass"
        )
    if args.pvalue is not None and (args.method != "cellphonedb" or args.n_perms == 0):
        raise UsageError(
            "--pvalue needs p-values, which only --method cellphonedb with --n-perms >= 1 computes"
            + (f" (got --n-perms {args.n_perms})" if args.method == "cellphonedb" else "")
        )
    if args.method != "cellphonedb" and args.expr_prop != 0.1:
        raise UsageError("--expr-prop applies to --method cellphonedb only")
    inputs = [args.input, args.metadata, args.abundances, args.abundance_extra_cells]
    inputs.append(_resource_file(args.resource))
    out = check_output(args.out, inputs, kind="dir")
    if out.is_dir():
        foreign = [
            e.name
            for e in out.iterdir()
            if e.name not in OUTPUTS
            and not any(e.name.startswith(f".{n}.") for n in OUTPUTS)
            and e.name != ".snakemake_timestamp"
        ]
        if foreign:
            shown = ", ".join(sorted(foreign)[:3]) + (" ..." if len(foreign) > 3 else "")
            raise OutputError(
                f"--out {out} holds files `neuromod graph` does not write ({shown}); a rerun "
                "replaces the whole folder, so give a new or empty folder"
            )
    hold_output(args, out)  # a second writer of OUT is refused, not mixed in


def run(args: argparse.Namespace) -> int:
    from neuromod_data._files import atomic_dir, atomic_path
    from neuromod_data.graph import (
        graph_from_scores,
        graph_summary,
        to_structure,
        write_graphml,
        write_scores,
    )
    from neuromod_data.score import score_interactions

    check_args(args)
    out = Path(args.out)
    adata = _read(args.input, args.metadata)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        perm = {}  # the permutation test's options apply to cellphonedb only
        if args.method == "cellphonedb":
            perm = dict(
                expr_prop=args.expr_prop, n_perms=args.n_perms, seed=args.seed, n_jobs=args.n_jobs
            )
        agg = score_interactions(
            adata,
            args.groupby,
            resource=args.resource,
            method=args.method,
            stat=args.stat,
            complex_policy=args.complex_policy,
            min_cells=args.min_cells,
            inplace=False,
            **perm,
        )
        table = agg.uns["neuromod_interactions"]
        pvalue = args.pvalue if args.pvalue is not None else 0.05
        thresholds = {"pvalue": pvalue, "quantile": args.quantile, "top_k": args.top_k}
        g = graph_from_scores(agg, **thresholds)
        g.graph["input"] = str(args.input)
        structure = to_structure(g, meta={"input": str(args.input)})
        if args.abundances:
            from neuromod_data.abundances import tissue_clusters

            expand = None if args.abundance_expand == "none" else args.abundance_expand
            rows = tissue_clusters(
                adata,
                args.abundances,
                groupby=args.groupby,
                label_column=args.abundance_key,
                count_column=args.abundance_count,
                via=args.abundance_via,
                types=structure.names,
                expand=expand,
                subclass_column=args.abundance_subclass,
                extra_cells=args.abundance_extra_cells,
                shared=args.abundance_shared,
            )
            source = f"{args.abundances}: {args.abundance_count} by {args.abundance_key}"
            if args.abundance_via:
                source += f" via {args.abundance_via!r}"
            if expand:
                source += f", every cluster of the sampled {args.abundance_subclass!r}"
                if args.abundance_extra_cells:
                    source += f" (and of {args.abundance_extra_cells}'s clusters)"
            structure = structure.with_abundances(
                rows.groupby("type")["n_cells"].sum().to_dict(),
                source=source,
                clusters={t: dict(zip(g["label"], g["n_cells"])) for t, g in rows.groupby("type")},
            )
    show_warnings(caught, "graph")
    kept = [w for w in caught if issubclass(w.category, NeuromodWarning)]

    summ = graph_summary(g)
    params = dict(agg.uns["neuromod_interactions_params"])
    record = {
        "input": str(args.input),
        "params": {
            k: (list(v) if not isinstance(v, str | int | float | bool) else v)
            for k, v in params.items()
        },
        "thresholds": thresholds,
        "n_types": summ["n_types"],
        "n_edges": summ["n_edges"],
        "density": summ["density"],
        "edge_density": summ["edge_density"],
        "per_family": summ["per_family"],
        "structure": repr(structure),
        "abundances": dict(zip(structure.names, structure.abundances.round(6).tolist())),
        "abundances_source": structure.meta.get("abundances_source", "cells in the data"),
        "warnings": [str(w.message) for w in kept],
    }
    with atomic_dir(out) as stage:
        with atomic_path(stage / "interactions.csv") as tmp:
            table.to_csv(tmp, index=False)
        write_graphml(g, stage / "graph.graphml")
        structure.save(stage / "structure.npz")
        write_scores(agg, stage / "scores.h5ad")
        with atomic_path(stage / "summary.json") as tmp:
            tmp.write_text(json.dumps(record, indent=2, default=str, ensure_ascii=False))
        if not args.no_figures:
            _figures(agg, g, table, stage)
    print(
        f"{summ['n_types']} types, {len(table)} scored rows, {summ['n_edges']} edges "
        f"(density {summ['density']:.2f}) → {out}"
    )
    return 0


def _figures(agg, g, table, folder: Path) -> None:
    # The plotters draw on bare Figures (no pyplot, no backend switch), so nothing needs closing
    # and a caller's backend is left as it was.
    from neuromod_data import plotting

    strongest = table.groupby("interaction")["score"].sum().idxmax() if len(table) else None
    plotting.plot_type_heatmap(agg, save=folder / "type_heatmap.png")
    plotting.plot_graph(g, save=folder / "graph.png")
    if strongest is not None:
        plotting.plot_pair_heatmap(agg, strongest, save=folder / "pair_heatmap.png")
        plotting.plot_dotplot(agg, save=folder / "dotplot.png")
