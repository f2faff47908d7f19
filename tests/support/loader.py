"""Runs the real pipeline in-process against a sandbox, into a DuckDB file of the test's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.runner import RunOptions, RunSummary, run

from .warehouse import actual_rows, differences, expected_rows


@dataclass
class Loader:
    workdir: Path
    dataset: str = "lune"
    pipeline_name: str = "lune_test"
    transform: bool = False
    source_options: dict[str, Any] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.workdir / "warehouse.duckdb"

    @property
    def pipelines_dir(self) -> Path:
        return self.workdir / "pipelines"

    def options(self, **overrides: Any) -> RunOptions:
        options = RunOptions(
            destination=dlt.destinations.duckdb(credentials=str(self.db_path)),
            dataset=self.dataset,
            pipeline_name=self.pipeline_name,
            pipelines_dir=str(self.pipelines_dir),
            transform=self.transform,
            source_options=dict(self.source_options),
        )
        for key, value in overrides.items():
            setattr(options, key, value)
        return options

    def run(self, **overrides: Any) -> RunSummary:
        return run(self.options(**overrides))

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.db_path), read_only=True)

    def differences(self, world: Any, account_ids: list[str] | None = None) -> list[str]:
        with self.connect() as con:
            return differences(
                expected_rows(world, account_ids), actual_rows(con.cursor(), self.dataset)
            )
