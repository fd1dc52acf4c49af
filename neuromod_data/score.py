"""Score ligand → receptor coupling between cell types: one long, LIANA-compatible table.

Scoring builds on aggregation: the cells are grouped into types by :func:`neuromod_data.aggregate`
(labels cleaned by the rules of :mod:`neuromod_data.labels`), normalised through
:mod:`neuromod_data.normalize`, and every score is computed from the per-type values. The types'
class, Dale sign and colour come from :func:`neuromod_data.labels.type_annotations`. Types are
listed in the one type order of the package (:func:`neuromod_data.labels.type_order`, the order
:func:`~neuromod_data.aggregate.aggregate` gives): a categorical column's category order, else
sorted by name (docs/design.md, "Label columns and cell types").

Methods
-------
``product``
    ``score = L[a] · R[b]``, the product of a per-type statistic (``stat``: ``mean`` (default) or
    another of :data:`STATS`) of the ligand in the sender type ``a`` and of the receptor in the
    receiver type ``b``, on log1p(CPM). Also works from an aggregate (types × genes AnnData with
    ``obs["n_cells"]``), using its ``stat`` layer.
``smith2019``
    Smith et al. 2019's two published forms on CPM: ``stat="trimmed_mean"`` (default) gives
    ``log10(L · R + 1)`` with ``L``, ``R`` the 5 % trimmed means of CPM; ``stat="frac_expressing"``
    gives the product of the fractions of cells with CPM > 0.
``cellphonedb``
    Mean of ligand mean and receptor mean on log1p(CPM), ``expr_prop`` filtering and a
    label-permutation test (:mod:`neuromod_data.permutation`, p = (k + 1) / (n + 1), k counts ``≥``).

Expression: counts and recorded CPM forms (:data:`neuromod_data.normalize.CPM_SOURCES`) become
log1p(CPM) (``product``, ``cellphonedb``) or CPM (``smith2019``); other values are used as they are
(``smith2019`` warns). Multi-gene ligands / receptors are reduced by :mod:`neuromod_data.complexes`
(``complex_policy``). Interactions with a gene absent from the data are reported
(:class:`MissingGenesWarning`) and recorded in the parameters (``missing_interactions``,
``missing_genes``), never silently dropped.

Results follow scanpy and LIANA: ``inplace=True`` writes ``adata.uns[key_added]`` (the table),
``adata.uns[key_added + "_params"]`` (the parameters) and ``adata.uns[key_added + "_types"]`` (per
type ``n_cells``, ``class``, ``color``, ``sign``) and returns ``None``; ``inplace=False`` leaves
``adata`` untouched and returns the aggregate (types × scored genes, the per-type values as layers,
the types' annotations in ``obs``) holding the table and parameters under the same keys.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neuromod_data.aggregate import STATS, aggregate
from neuromod_data.complexes import ComplexIndex, check_policy
from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    NeuromodWarning,
    UsageError,
)
from neuromod_data.labels import check_labels, require_column, type_annotations
from neuromod_data.normalize import CPM_SOURCES, cpm_of_genes, expression_kind
from neuromod_data.permutation import cellphonedb_test
from neuromod_data.score_resource import _resource_genes, _split_available, prepare_resource

__all__ = ["COLUMNS", "METHODS", "STATS", "is_aggregate", "prepare_resource", "score_interactions"]

METHODS = ("product", "smith2019", "cellphonedb")
#: Column order of the long table (docs/design.md, "Interaction table").
COLUMNS = [
    "source",
    "target",
    "ligand",
    "receptor",
    "ligand_complex",
    "receptor_complex",
    "ligand_means",
    "receptor_means",
    "ligand_props",
    "receptor_props",
    "score",
    "pvalue",
    "family",
    "g_protein",
    "interaction",
]
PVALUE_CONVENTION = "p = (k + 1) / (n_perms + 1), k = #permutations with score >= observed"
#: Options of ``method="cellphonedb"`` only, with their defaults.
CELLPHONEDB_OPTIONS = {
    "expr_prop": 0.1,
    "n_perms": 1000,
    "seed": 0,
    "n_jobs": 1,
    "return_all": False,
    "progress": False,
}
_TYPE_COLUMNS = ["n_cells", "class", "color", "sign"]


# --------------------------------------------------------------------- types
def is_aggregate(adata: ad.AnnData) -> bool:
    """Whether ``adata`` is an aggregate (types × genes) rather than cells × genes.

    Parameters
    ----------
    adata
        An AnnData.

    Returns
    -------
    bool
        ``True`` when ``obs`` has ``n_cells`` and the rows are unique type names (or
        :func:`~neuromod_data.aggregate` made it).

    Examples
    --------
    >>> import anndata
    >>> is_aggregate(anndata.AnnData(obs=pd.DataFrame({"n_cells": [3, 4]}, index=["A", "B"])))
    True
    """
    return "n_cells" in adata.obs.columns and (
        "neuromod_aggregate" in adata.uns or adata.obs_names.is_unique
    )


def _check_options(method: str, stat: str | None, trim: float | None, given: dict) -> str:
    """The statistic to score; options that do not apply to ``method`` are errors."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method != "cellphonedb" and given:
        raise UsageError(
            f"{', '.join(sorted(given))} apply to method='cellphonedb' only, not {method!r}"
        )
    if method == "cellphonedb" and stat is not None:
        raise UsageError("stat does not apply to method='cellphonedb' (it scores means)")
    if stat is None:
        stat = {"smith2019": "trimmed_mean"}.get(method, "mean")
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}, got {stat!r}")
    if trim is not None and stat != "trimmed_mean":
        raise UsageError(f"trim applies to stat='trimmed_mean' only, not {stat!r}")
    return stat


