"""``load_resource(spec)``: one entry point for every ligand-receptor resource."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.errors import ColumnError, FormatError, ResourceError
from neuromod_data.resources.builtin import (
    infer_family,
    neuromodulators,
    neuropeptides,
    receptor_g_protein,
)
from neuromod_data.resources.cellchat import read_cellchat
from neuromod_data.resources.liana import read_liana
from neuromod_data.resources.neuronchat import read_neuronchat
from neuromod_data.resources.schema import interaction_name, validate_resource

__all__ = ["load_resource", "read_resource_csv", "RESOURCE_SPECS"]

RESOURCE_SPECS = (
    "neuropeptides",
    "neuromodulators",
    "neuronchat:PATH",
    "liana:PATH[:NAME]",
    "cellchat:PATH",
    "csv:PATH (or a .csv / .tsv path)",
)
_BUILTIN = {
    "neuropeptides": neuropeptides,
    "neuromodulators": neuromodulators,
}
# "smith2019" names Smith et al.'s method (aggregation preset, scoring method), not a resource
_RENAMED = {"smith2019": "neuropeptides"}


def read_resource_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A user's own resource table (CSV or TSV) in the resource schema.

    Only ``ligand`` and ``receptor`` are required; missing ``ligand_genes`` / ``receptor_genes``
    default to them, ``interaction`` to ``ligand→receptor``, ``family`` to the inferred family,
    ``g_protein`` to the built-in Gα class, ``source`` to the file name.

    Parameters
    ----------
    path
        A ``.csv`` / ``.tsv`` (optionally gzipped) file.

    Returns
    -------
    DataFrame
        The validated resource (:func:`~neuromod_data.resources.schema.validate_resource`).

    Raises
    ------
    InputFileError
        The file is missing.
    FormatError
        Not a readable table.
    ColumnError
        ``ligand`` or ``receptor`` is missing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = p.write_text("ligand,receptor\\nNpy,Npy1r\\n")
    >>> read_resource_csv(p)[["interaction", "family", "g_protein"]].values.tolist()
    [['Npy→Npy1r', 'neuropeptide', 'Gi/o']]
    """
    p = require_file(path, "resource table")
    sep = (
        "\t" if p.suffix.lower() in {".tsv", ".tab"} or p.name.lower().endswith(".tsv.gz") else ","
    )
    try:
        df = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FormatError(f"resource table {p} is not a readable table: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("ligand", "receptor") if c not in df.columns]
    if missing:
        raise ColumnError(
            f"resource table {p} lacks column(s) {', '.join(missing)}; it needs at least ligand "
            f"and receptor (found: {', '.join(df.columns[:10])})"
        )
    df = df.copy()
    if "ligand_genes" not in df:
        df["ligand_genes"] = df["ligand"]
    if "receptor_genes" not in df:
        df["receptor_genes"] = df["receptor"]
    if "interaction" not in df:
        df["interaction"] = [interaction_name(a, b) for a, b in zip(df["ligand"], df["receptor"])]
    if "family" not in df:
        df["family"] = [infer_family(g) for g in df["ligand_genes"]]
    if "g_protein" not in df:
        df["g_protein"] = [receptor_g_protein(g) for g in df["receptor_genes"]]
    if "source" not in df:
        df["source"] = p.name
    return validate_resource(df, name=f"resource table {p}")


def _split_liana(rest: str) -> tuple[str, str | None]:
    head, sep, tail = rest.rpartition(":")
    # "PATH:NAME" unless the tail looks like part of a path (a Windows drive, a folder)
    if sep and head and tail and not any(c in tail for c in "/\\") and not Path(rest).is_file():
        return head, tail
    return rest, None


def load_resource(spec: str | os.PathLike | pd.DataFrame = "neuropeptides") -> pd.DataFrame:
    """Load a ligand-receptor resource in the common schema.

    Parameters
    ----------
    spec
        ``"neuropeptides"`` (Smith et al. 2019's 37 pairs, the default), ``"neuromodulators"``
        (classical, NeuronChat-style multi-gene ligands), ``"neuronchat:PATH"``,
        ``"liana:PATH[:NAME]"`` (default NAME ``mouseconsensus``), ``"cellchat:PATH"``,
        ``"csv:PATH"`` or a ``.csv`` / ``.tsv`` path (your own table), or a DataFrame (validated).
        Several specs joined by ``"+"`` are concatenated (``"neuropeptides+neuromodulators"``).

    Returns
    -------
    DataFrame
        Columns ``interaction, ligand, receptor, ligand_genes, receptor_genes, family, g_protein,
        source`` (strings) plus reader-specific extras.

    Examples
    --------
    >>> df = load_resource("neuropeptides+neuromodulators")
    >>> sorted(df["family"].unique())
    ['acetylcholine', 'amino acid', 'monoamine', 'neuropeptide']
    """
    if isinstance(spec, pd.DataFrame):
        return validate_resource(spec, name="resource DataFrame")
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ResourceError(f"resource spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if "+" in spec and not Path(spec).exists():
        parts = [load_resource(s) for s in spec.split("+")]
        return validate_resource(pd.concat(parts, ignore_index=True), name=f"resource {spec}")
    if spec.lower() in _RENAMED:
        new_spec = _RENAMED[spec.lower()]
        warnings.warn(
            f"resource {spec!r} is named {new_spec!r} ({spec!r} names the scoring method); the old "
            "name will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        spec = new_spec
    if spec.lower() in _BUILTIN:
        return _BUILTIN[spec.lower()]()
    kind, sep, rest = spec.partition(":")
    kind = kind.lower()
    if sep and kind in {"neuronchat", "liana", "cellchat", "csv"}:
        if not rest:
            raise ResourceError(f"resource spec {spec!r} names no file; expected {kind}:PATH")
        if kind == "neuronchat":
            return read_neuronchat(rest)
        if kind == "cellchat":
            return read_cellchat(rest)
        if kind == "csv":
            return read_resource_csv(rest)
        path, name = _split_liana(rest)
        return read_liana(path) if name is None else read_liana(path, name)
    low = spec.lower()
    if low.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz")):
        return read_resource_csv(spec)
    if low.endswith((".rda", ".rdata")):
        # Recognise the database by its content.
        from neuromod_data.resources._rda import read_rda_objects

        objects = read_rda_objects(spec, what="resource")
        if any(
            isinstance(o, dict) and {"interaction", "complex"} <= set(map(str, o))
            for o in objects.values()
        ):
            return read_cellchat(spec)
        return read_neuronchat(spec)
    raise ResourceError(f"unknown resource spec {spec!r}; use one of: {', '.join(RESOURCE_SPECS)}")
