"""Order money and quantities with exact decimals, so every order is internally consistent.

Invariants (checked by the tests): order quantity = Σ bundle line quantities = Σ project line
quantities; bundle offset_cost = quantity × unit_price to the cent; order offset_cost = Σ bundle
offset_costs = Σ project offset_costs; commission ≈ 10% of offset_cost; total = offset +
commission; for value orders offset_cost ≤ requested_value.

`quantity_trunc` (Lune's QuantityTrunc: t, kg or g) sets `places`, the decimals of tonnes every
quantity of the order keeps (0, 3 or 6; absent means 6, Lune's finest unit being the gram).
Each bundle and project line is truncated to that grid, not only the total, so the lines still
add up to the order's quantity and, for a value order, no line costs more than its share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from .catalogue import CENT, COMMISSION_RATE, BundleSpec, Catalogue, ProjectSpec, money

TONNE_PLACES = 6
HUNDRED = Decimal(100)
ZERO = Decimal(0)


def tonnes_step(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


MICRO = tonnes_step(TONNE_PLACES)


def tonnes(value: Decimal) -> str:
    """Up to six decimals without trailing zeros ('12.5', '0.012069', '3'), never exponents."""
    text = f"{value.quantize(MICRO, ROUND_DOWN):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def decimal_text(value: Decimal) -> str:
    """An exact decimal string without exponent or trailing zeros ('2.5', '1000', '0.0000015'):
    how the sandbox writes what a client asked for, which quantity_trunc does not cut."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(slots=True)
class BundleLine:
    bundle: BundleSpec
    quantity: Decimal
    unit_price: Decimal
    gross_unit_price: Decimal
    offset_cost: Decimal
    insufficient: bool | None

    def json(self) -> dict[str, object]:
        return {
            "bundle_id": self.bundle.id,
            "bundle_name": self.bundle.name,
            "quantity": tonnes(self.quantity),
            "unit_price": money(self.unit_price),
            "gross_unit_price": money(self.gross_unit_price),
            "offset_cost": money(self.offset_cost),
            "insufficient_available_quantity": self.insufficient,
        }


@dataclass(slots=True)
class ProjectLine:
    project: ProjectSpec
    quantity: Decimal
    unit_price: Decimal
    offset_cost: Decimal

    def json(self, retired: bool) -> dict[str, object]:
        return {
            "project_id": self.project.id,
            "project_name": self.project.name,
            "project_type": self.project.project_type,
            "project_slug": self.project.slug,
            "quantity": tonnes(self.quantity),
            "unit_price": money(self.unit_price),
            "offset_cost": money(self.offset_cost),
            "status": "retired" if retired else "allocated",
        }


@dataclass(slots=True)
class Plan:
    """What an order buys once placed: bundle lines, later project lines, and totals."""

    bundles: list[BundleLine]
    projects: list[ProjectLine]
    quantity: Decimal
    offset_cost: Decimal
    commission: Decimal
    total_cost: Decimal


Selection = list[tuple[BundleSpec, Decimal]]  # bundle and percentage (Σ = 100)


@dataclass(slots=True, frozen=True)
class Purchase:
    """What an order buys: `amount` tonnes (split by `selection`, or the explicit `masses`)
    or `amount` of money (kind "value"), in `currency`."""

    kind: str  # quantity | value
    currency: str
    amount: Decimal
    selection: Selection
    places: int = TONNE_PLACES
    masses: list[tuple[BundleSpec, Decimal]] | None = None


def price(catalogue: Catalogue, purchase: Purchase, rng: random.Random) -> Plan:
    """The plan of a purchase; `rng` picks projects and flags (the order's own generator)."""
    places = purchase.places
    if purchase.kind == "value":
        return plan_by_value(
            catalogue, purchase.currency, purchase.amount, purchase.selection, rng, places
        )
    masses = purchase.masses
    if masses is None:
        total = truncate(purchase.amount, places)
        shares = split_tonnes(total, purchase.selection, places)
        masses = list(zip((b for b, _ in purchase.selection), shares, strict=True))
    else:
        masses = [(bundle, truncate(amount, places)) for bundle, amount in masses]
    return plan_by_quantity(catalogue, purchase.currency, masses, rng, places)


def truncate(quantity: Decimal, places: int) -> Decimal:
    """`quantity` tonnes cut down to `places` decimals (quantity_trunc never rounds up)."""
    return quantity.quantize(tonnes_step(places), ROUND_DOWN)


