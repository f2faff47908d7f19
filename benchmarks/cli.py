"""`python -m benchmarks`: starts the sandbox, runs each contender in a subprocess, reports.

    python -m benchmarks [--orders 100000] [--accounts 4] [--latency-ms 0]
                         [--only floor,handwritten,bulkloader,product,views,report,
                                 incremental50k,ratebudget,webhooks]
                         [--quick] [--lazy] [--chart]

`ratebudget` runs the product with its default limiter against a sandbox that enforces Lune's
15 requests/s, once reading accounts one after another and once concurrently, and compares
each backfill with `pages / 15` s (use with `--latency-ms 150`; not in the default set).
`--lazy` generates the sandbox lazily (`SandboxWorld.generate(lazy=True)`, for 1,000,000
orders); `--chart` redraws `benchmarks/memory_vs_orders.png` from the stored results.

`webhooks` (the receiver under load, see `benchmarks.webhooks`) runs once, whatever
`--orders` says, and has a section of its own; `--only webhooks` runs it alone.

The sandbox serves from this process (a thread per connection, no rate limit), with every
order's JSON rendered before the first contender starts, so the sandbox's serving cost is
the same for every contender. Each contender runs in a fresh Python process: its peak RSS is
its own and its imports are not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lune_sandbox import SandboxServer, SandboxWorld

from . import report
from .world import (
    account_of,
    build_single_account_world,
    build_world,
    request_bound,
    snapshot,
    warm,
)

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
PRODUCT_PATHS = ("sources", "pipelines", "lune_sandbox", "transforms", "sql", "reports")
CONTENDERS = (
    "floor",
    "handwritten",
    "bulkloader",
    "product",
    "views",
    "report",
    "incremental50k",
    "ratebudget",
    "webhooks",
)
ORDER_CONTENDERS = CONTENDERS[:-1]
# run only when named in --only
OPT_IN = ("ratebudget",)
REFERENCES = ("floor", "handwritten", "bulkloader")


@dataclass
class Config:
    """One benchmark configuration (the CLI's options)."""

    orders: int = 100_000
    accounts: int = 4
    latency_ms: float = 0.0
    only: tuple[str, ...] = CONTENDERS
    open_orders: int = 400
    new_orders: int = 100
    transitions: int = 200
    single_orders: int = 50_000
    single_open: int = 300
    repeat: int = 1
    seed: int = 7
    timeout: float = 1800.0
    profile: bool = False
    lazy: bool = False

    @property
    def label(self) -> str:
        return f"{self.orders} orders, {self.accounts} accounts, {self.latency_ms:g} ms latency"


def parse_args(argv: list[str] | None) -> tuple[list[Config], argparse.Namespace]:
    """One Config per `--orders` value (e.g. `--orders 10000,100000` runs both, in order)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the Lune connector against a page-loop floor and a "
        "hand-written loader, on the local sandbox.",
    )
    parser.add_argument(
        "--orders", help="orders in the sandbox, or a comma-separated list (default 100000)"
    )
    parser.add_argument("--accounts", type=int, default=4, help="accounts with orders (4)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added per request (0)")
    parser.add_argument(
        "--only",
        default=",".join(c for c in CONTENDERS if c not in OPT_IN),
        help="comma-separated: " + ",".join(CONTENDERS),
    )
    parser.add_argument("--quick", action="store_true", help="10,000 orders, a fast check")
    parser.add_argument(
        "--lazy", action="store_true", help="a lazily generated sandbox (1,000,000 orders)"
    )
    parser.add_argument(
        "--chart", action="store_true", help="redraw the memory-versus-N chart and stop"
    )
    parser.add_argument("--open-orders", type=int, default=400, help="open orders (400)")
    parser.add_argument("--new-orders", type=int, default=100, help="new before incremental")
    parser.add_argument("--transitions", type=int, default=200, help="lifecycle steps (200)")
    parser.add_argument(
        "--single-account-orders", type=int, help="incremental50k's account (default 50000)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender, best kept")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per subprocess")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the backfill")
    parser.add_argument("--workdir", help="keep working files here (default: a temp dir)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--webhook-rate", type=float, default=500.0, help="paced deliveries per second (500)"
    )
    parser.add_argument(
        "--webhook-seconds", type=float, default=10.0, help="seconds of paced load (10)"
    )
    parser.add_argument("--webhook-events", type=int, default=10, help="events per delivery")
    parser.add_argument(
        "--webhook-connections", type=int, default=16, help="concurrent connections (16)"
    )
    parser.add_argument(
        "--webhook-workers", default="1,2", help="receiver worker counts to run (1,2)"
    )
    args = parser.parse_args(argv)
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = [x for x in only if x not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(unknown)}; choose from {CONTENDERS}")
    default_orders = 10_000 if args.quick else 100_000
    try:
        counts = [int(x) for x in (args.orders or str(default_orders)).split(",") if x.strip()]
    except ValueError:
        parser.error(f"--orders takes integers, not {args.orders!r}")
    configs = [_config(args, only, n) for n in counts]
    if args.accounts < 1 or not counts or min(counts) < 1:
        parser.error("--orders and --accounts must be positive")
    return configs, args


def _config(args: argparse.Namespace, only: tuple[str, ...], orders: int) -> Config:
    return Config(
        orders=orders,
        accounts=args.accounts,
        latency_ms=args.latency_ms,
        only=only,
        open_orders=args.open_orders,
        new_orders=args.new_orders,
        transitions=args.transitions,
        single_orders=args.single_account_orders or (10_000 if args.quick else 50_000),
        repeat=max(1, args.repeat),
        seed=args.seed,
        timeout=args.timeout,
        profile=args.profile,
        lazy=args.lazy,
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Runner:
    """Spawns workers against one running sandbox and records what the sandbox saw."""

    def __init__(self, server: SandboxServer, world: SandboxWorld, workdir: Path, timeout: float):
        self.server = server
        self.world = world
        self.workdir = workdir
        self.timeout = timeout
        self.count = 0

    def run(self, contender: str, name: str, **spec: Any) -> dict[str, Any]:
        """Runs one worker; returns its result plus the sandbox's view of its requests."""
        self.count += 1
        tag = f"{self.count:02d}-{name}"
        workdir = self.workdir / tag
        workdir.mkdir(parents=True, exist_ok=True)
        spec = dict(
            spec,
            contender=contender,
            workdir=str(workdir),
            base_url=self.server.base_url,
            api_key=self.world.api_key,
        )
        spec_path, result_path = workdir / "spec.json", workdir / "result.json"
        spec_path.write_text(json.dumps(spec))
        env = dict(os.environ, PYTHONPATH=str(ROOT), RUNTIME__DLTHUB_TELEMETRY="false")
        self.server.clear_log()
        _say(f"  running {name} ...")
        started = time.perf_counter()
        log_path = workdir / "output.log"
        with open(log_path, "w") as log:
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "benchmarks.worker", str(spec_path), str(result_path)],
                    cwd=workdir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=self.timeout,
                    check=False,
                )
                code: int | None = proc.returncode
            except subprocess.TimeoutExpired:
                code = None
        process_wall = time.perf_counter() - started
        served = self.server.request_log
        if code != 0 or not result_path.exists():
            tail = log_path.read_text()[-2000:]
            reason = "timed out" if code is None else f"exited with {code}"
            _say(f"  {name} {reason}:\n{tail}")
            return {"error": f"{name} {reason} after {process_wall:.0f}s", "log_tail": tail}
        result = json.loads(result_path.read_text())
        result["process_wall"] = process_wall
        result["server"] = _served(served)
        wall = result.get("wall")
        _say(
            f"  {name}: {wall:.2f}s, peak RSS {result.get('peak_rss_mb') or 0:.0f} MB, "
            f"{result['server']['total']} requests"
            if wall is not None
            else f"  {name}: done"
        )
        return result


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of a contender's runs, all walls noted (the last run when all failed)."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[-1]
    best = min(good, key=lambda r: r["wall"])
    best["walls"] = [r["wall"] for r in good]
    best["peak_rss_mb"] = max(r["peak_rss_mb"] or 0 for r in good)
    return best


