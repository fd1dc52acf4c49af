"""A trained network as a NEST script, and its spikes in NEST compared with ours.

:func:`export_nest` writes into ``DIR`` (replaced file by file, atomically):

``nest_network.npz``
    The network as neuromod holds it (float arrays in the network's dtype): the per-neuron
    constants ``alpha``, ``rho``, ``beta``, ``v_th``, ``n_ref``, the signed effective weights
    ``w_in`` ``[N, n_in]``, ``w_rec`` (one per synapse, with ``rec_pre``, ``rec_post``), ``w_out``
    ``[n_out, N]``, ``b_out``, ``kappa``, ``dt``, ``type_index`` and ``type_names``.
``nest_network.py``
    A standalone script (numpy and NEST only; source :mod:`neuromod_models._nest_network`) that
    builds the network from that file in NEST 3.10 with ``eprop_iaf_adapt`` neurons and runs it
    on input spikes: ``python DIR/nest_network.py --input x.npy --out spikes.npz``. Its docstring
    holds the constant mapping (docs/design.md, "Trained models").

:func:`compare_with_nest` runs one trial through the exported script in a subprocess (NEST's
kernel is process-global; this process is left untouched) and through the network here, and
reports where the spike trains first differ. NEST computes in float64: run against the network
in float64 (``reference="float64"``) the two agree to rounding; against the float32 network as
trained the sums are rounded differently, and a neuron whose membrane lands within that rounding
of its threshold may spike in one and not the other.

NEST (``pip install 'neuromod[nest]'``, GPL) is needed only to run the script, never to write it.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from neuromod_data._files import atomic_path
from neuromod_data.errors import DependencyError

from . import _nest_network
from .model_file import ModelContents, load_model, read_model

__all__ = ["NestComparison", "compare_with_nest", "export_nest", "nest_available"]

SCRIPT_NAME = "nest_network.py"
DATA_NAME = _nest_network.DATA_NAME


def nest_available() -> bool:
    """Whether NEST's Python module can be imported (checked without importing it)."""
    return importlib.util.find_spec("nest") is not None


def _arrays(m: ModelContents) -> dict[str, np.ndarray]:
    a, cfg = m.arrays, m.config
    dt = float(cfg.get("dt", 1.0))
    # effective weights exactly as the network forms them: sign · relu(θ) on the masks
    return {
        "alpha": a["alpha"],
        "rho": a["rho"],
        "beta": a["beta"],
        "v_th": a["v_th"],
        "n_ref": a["n_ref"],
        "w_in": a["in_mask"] * a["in_sign"][None, :] * np.maximum(a["theta_in"], 0),
        "rec_pre": a["rec_pre"],
        "rec_post": a["rec_post"],
        "w_rec": a["signs"][a["rec_pre"]] * np.maximum(a["theta_rec"], 0),
        "w_out": a["out_mask"] * a["out_sign"][None, :] * np.maximum(a["theta_out"], 0),
        "b_out": a["b_out"],
        "kappa": np.float64(np.exp(-dt / float(cfg.get("tau_out", 20.0)))),
        "dt": np.float64(dt),
        "type_index": a["type_index"],
        "type_names": np.array(m.structure.names, dtype=str),
    }


def export_nest(
    model: str | os.PathLike | ModelContents, out_dir: str | os.PathLike
) -> dict[str, Path]:
    """Write ``nest_network.npz`` and the script ``nest_network.py`` into ``out_dir``.

    Parameters
    ----------
    model
        A model file, a run folder holding ``model.npz``, or what :func:`read_model` returned.
    out_dir
        Output folder (created; the two files are replaced).

    Returns
    -------
    ``{"data": ..., "script": ...}``: the files written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuromod_models import SpikingNetwork, save_model
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> p = save_model(tmp / "model.npz", SpikingNetwork(4, 10, 2, seed=0))
    >>> files = export_nest(p, tmp / "nest")
    >>> sorted(f.name for f in files.values())
    ['nest_network.npz', 'nest_network.py']
    """
    m = model if isinstance(model, ModelContents) else read_model(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"data": out / DATA_NAME, "script": out / SCRIPT_NAME}
    with atomic_path(files["data"]) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **_arrays(m))
    with atomic_path(files["script"]) as tmp:
        Path(tmp).write_text(inspect.getsource(_nest_network))
    return files


