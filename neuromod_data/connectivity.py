"""Type-to-type connectivity from a published table of populations (e.g. Billeh et al. 2020).

A table gives, for presynaptic and postsynaptic *populations* (a class and a cortical layer, e.g.
``E2/3``, ``PV5``, ``SST6``), a connection probability and a strength (Billeh et al.: unitary PSP
in mV). :func:`read_connectivity` reads and checks it; :func:`type_connectivity` maps transcriptomic
types onto its populations and returns K × K matrices for a structure's types,
``probability[pre, post]`` and ``strength[pre, post]`` (row = presynaptic type).

Types → classes
    By name (:func:`default_class`): a name containing ``IT``, ``ET``, ``PT``, ``NP``, ``CT``,
    ``L6b`` or ``Car3`` as a word → ``E``; a name starting with ``Pvalb`` → ``PV``; with ``Sst`` →
    ``SST``; a name equal to one of the table's classes → that class. Other types (``Vip``,
    ``Lamp5``, ``Sncg``, ...) have no class of their own in an E/PV/SST table: give one with
    ``type_map`` (a type name, or the first word of type names, e.g. ``{"Vip": "SST"}``; ``"none"``
    leaves the type unconnected), or pass ``unmapped="sign"`` to mix the table's classes of the
    type's sign in equal parts (documented fallback, with a warning). Otherwise the type is an
    error that names it. A class whose sign differs from the type's Dale sign is an error.
Population names
    ``<class><layer>``: a class of :data:`CLASS_SIGNS` and a layer of :data:`TABLE_LAYERS` (1,
    2/3, 4, 5, 6), optionally after an ``L``; ``23`` is read as ``2/3`` (``E23`` = ``E2/3``, in
    the table and in the cells' layers alike). A population outside this vocabulary (``E7``,
    ``E45``, ``E2/4``) is an error naming it, never a layer of its own.
Types → layers
    From the cells' layer column: a type's weight on each layer is the fraction of its cells
    there. Data layers map to table layers by name (``L5`` = ``5``); ``layer_map`` maps others
    (e.g. ``{"1": "2/3"}``). Cells in a layer the table lacks are left out with a warning (the M1
    data's layers are 1, 2/3, 5 and 6: M1 has no layer 4, so the table's layer-4 populations are
    not used, and layer-1 cells are left out unless mapped).
Mixing
    A type is a mixture of populations with weights ``u[type, pop]`` = class weight × layer
    weight. Then ``probability[a, b] = Σ_ij u[a, i] u[b, j] P[i, j]`` (the probability that a random
    neuron of ``a`` contacts a random neuron of ``b``) and ``strength[a, b]`` is the mean strength
    of those synapses, ``Σ_ij u[a, i] u[b, j] P[i, j] S[i, j] / probability[a, b]`` (0 where the
    probability is 0). Pairs of populations absent from the table, and NaN probabilities, count as
    no connection (with a warning), as the table's zeros do ("no data / no connection").

Examples
--------
>>> import pandas as pd
>>> table = read_connectivity(pd.DataFrame({
...     "pre": ["E5", "E5", "PV5", "PV5"], "post": ["E5", "PV5", "E5", "PV5"],
...     "p": [0.1, 0.4, 0.5, 0.6], "psp_mV": [0.5, 1.0, 0.8, 0.9]}), probability="p", strength="psp_mV")
>>> c = type_connectivity(table, ["L5 IT_1", "Pvalb Reln"], layers={"L5 IT_1": {"5": 1}, "Pvalb Reln": {"5": 1}})
>>> c.probability.tolist(), float(c.strength[1, 0])
([[0.1, 0.4], [0.5, 0.6]], 0.8)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from neuromod_data.connectivity_populations import (
    CLASS_SIGNS,
    TABLE_LAYERS,
    _layer,
    _warn,
    default_class,
)
from neuromod_data.connectivity_read import read_connectivity, table_populations
from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
)
from neuromod_data.structure import Connectivity

__all__ = [
    "CLASS_SIGNS",
    "TABLE_LAYERS",
    "default_class",
    "read_connectivity",
    "table_populations",
    "type_connectivity",
]


# -------------------------------------------------------------------- types → populations
def _class_map(
    types: Sequence[str],
    table_classes: list[str],
    type_map: Mapping[str, str] | None,
    signs: Sequence[int] | None,
    unmapped: str,
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Class weights of each type ({} = unconnected) and how each was decided."""
    user = {str(k).strip(): str(v).strip() for k, v in (type_map or {}).items()}
    valid = {c.upper(): c for c in table_classes}
    for k, v in user.items():
        if v.lower() != "none" and v.upper() not in valid:
            raise CellTypeError(
                f"type_map sends {k!r} to class {v!r}, which the table does not have (classes: "
                f"{', '.join(table_classes)}; or 'none' to leave the type unconnected)"
            )
    weights, how, unresolved = {}, {}, []
    for i, t in enumerate(types):
        first = re.split(r"[\s_]+", t.strip())[0] if t.strip() else t
        choice = user.get(t, user.get(first))
        if choice is not None:
            if choice.lower() == "none":
                weights[t], how[t] = {}, "type_map: none (unconnected)"
            else:
                weights[t], how[t] = (
                    {valid[choice.upper()]: 1.0},
                    f"type_map: {valid[choice.upper()]}",
                )
        else:
            cls = default_class(t, table_classes)
            if cls is not None and cls in valid:
                weights[t], how[t] = {valid[cls]: 1.0}, f"by name: {valid[cls]}"
            else:
                unresolved.append(i)
        t_sign = None if signs is None else int(signs[i])
        for cls in weights.get(t, {}):
            if t_sign is not None and CLASS_SIGNS[cls.upper()] != t_sign:
                raise CellTypeError(
                    f"type {t!r} has sign {t_sign:+d} but maps to class {cls!r} "
                    f"(sign {CLASS_SIGNS[cls.upper()]:+d}); fix its sign or map it with type_map"
                )
    if unresolved:
        names = [types[i] for i in unresolved]
        if unmapped != "sign":
            raise CellTypeError(
                f"no population class for type(s) {names}: the table has classes "
                f"{', '.join(table_classes)}; map them with type_map (e.g. {{'{names[0]}': "
                f"'{table_classes[-1]}'}}, CLI --type-map '{names[0]}={table_classes[-1]}'), or "
                "pass unmapped='sign' to mix the table's classes of the type's sign"
            )
        if signs is None:
            raise CellTypeError(f"unmapped='sign' needs the types' signs (types {names})")
        for i in unresolved:
            same = [c for c in table_classes if CLASS_SIGNS[c.upper()] == int(signs[i])]
            if not same:
                raise CellTypeError(
                    f"type {types[i]!r}: the table has no class of sign {int(signs[i]):+d}"
                )
            weights[types[i]] = {c: 1.0 / len(same) for c in same}
            how[types[i]] = f"sign fallback: {' + '.join(same)} in equal parts"
        _warn(
            "no population class for type(s) "
            + "; ".join(f"{types[i]} → {how[types[i]].split(': ', 1)[1]}" for i in unresolved)
            + " (unmapped='sign'); map them with type_map to choose"
        )
    return weights, how


