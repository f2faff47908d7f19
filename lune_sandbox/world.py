"""The sandbox's data: accounts, orders, emission estimates and a clock, generated from a seed
and moved on demand.

Everything random comes from one `random.Random(seed)` (each order's lazily priced plan from a
seed drawn from it), consumed only by calls that change the world (generate, advance,
add_client_account, inject_malformed, add_estimate, creating orders), never by reads, so two
worlds given the same seed and the same calls stay identical. The few estimates every account
starts with come from a generator of their own (seeded from the world's seed and the account),
so that holding them changed none of the orders a seed generates. Webhooks (`webhooks`) have
generators of their own too: registering endpoints and delivering events change no order.
"""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from .book import NEWEST_END, OrderBook
from .catalogue import CENT, FX_RATES, BundleSpec, Catalogue
from .errors import ApiError
from .estimates import Estimate, open_estimate_masses
from .lazy import LazyHistory
from .orders import OPEN_STATUSES, OrderEntry, iso_ms
from .pricing import HUNDRED, TONNE_PLACES, Purchase, decimal_text, truncate
from .validation import OrderRequest
from .webhooks import WebhookHub

DEFAULT_API_KEY = "sandbox_sk_live_do_not_use"
HISTORY_START = datetime(2023, 1, 1, tzinfo=UTC)
DEFAULT_NOW = datetime(2026, 11, 1, tzinfo=UTC)
MALFORMED_KINDS = ("missing_id", "missing_created_at", "bad_decimal", "wrong_type")

_ID_TRANSLATION = str.maketrans({"+": "x", "/": "Q"})
_OWN_ACCOUNT = ("Northwind Freight", "GBP")
_CLIENT_NAMES = (
    "Harbour Coffee Co",
    "Fjord Outdoor AB",
    "Pacific Parcel Inc",
    "Alpine Rail GmbH",
    "Maple Mobility",
    "Tundra Apparel",
    "Lagoon Travel",
    "Copper Kettle Foods",
    "Aurora Cloud",
    "Baltic Build",
)
_CLIENT_CURRENCIES = ("USD", "EUR", "SEK", "GBP", "CHF", "DKK", "NOK", "PLN", "CAD", "AUD")
# The disabled bundle was still on sale before this; only older orders may name it.
_DISABLED_BUNDLE_CUTOFF = "2026-10-01"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class AccountState:
    """An account's record as served, plus what generating its orders needs."""

    __slots__ = (
        "book",
        "currency",
        "estimates",
        "idem_seq",
        "index",
        "links",
        "public",
        "record",
        "selection",
    )

    def __init__(self, record: dict[str, Any], index: int, selection: list, links: list[str]):
        self.record = record
        self.index = index
        self.currency: str = record["currency"]
        self.book = OrderBook()
        self.selection: list[tuple[BundleSpec, Decimal]] = selection
        self.links = links
        self.idem_seq = 0
        self.public = record["external_pages_visibility"] == "public"
        self.estimates: dict[str, Estimate] = {}  # by id, in the order they were made

    @property
    def id(self) -> str:
        return self.record["id"]


