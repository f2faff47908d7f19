"""A fixed, fictional catalogue of bundles and projects, served in each account's currency.

Lune's catalogue is global (the same for every account and key), so it does not depend on the
world's seed. Prices are kept in GBP and converted with fixed exchange rates, because Lune
quotes bundle prices and order money in the account's currency.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
# Lune's fee: gross unit price and order commission are ~10% above the net offset cost.
COMMISSION_RATE = Decimal("0.10")

# Units of the account currency per GBP. Every AccountCurrencyCode of the OpenAPI description.
FX_RATES: dict[str, Decimal] = {
    code: Decimal(rate)
    for code, rate in {
        "GBP": "1",
        "USD": "1.27",
        "EUR": "1.17",
        "SEK": "13.40",
        "CHF": "1.12",
        "PLN": "5.05",
        "DKK": "8.72",
        "NOK": "13.60",
        "BGN": "2.29",
        "INR": "105.80",
        "SGD": "1.71",
        "AED": "4.66",
        "AUD": "1.93",
        "HUF": "458.00",
        "ISK": "175.00",
        "CZK": "29.40",
        "CAD": "1.74",
    }.items()
}

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ASSETS = "https://assets.example.org/lune-sandbox"


def stable_id(name: str) -> str:
    """A 32-character id in Lune's style, derived from `name` (the same in every world)."""
    number = int.from_bytes(hashlib.sha256(name.encode()).digest(), "big")
    chars = []
    for _ in range(32):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


@dataclass(frozen=True)
class ProjectSpec:
    slug: str
    name: str
    project_type: str
    registry_name: str
    country_name: str
    country_code: str
    region: str | None
    latitude: float
    longitude: float
    methodology: str | None
    durability: str | None
    un_sdg: tuple[int, ...]
    registered: str
    disabled: bool = False
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", stable_id("project:" + self.slug))


@dataclass(frozen=True)
class BundleSpec:
    slug: str
    name: str
    base_price_gbp: Decimal
    offset_type: str | None
    approach: str | None
    carbon_permanence: str
    available_quantity: str | None
    colour: str
    projects: tuple[ProjectSpec, ...]
    disabled: bool = False
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", stable_id("bundle:" + self.slug))


def _p(
    slug: str,
    name: str,
    kind: str,
    registry: str,
    country: tuple[str, str, str | None],
    lat: float,
    lon: float,
    methodology: str | None,
    durability: str | None,
    sdg: tuple[int, ...],
    registered: str,
    disabled: bool = False,
) -> ProjectSpec:
    return ProjectSpec(
        slug,
        name,
        kind,
        registry,
        *country,
        lat,
        lon,
        methodology,
        durability,
        sdg,
        registered,
        disabled,
    )


