"""Every kind of response the sandbox serves validates against Lune's OpenAPI description.

Real HTTP requests (httpx) go to a running sandbox; each request/response pair is checked with
openapi-core, the sandbox's `/v1/...` paths mapped onto the description's server URL
(https://api.lune.co/v1).

Two documented corrections, made only in the `spec` fixture (`published` is the description as
published):
- The published `Order` schema has a discriminator on `type` whose mapping sends
  `type: quantity` to OrderByQuantityProperties (estimate_id must be null), so an order placed
  by estimate (type `quantity`, estimate_id set, per OrderByEstimate) can never validate as
  `Order`, although Lune lists such orders. `spec` drops that discriminator and lets the oneOf
  decide; `test_published_order_schema_fails_only_estimate_orders` shows that this is the only
  thing the correction changes.
- A malformed id is answered with 400 `id_invalid` (an `Error.error_code` of the description)
  wherever an id is taken, but the lookups by id declare no 400 response. `spec` gives those
  lookups the description's own `BadRequest` response; `test_lookups_by_id_declare_no_400`
  lists exactly the operations this adds it to.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.schemas import oas30_read_schema_validators_factory

from lune_sandbox import SandboxServer, SandboxWorld
from lune_sandbox.orders import STATUSES

SPEC_PATH = Path(__file__).parent / "data" / "lune-openapi" / "openapi.yml"
LUNE_HOST = "https://api.lune.co"  # + the sandbox's /v1/... path = the description's server URL
ORDER_SCHEMAS = {"quantity": "OrderByQuantity", "value": "OrderByValue"}
# GET operations that take an id in their path and that the sandbox serves
LOOKUPS_BY_ID = (
    "/orders/{id}",
    "/orders/{id}/certificate",
    "/bundles/{id}",
    "/projects/{id}",
    "/estimates/electricity/{id}",
)
UNKNOWN_ID = "0" * 32  # well-formed (32 letters and digits), names nothing in any world


@pytest.fixture(scope="module")
def spec_dict() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


@pytest.fixture(scope="module")
def published(spec_dict: dict[str, Any]) -> OpenAPI:
    """Lune's description exactly as published."""
    return OpenAPI.from_dict(copy.deepcopy(spec_dict))


@pytest.fixture(scope="module")
def spec(spec_dict: dict[str, Any]) -> OpenAPI:
    """The description with the two corrections of the module docstring."""
    fixed = copy.deepcopy(spec_dict)
    kinds = fixed["components"]["schemas"]["Order"]["allOf"][1]
    assert set(kinds.pop("discriminator")["mapping"]) == {"quantity", "value"}
    for path in LOOKUPS_BY_ID:
        responses = fixed["paths"][path]["get"]["responses"]
        assert "400" not in responses
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    return OpenAPI.from_dict(fixed)


@pytest.fixture
def server(sandbox_world: SandboxWorld) -> Iterator[SandboxServer]:
    """No rate limit: these tests read whole accounts quickly."""
    with SandboxServer(sandbox_world, port=0, rate_limit=None) as server:
        yield server


@pytest.fixture
def client(server: SandboxServer, sandbox_world: SandboxWorld) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox_world.api_key}", "Lune-Version": "2024-08-08"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
        yield client


def check(api: OpenAPI, response: httpx.Response, request_too: bool = True) -> Any:
    """Validates the response (and by default the request) against `api`; returns the JSON."""
    sent = response.request
    request = MockRequest(
        LUNE_HOST,
        sent.method,
        sent.url.path,
        args=dict(parse_qsl(sent.url.query.decode(), keep_blank_values=True)),
        headers=dict(sent.headers),
        data=sent.content or None,
        content_type=sent.headers.get("content-type", "application/json"),
    )
    if request_too:
        api.validate_request(request)
    api.validate_response(
        request,
        MockResponse(
            response.content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("content-type", ""),
        ),
    )
    return response.json() if "json" in response.headers.get("content-type", "") else None


def schema_validator(api: OpenAPI, name: str):
    """A validator for one component schema of the description."""
    return oas30_read_schema_validators_factory.create(
        api.spec, api.spec / "components" / "schemas" / name
    )