def _served(log: list[Any]) -> dict[str, Any]:
    """Requests the sandbox answered, by kind, and `/v1/orders*` requests by account."""
    kinds: Counter[str] = Counter()
    orders_by_account: Counter[str] = Counter()
    for record in log:
        if record.path == "/v1/orders":
            kind = "list_page"
        elif record.path.startswith("/v1/orders/"):
            kind = "order_fetch"
        else:
            kind = "other"
        kinds[kind] += 1
        if kind != "other":
            orders_by_account[record.account_id or ""] += 1
        if record.status != 200:
            kinds[f"status_{record.status}"] += 1
    return {
        "total": len(log),
        "by_kind": dict(kinds),
        "orders_by_account": dict(orders_by_account),
    }


def row(name: str, result: dict[str, Any], orders: int | None = None) -> dict[str, Any]:
    """A table row from a worker's result (`orders`: count to divide by, if not its own)."""
    if "error" in result:
        return {"contender": name, "error": result["error"]}
    wall = result["wall"]
    count = orders if orders is not None else result.get("orders", 0)
    return {
        "contender": name,
        "orders": count,
        "wall": wall,
        "walls": result.get("walls", [wall]),
        "orders_per_s": count / wall if wall else None,
        "peak_rss_mb": result.get("peak_rss_mb"),
        "baseline_rss_mb": result.get("baseline_rss_mb"),
        "requests": result["server"]["total"],
        "orders_requests": sum(
            n for k, n in result["server"]["by_kind"].items() if k in ("list_page", "order_fetch")
        ),
        "client_requests": result.get("requests"),
        "import_seconds": result.get("import_seconds"),
        "process_wall": result.get("process_wall"),
    }


