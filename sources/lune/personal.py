"""Personal data in Lune orders: kept, replaced by a keyed hash, or dropped.

Lune's Order schema documents one field about a person: `email`, "End-user email", set on
orders placed through offset links (tests/data/lune-openapi/openapi.yml, `OrderBase`). The
policy is applied to each record as it arrives, before anything else sees it, so what the
warehouse, the quarantine and the sync state's change digests hold is already the chosen
form:
- `keep`: the value as Lune sends it;
- `hash`: HMAC-SHA256 of the trimmed, lower-cased value under a secret key, as 64 hex digits.
  The same email gives the same value on every run and in every account (joins and counts of
  distinct buyers still work); without the key, hashing a list of likely emails finds nothing;
- `drop`: null, never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import LuneConfigError

# Order fields that Lune documents as personal data
PERSONAL_FIELDS = ("email",)
MODES = ("keep", "hash", "drop")
# a short key can be guessed, and with it every hashed email recovered by a dictionary
MIN_KEY_LENGTH = 16
KEY_SETTING = "SOURCES__LUNE__PERSONAL_DATA_KEY"


@dataclass(frozen=True)
class PersonalData:
    """How personal fields are stored. Build it with `from_config`; `key` never prints."""

    mode: str = "keep"
    key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, mode: Any, key: Any) -> PersonalData:
        """Validates the `personal_data` and `personal_data_key` source settings; a
        LuneConfigError (one sentence, never the key) when they do not fit together."""
        if mode not in MODES:
            raise LuneConfigError(f"personal_data must be one of {', '.join(MODES)}, not {mode!r}.")
        if mode != "hash":
            return cls(mode)
        if not key:
            raise LuneConfigError(
                "personal_data = 'hash' needs a secret key: set "
                f"{KEY_SETTING} or [sources.lune] personal_data_key in .dlt/secrets.toml."
            )
        if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            raise LuneConfigError(
                f"personal_data_key must be a string of at least {MIN_KEY_LENGTH} characters "
                "(a short key can be guessed, and with it every hashed email)."
            )
        return cls(mode, key.encode())

    @property
    def form(self) -> str:
        """What stored rows look like under this policy, for the sync state: `keep`, `drop`,
        or `hash:<key id>` (a one-way id of the key, so a new key counts as a new form)."""
        if self.mode != "hash":
            return self.mode
        assert self.key is not None
        return "hash:" + hmac.new(self.key, b"lune personal data key id", "sha256").hexdigest()[:12]

    def hash_value(self, value: str) -> str:
        assert self.key is not None
        normalized = value.strip().lower().encode()
        return hmac.new(self.key, normalized, hashlib.sha256).hexdigest()

    def apply(self, record: Any) -> Any:
        """The record with its personal fields in this policy's form (changed in place).

        Runs before the contract check's verdict is used, so it takes any value: a value that
        is not a string (a broken record, quarantined later) is hashed as its text or dropped,
        never kept in the clear by accident.
        """
        if self.mode == "keep" or not isinstance(record, dict):
            return record
        for name in PERSONAL_FIELDS:
            value = record.get(name)
            if value is None:
                continue
            if self.mode == "drop":
                record[name] = None
            else:
                record[name] = self.hash_value(value if isinstance(value, str) else repr(value))
        return record

    def apply_stored(self, row: dict[str, Any]) -> dict[str, Any]:
        """A stored row, before it is written again, in this policy's form (changed in place).

        The row may predate the policy: `drop` clears it; `hash` hashes a value that is not a
        digest yet (an email always has an `@`, a digest is 64 hex digits and never has one).
        """
        if self.mode == "keep":
            return row
        for name in PERSONAL_FIELDS:
            value = row.get(name)
            if value is None:
                continue
            if self.mode == "drop":
                row[name] = None
            elif not (isinstance(value, str) and _DIGEST.fullmatch(value)):
                row[name] = self.hash_value(value if isinstance(value, str) else repr(value))
        return row


_DIGEST = re.compile("[0-9a-f]{64}")


def describe_form(form: str, current: str) -> str:
    """A stored form in words, for the warning after a change of policy."""
    if form == "keep":
        return "the email in clear"
    if form == "drop":
        return "no email"
    if current.startswith("hash:"):
        return "the email hashed with another key"
    return "the email hashed"
