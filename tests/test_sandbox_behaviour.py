"""The sandbox behaves like Lune where the connector depends on it: keyset paging under
concurrent inserts, ties, limits, auth, account scoping, idempotency, the per-key rate limit,
each fault switch, and a deterministic, internally consistent order lifecycle."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lune_sandbox import DEFAULT_API_KEY, SandboxServer, SandboxWorld
from lune_sandbox.book import OrderBook
from lune_sandbox.orders import OPEN_STATUSES, STATUSES, TERMINAL_STATUSES, OrderEntry

REPO_ROOT = Path(__file__).resolve().parents[1]
DECIMAL_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
MONEY_RE = re.compile(r"^[0-9]+\.[0-9]{2}$")
TONNES_RE = re.compile(r"^[0-9]+(\.[0-9]{1,6})?$")
CREATED_AT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CENT = Decimal("0.01")
NEXT_STATUS = {
    "received": {"placed", "cancelled", "failed"},
    "placed": {"paid", "cancelled", "failed"},
    "paid": {"retiring", "failed"},
    "retiring": {"retiring", "complete"},
}


@pytest.fixture
def server(sandbox_world: SandboxWorld) -> Iterator[SandboxServer]:
    """No rate limit, for tests that are not about it."""
    with SandboxServer(sandbox_world, port=0, rate_limit=None) as server:
        yield server


def make_client(server: SandboxServer, key: str = DEFAULT_API_KEY, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=10,
    )


@pytest.fixture
def client(server: SandboxServer, sandbox_world: SandboxWorld) -> Iterator[httpx.Client]:
    with make_client(server, sandbox_world.api_key) as client:
        yield client


def read_all(
    client: httpx.Client, account_id: str, limit: int = 100, between=None
) -> list[dict[str, Any]]:
    """Every order of an account through the API, calling `between()` after each page."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = client.get("/v1/orders", params=params, headers={"Lune-Account": account_id})
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["data"]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return rows
        params["after"] = page["next_cursor"]
        if between is not None:
            between()


def key(order: dict[str, Any]) -> tuple[str, str]:
    return order["created_at"], order["id"]


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["errors"] == [body["error"]]
    return body["error"]["error_code"]


# --- paging ---------------------------------------------------------------------------------


def test_keyset_paging_survives_orders_created_between_pages(client, sandbox_world):
    account_id = sandbox_world.account_ids()[2]  # 150 orders: 15 pages of 10
    before = {o["id"] for o in sandbox_world.orders(account_id)}
    rounds = []

    def more_orders() -> None:
        rounds.append(sandbox_world.advance(new_orders=8, transitions=5, late_orders=2))

    rows = read_all(client, account_id, limit=10, between=more_orders)
    ids = [o["id"] for o in rows]
    assert len(rounds) >= 14
    assert len(ids) == len(set(ids)), "an order was served twice"
    assert before <= set(ids), "an order that existed all along was skipped"
    assert [key(o) for o in rows] == sorted((key(o) for o in rows), reverse=True)
    assert set(ids) <= {o["id"] for o in sandbox_world.orders(account_id)}


def test_rows_inserted_below_the_cursor_are_served_and_above_it_are_not():
    def entry(created_at: str, order_id: str) -> OrderEntry:
        return OrderEntry.malformed("acc", {"id": order_id}, (created_at, order_id))

    book = OrderBook()
    book.add_many(entry(f"2024-01-{day:02d}T00:00:00.000Z", f"o{day:02d}") for day in range(1, 21))
    first, more = book.page(5)
    assert [e.id for e in first] == ["o20", "o19", "o18", "o17", "o16"] and more
    book.add(entry("2024-01-30T00:00:00.000Z", "newer"))  # above the cursor: next pass
    book.add(entry("2024-01-10T12:00:00.000Z", "late"))  # below it: this pass
    book.add(entry("2024-01-16T00:00:00.000Z", "o16a"))  # same instant, larger id: above
    book.add(entry("2024-01-16T00:00:00.000Z", "o15z"))  # same instant, smaller id: below
    rest: list[str | None] = []
    cursor = first[-1].key
    while True:
        page, more = book.page(5, cursor)
        rest += [e.id for e in page]
        if not more:
            break
        cursor = page[-1].key
    assert "newer" not in rest and "o16a" not in rest
    assert rest[0] == "o15z" and "late" in rest
    assert rest == sorted(rest, key=lambda i: book.by_id[i].key, reverse=True)
    assert len(rest) == len(set(rest)) == 20 - 5 + 2


def test_ties_on_created_at_are_broken_by_id_descending(client, sandbox_world):
    tie_boundaries = 0
    for account_id in sandbox_world.account_ids():
        orders = sandbox_world.orders(account_id)
        assert [key(o) for o in orders] == sorted((key(o) for o in orders), reverse=True)
        ties = [i for i in range(len(orders) - 1) if key(orders[i])[0] == key(orders[i + 1])[0]]
        if not ties:
            continue
        # a page boundary right inside the first tie group
        rows = read_all(client, account_id, limit=ties[0] + 1)
        assert [o["id"] for o in rows] == [o["id"] for o in orders]
        tie_boundaries += 1
    assert tie_boundaries >= 2, "the generated world should have orders sharing a created_at"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
def test_limit_outside_1_to_100_is_refused(client, limit):
    response = client.get("/v1/orders", params={"limit": limit})
    assert response.status_code == 400
    assert error_code(response) == "pagination_limit_invalid"


def test_limit_bounds_and_default(client, sandbox_world):
    own = sandbox_world.account_ids()[0]  # 120 orders
    assert len(client.get("/v1/orders").json()["data"]) == 10
    assert len(client.get("/v1/orders", params={"limit": 1}).json()["data"]) == 1
    page = client.get("/v1/orders", params={"limit": 100}).json()
    assert len(page["data"]) == 100 and page["has_more"] and page["next_cursor"]
    assert len(read_all(client, own, limit=100)) == 120
    response = client.get("/v1/orders", params={"after": "not-a-cursor"})
    assert (response.status_code, error_code(response)) == (400, "validation_error")


