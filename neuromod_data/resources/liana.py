"""LIANA / OmniPath ligand-receptor resources (``omni_resource.csv``).

One row per (resource, ligand, receptor); columns ``source_genesymbol``, ``target_genesymbol``,
``resource``; complexes are gene symbols joined by ``"_"`` (e.g. ``Erbb2_Erbb3``). The file holds
several named resources (``consensus`` and ``mouseconsensus``, ``cellphonedb``, ``cellchatdb`` ...).
"""

from __future__ import annotations

import os

import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.errors import ColumnError, FormatError, ResourceError
from neuromod_data.resources.builtin import infer_family, receptor_g_protein
from neuromod_data.resources.schema import interaction_name, validate_resource

__all__ = ["read_liana", "liana_resource_names"]

_COLUMNS = ("source_genesymbol", "target_genesymbol", "resource")


def _read(path: str | os.PathLike) -> pd.DataFrame:
    p = require_file(path, "LIANA resource")
    try:
        header = pd.read_csv(p, nrows=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FormatError(f"LIANA resource {p} is not a readable CSV file: {exc}") from exc
    missing = [c for c in _COLUMNS if c not in header.columns]
    if missing:
        raise ColumnError(
            f"LIANA resource {p} lacks column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, header.columns[:10]))})"
        )
    try:
        return pd.read_csv(p, usecols=list(_COLUMNS), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FormatError(f"LIANA resource {p} could not be parsed: {exc}") from exc


def liana_resource_names(path: str | os.PathLike) -> list[str]:
    """The names of the resources a LIANA ``omni_resource.csv`` holds, sorted.

    Parameters
    ----------
    path
        The CSV (columns ``source_genesymbol``, ``target_genesymbol``, ``resource``).

    Returns
    -------
    list of str
        Resource names, e.g. ``"mouseconsensus"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "omni.csv"
    >>> _ = p.write_text("source_genesymbol,target_genesymbol,resource\\nA,B,y\\nC,D,x\\n")
    >>> liana_resource_names(p)
    ['x', 'y']
    """
    return sorted(set(_read(path)["resource"]))


def read_liana(path: str | os.PathLike, resource: str = "mouseconsensus") -> pd.DataFrame:
    """Read one named resource of a LIANA / OmniPath ``omni_resource.csv`` into the resource schema.

    Parameters
    ----------
    path
        The CSV (columns ``source_genesymbol``, ``target_genesymbol``, ``resource``).
    resource
        Which resource to select; ``mouseconsensus`` holds mouse symbols.

    Returns
    -------
    DataFrame
        Resource schema; ``ligand`` / ``receptor`` are the (complex) symbols, ``family`` is inferred
        from the ligand genes (``"other"`` for non-modulators), ``g_protein`` from the built-in
        receptor tables, ``source`` is ``"liana:<resource>"``. Duplicated pairs are kept once.

    Raises
    ------
    ResourceError
        ``resource`` is not in the file (the available names are listed).

    Examples
    --------
    >>> from neuromod_data._files import shared_data_dir
    >>> df = read_liana(shared_data_dir() / "lr_resources/liana_omni_resource.csv")  # doctest: +SKIP
    >>> df.set_index("interaction").loc["Nrg2→Erbb2_Erbb3", "receptor_genes"]  # doctest: +SKIP
    'Erbb2_Erbb3'
    """
    table = _read(path)
    available = sorted(set(table["resource"]))
    if resource not in available:
        raise ResourceError(
            f"LIANA resource {resource!r} not found in {path}; available: {', '.join(available)}"
        )
    sel = table.loc[table["resource"] == resource, ["source_genesymbol", "target_genesymbol"]]
    sel = sel.apply(lambda s: s.str.strip()).drop_duplicates()
    empty = sel.index[(sel["source_genesymbol"] == "") | (sel["target_genesymbol"] == "")]
    if len(empty):
        raise FormatError(
            f"LIANA resource {path}: {len(empty)} row(s) of {resource!r} have an empty gene "
            f"symbol (first at data row {int(empty[0]) + 1})"
        )
    lig, rec = sel["source_genesymbol"].tolist(), sel["target_genesymbol"].tolist()
    df = pd.DataFrame(
        {
            "interaction": [interaction_name(a, b) for a, b in zip(lig, rec)],
            "ligand": lig,
            "receptor": rec,
            "ligand_genes": lig,
            "receptor_genes": rec,
            "family": [infer_family(a) for a in lig],
            "g_protein": [receptor_g_protein(b) for b in rec],
            "source": f"liana:{resource}",
        }
    )
    return validate_resource(df, name=f"LIANA resource {path} ({resource})")
