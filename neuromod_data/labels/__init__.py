"""The cell-type layer: label columns, their cleaning, type classes, E/I signs, colours and levels.

Every step that needs cell types (aggregation, scoring, the graph, tissue abundances) reads them
through this module, so one rule holds everywhere:

Cleaning (:func:`check_labels`, :func:`clean_label`)
    Labels are strings. Leading and trailing whitespace is removed and inner runs collapse to one
    space, so ``"Vip "`` and ``"Vip"`` are one type (warned, naming the spellings). Missing are only
    real missing values (``NaN``, ``None``) and labels that are empty after cleaning; a type
    literally named ``"NA"`` or ``"None"`` is a label like any other. Labels equal but for case are
    reported and kept apart unless ``merge_case``. A label marking cells that failed quality
    control (``"low quality"``, :data:`QUALITY_CONTROL_LABELS`) is no type: its cells are left out
    at the first step that forms types (warned, naming the label), never carried along and
    dropped later as a non-neuronal type.
Type order (:func:`type_order`)
    Category order for a categorical column, else sorted by name.
Levels (:func:`level_mapping`)
    A fine label maps to the one coarse label its cells carry (cluster → subclass → class). A fine
    label whose cells carry several coarse labels is refused with a :class:`CellTypeError` naming
    the labels and their cell counts; no majority vote. The same rule gives a type its class and
    colour from per-cell columns (:func:`type_annotations`) and a coarse graph node its class.
Class, sign, colour (:func:`infer_class`, :func:`class_sign`, :func:`default_colors`)
    The class comes from a class column when there is one, else from the type's name (Allen-style
    names); the Dale sign from the class (GABAergic −1, Glutamatergic +1, anything else 0); the
    colour from a colour column, else a shade of the class colour.

Modules: :mod:`~neuromod_data.labels.clean` (cleaning, type order),
:mod:`~neuromod_data.labels.levels` (levels) and :mod:`~neuromod_data.labels.classes` (class,
sign, colour); every name is importable from here.
"""

from __future__ import annotations

from neuromod_data.labels.classes import (
    CLASS_COLORS,
    GABA,
    GLUT,
    NONNEURONAL,
    class_sign,
    default_colors,
    infer_class,
    type_annotations,
)
from neuromod_data.labels.classes import (
    CLASS_COLUMNS as CLASS_COLUMNS,
)
from neuromod_data.labels.clean import (
    QUALITY_CONTROL_LABELS,
    LabelCheck,
    check_labels,
    clean_label,
    is_quality_control_label,
    require_column,
    type_order,
)
from neuromod_data.labels.levels import _map_levels as _map_levels
from neuromod_data.labels.levels import coarsen, label_levels, level_mapping

__all__ = [
    "CLASS_COLORS",
    "GABA",
    "GLUT",
    "NONNEURONAL",
    "QUALITY_CONTROL_LABELS",
    "LabelCheck",
    "check_labels",
    "class_sign",
    "clean_label",
    "is_quality_control_label",
    "coarsen",
    "default_colors",
    "infer_class",
    "label_levels",
    "level_mapping",
    "require_column",
    "type_annotations",
    "type_order",
]
