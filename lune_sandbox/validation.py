"""Validates create-order bodies (CreateOrderBy{Quantity,Value,Estimate}Request) as Lune does."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

import orjson

from .catalogue import CENT, BundleSpec, Catalogue
from .errors import ApiError, validation_error
from .pricing import HUNDRED, TONNE_PLACES, ZERO, Selection, tonnes_step

DECIMAL_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
PERCENT_RE = re.compile(r"^[0-9]+(\.\d{1,2})?$")
# Lune's ids: every id the OpenAPI description shows (orders, bundles, projects, estimates,
# accounts) is 32 letters and digits. Anything else is malformed: `id_invalid`, before any
# lookup; a well-formed id that names nothing is "not found" in the endpoint's own way.
ID_RE = re.compile(r"[A-Za-z0-9]{32}")  # fullmatch: "$" would let a final newline in
# tonnes per unit, and the decimals (of tonnes) that `quantity_trunc` keeps
UNIT_TONNES = {"g": Decimal("0.000001"), "kg": Decimal("0.001"), "t": Decimal(1)}
TRUNC_PLACES = {"g": 6, "kg": 3, "t": 0}
MAX_TONNES = Decimal(1_000_000)


@dataclass
class OrderRequest:
    """A valid create-order request. `selection` None means the account's default."""

    kind: str  # quantity | value | estimate
    fingerprint: bytes
    idempotency_key: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    selection: Selection | None = None
    masses: list[tuple[BundleSpec, Decimal]] | None = None
    tonnes: Decimal | None = None  # by mass: the quantity after quantity_trunc
    requested: Decimal | None = None  # by mass: the mass asked for, in tonnes, untruncated
    value: Decimal | None = None
    estimate_id: str | None = None
    places: int = TONNE_PLACES


def check_id(value: str, what: str) -> str:
    """`value` when it is a well-formed Lune id; otherwise Lune's 400 `id_invalid`."""
    if not ID_RE.fullmatch(value):
        raise ApiError(400, "id_invalid", f"{value!r} is not a valid {what} id.")
    return value


