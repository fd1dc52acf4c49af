"""``neuromod train``: train a spiking network on a task with BPTT, e-prop or MDGL.

Settings come from (lowest to highest priority) built-in defaults, ``--config FILE`` (YAML or JSON:
the long option names as keys, ``batch_size`` or ``batch-size``, plus ``task_options`` — keyword
arguments of the task — and ``network`` — overrides of the task's network settings) and the flags
given on the command line. The resolved settings go to ``OUT/config.json``. Running the command
again on the same ``OUT`` resumes from ``OUT/checkpoint.pt`` (and does nothing once finished);
``neuromod train --out OUT`` alone reuses ``OUT/config.json``. torch is imported only when the
command runs, so ``neuromod --help`` works without it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from neuromod_data.errors import FormatError, InputFileError, TrainingError
from neuromod_data.names import GATES, RULES, TASKS


#: every setting and its default (``None``: decided from the others)
DEFAULTS: dict[str, Any] = {
    "task": None,
    "rule": None,
    "structure": None,
    "gate": None,
    "feedback": "symmetric",
    "variant": "local",
    "online": False,
    "iterations": 2000,
    "batch_size": 64,
    "lr": 2.5e-3,
    "seed": 0,
    "device": "cpu",
    "validate_every": 25,
    "validation_batches": 1,
    "validation_batch_size": None,
    "l1": 0.0,
    "rate_reg": 0.0,
    "rate_target_hz": 10.0,
    "checkpoint_every": None,
    "task_options": {},
    "network": {},
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a spiking network (BPTT, e-prop, MDGL) on a task; resumable",
        description=(
            "Train a recurrent spiking network whose neurons carry the cell types of a structure on "
            "a task, and write OUT/metrics.csv (iteration, split, loss, accuracy), metrics.json, "
            "config.json, checkpoint.pt and learning_curve.png. Re-running with the same OUT resumes."
        ),
        epilog=(
            "example: neuromod train --task evidence_accumulation --rule mdgl "
            "--structure results/graph/structure.npz --gate data --iterations 200 --out runs/mdgl"
        ),
    )
    a = p.add_argument
    a("--task", choices=TASKS, help="task (DESIGN §3.4)")
    a("--rule", choices=RULES, help="learning rule")
    a("--structure", metavar="NPZ", help="CellTypeStructure file (default: 80/20 E/I types)")
    a(
        "--gate",
        choices=GATES,
        help="MDGL modulation gate (default: data with --structure, else none: E/I all-to-all)",
    )
    a(
        "--feedback",
        choices=("symmetric", "random"),
        help="e-prop/MDGL feedback (default symmetric)",
    )
    a("--variant", choices=("local", "nonlocal", "exact"), help="MDGL variant (default local)")
    a(
        "--online",
        action="store_const",
        const=True,
        default=None,
        help="e-prop: online forward-mode traces (memory independent of T)",
    )
    a("--iterations", type=int, metavar="N", help="total training iterations (default 2000)")
    a("--batch-size", type=int, metavar="B", help="trials per batch (default 64)")
    a("--lr", type=float, help="Adam learning rate (default 2.5e-3)")
    a("--seed", type=int, metavar="S", help="seed of the network, batches and rule (default 0)")
    a("--device", help="cpu or cuda (default cpu)")
    a("--validate-every", type=int, metavar="K", help="iterations between validations (default 25)")
    a("--validation-batches", type=int, metavar="N", help="batches per validation (default 1)")
    a(
        "--validation-batch-size",
        type=int,
        metavar="B",
        help="trials per validation batch (default: --batch-size)",
    )
    a(
        "--l1",
        type=float,
        help="L1 shrinkage: each connected weight magnitude loses lr·L1 per step (default 0; "
        "the authors' protocol: 0.01)",
    )
    a(
        "--rate-reg",
        type=float,
        help="firing-rate regulariser coefficient: + C·Σ_j (rate_j − target)² in the loss "
        "(default 0; the authors' protocol: 0.1)",
    )
    a("--rate-target-hz", type=float, help="target rate of --rate-reg in Hz (default 10)")
    a(
        "--checkpoint-every",
        type=int,
        metavar="K",
        help="iterations between checkpoints (default: --validate-every)",
    )
    a("--config", metavar="FILE", help="YAML or JSON settings (flags given here override them)")
    a("--no-progress", action="store_true", help="no progress bar")
    a("--out", required=True, metavar="DIR", help="run directory")
    p.set_defaults(func=run)


def _read_config(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"config file not found: {p}")
    text = p.read_text()
    try:
        if p.suffix.lower() == ".json":
            cfg = json.loads(text)
        else:
            import yaml

            cfg = yaml.safe_load(text)
    except Exception as exc:
        raise FormatError(f"{p}: cannot parse config: {exc}") from exc
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, dict):
        raise FormatError(f"{p}: config must be a mapping of setting → value")
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        k = str(key).replace("-", "_")
        if k not in DEFAULTS:
            raise FormatError(f"{p}: unknown setting {key!r}; known: {', '.join(DEFAULTS)}")
        out[k] = value
    for k in ("task_options", "network"):
        if k in out and not isinstance(out[k] or {}, dict):
            raise FormatError(f"{p}: {k} must be a mapping")
    return out


def resolve_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults < saved ``OUT/config.json`` (when no --config) < ``--config`` < flags."""
    out = Path(args.out)
    settings = dict(DEFAULTS)
    if args.config:
        settings.update(_read_config(args.config))
    elif (out / "config.json").is_file():
        settings.update(_read_config(out / "config.json"))
    for k in DEFAULTS:
        v = getattr(args, k, None)
        if v is not None:
            settings[k] = v
    settings["task_options"] = dict(settings.get("task_options") or {})
    settings["network"] = dict(settings.get("network") or {})
    if settings["task"] is None or settings["rule"] is None:
        raise FormatError("give --task and --rule (or a --config / OUT/config.json that sets them)")
    settings["task"] = str(settings["task"]).replace("-", "_")
    if settings["task"] not in TASKS:
        raise FormatError(f"unknown task {settings['task']!r}; choose one of {', '.join(TASKS)}")
    if settings["rule"] not in RULES:
        raise FormatError(f"unknown rule {settings['rule']!r}; choose one of {', '.join(RULES)}")
    if settings["gate"] is None and settings["rule"] == "mdgl":
        settings["gate"] = "data" if settings["structure"] else "none"
    if settings["gate"] is not None and settings["gate"] not in GATES:
        raise FormatError(f"unknown gate {settings['gate']!r}; choose one of {', '.join(GATES)}")
    if settings["gate"] not in (None, "none") and settings["rule"] != "mdgl":
        raise FormatError(f"--gate {settings['gate']} applies to --rule mdgl only")
    if settings["online"] and settings["rule"] != "eprop":
        raise FormatError("--online applies to --rule eprop only")
    if settings["structure"]:
        settings["structure"] = str(Path(settings["structure"]).expanduser().resolve())
    for k in ("iterations", "batch_size", "validate_every", "validation_batches"):
        if int(settings[k]) < (0 if k == "iterations" else 1):
            raise FormatError(f"{k} must be a positive integer, got {settings[k]}")
    for k in ("l1", "rate_reg", "rate_target_hz"):
        v = float(settings[k])
        if not (math.isfinite(v) and v >= 0):
            raise FormatError(f"{k} must be a finite number >= 0, got {settings[k]!r}")
    return settings


