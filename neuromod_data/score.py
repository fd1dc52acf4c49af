"""Score ligand → receptor coupling between cell types: one long, LIANA-compatible table.

Methods
-------
``product``
    ``score = L[a] · R[b]``, the product of a per-type statistic (``stat``: ``mean`` (default),
    ``median``, ``trimmed_mean``, ``frac_expressing``) of the ligand in the sender type ``a`` and of the
    receptor in the receiver type ``b``, on log1p(CPM) expression (counts are normalised first; other
    values are used as they are). Also works from an aggregate (types × genes AnnData with
    ``obs["n_cells"]``), using its ``stat`` layer.
``smith2019``
    Smith et al. 2019's two published forms on CPM: ``stat="trimmed_mean"`` (default) gives
    ``log10(L · R + 1)`` with ``L``, ``R`` the 5% trimmed means of CPM; ``stat="frac_expressing"`` gives
    the product of the fractions of cells with CPM > 0.
``cellphonedb``
    Mean of ligand mean and receptor mean on log1p(CPM), ``expr_prop`` filtering and a label-permutation
    test (see :mod:`neuromod_data.permutation`, p = (k + 1) / (n + 1), k counts ``≥``).

Multi-gene ligands / receptors are reduced by :mod:`neuromod_data.complexes` (``complex_policy``).
Interactions with a gene absent from the data are reported (:class:`MissingGenesWarning`) and recorded
in the parameters (``missing_interactions``, ``missing_genes``), never silently dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neuromod_data.complexes import ComplexIndex, check_policy, gene_groups, split_complex
from neuromod_data.errors import (
    CellTypeError,
    ColumnError,
    DataValueError,
    MissingGenesWarning,
    NeuromodWarning,
    ResourceError,
)
from neuromod_data.permutation import cellphonedb_test

METHODS = ("product", "smith2019", "cellphonedb")
STATS = ("mean", "median", "trimmed_mean", "frac_expressing")
#: Column order of the long table (DESIGN §2) plus ``interaction``.
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


# ------------------------------------------------------------------ resource
def prepare_resource(resource: str | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The resource as a DataFrame with the contract's columns, and a name for the record.

    A DataFrame needs at least ``ligand`` and ``receptor`` (or ``ligand_genes`` and
    ``receptor_genes``); missing optional columns are filled (genes = names, interaction = ``L→R``,
    family and g_protein empty).
    """
    if isinstance(resource, str):
        try:
            from neuromod_data.resources import load_resource
        except ImportError as exc:  # pragma: no cover - resources module missing
            raise ResourceError(f"cannot load resource {resource!r}: {exc}") from exc
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
        df["interaction"] = df["ligand"].astype(str) + "→" + df["receptor"].astype(str)
    for col in ("family", "g_protein", "ligand_groups", "receptor_groups"):
        if col not in df.columns:
            df[col] = ""
    df = df.fillna({"family": "", "g_protein": "", "ligand_groups": "", "receptor_groups": ""})
    for col in (
        "ligand_groups",
        "receptor_groups",
        "interaction",
        "ligand",
        "receptor",
        "ligand_genes",
        "receptor_genes",
        "family",
        "g_protein",
    ):
        df[col] = df[col].astype(str)
    if df.empty:
        raise ResourceError(f"resource {name!r} has no interactions")
    df = df.drop_duplicates("interaction").reset_index(drop=True)
    return df, name


def _split_available(res: pd.DataFrame, genes: Sequence[str], name: str):
    """Keep the interactions whose required genes are present (one alternative per group suffices);
    report the others, and every absent gene."""
    present = set(map(str, genes))
    all_genes = sorted(
        {g for c in pd.concat([res.ligand_genes, res.receptor_genes]) for g in split_complex(c)}
    )
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


# --------------------------------------------------------------- expression
def _expression_kind(adata: ad.AnnData, layer: str | None, X) -> str:
    kind = None if layer is not None else adata.uns.get("neuromod", {}).get("X")
    if kind:
        return str(kind)
    data = X.data if sp.issparse(X) else np.asarray(X)
    sample = np.asarray(data).ravel()[:100_000]
    return "counts" if sample.size and np.all(sample == np.round(sample)) else "normalized"


