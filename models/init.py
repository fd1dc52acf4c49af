"""Connectivity and weight initialisation.

Default (``"balanced"``, after the authors' code): recurrent magnitudes ``|N(0, 1)|`` on a sparse
random mask with no self-connections, signed by the presynaptic neuron's type (Dale), inhibitory
inputs of every neuron scaled so that they cancel its excitatory inputs (row sums zero: a balanced
network), then the whole matrix scaled to spectral radius 1. Input weights ``N(0, 1)/sqrt(n_in·p_in)``
(magnitude and a fixed random sign per synapse), output weights ``N(0, 1)/sqrt(N·p_out)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["allocate_types", "balanced_recurrent", "random_mask", "spectral_radius"]


def allocate_types(abundances: np.ndarray, n: int) -> np.ndarray:
    """Number of neurons per type, proportional to ``abundances`` (largest-remainder rounding).

    Examples
    --------
    >>> allocate_types(np.array([0.8, 0.2]), 100).tolist()
    [80, 20]
    >>> allocate_types(np.array([0.5, 0.3, 0.2]), 7).tolist()
    [4, 2, 1]
    """
    ab = np.asarray(abundances, dtype=np.float64)
    ab = ab / ab.sum()
    exact = ab * n
    counts = np.floor(exact).astype(np.int64)
    rest = n - int(counts.sum())
    if rest > 0:
        order = np.lexsort((np.arange(len(ab)), -(exact - counts)))
        counts[order[:rest]] += 1
    return counts


def random_mask(
    rows: int,
    cols: int,
    p: float,
    generator: torch.Generator,
    *,
    no_diagonal: bool = False,
    min_per_row: int = 0,
) -> Tensor:
    """Boolean ``rows × cols`` mask with each entry on with probability ``p``."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"connection probability must lie in (0, 1], got {p}")
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


def spectral_radius(w: Tensor) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(torch.linalg.eigvals(w.detach().double().cpu()).abs().max())


def balanced_recurrent(
    mask: Tensor, signs: Tensor, generator: torch.Generator, *, radius: float = 1.0
) -> Tensor:
    """Signed recurrent weights ``[post, pre]``: magnitudes ``|N(0,1)|`` on ``mask``, balanced per
    row (inhibitory inputs scaled to cancel excitatory ones), scaled to spectral radius ``radius``.
    """
    mag = torch.randn(mask.shape, generator=generator, dtype=torch.float64).abs() * mask
    sg = signs.to(torch.float64)[None, :]
    exc = (mag * (sg > 0)).sum(1, keepdim=True)
    inh = (mag * (sg < 0)).sum(1, keepdim=True)
    scale = torch.where((exc > 0) & (inh > 0), exc / inh.clamp(min=1e-300), torch.ones_like(inh))
    mag = torch.where(sg < 0, mag * scale, mag)
    w = mag * sg
    rad = spectral_radius(w)
    if rad > 0:
        w = w * (radius / rad)
    return w