# --- auth, version header, scoping ----------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Basic c2FuZGJveA==", "Bearer", "sandbox_sk_live"]
)
def test_requests_without_the_key_are_refused(server, sandbox_world, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(base_url=server.base_url, headers=headers) as anonymous:
        for method, path in [
            ("GET", "/v1/orders"),
            ("GET", "/v1/accounts/me"),
            ("GET", "/v1/bundles"),
            ("POST", "/v1/orders/by-mass"),
        ]:
            response = anonymous.request(method, path, json={})
            assert (response.status_code, error_code(response)) == (401, "unauthorised")


def test_the_api_key_is_never_logged(client, server, sandbox_world):
    client.get("/v1/orders")
    client.get("/v1/orders", headers={"Authorization": "Bearer some_other_secret"})
    logged = repr(server.request_log) + httpx.get(f"{server.base_url}/_sandbox/log").text
    assert sandbox_world.api_key not in logged and "some_other_secret" not in logged
    assert [r.status for r in server.request_log] == [200, 401]


def test_only_versions_lune_knows_are_accepted(client):
    """Lune's changelog lists one version, 2024-08-08: used without the header, echoed with
    it. Any other Lune-Version, a well-formed date too, is api_version_invalid."""
    assert client.get("/v1/accounts/me").headers["Lune-Version"] == "2024-08-08"
    response = client.get("/v1/accounts/me", headers={"Lune-Version": "2024-08-08"})
    assert (response.status_code, response.headers["Lune-Version"]) == (200, "2024-08-08")
    for version in ("1999-01-01", "2023-06-01", "2024-08-09", "latest", "2024-8-8"):
        response = client.get("/v1/accounts/me", headers={"Lune-Version": version})
        assert (response.status_code, error_code(response)) == (400, "api_version_invalid")


def test_accounts_see_only_their_own_orders(client, sandbox_world):
    ids = sandbox_world.account_ids()
    served = {a: [o["id"] for o in read_all(client, a)] for a in ids}
    for account_id in ids:
        assert served[account_id] == [o["id"] for o in sandbox_world.orders(account_id)]
    assert sum(len(v) for v in served.values()) == len({i for v in served.values() for i in v})
    assert served[ids[-1]] == [], "the last client account has no orders"
    # no header: the key's own account
    assert [o["id"] for o in read_all(client, "")] == served[ids[0]]
    # an order of one account is not found from another
    other = served[ids[1]][0]
    response = client.get(f"/v1/orders/{other}", headers={"Lune-Account": ids[2]})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert client.get(f"/v1/orders/{other}", headers={"Lune-Account": ids[1]}).status_code == 200
    # an order created in one account shows up there only
    created = client.post(
        "/v1/orders/by-value", json={"value": "50"}, headers={"Lune-Account": ids[3]}
    ).json()
    assert created["currency"] == sandbox_world.client_accounts[2]["currency"]
    assert created["id"] in {o["id"] for o in sandbox_world.orders(ids[3])}
    assert all(
        created["id"] not in {o["id"] for o in sandbox_world.orders(a)} for a in ids if a != ids[3]
    )


def test_an_account_the_key_cannot_reach_is_refused(client):
    response = client.get("/v1/orders", headers={"Lune-Account": "acc_not_ours"})
    assert (response.status_code, error_code(response)) == (403, "unauthorised")
    response = client.get("/v1/accounts/client/me")
    assert (response.status_code, error_code(response)) == (400, "account_scope_incorrect")


# --- creating orders ------------------------------------------------------------------------


def test_idempotency_key_returns_the_original_order(client, sandbox_world):
    account_id = sandbox_world.account_ids()[1]
    headers = {"Lune-Account": account_id}
    body = {"mass": {"amount": "3.5", "unit": "t"}, "idempotency_key": "po-1001"}
    count = len(sandbox_world.orders(account_id))
    first = client.post("/v1/orders/by-mass", json=body, headers=headers).json()
    again = client.post("/v1/orders/by-mass", json=body, headers=headers).json()
    assert again == first and len(sandbox_world.orders(account_id)) == count + 1
    # the same key elsewhere is another account's own key
    elsewhere = client.post("/v1/orders/by-mass", json=body).json()
    assert elsewhere["id"] != first["id"]
    # a different order under a used key is a conflict
    conflict = client.post(
        "/v1/orders/by-value", json={"value": "10", "idempotency_key": "po-1001"}, headers=headers
    )
    assert (conflict.status_code, error_code(conflict)) == (409, "order_idempotency_already_exists")
    # the key finds the order in its current state
    for _ in range(6):
        sandbox_world.advance(new_orders=0, transitions=200)
    found = client.get("/v1/orders/by-idempotency-key/po-1001", headers=headers).json()
    assert found == sandbox_world.order(account_id, first["id"])
    assert found["status"] != "placed"
    # generated orders carry keys too
    keyed = next(o for o in sandbox_world.orders(account_id) if o["idempotency_key"])
    response = client.get(
        f"/v1/orders/by-idempotency-key/{keyed['idempotency_key']}", headers=headers
    )
    assert response.json()["id"] == keyed["id"]
    response = client.get("/v1/orders/by-idempotency-key/nope", headers=headers)
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_created_orders_are_priced_consistently(client, sandbox_world):
    bundle_ids = [b["id"] for b in sandbox_world.bundles if not b["disabled"]]
    quantity = client.post(
        "/v1/orders/by-mass",
        json={
            "mass": {"amount": "1234.5", "unit": "kg"},
            "bundle_selection": [{"bundle_id": b} for b in bundle_ids[:3]],
            "metadata": {"customer_id": "cus_9"},
        },
    ).json()
    assert quantity["requested_quantity"] == quantity["quantity"] == "1.2345"
    assert len(quantity["bundles"]) == 3 and quantity["metadata"] == {"customer_id": "cus_9"}
    truncated = client.post(
        "/v1/orders/by-mass",
        json={"mass": {"amount": "2.7182818", "unit": "t"}, "quantity_trunc": "kg"},
    ).json()
    assert truncated["quantity"] == "2.718" and truncated["requested_quantity"] == "2.7182818"
    value = client.post("/v1/orders/by-value", json={"value": "999.99"}).json()
    assert Decimal(value["total_cost"]) <= Decimal("999.99")
    known = sandbox_world.estimates(sandbox_world.account_ids()[0], include_ordered=False)[0]
    estimate = client.post("/v1/orders/by-estimate", json={"estimate_id": known["id"]}).json()
    assert estimate["type"] == "quantity" and estimate["estimate_id"] == known["id"]
    assert estimate["requested_quantity"] == estimate["quantity"] == known["mass"]["amount"]
    again = client.post("/v1/orders/by-estimate", json={"estimate_id": known["id"]})
    assert (again.status_code, error_code(again)) == (409, "estimate_order_already_placed")
    currency = sandbox_world.default_account["currency"]
    for order in (quantity, truncated, value, estimate):
        assert order_problems(order, currency) == []


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("by-mass", {}, "validation_error"),
        ("by-mass", {"mass": {"amount": "1", "unit": "lb"}}, "validation_error"),
        (
            "by-mass",
            {"mass": {"amount": "1", "unit": "t"}, "bundle_masses": []},
            "validation_error",
        ),
        (
            "by-mass",
            {"mass": {"amount": "0.4", "unit": "t"}, "quantity_trunc": "t"},
            "order_quantity_invalid",
        ),
        (
            "by-mass",
            {"mass": {"amount": "1", "unit": "t"}, "metadata": {"n": 1}},
            "validation_error",
        ),
        (
            "by-mass",
            {"mass": {"amount": "1", "unit": "t"}, "idempotency_key": "k" * 101},
            "validation_error",
        ),
        ("by-value", {"value": 10}, "validation_error"),
        ("by-value", {"value": "10", "bundle_selection": "all"}, "validation_error"),
        ("by-estimate", {}, "validation_error"),
    ],
)
def test_invalid_order_requests_are_refused(client, path, body, code):
    response = client.post(f"/v1/orders/{path}", json=body)
    assert (response.status_code, error_code(response)) == (400, code)


