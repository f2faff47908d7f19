"""Lune's /v1 endpoints over a SandboxWorld, independent of the HTTP transport."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson

from .book import decode_cursor, encode_cursor
from .catalogue import FX_RATES
from .errors import ApiError, not_found, validation_error
from .validation import check_id, parse_order_request
from .world import AccountState, SandboxWorld

# Every `Lune-Version` Lune knows, oldest first: the changelog of Lune's API documentation lists
# one version, 2024-08-08, the one that introduced the header. Any other value, well-formed
# or not, is refused with `api_version_invalid`. Without the header, the newest is used.
KNOWN_VERSIONS: tuple[str, ...] = ("2024-08-08",)
API_VERSION = KNOWN_VERSIONS[-1]
HANDLE_RE = re.compile(r"^[a-z0-9-_]+$")
NAME_FILTER_RE = re.compile(r"^[a-zA-Z0-9_]{3,}$")
DEFAULT_LIMIT = 10
ORDER_KINDS = {"by-mass": "quantity", "by-value": "value", "by-estimate": "estimate"}
# a one-page PDF, enough for a client that downloads certificates
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)

Query = Mapping[str, Sequence[str]]
Handler = Callable[[AccountState, Query, bytes], "Reply"]


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(value))


class LuneApi:
    """Routes /v1 requests to the world; every error is an ApiError with Lune's body."""

    def __init__(self, world: SandboxWorld) -> None:
        self.world = world

    def authenticate(self, authorization: str | None) -> bool:
        """Whether the `Authorization: Bearer <key>` header carries the world's key."""
        scheme, _, key = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            key.strip().encode(), self.world.api_key.encode()
        )

    def handle(
        self, method: str, path: str, query: Query, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        try:
            version = headers.get("Lune-Version")
            if version is not None and version not in KNOWN_VERSIONS:
                raise ApiError(
                    400,
                    "api_version_invalid",
                    f"Unknown Lune-Version {version!r}; known: {', '.join(KNOWN_VERSIONS)}.",
                )
            route = self._route(method, [unquote(p) for p in path.split("/")[2:]])
            with self.world.lock:
                account = self._account(headers.get("Lune-Account"))
                return route(account, query, body)
        except ApiError as e:
            return Reply(e.status, e.body())

    # --- routing ---------------------------------------------------------------------------

    def _route(self, method: str, parts: list[str]) -> Handler:
        """Finds the handler for /v1/<parts>; 404 for unknown paths, 405 for wrong methods."""
        handler = self._match(method, parts)
        if handler is not None:
            return handler
        if any(self._match(other, parts) for other in ("GET", "POST", "DELETE") if other != method):
            raise ApiError(405, "validation_error", f"{method} is not allowed here.")
        raise not_found("The endpoint /v1/" + "/".join(parts))

    def _match(self, method: str, parts: list[str]) -> Handler | None:
        get, post, delete = method == "GET", method == "POST", method == "DELETE"
        match parts:
            case ["accounts", "me"] if get:
                return self._own_account
            case ["accounts", "client", "me"] if get:
                return self._client_account_me
            case ["accounts", "client"] if get:
                return self._client_accounts
            case ["accounts", "client"] if post:
                return self._create_client_account
            case ["bundles"] if get:
                return lambda a, q, b: self._catalogue_page("bundles", a, q)
            case ["bundles", bundle_id] if get:
                return lambda a, q, b: self._catalogue_item(
                    "bundles", a, "id", check_id(bundle_id, "bundle")
                )
            case ["projects"] if get:
                return lambda a, q, b: self._catalogue_page("projects", a, q)
            case ["projects", "by-slug", slug] if get:
                return lambda a, q, b: self._catalogue_item("projects", a, "slug", slug)
            case ["projects", project_id] if get:
                return lambda a, q, b: self._catalogue_item(
                    "projects", a, "id", check_id(project_id, "project")
                )
            case ["orders"] if get:
                return self._orders
            case ["orders", kind] if post and kind in ORDER_KINDS:
                return lambda a, q, b: self._create_order(ORDER_KINDS[kind], a, b)
            case ["orders", "by-idempotency-key", key] if get:
                return lambda a, q, b: self._order_by_idempotency_key(a, key)
            case ["orders", order_id] if get:
                return lambda a, q, b: self._order(a, check_id(order_id, "order"))
            case ["orders", order_id, "certificate"] if get:
                return lambda a, q, b: self._certificate(a, check_id(order_id, "order"))
            case ["estimates", "electricity", estimate_id] if get:
                return lambda a, q, b: self._estimate(a, check_id(estimate_id, "estimate"))
            case ["webhooks"] if get:
                return lambda a, q, b: json_reply(
                    self.world.webhooks.list_json(list(q.get("account_id", [])) or None)
                )
            case ["webhooks"] if post:
                return self._create_webhook
            case ["webhooks", webhook_id] if get:
                return lambda a, q, b: json_reply(self.world.webhooks.get_json(webhook_id))
            case ["webhooks", webhook_id] if delete:
                return lambda a, q, b: self._delete_webhook(webhook_id)
        return None

    def _account(self, header: str | None) -> AccountState:
        if not header:
            return self.world.account_state(self.world.account_ids()[0])
        account = self.world.find_account_state(header)
        if account is None:
            raise ApiError(403, "unauthorised", f"This API key cannot act on account {header!r}.")
        return account

    # --- accounts --------------------------------------------------------------------------

    def _own_account(self, account: AccountState, query: Query, body: bytes) -> Reply:
        return json_reply(self.world.account_state(self.world.account_ids()[0]).record)

    def _client_account_me(self, account: AccountState, query: Query, body: bytes) -> Reply:
        if account.record["scope"] != "client_account":
            raise ApiError(
                400, "account_scope_incorrect", "Send Lune-Account with a client account id."
            )
        return json_reply(account.record)

    def _client_accounts(self, account: AccountState, query: Query, body: bytes) -> Reply:
        rows = [dict(a) for a in self.world.client_accounts]
        name = _param(query, "name")
        if name is not None:
            if not NAME_FILTER_RE.match(name):
                raise validation_error("`name` must be 3 or more of a-z, A-Z, 0-9 and _.")
            rows = [r for r in rows if name.lower() in r["name"].lower()]
        return _list_page(rows, query)

    def _create_client_account(self, account: AccountState, query: Query, body: bytes) -> Reply:
        request = _json_object(body)
        name, currency = request.get("name"), request.get("currency")
        if not isinstance(name, str) or not name.strip():
            raise validation_error("`name` is required.")
        if currency not in FX_RATES:
            raise validation_error("`currency` must be one of " + ", ".join(FX_RATES) + ".")
        handle = request.get("handle")
        if handle is not None and (not isinstance(handle, str) or not HANDLE_RE.match(handle)):
            raise validation_error("`handle` must match ^[a-z0-9-_]+$.")
        taken = {a["handle"] for a in self.world.client_accounts}
        if handle is not None and handle in taken:
            raise ApiError(400, "handle_not_unique", f"Handle {handle!r} is taken.")
        visibility = request.get("external_pages_visibility")
        if visibility not in (None, "public", "hidden"):
            raise validation_error("`external_pages_visibility` must be public or hidden.")
        beneficiary = request.get("beneficiary")
        if beneficiary is not None and not isinstance(beneficiary, str):
            raise validation_error("`beneficiary` must be a string.")
        record = self.world.add_client_account(
            name=name,
            currency=currency,
            orders=0,
            beneficiary=beneficiary.strip() if beneficiary else None,
            handle=handle,
            external_pages_visibility=visibility,
        )
        return json_reply(record)

    # --- catalogue -------------------------------------------------------------------------

    def _catalogue_rows(self, kind: str, account: AccountState, recently_disabled: bool):
        catalogue = self.world.catalogue
        if kind == "bundles":
            return catalogue.bundles_json(account.currency, recently_disabled)
        return catalogue.projects_json(account.currency, recently_disabled)

    def _catalogue_page(self, kind: str, account: AccountState, query: Query) -> Reply:
        flag = _param(query, "recently_disabled", "false")
        if flag not in ("true", "false"):
            raise validation_error("`recently_disabled` must be true or false.")
        return _list_page(self._catalogue_rows(kind, account, flag == "true"), query)

    def _catalogue_item(self, kind: str, account: AccountState, field: str, value: str) -> Reply:
        for row in self._catalogue_rows(kind, account, True):
            if row[field] == value:
                return json_reply(row)
        raise not_found(f"The {kind[:-1]} {value!r}")

    # --- orders ----------------------------------------------------------------------------

    def _orders(self, account: AccountState, query: Query, body: bytes) -> Reply:
        limit = _limit(query)
        after = _param(query, "after")
        key = decode_cursor(after) if after else None
        link = _param(query, "offset_link_id")
        if link is not None:
            check_id(link, "offset link")
        rows, has_more = account.book.page(limit, key, link)
        cursor = encode_cursor(rows[-1].key) if has_more and rows else None
        # the envelope around cached per-order JSON: no order is serialized twice
        return Reply(
            200,
            b'{"has_more":%s,"next_cursor":%s,"data":[%s]}'
            % (
                b"true" if has_more else b"false",
                orjson.dumps(cursor),
                b",".join(row.blob for row in rows),
            ),
        )

    def _order(self, account: AccountState, order_id: str) -> Reply:
        entry = account.book.by_id.get(order_id)
        if entry is None:
            raise not_found(f"The order {order_id!r}")
        return Reply(200, entry.blob)

    def _order_by_idempotency_key(self, account: AccountState, key: str) -> Reply:
        entry = account.book.by_idempotency_key.get(key)
        if entry is None:
            raise not_found(f"An order with idempotency_key {key!r}")
        return Reply(200, entry.blob)

    def _certificate(self, account: AccountState, order_id: str) -> Reply:
        entry = account.book.by_id.get(order_id)
        if entry is None or entry.record.get("certificate") is None:
            raise not_found(f"A certificate for order {order_id!r}")
        return Reply(200, _PDF, "application/pdf")

    # --- estimates -------------------------------------------------------------------------

    def _estimate(self, account: AccountState, estimate_id: str) -> Reply:
        """One of the account's estimates; 404 with Lune's body (NotFoundWithErrors)."""
        estimate = account.estimates.get(estimate_id)
        if estimate is None:
            raise ApiError(
                404, "estimate_not_found", f"This account has no estimate {estimate_id!r}."
            )
        return json_reply(self.world.estimate_json(account, estimate))

    # --- webhooks --------------------------------------------------------------------------

    def _create_webhook(self, account: AccountState, query: Query, body: bytes) -> Reply:
        """POST /v1/webhooks: an endpoint of the organisation (every account, or account_ids)."""
        request = _json_object(body)
        now_ms = int(self.world.now.timestamp() * 1000)
        return json_reply(self.world.webhooks.create(request, self.world.account_ids(), now_ms))

    def _delete_webhook(self, webhook_id: str) -> Reply:
        self.world.webhooks.delete(webhook_id)
        return Reply(204, b"", content_type="")  # No Content: no body, no type

    def _create_order(self, kind: str, account: AccountState, body: bytes) -> Reply:
        request = parse_order_request(kind, body, self.world.catalogue)
        entry, _created = self.world.create_order(account.id, request)
        return Reply(200, entry.blob)


def _param(query: Query, name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[-1] if values else default


def _limit(query: Query) -> int:
    raw = _param(query, "limit", str(DEFAULT_LIMIT)) or ""
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise ApiError(
            400, "pagination_limit_invalid", f"`limit` must be between 1 and 100, not {raw!r}."
        )
    return int(raw)


def _list_page(rows: list[dict[str, Any]], query: Query) -> Reply:
    """Pages a short, stable list (accounts, catalogue); the cursor names the last row's id."""
    limit = _limit(query)
    after = _param(query, "after")
    start = 0
    if after:
        _, last_id = decode_cursor(after)
        ids = [row["id"] for row in rows]
        if last_id not in ids:
            raise validation_error(f"`after` is not a cursor this API returned: {after!r}.")
        start = ids.index(last_id) + 1
    page = rows[start : start + limit]
    has_more = start + limit < len(rows)
    cursor = encode_cursor(("", page[-1]["id"])) if has_more and page else None
    return json_reply({"has_more": has_more, "next_cursor": cursor, "data": page})


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body or b"null")
    except orjson.JSONDecodeError:
        raise validation_error("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise validation_error("The request body must be a JSON object.")
    return value
