"""dlt source for the Lune API: carbon-credit orders, client accounts and the catalogue.

Resources:
- `client_accounts`: the API key's own account (`GET /v1/accounts/me`) and its client
  accounts (`GET /v1/accounts/client`, paged). Merged on `id`.
- `bundles`, `projects`: Lune's catalogue (`GET /v1/bundles?recently_disabled=true`,
  `GET /v1/projects`), read in full each run and merged on `id`, so bundles and projects
  that Lune later hides are kept for old orders.
- `orders`: every selected account's orders (`GET /v1/orders`, `Lune-Account` header per
  client account) into `orders`, `orders__bundles`, `orders__projects`,
  `order_status_history` and `quarantined_records`. Incremental: see `sync.py` — new orders
  above a high-water mark, plus a refresh of every open order, planned at the fewest
  requests; state per account in dlt resource state, committed with the load. An open order
  the API no longer has (404) gets `vanished_at` set on its stored row (the row is read back
  from the warehouse and merged again, so its other columns stay as they were).

Personal data (`personal_data`: keep / hash / drop, see `personal.py`) is put in its form
before anything is stored; the sync state remembers the forms each account's rows were
stored in, so a change of policy is reported until a full refresh rewrites the old rows.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.typing import TDataItem, TSecretStrValue
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.sources import DltResource

from .catalogue import (
    ACCOUNT_COLUMNS,
    BUNDLE_COLUMNS,
    PROJECT_COLUMNS,
    account_row,
    bundle_row,
    project_row,
)
from .client import LuneClient
from .errors import LuneConfigError
from .personal import PersonalData, describe_form
from .reads import EarlyReads, read_accounts
from .records import history_table, order_tables, read_orders, vanished_orders_table
from .settings import (
    CONCURRENT_ACCOUNTS,
    DEFAULT_BASE_URL,
    LOOKBACK_SECONDS,
    MAX_REQUESTS_PER_SECOND,
    PAGE_SIZE,
)
from .sync import AccountState, AccountSummary, AccountSync, SyncBatch

__all__ = ["LuneClient", "RunReport", "lune_source"]

log = logging.getLogger("lune.source")


class _ExpectedHintNotices(logging.Filter):
    """Drops two of dlt's notices about hints this source sets on purpose:
    - `metadata` is JSON text in Arrow but a JSON column in the schema (the warehouse parses
      the text into its JSON type);
    - `_lune_tombstone`'s `hard_delete` hint is ignored when a first backfill is appended (the
      hint is for the merges of later runs; an appended backfill has no tombstones)."""

    _EXPECTED = (
        "when merging arrow schema with dlt schema",
        'hint for column "_lune_tombstone"',
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(expected in message for expected in self._EXPECTED)


logging.getLogger("dlt").addFilter(_ExpectedHintNotices())

_TIMESTAMP = {"data_type": "timestamp", "timezone": True}
_MERGE = {"disposition": "merge", "strategy": "delete-insert"}
# An account's orders held as parsed records before its thread checks them and makes them
# Arrow tables (memory stays bounded by this, not by the account's size; a parsed record
# takes several times its Arrow rows' memory). Read one page at a time, 100 orders took
# Arrow 1.2 ms against 0.6-0.9 ms per 100 in groups of 2,000; 2,000 also held 470 MB at peak.
BATCH_ORDERS = 1000
# Arrow conversions per yielded item: dlt recomputes a table's schema for every Arrow item it
# is given, so items are few and large (100,000 orders: 1.5 s in dlt's `write_items` for 200
# items, 1.0 s for 20).
BATCHES_PER_YIELD = 10
# ... or once converted tables have waited this long: when pages arrive slowly (Lune's 15
# requests/s), dlt writes them while the next pages are fetched, not all after the last one.
MAX_HOLD_SECONDS = 1.0


@dataclass
class RunReport:
    """Collects what a run did, per account, for the run summary."""

    accounts: list[AccountSummary] = field(default_factory=list)
    selected_accounts: list[str] = field(default_factory=list)
    # requests by kind (list_page, order_fetch, accounts, catalogue_page, retries)
    requests: Counter[str] = field(default_factory=Counter)
    # the personal_data setting, and a sentence when stored rows have an earlier form
    personal_data: str = "keep"
    personal_data_notice: str | None = None
    # the order tables were empty: the backfill was appended, not merged
    appended: bool = False
    # stops the source's early reads (their threads, the pages read ahead); the orders
    # resource does when it ends, the runner when a run ends before reading its orders
    stop_early_reads: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class _WriteMode:
    """How a run writes the order tables: appended (a first backfill into empty tables) or
    merged, and each table's hints for that; `merge_hints` for rows merged in either case."""

    append: bool
    table_hints: dict[str, Any]
    merge_hints: dict[str, Any]