BUNDLES: tuple[BundleSpec, ...] = (
    BundleSpec(
        "tropical-forest-conservation",
        "Tropical forest conservation",
        Decimal("12.40"),
        "emissions_reduction",
        "traditional",
        "short_term",
        None,
        "#1F6F4A",
        (
            _p(
                "rio-azul-forest",
                "Rio Azul Forest Conservation",
                "Forest conservation",
                "Verra",
                ("Peru", "PER", "Madre de Dios"),
                -12.59,
                -69.18,
                "VM0007",
                None,
                (1, 13, 15),
                "2016-03-14",
            ),
            _p(
                "sungai-hijau-redd",
                "Sungai Hijau REDD+",
                "Forest conservation",
                "Verra",
                ("Indonesia", "IDN", "West Kalimantan"),
                -0.28,
                111.47,
                "VM0007",
                None,
                (8, 13, 15),
                "2015-07-02",
            ),
            _p(
                "mai-ndombe-basin",
                "Mai Ndombe Basin Forest",
                "Forest conservation",
                "Verra",
                ("Democratic Republic of the Congo", "COD", "Mai-Ndombe"),
                -2.0,
                18.3,
                "VM0009",
                None,
                (1, 2, 5, 13, 15),
                "2012-11-20",
            ),
            _p(
                "appalachian-ifm",
                "Appalachian Improved Forest Management",
                "Improved forest management",
                "American Carbon Registry",
                ("United States", "USA", "West Virginia"),
                38.6,
                -80.6,
                "ACR IFM 2.0",
                "40+",
                (13, 15),
                "2019-05-09",
            ),
        ),
    ),
    BundleSpec(
        "latin-america-reforestation",
        "Latin America reforestation",
        Decimal("18.90"),
        "carbon_removal",
        "traditional",
        "short_term",
        None,
        "#2E8B57",
        (
            _p(
                "serra-verde-reforestation",
                "Serra Verde Reforestation",
                "Reforestation",
                "Verra",
                ("Brazil", "BRA", "Minas Gerais"),
                -18.5,
                -44.6,
                "AR-ACM0003",
                "40+",
                (6, 13, 15),
                "2018-02-27",
            ),
            _p(
                "chiriqui-native-forest",
                "Chiriquí Native Forest Restoration",
                "Afforestation",
                "Gold Standard",
                ("Panama", "PAN", "Chiriquí"),
                8.43,
                -82.43,
                "AR-AMS0007",
                "40+",
                (8, 13, 15),
                "2017-09-12",
            ),
        ),
    ),
    BundleSpec(
        "ocean-alkalinity",
        "Ocean alkalinity enhancement",
        Decimal("240.00"),
        "carbon_removal",
        "innovative",
        "long_term",
        "820.5",
        "#1D4E89",
        (
            _p(
                "north-sea-alkalinity",
                "North Sea Alkalinity Pilot",
                "Ocean alkalinity enhancement",
                "Isometric",
                ("Norway", "NOR", "Rogaland"),
                58.97,
                5.73,
                None,
                "10000+",
                (13, 14),
                "2023-04-18",
            ),
            _p(
                "atlantic-mineral-weathering",
                "Atlantic Mineral Weathering",
                "Enhanced weathering",
                "Isometric",
                ("Iceland", "ISL", None),
                64.14,
                -21.94,
                None,
                "10000+",
                (13, 14),
                "2023-08-01",
            ),
        ),
    ),
    BundleSpec(
        "european-biochar",
        "European biochar",
        Decimal("135.00"),
        "carbon_removal",
        "innovative",
        "long_term",
        "4310",
        "#3B3B3B",
        (
            _p(
                "baltic-biochar-works",
                "Baltic Biochar Works",
                "Biochar",
                "Puro.earth",
                ("Sweden", "SWE", "Kalmar"),
                56.66,
                16.36,
                "Puro Biochar 2022",
                "100+",
                (9, 13),
                "2021-06-30",
            ),
            _p(
                "rhine-valley-biochar",
                "Rhine Valley Biochar",
                "Biochar",
                "Puro.earth",
                ("Germany", "DEU", "Baden-Württemberg"),
                48.0,
                7.85,
                "Puro Biochar 2022",
                "100+",
                (9, 12, 13),
                "2022-01-17",
            ),
        ),
    ),
    BundleSpec(
        "direct-air-capture",
        "Direct air capture",
        Decimal("480.00"),
        "carbon_removal",
        "innovative",
        "long_term",
        "1250.5",
        "#5B5EA6",
        (
            _p(
                "highland-dac",
                "Highland DAC Facility",
                "Direct air capture",
                "Isometric",
                ("Iceland", "ISL", "Hengill"),
                64.04,
                -21.4,
                None,
                "1000+",
                (9, 13),
                "2022-09-05",
            ),
            _p(
                "prairie-air-capture",
                "Prairie Air Capture Hub",
                "Direct air capture",
                "Isometric",
                ("Canada", "CAN", "Alberta"),
                51.05,
                -114.07,
                None,
                "1000+",
                (9, 13),
                "2024-02-12",
            ),
        ),
    ),
    BundleSpec(
        "east-africa-cookstoves",
        "Clean cookstoves in East Africa",
        Decimal("8.75"),
        "emissions_reduction",
        "traditional",
        "no_storage",
        None,
        "#C75B12",
        (
            _p(
                "lake-victoria-cookstoves",
                "Lake Victoria Cookstoves",
                "Cookstoves",
                "Gold Standard",
                ("Uganda", "UGA", "Central Region"),
                0.35,
                32.58,
                "GS TPDDTEC",
                None,
                (3, 5, 7, 13),
                "2014-10-22",
            ),
            _p(
                "rift-valley-stoves",
                "Rift Valley Efficient Stoves",
                "Cookstoves",
                "Gold Standard",
                ("Kenya", "KEN", "Nakuru"),
                -0.3,
                36.07,
                "GS TPDDTEC",
                None,
                (3, 5, 13),
                "2016-05-03",
            ),
        ),
    ),
    BundleSpec(
        "south-asia-renewables",
        "Renewable energy in South Asia",
        Decimal("4.20"),
        "emissions_reduction",
        "traditional",
        "no_storage",
        None,
        "#E0A526",
        (
            _p(
                "deccan-solar-park",
                "Deccan Solar Park",
                "Solar energy",
                "Gold Standard",
                ("India", "IND", "Karnataka"),
                14.2,
                77.3,
                "ACM0002",
                None,
                (7, 8, 13),
                "2017-12-01",
            ),
            _p(
                "sindh-wind-corridor",
                "Sindh Wind Corridor",
                "Wind energy",
                "Verra",
                ("Pakistan", "PAK", "Sindh"),
                24.9,
                67.9,
                "ACM0002",
                None,
                (7, 13),
                "2018-08-15",
            ),
            _p(
                "sierra-foothills-landfill",
                "Sierra Foothills Landfill Gas",
                "Landfill gas",
                "Climate Action Reserve",
                ("United States", "USA", "California"),
                38.9,
                -121.0,
                "CAR Landfill 6.0",
                None,
                (11, 13),
                "2013-04-09",
            ),
        ),
    ),
    # Disabled recently: only `?recently_disabled=true` lists it; older orders still name it.
    BundleSpec(
        "peatland-restoration",
        "Peatland restoration",
        Decimal("16.50"),
        "emissions_reduction",
        "traditional",
        "short_term",
        "0",
        "#6B4F2A",
        (
            _p(
                "flow-country-peatland",
                "Flow Country Peatland",
                "Peatland restoration",
                "Verra",
                ("United Kingdom", "GBR", "Highland"),
                58.4,
                -3.9,
                "VM0036",
                None,
                (6, 13, 15),
                "2019-11-11",
                disabled=True,
            ),
            _p(
                "oder-wetland-rewetting",
                "Oder Wetland Rewetting",
                "Peatland restoration",
                "Verra",
                ("Poland", "POL", "West Pomerania"),
                53.4,
                14.5,
                "VM0036",
                None,
                (6, 13, 15),
                "2020-06-24",
                disabled=True,
            ),
        ),
        disabled=True,
    ),
)