def split_tonnes(total: Decimal, selection: Selection, places: int) -> list[Decimal]:
    """Splits `total` by percentage, rounding down; the last share takes the remainder."""
    step = tonnes_step(places)
    shares: list[Decimal] = []
    for bundle_pct in selection[:-1]:
        shares.append((total * bundle_pct[1] / HUNDRED).quantize(step, ROUND_DOWN))
    shares.append(total - sum(shares, ZERO))
    return shares


def plan_by_quantity(
    catalogue: Catalogue,
    currency: str,
    masses: list[tuple[BundleSpec, Decimal]],
    rng: random.Random,
    places: int = TONNE_PLACES,
) -> Plan:
    """A plan buying the given tonnes of each bundle (zero shares dropped)."""
    lines = []
    for bundle, quantity in masses:
        if quantity <= 0:
            continue
        unit, gross = catalogue.prices(bundle.id, currency)
        cost = (quantity * unit).quantize(CENT, ROUND_HALF_UP)
        lines.append(BundleLine(bundle, quantity, unit, gross, cost, _insufficient(rng)))
    return _finish(lines, rng, places)


def plan_by_value(
    catalogue: Catalogue,
    currency: str,
    value: Decimal,
    selection: Selection,
    rng: random.Random,
    places: int = TONNE_PLACES,
) -> Plan:
    """A plan spending at most `value` in total; offsets get value / 1.1 (the rest is fees).

    Each bundle gets the tonnes its share of the budget buys, truncated to `places`.
    """
    budget = (value / (1 + COMMISSION_RATE)).quantize(CENT, ROUND_DOWN)
    lines = []
    spent = ZERO
    for index, (bundle, pct) in enumerate(selection):
        if index == len(selection) - 1:
            share = budget - spent
        else:
            share = (budget * pct / HUNDRED).quantize(CENT, ROUND_DOWN)
        spent += share
        unit, gross = catalogue.prices(bundle.id, currency)
        quantity = (share / unit).quantize(tonnes_step(places), ROUND_DOWN)
        if quantity <= 0:
            continue
        # quantity × unit ≤ share, and share is on the cent grid, so rounding keeps cost ≤ share
        cost = (quantity * unit).quantize(CENT, ROUND_HALF_UP)
        lines.append(BundleLine(bundle, quantity, unit, gross, cost, _insufficient(rng)))
    plan = _finish(lines, rng, places)
    # rounding the commission must not take the total past what the client asked to spend
    if plan.total_cost > value:
        plan.commission = value - plan.offset_cost
        plan.total_cost = value
    return plan


def _insufficient(rng: random.Random) -> bool | None:
    roll = rng.random()
    return None if roll < 0.85 else roll < 0.88


def _finish(lines: list[BundleLine], rng: random.Random, places: int = TONNE_PLACES) -> Plan:
    """Allocates each bundle line to one or two of its bundle's projects and adds totals.

    An order of a single bundle line is split over two projects when it can be, so that a
    `retiring` order can show some lines allocated and some retired. Project quantities stay on
    the `places` grid of the order (at 6 places the generator is drawn as it always was, so
    generated orders do not change).
    """
    step = tonnes_step(places)
    projects: list[ProjectLine] = []
    for line in lines:
        pool = line.bundle.projects
        split = len(pool) > 1 and line.quantity >= 2 * step
        split = split and (len(lines) == 1 or rng.random() < 0.5)
        if not split:
            chosen = pool[rng.randrange(len(pool))]
            projects.append(ProjectLine(chosen, line.quantity, line.unit_price, line.offset_cost))
            continue
        # two distinct projects (cheaper than rng.sample, which is slow on small tuples)
        i = rng.randrange(len(pool))
        j = rng.randrange(len(pool) - 1)
        first, second = pool[i], pool[j + 1 if j >= i else j]
        ratio = Decimal(rng.randint(20, 80)) / HUNDRED
        q1 = max(step, (line.quantity * ratio).quantize(step, ROUND_DOWN))
        c1 = min(line.offset_cost, (q1 * line.unit_price).quantize(CENT, ROUND_HALF_UP))
        projects.append(ProjectLine(first, q1, line.unit_price, c1))
        projects.append(
            ProjectLine(second, line.quantity - q1, line.unit_price, line.offset_cost - c1)
        )
    quantity = sum((line.quantity for line in lines), ZERO)
    offset = sum((line.offset_cost for line in lines), ZERO)
    commission = (offset * COMMISSION_RATE).quantize(CENT, ROUND_HALF_UP)
    return Plan(lines, projects, quantity, offset, commission, offset + commission)
