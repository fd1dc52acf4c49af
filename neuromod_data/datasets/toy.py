"""``toy_cortex``: a small synthetic cortex with a Tasic-like taxonomy and neuropeptide patterns.

The dataset is entirely synthetic. Its cell types, their names and colours, and the type specificity of
neuropeptide-precursor (NPP) and neuropeptide-GPCR genes imitate the mouse visual cortex of Tasic et al.
(2018) as analysed by Smith et al. (2019, eLife 8:e47889): Vip in Vip types, Sst in Sst types, Npy
highest in Sst Chodl and Lamp5 Lsp1, Nts in Sst Nts, Vipr2 in Pvalb Vipr2, Trhr in NP types, and nearly
every neuron expressing at least one NPP and one NP-GPCR. Counts are negative-binomial draws around a
fixed per-cluster expression profile (:func:`toy_cortex_profile`); the seed changes only the sampled
cells, never the "biology".

The design (taxonomy, colours, markers, expression levels) is the shipped table
``neuromod_data/_shipped/toy_cortex.json``, read with :mod:`importlib.resources`; its neuropeptide
genes are those of the shipped Smith et al. resource (``neuropeptides_smith2019.csv``, checked in
the tests), listed in the paper's order, which fixes the gene order of the data.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neuromod_data.errors import DataValueError
from neuromod_data.resources.builtin import neuromodulators
from neuromod_data.resources.schema import resource_genes

__all__ = ["toy_cortex", "toy_cortex_profile", "TOY_TAXONOMY"]


@cache
def _design() -> dict[str, Any]:
    """The shipped design table (read once; callers never modify it)."""
    text = resources.files("neuromod_data._shipped").joinpath("toy_cortex.json").read_text("utf-8")
    return json.loads(text)


_D = _design()
# (class, subclass, cluster, relative abundance). Names follow Tasic et al. 2018; abundances are
# loosely Tasic-like (many IT cells, few rare interneuron types), not fitted to anything.
TOY_TAXONOMY: tuple[tuple[str, str, str, float], ...] = tuple(
    (str(c), str(s), str(k), float(w)) for c, s, k, w in _D["taxonomy"]
)
_CLASS_COLORS: dict[str, str] = _D["class_colors"]
_SUBCLASS_COLORS: dict[str, str] = _D["subclass_colors"]
#: Smith et al.'s 18 neuropeptide precursors and 29 neuropeptide GPCRs, in the paper's order
NPP: list[str] = list(_D["neuropeptide_precursors"])
NP_GPCR: list[str] = list(_D["neuropeptide_gpcrs"])
# Class / subclass markers; cluster markers come from the words of the cluster names.
_MARKERS: dict[str, list[str]] = _D["markers"]
_NEURON: list[str] = _D["neuron_markers"]
# Words of cluster names that are not genes.
_NOT_GENES = frozenset(_D["not_genes"])

# Classical neuromodulator genes: every gene of the built-in ``neuromodulators()`` table plus
# reuptake transporters. Cortex makes acetylcholine only in Vip Chat cells and no monoamines: their
# synthesis genes stay (almost) silent, while their receptors are expressed.
NEUROMODULATOR_GENES: list[str] = list(
    dict.fromkeys(sorted(resource_genes(neuromodulators())) + _D["extra_neuromodulator_genes"])
)
# Expression in CPM: transmitter machinery and receptors shared by all neurons / by a class, and the
# modelled genes by subclass and cluster (cluster entries override subclass entries). Levels are
# plausible orders of magnitude (NPPs 1e3-1e4 CPM, receptors 1e1-1e2).
_NEURON_EXPR: dict[str, float] = _D["neuron_cpm"]
_CLASS_EXPR: dict[str, dict[str, float]] = _D["class_cpm"]
_SUBCLASS_EXPR: dict[str, dict[str, float]] = _D["subclass_cpm"]
_CLUSTER_EXPR: dict[str, dict[str, float]] = _D["cluster_cpm"]
_MARKER_CPM = 600.0  # class / subclass / cluster-name markers
_OFF_CPM = 0.3  # leak of silent genes: mostly zero counts at these depths


def _taxonomy_frame() -> pd.DataFrame:
    df = pd.DataFrame(
        TOY_TAXONOMY, columns=["class_label", "subclass_label", "cluster_label", "weight"]
    )
    classes = list(dict.fromkeys(df["class_label"]))
    subclasses = list(dict.fromkeys(df["subclass_label"]))
    df["class_id"] = [classes.index(c) + 1 for c in df["class_label"]]
    df["subclass_id"] = [subclasses.index(s) + 1 for s in df["subclass_label"]]
    df["cluster_id"] = np.arange(1, len(df) + 1)
    df["class_color"] = df["class_label"].map(_CLASS_COLORS)
    df["subclass_color"] = df["subclass_label"].map(_SUBCLASS_COLORS)
    # Clusters: the subclass hue, lightened or darkened step by step within the subclass.
    colors = []
    for sub, grp in df.groupby("subclass_label", sort=False):
        base = np.array([int(_SUBCLASS_COLORS[sub][i : i + 2], 16) for i in (1, 3, 5)], float)
        for k in range(len(grp)):
            f = (k - (len(grp) - 1) / 2) * 0.18
            rgb = base + (255 - base) * f if f > 0 else base * (1 + f)
            colors.append("#" + "".join(f"{int(round(v)):02X}" for v in np.clip(rgb, 0, 255)))
    order = np.concatenate(
        [g.index.to_numpy() for _, g in df.groupby("subclass_label", sort=False)]
    )
    df.loc[order, "cluster_color"] = colors
    return df


def _cluster_genes(cluster: str) -> list[str]:
    return [w for w in cluster.split() if w not in _NOT_GENES]


def toy_cortex_profile(*, n_genes_background: int = 300) -> pd.DataFrame:
    """The expected expression (CPM) of every gene in every cluster of :func:`toy_cortex`.

    Each row (a cluster) sums to one million. This is the ground truth the counts are drawn around,
    useful to check per-type aggregation.

    Examples
    --------
    >>> prof = toy_cortex_profile(n_genes_background=10)
    >>> bool(prof.loc["Sst Nts", "Nts"] > prof.drop(index="Sst Nts")["Nts"].max())
    True
    """
    if n_genes_background < 0:
        raise DataValueError(f"n_genes_background must be >= 0, got {n_genes_background}")
    tax = _taxonomy_frame()
    specific = list(NPP) + list(NP_GPCR)
    for names in (*_MARKERS.values(), _NEURON, NEUROMODULATOR_GENES):
        specific += names
    for cl in tax["cluster_label"]:
        specific += _cluster_genes(cl)
    for table in (*_SUBCLASS_EXPR.values(), *_CLUSTER_EXPR.values()):
        specific += list(table)
    for table in (_NEURON_EXPR, *_CLASS_EXPR.values()):
        specific += list(table)
    specific = list(dict.fromkeys(specific))
    background = [f"Bg{i:04d}" for i in range(1, n_genes_background + 1)]

    prof = pd.DataFrame(
        _OFF_CPM,
        index=pd.Index(tax["cluster_label"], name="cluster_label"),
        columns=specific,
        dtype=float,
    )
    for row in tax.itertuples():
        cl, sub, klass = row.cluster_label, row.subclass_label, row.class_label
        for g in _MARKERS.get(klass, []) + _MARKERS[sub] + _cluster_genes(cl):
            prof.loc[cl, g] = _MARKER_CPM
        if klass != "Non-Neuronal":
            prof.loc[cl, _NEURON] = 2 * _MARKER_CPM
        tables = (_NEURON_EXPR if klass != "Non-Neuronal" else {}, _CLASS_EXPR.get(klass, {}),
                  _SUBCLASS_EXPR.get(sub, {}), _CLUSTER_EXPR.get(cl, {}))  # fmt: skip
        for table in tables:
            for g, v in table.items():
                if g in prof.columns:
                    prof.loc[cl, g] = v

    # Background genes: each switched on in a fixed random subset of subclasses, with cluster-level
    # jitter, filling the rest of the library. The generator is fixed: the profile is the same for
    # every seed of toy_cortex.
    rng = np.random.default_rng(20190829)
    subclasses = list(dict.fromkeys(tax["subclass_label"]))
    sub_idx = tax["subclass_label"].map({s: i for i, s in enumerate(subclasses)}).to_numpy()
    on = rng.random((n_genes_background, len(subclasses))) < 0.25
    on[:, :] |= rng.random((n_genes_background, 1)) < 0.15  # some broadly expressed genes
    level = rng.lognormal(0.0, 1.0, size=(n_genes_background, 1))
    jitter = rng.lognormal(0.0, 0.3, size=(n_genes_background, len(tax)))
    bg = np.where(on[:, sub_idx], level * jitter, 0.0).T  # clusters x background
    remainder = 1e6 - prof.to_numpy().sum(axis=1)
    totals = bg.sum(axis=1)
    totals[totals == 0] = 1.0
    bg = np.maximum(bg / totals[:, None] * remainder[:, None], _OFF_CPM)
    out = pd.concat([prof, pd.DataFrame(bg, index=prof.index, columns=background)], axis=1)
    # Rescale so each cluster is exactly a million (the OFF floor of background adds a little).
    return out.div(out.sum(axis=1), axis=0) * 1e6


def _allocate(weights: np.ndarray, n: int) -> np.ndarray:
    """Cells per cluster: largest-remainder rounding, every cluster present when n allows."""
    p = weights / weights.sum()
    if n >= len(p):
        base = np.ones(len(p), int)
        rest = n - len(p)
    else:
        base = np.zeros(len(p), int)
        rest = n
    exact = p * rest
    k = np.floor(exact).astype(int)
    short = rest - k.sum()
    k[np.argsort(-(exact - k), kind="stable")[:short]] += 1
    return base + k


def toy_cortex(*, n_cells: int = 3000, seed: int = 0, n_genes_background: int = 300) -> ad.AnnData:
    """A synthetic mouse cortex: Tasic-like cell types, neuropeptide genes, negative-binomial counts.

    Deterministic for a given ``seed``; a different seed draws different cells from the same
    expression profile (:func:`toy_cortex_profile`). The genes are Smith et al.'s 18 neuropeptide
    precursors and 29 neuropeptide GPCRs, class / subclass / cluster markers, the classical
    neuromodulator genes (synthesis, transport, receptors) and ``n_genes_background`` synthetic
    background genes (``Bg0001`` ...), which carry most of each library.

    Parameters
    ----------
    n_cells
        Number of cells. Cluster sizes follow fixed Tasic-like abundances; with at least as many
        cells as clusters (39), every cluster has a cell.
    seed
        Seed of every random draw (cell order, library sizes, counts).
    n_genes_background
        Number of synthetic background genes.

    Returns
    -------
    AnnData
        Cells × genes, raw counts as float32 CSR in ``.X``; ``obs`` holds ``class_label``,
        ``subclass_label``, ``cluster_label`` (categorical) with ``_color`` and ``_id``, and
        ``total_counts``; ``var["category"]`` tells neuropeptide / np_gpcr / marker /
        neuromodulator / background; ``uns["neuromod"]`` records that the data is synthetic.

    Examples
    --------
    >>> adata = toy_cortex(n_cells=500, seed=1)
    >>> adata.uns["neuromod"]["synthetic"], adata.X.dtype.name
    (True, 'float32')
    >>> sorted(adata.obs["class_label"].cat.categories)
    ['GABAergic', 'Glutamatergic', 'Non-Neuronal']
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, int | np.integer) or n_cells < 1:
        raise DataValueError(f"n_cells must be a positive integer, got {n_cells!r}")
    if isinstance(n_genes_background, bool) or not isinstance(n_genes_background, int | np.integer):
        raise DataValueError(f"n_genes_background must be an integer, got {n_genes_background!r}")
    tax = _taxonomy_frame()
    prof = toy_cortex_profile(n_genes_background=int(n_genes_background))
    rng = np.random.default_rng(seed)

    sizes = _allocate(tax["weight"].to_numpy(float), int(n_cells))
    cl = rng.permutation(np.repeat(np.arange(len(tax)), sizes))
    neuronal = (tax["class_label"] != "Non-Neuronal").to_numpy()[cl]
    # SMART-seq-like depth: neurons ~2e5 reads per cell, glia about half.
    lib = rng.lognormal(np.log(2e5), 0.45, size=n_cells) * np.where(neuronal, 1.0, 0.5)

    mu = prof.to_numpy()[cl] * (lib / 1e6)[:, None]
    # Gene-specific dispersion (NB size 0.8-4), fixed like the profile.
    size = np.random.default_rng(7).uniform(0.8, 4.0, size=prof.shape[1])
    lam = mu * rng.gamma(size, 1.0 / size, size=mu.shape)
    counts = rng.poisson(lam).astype(np.float32)
    X = sp.csr_matrix(counts)

    obs_cols = [
        "class_label",
        "class_color",
        "class_id",
        "subclass_label",
        "subclass_color",
        "subclass_id",
        "cluster_label",
        "cluster_color",
        "cluster_id",
    ]
    obs = tax[obs_cols].iloc[cl].reset_index(drop=True)
    for col in ("class_label", "subclass_label", "cluster_label"):
        obs[col] = pd.Categorical(obs[col], categories=list(dict.fromkeys(tax[col])))
    obs["total_counts"] = np.asarray(X.sum(axis=1)).ravel()
    obs.index = pd.Index([f"toy_{i:05d}" for i in range(n_cells)], name="sample_name")

    genes = prof.columns
    cat = np.full(len(genes), "marker", dtype=object)
    cat[genes.isin(NEUROMODULATOR_GENES)] = "neuromodulator"
    cat[genes.isin(NPP)] = "neuropeptide"
    cat[genes.isin(NP_GPCR)] = "np_gpcr"
    cat[genes.str.match(r"^Bg\d{4}$")] = "background"
    var = pd.DataFrame({"category": pd.Categorical(cat)}, index=pd.Index(genes, name="gene"))

    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.uns["neuromod"] = {
        "X": "counts",
        "synthetic": True,
        "source": "neuromod toy_cortex",
        "reader": "toy_cortex",
        "seed": int(seed),
        "n_genes_background": int(n_genes_background),
    }
    return adata
