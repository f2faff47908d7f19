"""The dbt connection for a dlt pipeline: the environment `sql/profiles.yml` reads.

The profile holds no value of its own: every setting is an environment variable, filled here
from the pipeline's own destination and credentials, so dbt writes where dlt loaded, with the
same login. The password goes in `DBT_ENV_SECRET_LUNE_PASSWORD`, a name dbt scrubs from its
logs and error messages.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import TransformError

# dbt target in sql/profiles.yml per dlt destination
TARGETS = {"duckdb": "duckdb", "postgres": "postgres"}


def dbt_environment(pipeline: Any, *, threads: int | None = None) -> dict[str, str]:
    """The environment variables that point `sql/profiles.yml` at `pipeline`'s destination."""
    destination = pipeline.destination.destination_name
    target = TARGETS.get(destination)
    if target is None:
        raise TransformError(
            f"The reporting project has no dbt target for the {destination} destination; "
            f"add one to sql/profiles.yml (supported: {', '.join(sorted(TARGETS))}) or run "
            "the project with your own dbt profile (README, Analysts)."
        )
    with pipeline.destination_client() as client:
        credentials = client.config.credentials
    env = {
        "LUNE_DBT_TARGET": target,
        "LUNE_DBT_SCHEMA": pipeline.dataset_name,
    }
    if threads:
        env["LUNE_DBT_THREADS"] = str(threads)
    if target == "duckdb":
        env["LUNE_DBT_DUCKDB_PATH"] = _duckdb_path(credentials)
        global_config = getattr(credentials, "global_config", None) or {}
        memory_limit = global_config.get("memory_limit")
        if memory_limit and not _is_load_default(global_config):
            env["LUNE_DBT_DUCKDB_MEMORY_LIMIT"] = str(memory_limit)
    else:
        env.update(
            {
                "LUNE_DBT_HOST": str(credentials.host or "localhost"),
                "LUNE_DBT_PORT": str(credentials.port or 5432),
                "LUNE_DBT_USER": str(credentials.username or ""),
                "DBT_ENV_SECRET_LUNE_PASSWORD": str(credentials.password or ""),
                "LUNE_DBT_DATABASE": str(credentials.database or ""),
            }
        )
        sslmode = (credentials.query or {}).get("sslmode")
        if sslmode:
            env["LUNE_DBT_SSLMODE"] = str(sslmode)
    return env


def _is_load_default(global_config: dict[str, Any]) -> bool:
    """The product's own cap for loading (`pipelines.runner.DUCKDB_GLOBAL_CONFIG`), not one the
    user set: the dbt build keeps its profile's limit (128 MB is for appending a backfill; the
    marts' joins and tests need more)."""
    from pipelines.runner import DUCKDB_GLOBAL_CONFIG

    return dict(global_config) == DUCKDB_GLOBAL_CONFIG


def _duckdb_path(credentials: Any) -> str:
    database = getattr(credentials, "database", None)
    if not isinstance(database, str) or not database or database == ":memory:":
        raise TransformError(
            "The reporting project needs a DuckDB file; the pipeline's DuckDB destination has "
            f"{database!r}."
        )
    return os.path.abspath(database)
