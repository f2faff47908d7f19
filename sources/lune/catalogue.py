"""Shapes Lune's account and catalogue records into the flat rows the warehouse keeps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .settings import DECIMAL_PRECISION, DECIMAL_SCALE

ACCOUNT_FIELDS = ("id", "name", "currency", "type", "handle", "beneficiary", "organisation_id")
BUNDLE_FIELDS = (
    "id",
    "name",
    "offset_type",
    "carbon_permanence",
    "approach",
    "unit_price",
    "gross_unit_price",
    "currency",
    "available_quantity",
    "disabled",
)
PROJECT_FIELDS = (
    "id",
    "name",
    "slug",
    "project_type",
    "registry_name",
    "registry_link",
    "country_code",
    "country_name",
    "region",
    "methodology",
    "durability",
    "verifying_body",
    "crediting_start_date",
    "crediting_end_date",
    "registration_date",
    "disabled",
)
# Lists worth keeping for reporting, each as one JSON column. Media, images and long texts are
# display-only and stay out.
PROJECT_JSON_FIELDS = ("un_sdg", "protocol", "additional_standards_met")


def _typed(data_type: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    # a fresh dict per column: dlt writes each column's name into its hint dict
    extra = (
        {"precision": DECIMAL_PRECISION, "scale": DECIMAL_SCALE} if data_type == "decimal" else {}
    )
    extra |= {"timezone": True} if data_type == "timestamp" else {}
    return {name: {"data_type": data_type, **extra} for name in names}


# Every column typed up front, so a column Lune leaves null today still exists (with the
# right type) for the views, and a later non-null value cannot change its type.
ACCOUNT_COLUMNS = _typed("text", (*ACCOUNT_FIELDS, "scope")) | _typed("timestamp", ["synced_at"])
BUNDLE_COLUMNS = (
    _typed("text", BUNDLE_FIELDS)
    | _typed("decimal", ("unit_price", "gross_unit_price", "available_quantity"))
    | _typed("bool", ["disabled"])
    | _typed("json", ["project_ids"])
    | _typed("timestamp", ["synced_at"])
)
PROJECT_COLUMNS = (
    _typed("text", PROJECT_FIELDS)
    | _typed("json", PROJECT_JSON_FIELDS)
    | _typed("bool", ["disabled"])
    | _typed("timestamp", ["synced_at"])
)


def account_row(account: dict[str, Any], scope: str, synced_at: datetime) -> dict[str, Any]:
    row = {name: account.get(name) for name in ACCOUNT_FIELDS}
    row["scope"] = scope
    row["synced_at"] = synced_at
    return row


def bundle_row(bundle: dict[str, Any], synced_at: datetime) -> dict[str, Any]:
    row = {name: bundle.get(name) for name in BUNDLE_FIELDS}
    row["project_ids"] = [p.get("id") for p in bundle.get("projects") or [] if isinstance(p, dict)]
    row["synced_at"] = synced_at
    return row


def project_row(project: dict[str, Any], synced_at: datetime) -> dict[str, Any]:
    row = {name: project.get(name) for name in PROJECT_FIELDS}
    for name in PROJECT_JSON_FIELDS:
        row[name] = project.get(name)
    row["synced_at"] = synced_at
    return row
