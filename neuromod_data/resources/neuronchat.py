"""NeuronChat's interaction database (``interactionDB_mouse`` / ``interactionDB_human``, ``.rda``).

An R list of interactions; each names its ligand contributors (several genes for small-molecule
transmitters: synthesis enzymes, vesicular transporters), their groups and coefficients, and the
receptor subunits. Example: ``Glu_Grin1`` has contributors ``Gls`` (group 1) and ``Slc17a6``,
``Slc17a7``, ``Slc17a8`` (group 2, alternatives).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from neuromod_data.errors import FormatError
from neuromod_data.resources._rda import describe, read_rda_objects
from neuromod_data.resources.builtin import receptor_g_protein
from neuromod_data.resources.schema import interaction_name, validate_resource

__all__ = ["read_neuronchat"]

_NEEDED = ("lig_contributor", "receptor_subunit")
# NeuronChat's short transmitter names → family.
_TRANSMITTER_FAMILY = {
    "DA": "monoamine", "5HT": "monoamine", "NE": "monoamine", "Epi": "monoamine",
    "His": "monoamine", "Ach": "acetylcholine", "Glu": "amino acid", "GABA": "amino acid",
    "Gly": "amino acid",
}  # fmt: skip
_TYPE_FAMILY = {
    "Neuropeptide": "neuropeptide",
    "Gap junction protein": "gap junction",
    "Synaptic adhesion molecule": "adhesion",
    "Gas": "gas",
}


def _flat(x: Any) -> list[Any]:
    # R atomic vectors arrive as numpy arrays, R lists as Python lists (possibly of arrays).
    if x is None:
        return []
    if isinstance(x, list | tuple):
        return [v for item in x for v in _flat(item)]
    return list(np.atleast_1d(np.asarray(x, dtype=object)).ravel())


def _strings(x: Any) -> list[str]:
    return [str(v) for v in _flat(x)]


def _numbers(x: Any) -> list[str]:
    try:
        return [f"{float(v):g}" for v in _flat(x)]
    except (TypeError, ValueError) as exc:
        raise FormatError(f"NeuronChat group or coefficient values are not numbers: {x!r}") from exc


def _is_interaction(entry: Any) -> bool:
    return isinstance(entry, dict) and all(k in {str(key) for key in entry} for k in _NEEDED)


def _find_db(objects: dict[str, Any], path) -> tuple[str, dict]:
    for name, obj in objects.items():
        if isinstance(obj, dict) and obj and all(_is_interaction(v) for v in obj.values()):
            return name, obj
    found = "; ".join(f"{n}: {describe(o)}" for n, o in objects.items())
    raise FormatError(
        f"{path} is not a NeuronChat interaction database: expected an R list of interactions "
        f"each with {', '.join(_NEEDED)}, found {found}"
    )


def read_neuronchat(path: str | os.PathLike) -> pd.DataFrame:
    """Read a NeuronChat interaction database (``.rda``) into the resource schema.

    Parameters
    ----------
    path
        E.g. ``neuronchat_interactionDB_mouse.rda`` (183 interactions).

    Returns
    -------
    DataFrame
        Resource schema (:mod:`~neuromod_data.resources.schema`) plus ``ligand_groups``,
        ``ligand_group_coeffs`` (one coefficient per group), ``interaction_type``
        (ligand-receptor, ligand uptake, ...), ``ligand_type`` and ``source_id`` (NeuronChat's name,
        e.g. ``Glu_Grin1``). ``source`` is ``"NeuronChat"``.

    Examples
    --------
    >>> from neuromod_data._files import shared_data_dir
    >>> d = shared_data_dir()
    >>> df = read_neuronchat(d / "lr_resources/neuronchat_interactionDB_mouse.rda")  # doctest: +SKIP
    >>> df.set_index("interaction").loc["Glu→Grin1", "ligand_genes"]  # doctest: +SKIP
    'Gls_Slc17a6_Slc17a7_Slc17a8'
    """
    objects = read_rda_objects(path, what="NeuronChat database")
    db_name, db = _find_db(objects, path)
    rows = []
    for key, entry in db.items():
        e = {str(k): v for k, v in entry.items()}
        src_name = (_strings(e.get("interaction_name")) or [str(key)])[0]
        lig_genes = _strings(e["lig_contributor"])
        rec_genes = _strings(e["receptor_subunit"])
        if not lig_genes or not rec_genes:
            raise FormatError(
                f"{path}: NeuronChat interaction {src_name} has no ligand or receptor genes"
            )
        lig_groups = _numbers(e.get("lig_contributor_group"))
        if len(lig_groups) != len(lig_genes):
            lig_groups = [str(i + 1) for i in range(len(lig_genes))]
        ligand, _, receptor = src_name.partition("_")
        if not receptor:
            ligand, receptor = "_".join(lig_genes), "_".join(rec_genes)
        ligand_type = (_strings(e.get("ligand_type")) or [""])[0]
        family = _TYPE_FAMILY.get(ligand_type) or _TRANSMITTER_FAMILY.get(ligand, "other")
        rec = "_".join(rec_genes)
        rows.append(
            {
                "interaction": interaction_name(ligand, receptor),
                "ligand": ligand,
                "receptor": receptor,
                "ligand_genes": "_".join(lig_genes),
                "receptor_genes": rec,
                "family": family,
                "g_protein": receptor_g_protein(rec),
                "source": "NeuronChat",
                "ligand_groups": "_".join(lig_groups),
                "ligand_group_coeffs": "_".join(_numbers(e.get("lig_contributor_coeff"))),
                "interaction_type": (_strings(e.get("interaction_type")) or [""])[0],
                "ligand_type": ligand_type,
                "source_id": src_name,
            }
        )
    return validate_resource(pd.DataFrame(rows), name=f"NeuronChat database {path} ({db_name})")
