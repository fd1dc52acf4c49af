"""The curated tables shipped with the package (``neuromod_data/_shipped/``).

- :func:`neuropeptides`: Smith et al. 2019's 37 cognate neuropeptide-precursor → NP-GPCR pairs
  (18 NPP genes, 29 GPCR genes) with the GPCR's Gα class.
- :func:`neuromodulators`: classical neuromodulators as NeuronChat defines them, a ligand being the
  set of genes needed to make and package it (synthesis enzymes + vesicular transporter), with their
  GPCRs (Gα class) and ionotropic receptors.
"""

from __future__ import annotations

import csv
import functools
import io
from importlib import resources as _ir

import pandas as pd

from neuromod_data.resources.schema import split_genes, validate_resource

__all__ = [
    "neuropeptides",
    "neuromodulators",
    "NPP_GENES",
    "NP_GPCR_GENES",
    "NEUROPEPTIDE_PRECURSORS",
    "receptor_g_protein",
]

_NEUROPEPTIDES_FILE = "neuropeptides_smith2019.csv"
_NEUROMODULATORS_FILE = "neuromodulators.csv"


def _shipped_text(name: str) -> str:
    return _ir.files("neuromod_data._shipped").joinpath(name).read_text(encoding="utf-8")


@functools.cache
def _table(name: str) -> pd.DataFrame:
    df = pd.read_csv(io.StringIO(_shipped_text(name)), dtype=str, keep_default_na=False)
    return validate_resource(df, name=f"built-in table {name}")


def neuropeptides() -> pd.DataFrame:
    """Smith et al. 2019's 37 neuropeptide ligand-receptor pairs (the default resource).

    Returns
    -------
    DataFrame
        One row per pair in the resource schema (:mod:`neuromod_data.resources.schema`);
        ``family`` is ``"neuropeptide"``, ``g_protein`` the receptor's Gα class.

    Examples
    --------
    >>> df = neuropeptides()
    >>> len(df), df.loc[df.interaction == "Npy→Npy1r", "g_protein"].item()
    (37, 'Gi/o')
    """
    return _table(_NEUROPEPTIDES_FILE).copy()


def neuromodulators() -> pd.DataFrame:
    """Classical neuromodulators (dopamine, serotonin, noradrenaline, histamine, acetylcholine,
    GABA, glutamate) with NeuronChat-style multi-gene ligands and their receptors.

    ``ligand_genes`` lists synthesis enzymes and vesicular transporters, ``ligand_groups`` says which
    of them are alternatives (same group) and which are all required (different groups);
    ``receptor_type`` is ``"GPCR"`` or ``"ionotropic"``.

    Returns
    -------
    DataFrame
        The resource schema (:mod:`neuromod_data.resources.schema`) plus ``ligand_groups`` and
        ``receptor_type``; a fresh copy.

    Examples
    --------
    >>> df = neuromodulators()
    >>> row = df.set_index("interaction").loc["Dopamine→Drd1"]
    >>> row.ligand_genes, row.ligand_groups, row.g_protein
    ('Th_Ddc_Slc18a1_Slc18a2', '1_2_3_3', 'Gs')
    """
    return _table(_NEUROMODULATORS_FILE).copy()


def _column(name: str, col: str) -> list[str]:
    rows = csv.DictReader(io.StringIO(_shipped_text(name)))
    return [r[col] for r in rows]


#: Smith et al. 2019's 18 neuropeptide-precursor genes.
NPP_GENES: tuple[str, ...] = tuple(dict.fromkeys(_column(_NEUROPEPTIDES_FILE, "ligand_genes")))
#: Smith et al. 2019's 29 neuropeptide-selective GPCR genes.
NP_GPCR_GENES: tuple[str, ...] = tuple(
    dict.fromkeys(_column(_NEUROPEPTIDES_FILE, "receptor_genes"))
)

