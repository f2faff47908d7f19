"""The webhook receiver under load: `lune-pipeline webhooks serve` in its own process, driven
from this one over keep-alive HTTP/1.1 connections on loopback.

Each delivery is a distinct signed batch of `events` order events (real order snapshots from a
sandbox world, ~1.5 kB each), so every acknowledgement is one fsynced file in the spool.

- **paced**: deliveries scheduled at `rate` per second for `seconds` (open loop). A request's
  latency counts from its scheduled time, so a receiver that falls behind is charged for the
  queueing (no coordinated omission).
- **saturated**: `connections` senders back to back for `seconds` (closed loop): the most the
  receiver acknowledges per second on this machine, and the latency at that load.

Afterwards the spool must hold exactly one file per acknowledged delivery, byte for byte.
Lune itself sends one request at a time per endpoint; the concurrency here stands for many
endpoints, accounts and redeliveries arriving together.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from lune_sandbox import SandboxWorld

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_benchmark_secret_not_used_anywhere_else"
TARGET_RATE = 500.0  # deliveries acknowledged per second, at least
TARGET_P99_MS = 50.0


def _sign(timestamp: int, body: bytes) -> str:
    digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"timestamp={timestamp},organisation=bench,v1={base64.b64encode(digest).decode()}"


def order_snapshots(seed: int) -> list[dict[str, Any]]:
    world = SandboxWorld.generate(seed=seed, client_accounts=2, orders_per_account=400)
    return [order for account in world.account_ids() for order in world.orders(account)]


class Deliveries:
    """Distinct WebhookRequest bodies, serialized up front and signed when handed out.

    `distinct` bodies are built before any timing starts (so the load generator spends its
    time sending, not serializing), then reused in turn, each signed with the current second:
    a body comes back only after `distinct` others, so no two deliveries share body and
    timestamp below `distinct` per second (the receiver would take a repeat for a replay).
    """

    def __init__(self, orders: list[dict[str, Any]], events: int, distinct: int = 2000) -> None:
        self.events = events
        self.bodies: list[bytes] = []
        for number in range(distinct):
            batch = []
            for offset in range(events):
                index = number * events + offset
                batch.append(
                    {
                        "api_version": "v1",
                        "event_id": f"bench{index:027d}",
                        "account_id": "benchaccount",
                        "event_type": "order.placed",
                        "sequence": f"{index:020d}",
                        "data": {"order": orders[index % len(orders)]},
                    }
                )
            self.bodies.append(orjson.dumps({"events": batch}))
        self.count = 0

    def next(self) -> tuple[bytes, str]:
        body = self.bodies[self.count % len(self.bodies)]
        self.count += 1
        return body, _sign(int(time.time()), body)


class Connection:
    """A minimal keep-alive HTTP/1.1 client connection (what the load needs, nothing more)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, port)

    async def post(self, body: bytes, signature: str) -> int:
        head = (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nLune-HMAC: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length:
            await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


def _percentiles(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(latencies)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return {
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": ordered[-1] * 1000,
    }


async def _paced(
    port: int, deliveries: Deliveries, rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(port))
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def one(index: int, body: bytes, signature: str) -> None:
        due = start + index / rate
        connection = await pool.get()
        try:
            status = await connection.post(body, signature)
        finally:
            pool.put_nowait(connection)
        latencies.append(loop.time() - due)
        statuses[status] = statuses.get(status, 0) + 1

    tasks = []
    for index in range(total):
        body, signature = deliveries.next()
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, body, signature)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    while not pool.empty():
        pool.get_nowait().close()
    acknowledged = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "mode": "paced",
        "offered_rate": rate,
        "deliveries": total,
        "acknowledged": acknowledged,
        "statuses": {str(k): v for k, v in statuses.items()},
        "seconds": elapsed,
        "acknowledged_per_s": acknowledged / elapsed,
        **_percentiles(latencies),
    }


