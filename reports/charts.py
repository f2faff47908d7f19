"""The report's charts: Vega-Lite specs built with altair, rendered to inline SVG by
vl-convert. Nothing is drawn by hand and nothing is fetched: the data is inlined in each
spec, vl-convert may load no URL (`allowed_base_urls=[]`), and the SVG goes into the page.

Each builder returns None when there is nothing to draw: the page then says so in a
sentence instead of showing an empty chart. Chart values are floats (a drawing needs no
more); the exact decimals are in the tables beside the charts.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import altair as alt

from .formatting import month_label
from .periods import Period

Key = TypeVar("Key")
MECHANISMS = ("removal", "reduction", "mixed", "unclassified")
MECHANISM_COLOURS = ("#1a9850", "#4575b4", "#fdae61", "#9e9e9e")
SPEND_PARTS = ("net", "commission")
SPEND_COLOURS = ("#4575b4", "#91bfdb")
AGE_BUCKETS = (
    (30, "0–30 days"),
    (90, "31–90 days"),
    (180, "91–180 days"),
    (365, "181–365 days"),
    (None, "over a year"),
)
OVERDUE = ("within the expected time", "overdue")
OVERDUE_COLOURS = ("#91bfdb", "#d73027")
WIDTH = 620
VEGA_LITE = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # "5.20"
# System fonts only (the page loads no web font). vl-convert measures text with the first
# family it has, the browser draws with the first it has: DejaVu Sans (Debian's default) is
# wider than Helvetica or Arial, so a label measured with it never overflows elsewhere.
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def _data(values: list[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=values)


def _months(period: Period) -> list[str]:
    return [month_label(m) for m in period.months()]


def _float(value: Any) -> float:
    return float(value or 0)


def retirements(period: Period, rows: Iterable[Mapping[str, Any]]) -> alt.TopLevelMixin | None:
    """Tonnes retired per month of the period (rows of model.month_rows), stacked by
    mechanism (removal first)."""
    by_month = {r["month"]: r for r in rows}
    values = []
    present = set()
    for month in period.months():
        row = by_month.get(month, {})
        for order, mechanism in enumerate(MECHANISMS):
            tonnes = _float(row.get(f"{mechanism}_tonnes"))
            if tonnes:
                present.add(mechanism)
            values.append(
                {"month": month_label(month), "mechanism": mechanism, "t": tonnes, "o": order}
            )
    if not present:
        return None
    shown = [m for m in MECHANISMS if m in present or m in ("removal", "reduction")]
    colours = [_colour(m) for m in shown]
    values = [v for v in values if v["mechanism"] in shown]
    return (
        alt.Chart(_data(values))
        .mark_bar()
        .encode(
            x=alt.X("month:N", sort=_months(period), title=None, axis=alt.Axis(labelAngle=-40)),
            y=alt.Y("sum(t):Q", stack="zero", title="tCO2e retired"),
            color=alt.Color(
                "mechanism:N",
                scale=alt.Scale(domain=shown, range=colours),
                legend=alt.Legend(title=None, orient="top"),
            ),
            order=alt.Order("o:Q"),
        )
        .properties(width=WIDTH, height=220)
    )


def _colour(mechanism: str) -> str:
    return MECHANISM_COLOURS[MECHANISMS.index(mechanism)]


def mix(rows: Iterable[Mapping[str, Any]]) -> alt.TopLevelMixin | None:
    """The year's retired tonnes by project type, by registry and by host (EU or not)."""
    rows = list(rows)
    if not sum(_float(r["retired_tonnes"]) for r in rows):
        return None
    types: dict[tuple[str, str], float] = defaultdict(float)
    registries: dict[str, float] = defaultdict(float)
    hosts: dict[str, float] = defaultdict(float)
    for r in rows:
        tonnes = _float(r["retired_tonnes"])
        label = (r["project_type_key"] or "unknown type").capitalize()
        types[(label, r["mechanism"])] += tonnes
        registries[r["registry_label"] or "Unknown"] += tonnes
        eu = r["is_eu_host"]
        hosts["EU" if eu else "outside the EU" if eu is False else "host unknown"] += tonnes
    type_values = [{"c": c, "mechanism": m, "t": t} for (c, m), t in types.items() if t]
    shown = [m for m in MECHANISMS if any(v["mechanism"] == m for v in type_values)]
    by_type = (
        alt.Chart(_data(type_values), title="By project type")
        .mark_bar()
        .encode(
            y=alt.Y("c:N", sort="-x", title=None),
            x=alt.X("sum(t):Q", title="tCO2e retired"),
            color=alt.Color(
                "mechanism:N",
                scale=alt.Scale(domain=shown, range=[_colour(m) for m in shown]),
                legend=alt.Legend(title=None, orient="top"),
            ),
        )
        .properties(width=WIDTH - 220)
    )
    return alt.vconcat(
        by_type,
        _bars("By registry (quality standard)", registries, "#4575b4"),
        _bars("By host country", hosts, "#1a9850"),
        spacing=24,
    ).resolve_scale(color="independent")


def _bars(title: str, totals: Mapping[str, float], colour: str) -> alt.Chart:
    values = [{"c": c, "t": t} for c, t in totals.items() if t]
    return (
        alt.Chart(_data(values), title=title)
        .mark_bar(color=colour)
        .encode(y=alt.Y("c:N", sort="-x", title=None), x=alt.X("t:Q", title="tCO2e retired"))
        .properties(width=WIDTH - 220)
    )


