"""How the page spells numbers, money and dates: one place, so the page and the tests that
read it back agree.

Tonnes are shown to the kilogram (3 decimals), shares as the marts round them (2 decimals,
`decimal(9,2)`), money to the cent with its currency beside it. Rounding is half-up, as a
reader rounds by hand, on the exact decimals the marts return (never through a float).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .warehouse import as_utc

DASH = "–"
TONNES = Decimal("0.001")
HUNDREDTHS = Decimal("0.01")


def decimal(value: Any) -> Decimal | None:
    """A mart value as an exact Decimal (floats go through their shortest repr)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def tonnes(value: Any) -> str:
    """1234.5678 -> '1,234.568' (tCO2e to the kilogram); None -> a dash."""
    number = decimal(value)
    if number is None:
        return DASH
    return f"{number.quantize(TONNES, rounding=ROUND_HALF_UP):,}"


def percent(value: Any) -> str:
    """41.666 -> '41.67 %'; None -> a dash."""
    number = decimal(value)
    if number is None:
        return DASH
    return f"{number.quantize(HUNDREDTHS, rounding=ROUND_HALF_UP):,} %"


def money(value: Any, currency: str | None) -> str:
    """1234.5 EUR -> '1,234.50 EUR': an amount is never shown without its currency."""
    number = decimal(value)
    if number is None:
        return DASH
    return f"{number.quantize(HUNDREDTHS, rounding=ROUND_HALF_UP):,} {currency or '(no currency)'}"


def raw(value: Any) -> str:
    """The exact value for a data attribute (the tests compare it with the mart's)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def day(value: date | datetime | None) -> str:
    """A date, or a timestamp's UTC date, as 2025-03-31."""
    if value is None:
        return DASH
    if isinstance(value, datetime):
        return as_utc(value).date().isoformat()
    return value.isoformat()


def moment(value: datetime | None) -> str:
    """A timestamp in UTC to the minute: 2025-03-31 14:05 UTC."""
    if value is None:
        return DASH
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def month_label(value: date) -> str:
    """2025-03-01 -> 'Mar 2025'."""
    return value.strftime("%b %Y")


FILTERS = {
    "tonnes": tonnes,
    "percent": percent,
    "money": money,
    "raw": raw,
    "day": day,
    "moment": moment,
    "month_label": month_label,
}
