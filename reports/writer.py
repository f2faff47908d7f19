"""Writes the reports: which accounts and year, one file per account, HTML or PDF.

The order of work keeps a report of every account cheap: each mart is read once for all
the accounts (marts.py), every chart of every account is rendered in one batch (charts.py),
then each page is filled in and written. Nothing is written when a request cannot be met
(an unknown account, a PDF without Chromium): the user gets one sentence instead.
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import charts, figures, model, page, pdf, quality
from .errors import ReportError
from .marts import MartReader
from .periods import Period, check_year, latest_complete_year, period_of
from .warehouse import Warehouse, as_utc, last_successful_load

DEFAULT_FOLDER = "lune_reports"
FORMATS = ("html", "pdf")
CHART_LABELS = {
    "retirements": "Retired tonnes per month, stacked by removal and reduction",
    "mix": "Retired tonnes by project type, registry and host country",
    "spend": "Purchase spend per month, one panel per currency",
    "open": "Outstanding tonnes of open orders by age",
}


@dataclass
class ReportRequest:
    """What to report: accounts (None: all), year (None: the latest complete one), where
    (a file for one account, else a folder) and how (html or pdf)."""

    account_ids: Sequence[str] | None = None
    year: int | None = None
    out: Path | None = None
    format: str | None = None
    dataset: str = "lune"
    # the reporting year's first month when no mart row tells (the manifest's setting)
    fiscal_year_start_month: int = 1


def write_reports(
    warehouse: Warehouse,
    request: ReportRequest,
    *,
    run_record: Path | None = None,
    now: datetime | None = None,
) -> list[Path]:
    """Writes one report per account and returns the files written."""
    now = now or datetime.now(UTC)
    fmt = output_format(request)
    chromium = pdf.require_chromium() if fmt == "pdf" else None
    if request.year is not None:
        check_year(request.year)
    reader = MartReader(warehouse, request.dataset)
    reader.check()
    accounts = select_accounts(reader.accounts(), request.account_ids)
    summaries = reader.summaries([a["account_id"] for a in accounts if a["order_count"]])
    start_month = fiscal_start_month(summaries) or request.fiscal_year_start_month
    year = request.year or latest_complete_year(now.date(), start_month)
    targets = output_paths(request.out, accounts, year, fmt)
    drawing = any(r["reporting_year"] == year for rows in summaries.values() for r in rows)
    # vl-convert starts its engine while the year's marts are read (when there is a chart)
    warm = charts.warm_up() if drawing else None
    data_as_of = last_successful_load(warehouse, request.dataset) or run_record_time(run_record)
    reports = gather(reader, accounts, summaries, period_of(year, start_month), now, data_as_of)
    if warm is not None:
        warm.result()
    draw(reports)
    written = []
    for report in reports:
        target = targets[report.account["account_id"]]
        html = page.render(report)
        if chromium is None:
            _write_text(target, html)
        else:
            with tempfile.TemporaryDirectory(prefix="lune-report-") as folder:
                source = Path(folder) / "report.html"
                source.write_text(html, encoding="utf-8")
                pdf.print_pdf(source, target, chromium)
        written.append(target)
    return written


def output_format(request: ReportRequest) -> str:
    """html or pdf: as asked, else from the --out file's suffix, else html."""
    suffix = request.out.suffix.lower().lstrip(".") if request.out else ""
    suffix = "html" if suffix == "htm" else suffix
    if request.format is None:
        return suffix if suffix in FORMATS else "html"
    if request.format not in FORMATS:
        raise ReportError(f"--format must be html or pdf, not {request.format!r}.")
    if suffix in FORMATS and suffix != request.format:
        raise ReportError(
            f"--out {request.out} is a .{suffix} file but --format is {request.format}."
        )
    return request.format


