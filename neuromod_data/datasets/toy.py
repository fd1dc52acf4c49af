"""``toy_cortex``: a small synthetic cortex with a Tasic-like taxonomy and neuropeptide patterns.

The dataset is entirely synthetic. Its cell types, their names and colours, and the type specificity of
neuropeptide-precursor (NPP) and neuropeptide-GPCR genes imitate the mouse visual cortex of Tasic et al.
(2018) as analysed by Smith et al. (2019, eLife 8:e47889): Vip in Vip types, Sst in Sst types, Npy
highest in Sst Chodl and Lamp5 Lsp1, Nts in Sst Nts, Vipr2 in Pvalb Vipr2, Trhr in NP types, and nearly
every neuron expressing at least one NPP and one NP-GPCR. Counts are negative-binomial draws around a
fixed per-cluster expression profile (:func:`toy_cortex_profile`); the seed changes only the sampled
cells, never the "biology".
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neuromod_data.errors import DataValueError
from neuromod_data.resources.builtin import neuromodulators
from neuromod_data.resources.schema import resource_genes

__all__ = ["toy_cortex", "toy_cortex_profile", "TOY_TAXONOMY"]

# (class, subclass, cluster, relative abundance). Names follow Tasic et al. 2018; abundances are
# loosely Tasic-like (many IT cells, few rare interneuron types), not fitted to anything.
TOY_TAXONOMY: tuple[tuple[str, str, str, float], ...] = (
    ("GABAergic", "Lamp5", "Lamp5 Lsp1", 2.0),
    ("GABAergic", "Lamp5", "Lamp5 Plch2 Dock5", 2.0),
    ("GABAergic", "Lamp5", "Lamp5 Lhx6", 1.5),
    ("GABAergic", "Sncg", "Sncg Vip Itih5", 1.2),
    ("GABAergic", "Sncg", "Sncg Slc17a8", 1.0),
    ("GABAergic", "Vip", "Vip Chat", 1.5),
    ("GABAergic", "Vip", "Vip Arhgap36 Hmcn1", 2.0),
    ("GABAergic", "Vip", "Vip Crispld2 Htr2c", 1.5),
    ("GABAergic", "Vip", "Vip Lmo1 Myl1", 1.5),
    ("GABAergic", "Sst", "Sst Chodl", 1.0),
    ("GABAergic", "Sst", "Sst Nts", 1.2),
    ("GABAergic", "Sst", "Sst Calb2 Pdlim5", 2.0),
    ("GABAergic", "Sst", "Sst Hpse Cbln4", 1.5),
    ("GABAergic", "Sst", "Sst Tac2 Tacstd2", 1.2),
    ("GABAergic", "Pvalb", "Pvalb Vipr2", 1.0),
    ("GABAergic", "Pvalb", "Pvalb Reln Itm2a", 2.5),
    ("GABAergic", "Pvalb", "Pvalb Sema3e Kank4", 2.0),
    ("GABAergic", "Pvalb", "Pvalb Th Sst", 1.0),
    ("Glutamatergic", "L2/3 IT", "L2/3 IT VISp Adamts2", 4.0),
    ("Glutamatergic", "L2/3 IT", "L2/3 IT VISp Rrad", 3.0),
    ("Glutamatergic", "L2/3 IT", "L2/3 IT VISp Agmat", 2.5),
    ("Glutamatergic", "L4 IT", "L4 IT VISp Rspo1", 6.0),
    ("Glutamatergic", "L5 IT", "L5 IT VISp Hsd11b1 Endou", 3.0),
    ("Glutamatergic", "L5 IT", "L5 IT VISp Whrn Tox2", 2.0),
    ("Glutamatergic", "L5 PT", "L5 PT VISp Chrna6", 1.5),
    ("Glutamatergic", "L5 PT", "L5 PT VISp Lgr5", 1.5),
    ("Glutamatergic", "L6 IT", "L6 IT VISp Penk Col27a1", 2.0),
    ("Glutamatergic", "L6 IT", "L6 IT VISp Car3", 1.2),
    ("Glutamatergic", "L6 CT", "L6 CT VISp Nxph2 Wls", 4.0),
    ("Glutamatergic", "L6 CT", "L6 CT VISp Ctxn3 Brinp3", 3.0),
    ("Glutamatergic", "NP", "L5 NP VISp Trhr Met", 1.5),
    ("Glutamatergic", "NP", "NP SUB", 1.0),
    ("Glutamatergic", "L6b", "L6b VISp Col8a1 Rprm", 1.0),
    ("Glutamatergic", "L6b", "L6b P2ry12", 0.8),
    ("Non-Neuronal", "Astro", "Astro Aqp4", 3.0),
    ("Non-Neuronal", "Oligo", "Oligo Opalin", 2.5),
    ("Non-Neuronal", "OPC", "OPC Pdgfra", 1.0),
    ("Non-Neuronal", "Endo", "Endo Slc38a5", 1.5),
    ("Non-Neuronal", "Microglia", "Microglia Siglech", 1.0),
)

_CLASS_COLORS = {"GABAergic": "#F05A28", "Glutamatergic": "#00ADEE", "Non-Neuronal": "#808080"}
_SUBCLASS_COLORS = {
    "Lamp5": "#DA808C",
    "Sncg": "#D3408D",
    "Vip": "#B864CC",
    "Sst": "#FF9900",
    "Pvalb": "#D93137",
    "L2/3 IT": "#C4EC04",
    "L4 IT": "#00E5E5",
    "L5 IT": "#50B2AD",
    "L5 PT": "#0D5B78",
    "L6 IT": "#A19922",
    "L6 CT": "#2D8CB8",
    "NP": "#3E9E64",
    "L6b": "#7044AA",
    "Astro": "#665C47",
    "Oligo": "#53776C",
    "OPC": "#374A45",
    "Endo": "#8D6C62",
    "Microglia": "#94AF97",
}

NPP = [
    "Npy",
    "Sst",
    "Vip",
    "Tac2",
    "Cck",
    "Penk",
    "Crh",
    "Cort",
    "Tac1",
    "Pdyn",
    "Pthlh",
    "Pnoc",
    "Trh",
    "Grp",
    "Rln1",
    "Adcyap1",
    "Nts",
    "Nmb",
]
NP_GPCR = [
    "Sstr1",
    "Sstr2",
    "Sstr3",
    "Sstr4",
    "Npy1r",
    "Npy2r",
    "Npy5r",
    "Oprd1",
    "Oprk1",
    "Oprl1",
    "Oprm1",
    "Rxfp1",
    "Rxfp2",
    "Rxfp3",
    "Adcyap1r1",
    "Crhr1",
    "Crhr2",
    "Vipr1",
    "Vipr2",
    "Grpr",
    "Cckbr",
    "Ntsr1",
    "Ntsr2",
    "Nmbr",
    "Trhr",
    "Trhr2",
    "Tacr1",
    "Tacr3",
    "Pth1r",
]
# Class / subclass markers; cluster markers come from the words of the cluster names.
_MARKERS = {
    "GABAergic": ["Gad1", "Gad2", "Slc32a1"],
    "Glutamatergic": ["Slc17a7"],
    "Lamp5": ["Lamp5"],
    "Sncg": ["Sncg"],
    "Vip": [],
    "Sst": [],
    "Pvalb": ["Pvalb"],
    "L2/3 IT": ["Cux2"],
    "L4 IT": ["Rorb"],
    "L5 IT": ["Deptor"],
    "L5 PT": ["Fezf2"],
    "L6 IT": ["Osr1"],
    "L6 CT": ["Foxp2", "Syt6"],
    "NP": ["Tshz2"],
    "L6b": ["Cplx3"],
    "Astro": ["Gja1", "Aldh1l1"],
    "Oligo": ["Mog", "Mobp"],
    "OPC": ["Cspg4"],
    "Endo": ["Cldn5", "Flt1"],
    "Microglia": ["Cx3cr1", "Ctss"],
}
_NEURON = ["Snap25", "Syt1"]
# Words of cluster names that are not genes.
_NOT_GENES = {"IT", "PT", "CT", "NP", "VISp", "SUB", "L2/3", "L4", "L5", "L6", "L6b"}

# Classical neuromodulator genes: every gene of the built-in ``neuromodulators()`` table plus
# reuptake transporters. Cortex makes acetylcholine only in Vip Chat cells and no monoamines: their
# synthesis genes stay (almost) silent, while their receptors are expressed.
NEUROMODULATOR_GENES: list[str] = list(
    dict.fromkeys(
        sorted(resource_genes(neuromodulators()))
        + [
            "Slc6a3",
            "Slc6a2",
            "Slc6a4",
            "Slc5a7",
            "Drd3",
            "Htr1b",
            "Htr2b",
            "Adra1d",
            "Adra2b",
            "Adra2c",
            "Adrb3",
        ]
    )
)
# Transmitter machinery and receptors shared by all neurons / by a class (CPM).
_NEURON_EXPR = {"Gls": 300, "Gabbr1": 150, "Gabbr2": 80, "Gria2": 200, "Grin1": 250,
                "Gabrb2": 100, "Gabrg2": 120, "Grm7": 30}  # fmt: skip
_CLASS_EXPR = {
    "GABAergic": {"Gabra1": 200, "Gria1": 60, "Grm1": 20},
    "Glutamatergic": {"Gria1": 80, "Grin2a": 100, "Grin2b": 80, "Grm5": 40, "Gabra1": 100},
    "Non-Neuronal": {"Grm3": 20, "Gabbr1": 20},
}  # fmt: skip

# Expression of the modelled genes in CPM, by subclass (S:) or cluster (C:). Cluster entries override
# subclass entries. Levels are plausible orders of magnitude (NPPs 1e3-1e4 CPM, receptors 1e1-1e2).
_SUBCLASS_EXPR: dict[str, dict[str, float]] = {
    "Lamp5": {
        "Npy": 1500,
        "Pnoc": 300,
        "Cck": 150,
        "Htr3a": 200,
        "Chrna4": 40,
        "Chrna7": 40,
        "Npy1r": 30,
        "Oprl1": 40,
        "Sstr2": 15,
        "Adcyap1r1": 40,
        "Crhr1": 10,
        "Chrnb2": 60,
        "Htr2a": 10,
        "Adra1a": 10,
    },
    "Sncg": {
        "Cck": 6000,
        "Vip": 300,
        "Htr3a": 250,
        "Npy1r": 20,
        "Oprl1": 40,
        "Crhr2": 20,
        "Grpr": 20,
        "Adcyap1r1": 30,
        "Chrnb2": 50,
        "Adra1b": 15,
    },
    "Vip": {
        "Vip": 8000,
        "Cck": 800,
        "Crh": 300,
        "Penk": 400,
        "Grp": 150,
        "Pnoc": 100,
        "Htr3a": 300,
        "Chrna4": 60,
        "Chrnb2": 60,
        "Adrb1": 40,
        "Oprl1": 60,
        "Oprm1": 10,
        "Npy2r": 15,
        "Grpr": 25,
        "Tacr3": 10,
        "Adcyap1r1": 40,
        "Vipr1": 10,
        "Htr2c": 30,
        "Sstr2": 10,
    },
    "Sst": {
        "Sst": 12000,
        "Npy": 300,
        "Cort": 200,
        "Tac1": 150,
        "Pdyn": 150,
        "Nmb": 80,
        "Npy1r": 30,
        "Oprd1": 10,
        "Oprm1": 20,
        "Crhr1": 20,
        "Sstr2": 15,
        "Sstr1": 10,
        "Chrm2": 30,
        "Adcyap1r1": 30,
        "Rxfp3": 5,
        "Nmbr": 10,
        "Vipr2": 8,
        "Htr1a": 10,
    },
    "Pvalb": {
        "Tac1": 400,
        "Pthlh": 300,
        "Cort": 40,
        "Pnoc": 150,
        "Oprd1": 30,
        "Oprl1": 40,
        "Npy1r": 10,
        "Crhr1": 25,
        "Chrm2": 25,
        "Adcyap1r1": 20,
        "Vipr2": 15,
        "Sstr2": 10,
        "Htr1a": 10,
        "Adra1a": 10,
    },
    "L2/3 IT": {
        "Cck": 1500,
        "Adcyap1": 100,
        "Sstr2": 25,
        "Sstr4": 20,
        "Cckbr": 30,
        "Vipr1": 20,
        "Npy1r": 10,
        "Oprk1": 5,
        "Chrm1": 40,
        "Htr2a": 10,
        "Adcyap1r1": 20,
        "Hrh3": 10,
        "Adra1a": 10,
    },
    "L4 IT": {
        "Cck": 1200,
        "Nmb": 100,
        "Sstr2": 20,
        "Cckbr": 20,
        "Vipr1": 10,
        "Npy5r": 5,
        "Chrm1": 30,
        "Htr7": 5,
        "Adcyap1r1": 20,
        "Npy1r": 10,
    },
    "L5 IT": {
        "Cck": 1000,
        "Rln1": 200,
        "Tac2": 100,
        "Rxfp1": 25,
        "Sstr2": 20,
        "Npy2r": 15,
        "Tacr3": 30,
        "Chrm1": 30,
        "Htr2a": 20,
        "Oprk1": 10,
        "Adcyap1r1": 20,
        "Drd1": 5,
    },
    "L5 PT": {
        "Grm2": 40,
        "Cck": 500,
        "Adcyap1": 300,
        "Trh": 60,
        "Crhr1": 40,
        "Sstr2": 10,
        "Npy1r": 20,
        "Htr2a": 40,
        "Htr1a": 30,
        "Chrm1": 20,
        "Oprl1": 20,
        "Adcyap1r1": 30,
        "Hrh3": 15,
    },
    "L6 IT": {
        "Cck": 800,
        "Penk": 300,
        "Tac2": 200,
        "Rxfp1": 30,
        "Oprk1": 20,
        "Trhr2": 10,
        "Tacr3": 20,
        "Sstr2": 15,
        "Drd1": 15,
        "Chrm1": 25,
        "Adcyap1r1": 15,
        "Npy1r": 10,
    },
    "L6 CT": {
        "Cck": 600,
        "Pdyn": 80,
        "Npy1r": 30,
        "Ntsr1": 20,
        "Vipr1": 15,
        "Oprl1": 20,
        "Sstr2": 10,
        "Chrm1": 20,
        "Htr1a": 10,
        "Adcyap1r1": 15,
        "Drd1": 5,
    },
    "NP": {
        "Cck": 500,
        "Nts": 60,
        "Trhr": 60,
        "Oprk1": 10,
        "Sstr2": 10,
        "Npy1r": 15,
        "Chrm1": 20,
        "Adcyap1r1": 15,
    },
    "L6b": {
        "Slc17a6": 100,
        "Cck": 400,
        "Nts": 200,
        "Ntsr1": 15,
        "Drd1": 30,
        "Crhr2": 10,
        "Npy1r": 15,
        "Sstr2": 10,
        "Chrm1": 20,
        "Adcyap1r1": 15,
    },
    "Astro": {
        "Grm3": 100,
        "Ntsr2": 150,
        "Adcyap1r1": 30,
        "Pth1r": 10,
        "Sstr3": 5,
        "Adra1a": 10,
        "Adra2a": 5,
        "Hrh1": 5,
    },
    "Oligo": {"Pth1r": 5, "Sstr3": 3},
    "OPC": {"Pth1r": 5, "Sstr3": 3, "Chrm1": 3},
    "Endo": {"Pth1r": 80, "Adrb2": 10, "Hrh2": 3, "Crhr2": 5},
    "Microglia": {"Adrb2": 20, "P2ry12": 300, "Hrh1": 3},
}
_CLUSTER_EXPR: dict[str, dict[str, float]] = {
    "Lamp5 Lsp1": {"Npy": 20000, "Lsp1": 200, "Pnoc": 100, "Sstr1": 10},
    "Lamp5 Plch2 Dock5": {"Npy": 2000, "Nmb": 80},
    "Lamp5 Lhx6": {"Npy": 3000, "Pnoc": 400, "Lhx6": 150},
    "Sncg Vip Itih5": {"Vip": 1500},
    "Vip Chat": {"Vip": 10000, "Chat": 150, "Slc18a3": 80, "Slc5a7": 30, "Crh": 500},
    "Vip Arhgap36 Hmcn1": {"Cck": 2500, "Penk": 1500},
    "Vip Crispld2 Htr2c": {"Crh": 700, "Htr2c": 150, "Tac2": 300},
    "Vip Lmo1 Myl1": {"Penk": 900, "Grp": 400},
    "Sst Chodl": {
        "Npy": 30000,
        "Sst": 9000,
        "Tac1": 1200,
        "Tacr1": 120,
        "Nos1": 300,
        "Chodl": 300,
        "Cort": 0.3,
    },
    "Sst Nts": {"Nts": 4000, "Sst": 10000, "Npy": 200},
    "Sst Calb2 Pdlim5": {"Cort": 1500, "Calb2": 300},
    "Sst Hpse Cbln4": {"Pdyn": 800, "Cort": 400},
    "Sst Tac2 Tacstd2": {"Tac2": 2000, "Pdyn": 400},
    "Pvalb Vipr2": {"Vipr2": 250, "Pthlh": 800, "Tac1": 0.3, "Pvalb": 100},
    "Pvalb Reln Itm2a": {"Cort": 150, "Reln": 200},
    "Pvalb Th Sst": {"Sst": 1200, "Th": 40, "Npy": 200},
    "L2/3 IT VISp Agmat": {"Cck": 2500},
    "L5 PT VISp Chrna6": {"Chrna6": 150, "Adcyap1": 500},
    "L6 IT VISp Penk Col27a1": {"Penk": 2500},
    "L6 IT VISp Car3": {"Cck": 200, "Nmb": 300, "Oprk1": 40},
    "L5 NP VISp Trhr Met": {"Trhr": 120},
    "NP SUB": {"Trhr": 40, "Nts": 300},
    "L6b VISp Col8a1 Rprm": {"Nts": 400},
}
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