def _layer_weights(
    types: Sequence[str],
    layers: pd.DataFrame | Mapping[str, Mapping[str, float]],
    label: str | None,
    layer_column: str | None,
    need: set[str],
) -> tuple[dict[str, dict[str, float]], str]:
    """Raw layer weights (cell counts or given weights) of each type in ``need``."""
    if isinstance(layers, pd.DataFrame):
        where = (layers.attrs.get("neuromod_ephys") or {}).get("metadata_file", "the layer table")
        if label is None or layer_column is None:
            raise ValueError(
                "layers is a per-cell table: name its label column (label=...) and its layer "
                "column (layer_column=...)"
            )
        for what, col in (("label", label), ("layer", layer_column)):
            if col not in layers.columns:
                raise ColumnError(
                    f"{where}: {what} column {col!r} not found; available: "
                    + ", ".join(map(str, layers.columns))
                )
        lab = layers[label].where(layers[label].isna(), layers[label].astype(str))
        out = {}
        for t in types:
            if t not in need:
                continue
            vals = layers.loc[(lab == t).to_numpy(), layer_column]
            if vals.empty:
                raise CellTypeError(
                    f"{where}: no cell labelled {t!r} in column {label!r}, so its layers are unknown"
                )
            norm = vals.map(_layer).dropna()
            if norm.empty:
                raise CellTypeError(
                    f"{where}: no cell of type {t!r} has a layer in {layer_column!r}"
                )
            out[t] = {str(k): float(v) for k, v in norm.value_counts().items()}
        return out, f"{where}: column {layer_column!r} (cells per layer)"
    out = {}
    given = {str(k): v for k, v in layers.items()}
    for t in types:
        if t not in need:
            continue
        if t not in given:
            raise CellTypeError(
                f"no layer weights given for type {t!r} (layers has {sorted(given)})"
            )
        w = {_layer(k): float(v) for k, v in given[t].items()}
        if any(not np.isfinite(v) or v < 0 for v in w.values()) or sum(w.values()) <= 0:
            raise CellTypeError(
                f"layer weights of type {t!r} must be non-negative and not all 0: {given[t]}"
            )
        out[t] = w
    return out, "given layer weights"


