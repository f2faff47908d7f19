"""Benchmark harness: the Lune connector against a bare page loop and a hand-written loader.

`python -m benchmarks` (or `make bench`) starts the local Lune sandbox with N orders and runs,
each in its own subprocess, side by side:

- `floor`: an httpx page loop that fetches and parses every page, nothing more;
- `handwritten`: httpx + DuckDB bulk load of orders, orders__bundles, orders__projects;
- `product`: the full pipeline (`pipelines.runner.run`), a full backfill, then an incremental
  run after a realistic change set;
- `views`: every reporting view timed over the loaded warehouse;
- `incremental50k`: one account of 50,000 orders, incremental run against a full reload.

Modules: `cli` (orchestration, the sandbox), `worker` (the subprocess entry point),
`contenders` (floor and hand-written loader), `product` (the pipeline and views),
`world` (sandbox worlds and the planner's request bound), `report` (tables, targets,
RESULTS.md).
"""
