"""Errors of the reporting build. Each message is one sentence and holds no secret."""

from __future__ import annotations


class TransformError(Exception):
    """The reporting project could not be built, or an `error` data test failed: the message
    names the model or test at fault."""