def test_bundle_selections_are_checked(client, sandbox_world):
    enabled = [b["id"] for b in sandbox_world.bundles if not b["disabled"]]
    disabled = next(b["id"] for b in sandbox_world.bundles if b["disabled"])
    cases = [
        (
            [
                {"bundle_id": enabled[0], "percentage": 60},
                {"bundle_id": enabled[1], "percentage": 30},
            ],
            "bundle_selection_ratios_invalid",
        ),
        (
            [{"bundle_id": enabled[0], "percentage": 60}, {"bundle_id": enabled[1]}],
            "bundle_selection_ratios_invalid",
        ),
        (
            [
                {"bundle_id": enabled[0], "percentage": "50.001"},
                {"bundle_id": enabled[1], "percentage": 50},
            ],
            "bundle_selection_ratios_invalid_format",
        ),
        ([{"bundle_id": disabled}], "bundle_selection_bundle_invalid"),
        ([{"bundle_id": enabled[0]}, {"bundle_id": enabled[0]}], "bundle_selection_bundle_invalid"),
    ]
    for selection, code in cases:
        response = client.post(
            "/v1/orders/by-value", json={"value": "100", "bundle_selection": selection}
        )
        assert (response.status_code, error_code(response)) == (400, code), selection
    response = client.post("/v1/orders/by-mass", content=b"{not json")
    assert (response.status_code, error_code(response)) == (400, "validation_error")


# --- quantity_trunc and estimates on the create endpoints -------------------------------------

# Hand-worked against the fixed catalogue, in the own account's GBP (asserted below):
# Tropical forest conservation at 12.40 a tonne, Latin America reforestation at 18.90.
# By mass / by estimate: 3.456789 t of Tropical forest conservation; money to the cent,
# half up; commission 10% of the offset cost.
BY_QUANTITY = {  # quantity_trunc -> (quantity, offset_cost, commission, total_cost)
    "t": ("3", "37.20", "3.72", "40.92"),  # 3 × 12.40
    "kg": ("3.456", "42.85", "4.29", "47.14"),  # 3.456 × 12.40 = 42.8544; 4.2850 -> 4.29
    None: ("3.456789", "42.86", "4.29", "47.15"),  # 3.456789 × 12.40 = 42.8641836
}
# By value: 100.00 buys offsets for 100 / 1.1 = 90.90 (to the cent, down); 90.90 / 12.40 =
# 7.3306451… t, truncated to the quantity_trunc's unit.
BY_VALUE = {
    "t": ("7", "86.80", "8.68", "95.48"),
    "kg": ("7.33", "90.89", "9.09", "99.98"),  # 7.330 × 12.40 = 90.892; 9.089 -> 9.09
    None: ("7.330645", "90.90", "9.09", "99.99"),  # 7.330645 × 12.40 = 90.899998
}
# the unit quantity_trunc truncates to: a whole number of tonnes, of kilograms, or (absent)
# Lune's finest unit, the gram
TRUNC_UNIT = {"t": Decimal(1), "kg": Decimal("0.001"), None: Decimal("0.000001")}


def bundle_ids(client: httpx.Client) -> dict[str, str]:
    """Bundle name -> id, after checking the two unit prices the expectations rest on."""
    bundles = client.get("/v1/bundles", params={"limit": 100}).json()["data"]
    prices = {b["name"]: b["unit_price"] for b in bundles if b["currency"] == "GBP"}
    assert prices["Tropical forest conservation"] == "12.40"
    assert prices["Latin America reforestation"] == "18.90"
    return {b["name"]: b["id"] for b in bundles}