def spend(period: Period, rows: Iterable[Mapping[str, Any]]) -> alt.TopLevelMixin | None:
    """Purchase spend per month, one panel per currency: amounts in different currencies
    are never stacked, added or drawn on one axis."""
    by_currency: dict[str, dict[date, Mapping[str, Any]]] = defaultdict(dict)
    for r in rows:
        by_currency[r["currency"] or "(no currency)"][r["purchase_month"]] = r
    panels = []
    for currency, months in sorted(by_currency.items()):
        values = []
        for month in period.months():
            row = months.get(month, {})
            for order, part in enumerate(SPEND_PARTS):
                column = "net_spend" if part == "net" else "commission"
                values.append(
                    {
                        "month": month_label(month),
                        "part": part,
                        "v": _float(row.get(column)),
                        "o": order,
                    }
                )
        if not any(v["v"] for v in values):
            continue
        panels.append(
            alt.Chart(_data(values), title=f"Spend in {currency}")
            .mark_bar()
            .encode(
                x=alt.X("month:N", sort=_months(period), title=None, axis=alt.Axis(labelAngle=-40)),
                y=alt.Y("sum(v):Q", stack="zero", title=f"{currency} (net + commission)"),
                color=alt.Color(
                    "part:N",
                    scale=alt.Scale(domain=list(SPEND_PARTS), range=list(SPEND_COLOURS)),
                    legend=alt.Legend(title=None, orient="top"),
                ),
                order=alt.Order("o:Q"),
            )
            .properties(width=WIDTH, height=160)
        )
    if not panels:
        return None
    return alt.vconcat(*panels, spacing=28).resolve_scale(y="independent")


def age_bucket(age_days: int | None) -> str:
    """The age bucket of an open order (0–30 days, ..., over a year)."""
    for limit, label in AGE_BUCKETS:
        if limit is None or (age_days or 0) <= limit:
            return label
    return AGE_BUCKETS[-1][1]


def open_commitments(rows: Iterable[Mapping[str, Any]]) -> alt.TopLevelMixin | None:
    """Outstanding tonnes of open orders by age, overdue ones apart."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        if r["outstanding_tonnes_unknown"]:
            continue
        status = OVERDUE[1] if r["is_overdue"] else OVERDUE[0]
        totals[(age_bucket(r["age_days"]), status)] += _float(r["outstanding_tonnes"])
    if not any(totals.values()):
        return None
    values = [{"age": a, "status": s, "t": t} for (a, s), t in totals.items()]
    return (
        alt.Chart(_data(values))
        .mark_bar()
        .encode(
            x=alt.X(
                "age:N",
                sort=[label for _, label in AGE_BUCKETS],
                title="age of the order",
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y("sum(t):Q", stack="zero", title="tCO2e outstanding"),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=list(OVERDUE), range=list(OVERDUE_COLOURS)),
                legend=alt.Legend(title=None, orient="top"),
            ),
        )
        .properties(width=WIDTH - 120, height=200)
    )


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart as Vega-Lite JSON, with the page's font (no web font to fetch)."""
    spec = (
        chart.configure(font=FONT, padding={"left": 12, "right": 12, "top": 4, "bottom": 4})
        .configure_view(stroke=None)
        .configure_axis(labelLimit=260)
        .to_dict(validate=False)
    )
    spec.pop("$schema", None)
    return spec


def render(charts: Mapping[Key, alt.TopLevelMixin], labels: Mapping[Key, str]) -> dict[Key, str]:
    """Each chart as an SVG string (inline in the page), rendered by vl-convert in
    parallel threads (it leaves Python's lock while it draws)."""
    import vl_convert

    def draw(key: Key) -> str:
        svg = vl_convert.vegalite_to_svg(
            _spec(charts[key]), vl_version=VEGA_LITE, allowed_base_urls=[]
        )
        return _labelled(svg, labels.get(key, str(key)))

    if not charts:
        return {}
    workers = max(1, min(4, os.cpu_count() or 1, len(charts)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(charts, pool.map(draw, charts), strict=True))


def warm_up() -> Future[Any]:
    """Starts vl-convert's JavaScript engine in a thread (its first drawing takes most of a
    second): the report reads the warehouse meanwhile, and `render` finds it ready."""
    import threading

    done: Future[Any] = Future()

    def start() -> None:
        try:
            import vl_convert

            vl_convert.vegalite_to_svg(
                _spec(alt.Chart(_data([{"x": 1}])).mark_point()),
                vl_version=VEGA_LITE,
                allowed_base_urls=[],
            )
            done.set_result(None)
        except BaseException as e:  # raised again by .result(), in the caller's thread
            done.set_exception(e)

    threading.Thread(target=start, name="vl-convert-warm-up", daemon=True).start()
    return done


def _labelled(svg: str, label: str) -> str:
    """The SVG as an image with an accessible name (a screen reader says what it shows)."""
    from html import escape

    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)


def total(values: Iterable[Any]) -> Decimal:
    """An exact sum of mart decimals (a caption's total, never a float)."""
    return sum((Decimal(str(v)) for v in values if v is not None), Decimal(0))
