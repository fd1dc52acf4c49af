"""``neuromod align``: how close each gate's MDGL gradient comes to BPTT's (docs/design.md,
"Gradient alignment").

For each seed a reference network is trained with MDGL and the ``ones`` gate and kept at the
``--checkpoints`` iterations; at each checkpoint ``--batches`` fixed batches are scored for every
arm (e-prop, ``ones``, E/I, the data gate, all its label permutations, grid shuffles, uniform, the
exact one-step truncation). Writes, all at once into ``OUT``:

``alignment.csv``
    one row per seed × batch × checkpoint × arm draw: cosine with BPTT's gradient, norm ratio,
    cosine and relative distance to the exact arm (:data:`neuromod_models.alignment.TABLE_COLUMNS`);
``summary.csv``
    per checkpoint and arm: means over seeds, the paired difference to ``data`` with its 95 % t
    interval over seeds, the data gate's rank and p among its label permutations, its position
    between the permutations and ``ones`` and between e-prop and exact;
``alignment.png``
    the cosines against the checkpoint and the permutation null at the last one;
``config.json``
    the settings, the structure's hash and the time taken.

Progress goes to stderr, one line per step. torch is imported only when the command runs. Threads:
``--threads``, else ``$NEUROMOD_THREADS``, else 1 (as ``neuromod train``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from neuromod_data.cli._args import int_at_least, n_workers, number_in, positive_float
from neuromod_data.errors import NeuromodError, UsageError
from neuromod_data.names import TASKS


def _checkpoints(text: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be iterations separated by commas, e.g. 0,250,500,1000; got {text!r}"
        ) from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"must be iterations >= 0, got {text!r}")
    return sorted(set(values))


def _task(text: str) -> str:
    v = str(text).strip().replace("-", "_")
    if v not in TASKS:
        raise argparse.ArgumentTypeError(f"unknown task {text!r}; choose one of {', '.join(TASKS)}")
    return v


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = str(text).partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    return key.strip().replace("-", "_"), parsed


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "align",
        help="cosine of each MDGL gate's gradient with BPTT's, against the permutation null",
        description=(
            "Score the gradient alignment of e-prop, MDGL with the gates ones, ei, data, every "
            "label permutation of data, grid shuffles and uniform, and the exact one-step "
            "truncation, against BPTT on identical networks and batches (docs/design.md, "
            "'Gradient alignment'). Writes OUT/alignment.csv, summary.csv, alignment.png and "
            "config.json."
        ),
        epilog=(
            "example: neuromod align --structure results/graph/structure.npz "
            "--task evidence_accumulation --seeds 20 --batches 5 --checkpoints 0,250,500,1000 "
            "--out results/align"
        ),
    )
    a = p.add_argument
    a("--structure", required=True, metavar="NPZ", help="CellTypeStructure file (the data gate)")
    a("--task", type=_task, default="evidence_accumulation", help=f"task: {', '.join(TASKS)}")
    a("--seeds", type=int_at_least(1), default=5, metavar="N", help="seeds (default 5)")
    a("--first-seed", type=int_at_least(0), default=0, metavar="S", help="first seed (default 0)")
    a(
        "--batches",
        type=int_at_least(1),
        default=5,
        metavar="N",
        help="scoring batches per checkpoint, the same at each (default 5)",
    )
    a(
        "--checkpoints",
        type=_checkpoints,
        default=[0, 250, 500, 1000],
        metavar="LIST",
        help="iterations of the reference training (MDGL, gate ones) to score (default "
        "0,250,500,1000)",
    )
    a("--batch-size", type=int_at_least(1), default=64, metavar="B", help="trials per batch (64)")
    a("--n-rec", type=int_at_least(2), metavar="N", help="recurrent neurons (default: the task's)")
    a(
        "--task-option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword of the task, e.g. T=1000 (repeatable)",
    )
    a(
        "--network",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword of SpikingNetwork, e.g. p_rec=0.2 (repeatable)",
    )
    a(
        "--variant",
        choices=("local", "nonlocal"),
        default="local",
        help="MDGL type averages of the gated arms and of the reference training (default local)",
    )
    a(
        "--permutations",
        type=int_at_least(1),
        default=999,
        metavar="N",
        help="random label permutations when K > 7 (K <= 7: all K! - 1; default 999)",
    )
    a("--grid-draws", type=int_at_least(0), default=99, metavar="N", help="grid shuffles (99)")
    a("--lr", type=positive_float, default=2.5e-3, help="Adam learning rate of the reference")
    a(
        "--l1",
        type=number_in(0, float("inf"), hi_open=True, hint="a number"),
        default=0.0,
        help="L1 shrinkage of the reference training (default 0)",
    )
    a(
        "--rate-reg",
        type=number_in(0, float("inf"), hi_open=True, hint="a number"),
        default=0.0,
        help="firing-rate regulariser of the reference training and of every arm's loss (0)",
    )
    a(
        "--rate-target-hz",
        type=number_in(0, float("inf"), hi_open=True, hint="a number"),
        default=10.0,
        help="target rate of --rate-reg in Hz (default 10)",
    )
    a("--threads", type=n_workers, metavar="N", help="threads (default $NEUROMOD_THREADS, else 1)")
    a("--out", required=True, metavar="DIR", help="output folder (replaced as a whole)")
    p.set_defaults(func=run)


def _say(message: str) -> None:
    print(f"neuromod align: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from neuromod_data._files import atomic_dir, atomic_path, check_output, require_file
    from neuromod_data.cli._args import hold_output
    from neuromod_data.cli._common import (
        check_options,
        check_sizes,
        content_hash,
        load_structure,
        set_threads,
    )

    structure_path = require_file(args.structure, "structure file")
    out = check_output(args.out, [structure_path], kind="dir")
    hold_output(args, out)  # a second writer of OUT is refused, not mixed in
    structure = load_structure(str(structure_path))
    if structure.n_types < 2:
        raise UsageError(f"{structure_path}: the structure has {structure.n_types} type; need >= 2")
    task_options = dict(args.task_option)
    network = dict(args.network)
    if args.n_rec is not None:
        network["n_rec"] = int(args.n_rec)
        network.setdefault("n_adaptive", int(args.n_rec) // 2)

    from neuromod_models import SpikingNetwork
    from neuromod_models.alignment import align, plot_alignment, summarize
    from neuromod_models.regularization import FiringRateRegularizer
    from neuromod_models.tasks import TASKS as TASK_CLASSES
    from neuromod_models.tasks import make_task

    check_options("--task-option", task_options, TASK_CLASSES[args.task])
    check_options("--network", network, SpikingNetwork.__init__, skip=("structure", "device"))
    try:
        task = make_task(args.task, **task_options)
        # sizes that cannot fit in memory are refused before anything is allocated
        check_sizes(
            {"batch_size": args.batch_size, "validation_batch_size": None},
            task,
            {**task.network_kwargs(), **network},
            None,
            names={"network.n_rec": "--n-rec", "task_options.T": "--task-option T"},
        )
        # build one network now: a bad size or option fails before any training
        SpikingNetwork(**{**task.network_kwargs(), **network}, structure=structure, seed=0)
    except (TypeError, ValueError, RuntimeError) as exc:
        if isinstance(exc, NeuromodError):
            raise
        raise UsageError(" ".join(str(exc).split())) from None
    threads = set_threads(args.threads)
    regularizer = (
        FiringRateRegularizer(float(args.rate_reg), float(args.rate_target_hz))
        if args.rate_reg > 0
        else None
    )
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    _say(
        f"{structure.n_types} types, {len(seeds)} seeds × {args.batches} batches × "
        f"{len(args.checkpoints)} checkpoints ({threads} thread{'s' if threads > 1 else ''})"
    )
    t0 = time.perf_counter()
    table = align(
        structure,
        task,
        seeds=seeds,
        batches=args.batches,
        checkpoints=args.checkpoints,
        batch_size=args.batch_size,
        network=network,
        variant=args.variant,
        permutations=args.permutations,
        grid_draws=args.grid_draws,
        lr=args.lr,
        l1=args.l1,
        rate_regularizer=regularizer,
        progress=_say,
    )
    seconds = time.perf_counter() - t0
    summary = summarize(table)
    fig = plot_alignment(table, summary, title=f"{structure_path.parent.name} · {task.name}")
    plain = (str, int, float, bool, list, type(None))  # the options, not what main() attached
    settings = {
        k: v for k, v in vars(args).items() if k not in ("func", "command") and isinstance(v, plain)
    }
    settings.update(
        structure=str(structure_path.resolve()),
        structure_hash=content_hash(structure),
        structure_types=list(structure.names),
        task_options=task_options,
        network=network,
        seconds=round(seconds, 1),
    )
    with atomic_dir(out) as tmp:
        table.to_csv(tmp / "alignment.csv", index=False, float_format="%.10g")
        summary.to_csv(tmp / "summary.csv", index=False, float_format="%.10g")
        with atomic_path(tmp / "alignment.png", suffix=".png") as png:
            fig.savefig(png, dpi=120, format="png")
        (tmp / "config.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")
    data = summary[(summary["arm"] == "data")]
    for _, r in data.iterrows():
        _say(
            f"checkpoint {int(r['checkpoint'])}: data cosine {r['mean_cosine']:.4f}, "
            f"permutation rank {r['perm_rank']} of {int(r['n_perms']) + 1}, p = {r['perm_p']:.3g}"
        )
    print(f"alignment → {out / 'alignment.csv'}, {out / 'summary.csv'} ({seconds:.0f} s)")
    return 0
