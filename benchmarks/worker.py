"""One contender in its own process: `python -m benchmarks.worker SPEC.json RESULT.json`.

The spec names the contender and the sandbox; the result holds the timed section's wall time,
what the contender reports, and the process's memory (see `benchmarks.memory`):

- `peak_rss_mb` is VmHWM, the high-water mark of this process's own address space;
  `ru_maxrss_mb` is recorded for comparison only (it inherits the parent's peak);
- `baseline_rss_mb` is the resident size after the imports, before the timed section.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from .memory import status_mb  # noqa: E402


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs the contender `spec["contender"]` and returns its measurements."""
    contender = spec["contender"]
    workdir = Path(spec["workdir"])
    base_url, api_key = spec["base_url"], spec["api_key"]
    if contender in ("floor", "handwritten", "bulkloader"):
        from . import contenders

        if contender in ("handwritten", "bulkloader"):
            import duckdb  # noqa: F401
            import pyarrow  # noqa: F401
        task = getattr(contenders, contender)
        imported = time.perf_counter()
        baseline = status_mb("VmRSS")
        started = time.perf_counter()
        outcome = task(base_url, api_key, workdir)
        outcome["wall"] = time.perf_counter() - started
    elif contender == "product":
        from . import product

        product.warm_imports()
        imported = time.perf_counter()
        baseline = status_mb("VmRSS")
        profile = workdir / spec["profile"] if spec.get("profile") else None
        outcome = product.run_product(
            base_url,
            api_key,
            Path(spec["warehouse"]),
            full_refresh=bool(spec.get("full_refresh")),
            profile_to=profile,
            source_options=spec.get("source_options"),
        )
    elif contender == "views":
        from . import product

        product.warm_imports()
        imported = time.perf_counter()
        baseline = status_mb("VmRSS")
        started = time.perf_counter()
        outcome = product.time_views(base_url, api_key, Path(spec["warehouse"]))
        outcome["wall"] = time.perf_counter() - started
    elif contender == "report":
        from . import product

        product.warm_report_imports()
        imported = time.perf_counter()
        baseline = status_mb("VmRSS")
        outcome = product.time_report(base_url, api_key, Path(spec["warehouse"]), spec["scope"])
    else:
        raise SystemExit(f"unknown contender {contender!r}")
    outcome.update(
        import_seconds=imported - STARTED,
        baseline_rss_mb=baseline,
        peak_rss_mb=status_mb("VmHWM"),
        ru_maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return outcome


def main(argv: list[str]) -> int:
    spec_path, result_path = argv
    spec = json.loads(Path(spec_path).read_text())
    result = run(spec)
    Path(result_path).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