@pytest.mark.parametrize("trunc", ["t", "kg", None])
@pytest.mark.parametrize("path", ["by-mass", "by-value", "by-estimate"])
def test_quantity_trunc_on_every_create_endpoint(client, sandbox_world, path, trunc):
    """quantity_trunc=t buys a whole number of tonnes, kg a whole number of kilograms, and
    without it the exact quantity; costs follow the truncated quantity; what was requested
    (requested_quantity / requested_value) is kept as requested."""
    own = sandbox_world.account_ids()[0]
    tropical = bundle_ids(client)["Tropical forest conservation"]
    body: dict[str, Any] = {"bundle_selection": [{"bundle_id": tropical}]}
    if trunc is not None:
        body["quantity_trunc"] = trunc
    if path == "by-mass":
        body["mass"] = {"amount": "3456.789", "unit": "kg"}
    elif path == "by-estimate":
        body["estimate_id"] = sandbox_world.add_estimate(own, "3.456789")["id"]
    else:
        body["value"] = "100.00"
    response = client.post(f"/v1/orders/{path}", json=body)
    assert response.status_code == 200, response.text
    order = response.json()
    expected = (BY_VALUE if path == "by-value" else BY_QUANTITY)[trunc]
    got = (order["quantity"], order["offset_cost"], order["commission"], order["total_cost"])
    assert got == expected
    assert Decimal(order["quantity"]) % TRUNC_UNIT[trunc] == 0
    [line] = order["bundles"]
    assert (line["bundle_id"], line["quantity"], line["offset_cost"]) == (
        tropical,
        order["quantity"],
        order["offset_cost"],
    )
    if path == "by-value":
        assert (order["requested_value"], order["requested_quantity"]) == ("100.00", None)
        assert Decimal(order["total_cost"]) <= Decimal("100.00"), "total cost ≤ value"
    else:
        assert (order["requested_quantity"], order["requested_value"]) == ("3.456789", None)
    assert (order["estimate_id"] is not None) == (path == "by-estimate")
    assert order_problems(order, "GBP") == []


@pytest.mark.parametrize(
    ("path", "trunc", "body", "quantities", "offsets", "totals"),
    [
        # 3.456789 t -> 3 t; half of it, 1.5, truncated -> 1; the last bundle takes the rest
        (
            "by-mass",
            "t",
            {"mass": {"amount": "3.456789", "unit": "t"}},
            ["1", "2"],
            ["12.40", "37.80"],
            ("50.20", "5.02", "55.22"),
        ),
        # 1000.00 -> 909.09 for offsets: 454.54 and 454.55; 454.54 / 12.40 = 36.65…,
        # 454.55 / 18.90 = 24.05… t
        (
            "by-value",
            "t",
            {"value": "1000.00"},
            ["36", "24"],
            ["446.40", "453.60"],
            ("900.00", "90.00", "990.00"),
        ),
        # 36.656 × 12.40 = 454.5344; 24.050 × 18.90 = 454.545 -> 454.55; 90.908 -> 90.91
        (
            "by-value",
            "kg",
            {"value": "1000.00"},
            ["36.656", "24.05"],
            ["454.53", "454.55"],
            ("909.08", "90.91", "999.99"),
        ),
    ],
)
def test_quantity_trunc_keeps_every_line_on_its_unit(
    client, sandbox_world, path, trunc, body, quantities, offsets, totals
):
    """With two bundles (50/50) every bundle line is truncated too, so the lines still add up
    to the order; later the project lines stay on the same unit and add up as well."""
    names = bundle_ids(client)
    selection = [
        {"bundle_id": names["Tropical forest conservation"], "percentage": 50},
        {"bundle_id": names["Latin America reforestation"], "percentage": 50},
    ]
    body = {**body, "bundle_selection": selection, "quantity_trunc": trunc}
    ids = []
    for _ in range(4):  # a few, so that some get as far as showing their projects
        order = client.post(f"/v1/orders/{path}", json=body).json()
        assert [line["quantity"] for line in order["bundles"]] == quantities
        assert [line["offset_cost"] for line in order["bundles"]] == offsets
        assert (order["offset_cost"], order["commission"], order["total_cost"]) == totals
        assert order_problems(order, "GBP") == []
        ids.append(order["id"])
    for _ in range(25):  # placed -> paid -> retiring -> complete, unless cancelled or failed
        sandbox_world.advance(new_orders=0, transitions=1000)
    later = [sandbox_world.order(sandbox_world.account_ids()[0], i) for i in ids]
    assert "complete" in {o["status"] for o in later}
    unit = TRUNC_UNIT[trunc]
    for order in later:
        assert {Decimal(p["quantity"]) % unit for p in order["projects"] or []} <= {0}
        assert order_problems(order, "GBP") == []


def test_a_known_estimate_gives_its_mass(client, sandbox_world):
    """Ordering an estimate buys its mass (the mass GET /v1/estimates/electricity/{id}
    shows), once; it names the estimate and requests exactly that mass."""
    account_id = sandbox_world.account_ids()[1]
    headers = {"Lune-Account": account_id}
    estimates = sandbox_world.estimates(account_id, include_ordered=False)
    assert len(estimates) == 3
    for estimate in estimates:
        path = f"/v1/estimates/electricity/{estimate['id']}"
        served = client.get(path, headers=headers).json()
        assert served == estimate and served["mass"]["unit"] == "t"
        order = client.post(
            "/v1/orders/by-estimate", json={"estimate_id": estimate["id"]}, headers=headers
        ).json()
        mass = Decimal(served["mass"]["amount"])
        assert order["estimate_id"] == estimate["id"] and order["type"] == "quantity"
        assert Decimal(order["requested_quantity"]) == Decimal(order["quantity"]) == mass
        assert order_problems(order, "USD") == []
        again = client.post(
            "/v1/orders/by-estimate", json={"estimate_id": estimate["id"]}, headers=headers
        )
        assert (again.status_code, error_code(again)) == (409, "estimate_order_already_placed")
    assert sandbox_world.estimates(account_id, include_ordered=False) == []


def test_an_unknown_estimate_is_refused(client, sandbox_world):
    own, other = sandbox_world.account_ids()[:2]
    cases = {
        "0" * 32: "estimate_not_found",  # well-formed, no such estimate
        sandbox_world.estimates(other)[0]["id"]: "estimate_not_found",  # another account's
        "est_42": "id_invalid",  # not a Lune id
        "0" * 32 + "\n": "id_invalid",  # 32 letters and digits, and one more character
    }
    count = len(sandbox_world.orders(own))
    for estimate_id, code in cases.items():
        response = client.post("/v1/orders/by-estimate", json={"estimate_id": estimate_id})
        assert (response.status_code, error_code(response)) == (400, code), estimate_id
    # a mass that truncates to nothing is refused, and the estimate can still be ordered
    small = sandbox_world.add_estimate(own, "0.5")
    body = {"estimate_id": small["id"], "quantity_trunc": "t"}
    response = client.post("/v1/orders/by-estimate", json=body)
    assert (response.status_code, error_code(response)) == (400, "order_quantity_invalid")
    body["quantity_trunc"] = "kg"
    assert client.post("/v1/orders/by-estimate", json=body).json()["quantity"] == "0.5"
    assert len(sandbox_world.orders(own)) == count + 1