def run_main_block(config: Config, workdir: Path, out: dict[str, Any]) -> None:
    """floor, hand-written, product backfill + incremental, views, on one sandbox."""
    _say(f"Generating the sandbox: {config.orders} orders over {config.accounts} accounts ...")
    world = build_world(
        config.orders, config.accounts, config.open_orders, config.seed, lazy=config.lazy
    )
    started = time.perf_counter()
    # a lazy world renders its orders when read: every contender pays the same serving cost
    served_bytes = 0 if config.lazy else warm(world)
    seconds = time.perf_counter() - started
    if not config.lazy:
        _say(f"  rendered {served_bytes / 1e6:.0f} MB of order JSON in {seconds:.1f}s")
    out["sandbox"] = {
        "orders": config.orders,
        "lazy": config.lazy,
        "accounts": []
        if config.lazy
        else [
            {"id": s.account_id, "orders": s.orders, "open": len(s.open_positions)}
            for s in snapshot(world).values()
        ],
        "order_json_mb": served_bytes / 1e6,
    }
    rows: dict[str, Any] = out.setdefault("rows", {})
    with SandboxServer(world, port=0, rate_limit=None) as server:
        server.faults.set(latency=config.latency_ms / 1000)
        runner = Runner(server, world, workdir, config.timeout)
        references: dict[str, list[dict[str, Any]]] = {
            name: [] for name in REFERENCES if name in config.only
        }
        product = bool({"product", "views", "report"} & set(config.only))
        warehouse = workdir / "product-warehouse"
        product_runs: list[dict[str, Any]] = []
        # Each attempt runs every contender once: the machine's speed moves by half within
        # minutes here, and a ratio of two contenders' best runs is only fair when both met
        # the same spells.
        for attempt in range(config.repeat):
            for name, runs in references.items():
                runs.append(runner.run(name, name))
            if product:
                last = attempt == config.repeat - 1
                target = warehouse if last else workdir / f"discard-{attempt}"
                product_runs.append(runner.run("product", "product-full", warehouse=str(target)))
        for name, runs in references.items():
            result = _best(runs)
            rows[name] = row(name, result)
            rows[name]["details"] = {
                k: result.get(k) for k in ("bytes", "rows", "requests") if k in result
            }
        if not product:
            return
        # the warehouse the later steps read is the last run's, whatever the fastest was
        full = _best(product_runs)
        if "error" in product_runs[-1]:
            full = product_runs[-1]
        rows["product_full"] = row("product: full backfill", full, config.orders)
        rows["product_full"]["details"] = _product_details(full)
        if config.profile:
            profiled = runner.run(
                "product",
                "product-profile",
                warehouse=str(workdir / "profile-warehouse"),
                profile="profile",
            )
            if "error" not in profiled:
                where = workdir / f"{runner.count:02d}-product-profile" / "profile"
                _say(
                    f"  pyinstrument profile of the backfill (not in the table): {where}.txt, "
                    f".html; with dlt's frames: .venv/bin/pyinstrument --load={where}.pyisession "
                    "--show='*/dlt/*'"
                )
        if "product" in config.only and "error" not in full and not config.lazy:
            out["incremental"] = run_incremental(config, world, runner, warehouse, rows)
        if "views" in config.only:
            if "error" in full:
                out["views"] = {"available": False, "reason": "the backfill failed"}
            else:
                views = runner.run("views", "views", warehouse=str(warehouse))
                if "error" in views:
                    views = {"available": False, "reason": views["error"]}
                out["views"] = views
        if "report" in config.only:
            out["report"] = run_report(full, runner, warehouse)


