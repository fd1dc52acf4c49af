"""The column contract every ligand-receptor resource follows, its validation, and gene checks.

One row per interaction. String columns (h5ad-safe):

``interaction``
    ``"<ligand>→<receptor>"``, unique within a resource (e.g. ``"Npy→Npy1r"``).
``ligand``, ``receptor``
    Display names (a gene symbol, or a molecule such as ``"Dopamine"``, or a complex name).
``ligand_genes``, ``receptor_genes``
    Gene symbols joined by ``"_"`` (LIANA's complex convention); one gene is just the symbol.
``family``
    ``"neuropeptide"``, ``"monoamine"``, ``"acetylcholine"``, ``"amino acid"``, ... (free text).
``g_protein``
    ``"Gi/o"``, ``"Gs"``, ``"Gq"`` for a G-protein-coupled receptor of known class, else ``""``.
``source``
    Where the row comes from (``"Smith2019"``, ``"NeuronChat"``, ``"liana:mouseconsensus"``, ...).

Optional: ``ligand_groups`` (one integer per ligand gene, joined by ``"_"``). Genes sharing a group
are alternatives for the same step (e.g. ``Gad1``/``Gad2``), distinct groups are all required
(synthesis enzyme *and* vesicular transporter), as NeuronChat defines multi-gene ligands. Without it
every gene is its own group, i.e. a complex whose subunits are all required.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import pandas as pd

from neuromod_data.complexes import gene_groups, split_genes
from neuromod_data.errors import ColumnError, DataValueError, MissingGenesWarning, ResourceError

__all__ = [
    "REQUIRED_COLUMNS",
    "G_PROTEIN_CLASSES",
    "validate_resource",
    "split_genes",
    "gene_groups",
    "resource_genes",
    "check_genes",
    "interaction_name",
]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "interaction",
    "ligand",
    "receptor",
    "ligand_genes",
    "receptor_genes",
    "family",
    "g_protein",
    "source",
)
G_PROTEIN_CLASSES: tuple[str, ...] = ("Gi/o", "Gs", "Gq", "")
ARROW = "→"


def interaction_name(ligand: str, receptor: str) -> str:
    """``"Npy→Npy1r"``: the name of an interaction in resources, score tables and graph edges.

    Parameters
    ----------
    ligand, receptor
        Their display names.

    Returns
    -------
    str
        ``ligand→receptor``.

    Examples
    --------
    >>> interaction_name("Npy", "Npy1r")
    'Npy→Npy1r'
    """
    return f"{ligand}{ARROW}{receptor}"


def validate_resource(df: pd.DataFrame, *, name: str = "resource") -> pd.DataFrame:
    """Check a resource table against the column contract and return a clean copy.

    Required columns come first, all as stripped Python strings; extra columns follow unchanged.

    Parameters
    ----------
    df
        A resource table.
    name
        How to name it in messages.

    Returns
    -------
    DataFrame
        The cleaned copy.

    Raises
    ------
    ColumnError
        Required columns are missing (all of them are named).
    ResourceError
        The table is empty, has rows without genes, an unknown G-protein class, or malformed groups.
    DataValueError
        Interaction names are duplicated.

    Examples
    --------
    >>> df = pd.DataFrame({"interaction": ["Npy→Npy1r"], "ligand": ["Npy"], "receptor": ["Npy1r"],
    ...     "ligand_genes": ["Npy"], "receptor_genes": ["Npy1r"], "family": ["neuropeptide"],
    ...     "g_protein": ["Gi/o"], "source": ["me"]})
    >>> validate_resource(df).shape
    (1, 8)
    """
    if not isinstance(df, pd.DataFrame):
        raise ResourceError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ColumnError(
            f"{name} lacks required column(s) {', '.join(missing)}; a resource needs "
            f"{', '.join(REQUIRED_COLUMNS)}"
        )
    if len(df) == 0:
        raise ResourceError(f"{name} has no interactions")
    out = df.reset_index(drop=True).copy()
    for col in REQUIRED_COLUMNS:
        out[col] = out[col].fillna("").astype(str).str.strip().astype(object)
    for col in ("ligand_genes", "receptor_genes", "ligand", "receptor"):
        empty = out.index[out[col] == ""]
        if len(empty):
            rows = ", ".join(str(i) for i in empty[:5])
            raise ResourceError(f"{name}: column {col} is empty in row(s) {rows}")
    bad = sorted(set(out["g_protein"]) - set(G_PROTEIN_CLASSES))
    if bad:
        raise ResourceError(
            f"{name}: unknown g_protein value(s) {bad}; allowed: Gi/o, Gs, Gq or empty"
        )
    dup = out["interaction"][out["interaction"].duplicated()]
    if len(dup):
        raise DataValueError(
            f"{name}: duplicated interaction name(s) {', '.join(dup.unique()[:5])}"
        )
    if "ligand_groups" in out.columns:
        out["ligand_groups"] = out["ligand_groups"].fillna("").astype(str).astype(object)
        for genes, groups in zip(out["ligand_genes"], out["ligand_groups"]):
            gene_groups(genes, groups)  # raises on a mismatch
    extra = [c for c in out.columns if c not in REQUIRED_COLUMNS]
    return out[list(REQUIRED_COLUMNS) + extra]


def resource_genes(df: pd.DataFrame) -> set[str]:
    """Every gene symbol a resource uses (ligand and receptor side).

    Parameters
    ----------
    df
        A resource table (``ligand_genes``, ``receptor_genes``).

    Returns
    -------
    set of str
        The symbols.

    Raises
    ------
    ColumnError
        A genes column is missing.

    Examples
    --------
    >>> from neuromod_data.resources import neuropeptides
    >>> len(resource_genes(neuropeptides()))
    47
    """
    genes: set[str] = set()
    for col in ("ligand_genes", "receptor_genes"):
        if col not in df.columns:
            raise ColumnError(f"resource lacks column {col}")
        for s in df[col]:
            genes.update(split_genes(s))
    return genes


def _var_names(var_names) -> pd.Index:
    if hasattr(var_names, "var_names"):  # an AnnData
        var_names = var_names.var_names
    return pd.Index([str(v) for v in var_names])


def check_genes(
    resource: pd.DataFrame, var_names: Iterable[str], *, warn: bool = True
) -> dict[str, list[str]]:
    """The genes of each interaction that are absent from the data, with one warning naming them.

    Parameters
    ----------
    resource
        A resource table (:func:`validate_resource` columns).
    var_names
        Gene symbols of the data, or an AnnData (its ``var_names``).
    warn
        Emit a :class:`~neuromod_data.errors.MissingGenesWarning` when genes are missing.

    Returns
    -------
    dict
        ``{interaction: [missing genes]}`` for the interactions with at least one missing gene
        (empty when everything is present).

    Examples
    --------
    >>> from neuromod_data.resources import neuropeptides
    >>> genes = sorted(resource_genes(neuropeptides()) - {"Trhr"})
    >>> check_genes(neuropeptides(), genes, warn=False)
    {'Trh→Trhr': ['Trhr']}
    """
    present = set(_var_names(var_names))
    missing: dict[str, list[str]] = {}
    for inter, lg, rg in zip(
        resource["interaction"], resource["ligand_genes"], resource["receptor_genes"]
    ):
        miss = [g for g in dict.fromkeys(split_genes(lg) + split_genes(rg)) if g not in present]
        if miss:
            missing[str(inter)] = miss
    if missing and warn:
        genes = sorted({g for m in missing.values() for g in m})
        shown = ", ".join(genes[:20]) + (f" and {len(genes) - 20} more" if len(genes) > 20 else "")
        inters = ", ".join(list(missing)[:8]) + (" ..." if len(missing) > 8 else "")
        warnings.warn(
            f"{len(genes)} resource gene(s) absent from the data: {shown}; "
            f"{len(missing)} interaction(s) affected: {inters}",
            MissingGenesWarning,
            stacklevel=2,
        )
    return missing