#: Neuropeptide-precursor genes beyond Smith's 18 (mouse symbols), used to label the ``family`` of
#: rows from external resources. Not exhaustive.
NEUROPEPTIDE_PRECURSORS: frozenset[str] = frozenset(NPP_GENES) | frozenset(
    [
        "Adm",
        "Adm2",
        "Agrp",
        "Apln",
        "Avp",
        "Calca",
        "Calcb",
        "Cartpt",
        "Edn1",
        "Edn2",
        "Edn3",
        "Gal",
        "Galp",
        "Gast",
        "Gcg",
        "Ghrh",
        "Ghrl",
        "Gip",
        "Gnrh1",
        "Hcrt",
        "Iapp",
        "Insl3",
        "Insl5",
        "Kiss1",
        "Mln",
        "Nms",
        "Nmu",
        "Npb",
        "Nppa",
        "Nppb",
        "Nppc",
        "Npff",
        "Npvf",
        "Npw",
        "Nucb2",
        "Oxt",
        "Pmch",
        "Pomc",
        "Ppy",
        "Prlh",
        "Prok1",
        "Prok2",
        "Pyy",
        "Qrfp",
        "Rln3",
        "Sct",
        "Spx",
        "Tac4",
        "Ucn",
        "Ucn2",
        "Ucn3",
        "Uts2",
        "Uts2b",
        "Vgf",
    ]
)


@functools.lru_cache(maxsize=1)
def _g_protein_map() -> dict[str, str]:
    out: dict[str, str] = {}
    subunits: dict[str, str] = {}
    for df in (_table(_NEUROPEPTIDES_FILE), _table(_NEUROMODULATORS_FILE)):
        for genes, g in zip(df["receptor_genes"], df["g_protein"]):
            if g:
                out[genes] = g
                # subunits of an obligate GPCR dimer (Gabbr1_Gabbr2) couple the same way
                for sub in split_genes(genes):
                    subunits.setdefault(sub, g)
    return {**subunits, **out}


def receptor_g_protein(receptor_genes: str) -> str:
    """Gα class of a receptor (``"_"``-joined genes) known to the built-in tables, else ``""``.

    A complex is matched as a whole first (``Gabbr1_Gabbr2``), then by its single GPCR subunit.

    Parameters
    ----------
    receptor_genes
        ``"_"``-joined receptor genes.

    Returns
    -------
    str
        ``"Gi/o"``, ``"Gs"``, ``"Gq"``, or ``""`` (unknown, ionotropic or ambiguous).

    Examples
    --------
    >>> receptor_g_protein("Npy1r"), receptor_g_protein("Gabbr1"), receptor_g_protein("Gria1")
    ('Gi/o', 'Gi/o', '')
    """
    table = _g_protein_map()
    if receptor_genes in table:
        return table[receptor_genes]
    classes = {table[g] for g in split_genes(receptor_genes) if g in table}
    return classes.pop() if len(classes) == 1 else ""


# Ligand genes that identify a classical transmitter family in external resources.
_CLASSICAL_LIGAND_GENES = {
    "monoamine": {"Th", "Ddc", "Dbh", "Pnmt", "Tph1", "Tph2", "Hdc", "Slc18a1", "Slc18a2", "Slc6a3",
                  "Slc6a2", "Slc6a4"},
    "acetylcholine": {"Chat", "Slc18a3", "Slc5a7", "Slc10a4"},
    "amino acid": {"Gad1", "Gad2", "Slc32a1", "Gls", "Slc17a6", "Slc17a7", "Slc17a8", "Shmt1",
                   "Shmt2", "Slc6a5", "Slc6a9"},
}  # fmt: skip


def infer_family(ligand_genes: str, default: str = "other") -> str:
    """Family of a ligand from its genes: neuropeptide, monoamine, acetylcholine, amino acid.

    Parameters
    ----------
    ligand_genes
        ``"_"``-joined ligand genes.
    default
        The family of anything else.

    Returns
    -------
    str
        The family.

    Examples
    --------
    >>> infer_family("Npy"), infer_family("Th_Ddc_Slc18a2"), infer_family("Tgfb1")
    ('neuropeptide', 'monoamine', 'other')
    """
    genes = split_genes(ligand_genes)
    if any(g in NEUROPEPTIDE_PRECURSORS for g in genes):
        return "neuropeptide"
    for family, members in _CLASSICAL_LIGAND_GENES.items():
        if any(g in members for g in genes):
            return family
    return default