def test_the_world_holds_estimates(sandbox_world):
    """Every account starts with three estimates not yet ordered (under a tonne, a few
    tonnes, tens of tonnes or more); every generated by-estimate order names an estimate of
    its own account and requested its mass; an estimate can be ordered again only once its
    order is cancelled or failed."""
    world = sandbox_world
    estimate_orders = 0
    for account_id in world.account_ids():
        held = {e["id"]: Decimal(e["mass"]["amount"]) for e in world.estimates(account_id)}
        first = list(held.values())[:3]  # the account's own, made with it
        assert first[0] < 1 <= first[1] < 10 <= first[2]
        live: dict[str, str] = {}  # estimate -> its order that is not cancelled or failed
        for order in world.orders(account_id):
            if order["estimate_id"] is not None:
                estimate_orders += 1
                assert held[order["estimate_id"]] == Decimal(order["requested_quantity"])
                if order["status"] not in ("cancelled", "failed"):
                    live[order["estimate_id"]] = order["id"]
        assert set(list(held)[:3]).isdisjoint(live)
        unordered = {e["id"] for e in world.estimates(account_id, include_ordered=False)}
        assert unordered == set(held) - set(live)
    assert estimate_orders >= 10
    with pytest.raises(ValueError):
        world.add_estimate(world.account_ids()[0], "0.0000001")  # finer than a gram
    with pytest.raises(ValueError):
        world.add_estimate(world.account_ids()[0], "0")
    with pytest.raises(ValueError):
        world.add_estimate(world.account_ids()[0], "a lot")


def test_estimates_are_deterministic_and_reading_them_draws_nothing():
    def make() -> SandboxWorld:
        return SandboxWorld.generate(seed=5, client_accounts=2, orders_per_account=50)

    read, untouched = make(), make()
    for account_id in read.account_ids():
        read.estimates(account_id)
    for world in (read, untouched):
        world.advance(new_orders=20, transitions=20)
    assert snapshot(read) == snapshot(untouched)
    assert [read.estimates(a) for a in read.account_ids()] == [
        untouched.estimates(a) for a in untouched.account_ids()
    ]
    other_seed = SandboxWorld.generate(seed=6, client_accounts=2, orders_per_account=50)
    assert read.estimates(read.account_ids()[0]) != other_seed.estimates(
        other_seed.account_ids()[0]
    )


# --- rate limit -----------------------------------------------------------------------------


def test_rate_limit_refuses_past_15_per_second_across_accounts(sandbox_server, sandbox_world):
    ids = sandbox_world.account_ids()
    with make_client(sandbox_server, sandbox_world.api_key) as client:
        started = time.monotonic()
        responses = [
            client.get("/v1/orders", params={"limit": 1}, headers={"Lune-Account": ids[n % 3]})
            for n in range(25)
        ]
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, "the burst must fit in one second for this test to mean anything"
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 15 and statuses.count(429) == 10
        assert statuses[:15] == [200] * 15
        for refused in (r for r in responses if r.status_code == 429):
            assert "retry-after" not in refused.headers
            assert error_code(refused) == "rate_limit_exceeded"
        log = sandbox_server.request_log
        assert [r.cause for r in log if r.status == 429] == ["rate_limit"] * 10
        assert {r.cause for r in log if r.status == 200} == {None}
        assert {r.account_id for r in log} == set(ids[:3])
        time.sleep(1.05)
        assert client.get("/v1/accounts/me").status_code == 200


def test_a_client_spacing_its_requests_is_never_refused(sandbox_server, sandbox_world):
    with make_client(sandbox_server, sandbox_world.api_key) as client:
        statuses = []
        for _ in range(20):
            statuses.append(client.get("/v1/accounts/me").status_code)
            time.sleep(1 / 13)
    assert statuses == [200] * 20


def test_rate_limit_none_turns_the_limiter_off(client):
    assert {client.get("/v1/accounts/me").status_code for _ in range(30)} == {200}


# --- faults ---------------------------------------------------------------------------------


def test_latency_delays_every_request(client, server):
    server.faults.set(latency=0.15)
    for _ in range(2):
        started = time.monotonic()
        assert client.get("/v1/accounts/me").status_code == 200
        assert time.monotonic() - started >= 0.15
    assert {r.cause for r in server.request_log} == {None}  # latency alone is no fault


def test_error_rate_answers_a_share_with_5xx(client, server, sandbox_world):
    server.faults.set(error_rate=1.0)
    for _ in range(5):
        response = client.get("/v1/orders")
        assert response.status_code in (500, 502, 503)
        assert error_code(response) == "service_unavailable"
    server.faults.set(error_rate=0.2)
    statuses = [client.get("/v1/accounts/me").status_code for _ in range(40)]
    # exactly the share, and in every run of 10 requests from the switch (dealt from decks)
    for deck in range(4):
        assert sum(s >= 500 for s in statuses[deck * 10 : deck * 10 + 10]) == 2
    server.faults.set(error_rate=0.05)
    assert sum(client.get("/v1/accounts/me").status_code >= 500 for _ in range(100)) in range(2, 9)
    assert {r.cause for r in server.request_log if r.status >= 500} == {"fault"}
    # the faults have their own seeded generator: the same seed, the same sequence
    patterns = []
    for _ in range(2):
        with SandboxServer(sandbox_world, port=0, rate_limit=None, fault_seed=7) as twin:
            twin.faults.set(error_rate=0.5)
            with make_client(twin, sandbox_world.api_key) as twin_client:
                patterns.append([twin_client.get("/v1/accounts/me").status_code for _ in range(30)])
    assert patterns[0] == patterns[1] and len(set(patterns[0])) > 1


def test_burst_429_refuses_the_next_n_requests(client, server):
    server.faults.set(burst_429=3)
    statuses = [client.get("/v1/orders").status_code for _ in range(5)]
    assert statuses == [429, 429, 429, 200, 200]
    assert [r.cause for r in server.request_log] == ["fault"] * 3 + [None] * 2
    assert server.faults.snapshot()["burst_429"] == 0


