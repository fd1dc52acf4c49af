"""Connectivity and weight initialisation.

The default follows the authors' code (Liu et al. 2021, after the LSNN code): input, recurrent and
output weights are all drawn by :func:`balanced_signed` from the signs of their presynaptic
population (input channels 80 % excitatory in random order, recurrent neurons by cell type) — dense,
balanced per postsynaptic neuron, spectral radius 1 — and then masked to the sparse connectivity.

Recurrent synapses drawn from a structure's type-to-type connectivity are balanced after the mask
instead (:func:`balance_masked`): balancing a dense matrix and then keeping type-dependent subsets of
it leaves whatever E/I ratio the connection probabilities imply (docs/design.md, "Networks from
data").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "allocate_types",
    "balance_masked",
    "balanced_signed",
    "random_mask",
    "spectral_radius",
]


def allocate_types(abundances: np.ndarray, n: int, *, minimum: int = 0) -> np.ndarray:
    """Number of neurons per type, proportional to ``abundances`` (largest-remainder rounding).

    ``minimum`` neurons go to every type first and the rest in proportion, so that rare types
    are large enough to be trained and scored (docs/design.md, "Networks from data").

    Examples
    --------
    >>> allocate_types(np.array([0.8, 0.2]), 100).tolist()
    [80, 20]
    >>> allocate_types(np.array([0.5, 0.3, 0.2]), 7).tolist()
    [4, 2, 1]
    >>> allocate_types(np.array([0.9, 0.05, 0.05]), 100, minimum=30).tolist()
    [39, 31, 30]
    """
    ab = np.asarray(abundances, dtype=np.float64)
    ab = ab / ab.sum()
    minimum = int(minimum)
    if minimum < 0:
        raise ValueError(f"minimum must be >= 0, got {minimum}")
    if minimum * len(ab) > n:
        raise ValueError(
            f"{len(ab)} types of at least {minimum} neurons need n_rec >= {minimum * len(ab)}, "
            f"got {n}: raise n_rec or lower min_per_type"
        )
    n_free = n - minimum * len(ab)
    exact = ab * n_free
    counts = np.floor(exact).astype(np.int64)
    rest = n_free - int(counts.sum())
    if rest > 0:
        order = np.lexsort((np.arange(len(ab)), -(exact - counts)))
        counts[order[:rest]] += 1
    return counts + minimum


def random_mask(
    rows: int,
    cols: int,
    p: float,
    generator: torch.Generator,
    *,
    no_diagonal: bool = False,
    min_per_row: int = 0,
    draws: bool = False,
) -> Tensor:
    """Boolean ``rows × cols`` mask of random connections.

    ``draws=False``: each entry is on with probability ``p``. ``draws=True``: ``int(p·rows·cols)``
    (row, column) pairs are drawn uniformly with replacement and switched on (the authors' sampler;
    repeated pairs make the density ≈ 1 − e^(−p)). ``no_diagonal`` then removes ``[i, i]``;
    ``min_per_row`` adds random entries to rows with fewer.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> m = random_mask(400, 400, 0.1, g, draws=True)
    >>> round(float(m.float().mean()), 3)   # 1 - exp(-0.1) = 0.0952
    0.095
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"connection probability must lie in (0, 1], got {p}")
    if draws:
        k = int(p * rows * cols)
        mask = torch.zeros(rows, cols, dtype=torch.bool)
        r = torch.randint(0, rows, (k,), generator=generator)
        c = torch.randint(0, cols, (k,), generator=generator)
        mask[r, c] = True
    else:
        mask = torch.rand(rows, cols, generator=generator) < p
    if no_diagonal:
        k = min(rows, cols)
        mask[torch.arange(k), torch.arange(k)] = False
    if min_per_row:
        for r in range(rows):
            if int(mask[r].sum()) < min_per_row:
                allowed = torch.ones(cols, dtype=torch.bool)
                if no_diagonal and r < cols:
                    allowed[r] = False
                choice = torch.nonzero(allowed & ~mask[r]).flatten()
                pick = choice[torch.randperm(len(choice), generator=generator)[:min_per_row]]
                mask[r, pick] = True
    return mask


def spectral_radius(w: Tensor, *, exact_up_to: int = 512) -> float:
    """Largest absolute eigenvalue of a square matrix.

    Up to ``exact_up_to`` rows: all eigenvalues (LAPACK). Larger: the one of largest modulus by
    ARPACK (``scipy.sparse.linalg.eigs``, relative tolerance 1e-10): 4000 × 4000 takes seconds
    instead of minutes.

    Examples
    --------
    >>> round(spectral_radius(torch.tensor([[0.0, 2.0], [0.5, 0.0]])), 6)
    1.0
    """
    a = w.detach().double().cpu()
    if a.shape[0] <= exact_up_to:
        return float(torch.linalg.eigvals(a).abs().max())
    from scipy.sparse.linalg import eigs

    vals = eigs(a.numpy(), k=1, which="LM", return_eigenvectors=False, tol=1e-10, ncv=64)
    return float(np.abs(vals).max())


