"""Fixtures shared by the whole suite: the real public data in ``../shared/data``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from neuromod_data._files import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public files (outside the repository; its README.md describes them).

    Tests that need it skip where it is absent (set ``NEUROMOD_SHARED_DATA``).
    """
    path = shared_data_dir()
    if path is None:
        pytest.skip(
            "real data not found: set NEUROMOD_SHARED_DATA or place shared/data beside the repo"
        )
    return path


TAU, SFA, THR, RMP, WIDTH = (
    "Membrane time constant (ms)",
    "Spike frequency adaptation",
    "AP threshold (mV)",
    "Resting membrane potential (mV)",
    "AP width (ms)",
)


def _family_parameters(features: str, meta: str, families) -> pd.DataFrame:
    """Per-family parameters by the documented mapping (docs/design.md, "Intrinsic parameters from
    electrophysiology"), computed with pandas from the files: the median feature of the family's
    valid cells mapped with references = medians over all cells, clipped to the bounds."""
    d = pd.read_csv(features).merge(
        pd.read_csv(meta, sep="\t"), left_on="cell id", right_on="Cell", how="left"
    )
    d["gap"] = (d[THR] - d[RMP]).where(lambda x: x > 0)
    d[SFA] = d[SFA].where(d[SFA] >= 0)
    d[TAU] = d[TAU].where(d[TAU] > 0)
    d[WIDTH] = d[WIDTH].where(d[WIDTH] > 0)
    ref_gap, ref_w, ref_s = d["gap"].median(), d[WIDTH].median(), d[SFA].median()
    rows = {}
    for fam in families:
        f = d[d["RNA family"] == fam]
        s = f[SFA].median()
        rows[fam] = {
            "tau_m": float(np.clip(f[TAU].median(), 2, 100)),
            "tau_a": 2000.0,
            "beta": float(np.clip(1.8 * (1 / s - 1) / (1 / ref_s - 1), 0, 9)),
            "adaptive": float((f[SFA].dropna() < 0.9).mean()),
            "v_th": float(np.clip(0.01 * f["gap"].median() / ref_gap, 0.0025, 0.04)),
            "n_ref": float(np.clip(5 * f[WIDTH].median() / ref_w, 1, 20)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _billeh_mix(meta: str, conn: str, types, classes: dict[str, str]):
    """probability[a, b] = Σ u_a(i) u_b(j) P(i, j) and the P-weighted mean strength, with u a
    type's fraction of the metadata's cells per layer (``Inferred layer``; layers the table lacks
    left out, and returned as counts per type and layer)."""
    cells = pd.read_csv(meta, sep="\t")
    raw = pd.read_csv(conn)
    P = raw.set_index(["pre", "post"])["p_connect_75um"]
    S = raw.set_index(["pre", "post"])["unitary_psp_mV"]
    table_layers = {pop.lstrip("EPVST") for pop in raw["pre"]}
    layer = cells["Inferred layer"].astype(str)
    kept = cells[layer.isin(table_layers)]
    frac = pd.crosstab(kept["RNA family"], kept["Inferred layer"].astype(str), normalize="index")
    k = len(types)
    prob, strength = np.zeros((k, k)), np.zeros((k, k))
    for a, ta in enumerate(types):
        for b, tb in enumerate(types):
            p = ps = 0.0
            for la, wa in frac.loc[ta].items():
                for lb, wb in frac.loc[tb].items():
                    key = (f"{classes[ta]}{la}", f"{classes[tb]}{lb}")
                    p += wa * wb * P[key]
                    ps += wa * wb * P[key] * S[key]
            prob[a, b], strength[a, b] = p, (ps / p if p else 0.0)
    out = cells.loc[~layer.isin(table_layers)]
    left_out = out.groupby(["RNA family", out["Inferred layer"].astype(str)]).size()
    return prob, strength, left_out


@pytest.fixture(scope="session")
def m1_by_pandas() -> SimpleNamespace:
    """Independent pandas computations on the real M1 Patch-seq and Billeh files, for the tests
    of the physiology step: ``family_parameters(features, meta, families)`` and
    ``billeh_mix(meta, conn, types, classes)`` → ``(probability, strength, left_out)``."""
    return SimpleNamespace(family_parameters=_family_parameters, billeh_mix=_billeh_mix)
