"""The reproduction grid: settings, job list, folders and training commands of
``workflows/rules/reproduction.smk`` (plain Python, so that it is importable and tested).

A job is one (task, rule, structure, seed). Structure names: ``ei`` — the paper's 80/20 E/I network
(no structure file; MDGL modulates E/I all-to-all); ``<dataset>`` — types from that dataset's
``structure.npz`` (MDGL with the data gate); ``<dataset>-<gate>`` — the same neurons with the MDGL
gate ``<gate>`` (:data:`neuromod_data.names.GATES`; ``shuffled`` is the former name of
``grid-shuffled`` and is kept so that older grids and runs keep their names).

Folders (``rc`` = the ``reproduction`` section of a config):

* ``<results>/train/<task>/<rule>/<structure>/seed<k>/`` — the ``neuromod train`` output
  (checkpoints: an interrupted job resumes), never tracked;
* ``<results>/runs/<name>/<task>/.../seed<k>/`` — the job's record (``metrics.csv`` +
  ``summary.json``), written when training has finished;
* ``experiments/runs/<name>/<task>/.../seed<k>/`` (or ``runs:`` in the config) — the published
  record, the committed data the results page is built from; written only when the workflow is
  asked to publish.

A job is finished when either record exists; a finished job is never run again.
"""

from __future__ import annotations

import copy
import itertools
import json
import shlex
from pathlib import Path
from typing import Any

from neuromod_data import names
from neuromod_data.training_defaults import TRAINING_DEFAULTS

__all__ = [
    "FLAGS",
    "GATES",
    "graph_args",
    "graph_file",
    "is_finished",
    "job_dir",
    "jobs",
    "load",
    "parse_structure",
    "physiology_args",
    "physiology_inputs",
    "published_dir",
    "record_dir",
    "targets",
    "task_options",
    "train_command",
    "train_inputs",
    "validate",
]

DEFAULT_CONFIG = "workflows/config/reproduction.yaml"
#: gate names a structure may end in: the shared vocabulary plus the former name of grid-shuffled
GATES: tuple[str, ...] = (*names.GATES, "shuffled")
#: task settings always given to ``neuromod train`` as flags, with their defaults; every other
#: setting that is a single value is given as a flag too (``l1: 0.01`` → ``--l1 0.01``), so that
#: the recorded command shows it; mappings (``task_options``, ``network``) go through ``--config``
FLAGS: dict[str, Any] = {
    "iterations": None,
    "batch_size": None,
    "lr": 2.5e-3,
    "validate_every": 25,
    "validation_batches": 1,
}
_MAPPINGS = ("task_options", "network")
#: settings whose default is on and whose flag switches them off
_NEGATED = {"heterogeneity": "--no-heterogeneity"}


