"""Reading a published connectivity table (:mod:`neuromod_data.connectivity`): its columns found
by name, every population parsed into class and layer, and the table's populations in order."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.connectivity_populations import CLASS_SIGNS, TABLE_LAYERS, _population, _warn
from neuromod_data.errors import (
    ColumnError,
    DataValueError,
    FormatError,
)


# --------------------------------------------------------------------------- reading
def _pick(
    columns: Sequence[str], given: str | None, patterns: Sequence[str], what: str, where: str
) -> str:
    cols = [str(c) for c in columns]
    if given is not None:
        if given not in cols:
            raise ColumnError(
                f"{where}: {what} column {given!r} not found; available: {', '.join(cols)}"
            )
        return given
    hits = [c for c in cols if any(re.search(p, c, re.IGNORECASE) for p in patterns)]
    if len(hits) != 1:
        raise ColumnError(
            f"{where}: cannot tell which column holds the {what} ({'several match: ' + ', '.join(hits) if hits else 'none matches'}); "
            f"name it (available: {', '.join(cols)})"
        )
    return hits[0]


def read_connectivity(
    table: str | os.PathLike | pd.DataFrame,
    *,
    pre: str = "pre",
    post: str = "post",
    probability: str | None = None,
    strength: str | None = None,
) -> pd.DataFrame:
    """Read and check a long table of population-to-population connectivity.

    Parameters
    ----------
    table
        CSV/TSV file or table, one row per (presynaptic, postsynaptic) population pair, e.g.
        ``billeh2020_connectivity/connectivity_long.csv``.
    pre, post
        Columns of the presynaptic and postsynaptic population names (``<class><layer>``, e.g.
        ``E2/3``, ``PV5``; classes: :data:`CLASS_SIGNS`; layers: :data:`TABLE_LAYERS`, with
        ``2/3`` also written ``23``, ``L2/3`` or ``L23``, so ``E23`` is ``E2/3``).
    probability, strength
        Columns of the connection probability (in [0, 1]) and of the strength (a non-negative
        magnitude, e.g. unitary PSP in mV). Default: the one column whose name says so
        (``prob`` / ``p_``; ``psp`` / ``strength`` / ``weight`` / ``amplitude``).

    Returns
    -------
    A table with columns ``pre``, ``post``, ``probability``, ``strength``, ``pre_class``,
    ``pre_layer``, ``post_class``, ``post_layer``; ``.attrs["neuromod_connectivity"]`` records the
    file and the original column names. A probability outside [0, 1], a negative or non-numeric
    value, an unknown population or a pair listed twice raises one error that names it.
    """
    if isinstance(table, pd.DataFrame):
        raw, where = table.copy(), "the connectivity table"
    else:
        p = require_file(table, "connectivity table")
        with open(p, encoding="utf-8", errors="replace") as fh:
            header = fh.readline()
        sep = "\t" if header.count("\t") > header.count(",") else ","
        try:
            raw = pd.read_csv(p, sep=sep)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise FormatError(f"{p}: cannot read as a connectivity table ({exc})") from None
        where = str(p)
    cols = list(raw.columns)
    pre = _pick(cols, pre, (), "presynaptic population", where)
    post = _pick(cols, post, (), "postsynaptic population", where)
    probability = _pick(cols, probability, (r"prob", r"^p_"), "connection probability", where)
    strength = _pick(
        cols, strength, (r"psp", r"strength", r"weight", r"amplitude"), "strength", where
    )
    if raw.empty:
        raise DataValueError(f"{where}: the connectivity table has no rows")
    out = pd.DataFrame(
        {"pre": raw[pre].astype(str).str.strip(), "post": raw[post].astype(str).str.strip()}
    )
    for name, col in (("probability", probability), ("strength", strength)):
        num = pd.to_numeric(raw[col], errors="coerce")
        bad = raw[col].notna() & num.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise FormatError(
                f"{where}: {col!r} of {out['pre'][i]} → {out['post'][i]} is {raw[col].iloc[i]!r}, "
                "not a number"
            )
        out[name] = num.astype(np.float64)
    prob = out["probability"]
    bad = prob.notna() & ((prob < 0) | (prob > 1) | ~np.isfinite(prob))
    if bad.any():
        rows = out[bad]
        listed = ", ".join(
            f"{r.pre} → {r.post} = {r.probability:g}" for r in rows.head(5).itertuples()
        )
        raise DataValueError(
            f"{where}: connection probabilities ({probability!r}) must lie in [0, 1]; "
            f"{len(rows)} do not: {listed}"
        )
    st = out["strength"]
    bad = st.notna() & ((st < 0) | ~np.isfinite(st))
    if bad.any():
        r = out[bad].iloc[0]
        raise DataValueError(
            f"{where}: strength ({strength!r}) of {r.pre} → {r.post} is {r.strength:g}; strengths "
            f"are non-negative magnitudes (the sign comes from the presynaptic class), "
            f"{int(bad.sum())} value(s) are not"
        )
    parsed = {}
    for name in pd.unique(pd.concat([out["pre"], out["post"]])):
        pop = _population(name)
        if pop is None:
            raise DataValueError(
                f"{where}: unknown population {name!r}: expected <class><layer> with a class among "
                f"{', '.join(CLASS_SIGNS)} and a layer among {', '.join(TABLE_LAYERS)} (2/3 also "
                "written 23 or L2/3; e.g. E2/3, PV5)"
            )
        parsed[name] = pop
    for side in ("pre", "post"):
        out[f"{side}_class"] = out[side].map(lambda n: parsed[n][0])
        out[f"{side}_layer"] = out[side].map(lambda n: parsed[n][1])
        # one name per population: E23, EL23 and E2/3 spell one population, listed as E2/3
        out[side] = out[f"{side}_class"] + out[f"{side}_layer"]
    dup = out.duplicated(["pre", "post"], keep=False)
    if dup.any():
        pairs = sorted(
            {f"{a} → {b}" for a, b in out.loc[dup, ["pre", "post"]].itertuples(index=False)}
        )
        raise DataValueError(
            f"{where}: population pair(s) listed more than once: {', '.join(pairs[:5])}"
        )
    n_nan = int(out["probability"].isna().sum())
    if n_nan:
        _warn(f"{where}: {n_nan} pair(s) have no probability (NaN); they count as no connection")
    out["probability"] = out["probability"].fillna(0.0)
    out["strength"] = out["strength"].fillna(0.0)
    out.attrs["neuromod_connectivity"] = {
        "source": where,
        "columns": {"pre": pre, "post": post, "probability": probability, "strength": strength},
    }
    return out


def table_populations(table: pd.DataFrame) -> list[str]:
    """The table's populations, ordered by layer then class (E first)."""
    pops = {}
    for side in ("pre", "post"):
        for name, cls, layer in table[[side, f"{side}_class", f"{side}_layer"]].itertuples(
            index=False
        ):
            pops[name] = (cls, layer)
    order = list(CLASS_SIGNS)
    return sorted(pops, key=lambda n: (pops[n][1], order.index(pops[n][0])))
