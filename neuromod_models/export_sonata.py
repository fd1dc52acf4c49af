"""A trained network as SONATA files (the format of BMTK, NEST's SONATA reader and libsonata).

:func:`export_sonata` writes, from a model file (:mod:`neuromod_models.model_file`), into
``DIR/network/`` (replaced as a whole, atomically):

``<name>_nodes.h5``, ``<name>_node_types.csv``
    Population ``<name>``: one node per neuron, in the network's order (node id = neuron index).
    One node type per cell type (``node_type_id`` 100, 101, … in type order, as BMTK numbers
    them; columns ``pop_name`` — the type — ``ei``, ``model_type`` ``point_process`` and
    ``model_template`` ``neuromod:alif``). Group ``0`` holds ``dynamics_params`` per node:
    ``tau_m`` and ``tau_a`` (ms, from the stored ``alpha`` and ``rho``), ``alpha``, ``rho``,
    ``beta`` (0 for LIF neurons), ``v_th``, ``n_ref`` (steps), ``t_ref`` (ms) and ``adaptive``
    (docs/design.md, "Neuron model").
``<name>_edges.h5``, ``<name>_edge_types.csv``
    Edge population ``<name>_to_<name>``: every recurrent synapse (cut ones, θ = 0, included with
    weight 0: their place is part of the network) with ``syn_weight`` = the signed effective weight
    ``sign(pre) · relu(θ)`` and ``delay`` = 1 ms (a spike acts on the next 1-ms step), one edge type
    per (source type, target type) pair, sorted by target then source, with SONATA's
    ``indices/source_to_target`` and ``indices/target_to_source``.
``<name>_input_nodes.h5``, ``<name>_input_node_types.csv``, ``<name>_input_<name>_edges.h5``, …
    The input channels as a ``virtual`` population ``<name>_input`` (two node types: excitatory
    and inhibitory channels) and their signed weights onto the neurons, as BMTK writes external
    inputs. In the model an input spike acts within its own step; these edges carry 1 ms, the
    smallest delay a simulator on a 1-ms grid accepts, so a simulator sees the inputs one step
    later.
``<name>_readout.h5``
    Not SONATA (it has no readout): ``weight`` ``[n_out, N]`` (signed), ``bias`` ``[n_out]`` and the
    attribute ``tau_out`` (ms): ``y^t = W psp^t + b``, ``psp^t = κ psp^{t−1} + (1 − κ) z^t``.

Weights are in the network's dtype and equal the effective weights of the trained network bit for
bit; the voltage unit is the model's (docs/design.md, "One input convention").
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from neuromod_data._files import atomic_dir

from .model_file import ModelContents, read_model

__all__ = ["export_sonata"]

_NODE_TYPE0 = 100  # BMTK numbers node types from 100 and edge types from 100
_EDGE_TYPE0 = 100
_MAGIC = 0x0A7A
_VERSION = (0, 1)


def _name_ok(name: str) -> str:
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"name must be letters, digits, '_' or '-', got {name!r}")
    return name


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    # SONATA's type tables are space-separated; a type name with a space is quoted
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=" ", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue())


def _root(h5) -> None:
    h5.attrs["magic"] = np.uint32(_MAGIC)
    h5.attrs["version"] = np.array(_VERSION, dtype=np.uint32)


def _nodes(path: Path, population: str, node_type_id: np.ndarray, dynamics: dict) -> None:
    import h5py

    n = len(node_type_id)
    with h5py.File(path, "w") as h5:
        _root(h5)
        g = h5.create_group(f"nodes/{population}")
        g.create_dataset("node_id", data=np.arange(n, dtype=np.uint64))
        g.create_dataset("node_type_id", data=node_type_id.astype(np.uint64))
        g.create_dataset("node_group_id", data=np.zeros(n, dtype=np.uint32))
        g.create_dataset("node_group_index", data=np.arange(n, dtype=np.uint64))
        grp = g.create_group("0")
        dyn = grp.create_group("dynamics_params")
        for key, values in dynamics.items():
            dyn.create_dataset(key, data=values)


def _ranges(ids: np.ndarray, n_nodes: int, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SONATA's index of edges by node: ``node_id_to_ranges`` ``[n_nodes, 2]`` (rows of
    ``range_to_edge_id``) and ``range_to_edge_id`` ``[R, 2]`` (half-open edge-id ranges), for
    edges listed in ``order`` (edge ids) whose node is ``ids[order]``."""
    sorted_ids = ids[order]
    # runs of consecutive edge ids with the same node, in the order given
    breaks = np.flatnonzero((np.diff(sorted_ids) != 0) | (np.diff(order) != 1)) + 1
    starts = np.concatenate([[0], breaks]) if len(order) else np.array([], dtype=np.int64)
    ends = np.concatenate([breaks, [len(order)]]) if len(order) else starts
    range_to_edge = (
        np.stack([order[starts], order[ends - 1] + 1], axis=1)
        if len(order)
        else (np.zeros((0, 2), dtype=np.int64))
    )
    node_of_range = sorted_ids[starts] if len(order) else starts
    node_to_range = np.zeros((n_nodes, 2), dtype=np.uint64)
    if len(order):
        first = np.searchsorted(node_of_range, np.arange(n_nodes), side="left")
        last = np.searchsorted(node_of_range, np.arange(n_nodes), side="right")
        node_to_range[:, 0], node_to_range[:, 1] = first, last
    return node_to_range, range_to_edge.astype(np.uint64)


