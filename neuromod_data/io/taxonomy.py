"""Add coarser Allen labels to cells from a cluster annotation table (e.g. Yao 2021
``cluster.annotation.csv``: cluster_label → subclass_label, class_label, colours, sizes)."""

from __future__ import annotations

import os

import anndata as ad
import pandas as pd

from neuromod_data.errors import ColumnError
from neuromod_data.io import _common
from neuromod_data.io._common import warn

__all__ = ["add_taxonomy"]


def add_taxonomy(
    adata: ad.AnnData,
    annotation: str | os.PathLike | pd.DataFrame,
    *,
    key: str = "cluster_label",
    on: str = "cluster_label",
    columns: tuple[str, ...] = (
        "subclass_label",
        "class_label",
        "cluster_color",
        "subclass_color",
        "class_color",
    ),
    prefix: str = "",
) -> ad.AnnData:
    """Map each cell's ``obs[key]`` through the annotation's ``on`` column to coarser labels.

    Cells whose label is not in the annotation (or is missing) get no coarse label; they are counted
    in a warning and recorded under ``uns["neuromod"]["taxonomy"]``. Modifies ``adata`` in place
    and returns it.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> a = anndata.AnnData(np.zeros((2, 1), np.float32), obs=pd.DataFrame({"RNA type": ["Sst A", "Vip B"]}, index=["c1", "c2"]))
    >>> ann = pd.DataFrame({"cluster_label": ["Sst A", "Vip B"], "subclass_label": ["Sst", "Vip"], "class_label": ["GABAergic"] * 2})
    >>> add_taxonomy(a, ann, key="RNA type").obs["subclass_label"].tolist()
    ['Sst', 'Vip']
    """
    if key not in adata.obs.columns:
        raise ColumnError(
            f"label column {key!r} not in obs; available: {', '.join(map(str, adata.obs.columns))}"
        )
    src = "annotation" if isinstance(annotation, pd.DataFrame) else str(annotation)
    ann = (
        annotation
        if isinstance(annotation, pd.DataFrame)
        else _common.read_table(annotation, what="cluster annotation")
    )
    ann = ann.rename(columns=_common.allen_label_names(list(ann.columns)))
    if on not in ann.columns:
        raise ColumnError(
            f"{src}: column {on!r} not in the annotation; available: {', '.join(map(str, ann.columns))}"
        )
    ann = ann.assign(_k=ann[on].astype(str).str.strip()).drop_duplicates("_k").set_index("_k")
    labels = adata.obs[key].astype(object)
    keyed = labels.where(labels.isna(), labels.astype(str).str.strip())
    hit = keyed.isin(ann.index)
    unmatched = pd.unique(keyed[~hit & keyed.notna()])
    n_na = int(keyed.isna().sum())
    if len(unmatched) or n_na:
        warn(
            f"{src}: {int((~hit).sum())} of {adata.n_obs} cells have a {key!r} not in the annotation "
            f"({len(unmatched)} label(s), e.g. {', '.join(map(str, unmatched[:5])) or '-'}; {n_na} missing); "
            "they get no coarse labels"
        )
    sub = ann.reindex(keyed.where(hit, None).to_numpy())
    for c in columns:
        if c in ann.columns:
            adata.obs[prefix + c] = pd.Categorical(sub[c].to_numpy())
    meta = dict(adata.uns.get("neuromod", {}) or {})
    meta["taxonomy"] = {
        "source": src,
        "key": key,
        "n_matched": int(hit.sum()),
        "unmatched": [str(u) for u in unmatched[:20]],
        "n_missing": n_na,
    }
    adata.uns["neuromod"] = meta
    return adata
