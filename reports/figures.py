"""The ESRS E1-7 table: which figures of esrs_e1_7_summary the page shows, in what order,
with the prior year beside each (ESRS 1 §86).

Kept apart from the template so the list of disclosed figures reads as a list, and so a
figure is added in one place. Every value cell carries `data-figure` (the mart's column)
and `data-value` (the mart's exact value), so a test can compare what the page shows with
what the mart holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import formatting


@dataclass(frozen=True)
class Figure:
    """One line of the table: tonnes and/or a share, or a text, from the summary row."""

    label: str
    datapoint: str
    tonnes: str | None = None
    share: str | None = None
    text: str | None = None
    # what an empty value means, when it means more than "nothing to show"
    missing: str | None = None
    indent: bool = False


FIGURES: tuple[Figure, ...] = (
    Figure("Credits retired (cancelled) in the period", "§59(a)", tonnes="retired_tonnes"),
    Figure("Removals", "AR 62", "removal_tonnes", "removal_pct", indent=True),
    Figure("Reductions (avoidance)", "AR 62", "reduction_tonnes", "reduction_pct", indent=True),
    Figure(
        "Mixed: removal or reduction by methodology",
        "AR 62",
        "mixed_tonnes",
        "mixed_pct",
        indent=True,
    ),
    Figure(
        "Unclassified project types",
        "AR 62",
        "unclassified_tonnes",
        "unclassified_pct",
        indent=True,
    ),
    Figure(
        "Removals into biogenic sinks (share of removals)",
        "AR 62",
        "biogenic_removal_tonnes",
        "biogenic_removal_pct",
    ),
    Figure(
        "Removals into technological sinks (share of removals)",
        "AR 62",
        "technological_removal_tonnes",
        "technological_removal_pct",
    ),
    Figure(
        "Hybrid removals: biochar, BECCS (share of removals)",
        "AR 62",
        "hybrid_removal_tonnes",
        "hybrid_removal_pct",
    ),
    Figure(
        "Removals of unknown sink (share of removals)",
        "",
        "unknown_sink_removal_tonnes",
        "unknown_sink_removal_pct",
    ),
    Figure("From projects hosted in the EU", "AR 62", "eu_host_tonnes", "eu_host_pct"),
    Figure("From projects hosted outside the EU", "", "non_eu_host_tonnes"),
    Figure("Host country unknown", "", "unknown_host_tonnes", "unknown_host_pct"),
    Figure("Share per quality standard (registry)", "AR 62", text="registry_shares"),
    Figure(
        "With corresponding adjustments",
        "AR 62",
        share="corresponding_adjustment_pct",
        missing="not in Lune's data",
    ),
    Figure(
        "Planned future retirements under existing contracts",
        "§59(b), AR 63",
        tonnes="planned_future_retirement_tonnes",
        missing="cannot be known",
    ),
    Figure(
        "Dated by the order's creation date, not a witnessed retirement",
        "",
        tonnes="fallback_dated_tonnes",
    ),
)


@dataclass(frozen=True)
class Cell:
    """One value of the table: the mart column it shows, its exact value and its text."""

    column: str
    value: Any
    text: str


@dataclass(frozen=True)
class TableRow:
    figure: Figure
    current: list[Cell]
    prior: list[Cell]


def table(summary: dict[str, Any]) -> list[TableRow]:
    """The table's rows for one esrs_e1_7_summary row (this year, and its prior_year_*)."""
    return [
        TableRow(figure, _cells(figure, summary, ""), _cells(figure, summary, "prior_year_"))
        for figure in FIGURES
    ]


def _cells(figure: Figure, summary: dict[str, Any], prefix: str) -> list[Cell]:
    if figure.text:
        column = prefix + figure.text
        value = summary.get(column)
        return [Cell(column, value, value or _missing(figure, summary, prefix))]
    cells = []
    for column, show in ((figure.tonnes, formatting.tonnes), (figure.share, formatting.percent)):
        if column is None:
            cells.append(Cell("", None, ""))
            continue
        value = summary.get(prefix + column)
        text = show(value) if value is not None else _missing(figure, summary, prefix)
        cells.append(Cell(prefix + column, value, text))
    return cells


def _missing(figure: Figure, summary: dict[str, Any], prefix: str) -> str:
    if prefix and summary.get("prior_year_retired_tonnes") is None:
        return formatting.DASH  # no row for the prior year at all
    if figure.tonnes == "planned_future_retirement_tonnes":
        known = summary.get(prefix + "is_planned_future_retirement_known")
        return "cannot be known" if known is False else formatting.DASH
    return figure.missing or formatting.DASH
