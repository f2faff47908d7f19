"""Errors this source raises. Each message is one sentence and never contains the API key."""

from __future__ import annotations


class LuneError(Exception):
    """Base class: a problem a user can act on, described in `str(error)`."""


class LuneConfigError(LuneError):
    """The source's configuration is missing or invalid."""


class LuneAPIError(LuneError):
    """The Lune API answered with an error, or could not be reached, after any retries."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        endpoint: str | None = None,
        account_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.endpoint = endpoint
        self.account_id = account_id


class LuneNotFound(LuneAPIError):
    """A single object (for example an order by id) does not exist (HTTP 404)."""


class RetryableResponse(Exception):
    """Internal: a response worth retrying (429, 5xx, truncated or non-JSON body)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