def parse_order_request(kind: str, raw: bytes, catalogue: Catalogue) -> OrderRequest:
    try:
        body = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError:
        raise validation_error("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise validation_error("The request body must be a JSON object.")
    fingerprint = kind.encode() + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    request = OrderRequest(kind=kind, fingerprint=fingerprint)
    request.idempotency_key = _idempotency_key(body.get("idempotency_key"))
    request.metadata = _metadata(body.get("metadata", {}))
    if body.get("bundle_selection") is not None:
        request.selection = parse_selection(body["bundle_selection"], catalogue)
    trunc = body.get("quantity_trunc")
    if trunc is not None:
        if trunc not in TRUNC_PLACES:
            raise validation_error("`quantity_trunc` must be one of g, kg, t.")
        request.places = TRUNC_PLACES[trunc]
    if kind == "quantity":
        _quantity(body, request, catalogue)
    elif kind == "value":
        value = body.get("value")
        if not isinstance(value, str) or not DECIMAL_RE.match(value):
            raise validation_error("`value` must be a decimal string such as '770.30'.")
        request.value = Decimal(value)
        if request.value < CENT:
            raise ApiError(400, "order_value_invalid", "`value` is below the currency's unit.")
    else:
        estimate_id = body.get("estimate_id")
        if not isinstance(estimate_id, str):
            raise validation_error("`estimate_id` is required and must be a string.")
        # whether the account has this estimate is the world's to say (estimate_not_found)
        request.estimate_id = check_id(estimate_id, "estimate")
    return request


def _quantity(body: dict[str, Any], request: OrderRequest, catalogue: Catalogue) -> None:
    has_mass, has_masses = "mass" in body, "bundle_masses" in body
    if has_mass == has_masses:
        raise validation_error("Give exactly one of `mass` or `bundle_masses`.")
    step = tonnes_step(request.places)
    if has_mass:
        request.requested = _mass(body["mass"], "mass")
        request.tonnes = request.requested.quantize(step, ROUND_DOWN)
        _check_tonnes(request.tonnes)
        return
    masses = body["bundle_masses"]
    if not isinstance(masses, list) or not masses:
        raise validation_error("`bundle_masses` must be a non-empty array.")
    if request.selection is not None:
        raise validation_error("`bundle_selection` cannot be combined with `bundle_masses`.")
    parsed: list[tuple[BundleSpec, Decimal]] = []
    requested = ZERO
    for index, item in enumerate(masses):
        if not isinstance(item, dict):
            raise validation_error(f"`bundle_masses[{index}]` must be an object.")
        bundle = _bundle(item.get("bundle_id"), catalogue, "bundle_id_invalid")
        if any(b is bundle for b, _ in parsed):
            raise validation_error(f"Bundle {bundle.id} appears twice in `bundle_masses`.")
        amount = _mass(item.get("mass"), f"bundle_masses[{index}].mass")
        requested += amount
        parsed.append((bundle, amount.quantize(step, ROUND_DOWN)))
    request.masses = parsed
    request.requested = requested
    request.tonnes = sum((amount for _, amount in parsed), ZERO)
    _check_tonnes(request.tonnes)


def _check_tonnes(total: Decimal) -> None:
    if total <= 0 or total > MAX_TONNES:
        raise ApiError(
            400, "order_quantity_invalid", "The quantity must be above 0 and at most 1000000 t."
        )


def _mass(mass: Any, name: str) -> Decimal:
    if (
        not isinstance(mass, dict)
        or not isinstance(mass.get("amount"), str)
        or not DECIMAL_RE.match(mass["amount"])
        or mass.get("unit") not in UNIT_TONNES
    ):
        raise validation_error(
            f"`{name}` must be {{amount: decimal string, unit: one of g, kg, t}}."
        )
    return Decimal(mass["amount"]) * UNIT_TONNES[mass["unit"]]


def _idempotency_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 100:
        raise validation_error("`idempotency_key` must be a string of 1 to 100 characters.")
    return value


def _metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise validation_error("`metadata` must be an object whose values are strings.")
    return dict(value)


def _bundle(bundle_id: Any, catalogue: Catalogue, code: str) -> BundleSpec:
    """The enabled bundle `bundle_id` names: `id_invalid` when malformed, `code` when it names
    no enabled bundle."""
    if not isinstance(bundle_id, str):
        raise validation_error("`bundle_id` is required and must be a string.")
    bundle = catalogue.bundle_by_id.get(check_id(bundle_id, "bundle"))
    if bundle is None or bundle.disabled:
        raise ApiError(400, code, f"Bundle {bundle_id!r} does not exist or is disabled.")
    return bundle


def parse_selection(value: Any, catalogue: Catalogue) -> Selection:
    """BundleSelectionRequest: percentages for all bundles or none (equal split), Σ = 100."""
    if not isinstance(value, list) or not value:
        raise validation_error("`bundle_selection` must be a non-empty array.")
    bundles: list[BundleSpec] = []
    percentages: list[Decimal | None] = []
    for item in value:
        if not isinstance(item, dict):
            raise validation_error("Each `bundle_selection` item must be an object.")
        bundle = _bundle(item.get("bundle_id"), catalogue, "bundle_selection_bundle_invalid")
        if bundle in bundles:
            raise ApiError(
                400, "bundle_selection_bundle_invalid", f"Bundle {bundle.id} appears twice."
            )
        bundles.append(bundle)
        percentages.append(_percentage(item.get("percentage")))
    given = [p for p in percentages if p is not None]
    if given and len(given) != len(percentages):
        raise ApiError(
            400,
            "bundle_selection_ratios_invalid",
            "Give `percentage` for all bundles of the selection or for none.",
        )
    if not given:
        equal = (HUNDRED / len(bundles)).quantize(CENT, ROUND_DOWN)
        shares = [equal] * (len(bundles) - 1)
        return [*zip(bundles, shares, strict=False), (bundles[-1], HUNDRED - sum(shares, ZERO))]
    if sum(given, ZERO) != HUNDRED:
        raise ApiError(
            400, "bundle_selection_ratios_invalid", "Selection percentages must add up to 100."
        )
    return list(zip(bundles, given, strict=True))


def _percentage(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(
            400, "bundle_selection_ratios_invalid_format", "`percentage` is not a number."
        )
    if isinstance(value, str) and not PERCENT_RE.match(value):
        raise ApiError(
            400,
            "bundle_selection_ratios_invalid_format",
            "`percentage` must have at most 2 decimals.",
        )
    number = Decimal(value)
    if not 0 < number <= HUNDRED:
        raise ApiError(
            400, "bundle_selection_ratios_invalid_format", "`percentage` must be in (0, 100]."
        )
    return number