def run_report(full: dict[str, Any], runner: Runner, warehouse: Path) -> dict[str, Any]:
    """`lune-pipeline report` over the product's warehouse, each in a fresh process: every
    account (the command's default), then the account with the most orders alone."""
    if "error" in full:
        return {"available": False, "reason": "the backfill failed"}
    found: dict[str, Any] = {"available": True}
    for scope in ("all", "one"):
        result = runner.run("report", f"report-{scope}", warehouse=str(warehouse), scope=scope)
        if "error" in result:
            return {"available": False, "reason": result["error"]}
        found[scope] = result
    return found


def _product_details(result: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "timings",
        "phase_peak_rss_mb",
        "requests_by_kind",
        "orders_by_kind",
        "rows_loaded",
        "warehouse_rows",
    )
    return {k: result.get(k) for k in keys}


def run_incremental(
    config: Config, world: SandboxWorld, runner: Runner, warehouse: Path, rows: dict[str, Any]
) -> dict[str, Any]:
    """Moves the sandbox on (new orders, lifecycle steps), then runs the product again."""
    before = snapshot(world)
    changes = world.advance(new_orders=config.new_orders, transitions=config.transitions)
    warm(world)
    bounds = request_bound(before, account_of(world, changes["created"]))
    result = runner.run("product", "product-incremental", warehouse=str(warehouse))
    if "error" in result:
        rows["product_incremental"] = row("product: incremental", result)
        return {"error": result["error"]}
    rows["product_incremental"] = row("product: incremental", result)
    rows["product_incremental"]["details"] = _product_details(result)
    return {
        "new_orders": len(changes["created"]),
        "changed_orders": len(changes["changed"]),
        "bounds": bounds,
        "served_by_account": result["server"]["orders_by_account"],
        "served_by_kind": result["server"]["by_kind"],
        "planner": [
            {
                "account_id": a["account_id"],
                "requests": a["requests"],
                "planned_request_bound": a["planned_request_bound"],
                "refresh_strategy": a["refresh_strategy"],
                "orders": a["orders"],
            }
            for a in result.get("accounts", [])
        ],
    }


