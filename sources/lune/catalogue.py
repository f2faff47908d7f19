"""Shapes Lune's account and catalogue records into the flat rows the warehouse keeps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
