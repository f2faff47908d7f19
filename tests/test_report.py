"""The carbon-credit report (`lune-pipeline report`, reports/).

The demo warehouse is built once for the module the way a user builds it (`lune-pipeline
demo`, the sandbox behind it) and every report is written by the CLI. Pages are opened in
real headless Chromium (Debian's `chromium`, driven by playwright without a downloaded
browser, a fresh profile in the test's folder): the page must load with no console error and
no request but its own file, every chart must have drawn, and the figures it shows must be
the marts' own values, read here from the warehouse. The hand-made fixture of
tests/test_reporting_views.py (plus the VCMI accounts of tests/test_reporting_rules.py) is
reported on DuckDB and on a real PostgreSQL, against figures worked out by hand.
"""

from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

import transforms
from lune_sandbox import SandboxWorld
from pipelines.demo import DEMO_SEED, DEMO_WORLD
from reports import ReportRequest, write_for_pipeline
from reports.pdf import find_chromium
from tests.support.cli import run_cli
from tests.support.raw_tables import create_raw_tables

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian package `chromium`; .ci/run installs it)",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
CHARTS = {"retirements", "mix", "spend", "open"}
D = Decimal


@dataclass
class Demo:
    folder: Path
    db: Path
    stdout: str

    def cli(self, args: list[str], **env: str | None):
        """`lune-pipeline <args>` against the demo warehouse, in the demo's folder."""
        return run_cli(
            [*args, "--pipeline-name", "lune_demo", "--pipelines-dir", str(self.folder / "p")],
            self.folder,
            env={"DESTINATION__DUCKDB__CREDENTIALS": str(self.db), **env},
        )

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            cursor = con.execute(sql, list(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    folder = tmp_path_factory.mktemp("report_demo")
    db = folder / "demo.duckdb"
    result = run_cli(["demo", "--path", str(db)], folder, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Demo(folder, db, result.stdout)


def latest_complete_year() -> int:
    """Calendar reporting years (the demo's manifest-free default): last year."""
    return datetime.now(UTC).year - 1


def tonnes_text(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.001'), rounding=ROUND_HALF_UP):,}"


def shown_number(text: str) -> Decimal:
    """'1,234.568' or '26.02 %' as shown in the page -> Decimal."""
    return Decimal(text.replace(",", "").replace("%", "").strip())


def the_year_of(demo: Demo, year: int) -> list[dict[str, Any]]:
    return demo.rows(
        "select * from lune_reporting.esrs_e1_7_summary where reporting_year = ? "
        "order by retired_tonnes desc, account_id",
        year,
    )


# -- the browser -------------------------------------------------------------------------


@dataclass
class Opened:
    """What Chromium saw when it opened a report."""

    requests: list[str]
    console_errors: list[str]
    figures: dict[str, dict[str, str]]  # data-figure -> {text, value}
    totals: dict[str, str]
    charts: dict[str, dict[str, float]]  # data-chart -> {marks, width, height}
    no_chart: list[str]
    empty: str | None
    text: str


def open_in_chromium(page_file: Path, screenshot: Path, profile: Path) -> Opened:
    """Opens `page_file` in headless Chromium (fresh profile), records every request and
    console error, reads the figures and charts, and writes a full-page screenshot."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri(), wait_until="load")
            page.wait_for_load_state("networkidle")
            figures = page.eval_on_selector_all(
                "[data-figure]",
                "els => Object.fromEntries(els.map(e => [e.dataset.figure, "
                "{text: e.textContent.trim(), value: e.dataset.value}]))",
            )
            totals = page.eval_on_selector_all(
                "[data-total]",
                "els => Object.fromEntries(els.map(e => [e.dataset.total, e.dataset.value]))",
            )
            charts = page.eval_on_selector_all(
                "figure.chart",
                "els => Object.fromEntries(els.map(e => { const s = e.querySelector('svg');"
                " const b = s ? s.getBoundingClientRect() : {width: 0, height: 0};"
                " return [e.dataset.chart, {marks: s ? s.querySelectorAll("
                "'.mark-rect path, .mark-rect rect').length : 0, width: b.width,"
                " height: b.height}]; }))",
            )
            no_chart = page.eval_on_selector_all(
                "[data-no-chart]", "els => els.map(e => e.dataset.noChart)"
            )
            empty = page.evaluate(
                "() => { const e = document.querySelector('[data-empty]');"
                " return e ? e.dataset.empty : null; }"
            )
            text = page.inner_text("body")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return Opened(requests, errors, figures, totals, charts, no_chart, empty, text)


def assert_loaded_offline(opened: Opened, page_file: Path) -> None:
    assert opened.requests == [page_file.as_uri()], opened.requests  # nothing else fetched
    assert opened.console_errors == []


# -- the demo warehouse ------------------------------------------------------------------


def test_demo_ends_by_writing_every_accounts_report(demo):
    world = SandboxWorld.generate(seed=DEMO_SEED, **DEMO_WORLD)
    year = latest_complete_year()
    listed = demo.stdout.split("Carbon-credit reports", 1)[1].split()
    paths = [Path(p) for p in listed if p.endswith(".html")]
    assert len(paths) == len(world.account_ids()) == 5
    assert {p.parent for p in paths} == {demo.folder / "lune_reports"}
    for account_id in world.account_ids():
        [path] = [p for p in paths if account_id in p.name]
        assert path.name.startswith(f"lune-report-{year}-") and path.is_file()
        assert account_id in path.read_text()


@needs_chromium
def test_report_in_chromium_shows_the_marts_figures(demo, tmp_path):
    year = latest_complete_year()
    best = the_year_of(demo, year)[0]  # the account that retired most in the year
    assert best["retired_tonnes"] > 0 and best["prior_year_retired_tonnes"] is not None
    page_file = tmp_path / "report.html"
    done = demo.cli(
        ["report", "--account", best["account_id"], "--year", str(year), "--out", str(page_file)]
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(page_file)]

    opened = open_in_chromium(page_file, tmp_path / "report.png", tmp_path / "profile")
    assert_loaded_offline(opened, page_file)
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # every chart drew bars, and the account has data for each
    opened_charts = opened.charts
    assert set(opened_charts) == CHARTS, (opened_charts, opened.no_chart)
    for name, chart in opened_charts.items():
        assert chart["marks"] > 0 and chart["width"] > 100 and chart["height"] > 50, name

    # the figures shown are the mart's: exact value in data-value, and the text rounds it
    for column, places in (
        ("retired_tonnes", "0.001"),
        ("removal_pct", "0.01"),
        ("prior_year_retired_tonnes", "0.001"),
        ("prior_year_removal_pct", "0.01"),
        ("eu_host_pct", "0.01"),
        ("fallback_dated_tonnes", "0.001"),
    ):
        expected = best[column]
        shown = opened.figures[column]
        assert shown["value"] == str(expected), column
        assert shown_number(shown["text"]) == expected.quantize(
            Decimal(places), rounding=ROUND_HALF_UP
        ), column
    assert opened.figures["registry_shares"]["text"] == best["registry_shares"]
    # the month chart's series adds up to the year's retired tonnes
    assert Decimal(opened.totals["retirements"]) == best["retired_tonnes"]

    # the header: account, the marts' period, the load the data is from, the warehouse
    [load] = demo.rows("select max(inserted_at) as at from lune._dlt_loads where status = 0")
    assert best["account_name"] in opened.text
    assert f"{best['period_start']} to {best['period_end']}" in opened.text
    assert load["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") in opened.text
    assert str(demo.db) in opened.text
    # all of the demo's retirements were first seen already retired: said plainly, first
    assert best["fallback_dated_tonnes"] == best["retired_tonnes"]
    notes = opened.text.split("Data quality: what to check before disclosing", 1)[1]
    assert notes.lstrip().startswith(f"{tonnes_text(best['fallback_dated_tonnes'])} tCO2e of the")


@needs_chromium
def test_report_of_an_account_without_orders_says_so_in_chromium(demo, tmp_path):
    world = SandboxWorld.generate(seed=DEMO_SEED, **DEMO_WORLD)
    last_client = world.account_ids()[-1]
    [account] = demo.rows("select * from lune_reporting.accounts where order_count = 0")
    assert account["account_id"] == last_client  # the sandbox's last client account is empty
    page_file = tmp_path / "empty.html"
    done = demo.cli(["report", "--account", last_client, "--out", str(page_file)])
    assert done.returncode == 0, done.stderr

    opened = open_in_chromium(page_file, tmp_path / "empty.png", tmp_path / "profile")
    assert_loaded_offline(opened, page_file)
    assert (tmp_path / "empty.png").stat().st_size > 1000
    assert opened.empty == "no-orders"
    assert opened.charts == {} and opened.figures == {}  # no empty chart, no zero table
    assert f"{account['account_name']} has placed no carbon-credit orders" in opened.text
    assert f"{latest_complete_year()}-01-01 to {latest_complete_year()}-12-31" in opened.text


@needs_chromium
def test_pdf_first_page_names_the_account_and_its_retired_tonnes(demo, tmp_path):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (Debian package poppler-utils)")
    year = latest_complete_year()
    row = the_year_of(demo, year)[-1]
    pdf = tmp_path / "report.pdf"
    args = ["report", "--account", row["account_id"], "--year", str(year), "--out", str(pdf)]
    done = demo.cli([*args, "--format", "pdf"])
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes()[:5] == b"%PDF-"
    first_page = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert row["account_name"] in first_page
    assert tonnes_text(row["retired_tonnes"]) in first_page
    assert not list(tmp_path.glob("*.partial"))


def test_pdf_without_chromium_says_so_in_one_sentence(demo, tmp_path):
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    pdf = tmp_path / "report.pdf"
    done = demo.cli(
        ["report", "--format", "pdf", "--out", str(tmp_path)],
        PATH=str(empty_path),
        LUNE_CHROMIUM=None,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Chromium" in done.stderr, done.stderr
    assert done.stderr.startswith("lune-pipeline: PDF reports need headless Chromium")
    assert not pdf.exists() and list(tmp_path.glob("*.pdf")) == []


def test_default_report_covers_every_account_for_the_latest_complete_year(demo, tmp_path):
    done = run_cli(
        ["report", "--pipeline-name", "lune_demo", "--pipelines-dir", str(tmp_path / "p")],
        tmp_path,
        env={"DESTINATION__DUCKDB__CREDENTIALS": str(demo.db)},
    )
    assert done.returncode == 0, done.stderr
    written = sorted(Path(p) for p in done.stdout.split())
    assert written == sorted((tmp_path / "lune_reports").iterdir())  # the working folder's
    accounts = demo.rows("select account_id from lune_reporting.accounts")
    assert len(written) == len(accounts) == 5
    assert all(p.name.startswith(f"lune-report-{latest_complete_year()}-") for p in written)


def test_cli_errors_are_one_sentence_and_write_nothing(demo, tmp_path):
    out = tmp_path / "out"
    unknown = demo.cli(["report", "--account", "nope", "--out", str(out)])
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("lune-pipeline: Account 'nope' is not in the warehouse")
    assert unknown.stderr.count("\n") == 1

    bad_year = demo.cli(["report", "--year", "25", "--out", str(out)])
    assert bad_year.returncode == 1 and bad_year.stderr.count("\n") == 1
    assert "--year must be a reporting year such as 2025" in bad_year.stderr

    one_file = demo.cli(["report", "--out", str(out / "all.html")])
    assert one_file.returncode == 1 and one_file.stderr.count("\n") == 1
    assert "names one file, but the report covers 5 accounts" in one_file.stderr

    missing = tmp_path / "nowhere.duckdb"
    no_warehouse = demo.cli(
        ["report", "--out", str(out)], DESTINATION__DUCKDB__CREDENTIALS=str(missing)
    )
    assert no_warehouse.returncode == 1 and no_warehouse.stderr.count("\n") == 1
    assert f"There is no warehouse at {missing}" in no_warehouse.stderr
    assert not missing.exists() and not out.exists()


def test_a_year_without_orders_gets_a_report_that_says_so(demo, tmp_path):
    [first] = demo.rows(
        "select account_id, account_name, min(reporting_year) as first_year "
        "from lune_reporting.esrs_e1_7_summary group by all order by account_id limit 1"
    )
    year = first["first_year"] - 3
    page_file = tmp_path / "early.html"
    done = demo.cli(
        ["report", "--account", first["account_id"], "--year", str(year), "--out", str(page_file)]
    )
    assert done.returncode == 0, done.stderr
    page = Page.read(page_file)
    assert page.empty == "no-activity"
    assert page.figures == {} and page.charts == []
    assert f"placed no order and retired no credit in {year}" in page.text


# -- the hand-made fixture, DuckDB and PostgreSQL ------------------------------------------


class Page(html.parser.HTMLParser):
    """The parts of a written report the tests read: figures, charts, notes, text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.charts: list[str] = []
        self.issues: list[str] = []
        self.empty: str | None = None
        self.parts: list[str] = []
        self._open: list[str | None] = []

    @classmethod
    def read(cls, path: Path) -> Page:
        page = cls()
        page.feed(path.read_text())
        return page

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        figure = found.get("data-figure")
        if figure:
            self.figures[figure] = found.get("data-value") or ""
        if tag == "figure" and found.get("data-chart"):
            self.charts.append(found["data-chart"] or "")
        if found.get("data-issue"):
            self.issues.append(found["data-issue"] or "")
        if found.get("data-empty"):
            self.empty = found["data-empty"]
        if tag not in ("meta", "br", "img", "link", "path", "rect", "line"):
            self._open.append(figure)

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag not in ("meta", "br", "img", "link", "path", "rect", "line"):
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        if self._open and self._open[-1]:
            name = self._open[-1]
            self.texts[name] = (self.texts.get(name, "") + data).strip()


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def fixture_pipeline(request, tmp_path_factory) -> Iterator[Any]:
    """The hand-made fixture and the VCMI accounts, with their emissions inventory, built."""
    from tests.test_reporting_rules import _load_rules_fixture, _project_with_inventory
    from tests.test_reporting_views import load_fixture, make_pipeline

    backend = request.param
    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    folder = tmp_path_factory.mktemp(f"report_fixture_{backend}")
    pipeline = make_pipeline(backend, folder, "rpt_report", dsn)
    with pipeline.sql_client() as client:
        for schema in ("rpt_report", "rpt_report_staging", "rpt_report_reporting"):
            client.execute_sql(f"drop schema if exists {schema} cascade")
        create_raw_tables(client, backend)
        load_fixture(client)
        _load_rules_fixture(client)
    transforms.build(pipeline, project_dir=_project_with_inventory(folder))
    yield pipeline, dsn


def write(pipeline: Any, folder: Path, account: str, year: int) -> Page:
    [path] = write_for_pipeline(
        pipeline,
        ReportRequest(account_ids=[account], year=year, out=folder / f"{account}{year}.html"),
    )
    return Page.read(path)


def test_report_of_the_hand_fixture(fixture_pipeline, tmp_path):
    pipeline, dsn = fixture_pipeline
    # A 2025: o1 DAC 4 t (Iceland) + biochar 6 t (Germany), both removals; 2024: o2's 5 t
    a25 = write(pipeline, tmp_path, "A", 2025)
    assert D(a25.figures["retired_tonnes"]) == D(4) + D(6)
    assert a25.texts["retired_tonnes"] == "10.000"
    assert (a25.texts["removal_pct"], a25.texts["eu_host_pct"]) == ("100.00 %", "60.00 %")
    assert D(a25.figures["prior_year_retired_tonnes"]) == D(5)
    assert a25.texts["prior_year_removal_pct"] == "0.00 %"  # o2 was a reduction
    assert set(a25.charts) == {"retirements", "mix", "spend", "open"}
    # spend of A is in EUR only; B's USD never appears on A's page
    assert "EUR" in a25.text and "USD" not in a25.text
    # every 2025 retirement was witnessed: no fallback note, stated as such
    assert "Every retirement of 2025 is dated by a status change" in a25.text

    # A 2024: o2 first seen already complete: all 5 t dated by its created_at, said first
    a24 = write(pipeline, tmp_path, "A", 2024)
    notes = a24.text.split("Data quality: what to check before disclosing", 1)[1]
    assert notes.lstrip().startswith("5.000 tCO2e of the 5.000 tCO2e retired in 2024 (100.00 %)")
    assert a24.texts["planned_future_retirement_tonnes"] == "cannot be known"

    # B 2026: removal 3 t, reduction 4, mixed 1, unclassified 2 of 10 t; 2025: 0 t retired
    b26 = write(pipeline, tmp_path, "B", 2026)
    assert b26.texts["retired_tonnes"] == "10.000"
    assert b26.texts["removal_pct"] == "30.00 %"
    assert b26.texts["prior_year_retired_tonnes"] == "0.000"
    assert "USD" in b26.text and "EUR" not in b26.text
    # o8 (placed 2025, retired 2026) differs from its lines; o10 (2026) has an unknown
    # status; pOdd's type is unmapped (no year): all bear on 2026
    assert {
        "order_quantity_differs_from_lines",
        "unknown_order_status",
        "unmapped_project_type",
    } <= set(b26.issues)
    # B 2025: o8 was placed then, o10 was not
    b25 = write(pipeline, tmp_path, "B", 2025)
    assert "order_quantity_differs_from_lines" in b25.issues
    assert "unknown_order_status" not in b25.issues
    assert "retirements" not in b25.charts  # nothing retired in 2025: a sentence instead
    assert "No credits were retired in 2025." in b25.text

    # V 2024: 60 t against 100 t of remaining emissions: Gold (an inventory is given)
    v24 = write(pipeline, tmp_path, "V", 2024)
    assert (v24.texts["coverage_pct"], v24.texts["vcmi_tier"]) == ("60.00 %", "gold")
    assert D(v24.figures["remaining_emissions_tco2e"]) == D(100)
    v26 = write(pipeline, tmp_path, "V", 2026)  # no inventory for 2026
    assert "coverage_pct" not in v26.figures
    assert "No emissions inventory is given for 2026" in v26.text

    # where the figures came from, never how to log in; no load record in this fixture
    if dsn is None:
        database = pipeline.destination_client().config.credentials.database
        assert f"DuckDB file {database}" in a25.text
    else:
        user, password = dsn.split("//", 1)[1].split("@", 1)[0].split(":")
        host = dsn.rsplit("@", 1)[1]
        assert f"PostgreSQL {host}" in a25.text
        assert password not in a25.text and f"{user}:" not in a25.text
    assert "the warehouse keeps no record of a successful load" in a25.text


# -- the parts ---------------------------------------------------------------------------


def test_spend_is_drawn_per_currency_never_added():
    from datetime import date

    from reports import charts
    from reports.periods import period_of

    period = period_of(2025, 1)
    march = date(2025, 3, 1)
    rows = [
        {"purchase_month": march, "currency": "EUR", "net_spend": D(100), "commission": D(10)},
        {"purchase_month": march, "currency": "USD", "net_spend": D(200), "commission": D(20)},
    ]
    spec = charts.spend(period, rows).to_dict(validate=False)
    panels = spec["vconcat"]
    assert [p["title"] for p in panels] == ["Spend in EUR", "Spend in USD"]
    for panel, (net, commission) in zip(panels, ((100, 10), (200, 20)), strict=True):
        march = [v for v in _values(spec, panel) if v["month"] == "Mar 2025"]
        assert sorted(v["v"] for v in march) == sorted([net, commission])
    svgs = charts.render({"spend": charts.spend(period, rows)}, {"spend": "spend"})
    assert "Spend in EUR" in svgs["spend"] and "Spend in USD" in svgs["spend"]


def _values(spec: dict[str, Any], panel: dict[str, Any]) -> list[dict[str, Any]]:
    data = panel["data"]
    if "values" in data:
        return data["values"]
    return spec["datasets"][data["name"]]


def test_reporting_periods_follow_the_fiscal_year_start():
    from datetime import date

    from reports.periods import latest_complete_year as latest
    from reports.periods import period_of

    april = period_of(2025, 4)
    assert (april.start, april.end) == (date(2025, 4, 1), date(2026, 3, 31))
    assert [m.month for m in april.months()] == [4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3]
    assert latest(date(2026, 3, 31), 4) == 2024 and latest(date(2026, 4, 1), 4) == 2025
    assert latest(date(2026, 1, 1), 1) == 2025 and latest(date(2025, 12, 31), 1) == 2024


def test_the_manifest_keeps_the_dags_report_task_off_by_default():
    from pipelines.manifest import load_settings

    repo = Path(__file__).resolve().parents[1]
    settings = load_settings(repo / "dlt_project.yml")
    assert settings.report_enabled is False
    assert settings.report_dir == str(repo / "lune_reports")
    assert os.path.isabs(settings.report_dir)
