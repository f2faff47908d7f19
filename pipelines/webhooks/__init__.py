"""Lune webhooks in the product: the receiver (`lune-pipeline webhooks serve`), registration
(`lune-pipeline webhooks register`) and loading the spool with each run.

Settings are dlt configuration, like the API key (environment variables or
`.dlt/secrets.toml` / `.dlt/config.toml`, section `[sources.lune]`):

    SOURCES__LUNE__WEBHOOK_SECRET             the endpoint's signing secret (a secret)
    SOURCES__LUNE__WEBHOOK_SPOOL              a directory or an fsspec URL (s3://..., gs://...)
    SOURCES__LUNE__WEBHOOK_TOLERANCE_SECONDS  signed timestamps older than this are refused (120)
    SOURCES__LUNE__WEBHOOK_MAX_BODY_BYTES     larger deliveries are refused with 413 (4 MiB)
"""

from __future__ import annotations

from dataclasses import dataclass

import dlt

from sources.lune.errors import LuneConfigError
from sources.lune.webhooks.signature import DEFAULT_TOLERANCE_SECONDS

from .app import DEFAULT_MAX_BODY_BYTES

SECRET_KEY = "sources.lune.webhook_secret"
SPOOL_KEY = "sources.lune.webhook_spool"
TOLERANCE_KEY = "sources.lune.webhook_tolerance_seconds"
MAX_BODY_KEY = "sources.lune.webhook_max_body_bytes"


class WebhookConfigError(LuneConfigError):
    """A webhook setting is missing or invalid; `str()` is one sentence, never the secret."""


@dataclass(frozen=True)
class ReceiverSettings:
    secret: str
    spool: str
    tolerance_seconds: float
    max_body_bytes: int

    def __repr__(self) -> str:  # never the secret
        return f"ReceiverSettings(spool={self.spool!r}, tolerance={self.tolerance_seconds})"


def configured_spool() -> str | None:
    """SOURCES__LUNE__WEBHOOK_SPOOL, or None when webhooks are not set up."""
    value = dlt.config.get(SPOOL_KEY)
    return str(value).strip() if value is not None and str(value).strip() else None


def receiver_settings() -> ReceiverSettings:
    """The receiver's settings from dlt config; WebhookConfigError names what is missing."""
    secret = dlt.secrets.get(SECRET_KEY)
    if not secret or not str(secret).strip():
        raise WebhookConfigError(
            "No webhook secret is configured: set SOURCES__LUNE__WEBHOOK_SECRET (or "
            "[sources.lune] webhook_secret in .dlt/secrets.toml) to the secret "
            "`lune-pipeline webhooks register` printed."
        )
    spool = configured_spool()
    if spool is None:
        raise WebhookConfigError(
            "No webhook spool is configured: set SOURCES__LUNE__WEBHOOK_SPOOL to a directory "
            "or an fsspec URL such as s3://bucket/lune-webhooks."
        )
    return ReceiverSettings(
        secret=str(secret).strip(),
        spool=spool,
        tolerance_seconds=_number(TOLERANCE_KEY, DEFAULT_TOLERANCE_SECONDS, float),
        max_body_bytes=int(_number(MAX_BODY_KEY, DEFAULT_MAX_BODY_BYTES, int)),
    )


def _number(key: str, default: float, kind: type) -> float:
    value = dlt.config.get(key)
    if value is None or str(value).strip() == "":
        return default
    try:
        number = kind(str(value).strip())
    except ValueError:
        number = 0
    if number <= 0:
        variable = key.upper().replace(".", "__")
        raise WebhookConfigError(f"{variable} must be a positive number, not {value!r}.")
    return number
