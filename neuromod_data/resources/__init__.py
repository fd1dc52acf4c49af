"""Ligand-receptor resources in one schema: built-in neuropeptide / neuromodulator tables and
readers for NeuronChat, LIANA / OmniPath and CellChatDB.

>>> from neuromod_data.resources import load_resource
>>> load_resource("neuropeptides").shape[0]
37
"""

from __future__ import annotations

from neuromod_data.resources.builtin import (
    NEUROPEPTIDE_PRECURSORS,
    NP_GPCR_GENES,
    NPP_GENES,
    infer_family,
    neuromodulators,
    neuropeptides,
    receptor_g_protein,
)
from neuromod_data.resources.cellchat import read_cellchat
from neuromod_data.resources.liana import liana_resource_names, read_liana
from neuromod_data.resources.load import RESOURCE_SPECS, load_resource, read_resource_csv
from neuromod_data.resources.neuronchat import read_neuronchat
from neuromod_data.resources.schema import (
    G_PROTEIN_CLASSES,
    REQUIRED_COLUMNS,
    check_genes,
    gene_groups,
    interaction_name,
    resource_genes,
    split_genes,
    validate_resource,
)

__all__ = [
    "G_PROTEIN_CLASSES",
    "NEUROPEPTIDE_PRECURSORS",
    "NPP_GENES",
    "NP_GPCR_GENES",
    "REQUIRED_COLUMNS",
    "RESOURCE_SPECS",
    "check_genes",
    "gene_groups",
    "infer_family",
    "interaction_name",
    "liana_resource_names",
    "load_resource",
    "neuromodulators",
    "neuropeptides",
    "read_cellchat",
    "read_liana",
    "read_neuronchat",
    "read_resource_csv",
    "receptor_g_protein",
    "resource_genes",
    "split_genes",
    "validate_resource",
]