def run_single_account_block(config: Config, workdir: Path, out: dict[str, Any]) -> None:
    """One account of 50,000 orders: backfill, then incremental against a full reload."""
    _say(
        f"Generating the single-account sandbox: {config.single_orders} orders, "
        f"~{config.single_open} open ..."
    )
    world = build_single_account_world(config.single_orders, config.single_open, config.seed + 4)
    warm(world)
    rows: dict[str, Any] = {}
    section: dict[str, Any] = {"orders": config.single_orders, "rows": rows}
    out["incremental50k"] = section
    with SandboxServer(world, port=0, rate_limit=None) as server:
        server.faults.set(latency=config.latency_ms / 1000)
        runner = Runner(server, world, workdir / "single", config.timeout)
        warehouse = workdir / "single" / "warehouse"
        full = runner.run("product", "single-backfill", warehouse=str(warehouse))
        rows["backfill"] = row("backfill (first run)", full, config.single_orders)
        if "error" in full:
            return
        before = snapshot(world)
        section["open_before"] = sum(len(s.open_positions) for s in before.values())
        changes = world.advance(new_orders=config.new_orders, transitions=config.transitions)
        warm(world)
        section["bounds"] = request_bound(before, account_of(world, changes["created"]))
        section["new_orders"] = len(changes["created"])
        section["changed_orders"] = len(changes["changed"])
        incremental = runner.run("product", "single-incremental", warehouse=str(warehouse))
        rows["incremental"] = row("incremental run", incremental)
        reload = runner.run(
            "product", "single-full-reload", warehouse=str(warehouse), full_refresh=True
        )
        rows["full_reload"] = row("full reload (--full-refresh)", reload, config.single_orders)


def run_rate_budget_block(config: Config, workdir: Path, out: dict[str, Any]) -> None:
    """The product with its default limiter against a sandbox enforcing Lune's 15/s, accounts
    read one after another (`concurrent_accounts=1`) and at once (the default), each backfill
    against the floor of `pages / 15` s; 429 answers counted by the sandbox."""
    _say(
        f"Rate budget: {config.orders} orders over {config.accounts} accounts, "
        f"{config.latency_ms:g} ms per request, sandbox limit 15 requests/s"
    )
    world = build_world(config.orders, config.accounts, config.open_orders, config.seed)
    warm(world)
    section: dict[str, Any] = {"rate_limit": 15.0}
    out["ratebudget"] = section
    with SandboxServer(world, port=0, rate_limit=15) as server:
        server.faults.set(latency=config.latency_ms / 1000)
        runner = Runner(server, world, workdir / "ratebudget", config.timeout)
        for mode, accounts_at_once in (("sequential", 1), ("concurrent", None)):
            options: dict[str, Any] = {"max_requests_per_second": None}
            if accounts_at_once is not None:
                options["concurrent_accounts"] = accounts_at_once
            result = runner.run(
                "product",
                f"ratebudget-{mode}",
                warehouse=str(workdir / "ratebudget" / f"warehouse-{mode}"),
                source_options=options,
            )
            if "error" in result:
                section[mode] = {"error": result["error"]}
                continue
            served = result["server"]
            floor_s = served["total"] / 15.0
            section[mode] = {
                "wall": result["wall"],
                "requests": served["total"],
                "status_429": served["by_kind"].get("status_429", 0),
                "floor_s": floor_s,
                "ratio": result["wall"] / floor_s,
                "peak_rss_mb": result.get("peak_rss_mb"),
                "timings": result.get("timings"),
            }
            _say(
                f"  {mode}: {result['wall']:.2f}s for {served['total']} requests "
                f"({result['wall'] / floor_s:.3f}× pages/15), "
                f"{section[mode]['status_429']} × 429"
            )


def machine_info() -> dict[str, Any]:
    """nproc, memory, CPU, load, versions, git commit."""
    import dlt
    import duckdb
    import httpx
    import pyarrow

    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "dlt": dlt.__version__,
        "duckdb": duckdb.__version__,
        "httpx": httpx.__version__,
        "pyarrow": pyarrow.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *PRODUCT_PATHS],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        info["commit"] = commit + (" (+ uncommitted changes)" if dirty else "")
    except OSError:
        pass
    return info


