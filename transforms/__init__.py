"""The reporting layer's runner: builds the dbt project in `sql/` for a dlt pipeline.

The SQL itself lives in `sql/` (a dbt project: staging → intermediate → marts, seeds, data
tests, docs). This package only connects it to the pipeline: the dbt profile's environment
from the pipeline's destination (`connection`), and an in-process `dbt build` whose results
it reads (`runner`).
"""

from __future__ import annotations

from .connection import dbt_environment
from .errors import TransformError
from .runner import DBT_PROJECT_DIR, NodeOutcome, TransformResult, build

__all__ = [
    "DBT_PROJECT_DIR",
    "NodeOutcome",
    "TransformError",
    "TransformResult",
    "build",
    "dbt_environment",
]
