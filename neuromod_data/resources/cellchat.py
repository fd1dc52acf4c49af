"""CellChatDB (``CellChatDB.mouse.rda`` / ``CellChatDB.human.rda``): interaction, complex, cofactor
and geneInfo tables. Ligands and receptors may name a complex (``TGFbR1_R2``, ``5-HT-TPH1_SLC18A1``)
whose subunits are listed in the complex table; those are resolved to gene symbols here.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from neuromod_data.errors import ColumnError, FormatError
from neuromod_data.resources._rda import describe, read_rda_objects
from neuromod_data.resources.builtin import infer_family, receptor_g_protein
from neuromod_data.resources.schema import interaction_name, validate_resource

__all__ = ["read_cellchat"]

_PATHWAY_FAMILY = {
    "5-HT": "monoamine", "Dopamine": "monoamine", "SerotoninDopamin": "monoamine",
    "Noradrenaline": "monoamine", "Adrenaline": "monoamine", "Histamine": "monoamine",
    "Ach": "acetylcholine", "GABA-A": "amino acid", "GABA-B": "amino acid",
    "Glutamate": "amino acid", "Glycine": "amino acid",
}  # fmt: skip


def _find_db(objects: dict[str, Any], path) -> tuple[str, dict]:
    for name, obj in objects.items():
        if isinstance(obj, dict) and {"interaction", "complex"} <= {str(k) for k in obj}:
            return name, {str(k): v for k, v in obj.items()}
    found = "; ".join(f"{n}: {describe(o)}" for n, o in objects.items())
    raise FormatError(
        f"{path} is not a CellChatDB: expected an R list with 'interaction' and 'complex' tables, "
        f"found {found}"
    )


def read_cellchat(path: str | os.PathLike) -> pd.DataFrame:
    """Read CellChatDB (``.rda``) into the resource schema, complex subunits resolved to genes.

    Parameters
    ----------
    path
        CellChatDB's ``.rda`` file (e.g. ``CellChatDB.mouse.rda``).

    Returns
    -------
    DataFrame
        Resource schema plus ``pathway_name``, ``annotation`` (Secreted Signaling, Non-protein
        Signaling, Cell-Cell Contact, ECM-Receptor) and ``source_id`` (CellChat's interaction
        name). ``family`` follows the pathway for transmitters (monoamine, acetylcholine, amino
        acid), the ligand genes for neuropeptides, else the annotation in lower case.

    Examples
    --------
    >>> from neuromod_data._files import shared_data_dir
    >>> df = read_cellchat(shared_data_dir() / "lr_resources/CellChatDB.mouse.rda")  # doctest: +SKIP
    >>> df.set_index("source_id").loc["TGFB1_TGFBR1_TGFBR2", "receptor_genes"]  # doctest: +SKIP
    'Tgfbr1_Tgfbr2'
    """
    objects = read_rda_objects(path, what="CellChatDB")
    db_name, db = _find_db(objects, path)
    inter, cplx = db["interaction"], db["complex"]
    for tname, t in (("interaction", inter), ("complex", cplx)):
        if not isinstance(t, pd.DataFrame):
            raise FormatError(f"CellChatDB {path}: '{tname}' is {describe(t)}, not a table")
    inter = inter.copy()
    inter.columns = [str(c) for c in inter.columns]
    missing = [c for c in ("ligand", "receptor") if c not in inter.columns]
    if missing:
        raise ColumnError(
            f"CellChatDB {path}: interaction table lacks column(s) {', '.join(missing)}"
        )

    subunits: dict[str, list[str]] = {}
    for name, row in cplx.astype("string").fillna("").iterrows():
        subunits[str(name)] = [s.strip() for s in row.tolist() if s.strip()]

    def genes(x: str) -> str:
        return "_".join(subunits.get(x) or [x])

    lig = inter["ligand"].astype(str).str.strip().tolist()
    rec = inter["receptor"].astype(str).str.strip().tolist()
    lig_genes = [genes(x) for x in lig]
    rec_genes = [genes(x) for x in rec]
    pathway = inter["pathway_name"] if "pathway_name" in inter else pd.Series("", index=inter.index)
    pathway = pathway.astype(str).fillna("").tolist()
    annotation = inter["annotation"] if "annotation" in inter else pd.Series("", index=inter.index)
    annotation = annotation.astype(str).fillna("").tolist()
    family = [
        _PATHWAY_FAMILY.get(p) or infer_family(lg, default=a.lower() or "other")
        for p, lg, a in zip(pathway, lig_genes, annotation)
    ]
    source_id = [str(i) for i in inter.get("interaction_name", inter.index)]
    df = pd.DataFrame(
        {
            "interaction": [interaction_name(a, b) for a, b in zip(lig, rec)],
            "ligand": lig,
            "receptor": rec,
            "ligand_genes": lig_genes,
            "receptor_genes": rec_genes,
            "family": family,
            "g_protein": [receptor_g_protein(r) for r in rec_genes],
            "source": "CellChatDB",
            "pathway_name": pathway,
            "annotation": annotation,
            "source_id": source_id,
        }
    )
    df = df.drop_duplicates("interaction")
    return validate_resource(df, name=f"CellChatDB {path} ({db_name})")