def _cpm_columns(adata: ad.AnnData, cols: np.ndarray, layer: str | None) -> tuple[np.ndarray, str]:
    """CPM of the selected columns (library size over all genes for counts), dense float64."""
    X = adata.layers[layer] if layer is not None else adata.X
    kind = _expression_kind(adata, layer, X)
    sub = X[:, cols]
    sub = sub.toarray() if sp.issparse(sub) else np.asarray(sub, dtype=np.float64)
    sub = sub.astype(np.float64, copy=False)
    if not np.all(np.isfinite(sub)):
        bad = [str(adata.var_names[cols[j]]) for j in np.flatnonzero(~np.isfinite(sub).all(axis=0))]
        raise DataValueError(f"expression holds NaN or infinite values in genes {bad[:8]}")
    if kind == "counts":
        lib = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
        scale = np.divide(1e6, lib, out=np.zeros_like(lib), where=lib > 0)
        return sub * scale[:, None], "cpm"
    if kind == "log10_cpm1":
        return np.power(10.0, sub) - 1.0, "cpm"
    if kind in ("log1p_cpm", "log1p"):
        return np.expm1(sub), "cpm"
    if kind == "cpm":
        return sub, "cpm"
    return sub, "normalized"


def _log_expression(
    adata: ad.AnnData, cols: np.ndarray, layer: str | None
) -> tuple[np.ndarray, str]:
    cpm, kind = _cpm_columns(adata, cols, layer)
    if kind == "cpm":
        return np.log1p(cpm), "log1p_cpm"
    return cpm, "as given (already normalised)"


def _type_stats(values: np.ndarray, codes: np.ndarray, k: int, stats: Sequence[str], trim: float):
    """Per-type statistics of a dense cells × genes matrix; returns {stat: (K, genes)}."""
    out: dict[str, np.ndarray] = {}
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=k))])
    vs = values[order]
    for stat in stats:
        res = np.empty((k, values.shape[1]))
        for t in range(k):  # a loop over types, each a vectorised reduction over its cells
            block = vs[bounds[t] : bounds[t + 1]]
            if stat == "mean":
                res[t] = block.mean(axis=0)
            elif stat == "median":
                res[t] = np.median(block, axis=0)
            elif stat == "frac_expressing":
                res[t] = (block > 0).mean(axis=0)
            elif stat == "trimmed_mean":
                from scipy.stats import trim_mean

                res[t] = trim_mean(block, trim, axis=0)
            else:
                raise ValueError(f"unknown statistic {stat!r}; choose from {STATS}")
        out[stat] = res
    return out


# --------------------------------------------------------------------- types
def is_aggregate(adata: ad.AnnData) -> bool:
    """An aggregate (types × genes summary) carries ``obs["n_cells"]`` and no per-cell rows."""
    return "n_cells" in adata.obs.columns and (
        "neuromod_aggregate" in adata.uns or adata.obs_names.is_unique
    )


def _type_codes(adata: ad.AnnData, groupby: str, min_cells: int):
    if groupby not in adata.obs.columns:
        raise ColumnError(
            f"label column {groupby!r} not in adata.obs; available: {list(adata.obs.columns)[:20]}"
        )
    lab = adata.obs[groupby]
    keep = lab.notna().to_numpy()
    if not keep.all():
        warnings.warn(
            f"{(~keep).sum()} cells without a {groupby!r} label are left out",
            NeuromodWarning,
            stacklevel=3,
        )
    labels = lab.astype(str).to_numpy()
    sizes = pd.Series(labels[keep]).value_counts()
    small = sorted(sizes.index[sizes < min_cells].tolist())
    if small:
        warnings.warn(
            f"types with fewer than min_cells={min_cells} cells are left out: "
            + ", ".join(f"{t!r} ({sizes[t]})" for t in small),
            NeuromodWarning,
            stacklevel=3,
        )
        keep &= ~np.isin(labels, small)
    names = sorted(set(labels[keep]))
    if len(names) < 2:
        raise CellTypeError(
            f"scoring between cell types needs at least 2 types in {groupby!r} with >= {min_cells} "
            f"cells each; got {names}" + (f" (left out for size: {small})" if small else "")
        )
    pos = {n: i for i, n in enumerate(names)}
    codes = np.array([pos.get(x, -1) for x in labels])
    return names, codes, keep, small