@dataclass(frozen=True)
class Account:
    id: str
    scope: str  # "account" (the key's own) or "client_account"
    record: dict[str, Any]

    @property
    def header(self) -> str | None:
        """The `Lune-Account` header value; the key's own account needs none."""
        return self.id if self.scope == "client_account" else None


# the tables a first backfill appends to (see `append_first_load`)
ORDER_TABLES = ("orders", "orders__bundles", "orders__projects", "order_status_history")


def _line_hints(table: str, disposition: Any = _MERGE) -> Any:
    return dlt.mark.make_hints(
        table_name=table,
        write_disposition=disposition,
        primary_key=["account_id", "order_id", "line_idx"],
        # delete every line of a changed order, then insert its current lines
        merge_key=["account_id", "order_id"],
        columns={"_lune_tombstone": {"data_type": "bool", "hard_delete": True}},
    )


def _table_hints(history_strategy: str, append: bool = False) -> dict[str, Any]:
    """Each table's hints; with `append`, the order tables are appended to (a first
    backfill into empty tables), their keys and column hints unchanged."""
    history_disposition: Any = (
        "append" if append else {"disposition": "merge", "strategy": history_strategy}
    )
    orders_disposition: Any = "append" if append else _MERGE
    return {
        "orders": dlt.mark.make_hints(
            table_name="orders",
            write_disposition=orders_disposition,
            primary_key=["account_id", "id"],
            columns={
                "metadata": {"data_type": "json"},
                "created_at": {**_TIMESTAMP, "nullable": False},
            },
        ),
        "orders__bundles": _line_hints("orders__bundles", orders_disposition),
        "orders__projects": _line_hints("orders__projects", orders_disposition),
        # first observation wins: a status seen again (after a crash or a full refresh)
        # keeps the time it was first seen
        "order_status_history": dlt.mark.make_hints(
            table_name="order_status_history",
            write_disposition=history_disposition,
            primary_key=["account_id", "order_id", "status"],
            columns={"observed_at": {**_TIMESTAMP, "dedup_sort": "asc"}}
            if history_strategy == "delete-insert" and not append
            else None,
        ),
        "quarantined_records": dlt.mark.make_hints(
            table_name="quarantined_records",
            write_disposition="append",
            columns={"payload": {"data_type": "text"}},
        ),
    }


_QUARANTINE_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("endpoint", pa.string()),
        ("record_id", pa.string()),
        ("reason", pa.string()),
        ("payload", pa.string()),
        ("observed_at", pa.timestamp("us", tz="UTC")),
        ("load_id", pa.string()),
    ]
)