def test_truncate_cuts_the_next_n_successful_bodies_in_half(client, server, sandbox_world):
    server.faults.set(truncate=2)
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/orders", params={"limit": 50})
    assert client.get("/v1/orders", params={"limit": 50}).status_code == 200
    # on the wire: the full Content-Length is announced, half the body arrives, then EOF
    server.faults.set(truncate=1)
    head, body = raw_get(server, "/v1/orders?limit=50", sandbox_world.api_key)
    announced = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    assert len(body) == announced // 2
    assert [r.cause for r in server.request_log] == ["fault", "fault", None, "fault"]


def test_truncate_spares_error_responses(client, server):
    server.faults.set(truncate=1)
    assert client.get(f"/v1/orders/{'0' * 32}").status_code == 404  # whole body: parsed fine
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/v1/orders")


def test_stall_delays_only_the_next_request(client, server):
    server.faults.set(stall=0.4)
    started = time.monotonic()
    assert client.get("/v1/accounts/me").status_code == 200
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert client.get("/v1/accounts/me").status_code == 200
    assert time.monotonic() - started < 0.3
    assert [r.cause for r in server.request_log] == ["fault", None]


def test_reset_closes_the_next_n_connections_unanswered(client, server):
    server.faults.set(reset=2)
    for _ in range(2):
        with pytest.raises(httpx.TransportError):
            client.get("/v1/orders")
    assert client.get("/v1/orders").status_code == 200
    assert [(r.status, r.cause) for r in server.request_log] == [
        (0, "fault"),
        (0, "fault"),
        (200, None),
    ]


def test_faults_clear_and_admin_endpoint(client, server):
    server.faults.set(latency=0.5, error_rate=1.0, burst_429=9, truncate=9, stall=2, reset=9)
    server.faults.clear()
    assert set(server.faults.snapshot().values()) == {0}
    assert client.get("/v1/accounts/me").status_code == 200
    admin = httpx.post(f"{server.base_url}/_sandbox/faults", json={"burst_429": 1})
    assert admin.json()["burst_429"] == 1
    assert client.get("/v1/accounts/me").status_code == 429
    bad = httpx.post(f"{server.base_url}/_sandbox/faults", json={"error_rate": 2})
    assert bad.status_code == 400


def raw_get(server: SandboxServer, path: str, api_key: str) -> tuple[bytes, bytes]:
    """One GET over a bare socket: (status line + headers, whatever body bytes arrive)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api_key}\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


# --- the world: determinism, lifecycle, invariants ------------------------------------------


def order_problems(order: dict[str, Any], currency: str) -> list[str]:
    """Everything wrong with one order against Lune's lifecycle and money rules."""
    problems = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(f"{order['id']} ({order['status']}): {what}")

    status, bundles, projects = order["status"], order["bundles"], order["projects"]
    expect(status in STATUSES, "unknown status")
    expect(order["currency"] == currency, "not in the account's currency")
    expect(bool(CREATED_AT_RE.match(order["created_at"])), "created_at format")
    for name in ("offset_cost", "commission", "total_cost"):
        expect(order[name] is None or bool(MONEY_RE.match(order[name])), f"{name} format")
    expect(order["quantity"] is None or bool(TONNES_RE.match(order["quantity"])), "quantity")
    # what was asked for, as asked: the description's decimal, any number of decimals
    for name in ("requested_quantity", "requested_value"):
        expect(order[name] is None or bool(DECIMAL_RE.match(order[name])), f"{name} format")
    complete = status == "complete"
    expect(
        order["certificate"]
        == (f"https://api.lune.co/v1/orders/{order['id']}/certificate" if complete else None),
        "certificate exactly when complete",
    )
    if status == "received":
        expect(bundles is None and projects is None, "no lines before placed")
        expect(order["offset_cost"] is None and order["quantity"] is None, "no money yet")
    if status in ("placed", "paid", "retiring", "complete"):
        expect(bool(bundles), "bundles from placed on")
    if status in ("placed", "paid"):
        expect(projects == [], "no projects before retiring")
    if status in ("retiring", "complete"):
        expect(bool(projects), "projects from retiring on")
    if status in ("cancelled", "failed"):
        expect(not projects, "a cancelled or failed order allocated nothing")
    if projects:
        lines = [p["status"] for p in projects]
        if complete:
            expect(set(lines) == {"retired"}, "complete: every line retired")
        else:
            expect("allocated" in lines, "retiring: some lines still allocated")
            expect("retired" in lines or len(lines) == 1, "retiring: some lines retired")
    if bundles:
        quantity = sum(Decimal(b["quantity"]) for b in bundles)
        offset = sum(Decimal(b["offset_cost"]) for b in bundles)
        expect(Decimal(order["quantity"]) == quantity, "quantity = Σ bundle quantities")
        expect(Decimal(order["offset_cost"]) == offset, "offset_cost = Σ bundle costs")
        for b in bundles:
            cost = (Decimal(b["quantity"]) * Decimal(b["unit_price"])).quantize(CENT, ROUND_HALF_UP)
            expect(Decimal(b["offset_cost"]) == cost, "bundle cost = quantity × unit price")
            expect(Decimal(b["gross_unit_price"]) > Decimal(b["unit_price"]), "gross price")
        commission, total = Decimal(order["commission"]), Decimal(order["total_cost"])
        expect(total == offset + commission, "total = offset + commission")
        expect(abs(commission - offset / 10) <= Decimal("0.011"), "commission ~10%")
        if projects:
            expect(sum(Decimal(p["quantity"]) for p in projects) == quantity, "Σ project t")
            expect(sum(Decimal(p["offset_cost"]) for p in projects) == offset, "Σ project cost")
        if order["type"] == "value":
            expect(offset <= Decimal(order["requested_value"]), "offset ≤ requested value")
            expect(total <= Decimal(order["requested_value"]), "total ≤ requested value")
    kinds = (order["requested_quantity"], order["requested_value"], order["estimate_id"])
    if order["type"] == "value":
        expect(kinds[0] is None and kinds[1] is not None and kinds[2] is None, "value fields")
    else:
        expect(kinds[0] is not None and kinds[1] is None, "quantity fields")
    return problems