@dataclass(frozen=True)
class NestComparison:
    """Spikes of one trial in NEST against ours.

    ``identical``: every (step, neuron) equal. ``first_step`` / ``first_neurons``: the first step
    whose spikes differ and the neurons that differ there (``None`` / empty when identical);
    ``margin``: our ``v − A`` of the first of them at that step (in units of its v_th), which
    says whether the difference is rounding (a margin of ~1e-6 or less). ``agreement``: the
    fraction of (step, neuron) entries equal. ``max_abs_dy``: the largest readout difference.
    """

    reference: str
    steps: int
    neurons: int
    spikes_ours: int
    spikes_nest: int
    identical: bool
    first_step: int | None
    first_neurons: tuple[int, ...]
    margin: float | None
    agreement: float
    max_abs_dy: float
    nest_seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def _margin(net, x: torch.Tensor, step: int, neuron: int) -> float:
    """Our ``(v − A) / v_th`` of ``neuron`` at ``step`` (before the refractory mask)."""
    from .neurons import initial_state
    from .neurons import step as advance

    p = net.params
    w_in, w_rec = net.w_in.detach(), net.w_rec.detach()
    state = initial_state(1, net.n_rec, dtype=w_in.dtype)
    with torch.no_grad():
        for t in range(step + 1):
            prev = state
            state, _ = advance(state, x[t] @ w_in.T + prev.z @ w_rec.T, p)
    b = p.rho * prev.b + (1 - p.rho) * prev.z  # the adaptation the spike at `step` saw
    d = state.v - p.v_th - p.beta * b
    return float(d[0, neuron] / p.v_th[neuron])


def compare_with_nest(
    model: str | os.PathLike,
    x: np.ndarray | torch.Tensor,
    *,
    reference: str = "float64",
    workdir: str | os.PathLike | None = None,
    python: str = sys.executable,
) -> NestComparison:
    """Run one trial in NEST (a subprocess running the exported script) and here; compare.

    Parameters
    ----------
    model
        A model file or a run folder holding ``model.npz``.
    x
        One trial's input spike counts ``[T, n_in]``.
    reference
        ``"float64"``: our network with every constant and weight cast to float64 (NEST's
        arithmetic); ``"trained"``: our network in the dtype it was trained in.
    workdir
        Where the exported files and the NEST run go (default: a temporary folder, removed).
    python
        The interpreter that runs the script (it must import NEST).

    Raises
    ------
    DependencyError
        NEST is not importable here (``pip install 'neuromod[nest]'``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuromod_models import SpikingNetwork, save_model
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> p = save_model(tmp / "model.npz", SpikingNetwork(4, 10, 2, seed=0))
    >>> x = (torch.rand(50, 4, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    >>> r = compare_with_nest(p, x)  # doctest: +SKIP
    >>> r.identical  # doctest: +SKIP
    True
    """
    import time

    if reference not in ("float64", "trained"):
        raise ValueError(f"reference must be 'float64' or 'trained', got {reference!r}")
    if python == sys.executable and not nest_available():
        raise DependencyError(
            "comparing with NEST needs nest-simulator: pip install 'neuromod[nest]'"
        )
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if xt.dim() != 2:
        raise ValueError(f"x must be one trial [T, n_in], got shape {tuple(xt.shape)}")
    net, _ = load_model(model)
    if reference == "float64":
        net = net.double()
    with torch.no_grad():
        out = net(xt[:, None, :].to(net.theta_rec.dtype))
    z_ours = out.z[:, 0].numpy().astype(np.uint8)
    y_ours = out.y[:, 0].double().numpy()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(workdir) if workdir is not None else Path(scratch)
        files = export_nest(model, work)
        np.save(work / "input.npy", xt.numpy())
        t0 = time.perf_counter()
        proc = subprocess.run(
            [python, str(files["script"]), "--input", str(work / "input.npy"),
             "--out", str(work / "nest_spikes.npz")],
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"the NEST script failed (exit {proc.returncode}): {tail}")
        with np.load(work / "nest_spikes.npz") as res:
            z_nest, y_nest = res["z"], res["y"]

    diff = z_ours != z_nest
    rows = np.flatnonzero(diff.any(axis=1))
    first = int(rows[0]) if len(rows) else None
    neurons = tuple(int(j) for j in np.flatnonzero(diff[first])) if first is not None else ()
    margin = (
        _margin(net, xt[:, None, :].to(net.theta_rec.dtype), first, neurons[0]) if neurons else None
    )
    return NestComparison(
        reference=reference,
        steps=int(z_ours.shape[0]),
        neurons=int(z_ours.shape[1]),
        spikes_ours=int(z_ours.sum()),
        spikes_nest=int(z_nest.sum()),
        identical=first is None,
        first_step=first,
        first_neurons=neurons,
        margin=margin,
        agreement=float(1.0 - diff.mean()),
        max_abs_dy=float(np.abs(y_ours - y_nest).max()),
        nest_seconds=seconds,
    )
