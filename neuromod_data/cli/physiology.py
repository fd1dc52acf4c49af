"""``neuromod physiology``: add intrinsic parameters (from electrophysiology) and type-to-type
connectivity (from a population table) to a structure.

Writes into ``--out``: ``structure.npz`` (the structure with ``intrinsic`` and/or ``connectivity``),
``intrinsic.csv`` (one row per type and parameter: value, spread, cells, level, group), with the
default ``--method fit`` also ``fit_validation.csv`` (per type, each recorded feature against the
fitted neuron's simulated one), ``fit_cells.csv`` (every cell's fit) and ``fit_validation.png``,
``ephys_summary.csv`` (robust per-type summary of every feature), ``connectivity.csv`` (one row per
type pair, pre → post), ``physiology.json`` (settings, references, warnings) and the figures
``intrinsic.png`` and ``connectivity.png``. The folder is written under a temporary name and swapped
in whole.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

OUTPUTS = (
    "structure.npz",
    "intrinsic.csv",
    "ephys_summary.csv",
    "connectivity.csv",
    "physiology.json",
    "intrinsic.png",
    "connectivity.png",
    "fit_validation.csv",
    "fit_cells.csv",
    "fit_validation.png",
)

EXAMPLE = (
    "neuromod physiology results/graph/structure.npz "
    "--ephys m1_patchseq_ephys_features.csv --ephys-metadata m1_patchseq_meta_data.csv "
    "--label 'RNA family' --connectivity connectivity_long.csv --layer 'Inferred layer' "
    "--out results/physiology"
)


def _pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    if not k.strip() or not v.strip():
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE, got {text!r}")
    return k.strip(), v.strip()


def register(subparsers: argparse._SubParsersAction) -> None:
    from neuromod_data.cli._args import int_at_least, number_in
    from neuromod_data.structure import BOUNDS

    p = subparsers.add_parser(
        "physiology",
        help="add intrinsic parameters (electrophysiology) and connectivity (population table) "
        "to a structure",
        description=(
            "Read a structure (structure.npz of `neuromod graph`), add per-type LIF/ALIF parameters "
            "from a Patch-seq feature table and/or type-to-type connection probability and "
            "strength from a population table, and write the new structure with tables and "
            f"figures. Example: {EXAMPLE}"
        ),
    )
    p.add_argument("structure", help="structure.npz (or the folder holding it)")
    g = p.add_argument_group("intrinsic parameters from electrophysiology")
    g.add_argument("--ephys", metavar="FEATURES", help="per-cell feature table (csv/tsv)")
    g.add_argument("--ephys-metadata", metavar="META", help="per-cell labels and layers (csv/tsv)")
    g.add_argument(
        "--join", default="cell id", help="cell-name column of FEATURES (default 'cell id')"
    )
    g.add_argument(
        "--metadata-join", default="Cell", help="cell-name column of META (default 'Cell')"
    )
    g.add_argument(
        "--label",
        help="label column of META naming the structure's types (default: the structure's groupby)",
    )
    g.add_argument(
        "--fallback-label",
        action="append",
        default=[],
        metavar="COLUMN",
        help="coarser label column for types with too few cells (repeat for more levels)",
    )
    g.add_argument(
        "--min-cells", type=int_at_least(1), default=5, help="cells a type needs (default 5)"
    )
    g.add_argument(
        "--method",
        choices=("fit", "map"),
        default="fit",
        help="fit: simulate the model neuron on the recording protocol and fit it to each cell "
        "and type (default); map: the earlier feature-by-feature formulas",
    )
    g.add_argument(
        "--ephys-warm",
        metavar="FEATURES",
        help="the same features recorded at physiological temperature (with --method fit): a type "
        "with --min-cells cells there is fitted to them, the others to their --ephys cells "
        "corrected by per-feature Q10 factors",
    )
    g.add_argument("--ephys-warm-metadata", metavar="META", help="labels of the --ephys-warm cells")
    g.add_argument(
        "--room-celsius",
        type=float,
        default=25.0,
        help="temperature of --ephys, °C (default 25; used for the reported Q10)",
    )
    g.add_argument(
        "--warm-celsius",
        type=float,
        default=34.0,
        help="temperature of --ephys-warm, °C (default 34)",
    )
    g.add_argument(
        "--threshold-from",
        choices=("gap", "rheobase"),
        default="gap",
        help="--method map: v_th from AP threshold − resting potential (gap, default) or from the "
        "rheobase",
    )
    g.add_argument(
        "--tau-m",
        choices=("absolute", "relative"),
        default="absolute",
        help="--method map: τ_m as measured (absolute, default) or the paper's 20 ms scaled "
        "(relative)",
    )
    g.add_argument(
        "--sfa-adaptive",
        type=number_in(0, 1, lo_open=True, hint="a ratio"),
        default=0.9,
        help="--method map: a cell adapts when its spike-frequency adaptation is below this "
        "(default 0.9)",
    )
    g.add_argument(
        "--tau-a",
        # the bounds every intrinsic τ_a is kept in (a value outside failed deep in ParameterMap)
        type=number_in(*BOUNDS["tau_a"], hint="a time constant in ms"),
        default=2000.0,
        help="--method map: τ_a of every type, ms (default 2000)",
    )
    g.add_argument(
        "--missing-types",
        choices=("error", "default"),
        default="error",
        help="a structure type without cells: error (default) or the paper's values",
    )
    c = p.add_argument_group("connectivity from a population table")
    c.add_argument("--connectivity", metavar="TABLE", help="pre, post, probability, strength table")
    c.add_argument("--pre", default="pre", help="presynaptic population column (default 'pre')")
    c.add_argument("--post", default="post", help="postsynaptic population column (default 'post')")
    c.add_argument("--probability", help="probability column (default: the one named so)")
    c.add_argument("--strength", help="strength column (default: the one named psp/strength/...)")
    c.add_argument(
        "--layer", metavar="COLUMN", help="layer column of the cells, e.g. 'Inferred layer'"
    )
    c.add_argument(
        "--layer-metadata",
        metavar="META",
        help="per-cell table with --label and --layer (default: --ephys-metadata)",
    )
    c.add_argument(
        "--type-map",
        type=_pair,
        action="append",
        default=[],
        metavar="TYPE=CLASS",
        help="population class of a type (or first word of types), e.g. Vip=SST; CLASS 'none' "
        "leaves it unconnected (repeatable)",
    )
    c.add_argument(
        "--layer-map",
        type=_pair,
        action="append",
        default=[],
        metavar="LAYER=LAYER",
        help="data layer → table layer, e.g. 1=2/3 (repeatable; 'none' leaves it out)",
    )
    c.add_argument(
        "--unmapped",
        choices=("error", "sign"),
        default="error",
        help="a type without a class: error (default) or the table's classes of its sign",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument(
        "--out",
        required=True,
        help="output folder (new, empty, or an earlier physiology run's, which is replaced)",
    )
    p.set_defaults(func=run)


def _structure_path(text: str) -> Path:
    p = Path(text).expanduser()
    return p / "structure.npz" if p.is_dir() else p


def check_args(args: argparse.Namespace) -> None:
    """Refuse missing or contradicting options and unsafe outputs before any data is read."""
    from neuromod_data._files import check_output
    from neuromod_data.cli._args import hold_output
    from neuromod_data.errors import OutputError, UsageError

    if not args.ephys and not args.connectivity:
        raise UsageError("give --ephys FEATURES and/or --connectivity TABLE (nothing to add)")
    if args.ephys and not args.ephys_metadata:
        raise UsageError("--ephys needs --ephys-metadata META (the cells' labels)")
    if args.ephys_warm and not args.ephys:
        raise UsageError("--ephys-warm needs --ephys FEATURES (the room-temperature cells)")
    if args.ephys_warm and not args.ephys_warm_metadata:
        raise UsageError("--ephys-warm needs --ephys-warm-metadata META (the cells' labels)")
    if args.ephys_warm and args.method != "fit":
        raise UsageError("--ephys-warm applies to --method fit; drop it or use the fit")
    if args.method == "fit" and args.fallback_label:
        raise UsageError(
            "--fallback-label applies to --method map; the fit uses each type's own cells (a type "
            "with fewer than --min-cells is fitted to the cells it has, with a warning)"
        )
    if args.connectivity:
        if not args.layer:
            raise UsageError(
                "--connectivity needs --layer COLUMN (the cells' layer column, e.g. 'Inferred layer')"
            )
        if not (args.layer_metadata or args.ephys_metadata):
            raise UsageError("--connectivity needs --layer-metadata META (or --ephys-metadata)")
    inputs = [
        _structure_path(args.structure),
        args.ephys,
        args.ephys_metadata,
        args.connectivity,
        args.layer_metadata,
        args.ephys_warm,
        args.ephys_warm_metadata,
    ]
    out = check_output(args.out, inputs, kind="dir")
    if out.is_dir():
        foreign = [
            e.name
            for e in out.iterdir()
            if e.name not in OUTPUTS and not any(e.name.startswith(f".{n}.") for n in OUTPUTS)
        ]
        if foreign:
            shown = ", ".join(sorted(foreign)[:3]) + (" ..." if len(foreign) > 3 else "")
            raise OutputError(
                f"--out {out} holds files `neuromod physiology` does not write ({shown}); a rerun "
                "replaces the whole folder, so give a new or empty folder"
            )
    hold_output(args, out)  # a second writer of OUT is refused, not mixed in


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from neuromod_data._files import atomic_dir, atomic_path
    from neuromod_data.cli._args import show_warnings
    from neuromod_data.errors import NeuromodWarning, UsageError
    from neuromod_data.structure import CellTypeStructure

    check_args(args)
    structure = CellTypeStructure.load(_structure_path(args.structure))
    label = args.label or structure.meta.get("groupby")
    if not label:
        raise UsageError("the structure does not say which label its types come from; pass --label")
    record: dict = {"structure": str(_structure_path(args.structure)), "label": label}
    files: dict[str, object] = {}
    cells = per_cell = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.ephys:
            cells, files = _add_intrinsic(args, structure, label, record)
            structure = structure.with_intrinsic(files.pop("intrinsic"))
            per_cell = files.pop("cells")
        if args.connectivity:
            conn, conn_table = _connectivity(args, structure, label, cells)
            structure = structure.with_connectivity(conn)
            files["connectivity.csv"] = conn_table
            record["connectivity"] = {
                k: conn.meta[k]
                for k in (
                    "source",
                    "columns",
                    "type_classes",
                    "type_populations",
                    "layers_left_out",
                )
            }
    show_warnings(caught, "physiology")
    record["warnings"] = [
        " ".join(str(w.message).split()) for w in caught if issubclass(w.category, NeuromodWarning)
    ]
    record["result"] = repr(structure)
    out = Path(args.out)
    with atomic_dir(out) as stage:
        structure.save(stage / "structure.npz")
        for name, table in files.items():
            if isinstance(table, pd.DataFrame):
                with atomic_path(stage / name) as tmp:
                    table.to_csv(tmp, index=False)
        with atomic_path(stage / "physiology.json") as tmp:
            tmp.write_text(json.dumps(record, indent=2, default=str, ensure_ascii=False))
        if not args.no_figures:
            _figures(structure, per_cell, stage)
            if "fit_validation.csv" in files:
                from neuromod_data.plotting_fit import plot_fit_validation

                plot_fit_validation(files["fit_validation.csv"], save=stage / "fit_validation.png")
    parts = []
    if structure.intrinsic is not None and args.ephys:
        parts.append(f"intrinsic parameters for {structure.n_types} types")
    if args.connectivity:
        parts.append(f"{structure.n_types}×{structure.n_types} connectivity")
    print(f"{' and '.join(parts)} → {out}")
    return 0


def _add_intrinsic(args, structure, label: str, record: dict):
    import pandas as pd

    from neuromod_data.ephys import (
        ParameterMap,
        cell_parameters,
        intrinsic_from_ephys,
        read_ephys,
        summarize_ephys,
    )

    levels = [label, *[c for c in args.fallback_label if c != label]]
    if args.method == "fit":
        return _fit_intrinsic(args, structure, label, record)
    cells = read_ephys(
        args.ephys,
        args.ephys_metadata,
        features_key=args.join,
        metadata_key=args.metadata_join,
        labels=levels + ([args.layer] if args.layer and not args.layer_metadata else []),
    )
    pmap = ParameterMap(
        threshold=args.threshold_from,
        tau_m=args.tau_m,
        sfa_adaptive=args.sfa_adaptive,
        tau_a=args.tau_a,
    )
    missing = "raise" if args.missing_types == "error" else "default"
    ip = intrinsic_from_ephys(
        cells,
        label,
        fallback=levels[1:],
        min_cells=args.min_cells,
        types=structure.names,
        mapping=pmap,
        missing=missing,
    )
    summary = summarize_ephys(
        cells,
        label,
        fallback=levels[1:],
        min_cells=args.min_cells,
        types=structure.names,
        missing="default",
    )
    per_cell = pd.concat(
        [cells[levels], cell_parameters(cells, mapping=pmap, reference=ip.meta["reference"])],
        axis=1,
    )
    record["intrinsic"] = {
        k: ip.meta[k]
        for k in (
            "source",
            "fallback",
            "min_cells",
            "mapping",
            "reference",
            "n_unlabelled",
            "n_missing",
            "n_invalid",
            "types_without_cells",
            "parents_mixed",
        )
    }
    record["intrinsic"]["values"] = {
        t: {
            p: {
                "value": float(ip.median[i, j]),
                "level": str(ip.level[i, j]),
                "group": str(ip.group[i, j]),
                "n_cells": int(ip.n_cells[i, j]),
            }
            for j, p in enumerate(ip.params)
        }
        for i, t in enumerate(ip.types)
    }
    files = {
        "intrinsic": ip,
        "intrinsic.csv": pd.DataFrame(ip.to_records()),
        "ephys_summary.csv": summary,
        "cells": per_cell,
    }
    return cells, files


def _fit_intrinsic(args, structure, label: str, record: dict):
    from neuromod_data.ephys import read_ephys, summarize_ephys
    from neuromod_data.intrinsic_fit import fit_intrinsic

    layer = [args.layer] if args.layer and not args.layer_metadata else []
    cells = read_ephys(
        args.ephys,
        args.ephys_metadata,
        features_key=args.join,
        metadata_key=args.metadata_join,
        labels=[label, *layer],
    )
    warm = None
    if args.ephys_warm:
        warm = read_ephys(
            args.ephys_warm,
            args.ephys_warm_metadata,
            features_key=args.join,
            metadata_key=args.metadata_join,
            labels=[label],
        )
    fit = fit_intrinsic(
        cells,
        label,
        warm=warm,
        types=structure.names,
        min_cells=args.min_cells,
        room_celsius=args.room_celsius,
        warm_celsius=args.warm_celsius,
        missing="raise" if args.missing_types == "error" else "default",
    )
    ip = fit.intrinsic
    summary = summarize_ephys(
        cells, label, min_cells=args.min_cells, types=structure.names, missing="default"
    )
    record["intrinsic"] = {k: ip.meta[k] for k in ip.meta if k != "units"}
    record["intrinsic"]["values"] = {
        t: {p: float(ip.median[i, j]) for j, p in enumerate(ip.params)}
        for i, t in enumerate(ip.types)
    }
    files = {
        "intrinsic": ip,
        "intrinsic.csv": _intrinsic_table(ip),
        "ephys_summary.csv": summary,
        "fit_validation.csv": fit.validation,
        "fit_cells.csv": fit.cells,
        "cells": fit.cells,
    }
    return cells, files


def _intrinsic_table(ip):
    import pandas as pd

    return pd.DataFrame(ip.to_records())


def _connectivity(args, structure, label: str, cells):
    import pandas as pd

    from neuromod_data.connectivity import read_connectivity, type_connectivity
    from neuromod_data.ephys import _read_table

    table = read_connectivity(
        args.connectivity,
        pre=args.pre,
        post=args.post,
        probability=args.probability,
        strength=args.strength,
    )
    # every labelled cell of the metadata counts towards its type's layers, with or without features
    if args.layer_metadata or args.ephys_metadata or cells is None:
        layers, where = _read_table(args.layer_metadata or args.ephys_metadata, "metadata")
        layers.attrs["neuromod_ephys"] = {"metadata_file": where}
    else:
        layers = cells
    conn = type_connectivity(
        table,
        structure.names,
        layers=layers,
        label=label,
        layer_column=args.layer,
        type_map=dict(args.type_map),
        layer_map=dict(args.layer_map),
        signs=structure.signs,
        unmapped=args.unmapped,
    )
    k = structure.n_types
    long = pd.DataFrame(
        {
            "pre": [a for a in structure.names for _ in range(k)],
            "post": [b for _ in range(k) for b in structure.names],
            "probability": conn.probability.reshape(-1),
            "strength": conn.strength.reshape(-1),
        }
    )
    return conn, long


def _figures(structure, cells, folder: Path) -> None:
    # The plotters draw on bare Figures (no pyplot, no backend switch), so nothing needs closing
    # and a caller's backend is left as it was.
    from neuromod_data import plotting_physiology as pp

    if structure.intrinsic is not None:
        params = ("tau_m", "beta", "adaptive", "v_th", "n_ref")
        if structure.intrinsic.meta.get("method") == "fit":
            params = ("tau_m", "tau_a", "beta", "adaptive", "v_th", "n_ref")  # τ_a is fitted too
        pp.plot_intrinsic(structure.intrinsic, cells, params=params, save=folder / "intrinsic.png")
    if structure.connectivity is not None:
        pp.plot_connectivity(structure.connectivity, save=folder / "connectivity.png")
