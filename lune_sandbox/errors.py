"""Lune's error body, and the exception the sandbox raises to answer with one."""

from __future__ import annotations

import orjson


class ApiError(Exception):
    """An HTTP error answered with Lune's error body.

    `code` is an `Error.error_code` of the OpenAPI description where one fits; the two that
    the description has no member for (404 and 429, whose responses it declares without a
    body) use `not_found` and `rate_limit_exceeded`.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> bytes:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> bytes:
    """`{"error": {...}, "errors": [<the same error>]}`: `errors` is Lune's legacy copy."""
    error = {"error_code": code, "message": message}
    return orjson.dumps({"error": error, "errors": [error]})


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found.")


def validation_error(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)
