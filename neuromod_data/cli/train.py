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
import math
import warnings
from pathlib import Path
from typing import Any

from neuromod_data.cli._args import (
    check_setting,
    finite_float,
    hold_output,
    int_at_least,
    n_workers,
    number_in,
    positive_float,
)
from neuromod_data.errors import (
    FormatError,
    InputFileError,
    NeuromodError,
    NeuromodWarning,
    OutputError,
    TrainingError,
    UsageError,
)
from neuromod_data.names import GATES, MDGL_VARIANTS, RULES, TASKS
from neuromod_data.training_defaults import TRAINING_DEFAULTS

#: gate names of earlier versions → what they are called now
RENAMED_GATES = {"shuffled": "grid-shuffled"}

#: every setting and its default (``None``: decided from the others); the one table, shared with
#: the reproduction grid (:mod:`neuromod_data.training_defaults`)
DEFAULTS = TRAINING_DEFAULTS


def _choice(name: str, choices: tuple[str, ...], renamed: dict[str, str] | None = None):
    def parse(value: Any) -> str:
        v = str(value).strip()
        if name == "task":
            v = v.replace("-", "_")
        if renamed and v in renamed:
            raise argparse.ArgumentTypeError(
                f"{v!r} was renamed {renamed[v]!r}; choose one of {', '.join(choices)}"
            )
        if v not in choices:
            raise argparse.ArgumentTypeError(
                f"unknown {name} {value!r}; choose one of {', '.join(choices)}"
            )
        return v

    parse.__name__ = name
    return parse


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise argparse.ArgumentTypeError(f"must be true or false, got {value!r}")


