"""Errors and warnings that name the file, column, gene or type at fault.

Every public function raises one of these instead of letting a deep pandas / numpy / torch traceback
reach the user. They subclass the built-in exception a caller would naturally catch
(``ValueError``, ``FileNotFoundError``, ``KeyError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class NeuromodError(Exception):
    """Base class of every error this toolkit raises on purpose."""


class InputFileError(NeuromodError, FileNotFoundError):
    """A file is missing, unreadable or not in the format it was expected to be in."""


class OutputError(NeuromodError, OSError):
    """An output cannot be written where asked (an input, a folder, a read-only place)."""

    def __str__(self) -> str:  # OSError would format (errno, strerror) pairs
        return str(self.args[0]) if self.args else ""


class FormatError(NeuromodError, ValueError):
    """A file or table was read but its content does not have the expected layout."""


class ColumnError(NeuromodError, KeyError):
    """A required column (label, gene, join key) is absent.

    ``KeyError`` quotes its message; ``__str__`` is overridden so the message reads as written.
    """

    def __str__(self) -> str:  # pragma: no cover - trivial
        return str(self.args[0]) if self.args else ""


class DataValueError(NeuromodError, ValueError):
    """Values are invalid: negative or non-finite counts, duplicated names, mismatched samples."""


class CellTypeError(NeuromodError, ValueError):
    """A cell type is unknown, too small, or the set of types cannot support the analysis."""


class ResourceError(NeuromodError, ValueError):
    """A ligand-receptor resource is malformed or shares no genes with the data."""


class TrainingError(NeuromodError, RuntimeError):
    """Training cannot continue (non-finite loss, incompatible checkpoint)."""


class UsageError(NeuromodError, ValueError):
    """An option or setting is out of range or contradicts another one."""


class OptionError(UsageError, TypeError):
    """A keyword option that the called reader or function does not take."""


class DependencyError(NeuromodError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


class NeuromodWarning(UserWarning):
    """Continuing is right, but the user should know (missing genes, dropped types, ...)."""


class MissingGenesWarning(NeuromodWarning):
    """Genes of a resource or request are absent from the data; they are reported and skipped."""
