"""Reporting years: which days a year covers, and which year a report is about by default.

The marts label a reporting (fiscal) year with the calendar year it starts in and give its
first and last day (`period_start`, `period_end`, the dbt var `fiscal_year_start_month`).
The report takes the period from the marts whenever they hold a row for the year; this
module computes the same period for a year the marts have no row for (an account without
orders, a year before the first order), so the header still says which days it covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

EARLIEST_YEAR = 1990
LATEST_YEAR = 2999


@dataclass(frozen=True)
class Period:
    """One reporting year: its label and its first and last day (UTC)."""

    year: int
    start: date
    end: date

    def is_complete(self, today: date) -> bool:
        """True once the year's last day has passed: its figures no longer change by date."""
        return self.end < today

    def months(self) -> list[date]:
        """The first day of each calendar month of the period, in order (12 of them)."""
        found = []
        month = self.start
        while month <= self.end:
            found.append(month)
            month = _next_month(month)
        return found


def period_of(year: int, start_month: int) -> Period:
    """The reporting year `year` when years start in `start_month` (1 = calendar years)."""
    start = date(year, start_month, 1)
    end = date(year + 1, start_month, 1) - timedelta(days=1)
    return Period(year=year, start=start, end=end)


def latest_complete_year(today: date, start_month: int) -> int:
    """The label of the last reporting year that ended before `today`."""
    current = today.year if today.month >= start_month else today.year - 1
    return current - 1


def check_year(year: int) -> None:
    """Rejects a year no warehouse can hold (a typo such as 225), in one sentence."""
    from .errors import ReportError

    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ReportError(
            f"--year must be a reporting year such as 2025 (from {EARLIEST_YEAR} to "
            f"{LATEST_YEAR}), not {year}."
        )


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