# --------------------------------------------------------------------- table
def _long_table(names, res, lm, rm, lp, rp, score, pvalue, keep_mask=None) -> pd.DataFrame:
    """Rows for every pair × sender × receiver (or those in ``keep_mask``)."""
    p_n, k = len(res), len(names)
    pi, ai, bi = np.meshgrid(np.arange(p_n), np.arange(k), np.arange(k), indexing="ij")
    pi, ai, bi = pi.ravel(), ai.ravel(), bi.ravel()
    if keep_mask is not None:
        sel = keep_mask.ravel()
        pi, ai, bi = pi[sel], ai[sel], bi[sel]
    names_a = np.asarray(names, dtype=object)
    return pd.DataFrame(
        {
            "source": names_a[ai],
            "target": names_a[bi],
            "ligand": res.ligand.to_numpy(dtype=object)[pi],
            "receptor": res.receptor.to_numpy(dtype=object)[pi],
            "ligand_complex": res.ligand_genes.to_numpy(dtype=object)[pi],
            "receptor_complex": res.receptor_genes.to_numpy(dtype=object)[pi],
            "ligand_means": lm[ai, pi],
            "receptor_means": rm[bi, pi],
            "ligand_props": lp[ai, pi],
            "receptor_props": rp[bi, pi],
            "score": score[pi, ai, bi],
            "pvalue": pvalue[pi, ai, bi],
            "family": res.family.to_numpy(dtype=object)[pi],
            "g_protein": res.g_protein.to_numpy(dtype=object)[pi],
            "interaction": res.interaction.to_numpy(dtype=object)[pi],
        }
    )


def _per_pair(values: np.ndarray, genes: Sequence[str], res: pd.DataFrame, policy: str):
    """Per-type values ``(K, genes)`` → each interaction's ligand and receptor value ``(K, P)``."""
    out = []
    for side in ("ligand", "receptor"):
        complexes, groups = res[f"{side}_genes"], res[f"{side}_groups"]
        idx = ComplexIndex.build(complexes, genes, groups)
        red = idx.reduce(values, policy)  # (K, C)
        out.append(red[:, [idx.position(c, g or None) for c, g in zip(complexes, groups)]])
    return out


def _finite(values: np.ndarray, names: Sequence[str], genes: Sequence[str], what: str) -> None:
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        t, g = bad[0]
        raise DataValueError(
            f"{what} holds NaN/inf ({len(bad)} entries), e.g. type {str(names[t])!r}, "
            f"gene {genes[g]!r}"
        )


