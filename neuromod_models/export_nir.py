"""A trained network of LIF neurons as a NIR graph (the neuromorphic exchange format, ``nir``).

:func:`export_nir` writes ``DIR/<name>.nir`` (HDF5, :func:`nir.write`), a graph of seven nodes::

    input ─▶ w_in (Linear) ─▶ lif (LIF) ─▶ readout_filter (LI) ─▶ w_out (Affine) ─▶ output
                               ▲       │
                               └ w_rec (Linear) ◀┘

The constants come from our discrete-time equations (docs/design.md, "Neuron model"), read as
the exact solution over one step dt of NIR's continuous-time nodes:

- ``lif``: NIR's ``τ dv/dt = (v_leak − v) + R I`` held over a step gives
  ``v^t = e^{−dt/τ} v^{t−1} + (1 − e^{−dt/τ}) R I^t``, which is ours with ``τ = −dt / ln α``,
  ``R = 1``, ``v_leak = 0``; ``v_threshold = v_th``. ``I = W^in x + W^rec z`` with the signed
  effective weights ``sign · relu(θ)`` (cut synapses 0) as dense ``Linear`` weights; the cycle
  through ``w_rec`` is the one-step recurrent delay (NIR's convention for a cycle; no ``Delay``
  node, which would add a second step).
- ``readout_filter`` and ``w_out``: our ``psp^t = κ psp^{t−1} + (1 − κ) z^t`` is an ``LI`` node with
  ``τ = −dt / ln κ = τ_out``, ``R = 1``, ``v_leak = 0``, and ``y = W^out psp + b`` an ``Affine``.

What NIR cannot say, and where the graph differs from the model (recorded in the ``lif`` node's
metadata and the graph's, under ``neuromod``):

- **Reset by subtraction**: ours subtracts v_th after a spike; NIR's LIF resets to ``v_reset``
  (set to 0 here; whether NIR should express subtraction is an open question there). A consumer
  that honours the metadata's ``reset: "subtract"`` reproduces our model.
- **Refractory period**: NIR's LIF has none; ``n_ref`` (steps) and ``t_ref`` (ms) per neuron are
  in the metadata. A network with n_ref > 0 runs without it in a plain NIR consumer.
- **Discretisation**: a consumer integrating by forward Euler at dt uses ``1 − dt/τ`` for α, equal
  to ours to first order in dt/τ only (α itself, and dt, are in the metadata).
- **Adaptive thresholds (ALIF)**: NIR has no adaptive-threshold primitive. A network with any
  neuron of β > 0 is refused (:class:`~neuromod_data.errors.UsageError`): a graph that ran its
  adaptive neurons as plain LIF neurons would be a different network that looks like ours. Export
  such a network to SONATA or NEST instead, which keep the adaptation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neuromod_data._files import atomic_path
from neuromod_data.errors import DependencyError, UsageError

from .model_file import ModelContents, read_model

__all__ = ["export_nir", "nir_graph"]


def _import_nir():
    try:
        import nir
    except ImportError:
        raise DependencyError("NIR export needs nir: pip install 'neuromod[nir]'") from None
    return nir


def _name_ok(name: str) -> str:
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"name must be letters, digits, '_' or '-', got {name!r}")
    return name


def nir_graph(model: str | os.PathLike | ModelContents):
    """The NIR graph of a LIF network (see the module docstring), without writing it.

    Raises
    ------
    UsageError
        A neuron adapts (β > 0): NIR has no adaptive-threshold primitive.
    DependencyError
        ``nir`` is not installed.
    """
    m = model if isinstance(model, ModelContents) else read_model(model)
    a, cfg = m.arrays, m.config
    n_adapt = int((a["beta"] > 0).sum())
    if n_adapt:  # said before nir is needed: no install would make it exportable
        raise UsageError(
            f"{m.path}: {n_adapt} of {len(a['beta'])} neurons adapt (β > 0) and NIR has no "
            "adaptive-threshold primitive; export it with --to sonata or --to nest instead"
        )
    nir = _import_nir()
    dt = float(cfg.get("dt", 1.0))
    n, n_in = a["in_mask"].shape
    alpha = a["alpha"].astype(np.float64)
    kappa = float(np.exp(-dt / float(cfg.get("tau_out", 20.0))))
    # effective weights exactly as the network forms them: sign · relu(θ) on the masks
    w_in = a["in_mask"] * a["in_sign"][None, :] * np.maximum(a["theta_in"], 0)
    w_rec = np.zeros((n, n), dtype=a["theta_rec"].dtype)
    w_rec[a["rec_post"], a["rec_pre"]] = a["signs"][a["rec_pre"]] * np.maximum(a["theta_rec"], 0)
    w_out = a["out_mask"] * a["out_sign"][None, :] * np.maximum(a["theta_out"], 0)
    n_out = w_out.shape[0]
    zeros = np.zeros(n)
    lif_meta = {
        "reset": "subtract",
        "alpha": alpha,
        "dt": dt,
        "n_ref": a["n_ref"].astype(np.int64),
        "t_ref": a["n_ref"].astype(np.float64) * dt,
    }
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "w_in": nir.Linear(weight=w_in),
        "lif": nir.LIF(
            tau=-dt / np.log(alpha),
            r=np.ones(n),
            v_leak=zeros,
            v_threshold=a["v_th"].astype(np.float64),
            v_reset=zeros,
            metadata=lif_meta,
        ),
        "w_rec": nir.Linear(weight=w_rec),
        "readout_filter": nir.LI(
            tau=np.full(n, -dt / np.log(kappa)), r=np.ones(n), v_leak=zeros.copy()
        ),
        "w_out": nir.Affine(weight=w_out, bias=a["b_out"]),
        "output": nir.Output(output_type={"output": np.array([n_out])}),
    }
    edges = [
        ("input", "w_in"),
        ("w_in", "lif"),
        ("lif", "w_rec"),
        ("w_rec", "lif"),
        ("lif", "readout_filter"),
        ("readout_filter", "w_out"),
        ("w_out", "output"),
    ]
    meta = {
        "source": "neuromod",
        "dt": dt,
        "reset": "subtract",
        "cell_types": ",".join(m.structure.names),
        "type_index": a["type_index"].astype(np.int64),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def export_nir(
    model: str | os.PathLike | ModelContents,
    out_dir: str | os.PathLike,
    *,
    name: str = "neuromod",
) -> Path:
    """Write a LIF network as ``out_dir/<name>.nir`` (see the module docstring).

    Parameters
    ----------
    model
        A model file, a run folder holding ``model.npz``, or what :func:`read_model` returned.
    out_dir
        Output folder (created).
    name
        File name stem (letters, digits, ``_``, ``-``).

    Returns
    -------
    The file written.

    Raises
    ------
    UsageError
        A neuron adapts (β > 0): NIR has no adaptive-threshold primitive.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import nir
    >>> from neuromod_models import SpikingNetwork, save_model
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> p = save_model(tmp / "model.npz", SpikingNetwork(4, 10, 2, n_adaptive=0, seed=0))
    >>> g = nir.read(export_nir(p, tmp / "nir"))
    >>> g.nodes["w_rec"].weight.shape, type(g.nodes["lif"]).__name__
    ((10, 10), 'LIF')
    """
    graph = nir_graph(model)
    nir = _import_nir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{_name_ok(name)}.nir"
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return path
