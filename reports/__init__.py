"""The carbon-credit report: one self-contained HTML page (or PDF) per account and year.

The data flows API → sources → pipelines → warehouse → transforms (dbt marts) → here: the
report reads the reporting marts of the pipeline's own warehouse and nothing else (no raw
table), so the page shows exactly the figures the marts disclose.

    marts.py       the queries (each mart once for every account of the report)
    model.py       one account's report, arranged for the page
    figures.py     the ESRS E1-7 table: which figures, in what order, with the prior year
    charts.py      Vega-Lite charts (altair) rendered to inline SVG (vl-convert)
    quality.py     the data-quality notes of the account and year, said plainly
    page.py        the Jinja2 page (templates/report.html.j2, templates/report.css)
    pdf.py         the same page printed by headless Chromium
    writer.py      which accounts and year, one file per account
    warehouse.py   read-only access to DuckDB, or the pipeline's sql_client (PostgreSQL)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ReportError
from .warehouse import open_warehouse
from .writer import ReportRequest, write_reports

__all__ = ["ReportError", "ReportRequest", "write_for_pipeline", "write_reports"]


def write_for_pipeline(
    pipeline: Any, request: ReportRequest, *, run_record: Path | None = None
) -> list[Path]:
    """Writes the reports from the warehouse `pipeline` loads (its destination and dataset)."""
    request.dataset = pipeline.dataset_name
    warehouse = open_warehouse(pipeline)
    try:
        return write_reports(warehouse, request, run_record=run_record)
    finally:
        warehouse.close()