# ---------------------------------------------------------------------- main
def score_interactions(
    adata: ad.AnnData,
    groupby: str | None = None,
    *,
    resource: str | pd.DataFrame = "neuropeptides",
    method: Literal["product", "smith2019", "cellphonedb"] = "product",
    stat: str | None = None,
    complex_policy: Literal["min", "gmean"] = "min",
    min_cells: int = 1,
    trim: float | None = None,
    layer: str | None = None,
    expr_prop: float | None = None,
    n_perms: int | None = None,
    seed: int | None = None,
    n_jobs: int | None = None,
    return_all: bool | None = None,
    progress: bool | None = None,
    key_added: str = "neuromod_interactions",
    inplace: bool = True,
) -> ad.AnnData | None:
    """Score every (sender type, receiver type, ligand–receptor pair) into one long table.

    Parameters
    ----------
    adata
        Cells × genes (counts, CPM, log10(CPM + 1), ... as recorded in ``uns["neuromod"]["X"]``),
        or an aggregate (types × genes with ``obs["n_cells"]``; ``method="product"`` only).
    groupby
        Label column of ``adata.obs`` defining the types (not needed for an aggregate).
    resource
        A spec for :func:`neuromod_data.resources.load_resource` or a DataFrame with ``ligand`` and
        ``receptor`` (+ ``ligand_genes``, ``receptor_genes``, ``interaction``, ``family``,
        ``g_protein``).
    method
        ``product``, ``smith2019`` or ``cellphonedb`` (see the module docstring).
    stat
        Per-type statistic of ``product`` and ``smith2019``, one of :data:`STATS`: ``mean``
        (``product`` default), ``trimmed_mean`` (``smith2019`` default), ``median``,
        ``frac_expressing``, ...; an error with ``cellphonedb``.
    complex_policy
        ``min`` (default) or ``gmean`` over the subunits of multi-gene entries.
    min_cells
        Types with fewer cells are left out (warned and recorded).
    trim
        Fraction cut from each end for ``stat="trimmed_mean"`` (default 0.05, Smith et al.'s 5 %).
    layer
        Take expression from this layer instead of ``.X`` (cells only).
    expr_prop, n_perms, seed, n_jobs, return_all, progress
        ``cellphonedb`` only (an error with another method): minimum fraction of expressing cells
        of ligand and receptor (0.1), permutations (1000), their seed (0), threads (1; results do
        not depend on it), keep rows failing ``expr_prop`` (``False``: dropped, as LIANA does), a
        progress bar (``False``).
    key_added
        The ``uns`` key of the table; the parameters go to ``key_added + "_params"``, the types to
        ``key_added + "_types"``.
    inplace
        Write the results into ``adata.uns`` and return ``None``; ``False``: leave ``adata``
        untouched and return the aggregate holding them.

    Returns
    -------
    AnnData or None
        With ``inplace=False``, the aggregate: types × scored genes, a layer per statistic, ``obs``
        with ``n_cells``, ``class``, ``color``, ``sign``, and ``uns[key_added]``,
        ``uns[key_added + "_params"]``.

    Raises
    ------
    UsageError
        An option that does not apply to ``method`` (or to an aggregate) was given.
    ColumnError
        ``groupby`` is absent, or no ``groupby`` for cells × genes input.
    CellTypeError
        Fewer than two types with ``min_cells`` cells, or a type whose cells carry two classes.
    ResourceError
        No interaction of the resource can be scored on these genes.

    Examples
    --------
    >>> from neuromod_data.datasets import toy_cortex
    >>> cells = toy_cortex(n_cells=600, seed=0)
    >>> res = pd.DataFrame({"ligand": ["Npy"], "receptor": ["Npy1r"]})
    >>> score_interactions(cells, "subclass_label", resource=res)
    >>> table = cells.uns["neuromod_interactions"]
    >>> list(table.columns[:4]), len(table) == len(cells.uns["neuromod_interactions_types"]) ** 2
    (['source', 'target', 'ligand', 'receptor'], True)
    >>> agg = score_interactions(cells, "subclass_label", resource=res, inplace=False)
    >>> agg.obs.loc["Sst", "class"], int(agg.obs.loc["Sst", "sign"])
    ('GABAergic', -1)
    """
    given = {
        k: v
        for k, v in dict(expr_prop=expr_prop, n_perms=n_perms, seed=seed, n_jobs=n_jobs,
                         return_all=return_all, progress=progress).items()
        if v is not None
    }  # fmt: skip
    stat = _check_options(method, stat, trim, given)
    check_policy(complex_policy)
    if min_cells < 1:
        raise ValueError(f"min_cells must be >= 1, got {min_cells}")
    res, res_name = prepare_resource(resource)

    aggregate_input = is_aggregate(adata) and (
        groupby is None or "neuromod_aggregate" in adata.uns or groupby not in adata.obs.columns
    )
    if aggregate_input:
        out, table, types, params = _score_aggregate(
            adata, res, res_name, stat, complex_policy, min_cells, method, layer, trim
        )
    elif groupby is None:
        raise ColumnError("groupby is required for cells × genes input (a label column of obs)")
    else:
        opts = {**CELLPHONEDB_OPTIONS, **given} if method == "cellphonedb" else {}
        out, table, types, params = _score_cells(
            adata,
            groupby,
            res,
            res_name,
            method,
            stat,
            complex_policy,
            min_cells,
            trim,
            layer,
            opts,
        )
    if not inplace:
        out.uns[key_added] = table
        out.uns[key_added + "_params"] = params
        return out
    adata.uns[key_added] = table
    adata.uns[key_added + "_params"] = params
    adata.uns[key_added + "_types"] = types
    return None


