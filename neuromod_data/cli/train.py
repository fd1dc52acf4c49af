"""``neuromod train``: train a spiking network on a task with BPTT, e-prop or MDGL.

Settings come from (lowest to highest priority) built-in defaults, ``--config FILE`` (YAML or JSON:
the long option names as keys, ``batch_size`` or ``batch-size``, plus ``task_options`` — keyword
arguments of the task — and ``network`` — overrides of the task's network settings) and the flags
given on the command line. The resolved settings go to ``OUT/config.json``. Running the command
again on the same ``OUT`` resumes from ``OUT/checkpoint.pt`` (and does nothing once finished);
``neuromod train --out OUT`` alone reuses ``OUT/config.json``. A resume that would change a setting
(the structure's contents included) or ask for fewer iterations than were done is refused before
anything in ``OUT`` is touched; a finished run's files are left as they are. A new run refuses an
``OUT`` that holds files other than a run's. Every setting, from a flag or a file, is checked
before any work is done. torch is imported only when the command runs, so ``neuromod --help`` works
without it.

Threads: training steps are small (a few hundred neurons), so extra threads mostly wait on each
other; on a busy 2-core machine torch's default (all cores) ran 2–2.5× slower than one thread. The
command therefore uses ``--threads``, else ``$NEUROMOD_THREADS``, else 1 thread for torch, numba and
the BLAS; ``--threads -1`` uses every core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from neuromod_data.cli._args import (
    check_setting,
    hold_output,
    int_at_least,
    n_workers,
)
from neuromod_data.cli._common import check_options as _check_options
from neuromod_data.cli._common import check_sizes as _check_sizes
from neuromod_data.cli._common import content_hash as _content_hash
from neuromod_data.cli._common import estimate_memory as estimate_memory
from neuromod_data.cli._common import load_structure as _load_structure
from neuromod_data.cli._common import set_threads as _set_threads
from neuromod_data.cli._train_settings import CHECKS, _device, resolve_settings
from neuromod_data.cli._train_settings import RENAMED_GATES as RENAMED_GATES
from neuromod_data.cli._train_settings import _read_config as _read_config
from neuromod_data.errors import (
    NeuromodError,
    NeuromodWarning,
    OutputError,
    TrainingError,
    UsageError,
)
from neuromod_data.names import GATES, MDGL_VARIANTS, RULES, TASKS

#: every setting and its default: the one table, shared with the reproduction grid
#: (:mod:`neuromod_data.training_defaults`; checked in :mod:`neuromod_data.cli._train_settings`)
from neuromod_data.training_defaults import TRAINING_DEFAULTS as DEFAULTS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a spiking network (BPTT, e-prop, MDGL) on a task; resumable",
        description=(
            "Train a recurrent spiking network whose neurons carry the cell types of a structure on "
            "a task, and write OUT/metrics.csv (iteration, split, loss, accuracy), metrics.json, "
            "config.json, checkpoint.pt, model.npz (the trained network) and learning_curve.png. "
            "Re-running with the same OUT resumes."
        ),
        epilog=(
            "example: neuromod train --task evidence_accumulation --rule mdgl "
            "--structure results/graph/structure.npz --gate data --iterations 200 --out runs/mdgl"
        ),
    )
    a = p.add_argument
    a("--task", type=CHECKS["task"], help=f"task: {', '.join(TASKS)} (docs/design.md, 'Tasks')")
    a("--rule", type=CHECKS["rule"], help=f"learning rule: {', '.join(RULES)}")
    a(
        "--structure",
        metavar="NPZ",
        help="CellTypeStructure file (default: the task's E/I network, 81/19 for the paper's tasks)",
    )
    a(
        "--gate",
        type=CHECKS["gate"],
        help=f"MDGL modulation gate: {', '.join(GATES)} (default: data with --structure, else "
        "none: E/I all-to-all)",
    )
    a(
        "--feedback",
        choices=("symmetric", "random"),
        help="e-prop/MDGL feedback (default symmetric)",
    )
    a("--variant", choices=MDGL_VARIANTS, help="MDGL variant (default local)")
    a(
        "--online",
        action="store_const",
        const=True,
        default=None,
        help="e-prop: online forward-mode traces (memory independent of T)",
    )
    a(
        "--iterations",
        type=CHECKS["iterations"],
        metavar="N",
        help="total training iterations (default 2000)",
    )
    a("--batch-size", type=CHECKS["batch_size"], metavar="B", help="trials per batch (default 64)")
    a("--lr", type=CHECKS["lr"], help="Adam learning rate (default 2.5e-3)")
    a(
        "--seed",
        type=CHECKS["seed"],
        metavar="S",
        help="seed of the network, batches and rule (default 0)",
    )
    a(
        "--device",
        type=CHECKS["device"],
        help="cpu, cuda, cuda:N, or auto (cuda if torch sees one, else cpu; default cpu)",
    )
    a(
        "--validate-every",
        type=CHECKS["validate_every"],
        metavar="K",
        help="iterations between validations (default 25)",
    )
    a(
        "--validation-batches",
        type=CHECKS["validation_batches"],
        metavar="N",
        help="batches per validation (default 1)",
    )
    a(
        "--validation-batch-size",
        type=int_at_least(1),
        metavar="B",
        help="trials per validation batch (default: --batch-size)",
    )
    a(
        "--l1",
        type=CHECKS["l1"],
        help="L1 shrinkage: each connected weight magnitude loses lr·L1 per step (default 0; "
        "the authors' protocol: 0.01)",
    )
    a(
        "--rate-reg",
        type=CHECKS["rate_reg"],
        help="firing-rate regulariser coefficient: + C·Σ_j (rate_j − target)² in the loss "
        "(default 0; the authors' protocol: 0.1)",
    )
    a(
        "--rate-target-hz",
        type=CHECKS["rate_target_hz"],
        help="target rate of --rate-reg in Hz (default 10)",
    )
    a(
        "--checkpoint-every",
        type=int_at_least(1),
        metavar="K",
        help="iterations between checkpoints (default: --validate-every)",
    )
    a(
        "--no-heterogeneity",
        dest="heterogeneity",
        action="store_const",
        const=False,
        default=None,
        help="every neuron of a type takes the type's median intrinsic parameters (default: with "
        "a structure that carries them, each neuron draws its own from its type's per-cell "
        "distribution; docs/design.md, 'Networks from data')",
    )
    a("--config", metavar="FILE", help="YAML or JSON settings (flags given here override them)")
    a(
        "--threads",
        type=n_workers,
        metavar="N",
        help="threads for torch, numba and BLAS (default: $NEUROMOD_THREADS, else 1; -1: all cores)",
    )
    a("--no-progress", action="store_true", help="no progress bar")
    a(
        "--allow-arithmetic-change",
        action="store_true",
        help="resume a checkpoint computed under another arithmetic version (or before versions "
        "were recorded); the run then mixes two computations, and metrics.json says where "
        "(docs/design.md, 'Reproducibility')",
    )
    a("--out", required=True, metavar="DIR", help="run directory")
    p.set_defaults(func=run)


def _resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a CUDA device, else ``cpu``; a CUDA device is checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(
                f"--device {device} requested but torch sees no CUDA device; use --device cpu "
                "(or auto)"
            )
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s)"
            )
    return device


def _check_l1(net: Any, lr: float, l1: float) -> None:
    """Refuse an L1 shrinkage that removes every weight in the first step (``lr·l1`` per step at
    least the largest initial magnitude)."""
    if l1 <= 0:
        return
    thetas = [t for t in (net.theta_rec, net.theta_in, net.theta_out) if t.numel()]
    largest = max(float(t.detach().max()) for t in thetas) if thetas else 0.0
    if lr * l1 >= largest > 0:
        raise UsageError(
            f"--l1 {l1:g} with --lr {lr:g} takes {lr * l1:.3g} off every weight per step, more "
            f"than the largest initial weight ({largest:.3g}): the first step would remove every "
            "synapse; lower --l1 (the authors' protocol: 0.01)"
        )


#: what a training run's folder holds (``started.json``: ``neuromod results mark-start``)
RUN_FILES = frozenset(
    {
        "config.json",
        "checkpoint.pt",
        "metrics.csv",
        "metrics.json",
        "learning_curve.png",
        "started.json",
    }
)


def _check_run_folder(out: Path) -> None:
    """A new run starts only in an empty folder or one holding run files (a run killed before its
    first checkpoint); files of anything else are not mixed with it."""
    if not out.is_dir() or (out / "config.json").exists() or (out / "checkpoint.pt").exists():
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES)
    foreign = [n for n in foreign if not n.startswith(".")]  # temporaries of a killed run
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise OutputError(
            f"--out {out} holds files that are not a training run's ({shown}); "
            "train into an empty or new folder"
        )


def _write_config(out: Path, settings: dict[str, Any]) -> None:
    from neuromod_data._files import atomic_path

    with atomic_path(out / "config.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def run(args: argparse.Namespace) -> int:
    from neuromod_data._files import check_output, clean_stale

    settings = resolve_settings(args)
    out = check_output(args.out, kind="dir")
    _check_run_folder(out)
    hold_output(args, out)  # a second writer of OUT is refused, not mixed in

    from neuromod_models import SpikingNetwork, make_rule
    from neuromod_models.regularization import FiringRateRegularizer
    from neuromod_models.tasks import TASKS as TASK_CLASSES
    from neuromod_models.tasks import make_task
    from neuromod_models.training import train

    device = _resolve_device(check_setting("device", settings["device"], _device, where="--"))
    if (
        float(settings["rate_reg"]) == 0
        and settings["rate_target_hz"] != DEFAULTS["rate_target_hz"]
    ):
        warnings.warn(
            f"--rate-target-hz {settings['rate_target_hz']:g} has no effect without --rate-reg "
            "C > 0 (the firing-rate regulariser it is the target of)",
            NeuromodWarning,
            stacklevel=2,
        )
    _check_options("task_options", settings["task_options"], TASK_CLASSES[settings["task"]])
    _check_options(
        "network", settings["network"], SpikingNetwork.__init__, skip=("structure", "device")
    )

    structure = _load_structure(settings["structure"])
    try:
        task = make_task(settings["task"], **settings["task_options"])
    except (TypeError, ValueError) as exc:
        raise UsageError(f"task_options: {exc}") from None
    net_kw = {**task.network_kwargs(), **settings["network"]}
    if settings["heterogeneity"] is not None:
        if net_kw.get("heterogeneity", settings["heterogeneity"]) != settings["heterogeneity"]:
            raise UsageError(
                f"heterogeneity is {settings['heterogeneity']} but network.heterogeneity is "
                f"{net_kw['heterogeneity']}: give it once"
            )
        net_kw["heterogeneity"] = settings["heterogeneity"]
    _check_sizes(settings, task, net_kw, structure)
    try:
        net = SpikingNetwork(
            **net_kw, structure=structure, seed=int(settings["seed"]), device=device
        )
    except (TypeError, ValueError, RuntimeError) as exc:
        if isinstance(exc, NeuromodError):
            raise
        raise UsageError(f"network: {' '.join(str(exc).split())}") from None
    _check_l1(net, float(settings["lr"]), float(settings["l1"]))
    gate = None if settings["gate"] in (None, "none") else settings["gate"]
    try:
        name = settings["rule"]
        rule = make_rule(
            name,
            feedback=settings["feedback"] if name != "bptt" else None,
            variant=settings["variant"] if name == "mdgl" else None,
            gate=gate,
            online=bool(settings["online"]),
            seed=int(settings["seed"]),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, NeuromodError):
            raise
        raise UsageError(f"rule: {' '.join(str(exc).split())}") from None
    regularizer = (
        FiringRateRegularizer(float(settings["rate_reg"]), float(settings["rate_target_hz"]))
        if float(settings["rate_reg"]) > 0
        else None
    )
    threads = _set_threads(args.threads)

    out.mkdir(parents=True, exist_ok=True)
    clean_stale(out)  # temporaries of a killed earlier run
    resumed = (out / "checkpoint.pt").is_file()
    if not resumed:
        _write_config(out, settings)
    # A resume is checked against the checkpoint inside train(); config.json is rewritten only once
    # the first iteration ran, i.e. after the check passed, so a refused resume leaves it as it was.
    first: list[int] = []
    total = int(settings["iterations"])
    # without a progress bar (grid jobs, logs) a line at every tenth of the run, so that a log
    # shows where a 10-minute job is
    every = max(total // 10, 1)
    started = time.perf_counter()

    def on_iteration(it: int, record: dict[str, Any]) -> None:
        if not first:
            first.append(it)
            if resumed:
                _write_config(out, settings)
        if args.no_progress and (it % every == 0 or it == total):
            done = it - first[0] + 1
            per = (time.perf_counter() - started) / done
            acc = record.get("accuracy")
            print(
                f"neuromod train: iteration {it}/{total}, batch loss {record['loss']:.4g}"
                + ("" if acc is None else f", accuracy {acc:.2f}")
                + f", {per:.2f} s/iteration, about {per * (total - it) / 60:.1f} min left",
                file=sys.stderr,
                flush=True,
            )

    recorded = {
        "structure_types": list(structure.names) if structure is not None else ["E", "I"],
        # a structure file rewritten with other couplings must not silently continue a run
        "structure_hash": _content_hash(structure) if structure is not None else None,
        "gate": settings["gate"],
    }
    try:
        result = train(
            net,
            rule,
            task,
            iterations=int(settings["iterations"]),
            batch_size=int(settings["batch_size"]),
            lr=float(settings["lr"]),
            seed=int(settings["seed"]),
            out_dir=out,
            validate_every=int(settings["validate_every"]),
            validation_batches=int(settings["validation_batches"]),
            validation_batch_size=(
                int(settings["validation_batch_size"])
                if settings["validation_batch_size"]
                else None
            ),
            l1=float(settings["l1"]),
            rate_regularizer=regularizer,
            checkpoint_every=settings["checkpoint_every"],
            progress=not args.no_progress,
            allow_arithmetic_change=args.allow_arithmetic_change,
            settings=recorded,
            callback=on_iteration,
            threads=None,  # _set_threads chose them above; train's own default (1) would override
        )
    except KeyboardInterrupt as exc:
        exc.args = ("the last checkpoint is kept: rerun the same command to resume from it",)
        raise
    s = result.summary
    if resumed and not first:
        state = "already finished, "
    elif resumed:
        state = f"resumed at {first[0] - 1}, "
    else:
        state = ""
    line = f"{task.name} · {rule!r}: {state}{s['iterations_done']} iterations"
    if s.get("final_validation_loss") is not None:
        line += f", validation loss {s['final_validation_loss']:.4g}"
    if s.get("final_validation_accuracy") is not None:
        line += f", accuracy {s['final_validation_accuracy']:.3f}"
    print(line + f" ({threads} thread{'s' if threads > 1 else ''})")
    print(f"metrics → {out / 'metrics.csv'}")
    return 0
