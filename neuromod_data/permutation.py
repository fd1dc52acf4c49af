"""CellPhoneDB-style interaction score with a vectorised label-permutation test.

For every ligand–receptor pair ``p`` and every sender type ``a`` and receiver type ``b``:

* ``score[p, a, b] = (L[a] + R[b]) / 2``, the mean of the ligand's mean expression over the cells of ``a``
  and the receptor's mean expression over the cells of ``b`` (complexes reduced by
  :mod:`neuromod_data.complexes`); it is 0 when either mean is 0;
* ``expressed[p, a, b]``: the ligand is detected (value > 0) in at least ``expr_prop`` of the cells of
  ``a`` and the receptor in at least ``expr_prop`` of the cells of ``b`` (LIANA keeps only these rows);
* ``pvalue[p, a, b] = (k + 1) / (n_perms + 1)`` where ``k`` counts the permutations whose score is
  **greater than or equal to** (``≥``) the observed one. LIANA counts the same ``≥`` but reports
  ``k / n_perms``; convert with ``p_liana = (p * (n_perms + 1) - 1) / n_perms``. Our form is never 0,
  which a finite permutation test cannot justify. "≥" is taken up to a relative ``TIE_RTOL`` (1e-10) so
  that exact ties count whatever order floating-point sums run in.

Permutation ``i`` is ``rng.permutation(n_cells)`` drawn in order from one
``numpy.random.default_rng(seed)``, and the permuted mean of type ``g`` is the mean of
``X[perm[j]]`` over the cells ``j`` labelled ``g``: the same stream and the same mapping as LIANA, so with
the same seed and the same cell order the permuted means are the same numbers.

All permuted group sums of a batch of permutations are **one** product of a sparse group-indicator matrix
(``(batch · K) × n_cells``, one non-zero per cell and permutation) with the dense cells × genes matrix of
the resource genes; there is no Python loop over cells. Permutations are drawn in the calling thread in a
fixed order and each batch only adds integer counts, so the result is identical for any ``n_jobs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from neuromod_data.complexes import ComplexIndex, check_policy
from neuromod_data.errors import CellTypeError, DataValueError, ResourceError, UsageError

#: Relative tolerance of the "≥" comparison (ties are counted despite rounding).
TIE_RTOL = 1e-10


@dataclass
class PermutationResult:
    """Arrays of :func:`cellphonedb_test`; ``K`` types, ``P`` pairs.

    ``ligand_means`` / ``ligand_props`` are ``(K, P)`` (value of pair ``p``'s ligand in each type),
    likewise for receptors; ``score``, ``pvalue`` and ``expressed`` are ``(P, K, K)``
    ``[pair, sender, receiver]``; ``counts`` the permutation counts ``k``.
    """

    ligand_means: np.ndarray
    receptor_means: np.ndarray
    ligand_props: np.ndarray
    receptor_props: np.ndarray
    score: np.ndarray
    pvalue: np.ndarray
    expressed: np.ndarray
    counts: np.ndarray
    n_perms: int


def group_indicator(labels: np.ndarray, n_groups: int) -> sp.csr_matrix:
    """Sparse ``n_groups × n_cells`` 0/1 matrix with a one at ``(labels[j], j)``."""
    n = labels.shape[0]
    return sp.csr_matrix(
        (np.ones(n), (labels, np.arange(n))), shape=(n_groups, n), dtype=np.float64
    )


def _check_labels(labels: np.ndarray, n_cells: int) -> tuple[np.ndarray, int, np.ndarray]:
    labels = np.asarray(labels)
    if labels.shape != (n_cells,):
        raise DataValueError(
            f"labels has shape {labels.shape}, expected ({n_cells},) (one per cell)"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0:
        raise DataValueError("labels must be non-negative integer type codes")
    k = int(labels.max()) + 1 if n_cells else 0
    counts = np.bincount(labels, minlength=k)
    if k < 2 or np.count_nonzero(counts) < 2:
        raise CellTypeError(
            f"the permutation test needs at least 2 cell types, got {np.count_nonzero(counts)}"
        )
    if np.any(counts == 0):
        raise CellTypeError(f"type codes {np.flatnonzero(counts == 0).tolist()} have no cells")
    return labels.astype(np.int64), k, counts


def _dense_columns(X, cols: np.ndarray) -> np.ndarray:
    sub = X[:, cols]
    sub = sub.toarray() if sp.issparse(sub) else np.asarray(sub)
    sub = sub.astype(np.float64, copy=False)
    if not np.all(np.isfinite(sub)):
        raise DataValueError("expression matrix holds NaN or infinite values in the resource genes")
    return sub


class _Scorer:
    """Holds what every batch needs; ``count(perms)`` returns the ``(P, K, K)`` counts of a batch."""

    def __init__(
        self, Xs, labels, k, counts, lig, rec, li, ri, policy, threshold2, senders, receivers
    ):
        self.Xs, self.k, self.counts = Xs, k, counts
        self.lig, self.rec, self.li, self.ri, self.policy = lig, rec, li, ri, policy
        # 2 × observed score: (L + R) / 2 >= s  <=>  L + R >= 2 s exactly
        self.threshold2 = threshold2
        # per pair, the senders and receivers whose p-values are wanted (a block: the expr_prop
        # filter is a product of a sender condition and a receiver condition)
        self.senders, self.receivers = senders, receivers
        self.blocks = [np.ix_(s_, r_) for s_, r_ in zip(senders, receivers)]
        self.order = np.argsort(labels, kind="stable")
        self.starts = np.concatenate([[0], np.cumsum(counts)])

    def _ones(self, size: int) -> np.ndarray:
        if getattr(self, "_ones_buf", None) is None or self._ones_buf.size < size:
            self._ones_buf = np.ones(size)
        return self._ones_buf[:size]

    def means(self, perms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, n = perms.shape
        # row (i, g) of the indicator holds the cells perm_i[j] for the j labelled g
        itype = np.int32 if b * n < 2**31 else np.int64
        cols = perms[:, self.order].astype(itype).ravel()
        indptr = (np.arange(b)[:, None] * n + self.starts[None, :-1]).ravel()
        indptr = np.append(indptr, b * n).astype(itype)
        ind = sp.csr_matrix((self._ones(b * n), cols, indptr), shape=(b * self.k, n))
        sums = (ind @ self.Xs).reshape(b, self.k, -1)
        m = sums / self.counts[None, :, None]
        return self.lig.reduce(m, self.policy), self.rec.reduce(m, self.policy)

    def count(self, perms: np.ndarray) -> np.ndarray:
        lm, rm = self.means(perms)
        lig = np.ascontiguousarray(np.moveaxis(lm, 2, 0))  # (complexes, batch, K)
        rec = np.ascontiguousarray(np.moveaxis(rm, 2, 0))
        b, k = perms.shape[0], self.k
        out = np.zeros(self.threshold2.shape, dtype=np.int64)
        full = np.empty(b * k * k)
        hits = np.empty(b * k * k, dtype=bool)
        for p, (a, r) in enumerate(zip(self.li, self.ri)):
            s_, r_ = self.senders[p], self.receivers[p]
            if s_.size == 0 or r_.size == 0:
                continue
            shape = (b, s_.size, r_.size)
            buf = full[: b * s_.size * r_.size].reshape(shape)
            hit = hits[: buf.size].reshape(shape)
            la = lig[a] if s_.size == k else lig[a][:, s_]
            rb = rec[r] if r_.size == k else rec[r][:, r_]
            np.add(la[:, :, None], rb[:, None, :], out=buf)
            np.greater_equal(buf, self.threshold2[p][self.blocks[p]], out=hit)
            out[p][self.blocks[p]] = hit.view(np.int8).sum(axis=0, dtype=np.int64)
        return out


def resolve_n_jobs(n_jobs: int) -> int:
    """Threads to use: ``n_jobs`` itself if ``≥ 1``, ``-1`` for one per core.

    Examples
    --------
    >>> resolve_n_jobs(3), resolve_n_jobs(-1) >= 1
    (3, True)
    >>> resolve_n_jobs(0)
    Traceback (most recent call last):
    ...
    neuromod_data.errors.UsageError: n_jobs must be >= 1, or -1 for one thread per core; got 0
    """
    import os

    try:
        n = int(n_jobs)
    except (TypeError, ValueError):
        n = 0
    if n == -1:
        return os.cpu_count() or 1
    if n < 1 or n != n_jobs:
        raise UsageError(f"n_jobs must be >= 1, or -1 for one thread per core; got {n_jobs!r}")
    return n


def cellphonedb_test(
    X,
    labels: np.ndarray,
    genes: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    *,
    expr_prop: float = 0.1,
    n_perms: int = 1000,
    seed: int = 0,
    n_jobs: int = 1,
    complex_policy: str = "min",
    ligand_groups: Sequence[str | None] | None = None,
    receptor_groups: Sequence[str | None] | None = None,
    only_expressed: bool = False,
    batch_size: int | None = None,
    progress: bool = False,
) -> PermutationResult:
    """Score ligand–receptor pairs between cell types and test them by permuting cell labels.

    Parameters
    ----------
    X
        Cells × genes expression (dense or scipy sparse), normalised (e.g. log1p CPM) and non-negative.
    labels
        Integer type code of every cell, ``0 .. K-1``, every code used.
    genes
        Column names of ``X``.
    pairs
        ``(ligand_complex, receptor_complex)`` per interaction, subunits joined by ``"_"``. Every gene
        must be present in ``genes`` (the caller reports the missing ones).
    expr_prop
        Minimum fraction of expressing cells for ligand (in the sender) and receptor (in the receiver).
    n_perms
        Number of label permutations; 0 skips the test (p-values NaN).
    seed
        Seed of the one generator all permutations come from.
    n_jobs
        Threads working on batches of permutations, ``-1`` for one per core. Results do not depend
        on it.
    complex_policy
        ``"min"`` (default) or ``"gmean"`` over the subunits of a complex.
    ligand_groups, receptor_groups
        Optional group numbers per pair (``"1_1_2"``): genes of one group are alternatives (maximum),
        see :mod:`neuromod_data.complexes`.
    only_expressed
        Test only the entries that pass ``expr_prop`` (the others get p-value NaN): the rows LIANA
        reports, at a fraction of the work.
    batch_size
        Permutations per sparse product (default: about a million indicator entries per batch).
    progress
        Show a progress bar.

    Returns
    -------
    PermutationResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(1.0, size=(60, 2)).astype(float)
    >>> X[:20, 0] += 5  # the ligand "L" is high in type 0
    >>> res = cellphonedb_test(X, np.repeat([0, 1, 2], 20), ["L", "R"], [("L", "R")], n_perms=99)
    >>> res.score.shape, bool(res.pvalue[0, 0].max() < 0.05), bool(res.pvalue[0, 1].min() > 0.05)
    ((1, 3, 3), True, True)
    """
    check_policy(complex_policy)
    if not 0.0 <= expr_prop <= 1.0:
        raise ValueError(f"expr_prop must lie in [0, 1], got {expr_prop}")
    if n_perms < 0:
        raise ValueError(f"n_perms must be >= 0, got {n_perms}")
    n_jobs = resolve_n_jobs(n_jobs)
    n_cells = X.shape[0]
    labels, k, counts = _check_labels(labels, n_cells)
    genes = [str(g) for g in genes]
    if len(genes) != X.shape[1]:
        raise DataValueError(f"{len(genes)} gene names for {X.shape[1]} columns")
    if not pairs:
        raise ResourceError("no ligand–receptor pairs to score")

    lc, rc = [p[0] for p in pairs], [p[1] for p in pairs]
    lg = list(ligand_groups) if ligand_groups is not None else [None] * len(pairs)
    rg = list(receptor_groups) if receptor_groups is not None else [None] * len(pairs)
    lig_all = ComplexIndex.build(lc, genes, lg)
    rec_all = ComplexIndex.build(rc, genes, rg)
    absent = {**lig_all.missing, **rec_all.missing}
    if absent:
        raise ResourceError(f"complexes with genes absent from the data: {absent}")
    used = np.unique(np.concatenate([lig_all.index.ravel(), rec_all.index.ravel()]))
    Xs = _dense_columns(X, used)
    if np.any(Xs < 0):
        raise DataValueError("expression must be non-negative for the CellPhoneDB-style score")
    local = [genes[i] for i in used]
    lig = ComplexIndex.build(lc, local, lg)
    rec = ComplexIndex.build(rc, local, rg)
    li = np.array([lig.position(c, g) for c, g in zip(lc, lg)])
    ri = np.array([rec.position(c, g) for c, g in zip(rc, rg)])

    ind = group_indicator(labels, k)
    means = (ind @ Xs) / counts[:, None]
    props = (ind @ (Xs > 0).astype(np.float64)) / counts[:, None]
    lm_c, rm_c = lig.reduce(means, complex_policy), rec.reduce(means, complex_policy)
    lp_c, rp_c = lig.reduce(props, complex_policy), rec.reduce(props, complex_policy)
    lm, rm, lp, rp = lm_c[:, li], rm_c[:, ri], lp_c[:, li], rp_c[:, ri]  # (K, P)

    score = (lm.T[:, :, None] + rm.T[:, None, :]) / 2
    score[(lm.T[:, :, None] == 0) | (rm.T[:, None, :] == 0)] = 0.0
    expressed = (lp.T[:, :, None] >= expr_prop) & (rp.T[:, None, :] >= expr_prop)

    counts_k = np.zeros(score.shape, dtype=np.int64)
    if n_perms > 0:
        # ">=" up to a relative TIE_RTOL: an exact tie (the same cells' values summed in another order)
        # must count whatever the floating-point summation order gives
        if only_expressed:
            senders = [np.flatnonzero(lp[:, p] >= expr_prop) for p in range(len(pairs))]
            receivers = [np.flatnonzero(rp[:, p] >= expr_prop) for p in range(len(pairs))]
        else:
            senders = receivers = [np.arange(k)] * len(pairs)
        thr = 2 * score * (1 - TIE_RTOL)
        scorer = _Scorer(
            Xs, labels, k, counts, lig, rec, li, ri, complex_policy, thr, senders, receivers
        )
        if batch_size is None:
            batch_size = int(np.clip(1_000_000 // max(n_cells, 1), 1, 256))
        rng = np.random.default_rng(seed)
        sizes = [min(batch_size, n_perms - s) for s in range(0, n_perms, batch_size)]

        def draw(size: int) -> np.ndarray:
            # one permutation after the other from the one generator: the stream LIANA uses
            itype = np.int32 if n_cells < 2**31 else np.int64
            return np.stack(
                [rng.permutation(n_cells).astype(itype, copy=False) for _ in range(size)]
            )

        bar = tqdm(total=n_perms, disable=not progress, desc="permutations", unit="perm")
        if n_jobs == 1:
            for size in sizes:
                counts_k += scorer.count(draw(size))
                bar.update(size)
        else:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                # draw in order in this thread, keep at most 2 batches per worker in flight
                pending = []
                for size in sizes:
                    pending.append((size, pool.submit(scorer.count, draw(size))))
                    while len(pending) >= 2 * n_jobs:
                        sz, fut = pending.pop(0)
                        counts_k += fut.result()
                        bar.update(sz)
                for sz, fut in pending:
                    counts_k += fut.result()
                    bar.update(sz)
        bar.close()
        pvalue = (counts_k + 1) / (n_perms + 1)
        if only_expressed:
            pvalue[~expressed] = np.nan
    else:
        pvalue = np.full(score.shape, np.nan)

    return PermutationResult(
        ligand_means=lm,
        receptor_means=rm,
        ligand_props=lp,
        receptor_props=rp,
        score=score,
        pvalue=pvalue,
        expressed=expressed,
        counts=counts_k,
        n_perms=int(n_perms),
    )