def _score_cells(adata, groupby, res, res_name, method, stat, policy, min_cells, trim, layer, opts):
    require_column(adata, groupby)
    res, missing_genes, missing_int = _split_available(res, adata.var_names, res_name)
    genes = _resource_genes(res)
    kind = expression_kind(adata, layer)
    cpm = kind in CPM_SOURCES
    if method == "smith2019" and not cpm:
        warnings.warn(
            f"smith2019 expects CPM; {'.X' if layer is None else 'layer ' + repr(layer)} holds "
            f"{kind!r}, its values are used as given",
            NeuromodWarning,
            stacklevel=3,
        )
    log = cpm and method != "smith2019"
    main = "mean" if method == "cellphonedb" else stat
    agg = aggregate(
        adata,
        groupby,
        stats=list(dict.fromkeys([main, "frac_expressing"])),
        genes=genes,
        layer=layer,
        normalize="cpm" if cpm else None,
        transform="log1p" if log else None,
        trim=0.05 if trim is None else trim,
        min_cells=min_cells,
        progress=False,
        dtype=np.float64,
    )
    dropped = sorted(str(x) for x in np.atleast_1d(agg.uns["neuromod_aggregate"]["dropped_types"]))
    # aggregate's order: a categorical column's categories, else sorted (labels.type_order)
    names = [str(n) for n in agg.obs_names]
    if len(names) < 2:
        raise CellTypeError(
            f"scoring between cell types needs at least 2 types in {groupby!r} with >= {min_cells} "
            f"cells each; got {names}" + (f" (left out for size: {dropped})" if dropped else "")
        )
    agg = agg[names].copy()
    ann = type_annotations(adata, groupby, types=names)
    for col in ann.columns:
        agg.obs[col] = ann[col].to_numpy()
    expression = ("log1p_cpm" if log else "cpm") if cpm else f"as given ({kind})"
    params: dict[str, Any] = {
        "method": method,
        "stat": main,
        "resource": res_name,
        "groupby": groupby,
        "complex_policy": policy,
        "min_cells": int(min_cells),
        "n_interactions": int(len(res)),
        "interactions": res.interaction.tolist(),
        "missing_genes": list(missing_genes),
        "missing_interactions": list(missing_int),
        "dropped_types": dropped,
        "expression": expression,
    }
    if main == "trimmed_mean":
        params["trim"] = float(0.05 if trim is None else trim)
    if method == "cellphonedb":
        # the permutation test needs the cells: the same labels, types and normalisation
        codes = pd.Index(names).get_indexer(check_labels(adata, groupby, warn=False).labels)
        if cpm:
            X = cpm_of_genes(adata, genes, layer=layer)
            np.log1p(X.data, out=X.data)
        else:
            M = adata.X if layer is None else adata.layers[layer]
            X = sp.csr_matrix(M[:, adata.var_names.get_indexer(genes)], dtype=np.float64)
        keep = codes >= 0
        r = cellphonedb_test(
            X[keep], codes[keep], genes, list(zip(res.ligand_genes, res.receptor_genes)),
            expr_prop=opts["expr_prop"], n_perms=opts["n_perms"], seed=opts["seed"],
            n_jobs=opts["n_jobs"], complex_policy=policy, progress=opts["progress"],
            ligand_groups=[g or None for g in res.ligand_groups],
            receptor_groups=[g or None for g in res.receptor_groups],
            only_expressed=not opts["return_all"],
        )  # fmt: skip
        table = _long_table(
            names, res, r.ligand_means, r.receptor_means, r.ligand_props, r.receptor_props,
            r.score, r.pvalue, None if opts["return_all"] else r.expressed,
        )  # fmt: skip
        params.update(
            expr_prop=float(opts["expr_prop"]), n_perms=int(opts["n_perms"]),
            seed=int(opts["seed"]), pvalue_convention=PVALUE_CONVENTION,
            return_all=bool(opts["return_all"]),
        )  # fmt: skip
    else:
        gene_list = list(map(str, agg.var_names))
        lm, rm = _per_pair(agg.layers[main], gene_list, res, policy)
        lp, rp = _per_pair(agg.layers["frac_expressing"], gene_list, res, policy)
        prod = lm.T[:, :, None] * rm.T[:, None, :]
        smith_log = method == "smith2019" and main != "frac_expressing"
        score = np.log10(prod + 1.0) if smith_log else prod
        table = _long_table(names, res, lm, rm, lp, rp, score, np.full(score.shape, np.nan))
    return agg, table, agg.obs[_TYPE_COLUMNS].copy(), params