def world_problems(world: SandboxWorld) -> list[str]:
    currencies = {a["id"]: a["currency"] for a in [world.default_account, *world.client_accounts]}
    return [
        problem
        for account_id in world.account_ids()
        for order in world.orders(account_id)
        for problem in order_problems(order, currencies[account_id])
    ]


def snapshot(world: SandboxWorld) -> dict[str, list[dict[str, Any]]]:
    return {a: world.orders(a) for a in world.account_ids()}


def test_generated_world_has_the_promised_shape(sandbox_world):
    world = sandbox_world
    assert world.api_key == DEFAULT_API_KEY
    assert world.now == datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    assert world.default_account["scope"] == "account" and len(world.client_accounts) == 4
    currencies = [world.default_account["currency"]] + [
        c["currency"] for c in world.client_accounts
    ]
    assert currencies == ["GBP", "USD", "EUR", "SEK", "GBP"]
    counts = [len(world.orders(a)) for a in world.account_ids()]
    assert counts == [120, 60, 150, 45, 0]
    orders = [o for a in world.account_ids() for o in world.orders(a)]
    assert {o["status"] for o in orders} == set(STATUSES)
    created = [o["created_at"] for o in orders]
    assert min(created) >= "2023-01-01" and max(created) <= "2026-11-01"
    open_orders = [o for o in orders if o["status"] in OPEN_STATUSES]
    assert len(open_orders) == round(0.1 * 120) + round(0.1 * 60) + round(0.1 * 150) + round(4.5)
    assert min(o["created_at"] for o in open_orders) > "2025-06-01", "open ones are recent"
    assert {o["type"] for o in orders} == {"quantity", "value"}
    assert any(o["estimate_id"] for o in orders)
    assert any(o["metadata"].get("customer_id") for o in orders)
    assert any(o["offset_link_id"] and o["email"] for o in orders)
    assert any(o["idempotency_key"] for o in orders)
    assert any(
        line["insufficient_available_quantity"] for o in orders for line in o["bundles"] or []
    )
    assert world_problems(world) == []


def test_orders_per_account_as_a_count_leaves_the_last_accounts_empty():
    world = SandboxWorld.generate(
        seed=3, client_accounts=3, orders_per_account=10, empty_client_accounts=2
    )
    assert [len(world.orders(a)) for a in world.account_ids()] == [10, 10, 0, 0]


def test_generation_is_deterministic_per_seed():
    def make(seed: int) -> SandboxWorld:
        return SandboxWorld.generate(seed=seed, client_accounts=2, orders_per_account=40)

    assert snapshot(make(11)) == snapshot(make(11))
    assert make(11).account_ids() != make(12).account_ids()


def test_advance_is_deterministic_per_seed():
    worlds = [
        SandboxWorld.generate(seed=5, client_accounts=2, orders_per_account=50, open_share=0.2)
        for _ in range(2)
    ]
    summaries: list[list[dict[str, list[str]]]] = [[], []]
    for world, summary in zip(worlds, summaries, strict=True):
        world.orders(world.account_ids()[1])  # reads must not disturb the generator
        for late in (0, 2, 1):
            summary.append(world.advance(new_orders=12, transitions=15, late_orders=late))
        summary.append({"created": [world.add_client_account("Newco", "EUR", 5)["id"]]})
        summary.append(
            {"created": [world.inject_malformed(world.account_ids()[0], "bad_decimal")["id"]]}
        )
        summary.append(world.advance(new_orders=3, transitions=4))
    assert summaries[0] == summaries[1]
    assert snapshot(worlds[0]) == snapshot(worlds[1])
    assert worlds[0].now == worlds[1].now == datetime.fromisoformat("2026-11-01T04:00:00+00:00")


def test_advance_moves_each_changed_order_one_lifecycle_step(sandbox_world):
    world = sandbox_world
    for _ in range(8):
        before = {o["id"]: o for orders in snapshot(world).values() for o in orders}
        clock = world.now
        summary = world.advance(new_orders=10, transitions=20)
        after = {o["id"]: o for orders in snapshot(world).values() for o in orders}
        assert world.now == clock + timedelta(hours=1)
        assert set(after) == set(before) | set(summary["created"])
        assert len(summary["changed"]) == len(set(summary["changed"])) <= 20
        for order_id, old in before.items():
            new = after[order_id]
            if order_id not in summary["changed"]:
                assert new == old
                continue
            assert old["status"] in OPEN_STATUSES
            assert new["status"] in NEXT_STATUS[old["status"]]
            if old["status"] == new["status"] == "retiring":
                retired = [sum(p["status"] == "retired" for p in o["projects"]) for o in (old, new)]
                assert retired[1] == retired[0] + 1
        for order_id in summary["created"]:
            assert after[order_id]["status"] in ("received", "placed")
            assert clock.isoformat()[:19] <= after[order_id]["created_at"][:19]
        assert world_problems(world) == []


def test_open_orders_run_to_a_terminal_status(sandbox_world):
    for _ in range(25):
        sandbox_world.advance(new_orders=0, transitions=1000)
    statuses = {o["status"] for a in sandbox_world.account_ids() for o in sandbox_world.orders(a)}
    assert statuses <= set(TERMINAL_STATUSES)
    assert world_problems(sandbox_world) == []


def test_late_orders_appear_just_below_the_newest_order(sandbox_world):
    world = sandbox_world
    newest = {
        a: world.orders(a)[0]["created_at"] if world.orders(a) else None
        for a in world.account_ids()
    }
    created = world.advance(new_orders=0, transitions=0, late_orders=6)["created"]
    assert len(created) == 6
    for account_id in world.account_ids():
        for order in world.orders(account_id):
            if order["id"] in created:
                top = datetime.fromisoformat(newest[account_id])
                at = datetime.fromisoformat(order["created_at"])
                assert top - timedelta(seconds=120) <= at <= top


def test_new_client_account_is_served_with_its_orders(client, sandbox_world):
    account = sandbox_world.add_client_account(name="Newco", currency="EUR", orders=30)
    assert account["scope"] == "client_account" and account["currency"] == "EUR"
    listed = client.get("/v1/accounts/client", params={"limit": 100}).json()["data"]
    assert listed[-1] == account
    orders = read_all(client, account["id"])
    assert len(orders) == 30 and {o["currency"] for o in orders} == {"EUR"}
    assert orders == sandbox_world.orders(account["id"])
    with pytest.raises(ValueError):
        sandbox_world.add_client_account(name="Nope", currency="XYZ")


