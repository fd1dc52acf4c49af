"""The model file: one ``model.npz`` per run that holds a trained network whole.

``neuromod train`` leaves ``checkpoint.pt`` for resuming (optimiser state, history; torch's
format). What a run *produced* — the trained network — goes into ``model.npz`` (docs/design.md,
"Workflow and run data"): a plain ``numpy.savez`` archive that loads with ``allow_pickle=False``,
readable without torch, written atomically at every checkpoint and at the end of training.

Layout (format version 1; every array numeric or a unicode string array):

``format``, ``format_version``
    ``"neuromod-model"`` and 1.
``meta``
    JSON: the network's ``config``, the task (``task.config()``, which ``make_task(**task)``
    rebuilds), the rule (``rule.config()``), the iteration reached, the names of the network
    arrays, and provenance (neuromod version, git commit of the code and its count of
    uncommitted files, arithmetic version of :mod:`neuromod_models._arithmetic`).
``network/<name>``
    Every tensor of the network's state dict, in its own dtype: the trained magnitudes θ
    (``theta_in``, ``theta_rec``, ``theta_out``, ``b_out``), the synapse list (``rec_pre``,
    ``rec_post``, ``rec_indptr``: CSR by presynaptic neuron, one θ per synapse) and masks
    (``in_mask``, ``out_mask``), the signs (``signs`` per neuron, ``in_sign``, ``out_sign``) and the
    per-neuron constants (``alpha``, ``rho``, ``beta``, ``v_th``, ``n_ref``, ``type_index``,
    ``adaptive``). The constants are stored, not re-drawn: a network from a structure with
    intrinsic parameters is restored as it was trained even if the sampling code changes.
``structure/<name>``
    The :class:`~neuromod_data.structure.CellTypeStructure` in its own ``.npz`` format
    (:meth:`~neuromod_data.structure.CellTypeStructure.save`), each of its arrays under this prefix;
    its format version travels with it and is checked by its own reader.

:func:`load_model` rebuilds the :class:`~neuromod_models.SpikingNetwork` from these arrays (no
random draw decides anything) and the task; its outputs equal the trained network's bit for bit.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuromod_data._files import atomic_path, require_file
from neuromod_data.errors import FormatError, InputFileError
from neuromod_data.structure import CellTypeStructure

from ._arithmetic import ARITHMETIC_VERSION
from .network import SpikingNetwork
from .tasks import Task, make_task

__all__ = [
    "MODEL_FORMAT_VERSION",
    "MODEL_NAME",
    "ModelContents",
    "load_model",
    "model_path",
    "read_model",
    "save_model",
]

#: file name of the model inside a run folder
MODEL_NAME = "model.npz"
#: layout version of the archive (the embedded structure carries its own)
MODEL_FORMAT_VERSION = 1
_FORMAT = "neuromod-model"
_NET, _STRUCT = "network/", "structure/"
# options of SpikingNetwork that only shape the random initial draws, or that the stored arrays
# replace; the rest of the config (tau_out, dt, gamma, surrogate) sets constants the state dict
# does not hold
_REBUILD = ("tau_out", "dt", "gamma", "surrogate")


@dataclass(frozen=True)
class ModelContents:
    """What a model file holds, as numpy arrays (no torch needed to read it).

    ``arrays``: the network's state dict by name; ``structure``: its cell types; ``meta``: config,
    task, rule, iteration and provenance (see the module docstring); ``path``: the file read.
    """

    arrays: dict[str, np.ndarray]
    structure: CellTypeStructure
    meta: dict[str, Any]
    path: Path

    @property
    def config(self) -> dict[str, Any]:
        """The network's ``config`` (:class:`~neuromod_models.SpikingNetwork` settings)."""
        return dict(self.meta["network"])

    @property
    def task(self) -> dict[str, Any] | None:
        """The task's ``config()`` (``make_task(**task)`` rebuilds it), or ``None``."""
        return self.meta.get("task")

    @property
    def rule(self) -> dict[str, Any] | None:
        """The learning rule's ``config()`` (``name``, ``variant``, ``gate``, ...), or ``None``."""
        return self.meta.get("rule")


