"""Where the warehouse is: a DuckDB path resolved the same way on every run, and said aloud.

dlt resolves a relative DuckDB path against the working directory of the pipeline's *first*
run (`initial_cwd` in its local state), so a second checkout or a run from another folder
silently wrote into the first one's file. Here a relative path is made absolute before dlt
sees it: against the folder of the manifest (`dlt_project.yml`) when there is one, else the
working directory. The pipeline remembers the absolute path it loaded; a run that resolves
another one says so and takes its sync state from the warehouse it now loads (the runner).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dlt

DEFAULT_DUCKDB_FILE = "lune_orders.duckdb"
# DuckDB "paths" that are not files in a folder
_NOT_A_PATH = (":memory:", ":pipeline:", ":external:", "md:", "motherduck:")
# the pipeline's local state key (dlt keeps `_local` on the machine, never in the warehouse)
LOCATION_KEY = "lune_warehouse_location"


def resolve_duckdb_path(configured: str | None, base: Path) -> str:
    """`configured` (default DEFAULT_DUCKDB_FILE) as an absolute path, a relative one taken
    from `base`; in-memory, special and MotherDuck locations are returned as they are."""
    configured = configured or DEFAULT_DUCKDB_FILE
    if configured.startswith(_NOT_A_PATH) or "://" in configured:
        return configured
    return str((base / Path(configured).expanduser()).resolve())


def duckdb_destination(configured: str | None, base: Path) -> Any:
    """A dlt DuckDB destination whose file is `resolve_duckdb_path(configured, base)`."""
    return dlt.destinations.duckdb(credentials=resolve_duckdb_path(configured, base))


def given_file(destination: Any) -> str | None:
    """The absolute DuckDB path a destination was made with (`duckdb_destination`), where it
    loads: dlt takes explicit arguments over any configuration. None for other warehouses
    and destinations made otherwise."""
    if destination is None or destination.destination_name != "duckdb":
        return None
    given = destination.config_params.get("credentials")
    return given if isinstance(given, str) and os.path.isabs(given) else None


def location(pipeline: dlt.Pipeline) -> str | None:
    """The absolute path of the pipeline's DuckDB file; None for other warehouses (whose
    location is their credentials, which are not printed)."""
    destination = pipeline.destination
    if destination is None or destination.destination_name != "duckdb":
        return None
    # resolving a client instead costs 30 ms before the account reads can start
    given = given_file(destination)
    if given is not None:
        return given
    database = pipeline.destination_client().config.credentials.database
    return str(database) if database else None


def remembered(pipeline: dlt.Pipeline, current: str) -> str | None:
    """Where this pipeline's local state says it loaded last, when it has run before.

    Pipelines that ran before this was recorded let dlt resolve the same file name against
    the working directory of their first run: that is where they loaded.
    """
    if pipeline.first_run:
        return None
    try:
        return str(pipeline.get_local_state_val(LOCATION_KEY))
    except KeyError:
        pass
    try:
        initial_cwd = pipeline.get_local_state_val("initial_cwd")
    except KeyError:
        return None
    return os.path.join(initial_cwd, os.path.basename(current))


def remember(pipeline: dlt.Pipeline, current: str) -> None:
    pipeline.set_local_state_val(LOCATION_KEY, current)
