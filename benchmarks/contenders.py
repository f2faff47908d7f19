"""The reference contenders, written the way one would by hand, with no product code.

- `floor`: fetches every page of every account and parses it (orjson), nothing more. No
  loader can be faster than this against the same server.
- `handwritten`: the same page loop plus a DuckDB bulk load of `orders`, `orders__bundles`
  and `orders__projects` (pages buffered as Arrow tables, flushed every few thousand orders
  with one `INSERT ... SELECT` that casts decimals to DECIMAL(38, 9) inside DuckDB).
- `bulkloader`: the same page loop writing each page's orders to an NDJSON spool file, then
  one DuckDB `read_json` with explicit column types and `unnest` for the line tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

API_VERSION = "2024-08-08"
PAGE_SIZE = 100


class LuneHttp:
    """A bare Lune client: one keep-alive connection, no retries, counts requests and bytes."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Lune-Version": API_VERSION,
                "Accept": "application/json",
            },
            timeout=timeout,
        )
        self.requests = 0
        self.bytes = 0

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, account: str | None = None, params: dict | None = None) -> Any:
        """GETs and parses one JSON body (`account`: the Lune-Account header, if any)."""
        headers = {"Lune-Account": account} if account else None
        response = self.http.get(path, params=params, headers=headers)
        self.requests += 1
        response.raise_for_status()
        self.bytes += len(response.content)
        return orjson.loads(response.content)

    def pages(self, path: str, account: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """The `data` of each page of a list endpoint, following `next_cursor`."""
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        while True:
            body = self.get(path, account, params)
            yield body["data"]
            if not body["has_more"] or not body.get("next_cursor"):
                return
            params["after"] = body["next_cursor"]

    def accounts(self) -> list[tuple[str, str | None]]:
        """(account id, Lune-Account header) for the key's own account and its clients."""
        me = self.get("/v1/accounts/me")
        found: list[tuple[str, str | None]] = [(me["id"], None)]
        for page in self.pages("/v1/accounts/client"):
            found.extend((a["id"], a["id"]) for a in page)
        return found


def floor(base_url: str, api_key: str, workdir: Path) -> dict[str, Any]:
    """Fetches and parses every order page; returns orders, requests and bytes."""
    client = LuneHttp(base_url, api_key)
    orders = 0
    try:
        for _account_id, header in client.accounts():
            for page in client.pages("/v1/orders", header):
                orders += len(page)
    finally:
        client.close()
    return {"orders": orders, "requests": client.requests, "bytes": client.bytes}


# --- the hand-written loader ------------------------------------------------------------------

DECIMAL = "DECIMAL(38, 9)"
# (column, DuckDB type): the text each page gives is cast once, inside DuckDB, on insert
ORDER_COLUMNS = (
    ("id", "VARCHAR"),
    ("idempotency_key", "VARCHAR"),
    ("type", "VARCHAR"),
    ("status", "VARCHAR"),
    ("currency", "VARCHAR"),
    ("offset_cost", DECIMAL),
    ("commission", DECIMAL),
    ("total_cost", DECIMAL),
    ("quantity", DECIMAL),
    ("requested_quantity", DECIMAL),
    ("requested_value", DECIMAL),
    ("estimate_id", "VARCHAR"),
    ("payment_method", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
    ("certificate", "VARCHAR"),
    ("public_certificate_url", "VARCHAR"),
    ("metadata", "JSON"),
    ("offset_link_id", "VARCHAR"),
    ("email", "VARCHAR"),
)
BUNDLE_COLUMNS = (
    ("bundle_id", "VARCHAR"),
    ("bundle_name", "VARCHAR"),
    ("quantity", DECIMAL),
    ("unit_price", DECIMAL),
    ("gross_unit_price", DECIMAL),
    ("offset_cost", DECIMAL),
    ("insufficient_available_quantity", "BOOLEAN"),
)
PROJECT_COLUMNS = (
    ("project_id", "VARCHAR"),
    ("project_name", "VARCHAR"),
    ("project_type", "VARCHAR"),
    ("project_slug", "VARCHAR"),
    ("quantity", DECIMAL),
    ("unit_price", DECIMAL),
    ("offset_cost", DECIMAL),
    ("status", "VARCHAR"),
)
TABLES = {
    "orders": (("account_id", "VARCHAR"), *ORDER_COLUMNS),
    "orders__bundles": (
        ("account_id", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("line_idx", "BIGINT"),
        *BUNDLE_COLUMNS,
    ),
    "orders__projects": (
        ("account_id", "VARCHAR"),
        ("order_id", "VARCHAR"),
        ("line_idx", "BIGINT"),
        *PROJECT_COLUMNS,
    ),
}


class _Buffer:
    """Column lists of one table for the pages not yet flushed."""

    def __init__(self, columns: tuple[tuple[str, str], ...]) -> None:
        self.columns = columns
        self.values: dict[str, list[Any]] = {name: [] for name, _ in columns}

    def __len__(self) -> int:
        return len(self.values[self.columns[0][0]])

    def to_arrow(self) -> Any:
        import pyarrow as pa

        arrays = {}
        for name, kind in self.columns:
            arrow_type = {"BIGINT": pa.int64(), "BOOLEAN": pa.bool_()}.get(kind, pa.string())
            arrays[name] = pa.array(self.values[name], arrow_type)
        self.values = {name: [] for name, _ in self.columns}
        return pa.table(arrays)


def _add_order(orders: _Buffer, account_id: str, order: dict[str, Any]) -> None:
    values = orders.values
    values["account_id"].append(account_id)
    for name, _ in ORDER_COLUMNS:
        value = order.get(name)
        if name == "metadata" and value is not None:
            value = orjson.dumps(value).decode()
        values[name].append(value)


def _add_lines(
    target: _Buffer,
    key: str,
    columns: tuple[tuple[str, str], ...],
    account_id: str,
    order: dict[str, Any],
) -> None:
    values = target.values
    for idx, line in enumerate(order.get(key) or ()):
        values["account_id"].append(account_id)
        values["order_id"].append(order["id"])
        values["line_idx"].append(idx)
        for name, _ in columns:
            values[name].append(line.get(name))


def handwritten(
    base_url: str, api_key: str, workdir: Path, flush_orders: int = 5000
) -> dict[str, Any]:
    """Pages every account's orders into DuckDB in bulk; returns counts and requests."""
    import duckdb

    db_path = workdir / "handwritten.duckdb"
    con = duckdb.connect(str(db_path))
    con.execute("CREATE SCHEMA lune")
    for table, columns in TABLES.items():
        ddl = ", ".join(f"{name} {kind}" for name, kind in columns)
        con.execute(f"CREATE TABLE lune.{table} ({ddl})")
    inserts = {
        table: f"INSERT INTO lune.{table} SELECT "
        + ", ".join(
            name if kind in ("VARCHAR", "BIGINT", "BOOLEAN") else f"CAST({name} AS {kind})"
            for name, kind in columns
        )
        + " FROM batch"
        for table, columns in TABLES.items()
    }
    buffers = {table: _Buffer(columns) for table, columns in TABLES.items()}

    def flush() -> None:
        for table, buffer in buffers.items():
            if len(buffer):
                con.register("batch", buffer.to_arrow())
                con.execute(inserts[table])
                con.unregister("batch")

    client = LuneHttp(base_url, api_key)
    orders = 0
    try:
        con.execute("BEGIN")
        for account_id, header in client.accounts():
            for page in client.pages("/v1/orders", header):
                for order in page:
                    _add_order(buffers["orders"], account_id, order)
                    _add_lines(
                        buffers["orders__bundles"], "bundles", BUNDLE_COLUMNS, account_id, order
                    )
                    _add_lines(
                        buffers["orders__projects"], "projects", PROJECT_COLUMNS, account_id, order
                    )
                orders += len(page)
                if len(buffers["orders"]) >= flush_orders:
                    flush()
        flush()
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        rows = {
            table: con.execute(f"SELECT count(*) FROM lune.{table}").fetchone()[0]
            for table in TABLES
        }
    finally:
        client.close()
        con.close()
    return {"orders": orders, "requests": client.requests, "bytes": client.bytes, "rows": rows}


# --- the bulk loader: an NDJSON spool, then one read_json per table ------------------------------


def _struct(columns: tuple[tuple[str, str], ...]) -> str:
    return "STRUCT(" + ", ".join(f"{name} {kind}" for name, kind in columns) + ")"


# read_json's explicit column types: the typed parse happens once, inside DuckDB
SPOOL_COLUMNS = {
    "account_id": "VARCHAR",
    **dict(ORDER_COLUMNS),
    "bundles": _struct(BUNDLE_COLUMNS) + "[]",
    "projects": _struct(PROJECT_COLUMNS) + "[]",
}


def _line_select(key: str, columns: tuple[tuple[str, str], ...]) -> str:
    fields = ", ".join(f"line.{name} AS {name}" for name, _ in columns)
    return (
        f"SELECT account_id, order_id, line_idx, {fields} FROM ("
        f"SELECT account_id, id AS order_id, unnest({key}) AS line, "
        f"generate_subscripts({key}, 1) - 1 AS line_idx FROM spool)"
    )


def bulkloader(base_url: str, api_key: str, workdir: Path) -> dict[str, Any]:
    """The issue's reference: each page's orders written as newline-delimited JSON to a spool
    file (the account id added), then `orders`, `orders__bundles` and `orders__projects` built
    with one DuckDB `read_json` (explicit types: DECIMAL(38,9), TIMESTAMPTZ, JSON) and
    `unnest`."""
    import duckdb

    spool_path = workdir / "orders.ndjson"
    client = LuneHttp(base_url, api_key)
    orders = 0
    try:
        with open(spool_path, "wb") as spool:
            for account_id, header in client.accounts():
                for page in client.pages("/v1/orders", header):
                    spool.write(
                        b"".join(
                            orjson.dumps({**order, "account_id": account_id}) + b"\n"
                            for order in page
                        )
                    )
                    orders += len(page)
    finally:
        client.close()
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in SPOOL_COLUMNS.items()) + "}"
    con = duckdb.connect(str(workdir / "bulkloader.duckdb"))
    try:
        con.execute("CREATE SCHEMA lune")
        con.execute(
            "CREATE TEMP TABLE spool AS SELECT * FROM read_json("
            f"'{spool_path}', format = 'newline_delimited', columns = {columns})"
        )
        order_names = ", ".join(["account_id", *(name for name, _ in ORDER_COLUMNS)])
        con.execute(f"CREATE TABLE lune.orders AS SELECT {order_names} FROM spool")
        con.execute(
            "CREATE TABLE lune.orders__bundles AS " + _line_select("bundles", BUNDLE_COLUMNS)
        )
        con.execute(
            "CREATE TABLE lune.orders__projects AS " + _line_select("projects", PROJECT_COLUMNS)
        )
        con.execute("DROP TABLE spool")
        con.execute("CHECKPOINT")
        rows = {
            table: con.execute(f"SELECT count(*) FROM lune.{table}").fetchone()[0]
            for table in TABLES
        }
    finally:
        con.close()
        spool_path.unlink(missing_ok=True)
    return {"orders": orders, "requests": client.requests, "bytes": client.bytes, "rows": rows}