def test_malformed_records_are_served_in_place(client, sandbox_world):
    account_id = sandbox_world.account_ids()[1]
    valid = sandbox_world.orders(account_id)
    records = {
        kind: sandbox_world.inject_malformed(account_id, kind)
        for kind in ("missing_id", "missing_created_at", "bad_decimal", "wrong_type")
    }
    assert "id" not in records["missing_id"] and "created_at" not in records["missing_created_at"]
    assert records["bad_decimal"]["quantity"] == "12,5"
    assert records["wrong_type"]["bundles"] == "not-a-list"
    served = read_all(client, account_id, limit=7)
    assert served[0] == records["missing_created_at"]  # no created_at: the newest end
    for record in records.values():
        assert record in served
    assert len(served) == len(valid) + 4
    positioned = [r for r in served if "created_at" in r]
    assert [r["created_at"] for r in positioned] == sorted(
        (r["created_at"] for r in positioned), reverse=True
    )
    assert sandbox_world.orders(account_id) == valid  # not orders: left out by default
    assert len(sandbox_world.orders(account_id, include_malformed=True)) == len(valid) + 4
    with pytest.raises(ValueError):
        sandbox_world.inject_malformed(account_id, "nonsense")


# --- admin endpoints, server lifecycle, standalone ------------------------------------------


def test_admin_endpoints_drive_the_world(client, server, sandbox_world):
    base = f"{server.base_url}/_sandbox"
    summary = httpx.post(f"{base}/advance", json={"new_orders": 3, "transitions": 2}).json()
    assert len(summary["created"]) == 3
    account = httpx.post(f"{base}/accounts", json={"name": "Remote", "currency": "NOK"}).json()
    assert account["id"] in sandbox_world.account_ids()
    record = httpx.post(
        f"{base}/malformed", json={"account_id": account["id"], "kind": "missing_id"}
    ).json()
    assert record in sandbox_world.orders(account["id"], include_malformed=True)
    estimate = httpx.post(
        f"{base}/estimates", json={"account_id": account["id"], "mass": "2.5"}
    ).json()
    assert estimate["mass"] == {"amount": "2.5", "unit": "t"}
    assert estimate in sandbox_world.estimates(account["id"])
    assert httpx.post(f"{base}/estimates", json={"account_id": account["id"]}).status_code == 400
    client.get("/v1/accounts/me")
    log = httpx.get(f"{base}/log").json()
    assert [(r["path"], r["status"], r["cause"]) for r in log] == [("/v1/accounts/me", 200, None)]
    assert set(log[0]) == {"ts", "method", "path", "query", "account_id", "status", "cause"}
    assert httpx.post(f"{base}/advance", json={"bogus": 1}).status_code == 400
    state = httpx.get(f"{base}/state").json()["accounts"]
    assert [a["id"] for a in state] == sandbox_world.account_ids()
    assert estimate["id"] in state[-1]["open_estimates"]
    server.clear_log()
    assert server.request_log == []


def test_a_forgotten_order_is_gone_from_list_and_lookup(client, server, sandbox_world):
    account_id = sandbox_world.account_ids()[1]
    headers = {"Lune-Account": account_id}
    before = read_all(client, account_id)
    victim = next(o for o in before if o["status"] in OPEN_STATUSES)
    assert client.get(f"/v1/orders/{victim['id']}", headers=headers).status_code == 200

    forgotten = httpx.post(
        f"{server.base_url}/_sandbox/forget",
        json={"account_id": account_id, "order_id": victim["id"]},
    )

    assert forgotten.status_code == 200
    assert forgotten.json() == victim
    gone = client.get(f"/v1/orders/{victim['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["error_code"] == "not_found"
    assert read_all(client, account_id) == [o for o in before if o["id"] != victim["id"]]
    assert sandbox_world.orders(account_id) == read_all(client, account_id)
    # no longer open in the world: advancing never brings it back
    changed = sandbox_world.advance(new_orders=0, transitions=1000)["changed"]
    assert victim["id"] not in changed
    again = httpx.post(
        f"{server.base_url}/_sandbox/forget",
        json={"account_id": account_id, "order_id": victim["id"]},
    )
    assert again.status_code == 400


def test_stop_closes_kept_alive_connections(sandbox_world):
    server = SandboxServer(sandbox_world, port=0).start()
    base_url = server.base_url
    with make_client(server, sandbox_world.api_key) as client:
        assert client.get("/v1/accounts/me").status_code == 200
        server.stop()
        server.stop()  # idempotent
        with pytest.raises(httpx.TransportError):
            client.get("/v1/accounts/me")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/v1/accounts/me")


def test_python_m_lune_sandbox_serves_standalone():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lune_sandbox",
            "--port",
            "0",
            "--client-accounts",
            "1",
            "--orders-per-account",
            "15",
            "--seed",
            "3",
            "--rate-limit",
            "0",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(3)]
        base_url = re.search(r"BASE_URL=(\S+)", banner[1]).group(1)
        api_key = re.search(r"API_KEY=(\S+)", banner[2]).group(1)
        assert base_url.startswith("http://127.0.0.1:") and api_key == DEFAULT_API_KEY
        headers = {"Authorization": f"Bearer {api_key}"}
        page = httpx.get(f"{base_url}/v1/orders", params={"limit": 100}, headers=headers).json()
        expected = SandboxWorld.generate(seed=3, client_accounts=1, orders_per_account=15)
        assert page["data"] == expected.orders(expected.account_ids()[0])
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_orders_page_is_served_from_cached_json(client, sandbox_world):
    account_id = sandbox_world.account_ids()[2]
    first = client.get("/v1/orders", params={"limit": 100}, headers={"Lune-Account": account_id})
    again = client.get("/v1/orders", params={"limit": 100}, headers={"Lune-Account": account_id})
    assert first.content == again.content
    assert orjson.loads(first.content)["data"] == sandbox_world.orders(account_id)[:100]