class SandboxWorld:
    """Accounts and their orders as Lune would hold them for one API key.

    Use `SandboxWorld.generate(...)`. All reads return deep copies; all mutation happens under
    `lock` (an RLock the HTTP server also takes while it reads).
    """

    def __init__(self, seed: int = 7, api_key: str = DEFAULT_API_KEY) -> None:
        self.seed = seed
        self.api_key = api_key
        self.lock = threading.RLock()
        self.catalogue = Catalogue()
        self.open_share = 0.05
        self._rng = random.Random(seed)
        self._now_ms = _ms(DEFAULT_NOW)
        self._ids: set[str] = set()
        self._accounts: dict[str, AccountState] = {}
        self._open: dict[tuple[str, str], OrderEntry] = {}
        self._malformed_seq = 0
        self._organisation_id = self._new_id()
        # registered webhooks and the events of every change from now on (own generators)
        self.webhooks = WebhookHub(seed, self._organisation_id, self._new_id)
        name, currency = _OWN_ACCOUNT
        self._add_account(name, currency, scope="account")

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        seed: int = 7,
        client_accounts: int = 4,
        orders_per_account: int | Mapping[int, int] = 250,
        empty_client_accounts: int = 1,
        open_share: float = 0.05,
        api_key: str = DEFAULT_API_KEY,
        lazy: bool = False,
    ) -> SandboxWorld:
        """A deterministic world: the key's own account plus `client_accounts` client accounts.

        `orders_per_account` is a count for every account, or {account index: count} with
        index 0 the own account and 1.. the client accounts (missing indexes get none). With a
        count, the last `empty_client_accounts` client accounts get no orders. `open_share` of
        each account's orders (the most recent ones) are not yet in a terminal status.
        `lazy`: hold each account's generated terminal orders as arrays and render them from
        the seed when read (`lazy.py`), for worlds of a million orders; another world than
        the eager one of the same seed, as deterministic.
        """
        if client_accounts < 0 or not 0 <= empty_client_accounts <= client_accounts:
            raise ValueError("need 0 <= empty_client_accounts <= client_accounts")
        if not 0.0 <= open_share <= 1.0:
            raise ValueError("open_share must be between 0 and 1")
        world = cls(seed=seed, api_key=api_key)
        world.open_share = open_share
        with world.lock:
            for index in range(client_accounts):
                name = _CLIENT_NAMES[index % len(_CLIENT_NAMES)]
                if index >= len(_CLIENT_NAMES):
                    name = f"{name} {index // len(_CLIENT_NAMES) + 1}"
                currency = _CLIENT_CURRENCIES[index % len(_CLIENT_CURRENCIES)]
                world._add_account(name, currency, scope="client_account")
            accounts = list(world._accounts.values())
            for account in accounts:
                if isinstance(orders_per_account, Mapping):
                    count = int(orders_per_account.get(account.index, 0))
                elif account.index > client_accounts - empty_client_accounts:
                    count = 0
                else:
                    count = int(orders_per_account)
                world._generate_history(account, count, _ms(HISTORY_START), open_share, lazy)
        return world

    def _new_id(self, rng: random.Random | None = None, remember: bool = True) -> str:
        """32 alphanumeric characters like Lune's ids (base64 of 24 random bytes, made
        alphanumeric; about 10x faster than choosing 32 characters one by one). Ids of orders
        rendered from a lazy history are not remembered (144 random bits do not collide)."""
        rng = rng or self._rng
        while True:
            raw = base64.b64encode(rng.randbytes(24)).decode()
            candidate = raw.translate(_ID_TRANSLATION)
            if not remember:
                return candidate
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def _add_account(
        self,
        name: str,
        currency: str,
        scope: str,
        beneficiary: str | None = None,
        handle: str | None = None,
        external_pages_visibility: str | None = None,
    ) -> AccountState:
        if currency not in FX_RATES:
            raise ValueError(f"Lune does not support account currency {currency!r}")
        rng = self._rng
        index = len(self._accounts)
        record: dict[str, Any] = {
            "id": self._new_id(),
            "name": name,
            "organisation_id": self._organisation_id,
            "handle": handle or "".join(c if c.isalnum() else "-" for c in name.lower()),
            "currency": currency,
            "type": "live",
            "logo": None,
            "beneficiary": beneficiary if beneficiary is not None else f"{name} Ltd",
            "bundle_portfolio_id": self._new_id() if rng.random() < 0.3 else None,
            "external_pages_visibility": external_pages_visibility
            or ("public" if rng.random() < 0.6 else "hidden"),
            "scope": scope,
        }
        if scope == "account":
            record["sibling_id"] = self._new_id()
        enabled = self.catalogue.enabled_bundles
        main, extra = rng.sample(enabled, 2)
        share = Decimal(rng.choice((70, 80, 90, 95)))
        selection = [(main, share), (extra, HUNDRED - share)]
        links = [self._new_id() for _ in range(2)]
        account = AccountState(record, index, selection, links)
        self._accounts[account.id] = account
        # a few estimates not yet ordered, drawn apart from the world's generator
        own = random.Random(f"lune-sandbox estimates {self.seed} {account.id}")
        for mass in open_estimate_masses(own):
            self._remember_estimate(account, self._new_id(own), mass)
        return account

    def _remember_estimate(self, account: AccountState, estimate_id: str, mass: Decimal) -> None:
        account.estimates[estimate_id] = Estimate(estimate_id, account.id, mass)

    def _remember_estimates_of(self, account: AccountState, entries: list[OrderEntry]) -> None:
        """The estimates generated by-estimate orders were placed from: the requested mass."""
        for entry in entries:
            estimate_id = entry.facts["estimate_id"]
            if estimate_id is not None:
                mass = Decimal(entry.facts["requested_quantity"])
                self._remember_estimate(account, estimate_id, mass)

    def _generate_history(
        self,
        account: AccountState,
        count: int,
        start_ms: int,
        open_share: float,
        lazy: bool = False,
    ) -> None:
        """`count` orders spread from `start_ms` to now, the newest ones open, a few tied."""
        if count <= 0:
            return
        rng = self._rng
        times = sorted(rng.randint(start_ms, self._now_ms) for _ in range(count))
        # a few groups of orders created in the same millisecond (ties broken by id)
        groups = 0 if count < 4 else min(20, max(1, count // 50))
        for _ in range(groups):
            first = rng.randrange(count - 1)
            for j in range(first + 1, min(count, first + rng.randint(2, 4))):
                times[j] = times[first]
        statuses = self._history_statuses(account, count, open_share)
        if lazy:
            history = LazyHistory(self, account, times, statuses, rng)
            account.book.attach(history)
            # the ones still open change with advance(): ordinary entries from now on
            opened = history.open_entries()
            account.book.add_many(opened)
            self._remember_estimates_of(account, opened)
            account.idem_seq = count  # keys of new orders count on from the history's
            for entry in opened:
                self._open[(account.id, entry.id or "")] = entry
            return
        entries = [
            self._build_order(account, ms, status)
            for ms, status in zip(times, statuses, strict=True)
        ]
        account.book.add_many(entries)
        self._remember_estimates_of(account, entries)
        for entry in entries:
            if entry.is_open:
                self._open[(account.id, entry.id or "")] = entry

    def _history_statuses(self, account: AccountState, count: int, open_share: float) -> list[str]:
        """Statuses by age: open ones among the newest, the rest mostly complete."""
        rng = self._rng
        opened = min(count, round(open_share * count))
        window = min(count, max(opened * 2, opened + 3))
        open_positions = sorted(rng.sample(range(count - window, count), opened))
        statuses = []
        for _ in range(count):
            roll = rng.random()
            statuses.append("cancelled" if roll < 0.04 else "failed" if roll < 0.06 else "complete")
        is_open = set(open_positions)
        terminal = [i for i in range(count) if i not in is_open]
        if len(terminal) >= 20:  # every account with some history shows both failure modes
            statuses[terminal[0]] = "cancelled"
            statuses[terminal[1]] = "failed"
        # rotate so that every open status appears, starting at a different one per account
        for n, position in enumerate(open_positions):
            statuses[position] = OPEN_STATUSES[(account.index + n) % len(OPEN_STATUSES)]
        return statuses

    def _build_order(
        self,
        account: AccountState,
        created_ms: int,
        status: str,
        request: OrderRequest | None = None,
        *,
        rng: random.Random | None = None,
        order_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> OrderEntry:
        """A new order (random unless `request` says what to buy), in `status`.

        A lazy history (`lazy.py`) renders its orders with their own `rng`, their `order_id`
        and the `idempotency_key` their position gives them, and changes nothing in the world.
        """
        rng = rng or self._rng
        order_id = order_id or self._new_id()
        created_at = iso_ms(created_ms)
        purchase, facts = (
            self._requested(account, request) if request else self._random(account, created_at, rng)
        )
        facts.update(id=order_id, currency=account.currency, created_at=created_at)
        if request is None:
            roll = rng.random()
            facts["payment_method"] = "invoice" if roll < 0.6 else "card" if roll < 0.75 else None
            facts["metadata"] = self._random_metadata(rng)
            if rng.random() < 0.3:
                if idempotency_key is None:
                    account.idem_seq += 1
                    idempotency_key = f"ord-{account.idem_seq:06d}"
                facts["idempotency_key"] = idempotency_key
            if rng.random() < 0.08:
                facts["offset_link_id"] = rng.choice(account.links)
                facts["email"] = f"buyer{rng.randint(1, 999)}@example.com"
        public_url = None
        if account.public:
            handle = account.record["handle"]
            public_url = f"https://sustainability.lune.co/{handle}?certificate={order_id}"
        entry = OrderEntry(
            account.id,
            facts,
            purchase,
            seed=rng.getrandbits(64),
            catalogue=self.catalogue,
            public_url=public_url,
            fingerprint=request.fingerprint if request else None,
        )
        entry.force(status, rng)
        return entry

    @staticmethod
    def _facts(kind: str) -> dict[str, Any]:
        return {
            "idempotency_key": None,
            "type": "value" if kind == "value" else "quantity",
            "payment_method": None,
            "metadata": {},
            "offset_link_id": None,
            "email": None,
            "requested_quantity": None,
            "requested_value": None,
            "estimate_id": None,
        }

    def _random(
        self, account: AccountState, created_at: str, rng: random.Random | None = None
    ) -> tuple[Purchase, dict[str, Any]]:
        rng = rng or self._rng
        selection = self._random_selection(account, created_at, rng)
        roll = rng.random()
        kind = "quantity" if roll < 0.55 else "value" if roll < 0.9 else "estimate"
        facts = self._facts(kind)
        if kind == "value":
            fx = FX_RATES[account.currency]
            value = (Decimal(str(round(10 ** rng.uniform(0.7, 4.3), 2))) * fx).quantize(CENT)
            facts["requested_value"] = f"{value:.2f}"
            return Purchase("value", account.currency, value, selection), facts
        if kind == "estimate":
            facts["estimate_id"] = self._new_id(rng, remember=rng is self._rng)
            total = Decimal(str(round(10 ** rng.uniform(-2, 1.7), TONNE_PLACES)))
        else:
            places = rng.choice((0, 0, 1, 2, 3, 3, 6))
            amount = round(10 ** rng.uniform(-1.3, 2.7), places)
            total = Decimal(int(amount)) if places == 0 else Decimal(str(amount))
        total = max(total, Decimal("0.01"))
        facts["requested_quantity"] = f"{total:f}"
        return Purchase("quantity", account.currency, total, selection), facts

    def _random_selection(
        self, account: AccountState, created_at: str, rng: random.Random | None = None
    ) -> list[tuple[BundleSpec, Decimal]]:
        rng = rng or self._rng
        if rng.random() < 0.6:
            return account.selection
        pool = list(self.catalogue.enabled_bundles)
        if created_at < _DISABLED_BUNDLE_CUTOFF:
            pool = list(self.catalogue.bundles)
        chosen = rng.sample(pool, rng.choice((1, 1, 2, 2, 3)))
        cuts = sorted(rng.sample(range(5, 100, 5), len(chosen) - 1))
        bounds = [0, *cuts, 100]
        return [(b, Decimal(bounds[i + 1] - bounds[i])) for i, b in enumerate(chosen)]

    def _random_metadata(self, rng: random.Random | None = None) -> dict[str, str]:
        rng = rng or self._rng
        roll = rng.random()
        if roll < 0.4:
            return {}
        metadata = {"customer_id": f"cus_{rng.randint(1, 400)}"}
        if roll > 0.85:
            metadata["invoice_ref"] = f"INV-{rng.randint(1000, 9999)}"
        return metadata

    def _requested(
        self, account: AccountState, request: OrderRequest
    ) -> tuple[Purchase, dict[str, Any]]:
        """What an order the API was asked to create buys.

        `requested_quantity` / `requested_value` are what was asked for (an estimate's whole
        mass); `quantity_trunc` only cuts what is bought (`request.places`, see pricing).
        """
        facts = self._facts(request.kind)
        facts["idempotency_key"] = request.idempotency_key
        facts["metadata"] = request.metadata
        facts["payment_method"] = "invoice"
        selection = request.selection or account.selection
        places = request.places
        if request.kind == "value":
            assert request.value is not None
            facts["requested_value"] = f"{request.value:f}"
            purchase = Purchase("value", account.currency, request.value, selection, places)
            return purchase, facts
        if request.kind == "estimate":
            assert request.estimate_id is not None
            facts["estimate_id"] = request.estimate_id
            requested = account.estimates[request.estimate_id].tonnes
        else:
            assert request.requested is not None
            requested = request.requested
        facts["requested_quantity"] = decimal_text(requested)
        purchase = Purchase(
            "quantity", account.currency, requested, selection, places, request.masses
        )
        return purchase, facts

    # --- reads -----------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The sandbox clock (UTC); starts at 2026-11-01T00:00:00Z and moves with advance()."""
        return datetime.fromtimestamp(self._now_ms / 1000, tz=UTC)

    @property
    def default_account(self) -> dict[str, Any]:
        """The API key's own account (Account schema, scope `account`)."""
        with self.lock:
            return dict(self._default().record)

    @property
    def client_accounts(self) -> list[dict[str, Any]]:
        """Client accounts (ClientAccount schema) in creation order."""
        with self.lock:
            return [dict(a.record) for a in list(self._accounts.values())[1:]]

    def account_ids(self) -> list[str]:
        """The own account's id first, then the client accounts' ids."""
        with self.lock:
            return list(self._accounts)

    def orders(self, account_id: str, include_malformed: bool = False) -> list[dict[str, Any]]:
        """The account's orders exactly as the API serves them, newest first (deep copies).

        Records added by `inject_malformed` are served by the API too but are not orders, so
        they are left out unless `include_malformed`.
        """
        with self.lock:
            book = self.account_state(account_id).book
            return [
                orjson.loads(e.blob) for e in book.newest_first() if e.valid or include_malformed
            ]

    def order(self, account_id: str, order_id: str) -> dict[str, Any]:
        """One order as the API serves it (deep copy); KeyError when the account has none."""
        with self.lock:
            entry = self.account_state(account_id).book.by_id.get(order_id)
            if entry is None:
                raise KeyError(f"account {account_id} has no order {order_id}")
            return orjson.loads(entry.blob)

    @property
    def bundles(self) -> list[dict[str, Any]]:
        """Every bundle orders may name (recently disabled ones too), own account's currency."""
        currency = self._default().currency
        return orjson.loads(orjson.dumps(self.catalogue.bundles_json(currency)))

    @property
    def projects(self) -> list[dict[str, Any]]:
        """Every project orders may name, with the bundles it belongs to."""
        currency = self._default().currency
        return orjson.loads(orjson.dumps(self.catalogue.projects_json(currency)))

    def account_state(self, account_id: str) -> AccountState:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise KeyError(f"no account {account_id} in this sandbox") from None

    def find_account_state(self, account_id: str) -> AccountState | None:
        return self._accounts.get(account_id)

    def estimates(self, account_id: str, include_ordered: bool = True) -> list[dict[str, Any]]:
        """The account's emission estimates as `GET /v1/estimates/electricity/{id}` serves
        them, oldest first; without `include_ordered`, only those no live order was placed
        from (the ones `POST /v1/orders/by-estimate` accepts)."""
        with self.lock:
            account = self.account_state(account_id)
            ordered = set() if include_ordered else self._ordered_estimates(account)
            return [
                self.estimate_json(account, estimate)
                for estimate in account.estimates.values()
                if estimate.id not in ordered
            ]

    def estimate_json(self, account: AccountState, estimate: Estimate) -> dict[str, Any]:
        return estimate.json(account.currency, account.selection, self.catalogue)

    @staticmethod
    def _ordered_estimates(account: AccountState) -> set[str]:
        """Estimates with an order that is not cancelled or failed: Lune orders each once."""
        return {
            entry.facts["estimate_id"]
            for entry in account.book.by_id.values()
            if entry.valid
            and entry.facts["estimate_id"] is not None
            and entry.status not in ("cancelled", "failed")
        }

    def _default(self) -> AccountState:
        return next(iter(self._accounts.values()))

    # --- changes ---------------------------------------------------------------------------

    def advance(
        self,
        new_orders: int = 20,
        transitions: int = 30,
        late_orders: int = 0,
        seconds: float = 3600.0,
    ) -> dict[str, list[str]]:
        """Moves the clock on by `seconds`, steps open orders and creates new ones.

        - `transitions` distinct random open orders (all accounts) take one lifecycle step;
        - `new_orders` orders are created between the old and the new clock, spread over the
          accounts that have orders (sometimes two in the same millisecond);
        - `late_orders` orders appear with a created_at up to 120 s before the newest order
          their account had, as if they became visible late.
        Returns {"created": [order ids], "changed": [order ids]}.
        """
        if min(new_orders, transitions, late_orders) < 0 or seconds < 0:
            raise ValueError("advance() takes non-negative counts and seconds")
        with self.lock:
            rng = self._rng
            start = self._now_ms
            newest_before = {a.id: a.book.newest_created_at for a in self._accounts.values()}
            self._now_ms += int(seconds * 1000)
            changed: list[str] = []
            pool = list(self._open.values())
            for entry in rng.sample(pool, min(transitions, len(pool))):
                before = (entry.status, entry.stage, entry.retired)
                if entry.step(rng):
                    changed.append(entry.id or "")
                    self._announce(entry, before)
                if not entry.is_open:
                    del self._open[(entry.account_id, entry.id or "")]
            targets = [a for a in self._accounts.values() if a.book.valid_count]
            targets = targets or [self._default()]
            created: list[str] = []
            previous: tuple[AccountState, int] | None = None
            for ms in sorted(rng.randint(start + 1, self._now_ms) for _ in range(new_orders)):
                if previous is not None and rng.random() < 0.1:
                    account, ms = previous  # same account, same millisecond: a tie
                else:
                    account = rng.choice(targets)
                created.append(self._add_new(account, ms))
                previous = (account, ms)
            for _ in range(late_orders):
                account = rng.choice(targets)
                newest = newest_before[account.id]
                base = _ms(datetime.fromisoformat(newest)) if newest else start
                ms = max(_ms(HISTORY_START), base - rng.randint(0, 120_000))
                created.append(self._add_new(account, ms))
            return {"created": created, "changed": changed}

    def _add_new(self, account: AccountState, ms: int) -> str:
        status = "received" if self._rng.random() < 0.7 else "placed"
        entry = self._build_order(account, ms, status)
        account.book.add(entry)
        self._remember_estimates_of(account, [entry])
        self._open[(account.id, entry.id or "")] = entry
        self._announce(entry, None)
        return entry.id or ""

    def _announce(self, entry: OrderEntry, before: tuple[str, str, int] | None) -> None:
        """Hands a change to the webhooks (events only while an endpoint listens; nothing
        here draws from the world's generator)."""
        if self.webhooks.listening(entry.account_id):
            self.webhooks.order_changed(entry, before, self._now_ms)

    def add_estimate(self, account_id: str, mass: Decimal | str) -> dict[str, Any]:
        """A new electricity estimate of `mass` tonnes (to the gram) in the account; as served.

        For tests and integrations that need an estimate of a known mass to order from.
        """
        try:
            tonnes_ = Decimal(mass)
        except ArithmeticError:
            raise ValueError(f"mass must be a decimal number of tonnes, not {mass!r}") from None
        with self.lock:
            account = self.account_state(account_id)
            estimate = Estimate(self._new_id(), account.id, tonnes_)
            account.estimates[estimate.id] = estimate
            return self.estimate_json(account, estimate)

    def add_client_account(
        self,
        name: str = "Newco",
        currency: str = "EUR",
        orders: int = 30,
        beneficiary: str | None = None,
        handle: str | None = None,
        external_pages_visibility: str | None = None,
    ) -> dict[str, Any]:
        """A new client account with `orders` orders from the last 90 days; its record."""
        with self.lock:
            account = self._add_account(
                name, currency, "client_account", beneficiary, handle, external_pages_visibility
            )
            start = self._now_ms - 90 * 24 * 3600 * 1000
            self._generate_history(account, orders, start, max(self.open_share, 0.1))
            return dict(account.record)

    def inject_malformed(self, account_id: str, kind: str) -> dict[str, Any]:
        """Adds a record that breaks the contract, served in /v1/orders like any order.

        kinds: missing_id, missing_created_at (placed at the newest end), bad_decimal
        (quantity "12,5"), wrong_type (bundles is a string). Returns the raw record.
        """
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MALFORMED_KINDS)}")
        with self.lock:
            account = self.account_state(account_id)
            ms = self._now_ms - self._rng.randint(0, 60_000)
            record = dict(self._build_order(account, ms, "complete").record)
            record["idempotency_key"] = None
            self._malformed_seq += 1
            order_id = record["id"]
            if kind == "missing_id":
                del record["id"]
            elif kind == "missing_created_at":
                del record["created_at"]
            elif kind == "bad_decimal":
                record["quantity"] = "12,5"
            else:
                record["bundles"] = "not-a-list"
            key = (
                record.get("created_at", NEWEST_END),
                order_id if "id" in record else f"{NEWEST_END}{self._malformed_seq:08d}",
            )
            account.book.add(OrderEntry.malformed(account.id, record, key))
            return orjson.loads(orjson.dumps(record))

    def forget_order(self, account_id: str, order_id: str) -> dict[str, Any]:
        """Removes an order from its account, as Lune sometimes stops returning an order: the
        list no longer shows it and `GET /v1/orders/{id}` answers 404. Returns the record as it
        was last served; KeyError when the account has no such order. Consumes no randomness.
        """
        with self.lock:
            entry = self.account_state(account_id).book.by_id.get(order_id)
            if entry is None:
                raise KeyError(f"account {account_id} has no order {order_id}")
            record = orjson.loads(entry.blob)
            self.account_state(account_id).book.remove(order_id)
            self._open.pop((account_id, order_id), None)
            return record

    def create_order(self, account_id: str, request: OrderRequest) -> tuple[OrderEntry, bool]:
        """Creates an order for the API; returns (order, created).

        An idempotency key already used in the account returns the original order (in its
        current state) when the request is the same, and 409 when it differs.
        """
        with self.lock:
            account = self.account_state(account_id)
            key = request.idempotency_key
            if key is not None and key in account.book.by_idempotency_key:
                original = account.book.by_idempotency_key[key]
                if original.fingerprint not in (None, request.fingerprint):
                    raise ApiError(
                        409,
                        "order_idempotency_already_exists",
                        f"An order with idempotency_key {key!r} exists with other details.",
                    )
                return original, False
            if request.estimate_id is not None:
                self._check_estimate(account, request)
            # priced before it is stored: a value too small to buy anything is refused
            entry = self._build_order(account, self._now_ms + 1000, "placed", request)
            if not entry.plan.bundles:
                raise ApiError(400, "order_value_invalid", "The value buys no offsets.")
            # the API's orders are created "now": the virtual clock ticks a second per order
            self._now_ms += 1000
            account.book.add(entry)
            self._open[(account.id, entry.id or "")] = entry
            self._announce(entry, None)
            return entry, True

    def _check_estimate(self, account: AccountState, request: OrderRequest) -> None:
        """Refuses an estimate the account does not have, has ordered, or whose mass
        quantity_trunc cuts to nothing (before anything is drawn for the order)."""
        estimate = account.estimates.get(request.estimate_id or "")
        if estimate is None:
            raise ApiError(
                400, "estimate_not_found", f"This account has no estimate {request.estimate_id}."
            )
        if estimate.id in self._ordered_estimates(account):
            raise ApiError(
                409,
                "estimate_order_already_placed",
                f"Estimate {estimate.id} already has an order.",
            )
        if truncate(estimate.tonnes, request.places) <= 0:
            raise ApiError(
                400,
                "order_quantity_invalid",
                f"The estimate's {decimal_text(estimate.tonnes)} t truncates to 0.",
            )