@dlt.source(name="lune", max_table_nesting=0)
def lune_source(
    api_key: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    account_ids: Sequence[str] | None = None,
    since: str | None = None,
    full_refresh: bool = False,
    page_size: int = PAGE_SIZE,
    lookback_seconds: int = LOOKBACK_SECONDS,
    max_requests_per_second: float = MAX_REQUESTS_PER_SECOND,
    request_timeout: float = 30.0,
    max_attempts: int = 6,
    backoff_initial: float = 0.5,
    backoff_max: float = 30.0,
    history_merge_strategy: str | None = None,
    run_report: RunReport | None = None,
    personal_data: str = "keep",
    personal_data_key: TSecretStrValue | None = None,
    concurrent_accounts: int = CONCURRENT_ACCOUNTS,
    read_ahead: bool = False,
    no_saved_state: bool = False,
    append_first_load: bool = False,
) -> Sequence[DltResource]:
    """Lune orders, client accounts and catalogue.

    Args:
        api_key: Lune API key (`SOURCES__LUNE__API_KEY` or `.dlt/secrets.toml`).
        base_url: API root, `https://api.lune.co` by default.
        account_ids: accounts to load orders for (the key's own account id and/or client
            account ids); all of them when empty.
        since: ISO date or timestamp; the first run of an account loads orders created since.
        full_refresh: ignore the saved sync state and re-read every order.
        history_merge_strategy: how `order_status_history` is merged; by default
            `insert-only` where the warehouse supports it, else `delete-insert` (Redshift,
            ClickHouse).
        personal_data: what to store of personal fields (the order's `email`): `keep`,
            `hash` (keyed HMAC-SHA256) or `drop`.
        personal_data_key: the secret key for `hash` (`SOURCES__LUNE__PERSONAL_DATA_KEY`
            or `.dlt/secrets.toml`), at least 16 characters.
        concurrent_accounts: how many accounts' orders are read at once, at most (1: one
            after another); all share the key's one rate limit. Accounts are added while
            those being read wait for their pages (the API's latency, the rate limit), not
            when pages come at once (`reads.read_accounts`).
        read_ahead: start the requests every run makes (accounts, catalogue, each account's
            newest page) as soon as the source is built, while the pipeline sets itself up.
            When every account is read through (`full_refresh` or `no_saved_state`, without
            `since`), each account's following pages are read ahead too.
        no_saved_state: the caller knows no account has saved sync state (the pipeline's
            first run into a new warehouse). Only widens `read_ahead`: were it wrong, the
            sync would still stop where its state says, and a few pages read ahead would go
            unused.
        append_first_load: when the warehouse's order tables are empty and no other load
            package is pending, append the backfill to them instead of merging (no staging,
            no de-duplication). Only for a runner that repairs a killed run's load jobs
            first (`pipelines/first_load.py`).
    """
    personal = PersonalData.from_config(personal_data, personal_data_key)
    client = LuneClient(
        api_key,
        base_url,
        max_requests_per_second=max_requests_per_second,
        timeout=request_timeout,
        max_attempts=max_attempts,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
    )
    report = run_report if run_report is not None else RunReport()
    client.stats = report.requests
    report.personal_data = personal.mode
    since_at = _parse_since(since)
    if not 1 <= page_size <= 100:
        raise LuneConfigError(f"page_size must be between 1 and 100, not {page_size}.")
    if concurrent_accounts < 1:
        raise LuneConfigError(f"concurrent_accounts must be 1 or more, not {concurrent_accounts}.")
    accounts_cache: list[Account] = []
    early = (
        EarlyReads(
            client,
            _own_account,
            _client_accounts,
            ("bundles", "projects"),
            page_size,
            wanted=lambda account: not account_ids or account.id in account_ids,
            read_through=(full_refresh or no_saved_state) and since_at is None,
        )
        if read_ahead
        else None
    )
    if early is not None:
        report.stop_early_reads = early.close

    def accounts() -> list[Account]:
        if not accounts_cache:
            accounts_cache.extend(early.accounts() if early is not None else _list_accounts(client))
        return accounts_cache

    def selected_accounts() -> list[Account]:
        everything = accounts()
        if not account_ids:
            return everything
        known = {a.id: a for a in everything}
        unknown = [i for i in account_ids if i not in known]
        if unknown:
            raise LuneConfigError(
                f"Configured account ids {', '.join(unknown)} are not accounts of this API key "
                f"(known: {', '.join(known)})."
            )
        return [known[i] for i in account_ids]

    @dlt.resource(
        name="client_accounts",
        write_disposition=_MERGE,
        primary_key="id",
        columns=ACCOUNT_COLUMNS,
    )
    def client_accounts() -> Iterator[TDataItem]:
        synced_at = datetime.now(UTC)
        yield [account_row(a.record, a.scope, synced_at) for a in accounts()]

    def catalogue(name: str, columns: dict[str, Any], to_row: Any) -> DltResource:
        """A catalogue read in full each run, merged on `id` so hidden entries are kept."""

        def read() -> Iterator[TDataItem]:
            synced_at = datetime.now(UTC)
            pages = (
                early.catalogue[name].result()
                if early is not None
                else client.paginate(
                    f"/v1/{name}", params={"recently_disabled": "true"}, kind="catalogue_page"
                )
            )
            for page in pages:
                yield [to_row(r, synced_at) for r in page if isinstance(r, dict)]

        return dlt.resource(
            read, name=name, write_disposition=_MERGE, primary_key="id", columns=columns
        )

    bundles = catalogue("bundles", BUNDLE_COLUMNS, bundle_row)
    projects = catalogue("projects", PROJECT_COLUMNS, project_row)

    @dlt.resource(name="orders")
    def orders() -> Iterator[TDataItem]:
        state = dlt.current.resource_state().setdefault("accounts", {})
        load_id = dlt.current.load_package_state()["load_id"]
        observed_at = datetime.now(UTC)
        # Append or merge, decided before the account threads build their tables (which
        # differ); the warehouse is asked while the early reads are under way.
        append = append_first_load and _order_tables_empty()
        report.appended = append
        strategy = history_merge_strategy or _history_strategy()
        merge = _table_hints(strategy)
        mode = _WriteMode(append, _table_hints(strategy, append=True) if append else merge, merge)
        selected = selected_accounts()
        report.selected_accounts = [a.id for a in selected]

        earlier_forms: dict[str, list[str]] = {}  # account id -> forms other than today's
        syncs: list[AccountSync] = []
        stored_forms: list[list[str]] = []
        for account in selected:
            previous = AccountState.from_dict(state.get(account.id))
            account_state = AccountState() if full_refresh else previous
            stored_forms.append(account_state.personal_data)
            if any(form != personal.form for form in account_state.personal_data):
                earlier_forms[account.id] = [
                    f for f in account_state.personal_data if f != personal.form
                ]
            sync = AccountSync(
                client,
                account.id,
                account.header,
                account_state,
                observed_at=observed_at,
                load_id=load_id,
                since=since_at,
                page_size=page_size,
                lookback_seconds=lookback_seconds,
                personal=personal,
                previously_open=list(previous.open) if full_refresh else (),
                early=early.orders(account.header) if early is not None else None,
                read_together=BATCH_ORDERS,
            )
            syncs.append(sync)
            report.accounts.append(sync.summary)

        # Each account's thread turns its batches (BATCH_ORDERS orders) into Arrow tables,
        # which are yielded every BATCHES_PER_YIELD batches or once the oldest has waited
        # MAX_HOLD_SECONDS.
        def convert(index: int, batch: SyncBatch) -> tuple[int, list[tuple[str, pa.Table]]]:
            return len(batch.orders), list(
                _tables(selected[index].id, batch, observed_at, load_id, mode.append)
            )

        converted = _Converted()
        try:
            for index, tables in read_accounts(syncs, concurrent_accounts, convert):
                if tables is not None:
                    converted.add(*tables)
                    if converted.due():
                        yield from converted.take(mode)
                    continue
                # the account is read through: its rows (held or yielded), then its state
                account, sync = selected[index], syncs[index]
                if sync.vanished:
                    hints = mode.merge_hints
                    yield from _vanished(account.id, sync.vanished, observed_at, hints, personal)
                account_state = sync.state
                if account_state.high_water is not None:  # the account has stored orders
                    account_state.personal_data = sorted({*stored_forms[index], personal.form})
                state[account.id] = account_state.to_dict()
                log.info("account %s: %s", account.id, sync.summary.to_dict())
            yield from converted.take(mode)
        finally:
            # pages read ahead for accounts whose turn never came (a failed run)
            for sync in syncs:
                sync.close_early()
            if early is not None:
                early.close()
        if earlier_forms:
            report.personal_data_notice = _earlier_forms_notice(personal, earlier_forms)
            log.warning(report.personal_data_notice)

    return [client_accounts, bundles, projects, orders]