def _content_hash(structure: Any) -> str:
    """Hash of what the network uses from a structure (not the file bytes: zip timestamps vary)."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    h.update("\x1f".join(structure.names).encode())
    for arr in (structure.abundances, structure.signs, structure.modulation):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def run(args: argparse.Namespace) -> int:
    settings = resolve_settings(args)
    out = Path(args.out)

    import torch
    from neuromod_models import SpikingNetwork, make_rule
    from neuromod_models.regularization import FiringRateRegularizer
    from neuromod_models.tasks import make_task
    from neuromod_models.training import train

    from neuromod_data._files import atomic_path
    from neuromod_data.structure import CellTypeStructure

    device = str(settings["device"])
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"--device {device} requested but torch sees no CUDA device")
    try:
        torch.device(device)
    except RuntimeError as exc:
        raise TrainingError(f"unknown device {device!r}: {exc}") from exc

    structure = CellTypeStructure.load(settings["structure"]) if settings["structure"] else None
    try:
        task = make_task(settings["task"], **settings["task_options"])
    except ValueError as exc:
        raise FormatError(f"task_options: {exc}") from exc
    net_kw = {**task.network_kwargs(), **settings["network"]}
    try:
        net = SpikingNetwork(
            **net_kw, structure=structure, seed=int(settings["seed"]), device=device
        )
    except TypeError as exc:
        raise FormatError(f"network: {exc}") from exc
    gate = None if settings["gate"] in (None, "none") else settings["gate"]
    rule = make_rule(
        settings["rule"],
        feedback=settings["feedback"],
        variant=settings["variant"],
        gate=gate,
        online=bool(settings["online"]),
        seed=int(settings["seed"]),
    )

    lr = float(settings["lr"])
    if not (math.isfinite(lr) and lr > 0):
        raise FormatError(f"lr must be a finite positive number, got {settings['lr']!r}")

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "config.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")

    resumed = (out / "checkpoint.pt").is_file()
    done_before = 0
    if resumed and (out / "metrics.json").is_file():
        try:
            done_before = int(json.loads((out / "metrics.json").read_text())["iterations_done"])
        except (ValueError, KeyError):
            done_before = 0
    recorded = {
        "structure_types": list(structure.names) if structure is not None else ["E", "I"],
        # a structure file rewritten with other couplings must not silently continue a run
        "structure_hash": _content_hash(structure) if structure is not None else None,
        "gate": settings["gate"],
    }
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
            int(settings["validation_batch_size"]) if settings["validation_batch_size"] else None
        ),
        l1=float(settings["l1"]),
        rate_regularizer=(
            FiringRateRegularizer(float(settings["rate_reg"]), float(settings["rate_target_hz"]))
            if float(settings["rate_reg"]) > 0
            else None
        ),
        checkpoint_every=settings["checkpoint_every"],
        progress=not args.no_progress,
        settings=recorded,
    )
    s = result.summary
    if resumed and done_before >= int(settings["iterations"]):
        state = "already finished, "
    elif resumed:
        state = f"resumed at {done_before}, "
    else:
        state = ""
    line = f"{task.name} · {rule!r}: {state}{s['iterations_done']} iterations"
    if s.get("final_validation_loss") is not None:
        line += f", validation loss {s['final_validation_loss']:.4g}"
    if s.get("final_validation_accuracy") is not None:
        line += f", accuracy {s['final_validation_accuracy']:.3f}"
    print(line)
    print(f"metrics → {out / 'metrics.csv'}")
    return 0
