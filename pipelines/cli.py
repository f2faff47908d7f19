"""`lune-pipeline`: run, transform, status, report, demo, sandbox and webhooks commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from .logs import register_secret, setup_logging
from .manifest import ManifestError, Settings, load_settings

log = logging.getLogger("lune.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="manifest profile (default: LUNE_PROFILE or dev)")
    parser.add_argument("--destination", help="dlt destination, e.g. duckdb, postgres")
    parser.add_argument("--dataset", help="dataset (schema) name, default from the manifest")
    parser.add_argument("--pipeline-name", help="dlt pipeline name")
    parser.add_argument("--pipelines-dir", help="where dlt keeps the pipeline's working files")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--log-level", default=os.environ.get("LUNE_LOG_LEVEL", "INFO"))


DISTRIBUTION = "lune-orders-pipeline"


def product_version() -> str:
    """The installed package's version (pyproject.toml), from its metadata."""
    try:
        return package_version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lune-pipeline",
        description="Load Lune carbon-credit orders into a warehouse and build reporting marts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {product_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="load new and changed orders, then build the reporting project (dbt)"
    )
    _add_common(run)
    run.add_argument("--accounts", help="comma-separated account ids (default: all)")
    run.add_argument("--since", help="first run only: load orders created since this ISO date")
    run.add_argument("--full-refresh", action="store_true", help="re-read every order")
    run.add_argument(
        "--strict", action="store_true", help="exit non-zero when any record is quarantined"
    )
    run.add_argument(
        "--no-transform",
        "--no-views",
        dest="no_transform",
        action="store_true",
        help="load only; skip building the reporting project",
    )
    run.add_argument("--summary-json", help="also write the run summary to this JSON file")
    run.add_argument("--progress", action="store_true", help="log dlt progress while loading")

    transform = commands.add_parser(
        "transform", help="build the reporting project (dbt build) over what is loaded"
    )
    _add_common(transform)

    status = commands.add_parser("status", help="last run, rows per table, sync state")
    _add_common(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    report = commands.add_parser(
        "report", help="write the carbon-credit report: one HTML (or PDF) file per account"
    )
    _add_common(report)
    report.add_argument(
        "--account",
        action="append",
        dest="report_accounts",
        metavar="ID",
        help="account id, repeatable (default: every account)",
    )
    report.add_argument(
        "--year", type=int, help="reporting year (default: the latest complete one)"
    )
    report.add_argument(
        "--out", help="a file for one account, else a folder (default: the manifest's report.out)"
    )
    report.add_argument("--format", choices=("html", "pdf"), help="html (default) or pdf")

    demo = commands.add_parser("demo", help="load the local sandbox into a DuckDB file")
    demo.add_argument("--path", default="var/demo/lune_demo.duckdb", help="DuckDB file to write")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--log-format", choices=("text", "json"), default="text")
    demo.add_argument("--log-level", default="WARNING")

    sandbox = commands.add_parser("sandbox", help="serve the Lune API sandbox on loopback")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--seed", type=int, default=7)
    sandbox.add_argument("--client-accounts", type=int, default=4)
    sandbox.add_argument("--orders-per-account", type=int, default=250)
    sandbox.add_argument("--rate-limit", type=float, default=15.0, help="0 turns it off")

    from .webhooks.commands import add_parser as add_webhooks_parser

    add_webhooks_parser(commands)
    return parser


def settings_for(args: argparse.Namespace) -> Settings:
    settings = load_settings(profile=args.profile)
    if args.destination:
        settings.destination = args.destination
        settings.credentials = None
    if args.dataset:
        settings.dataset = args.dataset
    if args.pipeline_name:
        settings.pipeline_name = args.pipeline_name
    return settings


def duckdb_path_for(settings: Settings) -> str | None:
    """The DuckDB file of a DuckDB destination, absolute: DESTINATION__DUCKDB__CREDENTIALS,
    else the manifest's `credentials`, else lune_orders.duckdb; a relative path is taken from
    the manifest's folder (the working directory without a manifest), on every run."""
    if settings.destination != "duckdb":
        return None
    from .warehouse import resolve_duckdb_path

    configured = os.environ.get("DESTINATION__DUCKDB__CREDENTIALS") or settings.credentials
    return resolve_duckdb_path(configured, settings.base_dir)


def destination_for(settings: Settings) -> Any:
    """A dlt destination; credentials from the manifest only where dlt's own config has none."""
    import dlt

    path = duckdb_path_for(settings)
    if path is not None:
        return dlt.destinations.duckdb(credentials=path)
    return settings.destination


def run_options(args: argparse.Namespace, settings: Settings, **overrides: Any):
    from .runner import RunOptions

    accounts = getattr(args, "accounts", None)
    options = RunOptions(
        destination=destination_for(settings),
        dataset=settings.dataset,
        pipeline_name=settings.pipeline_name,
        pipelines_dir=args.pipelines_dir,
        account_ids=[a.strip() for a in accounts.split(",") if a.strip()]
        if accounts
        else settings.account_ids or None,
        since=getattr(args, "since", None) or settings.since,
        full_refresh=getattr(args, "full_refresh", False),
        strict=getattr(args, "strict", False),
        transform=settings.transforms_enabled and not getattr(args, "no_transform", False),
        transform_vars=dict(settings.transform_vars),
        transform_project_dir=settings.transforms_project_dir,
        progress=getattr(args, "progress", False),
        warehouse_base=settings.base_dir,
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import RunError, run

    settings = settings_for(args)
    path = duckdb_path_for(settings)
    if path is not None:
        print(f"warehouse: {path}", flush=True)
    try:
        summary = run(run_options(args, settings))
    except RunError as e:
        print(f"lune-pipeline: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(summary.to_text())
    if args.summary_json:
        summary.write(args.summary_json)
    if summary.outcome != "succeeded":
        print(f"lune-pipeline: {summary.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_transform(args: argparse.Namespace) -> int:
    from .runner import build_reporting, describe_error, make_pipeline

    settings = settings_for(args)
    options = run_options(args, settings)
    try:
        result = build_reporting(make_pipeline(options), options)
    except Exception as e:
        print(f"lune-pipeline: {describe_error(e)}", file=sys.stderr)
        return EXIT_FAILED
    print(result.to_text())
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from .status import print_status

    settings = settings_for(args)
    return print_status(run_options(args, settings), as_json=args.json)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reports import ReportError, ReportRequest, write_for_pipeline

    from .runner import describe_error, last_run_path, make_pipeline

    settings = settings_for(args)
    request = ReportRequest(
        account_ids=args.report_accounts,
        year=args.year,
        out=Path(args.out) if args.out else Path(settings.report_dir),
        format=args.format or (None if args.out else settings.report_format),
        fiscal_year_start_month=settings.transform_vars.get("fiscal_year_start_month", 1),
    )
    try:
        pipeline = make_pipeline(run_options(args, settings))
        written = write_for_pipeline(pipeline, request, run_record=last_run_path(pipeline))
    except ReportError as e:
        print(f"lune-pipeline: {e}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as e:
        print(f"lune-pipeline: {describe_error(e)}", file=sys.stderr)
        return EXIT_FAILED
    for path in written:
        print(path)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(path=args.path, seed=args.seed)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from lune_sandbox import serve

    serve(
        host=args.host,
        port=args.port,
        seed=args.seed,
        client_accounts=args.client_accounts,
        orders_per_account=args.orders_per_account,
        rate_limit=args.rate_limit or None,
    )
    return EXIT_OK


def cmd_webhooks(args: argparse.Namespace) -> int:
    from .webhooks.commands import cmd_webhooks as run_webhooks_command

    return run_webhooks_command(args)


COMMANDS = {
    "run": cmd_run,
    "transform": cmd_transform,
    "status": cmd_status,
    "report": cmd_report,
    "demo": cmd_demo,
    "sandbox": cmd_sandbox,
    "webhooks": cmd_webhooks,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "log_format", "text"), getattr(args, "log_level", "INFO"))
    register_secret(os.environ.get("SOURCES__LUNE__API_KEY"))
    register_secret(os.environ.get("SOURCES__LUNE__PERSONAL_DATA_KEY"))
    try:
        return COMMANDS[args.command](args)
    except ManifestError as e:
        print(f"lune-pipeline: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lune-pipeline: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
