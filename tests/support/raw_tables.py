"""The loaded (raw) tables as the dbt project declares them in its sources
(`sql/models/staging/_lune__sources.yml`): the contract between the loader and the models.
Tests build fixture tables from it, and check it against what a real load creates."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from transforms import DBT_PROJECT_DIR

SOURCES_FILE = DBT_PROJECT_DIR / "models" / "staging" / "_lune__sources.yml"


@cache
def declared_columns() -> dict[str, dict[str, str]]:
    """{table: {column: declared data type (DuckDB spelling)}} in declaration order."""
    source = yaml.safe_load(SOURCES_FILE.read_text())["sources"][0]
    return {
        table["name"]: {c["name"]: c["data_type"] for c in table["columns"]}
        for table in source["tables"]
    }


def spelled(data_type: str, dialect: str) -> str:
    """A declared type in `dialect` (the sources use DuckDB's spelling; JSON is jsonb on PG)."""
    return "jsonb" if dialect == "postgres" and data_type == "json" else data_type


def create_raw_tables(client: Any, dialect: str, tables: tuple[str, ...] | None = None) -> None:
    """Creates the declared raw tables (all, or `tables`) in the client's dataset."""
    if not client.has_dataset():
        client.create_dataset()
    for table in tables or tuple(declared_columns()):
        columns = ",\n    ".join(
            f"{name} {spelled(data_type, dialect)}"
            for name, data_type in declared_columns()[table].items()
        )
        client.execute_sql(
            f"create table {client.make_qualified_table_name(table)} (\n    {columns}\n)"
        )
