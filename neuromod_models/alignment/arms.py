"""The arms of the gradient alignment: a learning rule with a gate each, and how an arm's
coefficients on the basis gradients are built (docs/design.md, "Gradient alignment")."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from neuromod_data.controls import grid_shuffled, uniform
from neuromod_data.errors import CellTypeError
from neuromod_data.structure import CellTypeStructure

#: the arms in the order they are reported
ARMS: tuple[str, ...] = (
    "eprop",
    "ones",
    "ei",
    "data",
    "label-permuted",
    "grid-shuffled",
    "uniform",
    "exact",
)

# arm kinds: how an arm's coefficients on the basis vectors are built
_EPROP, _GATED, _EI, _EXACT = 0, 1, 2, 3
#: K up to which every label permutation is scored (7! - 1 = 5,039 arms, a few ms per network)
EXACT_NULL_MAX_K = 7


class Arms(NamedTuple):
    """The arms to score: one entry per arm draw (``label-permuted`` and ``grid-shuffled`` have many).

    ``name``: the arm (:data:`ARMS`); ``draw``: the draw's number within its arm (0 for single arms);
    ``label``: the permutation (``"2 0 1"``: type ``a`` takes the gate of type ``π(a)``) or the
    grid shuffle's seed; ``kind``: how the arm modulates; ``gates`` ``[n, K, K]``: the gate of a
    gated arm (ones elsewhere); ``exact_null``: every non-identity permutation is there.
    """

    name: tuple[str, ...]
    draw: np.ndarray
    label: tuple[str, ...]
    kind: np.ndarray
    gates: np.ndarray
    exact_null: bool

    def __len__(self) -> int:  # type: ignore[override]
        return len(self.name)

    def index(self, name: str, draw: int = 0) -> int:  # type: ignore[override]
        """Position of draw ``draw`` of arm ``name``."""
        for i, (n, d) in enumerate(zip(self.name, self.draw)):
            if n == name and int(d) == draw:
                return i
        raise KeyError(f"no arm {name!r} draw {draw}")


def _permutations(k: int, n: int, seed: int) -> tuple[list[np.ndarray], bool]:
    """Every non-identity permutation of ``range(k)`` (``k ≤ 7``), else ``n`` distinct random ones."""
    if k <= EXACT_NULL_MAX_K:
        perms = [np.array(p) for p in itertools.permutations(range(k))]
        return perms[1:], True  # the first is the identity
    rng = np.random.default_rng([int(seed), 1])
    seen = {tuple(range(k))}
    out = []
    while len(out) < n:
        p = rng.permutation(k)
        if tuple(p) not in seen:
            seen.add(tuple(p))
            out.append(p)
    return out, False


def make_arms(
    structure: CellTypeStructure,
    *,
    permutations: int = 999,
    grid_draws: int = 99,
    seed: int = 0,
) -> Arms:
    """The arms of :data:`ARMS` for ``structure``'s data gate.

    Parameters
    ----------
    structure
        Types, signs and the data gate (:meth:`CellTypeStructure.gate`).
    permutations
        Random label permutations when K > 7 (with K ≤ 7 all K! − 1 are used).
    grid_draws
        Grid shuffles (seeds ``seed``, ``seed + 1``, …; none when the gate is constant).
    seed
        Seed of the random permutations and grid shuffles.

    Examples
    --------
    >>> arms = make_arms(CellTypeStructure.ei(), grid_draws=0)
    >>> list(zip(arms.name, arms.label))[3:5]
    [('data', ''), ('label-permuted', '1 0')]
    """
    if int(permutations) < 1 or int(grid_draws) < 0:
        raise ValueError("permutations must be >= 1 and grid_draws >= 0")
    k = structure.n_types
    if k < 2:
        raise CellTypeError("gradient alignment needs a structure with at least 2 types")
    data = structure.gate(kind="weighted")
    ones = np.ones((k, k))
    rows: list[tuple[str, int, str, int, np.ndarray]] = [
        ("eprop", 0, "", _EPROP, ones),
        ("ones", 0, "", _GATED, ones),
        ("ei", 0, "", _EI, ones),
        ("data", 0, "", _GATED, data),
    ]
    perms, exact = _permutations(k, int(permutations), seed)
    for d, p in enumerate(perms):
        rows.append(("label-permuted", d, " ".join(map(str, p)), _GATED, data[np.ix_(p, p)]))
    flat = data.ravel()
    if not np.all(flat == flat[0]):  # a constant gate has no other order
        for d in range(int(grid_draws)):
            g = grid_shuffled(data, seed=int(seed) + d)
            rows.append(("grid-shuffled", d, str(int(seed) + d), _GATED, g))
    rows.append(("uniform", 0, "", _GATED, uniform(data)))
    rows.append(("exact", 0, "", _EXACT, ones))
    name, draw, label, kind, gates = zip(*rows)
    return Arms(
        tuple(name),
        np.array(draw, dtype=np.int64),
        tuple(label),
        np.array(kind, dtype=np.int64),
        np.stack(gates).astype(np.float64),
        exact,
    )