def money(value: Decimal) -> str:
    """Two decimals, as Lune writes money."""
    return f"{value:.2f}"


class Catalogue:
    """Bundles and projects, with prices and API JSON per currency (computed once, cached)."""

    def __init__(self, bundles: tuple[BundleSpec, ...] = BUNDLES) -> None:
        self.bundles = bundles
        self.bundle_by_id = {b.id: b for b in bundles}
        self.project_by_id = {p.id: p for b in bundles for p in b.projects}
        self.project_by_slug = {p.slug: p for b in bundles for p in b.projects}
        self.bundle_of_project = {p.id: b for b in bundles for p in b.projects}
        self.enabled_bundles = tuple(b for b in bundles if not b.disabled)
        self._prices: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        self._json: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def prices(self, bundle_id: str, currency: str) -> tuple[Decimal, Decimal]:
        """(unit_price, gross_unit_price) of a bundle per tonne, in `currency`, to the cent."""
        key = (bundle_id, currency)
        cached = self._prices.get(key)
        if cached is None:
            base = self.bundle_by_id[bundle_id].base_price_gbp
            unit = (base * FX_RATES[currency]).quantize(CENT, ROUND_HALF_UP)
            gross = (unit * (1 + COMMISSION_RATE)).quantize(CENT, ROUND_HALF_UP)
            cached = self._prices[key] = (unit, gross)
        return cached

    # --- API JSON ------------------------------------------------------------------------

    def bundles_json(self, currency: str, recently_disabled: bool = True) -> list[dict[str, Any]]:
        """Bundle objects (with their projects) in catalogue order."""
        rows = self._cached("bundles", currency)
        return [b for b in rows if recently_disabled or not b["disabled"]]

    def projects_json(self, currency: str, recently_disabled: bool = True) -> list[dict[str, Any]]:
        """Project objects (with the bundles they belong to) in catalogue order."""
        rows = self._cached("projects", currency)
        return [p for p in rows if recently_disabled or not p["disabled"]]

    def _cached(self, kind: str, currency: str) -> list[dict[str, Any]]:
        key = (kind, currency)
        if key not in self._json:
            if kind == "bundles":
                self._json[key] = [
                    {
                        **self._bundle_summary(b, currency),
                        "projects": [self._project_summary(p) for p in b.projects],
                    }
                    for b in self.bundles
                ]
            else:
                self._json[key] = [
                    self._project(p, self.bundle_of_project[p.id], currency)
                    for b in self.bundles
                    for p in b.projects
                ]
        return self._json[key]

    def _bundle_summary(self, bundle: BundleSpec, currency: str) -> dict[str, Any]:
        unit, gross = self.prices(bundle.id, currency)
        image = f"{_ASSETS}/bundles/{bundle.slug}"
        return {
            "id": bundle.id,
            "name": bundle.name,
            "unit_price": money(unit),
            "gross_unit_price": money(gross),
            "currency": currency,
            "background_colour": bundle.colour,
            "primary_image": f"{image}.png",
            "large_image": f"{image}-lg.png",
            "primary_image_hires": f"{image}-hires.jpg",
            "small_thumbnail": f"{image}-thumbnail.jpg",
            "description": f"{bundle.name}: a sandbox bundle of {len(bundle.projects)} projects.",
            "disabled": bundle.disabled,
            "available_quantity": bundle.available_quantity,
            "offset_type": bundle.offset_type,
            "approach": bundle.approach,
            "carbon_permanence": bundle.carbon_permanence,
        }

    @staticmethod
    def _project_summary(project: ProjectSpec) -> dict[str, Any]:
        image = f"{_ASSETS}/projects/{project.slug}"
        registry = project.registry_name.lower().replace(" ", "-").replace(".", "-")
        start_year = int(project.registered[:4])
        return {
            "id": project.id,
            "name": project.name,
            "short_name": project.name.split(" ")[0] + " " + project.name.split(" ")[1],
            "slug": project.slug,
            "description": f"{project.name} is a fictional {project.project_type.lower()} "
            "project of the Lune API sandbox.",
            "project_type": project.project_type,
            "registry_name": project.registry_name,
            "registry_link": f"https://registry.example.org/{registry}/{project.slug}",
            "latitude": project.latitude,
            "longitude": project.longitude,
            "country_name": project.country_name,
            "country_code": project.country_code,
            "region": project.region,
            "logo": f"{image}-logo.png",
            "primary_image": f"{image}.png",
            "thumbnail_image": f"{image}-thumbnail.png",
            "results": [f"Sandbox result for {project.name}."],
            "un_sdg": list(project.un_sdg),
            "media": [
                {
                    "type": "image",
                    "url": f"{image}-1.jpg",
                    "attribution_text": None,
                    "attribution_url": None,
                }
            ],
            "disabled": project.disabled,
            "crediting_start_date": f"{start_year}-01-01",
            "crediting_end_date": f"{start_year + 30}-12-31",
            "registration_date": project.registered,
            "protocol": [project.registry_name],
            "methodology": project.methodology,
            "durability": project.durability,
            "additional_standards_met": [],
            "verifying_body": "Sandbox Verification Ltd",
            "risk_of_reversal": "Buffer pool contribution" if project.durability else None,
            "risk_of_predicted_emissions": None,
            "avg_annual_emission_reductions": str(10_000 + 37 * len(project.slug) ** 2),
        }

    def _project(self, project: ProjectSpec, bundle: BundleSpec, currency: str) -> dict[str, Any]:
        return {
            **self._project_summary(project),
            "bundles": [self._bundle_summary(bundle, currency)],
            "impact_summary": None,
            "quality_assessment": None,
            "links_and_news": None,
            "carbon_credits": None,
            "timeline": [
                {"year": int(project.registered[:4]), "description": "Registered."},
            ],
            "carbon_storage_over_time": None,
            "datasets": None,
        }