def type_connectivity(
    table: pd.DataFrame,
    types: Sequence[str],
    *,
    layers: pd.DataFrame | Mapping[str, Mapping[str, float]],
    label: str | None = None,
    layer_column: str | None = None,
    type_map: Mapping[str, str] | None = None,
    layer_map: Mapping[str, str | None] | None = None,
    signs: Sequence[int] | None = None,
    unmapped: Literal["error", "sign"] = "error",
) -> Connectivity:
    """K × K connection probability and strength for ``types``, ``[pre, post]``.

    Parameters
    ----------
    table
        Table from :func:`read_connectivity`.
    types
        Type names in the order wanted (e.g. ``structure.names``).
    layers
        Where each type's cells lie: a per-cell table (e.g. the Patch-seq metadata from
        :func:`neuromod_data.ephys.read_ephys`) with the ``label`` and ``layer_column`` columns, or
        ``{type: {layer: weight}}``.
    label, layer_column
        Columns of ``layers`` holding the type labels and the layers (e.g. ``"RNA family"``,
        ``"Inferred layer"``).
    type_map
        Class of types the default rules do not place (see the module docstring), by type name or
        first word, e.g. ``{"Vip": "SST"}``; ``"none"`` leaves a type unconnected. Takes precedence
        over the default rules.
    layer_map
        Data layer → table layer for layers the table lacks (e.g. ``{"1": "2/3"}``); ``None`` as a
        value leaves the layer out.
    signs
        Dale sign of each type (e.g. ``structure.signs``): checked against the classes, and needed
        by ``unmapped="sign"``.
    unmapped
        A type without a class: ``"error"`` (default) or ``"sign"`` (the table's classes of its
        sign in equal parts, with a warning).

    Returns
    -------
    :class:`~neuromod_data.structure.Connectivity` whose ``meta`` records the table, its columns,
    the populations of each type with their weights, the layer counts and every mapping used.
    """
    types = [str(t) for t in types]
    if not isinstance(table, pd.DataFrame) or "pre_class" not in table.columns:
        raise TypeError("table must come from read_connectivity")
    record = table.attrs.get("neuromod_connectivity") or {
        "source": "the connectivity table",
        "columns": {},
    }
    where = record["source"]
    if signs is not None and len(signs) != len(types):
        raise CellTypeError(f"signs has {len(signs)} entries for {len(types)} types")
    pops = table_populations(table)
    pop_of = {}
    for side in ("pre", "post"):
        for name, cls, layer in table[[side, f"{side}_class", f"{side}_layer"]].itertuples(
            index=False
        ):
            pop_of[(cls, layer)] = name
    classes = [c for c in CLASS_SIGNS if any(k[0] == c for k in pop_of)]
    table_layers = sorted({k[1] for k in pop_of})
    class_w, how = _class_map(types, classes, type_map, signs, unmapped)
    need = {t for t in types if class_w[t]}
    raw_layers, layer_source = _layer_weights(types, layers, label, layer_column, need)

    lmap = {
        _layer(k): (None if v is None or str(v).lower() == "none" else _layer(v))
        for k, v in (layer_map or {}).items()
    }
    for k, v in lmap.items():
        if v is not None and v not in table_layers:
            raise CellTypeError(
                f"layer_map sends layer {k!r} to {v!r}, which {where} does not have (layers: "
                f"{', '.join(table_layers)})"
            )
    dropped: dict[str, dict[str, float]] = {}
    layer_w: dict[str, dict[str, float]] = {}
    for t, w in raw_layers.items():
        mapped: dict[str, float] = {}
        for layer, n in w.items():
            target = lmap.get(layer, layer if layer in table_layers else None)
            if target is None:
                dropped.setdefault(t, {})[layer] = n
                continue
            mapped[target] = mapped.get(target, 0.0) + n
        if not mapped:
            raise CellTypeError(
                f"type {t!r}: its cells lie in layer(s) {sorted(w)}, which {where} does not have "
                f"(layers: {', '.join(table_layers)}); map them with layer_map, e.g. "
                f"{{'{sorted(w)[0]}': '{table_layers[0]}'}}"
            )
        total = sum(mapped.values())
        layer_w[t] = {k: v / total for k, v in sorted(mapped.items())}
    if dropped:
        _warn(
            f"cells in layers that {where} lacks are left out of the layer mix: "
            + "; ".join(
                f"{t}: {', '.join(f'{n:g} in L{lay}' for lay, n in d.items())}"
                for t, d in dropped.items()
            )
            + " (map them with layer_map)"
        )

    index = {p: i for i, p in enumerate(pops)}
    u = np.zeros((len(types), len(pops)))
    missing_pop: dict[str, list[str]] = {}
    type_pops: dict[str, dict[str, float]] = {}
    for a, t in enumerate(types):
        for cls, cw in class_w[t].items():
            for layer, lw in layer_w.get(t, {}).items():
                pop = pop_of.get((cls, layer))
                if pop is None:
                    missing_pop.setdefault(t, []).append(f"{cls}{layer}")
                    continue
                u[a, index[pop]] += cw * lw
        if u[a].sum() > 0:
            u[a] /= u[a].sum()
        elif class_w[t]:
            raise CellTypeError(
                f"type {t!r}: none of its populations ({', '.join(missing_pop.get(t, []))}) is in {where}"
            )
        type_pops[t] = {pops[i]: round(float(u[a, i]), 6) for i in np.flatnonzero(u[a])}
    if missing_pop:
        _warn(
            f"populations absent from {where} are left out of the mix: "
            + "; ".join(f"{t}: {', '.join(p)}" for t, p in missing_pop.items())
        )

    m = len(pops)
    P, S = np.zeros((m, m)), np.zeros((m, m))
    pi = table["pre"].map(index).to_numpy()
    qi = table["post"].map(index).to_numpy()
    P[pi, qi] = table["probability"].to_numpy()
    S[pi, qi] = table["strength"].to_numpy()
    listed = np.zeros((m, m), dtype=bool)
    listed[pi, qi] = True
    used = u.sum(axis=0) > 0
    gaps = [f"{pops[i]} → {pops[j]}" for i, j in np.argwhere(~listed) if used[i] and used[j]]
    if gaps:
        _warn(
            f"{where}: {len(gaps)} population pair(s) are not listed and count as no connection: {', '.join(gaps[:5])}"
        )
    prob = u @ P @ u.T
    mass = u @ (P * S) @ u.T
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = np.where(prob > 0, mass / np.where(prob > 0, prob, 1.0), 0.0)
    cols = record.get("columns", {})
    meta = {
        "source": where,
        "columns": cols,
        "orientation": "probability[pre, post], strength[pre, post]: row = presynaptic type",
        "units": {
            "probability": f"connection probability ({cols.get('probability', 'probability')})",
            "strength": f"strength ({cols.get('strength', 'strength')}), mean over the synapses "
            "of the populations' pairs",
        },
        "populations": pops,
        "type_classes": how,
        "type_populations": type_pops,
        "layer_source": layer_source,
        "layer_counts": {t: raw_layers[t] for t in raw_layers},
        "layers_left_out": dropped,
        "layer_map": {k: v for k, v in lmap.items()},
        "type_map": dict(type_map or {}),
        "unmapped": unmapped,
        "zeros": "pairs the table lists as 0 or does not list count as no connection",
    }
    return Connectivity(tuple(types), np.clip(prob, 0.0, 1.0), strength, meta)
