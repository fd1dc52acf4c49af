"""The ligand–receptor resource as scoring takes it: loaded or checked, one row per interaction
with its ligand and receptor genes, and split into what the data can score and what it lacks
(reported, never dropped silently: :class:`~neuromod_data.errors.MissingGenesWarning`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from neuromod_data.complexes import gene_groups, split_genes
from neuromod_data.errors import MissingGenesWarning, ResourceError
from neuromod_data.resources import interaction_name, load_resource


def prepare_resource(resource: str | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The resource as a DataFrame with the table's columns, and a name for the record.

    Parameters
    ----------
    resource
        A spec for :func:`neuromod_data.resources.load_resource`, or a DataFrame with at least
        ``ligand`` and ``receptor`` (or ``ligand_genes`` and ``receptor_genes``); missing optional
        columns are filled (genes = names, interaction = ``L→R``, family and g_protein empty).

    Returns
    -------
    tuple of (DataFrame, str)
        One row per distinct interaction, string columns; the resource's name.

    Raises
    ------
    ResourceError
        Neither a spec nor a DataFrame, a side's columns missing, or no interactions.

    Examples
    --------
    >>> df, name = prepare_resource(pd.DataFrame({"ligand": ["Npy"], "receptor": ["Npy1r"]}))
    >>> df.loc[0, ["interaction", "ligand_genes"]].tolist(), name
    (['Npy→Npy1r', 'Npy'], 'DataFrame')
    """
    if isinstance(resource, str):
        df, name = load_resource(resource), resource
    elif isinstance(resource, pd.DataFrame):
        df, name = resource, "DataFrame"
    else:
        raise ResourceError(f"resource must be a spec string or a DataFrame, got {type(resource)}")
    df = df.copy()
    for side in ("ligand", "receptor"):
        genes_col = f"{side}_genes"
        if side not in df.columns and genes_col not in df.columns:
            raise ResourceError(
                f"resource {name!r} lacks the column {side!r} (and {genes_col!r}); "
                f"it has {list(df.columns)}"
            )
        if side not in df.columns:
            df[side] = df[genes_col]
        if genes_col not in df.columns:
            df[genes_col] = df[side]
    if "interaction" not in df.columns:
        df["interaction"] = [interaction_name(a, b) for a, b in zip(df["ligand"], df["receptor"])]
    text = ["family", "g_protein", "ligand_groups", "receptor_groups"]
    for col in text:
        if col not in df.columns:
            df[col] = ""
    df = df.fillna(dict.fromkeys(text, ""))
    for col in [*text, "interaction", "ligand", "receptor", "ligand_genes", "receptor_genes"]:
        df[col] = df[col].astype(str)
    if df.empty:
        raise ResourceError(f"resource {name!r} has no interactions")
    return df.drop_duplicates("interaction").reset_index(drop=True), name


def _resource_genes(res: pd.DataFrame) -> list[str]:
    sides = pd.concat([res.ligand_genes, res.receptor_genes])
    return sorted({g for c in sides for g in split_genes(c)})


def _split_available(res: pd.DataFrame, genes: Sequence[str], name: str):
    """Keep the interactions whose required genes are present (one alternative per group suffices);
    report the others, and every absent gene."""
    present = set(map(str, genes))
    all_genes = _resource_genes(res)
    missing_genes = [g for g in all_genes if g not in present]

    def covered(genes_: str, groups: str) -> bool:
        return all(any(g in present for g in part) for part in gene_groups(genes_, groups or None))

    sides = zip(res.ligand_genes, res.receptor_genes, res.ligand_groups, res.receptor_groups)
    ok = np.array([covered(lg, lgr) and covered(rg, rgr) for lg, rg, lgr, rgr in sides], dtype=bool)
    if not ok.any():
        raise ResourceError(
            f"none of the {len(res)} interactions of resource {name!r} can be scored: the data lack "
            f"{len(missing_genes)} of its {len(all_genes)} genes (e.g. {missing_genes[:8]}); "
            "check that var_names are gene symbols of the same species"
        )
    missing_int = res.interaction[~ok].tolist()
    if missing_genes and not missing_int:
        warnings.warn(
            f"genes {missing_genes} of resource {name!r} are absent from the data; every interaction is "
            "still scored through the alternatives of the same group",
            MissingGenesWarning,
            stacklevel=3,
        )
    if missing_int:
        warnings.warn(
            f"{len(missing_int)} interaction(s) of resource {name!r} cannot be scored because genes "
            f"{missing_genes} are absent from the data: {missing_int}",
            MissingGenesWarning,
            stacklevel=3,
        )
    return res[ok].reset_index(drop=True), missing_genes, missing_int