def model_path(run: str | os.PathLike) -> Path:
    """``run/model.npz`` for a run folder, ``run`` itself for a file.

    Raises
    ------
    InputFileError
        Neither a model file nor a run folder with one; the message says how to get one.
    """
    p = Path(run).expanduser()
    if p.is_dir():
        f = p / MODEL_NAME
        if f.is_file():
            return f
        how = (
            f"rerun `neuromod train --out {p}`: a finished run then writes {MODEL_NAME} from its "
            "checkpoint and changes nothing else"
            if (p / "checkpoint.pt").is_file()
            else "train one with `neuromod train --out DIR`"
        )
        raise InputFileError(f"{p} holds no {MODEL_NAME} (runs trained before it existed): {how}")
    return require_file(p, "model file")


@functools.lru_cache(maxsize=1)
def _code_state() -> tuple[str | None, int | None]:
    """Commit and count of uncommitted files under the package folders of the code that runs
    (asked of git once per process: checkpoints are frequent)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                 check=True, timeout=10)  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", "neuromod_models", "neuromod_data")
    dirty = None if status is None else sum(1 for line in status.splitlines() if line.strip())
    return (commit.strip() or None) if commit else None, dirty


def _provenance() -> dict[str, Any]:
    from neuromod_data import __version__

    commit, dirty = _code_state()
    return {
        "neuromod_version": __version__,
        "commit": commit,
        "uncommitted_files": dirty,
        "arithmetic_version": ARITHMETIC_VERSION,
        "torch_version": torch.__version__,
    }


def _structure_arrays(structure: CellTypeStructure) -> dict[str, np.ndarray]:
    # the structure's own writer defines its format; it writes to a path, so go through a
    # temporary folder (private to this call) and take its arrays back
    with tempfile.TemporaryDirectory(prefix="neuromod-structure-") as tmp:
        path = structure.save(Path(tmp) / "structure.npz")
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}


def _structure_from(arrays: dict[str, np.ndarray], where: Path) -> CellTypeStructure:
    with tempfile.TemporaryDirectory(prefix="neuromod-structure-") as tmp:
        path = Path(tmp) / "structure.npz"
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        try:
            return CellTypeStructure.load(path)
        except FormatError as exc:
            # name the model file, not the temporary
            msg = str(exc).replace(str(path), f"{where} [{_STRUCT}*]")
            raise FormatError(msg) from None


def save_model(
    path: str | os.PathLike,
    net: SpikingNetwork,
    *,
    task: Task | None = None,
    rule: Any = None,
    iteration: int | None = None,
) -> Path:
    """Write ``net`` (with its structure, ``task`` and ``rule`` settings) to ``path`` atomically.

    Parameters
    ----------
    path
        The ``.npz`` file to write (``neuromod train`` writes ``RUN/model.npz``).
    net
        The network; every tensor of its state dict is stored in its own dtype (moved to the CPU).
    task, rule
        Recorded as ``task.config()`` and ``rule.config()`` (``None``: not recorded).
    iteration
        Training iterations the network has had.

    Returns
    -------
    The path written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuromod_models import SpikingNetwork
    >>> net = SpikingNetwork(4, 10, 2, seed=0)
    >>> p = save_model(pathlib.Path(tempfile.mkdtemp()) / "model.npz", net)
    >>> loaded, task = load_model(p)
    >>> bool(torch.equal(loaded.theta_rec, net.theta_rec)), task is None
    (True, True)
    """
    if not isinstance(net, SpikingNetwork):
        raise TypeError(f"save_model takes a SpikingNetwork, got {type(net).__name__}")
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    meta = {
        "network": net.config,
        "dtype": str(net.theta_rec.dtype).removeprefix("torch."),
        "arrays": sorted(state),
        "task": task.config() if task is not None else None,
        "rule": (rule.config() if hasattr(rule, "config") else repr(rule))
        if rule is not None
        else None,
        "rule_repr": repr(rule) if rule is not None else None,
        "iteration": None if iteration is None else int(iteration),
        "provenance": _provenance(),
    }
    arrays: dict[str, np.ndarray] = {
        "format": np.array(_FORMAT),
        "format_version": np.array(MODEL_FORMAT_VERSION),
        "meta": np.array(json.dumps(meta, default=str, sort_keys=True)),
        **{_NET + k: v for k, v in state.items()},
        **{_STRUCT + k: v for k, v in _structure_arrays(net.structure).items()},
    }
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def read_model(path: str | os.PathLike) -> ModelContents:
    """Read a model file (or a run folder's ``model.npz``) into numpy arrays; torch is not used.

    Raises
    ------
    InputFileError
        No such file (or a run folder without one: the message says how to get it).
    FormatError
        Not a neuromod model file, a newer format version, or a damaged archive (naming the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuromod_models import SpikingNetwork
    >>> p = save_model(pathlib.Path(tempfile.mkdtemp()) / "model.npz", SpikingNetwork(4, 10, 2))
    >>> m = read_model(p)
    >>> m.structure.names, m.arrays["signs"].shape, m.meta["provenance"]["arithmetic_version"]
    (('E', 'I'), (10,), 1)
    """
    p = model_path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            if "format" not in z.files or str(z["format"]) != _FORMAT:
                raise FormatError(f"{p} is not a neuromod model file (no format {_FORMAT!r})")
            version = int(z["format_version"])
            if version > MODEL_FORMAT_VERSION:
                raise FormatError(
                    f"{p}: model format version {version}; this version of neuromod reads up to "
                    f"{MODEL_FORMAT_VERSION} (a newer neuromod wrote it?)"
                )
            meta = json.loads(str(z["meta"]))
            arrays = {k[len(_NET) :]: z[k] for k in z.files if k.startswith(_NET)}
            struct = {k[len(_STRUCT) :]: z[k] for k in z.files if k.startswith(_STRUCT)}
    except FormatError:
        raise
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        text = " ".join(str(exc).split())
        raise FormatError(f"{p} is not a readable neuromod model file ({text})") from None
    missing = sorted(set(meta.get("arrays", ())) - set(arrays))
    if missing:
        raise FormatError(f"{p}: model file lacks network array(s) {', '.join(missing)}")
    return ModelContents(arrays, _structure_from(struct, p), meta, p)


def load_model(
    path: str | os.PathLike, *, device: torch.device | str | None = None
) -> tuple[SpikingNetwork, Task | None]:
    """A ready :class:`~neuromod_models.SpikingNetwork` and its task from a model file.

    Parameters
    ----------
    path
        ``model.npz``, or a run folder holding one.
    device
        Where the network's tensors go (default: the CPU).

    Returns
    -------
    ``(net, task)``: the network in the dtype it was trained in, every parameter, synapse and
    neuron constant as stored (its outputs equal the trained network's bit for bit on the same
    input), and the task rebuilt from its settings (``None`` when none was recorded).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuromod_models import SpikingNetwork
    >>> from neuromod_models.tasks import make_task
    >>> task = make_task("evidence_accumulation", T=100, t_cue=5, t_interval=10,
    ...                  recall_duration=20)
    >>> net = SpikingNetwork(**task.network_kwargs(), seed=1)
    >>> p = save_model(pathlib.Path(tempfile.mkdtemp()) / "model.npz", net, task=task)
    >>> loaded, task2 = load_model(p)
    >>> x = task2.sample(2, seed=0).x
    >>> bool(torch.equal(loaded(x).y, net(x).y)), task2.T
    (True, 100)
    """
    m = read_model(path)
    cfg = m.config
    dtype = getattr(torch, str(m.meta.get("dtype", "float32")))
    try:
        # a shell of the right sizes and constants; every array it drew is replaced below, so the
        # cheap uniform draws are made (no intrinsic sampling, no connectivity) and none is kept
        net = SpikingNetwork(
            int(cfg["n_in"]),
            int(cfg["n_rec"]),
            int(cfg["n_out"]),
            structure=m.structure,
            n_adaptive=0,
            intrinsic=False,
            connectivity=False,
            **{k: cfg[k] for k in _REBUILD if k in cfg},
            device=device,
            dtype=dtype,
        )
        state = {k: torch.from_numpy(np.array(v)) for k, v in m.arrays.items()}
        net.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        text = " ".join(str(exc).split())
        raise FormatError(f"{m.path}: cannot rebuild the network ({text})") from None
    net.config = dict(cfg)  # the trained network's settings, not the shell's
    task = None
    if m.task is not None:
        try:
            task = make_task(**m.task)
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{m.path}: cannot rebuild the task ({exc})") from None
    return net, task