def _mapping(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    raise argparse.ArgumentTypeError(f"must be a mapping of option → value, got {value!r}")


def _optional(parse):
    def inner(value: Any):
        return None if value is None else parse(value)

    inner.__name__ = getattr(parse, "__name__", "value")
    return inner


def _device(value: Any) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (resolved when the command runs)."""
    v = str(value).strip().lower()
    if v in ("cpu", "cuda", "auto") or (v.startswith("cuda:") and v[5:].isdigit()):
        return v
    raise argparse.ArgumentTypeError(f"unknown device {value!r}; choose cpu, cuda, cuda:N or auto")


#: how every setting is checked, whether it comes from a flag, a config file or OUT/config.json
CHECKS: dict[str, Any] = {
    "task": _optional(_choice("task", TASKS)),
    "rule": _optional(_choice("rule", RULES)),
    "structure": _optional(str),
    "gate": _optional(_choice("gate", GATES, RENAMED_GATES)),
    "feedback": _choice("feedback", ("symmetric", "random")),
    "variant": _choice("variant", MDGL_VARIANTS),
    "online": _flag,
    "iterations": int_at_least(0),
    "batch_size": int_at_least(1),
    "lr": positive_float,
    "seed": int_at_least(0),
    "device": _device,
    "validate_every": int_at_least(1),
    "validation_batches": int_at_least(1),
    "validation_batch_size": _optional(int_at_least(1)),
    "l1": number_in(0, math.inf, hi_open=True, hint="a number"),
    "rate_reg": number_in(0, math.inf, hi_open=True, hint="a number"),
    # one spike per 1-ms step at most: a higher target pushes every neuron against the ceiling
    "rate_target_hz": number_in(0, 1000, hint="a rate in Hz (one spike per 1-ms step at most)"),
    "checkpoint_every": _optional(int_at_least(1)),
    "task_options": _mapping,
    "network": _mapping,
    "heterogeneity": _optional(_flag),
}


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


def _read_config(path: str | Path) -> dict[str, Any]:
    """The settings of a YAML/JSON file, every value checked (one error naming file and key)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputFileError(f"config file not found: {p}")
    if not p.is_file():
        raise InputFileError(f"config file is not a regular file: {p}")
    try:
        text = p.read_text()
        if p.suffix.lower() == ".json":
            cfg = json.loads(text)
        else:
            from neuromod_data.config_check import load_yaml

            cfg = load_yaml(p)  # a key given twice would silently win: refused, naming the line
    except NeuromodError:  # one line naming the file and line already
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{p}: cannot parse config: {' '.join(str(exc).split())}") from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise FormatError(f"{p}: cannot parse config: {' '.join(str(exc).split())}") from None
    if not isinstance(cfg, dict) and cfg is not None:
        raise FormatError(f"{p}: config must be a mapping of setting → value")
    if not cfg:
        # an empty file is most likely the wrong file: training on defaults is hours of the wrong run
        warnings.warn(
            f"{p} sets nothing; every setting not given as a flag keeps its default",
            NeuromodWarning,
            stacklevel=2,
        )
        cfg = {}
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        k = str(key).replace("-", "_")
        if k not in DEFAULTS:
            raise FormatError(f"{p}: unknown setting {key!r}; known: {', '.join(DEFAULTS)}")
        out[k] = check_setting(k, value, CHECKS[k], where=f"{p}: ")
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
        raise UsageError("give --task and --rule (or a --config / OUT/config.json that sets them)")
    if settings["gate"] is None and settings["rule"] == "mdgl":
        settings["gate"] = "data" if settings["structure"] else "none"
    if settings["gate"] not in (None, "none") and settings["rule"] != "mdgl":
        raise UsageError(f"--gate {settings['gate']} applies to --rule mdgl only")
    if (
        settings["gate"] in ("data", "binary", "label-permuted", "grid-shuffled")
        and not (settings["structure"])
    ):
        raise UsageError(
            f"--gate {settings['gate']} is built from the data graph: give --structure NPZ"
        )
    if settings["online"] and settings["rule"] != "eprop":
        raise UsageError("--online applies to --rule eprop only")
    if settings["structure"]:
        settings["structure"] = str(Path(settings["structure"]).expanduser().resolve())
    return settings


def _check_options(where: str, given: dict[str, Any], func: Any, skip: tuple = ()) -> None:
    """Check ``given`` keyword options against ``func``'s signature: known names, and numbers
    where the parameter takes numbers (sizes ≥ 1, other integers ≥ 0, finite floats)."""
    import inspect

    params = {
        n: q
        for n, q in inspect.signature(func).parameters.items()
        if n not in ("self", *skip) and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)
    }
    sizes = {"T", "n_in", "n_rec", "n_out", "n_cues", "batch_size"}
    for name, value in given.items():
        if name not in params:
            raise UsageError(f"{where}: unknown option {name!r}; known: {', '.join(params)}")
        q = params[name]
        ann = str(q.annotation) if q.annotation is not q.empty else ""
        kind = type(q.default).__name__ if q.default not in (q.empty, None) else ann
        if value is None and (q.default is None or "None" in ann):
            continue
        if "bool" in kind:
            check_setting(name, value, _flag, where=f"{where}.")
        elif "int" in kind and "float" not in kind:
            check_setting(name, value, int_at_least(1 if name in sizes else 0), where=f"{where}.")
        elif "float" in kind:
            check_setting(name, value, finite_float, where=f"{where}.")


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


def _human(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.3g} {unit}" if n_bytes < 1000 else f"{n_bytes:.0f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.3g} PiB"  # pragma: no cover


#: float32 arrays of the largest kinds alive at once (measured order of magnitude, rounded up):
#: per time step, batch trial and neuron (spikes, ψ, voltages, the adjoints or traces of the
#: backward pass) and per synapse (θ, mask, weight, gradient, two Adam moments, float64 copies
#: while the initialisation balances and scales the dense matrix)
_PER_STATE, _PER_STATE_VALIDATION, _PER_WEIGHT, _BYTES = 8, 4, 12, 4


def estimate_memory(T: int, batch: int, validation_batch: int, n_in: int, n_rec: int,
                    n_out: int) -> int:  # fmt: skip
    """Bytes of the largest arrays of a training run: the state ``[T, B, N]`` of a training and of
    a validation batch (the larger of the two) and the weights with their optimiser state.

    Examples
    --------
    >>> estimate_memory(2000, 64, 64, 40, 100, 2) < 2**30
    True
    """
    state = T * batch * (n_in + _PER_STATE * n_rec)
    val = T * validation_batch * (n_in + _PER_STATE_VALIDATION * n_rec)
    weights = _PER_WEIGHT * (n_rec * n_rec + n_in * n_rec + n_rec * n_out)
    return _BYTES * (max(state, val) + weights)


