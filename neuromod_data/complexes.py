"""Multi-gene ligands and receptors (complexes, synthesis enzyme + transporter sets).

A resource names a ligand or receptor by its genes joined with ``"_"`` (LIANA's convention), e.g.
``"Gad1_Slc32a1"``. Its per-type value is the **minimum** over its subunits by default (a complex is only
as available as its scarcest subunit, as CellPhoneDB and LIANA do), or the **geometric mean** on request
(``complex_policy="gmean"``; zero when any subunit is zero). Fractions of expressing cells follow the
same policy.

A complex with any subunit absent from the data cannot be scored: it is reported missing (the caller
warns with :class:`~neuromod_data.errors.MissingGenesWarning` and records it), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

COMPLEX_SEP = "_"
POLICIES = ("min", "gmean")


def split_complex(name: str) -> list[str]:
    """Subunit gene symbols of a complex name.

    Examples
    --------
    >>> split_complex("Gad1_Slc32a1"), split_complex("Npy")
    (['Gad1', 'Slc32a1'], ['Npy'])
    """
    return [g for g in str(name).split(COMPLEX_SEP) if g]


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"complex_policy must be one of {POLICIES}, got {policy!r}")
    return policy


@dataclass
class ComplexIndex:
    """Column indices of the subunits of each complex, padded for vectorised reduction.

    ``index[c, j]`` is the column of subunit ``j`` of complex ``c``; shorter complexes repeat their first
    subunit, and ``mask`` marks the real entries (needed by the geometric mean).
    """

    names: list[str]
    index: np.ndarray
    mask: np.ndarray
    missing: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, complexes: Iterable[str], genes: Sequence[str]) -> ComplexIndex:
        """Index ``complexes`` against the column names ``genes``.

        Complexes with an absent subunit are left out of ``names`` and listed in ``missing``
        (complex → absent genes).

        Examples
        --------
        >>> ci = ComplexIndex.build(["A_B", "C", "D_E"], ["A", "B", "C", "D"])
        >>> ci.names, ci.index.tolist(), ci.missing
        (['A_B', 'C'], [[0, 1], [2, 2]], {'D_E': ['E']})
        """
        pos = {g: i for i, g in enumerate(genes)}
        names: list[str] = []
        rows: list[list[int]] = []
        missing: dict[str, list[str]] = {}
        for c in dict.fromkeys(str(c) for c in complexes):
            subs = split_complex(c)
            absent = [g for g in subs if g not in pos]
            if absent or not subs:
                missing[c] = absent or [c]
                continue
            names.append(c)
            rows.append([pos[g] for g in subs])
        width = max((len(r) for r in rows), default=1)
        index = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=bool)
        for i, r in enumerate(rows):
            index[i, : len(r)] = r
            index[i, len(r) :] = r[0]
            mask[i, : len(r)] = True
        return cls(names=names, index=index, mask=mask, missing=missing)

    def reduce(self, values: np.ndarray, policy: str = "min") -> np.ndarray:
        """Per-complex values from per-gene ``values`` (``(..., n_genes)`` → ``(..., n_complexes)``).

        Examples
        --------
        >>> ci = ComplexIndex.build(["A_B", "C"], ["A", "B", "C"])
        >>> ci.reduce(np.array([4.0, 1.0, 3.0])).tolist()
        [1.0, 3.0]
        >>> ci.reduce(np.array([4.0, 1.0, 3.0]), "gmean").tolist()
        [2.0, 3.0]
        """
        check_policy(policy)
        sub = np.asarray(values)[..., self.index]  # (..., C, width)
        if policy == "min" or self.index.shape[1] == 1:
            return sub.min(axis=-1)
        with np.errstate(divide="ignore"):
            logs = np.where(self.mask, np.log(np.maximum(sub, 0.0)), 0.0)
        n = self.mask.sum(axis=1)
        # single-gene entries keep their exact value (exp(log(x)) is not always x)
        return np.where(n == 1, sub[..., 0], np.exp(logs.sum(axis=-1) / n))
