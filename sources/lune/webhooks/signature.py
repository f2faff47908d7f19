"""Lune's webhook signature: the `Lune-HMAC` header and how a receiver checks it.

Lune documents (docs.lune.co, "Webhooks"): every delivery carries
`Lune-HMAC: timestamp=TS,organisation=ORG_ID,v1=SIGNATURE,...` where SIGNATURE is
HMAC-SHA256(secret, TS + "." + raw body) and TS is the Unix time at which Lune signed the
delivery. Lune may send several `v1=` blocks (while more than one secret is active); one
match is enough. Its example shows the signature base64-encoded; the text never names the
encoding, so a hex digest is accepted too (both decode to the same 32 bytes).

TS matters twice: a receiver refuses a TS outside a tolerance (a captured delivery cannot be
replayed later), and it is the best "when" a delivery has — no event carries its own time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

HEADER = "Lune-HMAC"
# Lune: "Verify that the TIMESTAMP is no more than two minutes in the past".
DEFAULT_TOLERANCE_SECONDS = 120
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """The delivery is not proven to come from Lune; `str()` says why in one sentence that
    never contains the secret or the body."""


@dataclass(frozen=True)
class SignatureHeader:
    """A parsed `Lune-HMAC` header: the signed timestamp as sent, and every `v1` value."""

    timestamp: str
    organisation: str | None
    signatures: tuple[str, ...]

    @property
    def signed_at(self) -> int:
        return int(self.timestamp)


def parse_header(value: str | None) -> SignatureHeader:
    """Splits `timestamp=..,organisation=..,v1=..,v1=..`; unknown keys are ignored."""
    if not value or not value.strip():
        raise SignatureError(f"The request has no {HEADER} header.")
    timestamp: str | None = None
    organisation: str | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, text = part.strip().partition("=")  # base64 values may end in "="
        if not sep:
            continue
        key, text = key.strip().lower(), text.strip()
        if key == "timestamp":
            timestamp = text
        elif key in ("organisation", "account"):  # "account" in Lune's older docs
            organisation = text or None
        elif key == "v1" and text:
            signatures.append(text)
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError(f"The {HEADER} header has no valid timestamp.")
    if not signatures:
        raise SignatureError(f"The {HEADER} header has no v1 signature.")
    return SignatureHeader(timestamp, organisation, tuple(signatures))


def expected_digest(secret: str, timestamp: str, body: bytes) -> bytes:
    """HMAC-SHA256(secret, TS + "." + body), the raw 32 bytes."""
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def sign(secret: str, timestamp: int, body: bytes, organisation: str | None = None) -> str:
    """A `Lune-HMAC` header value as Lune sends it (base64 signature): for tests and tools."""
    digest = base64.b64encode(expected_digest(secret, str(timestamp), body)).decode("ascii")
    org = f",organisation={organisation}" if organisation else ""
    return f"timestamp={timestamp}{org},v1={digest}"


def _decodings(signature: str) -> list[bytes]:
    """The byte strings a `v1` value may stand for: base64 (standard or URL-safe), or hex."""
    found: list[bytes] = []
    if _HEX_DIGEST.fullmatch(signature):
        found.append(bytes.fromhex(signature))
    padded = signature + "=" * (-len(signature) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(raw) == hashlib.sha256().digest_size:
            found.append(raw)
    return found


def verify(
    secret: str,
    header_value: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> SignatureHeader:
    """Checks a delivery the way Lune prescribes; returns the parsed header when it holds.

    Raises SignatureError when the header is missing or malformed, when no `v1` value matches
    the HMAC of this body under `secret` (compared in constant time), or when the signed
    timestamp is more than `tolerance_seconds` away from `now` (a replay, or a clock far off).
    """
    if not secret:
        raise SignatureError("No webhook secret is configured.")
    header = parse_header(header_value)
    expected = expected_digest(secret, header.timestamp, body)
    matched = False
    for signature in header.signatures:
        for candidate in _decodings(signature):
            # no early exit: every candidate is compared, each in constant time
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError(f"The {HEADER} signature does not match the body.")
    age = now - header.signed_at
    if age > tolerance_seconds:
        raise SignatureError(
            f"The {HEADER} timestamp is {age:.0f} s old, over the {tolerance_seconds:g} s "
            "tolerance (a replay, or a clock that is off)."
        )
    if -age > tolerance_seconds:
        raise SignatureError(
            f"The {HEADER} timestamp is {-age:.0f} s in the future, over the "
            f"{tolerance_seconds:g} s tolerance (a clock that is off)."
        )
    return header