def load_store() -> dict[str, Any]:
    if RESULTS_JSON.exists():
        return json.loads(RESULTS_JSON.read_text())
    return {"configs": {}}


def merge(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Keeps the parts of an earlier run of the same configuration that this run skipped."""
    if not old:
        return new
    merged = dict(old)
    for key, value in new.items():
        if key == "rows":
            merged["rows"] = {**old.get("rows", {}), **value}
        else:
            merged[key] = value
    return merged


def main(argv: list[str] | None = None) -> int:
    configs, args = parse_args(argv)
    if args.chart:
        from .chart import draw_memory_chart

        _say(f"wrote {draw_memory_chart(load_store())}")
        return 0
    if set(configs[0].only) & set(ORDER_CONTENDERS):
        for config in configs:
            run_config(config, args)
    if "webhooks" in configs[0].only:
        run_webhooks(args)
    return 0


def run_webhooks(args: argparse.Namespace) -> None:
    """The receiver benchmark: its own section of RESULTS.md, independent of `--orders`."""
    from . import webhooks

    _say(
        f"Benchmark: webhook receiver, {args.webhook_rate:g} deliveries/s of "
        f"{args.webhook_events} events for {args.webhook_seconds:g} s, then saturated"
    )
    machine = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="lune-bench-webhooks-"))
    try:
        result = webhooks.run(
            workdir,
            rate=args.webhook_rate,
            seconds=args.webhook_seconds,
            events=args.webhook_events,
            connections=args.webhook_connections,
            seed=args.seed,
            workers=tuple(int(n) for n in args.webhook_workers.split(",") if n.strip()),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["machine"] = machine
    text = webhooks.section(result)
    print(text)
    if not args.no_write:
        store = load_store()
        store["webhooks"] = result
        RESULTS_JSON.write_text(json.dumps(store, indent=1, default=str) + "\n")
        report.write_results_md(RESULTS_MD, store)
        _say(f"wrote {RESULTS_MD.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")


def run_config(config: Config, args: argparse.Namespace) -> None:
    """Runs one configuration, prints its section, and records it in RESULTS.md."""
    out: dict[str, Any] = {
        "label": config.label,
        "params": asdict(config),
        "machine": machine_info(),
        "rows": {},
    }
    out["params"]["only"] = list(config.only)
    _say(f"Benchmark: {config.label}; contenders {', '.join(config.only)}")
    if set(config.only) - {"ratebudget"}:
        _say(
            "The sandbox has no rate limit and the product runs with max_requests_per_second=0 "
            "(its limiter off): this measures processing, not Lune's 15 requests/s."
        )
    if args.workdir:
        workdir = Path(args.workdir).resolve() / f"{config.orders}-{config.latency_ms:g}ms"
        workdir.mkdir(parents=True, exist_ok=True)
        temporary = False
    else:
        workdir = Path(tempfile.mkdtemp(prefix="lune-bench-"))
        temporary = True
    try:
        if {*REFERENCES, "product", "views", "report"} & set(config.only):
            run_main_block(config, workdir, out)
        if "ratebudget" in config.only:
            run_rate_budget_block(config, workdir, out)
        if "incremental50k" in config.only:
            run_single_account_block(config, workdir, out)
    finally:
        if temporary and not config.profile:
            shutil.rmtree(workdir, ignore_errors=True)
        elif temporary:
            _say(f"profile and working files kept in {workdir}")
    out["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    store = load_store()
    store["configs"][config.label] = merge(store["configs"].get(config.label), out)
    text = report.config_section(store["configs"][config.label], store)
    print(text)
    if not args.no_write:
        RESULTS_JSON.write_text(json.dumps(store, indent=1, default=str) + "\n")
        report.write_results_md(RESULTS_MD, store)
        _say(f"wrote {RESULTS_MD.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")