def load(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``reproduction`` section of a Snakemake ``config`` (``--configfile``), else of
    ``workflows/config/reproduction.yaml``; validated (:func:`validate`)."""
    if config and "reproduction" in config:
        rc = config["reproduction"]
    else:
        from neuromod_data.config_check import load_yaml

        rc = load_yaml(DEFAULT_CONFIG)["reproduction"]  # a key given twice is refused
    validate(rc)
    return switched(rc, config or {})


#: what ``smoke=true`` shrinks every task to: a few iterations of small batches, to check that a
#: grid runs end to end in minutes
SMOKE = {"iterations": 10, "batch_size": 4, "validate_every": 5, "validation_batch_size": 4,
         "checkpoint_every": 5}  # fmt: skip


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1", "yes")


def switched(rc: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The grid under the workflow's switches (``--config smoke=true`` / ``retrain=true``).

    ``retrain``: every job trains again, whatever is published; records and the page go to
    ``<results>/retrain`` and the "published" copies to ``<results>/retrain/published``, never
    over the committed runs. ``smoke``: the same, under ``<results>/smoke``, with every task
    shrunk to :data:`SMOKE` (lower values kept) and only each grid entry's first seed. Without
    either switch the grid is returned unchanged.

    Examples
    --------
    >>> rc = {"name": "g", "results": "results/g", "tasks": {"evidence_accumulation":
    ...       {"iterations": 2000, "batch_size": 64}}, "grid": [{"tasks": ["evidence_accumulation"],
    ...       "rules": ["bptt"], "structures": ["ei"], "seeds": [0, 1, 2]}]}
    >>> s = switched(rc, {"smoke": "true"})
    >>> s["tasks"]["evidence_accumulation"]["iterations"], s["grid"][0]["seeds"], s["runs"]
    (10, [0], 'results/g/smoke/published')
    """
    smoke, retrain = _truthy(config.get("smoke", False)), _truthy(config.get("retrain", False))
    if not (smoke or retrain):
        return rc
    out = copy.deepcopy(rc)
    where = f"{_results(rc)}/{'smoke' if smoke else 'retrain'}"
    out["results"], out["runs"] = where, f"{where}/published"
    if smoke:
        for settings in out["tasks"].values():
            for key, value in SMOKE.items():
                current = settings.get(key)
                settings[key] = value if current is None else min(int(current), value)
        for entry in out["grid"]:
            entry["seeds"] = list(entry["seeds"])[:1]
    return out


def _train_settings() -> set[str]:
    """Settings ``neuromod train --config`` accepts (the table the command reads, not repeated
    here; a library module never imports a command)."""
    return set(TRAINING_DEFAULTS)


#: the grid's JSON schema: the one check of every key and value (its type, range, spelling)
SCHEMA = Path(__file__).resolve().parents[2] / "workflows" / "schemas" / "reproduction.schema.yaml"


def validate(rc: dict[str, Any]) -> None:
    """Check a grid: every key and value against the JSON schema (:data:`SCHEMA`, the one check of
    each setting: a :class:`~neuromod_data.config_check.ConfigError` line naming the key), then the
    rules no schema states, which join several settings or another table (``ValueError``)."""
    from neuromod_data.config_check import ConfigError, check_config
    from neuromod_data.errors import DependencyError

    if not SCHEMA.is_file():
        raise ConfigError(f"{SCHEMA}: the grid's schema is missing (grids need a source checkout)")
    try:
        import jsonschema  # noqa: F401 - check_config needs it; say which extra installs it
    except ImportError as exc:
        raise DependencyError(
            "checking a grid config needs jsonschema, which is not installed; install the "
            "'workflows' extra: pip install \"neuromod[workflows]\" (or pip install jsonschema)"
        ) from exc
    check_config({"reproduction": rc}, SCHEMA)
    # a task's settings are those `neuromod train --config` takes (its table, not a schema)
    known = _train_settings() - {"task", "rule", "structure", "gate", "seed", "device"}
    for task, settings in rc["tasks"].items():
        extra = set(settings) - known
        if extra:
            raise ValueError(
                f"reproduction config: task {task}: unknown settings {sorted(extra)}; "
                f"`neuromod train` knows {sorted(known)}"
            )
    for dataset, d in (rc.get("structures") or {}).items():
        if d["source"] in ("local", "npz") and not d.get("path"):
            raise ValueError(f"reproduction config: structure {dataset!r} needs a `path`")
        phys = d.get("physiology")
        if phys is not None and not (phys.get("ephys") or phys.get("connectivity")):
            raise ValueError(
                f"reproduction config: structure {dataset!r}: physiology needs `ephys` and/or "
                "`connectivity`"
            )
    for pair in rc.get("contrasts") or []:
        if pair[0] == pair[1]:  # a pair (two items) the schema checks
            raise ValueError(
                f"reproduction config: contrast {pair!r} must name two different datasets"
            )
        for dataset in pair:
            if dataset not in (rc.get("structures") or {}):
                raise ValueError(
                    f"reproduction config: contrast {list(pair)!r} names dataset {dataset!r}, "
                    "which is not under `structures`"
                )
    if runs_dir(rc) == f"{local_runs_root(rc)}/{rc['name']}":
        raise ValueError("reproduction config: `runs` must differ from <results>/runs/<name>")
    for job in jobs(rc):
        if job["task"] not in rc["tasks"]:
            raise ValueError(
                f"reproduction config: grid uses task {job['task']!r} without settings"
            )
        dataset, gate = parse_structure(job["structure"])
        if dataset is not None and dataset not in (rc.get("structures") or {}):
            raise ValueError(
                f"reproduction config: structure {job['structure']!r} needs dataset {dataset!r} "
                "under `structures`"
            )
        if gate is not None and job["rule"] != "mdgl":
            raise ValueError(f"reproduction config: gate in {job['structure']!r} needs rule mdgl")


def parse_structure(name: str) -> tuple[str | None, str | None]:
    """Split a structure name into (dataset, gate).

    Examples
    --------
    >>> parse_structure("ei"), parse_structure("toy_cortex"), parse_structure("m1-label-permuted")
    ((None, None), ('toy_cortex', None), ('m1', 'label-permuted'))
    """
    if name == "ei":
        return None, None
    # gate names may hold a hyphen themselves ("label-permuted"): try the longest match first
    for gate in sorted(GATES, key=len, reverse=True):
        if name.endswith(f"-{gate}") and len(name) > len(gate) + 1:
            return name[: -len(gate) - 1], gate
    if "-" in name:
        dataset, _, gate = name.rpartition("-")
        raise ValueError(f"structure {name!r}: unknown gate {gate!r}; known: {GATES}")
    return name, None


def jobs(rc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (task, rule, structure, seed) of the grid, without duplicates, in config order."""
    out, seen = [], set()
    for entry in rc["grid"]:
        for task, rule, structure, seed in itertools.product(
            entry["tasks"], entry["rules"], entry["structures"], entry["seeds"]
        ):
            key = (task, rule, structure, int(seed))
            if key not in seen:
                seen.add(key)
                out.append(dict(zip(("task", "rule", "structure", "seed"), key, strict=True)))
    return out


def _results(rc: dict[str, Any]) -> str:
    return str(rc["results"]).rstrip("/")


def _tail(job: dict[str, Any]) -> str:
    return f"{job['task']}/{job['rule']}/{job['structure']}/seed{job['seed']}"


def runs_dir(rc: dict[str, Any]) -> str:
    """The published folder of this grid's runs (``runs`` in the config, default
    ``experiments/runs/<name>``)."""
    return str(rc.get("runs") or f"experiments/runs/{rc['name']}").rstrip("/")


def local_runs_root(rc: dict[str, Any]) -> str:
    """``<results>/runs``: the unpublished records, one folder per grid name below it."""
    return f"{_results(rc)}/runs"


def published_dir(rc: dict[str, Any], job: dict[str, Any]) -> str:
    """``experiments/runs/<name>/<task>/<rule>/<structure>/seed<k>`` (or below ``runs``)."""
    return f"{runs_dir(rc)}/{_tail(job)}"


def record_dir(rc: dict[str, Any], job: dict[str, Any]) -> str:
    """``<results>/runs/<name>/<task>/<rule>/<structure>/seed<k>``: the job's own record."""
    return f"{local_runs_root(rc)}/{rc['name']}/{_tail(job)}"


def job_dir(rc: dict[str, Any], job: dict[str, Any]) -> str:
    """``<results>/train/<task>/<rule>/<structure>/seed<k>``: the ``neuromod train`` folder."""
    return f"{_results(rc)}/train/{_tail(job)}"


def _has_record(folder: str) -> bool:
    d = Path(folder)
    return (d / "metrics.csv").is_file() and (d / "summary.json").is_file()


def is_finished(rc: dict[str, Any], job: dict[str, Any]) -> bool:
    """Whether the job's record exists, published or not."""
    return _has_record(published_dir(rc, job)) or _has_record(record_dir(rc, job))


def targets(rc: dict[str, Any], *, publish: bool = False) -> list[str]:
    """The record files of every job: the published ones when publishing; otherwise the job's
    own record, or the published one where that already exists (so nothing is run again)."""
    out = []
    for j in jobs(rc):
        pub = published_dir(rc, j)
        folder = pub if publish or _has_record(pub) else record_dir(rc, j)
        out += [f"{folder}/metrics.csv", f"{folder}/summary.json"]
    return out


def graph_file(rc: dict[str, Any], dataset: str) -> str:
    """The dataset's ``structure.npz`` from ``neuromod graph`` (or, for ``source: npz``, the file
    the config names)."""
    d = (rc.get("structures") or {}).get(dataset) or {}
    if d.get("source") == "npz":
        return str(d["path"])
    return f"{_results(rc)}/structures/{dataset}/structure.npz"


def structure_file(rc: dict[str, Any], dataset: str) -> str:
    """The structure the dataset's networks are built from: :func:`graph_file`, or, with a
    ``physiology`` section, that structure with intrinsic parameters and connectivity added by
    ``neuromod physiology`` (under ``<results>/physiology/<dataset>/``, with its tables and
    figures)."""
    d = (rc.get("structures") or {}).get(dataset) or {}
    if d.get("physiology"):
        return f"{_results(rc)}/physiology/{dataset}/structure.npz"
    return graph_file(rc, dataset)


def physiology_inputs(rc: dict[str, Any], dataset: str) -> dict[str, str]:
    """Inputs of the physiology step of one dataset: its graph structure and the tables."""
    phys = rc["structures"][dataset]["physiology"]
    files = {"structure": graph_file(rc, dataset)}
    for key in ("ephys", "ephys_metadata", "ephys_warm", "ephys_warm_metadata", "connectivity"):
        if phys.get(key):
            files[key] = str(phys[key])
    return files


def physiology_args(rc: dict[str, Any], dataset: str) -> str:
    """Options of ``neuromod physiology`` for one dataset (after the structure), shell-quoted."""
    phys = rc["structures"][dataset]["physiology"]
    args: list[str] = []
    for key in ("ephys", "ephys_metadata", "ephys_warm", "ephys_warm_metadata", "method",
                "room_celsius", "warm_celsius", "label", "fallback_label", "min_cells",
                "connectivity", "layer"):  # fmt: skip
        if phys.get(key) is not None:
            args += ["--" + key.replace("_", "-"), str(phys[key])]
    args += shlex.split(str(phys.get("extra_args") or ""))
    return shlex.join(args)


def options_file(rc: dict[str, Any], task: str) -> str:
    return f"{_results(rc)}/options/{task}.json"


def task_options(rc: dict[str, Any], task: str) -> dict[str, Any]:
    """What goes through ``neuromod train --config``: the task's mappings (``task_options`` —
    keyword arguments of the task —, ``network`` — overrides of its network settings)."""
    s = rc["tasks"][task]
    out = {
        k: (v or {}) for k, v in s.items() if isinstance(v, dict) or v is None and k in _MAPPINGS
    }
    for key in _MAPPINGS:
        out.setdefault(key, {})
    return out


def _flag_args(settings: dict[str, Any]) -> list[str]:
    args: list[str] = []
    scalars = {**{k: settings.get(k, d) for k, d in FLAGS.items()}, **settings}
    for key, value in scalars.items():
        if key in _MAPPINGS or isinstance(value, dict) or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key in _NEGATED:  # on by default: only switching it off has a flag
            args += [] if value else [_NEGATED[key]]
        elif isinstance(value, bool):
            args += [flag] if value else []
        else:
            args += [flag, str(value)]
    return args


def train_command(rc: dict[str, Any], job: dict[str, Any]) -> str:
    """The ``neuromod train`` command line of one job (recorded verbatim in its summary.json)."""
    s = rc["tasks"][job["task"]]
    dataset, gate = parse_structure(job["structure"])
    args = ["neuromod", "train", "--task", job["task"], "--rule", job["rule"]]
    if dataset is not None:
        args += ["--structure", structure_file(rc, dataset)]
        if job["rule"] == "mdgl":
            args += ["--gate", gate or "data"]
    args += _flag_args(s)
    if dataset is not None and rc["structures"][dataset].get("heterogeneity") is False:
        # the dataset's neurons take their type's median (docs/design.md, "Networks from data")
        args += [] if _NEGATED["heterogeneity"] in args else [_NEGATED["heterogeneity"]]
    args += [
        "--seed", str(job["seed"]),
        "--config", options_file(rc, job["task"]),
        "--no-progress",
        "--out", job_dir(rc, job),
    ]  # fmt: skip
    return shlex.join(args)


def job_from_wildcards(wc: Any) -> dict[str, Any]:
    return {"task": wc.task, "rule": wc.lrule, "structure": wc.structure, "seed": int(wc.seed)}


def train_inputs(rc: dict[str, Any], job: dict[str, Any]) -> dict[str, str]:
    """Inputs of a training job; none once it is finished, so a finished job is never rerun (and
    nothing upstream of it is rebuilt) whatever the timestamps of a fresh clone."""
    if is_finished(rc, job):
        return {}
    inputs = {"options": options_file(rc, job["task"])}
    dataset, _ = parse_structure(job["structure"])
    if dataset is not None:
        inputs["structure"] = structure_file(rc, dataset)
    return inputs


def publish_inputs(rc: dict[str, Any], job: dict[str, Any]) -> dict[str, str]:
    """Inputs of publishing a job's record: its own record; none once published."""
    if _has_record(published_dir(rc, job)):
        return {}
    d = record_dir(rc, job)
    return {"metrics": f"{d}/metrics.csv", "summary": f"{d}/summary.json"}


def structure_inputs(rc: dict[str, Any], dataset: str) -> dict[str, str]:
    d = rc["structures"][dataset]
    if d["source"] == "toy":
        return {"data": f"{_results(rc)}/data/{dataset}.h5ad"}
    files = {"data": d["path"]}
    if d.get("metadata"):
        files["metadata"] = d["metadata"]
    if d.get("abundances"):
        files["abundances"] = d["abundances"]["table"]
        if d["abundances"].get("extra_cells"):
            files["abundance_cells"] = d["abundances"]["extra_cells"]
    return files


def graph_args(rc: dict[str, Any], dataset: str, inputs: Any) -> str:
    """Options of ``neuromod graph`` for one dataset (after the input file), shell-quoted."""
    d = rc["structures"][dataset]
    g = rc.get("graph") or {}
    args = []
    if d["source"] != "toy" and d.get("metadata"):
        args += ["--metadata", str(inputs.metadata)]
    args += [
        "--groupby", d["groupby"],
        "--resource", g.get("resource", "neuropeptides"),
        "--method", g.get("method", "smith2019"),
    ]  # fmt: skip
    if g.get("method", "smith2019") == "cellphonedb":  # the only method with permutations
        args += ["--n-perms", str(g.get("n_perms", 0))]
    ab = d.get("abundances")
    if ab:  # tissue abundances from a taxonomy's cell counts (neuromod graph --abundances)
        args += ["--abundances", str(inputs.abundances)]
        for opt in ("key", "count", "via", "expand", "subclass", "shared"):
            if ab.get(opt):
                args += [f"--abundance-{opt}", str(ab[opt])]
        if ab.get("extra_cells"):
            args += ["--abundance-extra-cells", str(inputs.abundance_cells)]
    # extra options are split like a shell would and each word quoted: never run as shell code
    args += shlex.split(str(g.get("extra_args") or ""))
    return shlex.join(args)


def job_json(job: dict[str, Any]) -> str:
    return json.dumps(job, sort_keys=True)
