"""Reads `dlt_project.yml`, the product's manifest, and resolves one profile of it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MANIFEST_FILE = "dlt_project.yml"
PROFILE_ENV = "LUNE_PROFILE"


class ManifestError(Exception):
    """The manifest is missing something or names something it does not define."""


@dataclass
class Settings:
    """What one profile of the manifest says about the run."""

    profile: str
    pipeline_name: str = "lune_orders"
    dataset: str = "lune"
    destination: str = "duckdb"
    destination_name: str = "local_duckdb"
    credentials: str | None = None
    account_ids: list[str] = field(default_factory=list)
    since: str | None = None
    transforms_enabled: bool = True
    # a copy of the dbt project to build instead of the bundled sql/ (absolute path)
    transforms_project_dir: str | None = None
    # dbt vars of the reporting project set in the manifest's `transforms` section
    transform_vars: dict[str, Any] = field(default_factory=dict)
    cron: str = "0 3 * * *"
    retries: int = 2
    retry_delay_minutes: int = 10
    # the carbon-credit report (`report` section): the Airflow DAG writes it after each build
    # when enabled; `lune-pipeline report` writes it on demand into report_dir
    report_enabled: bool = False
    report_dir: str = "lune_reports"
    report_format: str = "html"
    # the manifest these settings came from (None: no manifest, defaults)
    manifest_path: Path | None = None

    @property
    def base_dir(self) -> Path:
        """What a relative path in the settings (a DuckDB file) is relative to: the
        manifest's folder, or the working directory when there is no manifest."""
        return self.manifest_path.parent if self.manifest_path else Path.cwd()


def find_manifest(start: Path | None = None) -> Path | None:
    """The manifest named by LUNE_MANIFEST, else the nearest dlt_project.yml upwards."""
    explicit = os.environ.get("LUNE_MANIFEST")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ManifestError(f"LUNE_MANIFEST points to {path}, which is not a file.")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / MANIFEST_FILE
        if candidate.is_file():
            return candidate
    return None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(path: Path | None = None, profile: str | None = None) -> Settings:
    """Resolves the manifest for `profile` (or LUNE_PROFILE, or its default_profile)."""
    path = path or find_manifest()
    if path is None:
        return Settings(profile=profile or "default")
    path = path.resolve()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ManifestError(f"{path} is not valid YAML ({e.__class__.__name__}).") from None
    chosen = profile or os.environ.get(PROFILE_ENV) or raw.get("default_profile") or "dev"
    profiles = raw.get("profiles") or {}
    if profiles and chosen not in profiles:
        raise ManifestError(
            f"Profile {chosen!r} is not defined in {path} (profiles: {', '.join(profiles)})."
        )
    resolved = _merge(raw, profiles.get(chosen) or {})
    pipelines = resolved.get("pipelines") or {}
    if len(pipelines) != 1:
        raise ManifestError(f"{path} must define exactly one pipeline under `pipelines`.")
    pipeline_name, pipeline = next(iter(pipelines.items()))
    destination_name = pipeline.get("destination")
    destinations = resolved.get("destinations") or {}
    if destination_name not in destinations:
        raise ManifestError(
            f"Pipeline {pipeline_name!r} uses destination {destination_name!r}, which {path} "
            "does not define under `destinations`."
        )
    destination = destinations[destination_name] or {}
    source = (resolved.get("sources") or {}).get(pipeline.get("source", "lune")) or {}
    transforms = resolved.get("transforms") or {}
    schedule = resolved.get("schedule") or {}
    report = resolved.get("report") or {}
    return Settings(
        profile=chosen,
        pipeline_name=pipeline_name,
        dataset=pipeline.get("dataset_name", "lune"),
        destination=destination.get("type", destination_name),
        destination_name=destination_name,
        credentials=destination.get("credentials"),
        account_ids=list(source.get("account_ids") or []),
        since=source.get("since"),
        transforms_enabled=bool(transforms.get("enabled", True)),
        transforms_project_dir=_project_dir(path, transforms.get("project_dir")),
        transform_vars=_transform_vars(path, transforms),
        cron=schedule.get("cron", "0 3 * * *"),
        retries=int(schedule.get("retries", 2)),
        retry_delay_minutes=int(schedule.get("retry_delay_minutes", 10)),
        report_enabled=bool(report.get("enabled", False)),
        report_dir=_report_dir(path, report.get("out")),
        report_format=_report_format(path, report.get("format")),
        manifest_path=path,
    )


def _project_dir(manifest: Path, value: Any) -> str | None:
    """`transforms.project_dir`, relative to the manifest's folder when not absolute."""
    if not value:
        return None
    folder = Path(str(value)).expanduser()
    if not folder.is_absolute():
        folder = manifest.resolve().parent / folder
    if not (folder / "dbt_project.yml").is_file():
        raise ManifestError(
            f"transforms.project_dir in {manifest} is {value!r}, which holds no dbt_project.yml."
        )
    return str(folder)


def _report_dir(manifest: Path, value: Any) -> str:
    """`report.out`, relative to the manifest's folder when not absolute."""
    folder = Path(str(value or "lune_reports")).expanduser()
    if not folder.is_absolute():
        folder = manifest.resolve().parent / folder
    return str(folder)


def _report_format(manifest: Path, value: Any) -> str:
    if value in (None, "html", "pdf"):
        return value or "html"
    raise ManifestError(f"report.format in {manifest} must be html or pdf, not {value!r}.")


# transforms settings that are dbt vars of the reporting project, with the type they take
_TRANSFORM_VARS = {
    "customer_metadata_key": str,
    "fiscal_year_start_month": int,
    "open_order_max_days": int,
}


def _transform_vars(manifest: Path, transforms: dict[str, Any]) -> dict[str, Any]:
    """The reporting project's vars the manifest sets (the project's defaults apply otherwise)."""
    found: dict[str, Any] = {}
    for name, kind in _TRANSFORM_VARS.items():
        if transforms.get(name) is None:
            continue
        value = transforms[name]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ManifestError(
                f"transforms.{name} in {manifest} must be a whole number, not {value!r}."
            )
        found[name] = value
    month = found.get("fiscal_year_start_month")
    if month is not None and not 1 <= month <= 12:
        raise ManifestError(
            f"transforms.fiscal_year_start_month in {manifest} must be a month from 1 to 12, "
            f"not {month}."
        )
    return found