def _check_sizes(
    settings: dict[str, Any],
    task: Any,
    net_kw: dict[str, Any],
    structure,
    names: dict[str, str] | None = None,
) -> None:
    """Refuse, before anything is allocated, a run whose largest arrays exceed the memory this
    machine has available, naming the setting that makes them so large (``names``: how another
    command calls the settings, e.g. ``{"network.n_rec": "--n-rec"}``)."""
    from neuromod_data.cli._args import available_memory

    avail = available_memory()
    if avail is None:
        return
    n_rec = int(net_kw.get("n_rec") or 0)
    if structure is not None and not n_rec:
        return
    # each setting with its usual value; the validation batch is the training batch unless given
    sizes = {
        "--batch-size": (int(settings["batch_size"]), int(DEFAULTS["batch_size"])),
        "task_options.T": (int(getattr(task, "T", 1) or 1), 1000),
        "network.n_rec": (n_rec, 100),
    }
    if settings.get("validation_batch_size"):
        sizes["--validation-batch-size"] = (
            int(settings["validation_batch_size"]),
            int(DEFAULTS["batch_size"]),
        )
    n_in, n_out = int(net_kw.get("n_in") or 1), int(net_kw.get("n_out") or 1)

    def need(v: dict[str, int]) -> int:
        val = v.get("--validation-batch-size", v["--batch-size"])
        return estimate_memory(v["task_options.T"], v["--batch-size"], val, n_in,
                               v["network.n_rec"], n_out)  # fmt: skip

    given = {k: v for k, (v, _) in sizes.items()}
    total = need(given)
    if total <= avail:
        return
    # the setting at fault: the one whose usual value would shrink the estimate the most
    key = min(sizes, key=lambda k: need({**given, k: min(sizes[k])}))
    batch = max(given["--batch-size"], given.get("--validation-batch-size", 0))
    culprit = (names or {}).get(key, key)
    raise UsageError(
        f"{culprit} {given[key]} needs about {_human(total)} of memory (state "
        f"[T={given['task_options.T']}, B={batch}, "
        f"N={n_rec}] and weights), more than the {_human(avail)} available on this machine: "
        f"lower {culprit}"
    )


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


def _load_structure(path: str | None):
    from neuromod_data.structure import CellTypeStructure

    if not path:
        return None
    try:
        return CellTypeStructure.load(path)
    except NeuromodError:
        raise
    except Exception as exc:  # a truncated or foreign .npz (zipfile, numpy errors)
        text = " ".join(str(exc).split())
        raise FormatError(f"{path}: not a readable structure file ({text})") from None


def _set_threads(requested: int | None) -> int:
    """Use ``requested`` threads, else ``$NEUROMOD_THREADS``, else 1 (see the module docstring)."""
    import os

    import torch

    n = requested
    if n is None:
        env = os.environ.get("NEUROMOD_THREADS")
        n = 1 if not env else check_setting("NEUROMOD_THREADS", env, n_workers, where="$")
    torch.set_num_threads(n)
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except (ImportError, ValueError):
        pass
    try:  # the BLAS/OpenMP pools numpy and scipy use (threadpoolctl comes with scikit-learn)
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    return n


def _content_hash(structure: Any) -> str:
    """Hash of what the network uses from a structure (not the file bytes: zip timestamps vary)."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    h.update("\x1f".join(structure.names).encode())
    for arr in (structure.abundances, structure.signs, structure.modulation):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    # intrinsic parameters and connectivity shape the neurons and synapses too; hashed only when
    # present, so a structure without them keeps the hash earlier runs recorded
    ip, conn = structure.intrinsic, structure.connectivity
    if ip is not None:
        h.update(("intrinsic\x1f" + "\x1f".join(ip.params)).encode())
        for arr in (ip.median, ip.spread, ip.bounds):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    if conn is not None:
        h.update(b"connectivity")
        for arr in (conn.probability, conn.strength):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


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

    def on_iteration(it: int, record: dict[str, Any]) -> None:  # noqa: ARG001
        if not first:
            first.append(it)
            if resumed:
                _write_config(out, settings)

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
