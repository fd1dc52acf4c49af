"""Multi-gene ligands and receptors (complexes, synthesis enzyme + transporter sets).

A resource names a ligand or receptor by its genes joined with ``"_"`` (LIANA's convention), e.g.
``"Gad1_Slc32a1"``. Its per-type value is the **minimum** over its subunits by default (a complex is only
as available as its scarcest subunit, as CellPhoneDB and LIANA do), or the **geometric mean** on request
(``complex_policy="gmean"``; zero when any subunit is zero). Fractions of expressing cells follow the
same policy.

Resources may mark alternatives (``ligand_groups``, NeuronChat's AND-of-ORs: ``"Gad1_Gad2_Slc32a1"`` with
groups ``"1_1_2"`` means (Gad1 or Gad2) and Slc32a1): within a group the maximum is taken, across groups
the policy. An entry with a required subunit (or a whole group of alternatives) absent from the data
cannot be scored: it is reported missing (the caller warns with
:class:`~neuromod_data.errors.MissingGenesWarning` and records it), never silently dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuromod_data.errors import ResourceError

__all__ = ["COMPLEX_SEP", "POLICIES", "ComplexIndex", "check_policy", "complex_id", "gene_groups",
           "split_genes"]  # fmt: skip

COMPLEX_SEP = "_"
POLICIES = ("min", "gmean")


def __getattr__(name: str) -> Any:
    if name == "split_complex":
        warnings.warn(
            "neuromod_data.complexes.split_complex is renamed split_genes; the old name will be "
            "removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return split_genes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and x != x) or str(x) == ""


def split_genes(genes: str) -> list[str]:
    """Gene symbols of a ``"_"``-joined multi-gene entry (LIANA's convention).

    Parameters
    ----------
    genes
        ``ligand_genes`` or ``receptor_genes`` of a resource, e.g. ``"Gad1_Slc32a1"``.

    Returns
    -------
    list of str
        The symbols, in order; one gene is just itself.

    Examples
    --------
    >>> split_genes("Gad1_Slc32a1"), split_genes("Npy")
    (['Gad1', 'Slc32a1'], ['Npy'])
    """
    return [g for g in str(genes).split(COMPLEX_SEP) if g]


def check_policy(policy: str) -> str:
    """Validate a ``complex_policy``.

    Parameters
    ----------
    policy
        One of :data:`POLICIES`.

    Returns
    -------
    str
        ``policy`` itself.

    Raises
    ------
    ValueError
        ``policy`` is not one of :data:`POLICIES`.

    Examples
    --------
    >>> check_policy("gmean")
    'gmean'
    """
    if policy not in POLICIES:
        raise ValueError(f"complex_policy must be one of {POLICIES}, got {policy!r}")
    return policy


def complex_id(genes: str, groups: str | None = None) -> str:
    """The identity of a multi-gene entry: its genes, plus its groups when it has any.

    Parameters
    ----------
    genes
        ``"_"``-joined genes.
    groups
        ``"_"``-joined group numbers aligned with ``genes``, or ``None`` / ``""``.

    Returns
    -------
    str
        ``genes``, or ``"genes|groups"``.

    Examples
    --------
    >>> complex_id("Gad1_Gad2_Slc32a1", "1_1_2"), complex_id("Npy")
    ('Gad1_Gad2_Slc32a1|1_1_2', 'Npy')
    """
    return str(genes) if _missing(groups) else f"{genes}|{groups}"


def gene_groups(genes: str, groups: str | None = None) -> list[list[str]]:
    """The AND-of-ORs structure of a multi-gene entry: groups of alternative genes.

    Parameters
    ----------
    genes
        ``"_"``-joined gene symbols (``ligand_genes`` or ``receptor_genes``).
    groups
        ``"_"``-joined group numbers aligned with ``genes`` (``ligand_groups``), or ``None`` /
        ``""`` for a complex (every gene required).

    Returns
    -------
    list of list of str
        One list per required group, holding its alternatives.

    Raises
    ------
    ResourceError
        ``groups`` does not have one number per gene.

    Examples
    --------
    >>> gene_groups("Gad1_Gad2_Slc32a1", "1_1_2")
    [['Gad1', 'Gad2'], ['Slc32a1']]
    >>> gene_groups("Chrna4_Chrnb2")
    [['Chrna4'], ['Chrnb2']]
    """
    names = split_genes(genes)
    if _missing(groups):
        return [[g] for g in names]
    keys = str(groups).split(COMPLEX_SEP)
    if len(keys) != len(names):
        raise ResourceError(
            f"gene groups {groups!r} do not match genes {genes!r}: {len(keys)} groups for "
            f"{len(names)} genes"
        )
    out: dict[str, list[str]] = {}
    for g, k in zip(names, keys):
        out.setdefault(k, []).append(g)
    return list(out.values())


@dataclass
class ComplexIndex:
    """Column indices of the genes of each multi-gene entry, padded for vectorised reduction.

    ``index[c, j, i]`` is the column of alternative ``i`` of required group ``j`` of entry ``c``.
    Within a group the **maximum** is taken (either alternative suffices, e.g. ``Gad1`` or ``Gad2``);
    across groups ``complex_policy`` (minimum or geometric mean). Without groups every gene is its own
    group: a complex whose subunits are all required. Padding repeats the first alternative / first
    group, which neither max nor min notices; ``mask`` marks the real groups for the geometric mean.

    Examples
    --------
    >>> ci = ComplexIndex.build(["Gad1_Gad2_Slc32a1"], ["Gad1", "Gad2", "Slc32a1"], ["1_1_2"])
    >>> ci.names, ci.index.shape, ci.mask.tolist()
    (['Gad1_Gad2_Slc32a1|1_1_2'], (1, 2, 2), [[True, True]])
    """

    names: list[str]
    index: np.ndarray
    mask: np.ndarray
    missing: dict[str, list[str]] = field(default_factory=dict)
    absent_alternatives: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        complexes: Iterable[str],
        genes: Sequence[str],
        groups: Iterable[str | None] | None = None,
    ) -> ComplexIndex:
        """Index ``complexes`` (``"_"``-joined genes; with ``groups``, aligned group numbers) against
        the column names ``genes``; entries are named by :func:`complex_id`.

        An entry with a required group entirely absent is left out and listed in ``missing``
        (entry → absent genes); absent alternatives of a covered group are listed in
        ``absent_alternatives``.

        Parameters
        ----------
        complexes
            Multi-gene entries (``ligand_genes`` or ``receptor_genes``).
        genes
            The column names the values will have.
        groups
            ``ligand_groups`` / ``receptor_groups`` aligned with ``complexes`` (``None``: every gene
            required).

        Returns
        -------
        ComplexIndex
            The index of the coverable entries, in first-appearance order.

        Examples
        --------
        >>> ci = ComplexIndex.build(["A_B", "C", "D_E"], ["A", "B", "C", "D"])
        >>> ci.names, ci.index[:, :, 0].tolist(), ci.missing
        (['A_B', 'C'], [[0, 1], [2, 2]], {'D_E': ['E']})
        """
        pos = {g: i for i, g in enumerate(genes)}
        comp = [str(c) for c in complexes]
        grp = [None] * len(comp) if groups is None else list(groups)
        names: list[str] = []
        rows: list[list[list[int]]] = []
        missing: dict[str, list[str]] = {}
        absent_alt: dict[str, list[str]] = {}
        for c, gr in zip(comp, grp):
            key = complex_id(c, gr)
            if key in names or key in missing:
                continue
            parts = gene_groups(c, gr)
            if not parts:
                missing[key] = [c]
                continue
            uncovered = [g for part in parts if not any(x in pos for x in part) for g in part]
            if uncovered:
                missing[key] = uncovered
                continue
            alt = [g for part in parts for g in part if g not in pos]
            if alt:
                absent_alt[key] = alt
            names.append(key)
            rows.append([[pos[g] for g in part if g in pos] for part in parts])
        n_groups = max((len(r) for r in rows), default=1)
        width = max((len(p) for r in rows for p in r), default=1)
        index = np.zeros((len(rows), n_groups, width), dtype=np.int64)
        mask = np.zeros((len(rows), n_groups), dtype=bool)
        for i, r in enumerate(rows):
            for j in range(n_groups):
                part = r[j] if j < len(r) else r[0]
                index[i, j, : len(part)] = part
                index[i, j, len(part) :] = part[0]
            mask[i, : len(r)] = True
        return cls(
            names=names, index=index, mask=mask, missing=missing, absent_alternatives=absent_alt
        )

    def position(self, genes: str, groups: str | None = None) -> int:
        """The row of an entry in :meth:`reduce`'s output.

        Parameters
        ----------
        genes, groups
            The entry, as given to :meth:`build`.

        Returns
        -------
        int
            Its position in :attr:`names`.

        Raises
        ------
        ValueError
            The entry was not indexed (it is missing from the data).

        Examples
        --------
        >>> ComplexIndex.build(["A_B", "C"], ["A", "B", "C"]).position("C")
        1
        """
        return self.names.index(complex_id(genes, groups))

    def reduce(self, values: np.ndarray, policy: str = "min") -> np.ndarray:
        """Per-entry values from per-gene ``values`` (``(..., n_genes)`` → ``(..., n_complexes)``).

        Parameters
        ----------
        values
            Per-gene values, the last axis in the order of :meth:`build`'s ``genes``.
        policy
            ``"min"`` or ``"gmean"`` across the required groups (the maximum within a group).

        Returns
        -------
        ndarray
            One value per entry of :attr:`names` on the last axis.

        Examples
        --------
        >>> ci = ComplexIndex.build(["A_B", "C"], ["A", "B", "C"])
        >>> ci.reduce(np.array([4.0, 1.0, 3.0])).tolist()
        [1.0, 3.0]
        >>> ci.reduce(np.array([4.0, 1.0, 3.0]), "gmean").tolist()
        [2.0, 3.0]
        >>> alt = ComplexIndex.build(["A_B_C"], ["A", "B", "C"], groups=["1_1_2"])
        >>> alt.reduce(np.array([4.0, 1.0, 3.0])).tolist()  # min(max(A, B), C)
        [3.0]
        """
        check_policy(policy)
        per_group = np.asarray(values)[..., self.index].max(axis=-1)  # (..., C, G)
        if policy == "min" or self.index.shape[1] == 1:
            return per_group.min(axis=-1)
        with np.errstate(divide="ignore"):
            logs = np.where(self.mask, np.log(np.maximum(per_group, 0.0)), 0.0)
        n = self.mask.sum(axis=1)
        # single-group entries keep their exact value (exp(log(x)) is not always x)
        return np.where(n == 1, per_group[..., 0], np.exp(logs.sum(axis=-1) / n))