def _majority(values: pd.Series, codes: np.ndarray, keep: np.ndarray, k: int) -> list[str] | None:
    v = values.astype(str).to_numpy()[keep]
    c = codes[keep]
    df = pd.DataFrame({"c": c, "v": v})
    top = df.groupby("c")["v"].agg(lambda s: s.value_counts().index[0])
    return [str(top.get(i, "")) for i in range(k)]


def _annotate_types(adata, groupby, names, codes, keep) -> pd.DataFrame:
    from neuromod_data.graph import infer_class, type_sign

    k = len(names)
    obs = pd.DataFrame(index=pd.Index(names, name=groupby))
    obs["n_cells"] = np.bincount(codes[keep], minlength=k).astype(np.int64)
    cls = None
    for col in ("class_label", "class"):
        if col in adata.obs.columns:
            cls = _majority(adata.obs[col], codes, keep, k)
            break
    obs["class"] = cls if cls is not None else [infer_class(n) for n in names]
    stem = groupby[: -len("_label")] if groupby.endswith("_label") else groupby
    color = None
    for col in (f"{stem}_color", f"{groupby}_color"):
        if col in adata.obs.columns:
            color = _majority(adata.obs[col], codes, keep, k)
            break
    if color is None:
        from neuromod_data.graph import default_colors

        color = default_colors(names, obs["class"].tolist())
    obs["color"] = color
    obs["sign"] = [type_sign(c, n) for c, n in zip(obs["class"], names)]
    return obs


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
    table = pd.DataFrame(
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
    return table  # string columns hold str objects already (shared, not copied per row)


def _pair_values(values: np.ndarray, cidx: ComplexIndex, complexes, groups, policy: str):
    red = cidx.reduce(values, policy)  # (K, C)
    return red[:, [cidx.position(c, g or None) for c, g in zip(complexes, groups)]]


# ---------------------------------------------------------------------- main
def score_interactions(
    adata: ad.AnnData,
    groupby: str | None = None,
    *,
    resource: str | pd.DataFrame = "neuropeptides",
    method: Literal["product", "smith2019", "cellphonedb"] = "product",
    stat: str | None = None,
    expr_prop: float = 0.1,
    n_perms: int = 1000,
    seed: int = 0,
    n_jobs: int = 1,
    complex_policy: Literal["min", "gmean"] = "min",
    min_cells: int = 1,
    trim: float = 0.05,
    layer: str | None = None,
    return_all: bool = False,
    progress: bool = False,
    key_added: str = "neuromod_interactions",
) -> ad.AnnData:
    """Score every (sender type, receiver type, ligand–receptor pair) into one long table.

    Parameters
    ----------
    adata
        Cells × genes (counts, CPM, log10(CPM+1), ... as recorded in ``uns["neuromod"]["X"]``), or an
        aggregate (types × genes with ``obs["n_cells"]``; ``method="product"`` only).
    groupby
        Label column of ``adata.obs`` defining the types (not needed for an aggregate).
    resource
        A spec for :func:`neuromod_data.resources.load_resource` or a DataFrame with ``ligand`` and
        ``receptor`` (+ ``ligand_genes``, ``receptor_genes``, ``interaction``, ``family``,
        ``g_protein``).
    method
        ``product``, ``smith2019`` or ``cellphonedb`` (see the module docstring).
    stat
        Per-type statistic: ``mean`` (product default), ``median``, ``trimmed_mean`` (smith2019
        default), ``frac_expressing``.
    expr_prop
        ``cellphonedb``: minimum fraction of expressing cells of ligand and receptor.
    n_perms, seed, n_jobs
        ``cellphonedb``: permutations, their seed, threads (results do not depend on ``n_jobs``).
    complex_policy
        ``min`` (default) or ``gmean`` over the subunits of multi-gene entries.
    min_cells
        Types with fewer cells are left out (warned and recorded).
    trim
        Fraction cut from each end for ``trimmed_mean`` (Smith et al.: 5%).
    layer
        Take expression from this layer instead of ``.X`` (its values are treated as they are).
    return_all
        ``cellphonedb``: keep rows that fail ``expr_prop`` (otherwise dropped, as LIANA does).
    progress
        Progress bar over permutations.
    key_added
        The table goes to ``.uns[key_added]``, the parameters to ``.uns[key_added + "_params"]``.

    Returns
    -------
    The aggregate (types × scored genes; layers per statistic, ``obs`` ``n_cells``, ``class``, ``color``,
    ``sign``) holding the table. For cells × genes input the table is also put in ``adata.uns[key_added]``.

    Examples
    --------
    >>> from neuromod_data.datasets import toy_cortex
    >>> cells = toy_cortex(n_cells=600, seed=0)
    >>> res = pd.DataFrame({"ligand": ["Npy"], "receptor": ["Npy1r"]})
    >>> agg = score_interactions(cells, "subclass_label", resource=res, method="product")
    >>> table = agg.uns["neuromod_interactions"]
    >>> list(table.columns[:4]), len(table) == agg.n_obs ** 2
    (['source', 'target', 'ligand', 'receptor'], True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_policy(complex_policy)
    if stat is None:
        stat = "trimmed_mean" if method == "smith2019" else "mean"
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}, got {stat!r}")
    if method == "smith2019" and stat not in ("trimmed_mean", "frac_expressing", "mean", "median"):
        raise ValueError(f"smith2019 uses trimmed_mean or frac_expressing, got {stat!r}")
    if min_cells < 1:
        raise ValueError(f"min_cells must be >= 1, got {min_cells}")
    res, res_name = prepare_resource(resource)

    aggregate_input = is_aggregate(adata) and (
        groupby is None or "neuromod_aggregate" in adata.uns or groupby not in adata.obs.columns
    )
    if groupby is None or aggregate_input:
        if not is_aggregate(adata):
            raise ColumnError("groupby is required for cells × genes input (a label column of obs)")
        return _score_aggregate(
            adata, res, res_name, stat, complex_policy, min_cells, method, key_added
        )

    names, codes, keep, small = _type_codes(adata, groupby, min_cells)
    res, missing_genes, missing_int = _split_available(res, adata.var_names, res_name)
    genes = sorted(
        {g for c in pd.concat([res.ligand_genes, res.receptor_genes]) for g in split_complex(c)}
    )
    pos = pd.Index(adata.var_names.astype(str))
    if not pos.is_unique:
        dup = pos[pos.duplicated()].unique().tolist()
        raise DataValueError(f"var_names must be unique gene symbols; duplicated: {dup[:8]}")
    cols = pos.get_indexer(genes)
    obs = _annotate_types(adata, groupby, names, codes, keep)
    k = len(names)
    kc = codes[keep]
    lig = ComplexIndex.build(res.ligand_genes, genes, res.ligand_groups)
    rec = ComplexIndex.build(res.receptor_genes, genes, res.receptor_groups)

    params: dict[str, Any] = {
        "method": method,
        "stat": stat if method != "cellphonedb" else "mean",
        "resource": res_name,
        "groupby": groupby,
        "complex_policy": complex_policy,
        "min_cells": int(min_cells),
        "n_interactions": int(len(res)),
        "interactions": res.interaction.tolist(),
        "missing_genes": list(missing_genes),
        "missing_interactions": list(missing_int),
        "dropped_types": list(small),
    }
    layers: dict[str, np.ndarray] = {}
    keep_mask = None
    if method == "cellphonedb":
        expr, scale = _log_expression(adata, cols, layer)
        expr = expr[keep]
        r = cellphonedb_test(
            expr, kc, genes, list(zip(res.ligand_genes, res.receptor_genes)),
            expr_prop=expr_prop, n_perms=n_perms, seed=seed, n_jobs=n_jobs,
            complex_policy=complex_policy, progress=progress,
            ligand_groups=[g or None for g in res.ligand_groups],
            receptor_groups=[g or None for g in res.receptor_groups],
            only_expressed=not return_all,
        )  # fmt: skip
        lm, rm, lp, rp, score, pvalue = (
            r.ligand_means, r.receptor_means, r.ligand_props, r.receptor_props, r.score, r.pvalue,
        )  # fmt: skip
        keep_mask = None if return_all else r.expressed
        st = _type_stats(expr, kc, k, ("mean", "frac_expressing"), trim)
        layers = st
        params.update(expression=scale, expr_prop=float(expr_prop), n_perms=int(n_perms), seed=int(seed),
                      pvalue_convention=PVALUE_CONVENTION, return_all=bool(return_all))  # fmt: skip
    else:
        if method == "smith2019":
            expr, scale = _cpm_columns(adata, cols, layer)
            if scale != "cpm":
                warnings.warn(
                    "smith2019 expects CPM; the expression kind is unknown, values are used as given",
                    NeuromodWarning, stacklevel=2,
                )  # fmt: skip
            main = "trimmed_mean" if stat != "frac_expressing" else "frac_expressing"
            main = stat if stat in ("mean", "median") else main
        else:
            expr, scale = _log_expression(adata, cols, layer)
            main = stat
        expr = expr[keep]
        st = _type_stats(expr, kc, k, dict.fromkeys([main, "frac_expressing"]), trim)
        layers = st
        lm = _pair_values(st[main], lig, res.ligand_genes, res.ligand_groups, complex_policy)
        rm = _pair_values(st[main], rec, res.receptor_genes, res.receptor_groups, complex_policy)
        lp = _pair_values(
            st["frac_expressing"], lig, res.ligand_genes, res.ligand_groups, complex_policy
        )
        rp = _pair_values(
            st["frac_expressing"], rec, res.receptor_genes, res.receptor_groups, complex_policy
        )
        prod = lm.T[:, :, None] * rm.T[:, None, :]
        if method == "smith2019" and main != "frac_expressing":
            score = np.log10(prod + 1.0)
        else:
            score = prod
        pvalue = np.full(score.shape, np.nan)
        params.update(expression=scale, stat=main)
        if method == "smith2019":
            params["trim"] = float(trim)

    table = _long_table(names, res, lm, rm, lp, rp, score, pvalue, keep_mask)
    main_layer = "mean" if method == "cellphonedb" else params["stat"]
    agg = ad.AnnData(
        X=np.asarray(layers[main_layer], dtype=np.float64),
        obs=obs,
        var=pd.DataFrame(index=pd.Index(genes, name="gene")),
        layers={s: np.asarray(v, dtype=np.float64) for s, v in layers.items()},
    )
    agg.uns["neuromod_aggregate"] = {
        "groupby": groupby,
        "stats": list(layers),
        "expression": params["expression"],
    }
    agg.uns[key_added] = table
    agg.uns[key_added + "_params"] = params
    adata.uns[key_added] = table
    adata.uns[key_added + "_params"] = params
    return agg


def _score_aggregate(agg, res, res_name, stat, policy, min_cells, method, key_added) -> ad.AnnData:
    if method != "product":
        raise ValueError(
            f"method {method!r} needs cells × genes input; an aggregate supports method='product' only"
        )
    names = [str(n) for n in agg.obs_names]
    n_cells = pd.to_numeric(agg.obs["n_cells"], errors="coerce").to_numpy()
    small = [n for n, c in zip(names, n_cells) if not c >= min_cells]
    keep = np.array([n not in small for n in names])
    if small:
        warnings.warn(
            f"types with fewer than min_cells={min_cells} cells are left out: {small}",
            NeuromodWarning, stacklevel=3,
        )  # fmt: skip
    if keep.sum() < 2:
        raise CellTypeError(
            f"scoring between cell types needs at least 2 types, got {np.array(names)[keep].tolist()}"
        )
    res, missing_genes, missing_int = _split_available(res, agg.var_names, res_name)
    genes = sorted(
        {g for c in pd.concat([res.ligand_genes, res.receptor_genes]) for g in split_complex(c)}
    )
    cols = pd.Index(agg.var_names.astype(str)).get_indexer(genes)

    def layer_values(name):
        m = agg.X if name is None else agg.layers[name]
        m = m[:, cols]
        m = m.toarray() if sp.issparse(m) else np.asarray(m, dtype=np.float64)
        m = m[keep].astype(np.float64)
        bad = np.argwhere(~np.isfinite(m))
        if bad.size:
            t, g = bad[0]
            kept_names = np.array(names)[keep]
            raise DataValueError(
                f"aggregate {'X' if name is None else 'layer ' + repr(name)} holds NaN/inf "
                f"({len(bad)} entries), e.g. type {str(kept_names[t])!r}, gene {genes[g]!r}"
            )
        return m

    main = stat if stat in agg.layers else None
    if main is None and "neuromod_aggregate" in agg.uns and stat != "mean":
        raise ColumnError(f"aggregate has no layer {stat!r}; layers: {list(agg.layers)}")
    values = layer_values(main)
    props = (
        layer_values("frac_expressing")
        if "frac_expressing" in agg.layers
        else np.full_like(values, np.nan)
    )
    lig = ComplexIndex.build(res.ligand_genes, genes, res.ligand_groups)
    rec = ComplexIndex.build(res.receptor_genes, genes, res.receptor_groups)
    lm = _pair_values(values, lig, res.ligand_genes, res.ligand_groups, policy)
    rm = _pair_values(values, rec, res.receptor_genes, res.receptor_groups, policy)
    lp = _pair_values(props, lig, res.ligand_genes, res.ligand_groups, policy)
    rp = _pair_values(props, rec, res.receptor_genes, res.receptor_groups, policy)
    score = lm.T[:, :, None] * rm.T[:, None, :]
    kept = [n for n in names if n not in small]
    table = _long_table(kept, res, lm, rm, lp, rp, score, np.full(score.shape, np.nan))
    out = agg[keep].copy() if small else agg
    if not {"class", "color", "sign"} <= set(out.obs.columns):
        from neuromod_data.graph import default_colors, infer_class, type_sign

        cls_col = next((c for c in ("class", "class_label") if c in out.obs.columns), None)
        cls = out.obs[cls_col].astype(str).tolist() if cls_col else [infer_class(n) for n in kept]
        out.obs["class"] = cls
        if "color" not in out.obs.columns:
            gb = str(out.uns.get("neuromod_aggregate", {}).get("groupby", ""))
            stem = gb[: -len("_label")] if gb.endswith("_label") else gb
            ccol = next((c for c in (f"{stem}_color", f"{gb}_color") if c in out.obs.columns), None)
            out.obs["color"] = (
                out.obs[ccol].astype(str).tolist() if ccol else default_colors(kept, cls)
            )
        out.obs["sign"] = [type_sign(c, n) for c, n in zip(cls, kept)]
    out.uns[key_added] = table
    out.uns[key_added + "_params"] = {
        "method": "product",
        "stat": stat,
        "resource": res_name,
        "groupby": str(agg.uns.get("neuromod_aggregate", {}).get("groupby", "")),
        "complex_policy": policy,
        "min_cells": int(min_cells),
        "expression": "aggregate",
        "n_interactions": int(len(res)),
        "interactions": res.interaction.tolist(),
        "missing_genes": list(missing_genes),
        "missing_interactions": list(missing_int),
        "dropped_types": list(small),
    }
    return out