def balanced_signed(
    pre_signs: Tensor, n_post: int, generator: torch.Generator, *, radius: float = 1.0
) -> Tensor:
    """The authors' initialisation of a sign-constrained weight matrix ``[post, pre]`` (dense).

    Following Liu et al. 2021's code (itself from the LSNN code): a square ``n_pre × n_pre`` matrix of
    magnitudes ``|N(0, 1)|`` signed by the presynaptic neuron; inhibitory magnitudes scaled so total
    excitation equals total inhibition; then every postsynaptic neuron balanced exactly (its summed
    input made zero by an equal shift of its excitatory or of its inhibitory weights; a neuron with only
    one sign of input gets none); then scaled to spectral radius ``radius``. Rows are the first
    ``n_post`` neurons, or drawn with replacement when ``n_post > n_pre``. The caller applies the sparse
    mask afterwards (so the masked matrix has a smaller radius, as in the authors' networks).

    The balance holds for the dense matrix only: a mask that keeps a fraction of the synapses that
    depends on the pre- and postsynaptic type (a structure's connectivity) changes the E/I ratio
    of what is kept; such matrices are balanced after the mask by :func:`balance_masked`.
    """
    sg = pre_signs.to(torch.float64).reshape(-1)
    n = sg.numel()
    exc, inh = sg > 0, sg < 0
    mag = torch.randn(n, n, generator=generator, dtype=torch.float64).abs()
    if bool(inh.any()) and bool(exc.any()):
        mag[:, inh] *= mag[:, exc].sum() / mag[:, inh].sum()
        w = mag * sg[None, :]
        s_e = w[:, exc].sum(1)
        s_i = w[:, inh].sum(1)
        total = s_e + s_i
        shift_e = torch.where(total < 0, total.abs() / int(exc.sum()), torch.zeros_like(total))
        shift_i = torch.where(total >= 0, total.abs() / int(inh.sum()), torch.zeros_like(total))
        w[:, exc] += shift_e[:, None]
        w[:, inh] -= shift_i[:, None]
    else:
        w = mag * sg[None, :]
    rad = spectral_radius(w)
    if rad > 0:
        w = w * (radius / rad)
    if n_post <= n:
        return w[:n_post].clone()
    rows = torch.randint(0, n, (n_post,), generator=generator)
    return w[rows]


def balance_masked(
    w: Tensor, mask: Tensor, pre_signs: Tensor, *, radius: float | None = None
) -> Tensor:
    """The authors' E/I balance applied to the synapses that exist: ``w`` ``[post, pre]`` signed,
    nonzero only where ``mask`` is.

    The steps of :func:`balanced_signed`, restricted to the synapses of ``mask``: inhibitory
    magnitudes scaled so that total excitation equals total inhibition; then every postsynaptic
    neuron that receives both signs balanced exactly, its summed input made zero; finally, when
    ``radius`` is given, the matrix scaled to that spectral radius.

    One step differs from :func:`balanced_signed`: a neuron is balanced by scaling its inhibitory
    synapses (by the ratio of its excitatory to its inhibitory input) rather than by adding the
    difference evenly to one side. In a dense matrix of ``|N(0, 1)|`` magnitudes the additive shift
    is a small correction; with type-pair strengths the rows are unbalanced systematically and the
    shift would rewrite the strengths (the excitatory synapses onto a neuron whose inhibition
    dominates would grow until they balance it). Scaling keeps every excitatory magnitude and the
    ratios among the inhibitory inputs of each neuron as the strengths set them, and no weight
    changes sign. A neuron that receives one sign only keeps its inputs as the first step left them;
    total excitation equals total inhibition exactly when there is no such neuron.

    Parameters
    ----------
    w
        Signed weights ``[post, pre]`` (column ``p`` has the sign of ``pre_signs[p]``), e.g.
        ``|N(0, 1)|`` magnitudes times type-pair strengths on the sampled synapses.
    mask
        Where synapses exist, ``[post, pre]`` (boolean or 0/1).
    pre_signs
        ±1 per presynaptic neuron.
    radius
        Spectral radius of the result (``None``: not rescaled).

    Returns
    -------
    Tensor
        The balanced weights (float64), zero outside ``mask``.

    Examples
    --------
    >>> w = torch.tensor([[0.0, 2.0, -1.0], [1.0, 0.0, -1.0], [3.0, 1.0, 0.0]])
    >>> b = balance_masked(w, w != 0, torch.tensor([1.0, 1.0, -1.0]))
    >>> b.tolist()    # rows 0 and 1 balanced by their inhibition; row 2 has no inhibitory input
    [[0.0, 2.0, -2.0], [1.0, 0.0, -1.0], [3.0, 1.0, 0.0]]
    """
    sg = pre_signs.to(torch.float64).reshape(-1)
    m = mask.to(torch.bool)
    w = (w.to(torch.float64) * m).clone()
    exc, inh = sg > 0, sg < 0
    total_e = float(w[:, exc].sum())
    total_i = -float(w[:, inh].sum())
    if total_e > 0 and total_i > 0:
        w[:, inh] *= total_e / total_i
    row_e = w[:, exc].sum(1)
    row_i = -w[:, inh].sum(1)
    both = (row_e > 0) & (row_i > 0)
    factor = torch.where(both, row_e / torch.where(both, row_i, 1.0), 1.0)
    w[:, inh] *= factor[:, None]
    if radius is not None:
        rad = spectral_radius(w)
        if rad > 0:
            w = w * (float(radius) / rad)
    return w
