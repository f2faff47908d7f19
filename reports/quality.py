"""The data-quality notes of one account and year, from data_quality_issues, said plainly.

A condition concerns the year when the mart dates it in the year; when it is about an order
placed or retired in the year; or when it is tied to no year and no order the warehouse
holds (a project the catalogue lacks, a record set aside by the loader): those can touch
any year's figures. The mart can list one row per order (tens of thousands in a large
account), so the page gives each kind once, with how many, the tonnes and the money it
affects (money per currency, never added across them), what to do, and a few examples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import formatting

EXAMPLES_PER_KIND = 3
FALLBACK_ISSUE = "retirement_dates_estimated"
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
# what each kind of condition is, in words (sql/models/marts/_lune__marts.yml lists them)
TITLES = {
    "voided_order_with_retired_lines": "Retired credits on a cancelled or failed order",
    "order_quantity_differs_from_lines": "Order quantity differs from its project lines",
    "complete_order_with_unretired_lines": "Complete order with credits not retired",
    "complete_order_without_lines": "Complete order without project lines",
    "quarantined_record": "Record set aside for breaking the API contract",
    "vanished_open_order": "Open order no longer returned by Lune",
    "open_order_overdue": "Order open for longer than expected",
    "insufficient_inventory": "Lune lacks inventory for an open order",
    "not_retired_within_12_months": "Not retired within 12 months of the year's end",
    FALLBACK_ISSUE: "Retirement dated by the order's creation date",
    "unmapped_project_type": "Project type no source classifies",
    "project_not_in_catalogue": "Project missing from Lune's catalogue",
    "host_country_unknown": "Project without a host country",
    "complete_order_without_certificate": "Complete order without a certificate",
    "unknown_order_status": "Order status Lune does not document",
    "mixed_project_type": "Project type reported as mixed",
    "mechanism_conflict": "Bundle and seed disagree on the mechanism",
    "voided_orders_with_cost": "Cancelled or failed orders that kept a cost",
}


@dataclass
class IssueGroup:
    """Every condition of one kind for the account and year."""

    issue: str
    severity: str
    title: str
    count: int = 0
    tonnes: Decimal | None = None
    amounts: dict[str, Decimal] = field(default_factory=dict)
    action: str = ""
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def amount_texts(self) -> list[str]:
        return [formatting.money(v, c) for c, v in sorted(self.amounts.items())]


def concerns_year(row: dict[str, Any], year: int, retired_orders: set[str]) -> bool:
    """True when the condition bears on `year`'s figures (see the module docstring)."""
    if row.get("reporting_year") is not None:
        return row["reporting_year"] == year
    if row.get("order_id") is None or not row.get("is_known_order"):
        return True
    return row.get("order_reporting_year") == year or row["order_id"] in retired_orders


def notes(rows: Iterable[dict[str, Any]], year: int, retired_orders: set[str]) -> list[IssueGroup]:
    """The conditions of the year grouped by kind, errors first, then warnings and infos,
    the kinds affecting most tonnes first. The fallback dating is left out: the page states
    it first, from the year's summary (fallback_dated_tonnes)."""
    groups: dict[str, IssueGroup] = {}
    for row in rows:
        if row["issue"] == FALLBACK_ISSUE or not concerns_year(row, year, retired_orders):
            continue  # the fallback dating has its own note, first (from the summary)
        issue = row["issue"]
        group = groups.get(issue)
        if group is None:
            group = groups[issue] = IssueGroup(
                issue=issue,
                severity=row["severity"],
                title=TITLES.get(issue, issue.replace("_", " ").capitalize()),
                action=row.get("action") or "",
            )
        group.count += 1
        tonnes = formatting.decimal(row.get("affected_tonnes"))
        if tonnes is not None:
            group.tonnes = (group.tonnes or Decimal(0)) + tonnes
        amount = formatting.decimal(row.get("affected_amount"))
        if amount is not None:
            currency = row.get("currency") or "(no currency)"
            group.amounts[currency] = group.amounts.get(currency, Decimal(0)) + amount
        group.examples.append(row)
    for group in groups.values():
        group.examples = _examples(group.examples)
    return sorted(
        groups.values(),
        key=lambda g: (
            SEVERITY_ORDER.get(g.severity, 3),
            -(g.tonnes or 0),
            g.issue,
        ),
    )


def _examples(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The few rows to show: the largest first, then by order (a stable page)."""
    ranked = sorted(
        rows,
        key=lambda r: (
            -(formatting.decimal(r.get("affected_tonnes")) or 0),
            str(r.get("order_id")),
        ),
    )
    return ranked[:EXAMPLES_PER_KIND]


def counts_by_severity(groups: Iterable[IssueGroup]) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for group in groups:
        found[group.severity] += group.count
    return dict(found)
