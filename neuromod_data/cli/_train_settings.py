"""The settings of ``neuromod train`` (:mod:`neuromod_data.cli.train`): the defaults, how each
setting is checked, a ``--config`` file read, and the resolution of defaults, file and flags."""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path
from typing import Any

from neuromod_data.cli._args import (
    check_setting,
    int_at_least,
    number_in,
    positive_float,
)
from neuromod_data.errors import (
    FormatError,
    InputFileError,
    NeuromodError,
    NeuromodWarning,
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
