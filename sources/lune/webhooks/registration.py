"""Registering a webhook endpoint with Lune (`POST /v1/webhooks`, CreateWebhookRequest).

Lune answers with the endpoint's `secret` (WebhookFullSecret) once; afterwards its API shows
only the last four characters. Lune accepts only HTTPS endpoints; plain http is let through
here for loopback addresses only, where the local sandbox delivers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ..client import LuneClient, _is_loopback
from ..errors import LuneAPIError, LuneConfigError


def check_endpoint_url(url: str) -> str:
    """`url` when Lune could deliver to it: https://..., or http:// on a loopback address."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LuneConfigError(f"The webhook URL {url!r} is not an https:// URL.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise LuneConfigError(
            f"The webhook URL {url!r} must use https:// (Lune delivers only over HTTPS; plain "
            "http is allowed for loopback addresses such as a local test)."
        )
    return url.strip()


def register_webhook(
    client: LuneClient, url: str, account_ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """Registers `url`; returns Lune's WebhookFullSecret (with the full `secret`).

    `account_ids` restricts the events to those accounts; without it Lune sends events of
    every account of the organisation.
    """
    body: dict[str, Any] = {"url": check_endpoint_url(url)}
    if account_ids:
        body["account_ids"] = list(account_ids)
    answer = client.post("/v1/webhooks", body, kind="webhooks")
    if not isinstance(answer, dict) or not isinstance(answer.get("secret"), str):
        raise LuneAPIError(
            "Lune API answered POST /v1/webhooks without the webhook's secret.",
            endpoint="/v1/webhooks",
        )
    return answer