def _earlier_forms_notice(personal: PersonalData, earlier: dict[str, list[str]]) -> str:
    """One sentence: stored rows of these accounts hold personal data in an earlier form."""
    forms = sorted({form for forms in earlier.values() for form in forms})
    described = " or ".join(dict.fromkeys(describe_form(f, personal.form) for f in forms))
    return (
        f"personal_data is {personal.mode!r}, but orders stored earlier in {len(earlier)} "
        f"account(s) hold {described}; they keep that form until a run with --full-refresh "
        "rewrites them."
    )


def _vanished(
    account_id: str,
    order_ids: list[str],
    observed_at: datetime,
    hints: dict[str, Any],
    personal: PersonalData,
) -> Iterator[TDataItem]:
    """The stored rows of open orders the API no longer has, with `vanished_at` set.

    dlt merges rows whole (delete-insert), so the row is read back from the warehouse and
    written again with the one column changed, in the same load package as the state that
    stops tracking the order: both land, or neither does. The row is written in the
    current personal-data form (it may have been stored under another).
    """
    pipeline = dlt.current.pipeline()
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("orders")
        placeholders = ", ".join(["%s"] * len(order_ids))
        with client.execute_query(
            f"select * from {table} where account_id = %s and id in ({placeholders})",
            account_id,
            *order_ids,
        ) as cursor:
            columns = [d[0] for d in cursor.description]
            rows = [
                personal.apply_stored(dict(zip(columns, row, strict=True)))
                for row in cursor.fetchall()
            ]
    missing = set(order_ids) - {row["id"] for row in rows}
    if missing:
        log.warning(
            "vanished order(s) %s of account %s have no stored row to mark",
            ", ".join(sorted(missing)),
            account_id,
        )
    if rows:
        yield dlt.mark.with_hints(
            vanished_orders_table(rows, observed_at), hints["orders"], create_table_variant=True
        )


