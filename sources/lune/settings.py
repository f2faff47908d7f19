"""Constants of the Lune API and of this connector's defaults."""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.lune.co"
# Pins the response shapes this connector was written against (sent as `Lune-Version`).
API_VERSION = "2024-08-08"

# /v1/orders accepts 1..100; the largest page costs the fewest requests.
PAGE_SIZE = 100
# Lune answers 429 past 15 requests in any one-second window per API key and sends no
# Retry-After. The limiter (limiter.py) keeps a window that cannot run ahead of Lune's, so it
# uses the whole budget.
MAX_REQUESTS_PER_SECOND = 15.0
# Accounts whose orders are read at once. The limit is per key, so this does not raise the
# rate; it keeps the budget used when latency makes one account's page chain slower than it.
CONCURRENT_ACCOUNTS = 4
# Orders can become visible in the list a little after their created_at; re-read this far
# below the high-water mark so late arrivals are not skipped.
LOOKBACK_SECONDS = 300

TERMINAL_STATUSES = frozenset({"complete", "cancelled", "failed"})

# Every decimal-string field, by where it lives. Exact decimals: DECIMAL(38, 9).
DECIMAL_PRECISION = 38
DECIMAL_SCALE = 9
ORDER_DECIMAL_FIELDS = (
    "offset_cost",
    "commission",
    "total_cost",
    "quantity",
    "requested_quantity",
    "requested_value",
)
BUNDLE_LINE_DECIMAL_FIELDS = ("quantity", "unit_price", "gross_unit_price", "offset_cost")
PROJECT_LINE_DECIMAL_FIELDS = ("quantity", "unit_price", "offset_cost")