def select_accounts(found: list[dict[str, Any]], wanted: Sequence[str] | None) -> list[dict]:
    """The accounts to report on, in the order asked (all of them, by name, by default)."""
    if not wanted:
        if not found:
            raise ReportError("The warehouse holds no Lune account: load it first.")
        return found
    by_id = {a["account_id"]: a for a in found}
    unknown = [a for a in wanted if a not in by_id]
    if unknown:
        known = ", ".join(f"{a['account_id']} ({a['account_name']})" for a in found[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise ReportError(
            f"Account {unknown[0]!r} is not in the warehouse (its accounts: "
            f"{known or 'none'}{more})."
        )
    return [by_id[a] for a in dict.fromkeys(wanted)]


def output_paths(
    out: Path | None, accounts: list[dict[str, Any]], year: int, fmt: str
) -> dict[str, Path]:
    """The file of each account: `out` itself when it names a file (one account), else
    `<out>/lune-report-<year>-<account name>-<account id>.<fmt>`."""
    out = Path(out) if out is not None else Path(DEFAULT_FOLDER)
    if out.suffix.lower() in (".html", ".htm", ".pdf"):
        if len(accounts) != 1:
            raise ReportError(
                f"--out {out} names one file, but the report covers {len(accounts)} "
                "accounts: give a folder, or one --account."
            )
        return {accounts[0]["account_id"]: out.resolve()}
    return {
        a["account_id"]: (
            out / f"lune-report-{year}-{_slug(a['account_name'])}-{a['account_id']}.{fmt}"
        ).resolve()
        for a in accounts
    }


def run_record_time(path: Path | None) -> datetime | None:
    """When the run recorded on this machine last succeeded (the runner's last_run file):
    the data's date when the warehouse keeps no load record of its own."""
    if path is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("outcome") != "succeeded" or not record.get("finished_at"):
        return None
    return as_utc(record["finished_at"])


def fiscal_start_month(summaries: dict[str, list[dict[str, Any]]]) -> int | None:
    """The first month of the reporting year the marts were built with (None: no row)."""
    for rows in summaries.values():
        for row in rows:
            return row["period_start"].month
    return None


def gather(
    reader: MartReader,
    accounts: list[dict[str, Any]],
    summaries: dict[str, list[dict[str, Any]]],
    period: Period,
    now: datetime,
    data_as_of: datetime | None,
) -> list[model.AccountReport]:
    """Reads the year's marts once for all the accounts and builds each account's report."""
    year = period.year
    of_year = {
        account_id: row
        for account_id, rows in summaries.items()
        for row in rows
        if row["reporting_year"] == year
    }
    active = list(of_year)
    lines = reader.retired_lines(year, active) if active else {}
    spends = reader.purchase_spend(year, active) if active else {}
    open_orders = reader.open_commitments(active) if active else {}
    inventory = reader.with_inventory(year, active) if active else []
    vcmis = reader.vcmi(year, inventory) if inventory else {}
    registers = reader.certificates(year, active) if active else {}
    issues = reader.quality_issues(year, active) if active else {}
    reports = []
    for account in accounts:
        account_id = account["account_id"]
        summary = of_year.get(account_id)
        account_period = period
        if summary is not None:  # the marts' own days for the year
            account_period = Period(year, summary["period_start"], summary["period_end"])
        report = model.AccountReport(
            account=account,
            period=account_period,
            is_period_complete=account_period.is_complete(now.date()),
            generated_at=now,
            data_as_of=data_as_of,
            warehouse=reader.warehouse.location,
            reporting_schema=reader.schema,
            summary=summary,
        )
        if summary is not None:
            rows = registers.get(account_id, [])
            retired_orders = {r["order_id"] for r in rows}
            report.table = figures.table(summary)
            report.mix = lines.get(account_id, [])
            report.months = model.month_rows(account_period, report.mix)
            report.months_total = charts.total(m["retired_tonnes"] for m in report.months)
            report.spend = spends.get(account_id, [])
            opened = open_orders.get(account_id, [])
            report.open_orders = [o for o in opened if not o["outstanding_tonnes_unknown"]]
            report.open_unpriced = [o for o in opened if o["outstanding_tonnes_unknown"]]
            report.vcmi = vcmis.get(account_id)
            report.register = model.register(rows)
            report.notes = quality.notes(issues.get(account_id, []), year, retired_orders)
        reports.append(report)
    return reports


def draw(reports: list[model.AccountReport]) -> None:
    """Builds every account's charts and renders them all in one batch."""
    specs = {}
    for index, report in enumerate(reports):
        if report.summary is None:
            continue
        built = {
            "retirements": charts.retirements(report.period, report.months),
            "mix": charts.mix(report.mix),
            "spend": charts.spend(report.period, report.spend),
            "open": charts.open_commitments(report.open_orders),
        }
        specs.update({(index, k): c for k, c in built.items() if c is not None})
    labels = {key: CHART_LABELS[key[1]] for key in specs}
    for (index, key), svg in charts.render(specs, labels).items():
        reports[index].svgs[key] = svg


def _write_text(target: Path, text: str) -> None:
    """Writes the page whole or not at all (a reader never opens half a report)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)


def _slug(name: str | None) -> str:
    text = unicodedata.normalize("NFKD", name or "account").encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "account"
