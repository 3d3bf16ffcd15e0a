"""The error types Outside-In raises. Anything a user can cause is one of these, with a message that
names the file, the row, the column and the rule, and says how to fix it."""

from __future__ import annotations


class OutsideInError(Exception):
    """Base class: an error the user can act on (the CLI prints its message, no traceback)."""


class ParamsError(OutsideInError):
    """A params file or codebook is missing, unreadable or invalid."""


class DataError(OutsideInError):
    """A survey or margins file cannot be read, or does not fit its codebook."""


class DesignError(OutsideInError):
    """The sampling design or the weighting cannot be built from the data (e.g. a lonely PSU)."""


class ReportError(OutsideInError):
    """The notebook failed or the report could not be written; the last good report is kept."""


class DeliveryError(OutsideInError):
    """A report could not be sent (settings missing, the server refused it, nothing to send)."""


class OutputError(OutsideInError):
    """An output could not be written (disk full, no permission, a read-only folder); the message
    names the path and what to do, and the last good outputs are kept."""


class LockedError(OutsideInError):
    """Another run of the same client is in progress (its lock names its process)."""


class ProjectError(OutsideInError):
    """A project folder cannot be created where asked (``outside-in init``: its files exist
    already, or the folder is a file); nothing was written."""