def _edges(
    path: Path,
    population: str,
    source: tuple[str, np.ndarray, int],
    target: tuple[str, np.ndarray, int],
    edge_type_id: np.ndarray,
    weight: np.ndarray,
) -> None:
    """Write one edge population (edges already sorted by target, then source)."""
    import h5py

    (src_pop, src, n_src), (trg_pop, trg, n_trg) = source, target
    e = len(src)
    with h5py.File(path, "w") as h5:
        _root(h5)
        g = h5.create_group(f"edges/{population}")
        ds = g.create_dataset("source_node_id", data=src.astype(np.uint64))
        ds.attrs["node_population"] = src_pop
        dt = g.create_dataset("target_node_id", data=trg.astype(np.uint64))
        dt.attrs["node_population"] = trg_pop
        g.create_dataset("edge_type_id", data=edge_type_id.astype(np.uint64))
        g.create_dataset("edge_group_id", data=np.zeros(e, dtype=np.uint32))
        g.create_dataset("edge_group_index", data=np.arange(e, dtype=np.uint64))
        grp = g.create_group("0")
        grp.create_dataset("syn_weight", data=weight)
        grp.create_dataset("delay", data=np.ones(e, dtype=np.float64))  # 1 step = 1 ms
        for kind, ids, n, order in (
            ("source_to_target", src, n_src, np.argsort(src, kind="stable")),
            ("target_to_source", trg, n_trg, np.arange(e)),
        ):
            node_to_range, range_to_edge = _ranges(ids, n, order)
            idx = g.create_group(f"indices/{kind}")
            idx.create_dataset("node_id_to_ranges", data=node_to_range)
            idx.create_dataset("range_to_edge_id", data=range_to_edge)


