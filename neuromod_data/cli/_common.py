"""Helpers of the commands that train or score networks (``neuromod train``, ``neuromod align``):
keyword options checked against a signature, the memory a run needs checked before anything is
allocated, a structure file loaded and hashed, the thread count set."""

from __future__ import annotations

from typing import Any

from neuromod_data.cli._args import (
    check_setting,
    finite_float,
    int_at_least,
    n_workers,
)
from neuromod_data.cli._train_settings import DEFAULTS, _flag
from neuromod_data.errors import (
    FormatError,
    NeuromodError,
    UsageError,
)


def check_options(where: str, given: dict[str, Any], func: Any, skip: tuple = ()) -> None:
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


def check_sizes(
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


def load_structure(path: str | None):
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


def set_threads(requested: int | None) -> int:
    """Use ``requested`` threads, else ``$NEUROMOD_THREADS``, else 1 (see
    :mod:`neuromod_data.cli.train`)."""
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


def content_hash(structure: Any) -> str:
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