def undeclared_fields(spec_dict: dict[str, Any], order: dict[str, Any]) -> set[str]:
    """Fields of an order (and of its lines) that its schemas do not declare.

    The schemas allow extra properties, so a misspelt field would still validate; this
    catches it. (openapi-core's strict mode cannot be used: it rejects allOf compositions.)
    """
    schemas = spec_dict["components"]["schemas"]

    def props(name: str) -> set[str]:
        return set(schemas[name]["properties"])

    kind = kind_schema(order) + "Properties"
    extra = set(order) - props("OrderBase") - props(kind)
    for line in order["bundles"] if isinstance(order["bundles"], list) else []:
        extra |= {f"bundles.{k}" for k in set(line) - props("OrderBundle")}
    for line in order["projects"] if isinstance(order["projects"], list) else []:
        extra |= {f"projects.{k}" for k in set(line) - props("OrderProject")}
    return extra


def kind_schema(order: dict[str, Any]) -> str:
    return "OrderByEstimate" if order["estimate_id"] else ORDER_SCHEMAS[order["type"]]


def all_pages(
    api: OpenAPI, client: httpx.Client, path: str, account_id: str | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Follows next_cursor to the end, validating every page; returns all rows."""
    headers = {"Lune-Account": account_id} if account_id else {}
    rows: list[dict[str, Any]] = []
    while True:
        page = check(api, client.get(path, params=params, headers=headers))
        rows += page["data"]
        assert (page["next_cursor"] is None) == (not page["has_more"])
        if not page["has_more"]:
            return rows
        params["after"] = page["next_cursor"]


# --- orders ---------------------------------------------------------------------------------


def test_order_list_pages_validate(spec, client, sandbox_world):
    for account_id in sandbox_world.account_ids():
        rows = all_pages(spec, client, "/v1/orders", account_id, limit=100)
        assert [o["id"] for o in rows] == [o["id"] for o in sandbox_world.orders(account_id)]
        first = check(spec, client.get("/v1/orders", headers={"Lune-Account": account_id}))
        assert len(first["data"]) == min(10, len(rows))  # the default limit
    linked = next(
        o
        for a in sandbox_world.account_ids()
        for o in sandbox_world.orders(a)
        if o["offset_link_id"]
    )
    owner = next(a for a in sandbox_world.account_ids() if linked in sandbox_world.orders(a))
    filtered = all_pages(
        spec, client, "/v1/orders", owner, limit=3, offset_link_id=linked["offset_link_id"]
    )
    assert linked["id"] in {o["id"] for o in filtered}
    assert {o["offset_link_id"] for o in filtered} == {linked["offset_link_id"]}


def test_every_order_in_every_status_validates(spec, spec_dict, client, sandbox_world):
    """After a few lifecycle rounds every status, kind and partial retirement is present;
    each order validates as Order (in its page) and strictly as its own kind's schema."""
    for _ in range(4):
        sandbox_world.advance(new_orders=15, transitions=25, late_orders=1)
    kinds = {name: schema_validator(spec, name) for name in ("OrderByQuantity", "OrderByValue")}
    kinds["OrderByEstimate"] = schema_validator(spec, "OrderByEstimate")
    seen_status, seen_kind = set(), set()
    for account_id in sandbox_world.account_ids():
        for order in all_pages(spec, client, "/v1/orders", account_id, limit=100):
            kinds[kind_schema(order)].validate(order)
            assert undeclared_fields(spec_dict, order) == set(), order["id"]
            seen_status.add(order["status"])
            seen_kind.add(kind_schema(order))
            if order["status"] == "retiring":
                assert {p["status"] for p in order["projects"]} <= {"allocated", "retired"}
    assert seen_status == set(STATUSES)
    assert seen_kind == {"OrderByQuantity", "OrderByValue", "OrderByEstimate"}


def test_published_order_schema_fails_only_estimate_orders(published, sandbox_world):
    order_schema = schema_validator(published, "Order")
    failures = set()
    for account_id in sandbox_world.account_ids():
        for order in sandbox_world.orders(account_id):
            try:
                order_schema.validate(order)
            except Exception:
                failures.add(kind_schema(order))
    assert failures == {"OrderByEstimate"}


def test_single_order_and_by_idempotency_key_validate(spec, client, sandbox_world):
    account_id = sandbox_world.account_ids()[2]
    orders = sandbox_world.orders(account_id)
    by_status = {o["status"]: o for o in orders}
    for order in by_status.values():
        got = check(
            spec, client.get(f"/v1/orders/{order['id']}", headers={"Lune-Account": account_id})
        )
        assert got == order
    keyed = next(o for o in orders if o["idempotency_key"])
    got = check(
        spec,
        client.get(
            f"/v1/orders/by-idempotency-key/{keyed['idempotency_key']}",
            headers={"Lune-Account": account_id},
        ),
    )
    assert got == keyed


def test_created_orders_validate(published, client, sandbox_world):
    bundles = [b for b in sandbox_world.bundles if not b["disabled"]]
    requests = [
        ("by-mass", {"mass": {"amount": "259.11", "unit": "kg"}, "metadata": {"po": "7"}}),
        (
            "by-mass",
            {
                "bundle_masses": [
                    {"bundle_id": bundles[0]["id"], "mass": {"amount": "2", "unit": "t"}},
                    {"bundle_id": bundles[1]["id"], "mass": {"amount": "500", "unit": "kg"}},
                ],
                "quantity_trunc": "kg",
                "idempotency_key": "contract-mass",
            },
        ),
        (
            "by-value",
            {
                "value": "770.30",
                "bundle_selection": [
                    {"bundle_id": bundles[2]["id"], "percentage": 34},
                    {"bundle_id": bundles[3]["id"], "percentage": "66.00"},
                ],
            },
        ),
    ]
    for account_id in sandbox_world.account_ids()[:2]:
        estimate = sandbox_world.estimates(account_id, include_ordered=False)[0]
        for path, body in [*requests, ("by-estimate", {"estimate_id": estimate["id"]})]:
            response = client.post(
                f"/v1/orders/{path}", json=body, headers={"Lune-Account": account_id}
            )
            order = check(published, response)
            assert order["status"] == "placed" and order["bundles"]
            assert sandbox_world.order(account_id, order["id"]) == order


# --- accounts and catalogue -----------------------------------------------------------------


def test_accounts_validate(published, client, sandbox_world):
    me = check(published, client.get("/v1/accounts/me"))
    assert me == sandbox_world.default_account and me["scope"] == "account"
    clients = all_pages(published, client, "/v1/accounts/client", limit=2)
    assert clients == sandbox_world.client_accounts
    assert {c["scope"] for c in clients} == {"client_account"}
    assert len({c["currency"] for c in clients}) == len(clients)
    one = clients[1]
    response = client.get("/v1/accounts/client/me", headers={"Lune-Account": one["id"]})
    assert check(published, response) == one
    created = check(
        published,
        client.post("/v1/accounts/client", json={"name": "Contract Co", "currency": "CHF"}),
    )
    assert created["scope"] == "client_account" and created["id"] in sandbox_world.account_ids()


def test_catalogue_validates(published, client, sandbox_world):
    everything = all_pages(published, client, "/v1/bundles", limit=3, recently_disabled="true")
    assert everything == sandbox_world.bundles
    live = all_pages(published, client, "/v1/bundles", limit=100)
    assert len(live) == len(everything) - 1 and all(not b["disabled"] for b in live)
    projects = all_pages(published, client, "/v1/projects", limit=5, recently_disabled="true")
    assert projects == sandbox_world.projects
    check(published, client.get(f"/v1/bundles/{everything[0]['id']}"))
    check(published, client.get(f"/v1/projects/{projects[0]['id']}"))
    check(published, client.get(f"/v1/projects/by-slug/{projects[-1]['slug']}"))
    # prices follow the account's currency
    sek = next(c for c in sandbox_world.client_accounts if c["currency"] == "SEK")
    page = check(
        published,
        client.get("/v1/bundles", params={"limit": 1}, headers={"Lune-Account": sek["id"]}),
    )
    assert page["data"][0]["currency"] == "SEK"


def test_order_lines_name_catalogue_rows(sandbox_world):
    bundles = {b["id"]: b for b in sandbox_world.bundles}
    projects = {p["id"]: p for p in sandbox_world.projects}
    for account_id in sandbox_world.account_ids():
        for order in sandbox_world.orders(account_id):
            names = {line["bundle_id"] for line in order["bundles"] or []}
            assert names <= set(bundles)
            allowed = {p["id"] for b in names for p in bundles[b]["projects"]}
            for line in order["projects"] or []:
                assert line["project_id"] in allowed
                assert projects[line["project_id"]]["slug"] == line["project_slug"]


# --- errors ---------------------------------------------------------------------------------


def error_of(response: httpx.Response) -> str:
    """Lune's error body: `error` and a one-element `errors` holding the same error."""
    body = response.json()
    assert body["errors"] == [body["error"]]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["error_code"]


def test_error_responses_validate(published, client, server, sandbox_world):
    # 400: bad limit (the request itself is valid per the description: limit is a digit string)
    response = client.get("/v1/orders", params={"limit": "101"})
    check(published, response)
    assert (response.status_code, error_of(response)) == (400, "pagination_limit_invalid")
    # 400: a body the description does not allow
    response = client.post("/v1/orders/by-value", json={"value": "12,50"})
    check(published, response, request_too=False)
    assert (response.status_code, error_of(response)) == (400, "validation_error")
    # 401
    response = client.get("/v1/orders", headers={"Authorization": "Bearer wrong"})
    check(published, response)
    assert (response.status_code, error_of(response)) == (401, "unauthorised")
    # 404 (the description declares no body; the sandbox still sends Lune's error body)
    for path in (f"/v1/orders/{UNKNOWN_ID}", "/v1/orders/by-idempotency-key/nope"):
        response = client.get(path)
        check(published, response)
        assert (response.status_code, error_of(response)) == (404, "not_found")
    # 409: an idempotency key reused for a different order
    body = {"mass": {"amount": "1", "unit": "t"}, "idempotency_key": "contract-409"}
    assert client.post("/v1/orders/by-mass", json=body).status_code == 200
    body["mass"]["amount"] = "2"
    response = client.post("/v1/orders/by-mass", json=body)
    check(published, response)
    assert (response.status_code, error_of(response)) == (409, "order_idempotency_already_exists")
    # 429 from a 429 burst (the description declares no body for 429 either)
    server.faults.set(burst_429=1)
    response = client.get("/v1/orders")
    check(published, response)
    assert response.status_code == 429 and "retry-after" not in response.headers
    assert error_of(response) == "rate_limit_exceeded"
    # 5xx (not in the description's responses): still Lune's error body
    server.faults.set(error_rate=1.0)
    response = client.get("/v1/orders")
    assert response.status_code in (500, 502, 503)
    assert error_of(response) == "service_unavailable"


def test_rate_limit_429_validates(published, sandbox_server, sandbox_world):
    headers = {"Authorization": f"Bearer {sandbox_world.api_key}"}
    with httpx.Client(base_url=sandbox_server.base_url, headers=headers) as client:
        responses = [client.get("/v1/accounts/me") for _ in range(20)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, "20 requests at once must pass 15 per second"
    check(published, limited[0])
    assert error_of(limited[0]) == "rate_limit_exceeded"


def test_error_codes_are_the_descriptions_where_it_has_a_body(spec_dict, client):
    """Codes of 400/401/409 answers come from Error.error_code's enum."""
    codes = set(spec_dict["components"]["schemas"]["Error"]["properties"]["error_code"]["enum"])
    one_tonne = {"amount": "1", "unit": "t"}
    bad = [
        ("by-mass", {"mass": {"amount": "0", "unit": "t"}}, "order_quantity_invalid"),
        (
            "by-mass",
            {"mass": one_tonne, "bundle_selection": [{"bundle_id": UNKNOWN_ID}]},
            "bundle_selection_bundle_invalid",
        ),
        ("by-value", {"value": "0.001"}, "order_value_invalid"),
        ("by-estimate", {"estimate_id": UNKNOWN_ID}, "estimate_not_found"),
        ("by-estimate", {"estimate_id": "not an id!"}, "id_invalid"),
        (
            "by-mass",
            {"bundle_masses": [{"bundle_id": UNKNOWN_ID, "mass": one_tonne}]},
            "bundle_id_invalid",
        ),
        ("by-mass", {"mass": one_tonne, "bundle_selection": [{"bundle_id": "x"}]}, "id_invalid"),
    ]
    for path, body, code in bad:
        response = client.post(f"/v1/orders/{path}", content=orjson.dumps(body))
        assert (response.status_code, error_of(response)) == (400, code), body
        assert code in codes
    response = client.get("/v1/orders", headers={"Lune-Version": "1999-01-01"})
    assert (response.status_code, error_of(response)) == (400, "api_version_invalid")
    assert "api_version_invalid" in codes


# --- the three create-order endpoints --------------------------------------------------------

TRUNCS = {"t": 0, "kg": 3, None: 6}  # quantity_trunc -> decimals of tonnes it keeps


def places(quantity: str) -> int:
    """Decimals of a decimal string ('3' -> 0, '3.456' -> 3)."""
    return len(quantity.partition(".")[2])


def test_create_orders_validate_with_every_quantity_trunc(
    published, spec_dict, client, sandbox_world
):
    """Every create endpoint, with quantity_trunc t, kg and absent, answers an order of its own
    schema whose quantities keep at most the decimals the truncation allows."""
    for account_id in sandbox_world.account_ids()[:3]:
        headers = {"Lune-Account": account_id}
        estimates = sandbox_world.estimates(account_id, include_ordered=False)
        big = next(e for e in estimates if Decimal(e["mass"]["amount"]) >= 10)
        others = [sandbox_world.add_estimate(account_id, big["mass"]["amount"]) for _ in range(2)]
        estimate_ids = iter([big["id"]] + [e["id"] for e in others])
        for trunc, decimals in TRUNCS.items():
            extra = {"quantity_trunc": trunc} if trunc else {}
            bodies = {
                "by-mass": {"mass": {"amount": "12345.678", "unit": "kg"}},
                "by-value": {"value": "2500.00"},
                "by-estimate": {"estimate_id": next(estimate_ids)},
            }
            for path, body in bodies.items():
                response = client.post(f"/v1/orders/{path}", json=body | extra, headers=headers)
                order = check(published, response)
                assert undeclared_fields(spec_dict, order) == set()
                quantities = [order["quantity"]] + [b["quantity"] for b in order["bundles"]]
                assert max(places(q) for q in quantities) <= decimals, (path, trunc, order)


def test_create_order_errors_validate(published, client, sandbox_world):
    """Each refusal of the create endpoints validates against the description as published
    (an ErrorResponse whose error_code is in the enum) and carries the reference's code."""
    own, other = sandbox_world.account_ids()[:2]
    open_estimate = sandbox_world.estimates(own, include_ordered=False)[0]
    small = sandbox_world.add_estimate(own, "0.5")
    others_estimate = sandbox_world.estimates(other)[0]
    enabled = next(b["id"] for b in sandbox_world.bundles if not b["disabled"])
    one_tonne = {"amount": "1", "unit": "t"}
    cases: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
        ("by-mass", {"mass": {"amount": "1", "unit": "lb"}}, {}, 400, "validation_error"),
        (
            "by-mass",
            {"mass": {"amount": "0.4", "unit": "t"}, "quantity_trunc": "t"},
            {},
            400,
            "order_quantity_invalid",
        ),
        (
            "by-mass",
            {"bundle_masses": [{"bundle_id": "short", "mass": one_tonne}]},
            {},
            400,
            "id_invalid",
        ),
        (
            "by-mass",
            {"bundle_masses": [{"bundle_id": UNKNOWN_ID, "mass": one_tonne}]},
            {},
            400,
            "bundle_id_invalid",
        ),
        (
            "by-value",
            {"value": "10", "bundle_selection": [{"bundle_id": enabled + "!"}]},
            {},
            400,
            "id_invalid",
        ),
        ("by-value", {"value": "0.001"}, {}, 400, "order_value_invalid"),
        ("by-value", {"value": "0.01", "quantity_trunc": "t"}, {}, 400, "order_value_invalid"),
        ("by-estimate", {"estimate_id": "est_42"}, {}, 400, "id_invalid"),
        ("by-estimate", {"estimate_id": UNKNOWN_ID}, {}, 400, "estimate_not_found"),
        ("by-estimate", {"estimate_id": others_estimate["id"]}, {}, 400, "estimate_not_found"),
        (
            "by-estimate",
            {"estimate_id": small["id"], "quantity_trunc": "t"},
            {},
            400,
            "order_quantity_invalid",
        ),
        (
            "by-estimate",
            {"estimate_id": open_estimate["id"]},
            {"Lune-Version": "1999-01-01"},
            400,
            "api_version_invalid",
        ),
        ("by-mass", {"mass": one_tonne}, {"Lune-Version": "v1"}, 400, "api_version_invalid"),
        ("by-value", {"value": "10"}, {"Authorization": "Bearer wrong"}, 401, "unauthorised"),
    ]
    for path, body, headers, status, code in cases:
        response = client.post(f"/v1/orders/{path}", json=body, headers=headers)
        # some bodies break the request schema on purpose: only the answer is checked then
        check(published, response, request_too=code != "validation_error")
        assert (response.status_code, error_of(response)) == (status, code), body
    # 409: the same estimate twice; a key reused for other details
    body = {"estimate_id": open_estimate["id"], "idempotency_key": "contract-estimate"}
    assert check(published, client.post("/v1/orders/by-estimate", json=body))["estimate_id"]
    response = client.post("/v1/orders/by-estimate", json={"estimate_id": open_estimate["id"]})
    check(published, response)
    assert (response.status_code, error_of(response)) == (409, "estimate_order_already_placed")
    response = client.post(
        "/v1/orders/by-mass", json={"mass": one_tonne, "idempotency_key": "contract-estimate"}
    )
    check(published, response)
    assert (response.status_code, error_of(response)) == (409, "order_idempotency_already_exists")


# --- estimates and ids ------------------------------------------------------------------------


def test_estimates_validate(published, client, sandbox_world):
    """Every estimate the world holds is served as an ElectricityEmissionEstimate; an unknown
    one, or another account's, is 404 with Lune's body (NotFoundWithErrors)."""
    served = 0
    for account_id in sandbox_world.account_ids():
        headers = {"Lune-Account": account_id}
        for estimate in sandbox_world.estimates(account_id):
            path = f"/v1/estimates/electricity/{estimate['id']}"
            assert check(published, client.get(path, headers=headers)) == estimate
            served += 1
    assert served >= 3 * len(sandbox_world.account_ids())
    own, other = sandbox_world.account_ids()[:2]
    for estimate_id, account_id in [
        (UNKNOWN_ID, own),
        (sandbox_world.estimates(other)[0]["id"], own),
    ]:
        response = client.get(
            f"/v1/estimates/electricity/{estimate_id}", headers={"Lune-Account": account_id}
        )
        check(published, response)
        assert (response.status_code, error_of(response)) == (404, "estimate_not_found")


def test_lookups_by_id_declare_no_400(spec_dict):
    """The description's gap that `spec` fills (see the module docstring): the lookups by id
    the sandbox serves declare 404 but no 400, so as published no id_invalid answer of theirs
    could validate."""
    for path in LOOKUPS_BY_ID:
        responses = spec_dict["paths"][path]["get"]["responses"]
        assert "404" in responses and "400" not in responses, path


@pytest.mark.parametrize("bad_id", ["nope", "0" * 31, "0" * 33, "0" * 31 + "-", "0" * 31 + "é"])
def test_malformed_ids_get_id_invalid(spec, published, client, bad_id):
    """A malformed id gets 400 id_invalid wherever an id is taken: every lookup by id, the
    offset_link_id filter, and the ids of create-order bodies."""
    for template in LOOKUPS_BY_ID:
        response = client.get("/v1" + template.replace("{id}", bad_id))
        check(spec, response)
        assert (response.status_code, error_of(response)) == (400, "id_invalid"), template
    response = client.get("/v1/orders", params={"offset_link_id": bad_id})
    check(published, response)
    assert (response.status_code, error_of(response)) == (400, "id_invalid")
    bodies = {
        "by-estimate": {"estimate_id": bad_id},
        "by-value": {"value": "10", "bundle_selection": [{"bundle_id": bad_id}]},
        "by-mass": {"bundle_masses": [{"bundle_id": bad_id, "mass": {"amount": "1", "unit": "t"}}]},
    }
    for path, body in bodies.items():
        response = client.post(f"/v1/orders/{path}", json=body)
        check(published, response)
        assert (response.status_code, error_of(response)) == (400, "id_invalid"), path


def test_well_formed_unknown_ids_are_not_found(published, client):
    """The counterpart of id_invalid: a well-formed id that names nothing is a 404."""
    for template in LOOKUPS_BY_ID:
        response = client.get("/v1" + template.replace("{id}", UNKNOWN_ID))
        check(published, response)
        assert response.status_code == 404, template
    page = check(published, client.get("/v1/orders", params={"offset_link_id": UNKNOWN_ID}))
    assert page["data"] == [] and page["has_more"] is False


@pytest.mark.parametrize("version", ["1999-01-01", "2023-06-01", "2024-08-09", "latest", "v1"])
def test_unknown_api_versions_get_api_version_invalid(published, client, version):
    """Lune knows the versions its changelog lists (2024-08-08 only); any other Lune-Version,
    well-formed date or not, is refused on every path, before anything else is looked at."""
    headers = {"Lune-Version": version}
    for method, path, body in [
        ("GET", "/v1/orders", None),
        ("GET", "/v1/bundles", None),
        ("POST", "/v1/orders/by-mass", {"mass": {"amount": "1", "unit": "t"}}),
        ("POST", "/v1/orders/by-value", {"value": "10"}),
        ("POST", "/v1/orders/by-estimate", {"estimate_id": UNKNOWN_ID}),
    ]:
        response = client.request(method, path, json=body, headers=headers)
        check(published, response)
        assert (response.status_code, error_of(response)) == (400, "api_version_invalid")
        assert response.headers["Lune-Version"] == "2024-08-08"


# --- webhooks ---------------------------------------------------------------------------------


def test_webhook_endpoints_validate(published, client, sandbox_world):
    """POST /v1/webhooks answers WebhookFullSecret (the whole secret, once); GET shows Webhook
    (its last 4 characters); DELETE answers 204; each request and answer as described."""
    own, other = sandbox_world.account_ids()[:2]
    created = check(
        published, client.post("/v1/webhooks", json={"url": "https://hooks.acme.io/lune"})
    )
    assert created["enabled"] is True and created["account_ids"] == []
    assert len(created["secret"]) > 20
    scoped = check(
        published,
        client.post(
            "/v1/webhooks",
            json={"url": "https://hooks.acme.io/lune?only=other", "account_ids": [other]},
        ),
    )
    assert scoped["account_ids"] == [other]
    listed = check(published, client.get("/v1/webhooks"))
    assert [(w["id"], w["secret"]) for w in listed] == [
        (created["id"], created["secret"][-4:]),
        (scoped["id"], scoped["secret"][-4:]),
    ]
    filtered = check(published, client.get("/v1/webhooks", params={"account_id": other}))
    assert [w["id"] for w in filtered] == [scoped["id"]]
    one = check(published, client.get(f"/v1/webhooks/{created['id']}"))
    assert one == {**created, "secret": created["secret"][-4:]}
    deleted = client.delete(f"/v1/webhooks/{created['id']}")
    check(published, deleted)
    assert deleted.status_code == 204
    gone = client.get(f"/v1/webhooks/{created['id']}")
    check(published, gone)
    assert (gone.status_code, error_of(gone)) == (404, "not_found")
    assert own in sandbox_world.account_ids()


def test_webhook_errors_validate(published, client, sandbox_world):
    bad = [
        {"url": "http://hooks.acme.io/lune"},  # Lune takes https only
        {"url": "https://hooks.acme.io/lune", "account_ids": []},
        {"url": "https://hooks.acme.io/lune", "account_ids": [UNKNOWN_ID]},
        {},
    ]
    for body in bad:
        response = client.post("/v1/webhooks", json=body)
        check(published, response, request_too=False)
        assert (response.status_code, error_of(response)) == (400, "validation_error"), body
    for n in range(10):
        assert client.post("/v1/webhooks", json={"url": f"https://h{n}.acme.io/"}).is_success
    response = client.post("/v1/webhooks", json={"url": "https://one-more.acme.io/"})
    check(published, response)
    assert (response.status_code, error_of(response)) == (400, "webhook_limit_reached")


def test_delivered_requests_validate_as_webhook_requests(spec, server, sandbox_world):
    """Every body the sandbox POSTs is a WebhookRequest; each event's data is an Order or an
    OrderAllocation snapshot (with the `spec` correction: estimate orders are Orders)."""
    from tests.support.webhooks import capture_endpoint

    server.world.webhooks.configure(backoff_initial=0.05, backoff_max=0.2)
    with capture_endpoint() as endpoint:
        sandbox_world.webhooks.create(
            {"url": endpoint.url}, sandbox_world.account_ids(), 1_790_000_000_000
        )
        for _ in range(4):
            sandbox_world.advance(new_orders=10, transitions=40)
        assert sandbox_world.webhooks.wait_idle(30)
    request = schema_validator(spec, "WebhookRequest")
    kinds = set()
    for body in endpoint.bodies():
        request.validate(body)
        kinds |= {e["event_type"] for e in body["events"]}
    assert kinds >= {"order.received", "order.placed", "order.paid", "order.retiring"}
    assert kinds >= {"order.completed", "allocation.new", "allocation.retired"}
    assert kinds <= set(
        spec_event_types := yaml.safe_load(SPEC_PATH.read_text())["components"]["schemas"][
            "WebhookEvent"
        ]["properties"]["event_type"]["enum"]
    ), spec_event_types