def _score_aggregate(agg, res, res_name, stat, policy, min_cells, method, layer, trim):
    if method != "product":
        raise UsageError(
            f"method {method!r} needs cells × genes input; an aggregate supports method='product' only"
        )
    if layer is not None or trim is not None:
        raise UsageError(
            "layer and trim do not apply to an aggregate: its per-type values are chosen by stat"
        )
    names = [str(n) for n in agg.obs_names]
    n_cells = pd.to_numeric(agg.obs["n_cells"], errors="coerce").to_numpy()
    small = [n for n, c in zip(names, n_cells) if not c >= min_cells]
    keep = np.array([n not in small for n in names])
    if small:
        warnings.warn(
            f"types with fewer than min_cells={min_cells} cells are left out: {small}",
            NeuromodWarning,
            stacklevel=3,
        )
    if keep.sum() < 2:
        raise CellTypeError(
            f"scoring between cell types needs at least 2 types, got {np.array(names)[keep].tolist()}"
        )
    res, missing_genes, missing_int = _split_available(res, agg.var_names, res_name)
    genes = _resource_genes(res)
    cols = pd.Index(agg.var_names.astype(str)).get_indexer(genes)
    kept = [n for n in names if n not in small]

    def layer_values(name: str | None) -> np.ndarray:
        m = agg.X if name is None else agg.layers[name]
        m = m[:, cols]
        m = m.toarray() if sp.issparse(m) else np.asarray(m, dtype=np.float64)
        m = m[keep].astype(np.float64)
        _finite(m, kept, genes, f"aggregate {'X' if name is None else 'layer ' + repr(name)}")
        return m

    main = stat if stat in agg.layers else None
    if main is None and "neuromod_aggregate" in agg.uns and stat != "mean":
        raise ColumnError(f"aggregate has no layer {stat!r}; layers: {list(agg.layers)}")
    values = layer_values(main)
    has_props = "frac_expressing" in agg.layers
    props = layer_values("frac_expressing") if has_props else np.full_like(values, np.nan)
    lm, rm = _per_pair(values, genes, res, policy)
    lp, rp = _per_pair(props, genes, res, policy)
    score = lm.T[:, :, None] * rm.T[:, None, :]
    table = _long_table(kept, res, lm, rm, lp, rp, score, np.full(score.shape, np.nan))
    out = agg[keep].copy()
    gb = str(agg.uns.get("neuromod_aggregate", {}).get("groupby", ""))
    if not {"class", "color", "sign"} <= set(out.obs.columns):
        by = gb if gb in out.obs.columns else None
        ann = type_annotations(out.obs, by, types=kept if by else None)
        for col in ("class", "color", "sign"):
            if col not in out.obs.columns:
                out.obs[col] = ann[col].to_numpy()
    params = {
        "method": "product",
        "stat": stat,
        "resource": res_name,
        "groupby": gb,
        "complex_policy": policy,
        "min_cells": int(min_cells),
        "expression": "aggregate",
        "n_interactions": int(len(res)),
        "interactions": res.interaction.tolist(),
        "missing_genes": list(missing_genes),
        "missing_interactions": list(missing_int),
        "dropped_types": list(small),
    }
    return out, table, out.obs[_TYPE_COLUMNS].copy(), params
