"""Per-cluster summary tables (Allen ``trimmed_means.csv`` / ``medians.csv``: genes × clusters).

They become a types × genes AnnData shaped like :func:`neuromod_data.aggregate.aggregate`'s output:
``.X`` and ``.layers[stat]`` hold the values, ``obs["n_cells"]`` the cluster sizes where known (from
a cluster annotation with ``cluster_size``), else NaN.
"""

from __future__ import annotations

import os
import re

import anndata as ad
import numpy as np
import pandas as pd

from neuromod_data._files import require_file
from neuromod_data.errors import DataValueError, FormatError
from neuromod_data.io import _common
from neuromod_data.io._common import warn
from neuromod_data.io._csv_stream import sniff_delimiter
from neuromod_data.io._detect import peek_text

__all__ = ["read_summary"]


def _stat_from_name(name: str) -> str:
    low = name.lower()
    if "trimmed_mean" in low:
        return "trimmed_mean"
    if "median" in low:
        return "median"
    if re.search(r"(^|_)means?", low):
        return "mean"
    return "value"


def read_summary(
    path: str | os.PathLike,
    *,
    stat: str | None = None,
    annotation: str | os.PathLike | pd.DataFrame | None = None,
    metadata: str | os.PathLike | pd.DataFrame | None = None,
    make_unique: bool = False,
) -> ad.AnnData:
    """Read a genes × clusters summary table as types × genes.

    Parameters
    ----------
    stat
        Name of the statistic (layer name); from the file name if ``None``
        (``trimmed_means`` → ``trimmed_mean``, ``medians`` → ``median``).
    annotation
        Cluster annotation (e.g. Allen ``cluster.annotation.csv``) with ``cluster_label`` and
        optionally ``cluster_size``, ``subclass_label``, ``class_label``; joined on cluster label.
        ``metadata`` is accepted as a synonym (what ``read(..., metadata=)`` passes).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "trimmed_means.csv"
    >>> _ = p.write_text("feature,Vip A,Sst B\\nVip,50,0\\nSst,0,80\\n")
    >>> t = read_summary(p)
    >>> t.obs_names.tolist(), t.layers["trimmed_mean"].tolist()
    (['Vip A', 'Sst B'], [[50.0, 0.0], [0.0, 80.0]])
    """
    p = require_file(path, "summary table")
    stat = stat or _stat_from_name(p.name)
    head = peek_text(p, n_bytes=8192)
    sep = sniff_delimiter(head.splitlines()[0] if head else "")
    try:
        df = pd.read_csv(p, sep=sep, index_col=0, low_memory=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise FormatError(f"{p}: cannot read as a table ({str(exc).splitlines()[0]})") from None
    try:
        vals = df.to_numpy(dtype=np.float64).T
    except (ValueError, TypeError):
        raise FormatError(f"{p}: non-numeric values in the genes × clusters table") from None
    if not np.isfinite(vals).all():
        r, c = np.argwhere(~np.isfinite(vals))[0]
        raise DataValueError(
            f"{p}: non-finite value for gene {df.index[c]!r} in cluster {df.columns[r]!r}"
        )
    record: dict = {"precomputed": stat}
    genes = _common.check_unique_genes(
        df.index, make_unique=make_unique, where=str(p), record=record
    )
    types = pd.Index([str(c).strip() for c in df.columns])
    obs = pd.DataFrame(index=types)
    obs["n_cells"] = np.nan
    annotation = annotation if annotation is not None else metadata
    if annotation is not None:
        ann = (
            annotation
            if isinstance(annotation, pd.DataFrame)
            else _common.read_table(annotation, what="cluster annotation")
        )
        ann = ann.rename(columns=_common.allen_label_names(list(ann.columns)))
        if "cluster_label" not in ann.columns:
            raise DataValueError(
                f"{annotation}: the cluster annotation has no cluster_label column"
            )
        ann = ann.drop_duplicates("cluster_label").set_index(
            ann["cluster_label"].astype(str).str.strip()
        )
        matched = types.isin(ann.index)
        if not matched.all():
            miss = types[~matched]
            warn(f"{p}: {len(miss)} cluster(s) not in the annotation, e.g. {', '.join(miss[:5])}")
            record["clusters_without_annotation"] = [str(m) for m in miss[:20]]
        sub = ann.reindex(types)
        if "cluster_size" in sub.columns:
            obs["n_cells"] = pd.to_numeric(sub["cluster_size"], errors="coerce").to_numpy(float)
        for c in (
            "subclass_label",
            "class_label",
            "cluster_color",
            "subclass_color",
            "class_color",
        ):
            if c in sub.columns:
                obs[c] = sub[c].to_numpy()
    X = vals.astype(np.float32)
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes))
    adata.layers[stat] = X.copy()
    adata.uns["neuromod_aggregate"] = {
        "stats": [stat],
        "groupby": "cluster_label",
        "source": str(p),
        "precomputed": True,
    }
    return _common.finish(
        adata, x=stat, source=str(p), reader="summary", record=record, rename_labels=False
    )
