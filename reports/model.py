"""What one account's report holds: the marts' rows for the account and year, arranged for
the page (the ESRS table, the series behind each chart, the register, the notes).

No figure is computed here that a mart does not give: rows are picked, ordered and, for
the month table, zero-filled; the only sums are totals shown beside a chart, which add up
tonnes (never money across currencies) so a reader can check them against the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import charts, figures, quality
from .periods import Period

Row = dict[str, Any]
# the register appendix lists at most this many retirements (the largest): a file to keep
# and mail stays readable and small; the page says how many more the mart holds
REGISTER_LIMIT = 1000
MONTH_COLUMNS = (
    "retired_tonnes",
    "removal_tonnes",
    "reduction_tonnes",
    "mixed_tonnes",
    "unclassified_tonnes",
    "fallback_dated_tonnes",
)


@dataclass
class Register:
    """The year's certificate register, or its largest entries when it is long."""

    rows: list[Row]
    count: int
    tonnes: Decimal
    shown_tonnes: Decimal

    @property
    def is_partial(self) -> bool:
        return len(self.rows) < self.count


@dataclass
class AccountReport:
    """Everything one page shows (the template reads only this)."""

    account: Row
    period: Period
    is_period_complete: bool
    generated_at: datetime
    data_as_of: datetime | None
    warehouse: str
    reporting_schema: str
    summary: Row | None = None
    table: list[figures.TableRow] = field(default_factory=list)
    months: list[Row] = field(default_factory=list)
    months_total: Decimal = Decimal(0)
    mix: list[Row] = field(default_factory=list)
    spend: list[Row] = field(default_factory=list)
    open_orders: list[Row] = field(default_factory=list)
    open_unpriced: list[Row] = field(default_factory=list)
    vcmi: Row | None = None
    register: Register | None = None
    notes: list[quality.IssueGroup] = field(default_factory=list)
    # chart key -> inline SVG; a key missing here has nothing to draw (the page says so)
    svgs: dict[str, str] = field(default_factory=dict)

    @property
    def has_orders(self) -> bool:
        return bool(self.account.get("order_count"))

    @property
    def has_activity(self) -> bool:
        """False when the account placed no order and retired nothing in the period."""
        return self.summary is not None

    @property
    def unpriced_asked(self) -> dict[str, Decimal]:
        """What the open value orders Lune has not priced yet ask for, per currency."""
        asked: dict[str, Decimal] = {}
        for order in self.open_unpriced:
            currency = order["currency"] or "(no currency)"
            value = Decimal(str(order["requested_value"] or 0))
            asked[currency] = asked.get(currency, Decimal(0)) + value
        return dict(sorted(asked.items()))

    @property
    def fallback_share(self) -> Decimal | None:
        """Fallback-dated tonnes as a percentage of the year's retired tonnes."""
        if not self.summary or not self.summary["retired_tonnes"]:
            return None
        share = 100 * Decimal(self.summary["fallback_dated_tonnes"] or 0)
        return share / Decimal(self.summary["retired_tonnes"])


def month_rows(period: Period, lines: list[Row]) -> list[Row]:
    """Every month of the period with its retired tonnes by mechanism and those dated by
    the fallback (0 where none), from the year's retired lines (marts.retired_lines)."""
    months = {
        month: {"month": month, **{c: Decimal(0) for c in MONTH_COLUMNS}}
        for month in period.months()
    }
    for line in lines:
        row = months.get(line["retirement_month"])
        if row is None:  # cannot happen: the line's reporting year is the period
            continue
        tonnes = Decimal(str(line["retired_tonnes"] or 0))
        row["retired_tonnes"] += tonnes
        row[f"{line['mechanism']}_tonnes"] += tonnes
        row["fallback_dated_tonnes"] += Decimal(str(line["fallback_dated_tonnes"] or 0))
    return list(months.values())


def register(rows: list[Row], limit: int = REGISTER_LIMIT) -> Register:
    """The register, cut to the `limit` largest retirements (shown oldest first)."""
    total = charts.total(r["retired_tonnes"] for r in rows)
    shown = rows
    if len(rows) > limit:
        largest = sorted(
            rows, key=lambda r: (-Decimal(str(r["retired_tonnes"] or 0)), r["order_id"])
        )
        keep = {r["order_id"] for r in largest[:limit]}
        shown = [r for r in rows if r["order_id"] in keep]
    return Register(
        rows=shown,
        count=len(rows),
        tonnes=total,
        shown_tonnes=charts.total(r["retired_tonnes"] for r in shown),
    )


def _tonnes(row: Row) -> Decimal:
    return Decimal(str(row["retired_tonnes"] or 0))