@dataclass
class _Converted:
    """Arrow tables made from the accounts' batches, by warehouse table, not yet yielded."""

    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    orders: int = 0
    since: float = 0.0  # monotonic time of the oldest table held

    def due(self) -> bool:
        """True when the tables held should be yielded now: `BATCHES_PER_YIELD` batches'
        worth of orders, or the oldest held `MAX_HOLD_SECONDS`."""
        if not self.tables:
            return False
        return (
            self.orders >= BATCH_ORDERS * BATCHES_PER_YIELD
            or time.monotonic() - self.since >= MAX_HOLD_SECONDS
        )

    def add(self, orders: int, tables: list[tuple[str, pa.Table]]) -> None:
        """Holds one batch's tables (`orders` orders)."""
        if not tables:
            return
        if not self.tables:
            self.since = time.monotonic()
        self.orders += orders
        for name, table in tables:
            self.tables.setdefault(name, []).append(table)

    def take(self, mode: _WriteMode) -> Iterator[TDataItem]:
        """Yields one Arrow table per warehouse table, marked with its hints, and forgets them."""
        tables, self.tables, self.orders = self.tables, {}, 0
        for name, parts in tables.items():
            table = (
                parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
            )
            yield dlt.mark.with_hints(table, mode.table_hints[name], create_table_variant=True)


def _tables(
    account_id: str, batch: SyncBatch, observed_at: datetime, load_id: str, append: bool
) -> Iterator[tuple[str, pa.Table]]:
    """(warehouse table, Arrow table) for one account's batch. Appended line tables leave out
    tombstones (they only tell a merge to delete an order's old lines)."""
    if batch.orders:
        raw = batch.raw if batch.raw is not None else read_orders(batch.orders)
        tables = order_tables(
            account_id, batch.orders, observed_at, tombstones=not append, arrays=[raw]
        )
        yield from zip(("orders", "orders__bundles", "orders__projects"), tables, strict=True)
        if batch.history:  # rows of orders in this batch
            yield (
                "order_status_history",
                history_table(account_id, raw, batch.history, observed_at, load_id),
            )
    if batch.quarantine:
        for row in batch.quarantine:
            log.warning("quarantined a record of account %s: %s", account_id, row["reason"])
        yield (
            "quarantined_records",
            pa.Table.from_pylist(batch.quarantine, schema=_QUARANTINE_SCHEMA),
        )


def _history_strategy() -> str:
    """`insert-only` where the running pipeline's warehouse supports it, else `delete-insert`."""
    destination = dlt.current.pipeline().destination
    if destination is None:  # extracted now, loaded later: dlt's default strategy
        return "insert-only"
    strategies = destination.capabilities().supported_merge_strategies
    return "insert-only" if "insert-only" in strategies else "delete-insert"


def _order_tables_empty() -> bool:
    """True when no order table of the running pipeline's warehouse holds a row and no other
    load package is waiting to be loaded (it could write to them before this one)."""
    pipeline = dlt.current.pipeline()
    if pipeline.list_extracted_load_packages() or pipeline.list_normalized_load_packages():
        return False
    with pipeline.sql_client() as client:
        for table in ORDER_TABLES:
            name = client.make_qualified_table_name(table)
            try:
                if client.execute_sql(f"select 1 from {name} limit 1"):
                    return False
            except DatabaseUndefinedRelation:
                continue
    return True


def _list_accounts(client: LuneClient) -> list[Account]:
    return [_own_account(client), *_client_accounts(client)]


def _own_account(client: LuneClient) -> Account:
    me = client.get("/v1/accounts/me", kind="accounts")
    return Account(me["id"], "account", me)


def _client_accounts(client: LuneClient) -> list[Account]:
    found = []
    for page in client.paginate("/v1/accounts/client", kind="accounts", prefetch=False):
        found.extend(Account(a["id"], "client_account", a) for a in page)
    return found


def _parse_since(since: str | None) -> datetime | None:
    if not since:
        return None
    try:
        parsed = datetime.fromisoformat(str(since))
    except ValueError:
        raise LuneConfigError(
            f"since={since!r} is not an ISO date or timestamp (e.g. 2025-01-01)."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