async def _saturated(
    port: int, deliveries: Deliveries, seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def sender() -> None:
        connection = await Connection.open(port)
        try:
            while loop.time() < end:
                item = deliveries.next()
                started = loop.time()
                status = await connection.post(*item)
                latencies.append(loop.time() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            connection.close()

    started = loop.time()
    await asyncio.gather(*(sender() for _ in range(connections)))
    elapsed = loop.time() - started
    acknowledged = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "mode": "saturated",
        "connections": connections,
        "deliveries": sum(statuses.values()),
        "acknowledged": acknowledged,
        "statuses": {str(k): v for k, v in statuses.items()},
        "seconds": elapsed,
        "acknowledged_per_s": acknowledged / elapsed,
        **_percentiles(latencies),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (uvicorn's workers)."""
    total = 0.0
    pids = [pid, *_children(pid)]
    for one in pids:
        try:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(c) for c in children.read().split()]
    except OSError:
        return []


def _start_receiver(
    workdir: Path, spool: Path, port: int, workers: int = 1
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__LUNE__")}
    env.update(
        PYTHONPATH=str(ROOT),
        RUNTIME__DLTHUB_TELEMETRY="false",
        SOURCES__LUNE__WEBHOOK_SECRET=SECRET,
        SOURCES__LUNE__WEBHOOK_SPOOL=str(spool),
    )
    log = open(workdir / "receiver.log", "wb")  # noqa: SIM115 (kept open for the child)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "webhooks",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "INFO",  # startup lines only: a stored delivery logs at DEBUG
            "--workers",
            str(workers),
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((workdir / "receiver.log").read_text()[-2000:])
        log = (workdir / "receiver.log").read_text(errors="replace")
        if log.count("Application startup complete") >= workers:
            return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the receiver did not start")


def run(
    workdir: Path,
    rate: float = TARGET_RATE,
    seconds: float = 10.0,
    events: int = 10,
    connections: int = 16,
    seed: int = 7,
    workers: tuple[int, ...] = (1, 2),
) -> dict[str, Any]:
    """Both phases against a fresh receiver and spool, for each worker count."""
    workdir.mkdir(parents=True, exist_ok=True)
    deliveries = Deliveries(order_snapshots(seed), events)
    sample = deliveries.bodies[0]
    runs = [
        _one_receiver(workdir / f"workers-{n}", deliveries, rate, seconds, connections, n)
        for n in workers
    ]
    return {
        "events_per_delivery": events,
        "body_bytes": len(sample),
        "connections": connections,
        "runs": runs,
        "cpu_count": os.cpu_count(),
    }


def _one_receiver(
    workdir: Path,
    deliveries: Deliveries,
    rate: float,
    seconds: float,
    connections: int,
    workers: int,
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    spool = workdir / "spool"
    port = _free_port()
    process = _start_receiver(workdir, spool, port, workers)
    try:
        before = _cpu_seconds(process.pid)
        paced = asyncio.run(_paced(port, deliveries, rate, seconds, connections))
        paced_cpu = _cpu_seconds(process.pid) - before
        saturated = asyncio.run(_saturated(port, deliveries, min(seconds, 5.0), connections))
        peak = max(
            (m for m in (_vm_hwm_mb(p) for p in [process.pid, *_children(process.pid)]) if m),
            default=None,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    files = list((spool / "incoming").iterdir())
    stored = sum(1 for f in files if not f.name.startswith("."))
    return {
        "workers": workers,
        "phases": [paced, saturated],
        "receiver_cpu_ms_per_delivery": paced_cpu / max(1, paced["acknowledged"]) * 1000,
        "spool_files": stored,
        "spool_matches": stored == paced["acknowledged"] + saturated["acknowledged"],
        "receiver_peak_rss_mb": peak,
    }


def section(result: dict[str, Any]) -> str:
    """The RESULTS.md text for a receiver run."""
    from .report import _num, _table, _verdict

    machine = result.get("machine", {})
    rows, targets = [], []
    for run_ in result["runs"]:
        paced, saturated = run_["phases"]
        label = f"{run_['workers']} worker{'s' if run_['workers'] > 1 else ''}"
        for phase in (paced, saturated):
            rows.append(
                [
                    label,
                    f"paced at {phase['offered_rate']:g}/s"
                    if phase["mode"] == "paced"
                    else f"saturated, {phase['connections']} connections",
                    f"{phase['deliveries']:,}",
                    f"{phase['acknowledged']:,}",
                    _num(phase["acknowledged_per_s"], 0),
                    _num(phase["p50_ms"], 1),
                    _num(phase["p95_ms"], 1),
                    _num(phase["p99_ms"], 1),
                    _num(phase["max_ms"], 1),
                ]
            )
        all_acknowledged = paced["acknowledged"] == paced["deliveries"]
        kept_pace = paced["acknowledged_per_s"] >= TARGET_RATE * 0.98
        targets += [
            [
                f"{label}: acknowledges ≥ {TARGET_RATE:g} deliveries of "
                f"{result['events_per_delivery']} events per second",
                f"{paced['acknowledged_per_s']:,.0f}/s paced (every one 2xx: {all_acknowledged}); "
                f"{saturated['acknowledged_per_s']:,.0f}/s saturated",
                "met" if all_acknowledged and kept_pace else "**MISSED**",
            ],
            [
                f"{label}: p99 latency under {TARGET_P99_MS:g} ms at {TARGET_RATE:g}/s",
                f"{_num(paced['p99_ms'], 1)} ms",
                _verdict(paced["p99_ms"], TARGET_P99_MS, " ms"),
            ],
            [
                f"{label}: one fsynced spool file per acknowledged delivery",
                f"{run_['spool_files']:,} files",
                "met" if run_["spool_matches"] else "**MISSED**",
            ],
        ]
    cpu = ", ".join(
        f"{r['workers']} worker(s) {r['receiver_cpu_ms_per_delivery']:.2f} ms"
        for r in result["runs"]
    )
    rss = ", ".join(
        f"{r['workers']} worker(s) {_num(r['receiver_peak_rss_mb'], 0)} MB" for r in result["runs"]
    )
    return "\n\n".join(
        [
            "### Webhook receiver",
            f"Run {machine.get('date', '?')} on {machine.get('nproc')} cores "
            f"({machine.get('cpu', '?')}), load average before/after "
            f"{machine.get('load_average')} / {machine.get('load_average_after')}; Python "
            f"{machine.get('python')}; commit {machine.get('commit', '?')}.",
            "`lune-pipeline webhooks serve [--workers N]` (uvicorn with its h11 protocol and the "
            "asyncio loop: httptools and uvloop are not installed) with a local spool, in its "
            "own process(es); the load comes from the benchmark's process over "
            f"{result['connections']} keep-alive connections on loopback. Each delivery is a "
            f"distinct signed batch of {result['events_per_delivery']} order events "
            f"({result['body_bytes']:,} bytes); every 2xx is one file written and fsynced (file "
            "and directory) before the answer. Paced latency counts from the scheduled send "
            "time (queueing included); saturated latency from the actual send. The machine is "
            "shared: the load average shows how much else ran.",
            _table(
                [
                    "receiver",
                    "phase",
                    "sent",
                    "2xx",
                    "2xx/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                ],
                rows,
            ),
            f"Receiver CPU per delivery while paced (user + system, all its processes): {cpu}. "
            f"Peak RSS per process: {rss}.",
            "Targets:\n\n" + _table(["target", "measured", "verdict"], targets),
        ]
    )