def export_sonata(
    model: str | os.PathLike | ModelContents,
    out_dir: str | os.PathLike,
    *,
    name: str = "neuromod",
) -> dict[str, Path]:
    """Write a trained network as SONATA files into ``out_dir/network/`` (see the module docstring).

    Parameters
    ----------
    model
        A model file, a run folder holding ``model.npz``, or what :func:`read_model` returned.
    out_dir
        Output folder; its ``network/`` subfolder is replaced as a whole.
    name
        Population name and file prefix (letters, digits, ``_``, ``-``).

    Returns
    -------
    The files written, by role (``nodes``, ``node_types``, ``edges``, ``edge_types``, ``input_*``,
    ``readout``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuromod_models import SpikingNetwork, save_model
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> p = save_model(tmp / "model.npz", SpikingNetwork(4, 10, 2, seed=0))
    >>> files = export_sonata(p, tmp / "sonata", name="toy")
    >>> files["nodes"].name, files["edges"].name
    ('toy_nodes.h5', 'toy_edges.h5')
    """
    name = _name_ok(name)
    m = model if isinstance(model, ModelContents) else read_model(model)
    a, st, cfg = m.arrays, m.structure, m.config
    dt = float(cfg.get("dt", 1.0))
    n, ti = len(a["signs"]), a["type_index"].astype(np.int64)

    # effective weights exactly as the network forms them: sign · relu(θ) (masked)
    w_rec = a["signs"][a["rec_pre"]] * np.maximum(a["theta_rec"], 0)
    w_in = a["in_mask"] * a["in_sign"][None, :] * np.maximum(a["theta_in"], 0)  # [N, n_in]
    w_out = a["out_mask"] * a["out_sign"][None, :] * np.maximum(a["theta_out"], 0)

    pre, post = a["rec_pre"].astype(np.int64), a["rec_post"].astype(np.int64)
    order = np.lexsort((pre, post))  # by target, then source (as BMTK sorts)
    k = st.n_types
    rec_type = _EDGE_TYPE0 + ti[pre[order]] * k + ti[post[order]]

    in_post, in_pre = np.nonzero(a["in_mask"])  # already by target, then source
    in_exc = a["in_sign"] > 0
    files: dict[str, Path] = {}
    with atomic_dir(Path(out_dir) / "network") as stage:

        def place(role: str, fname: str) -> Path:
            files[role] = Path(out_dir) / "network" / fname
            return stage / fname

        dyn = {
            "tau_m": -dt / np.log(a["alpha"].astype(np.float64)),
            "tau_a": -dt / np.log(a["rho"].astype(np.float64)),
            "alpha": a["alpha"],
            "rho": a["rho"],
            "beta": a["beta"],
            "v_th": a["v_th"],
            "n_ref": a["n_ref"],
            "t_ref": a["n_ref"].astype(np.float64) * dt,
            "adaptive": a["adaptive"].astype(np.uint8),
        }
        _nodes(place("nodes", f"{name}_nodes.h5"), name, _NODE_TYPE0 + ti, dyn)
        _write_csv(
            place("node_types", f"{name}_node_types.csv"),
            ["node_type_id", "pop_name", "ei", "model_type", "model_template"],
            [
                [_NODE_TYPE0 + i, t, "e" if st.signs[i] > 0 else "i", "point_process",
                 "neuromod:alif"]
                for i, t in enumerate(st.names)
            ],
        )  # fmt: skip
        _edges(
            place("edges", f"{name}_edges.h5"),
            f"{name}_to_{name}",
            (name, pre[order], n),
            (name, post[order], n),
            rec_type,
            w_rec[order],
        )
        _write_csv(
            place("edge_types", f"{name}_edge_types.csv"),
            ["edge_type_id", "source_query", "target_query", "delay", "model_template"],
            [
                [_EDGE_TYPE0 + i * k + j, f"pop_name=='{st.names[i]}'",
                 f"pop_name=='{st.names[j]}'", 1.0, "static_synapse"]
                for i in range(k)
                for j in range(k)
            ],
        )  # fmt: skip
        inp = f"{name}_input"
        _nodes(
            place("input_nodes", f"{inp}_nodes.h5"),
            inp,
            np.where(in_exc, _NODE_TYPE0, _NODE_TYPE0 + 1),
            {},
        )
        _write_csv(
            place("input_node_types", f"{inp}_node_types.csv"),
            ["node_type_id", "pop_name", "ei", "model_type"],
            [[_NODE_TYPE0, "input_exc", "e", "virtual"],
             [_NODE_TYPE0 + 1, "input_inh", "i", "virtual"]],
        )  # fmt: skip
        _edges(
            place("input_edges", f"{inp}_{name}_edges.h5"),
            f"{inp}_to_{name}",
            (inp, in_pre, len(in_exc)),
            (name, in_post, n),
            np.where(in_exc[in_pre], _EDGE_TYPE0, _EDGE_TYPE0 + 1),
            w_in[in_post, in_pre],
        )
        _write_csv(
            place("input_edge_types", f"{inp}_{name}_edge_types.csv"),
            ["edge_type_id", "source_query", "target_query", "delay", "model_template"],
            [[_EDGE_TYPE0, "pop_name=='input_exc'", "*", 1.0, "static_synapse"],
             [_EDGE_TYPE0 + 1, "pop_name=='input_inh'", "*", 1.0, "static_synapse"]],
        )  # fmt: skip
        import h5py

        with h5py.File(place("readout", f"{name}_readout.h5"), "w") as h5:
            h5.create_dataset("weight", data=w_out)
            h5.create_dataset("bias", data=a["b_out"])
            h5.attrs["tau_out"] = float(cfg.get("tau_out", 20.0))
            h5.attrs["dt"] = dt
    return files
