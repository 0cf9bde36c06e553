"""Errors raised at the boundary of scintiml.

Every error says what is wrong *and* how to fix it. They all derive from
:class:`ScintimlError` (itself a ``ValueError``), which the command line turns
into a single ``error: ...`` line and exit status 2.
"""

from __future__ import annotations


class ScintimlError(ValueError):
    """Base class of every user-facing error raised by scintiml."""


class CohortFileError(ScintimlError):
    """The data file is missing, unreadable or of an unknown format."""


class TargetColumnError(ScintimlError):
    """The outcome (target) column is absent."""


class TargetClassesError(ScintimlError):
    """The outcome does not have exactly two classes."""


class PositiveClassError(ScintimlError):
    """The requested positive class is not one of the outcome's values."""


class NonNumericInputError(ScintimlError):
    """An input holds free text that cannot be turned into numbers."""


class InfiniteValueError(ScintimlError):
    """An input holds +inf or -inf."""


class DuplicateIdError(ScintimlError):
    """Two rows carry the same patient id."""


class MissingIdError(ScintimlError):
    """A row of the patient id column is empty."""


class TooFewEventsError(ScintimlError):
    """Fewer events (or non-events) than a study can learn from."""


class GroupsError(ScintimlError):
    """The input groups (imaging / clinical ...) are malformed."""


class SplitError(ScintimlError):
    """The requested training/selection/testing split is impossible."""


class OutputDirectoryError(ScintimlError):
    """The output directory exists and is not empty."""


class BundleError(ScintimlError):
    """A model bundle is missing, corrupt, or does not match the data."""


class ColumnNameError(ScintimlError):
    """Two columns share a name (in the file, or after one-hot encoding), or a column has no name."""


class NumberFormatError(NonNumericInputError):
    """Numbers written in a form that is not read by default (decimal commas, percent signs)."""


class TableLimitError(CohortFileError):
    """The data file is larger than scintiml reads, or not a regular file (a pipe or a device)."""
