"""The one exception the report raises: a sentence a user can act on, never a traceback."""

from __future__ import annotations


class ReportError(Exception):
    """A report could not be written; `str()` is one sentence with no secret in it."""
