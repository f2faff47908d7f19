"""The memory-versus-N chart: the product's backfill peak RSS (and the references') by order
count, from the stored results, saved as `benchmarks/memory_vs_orders.png`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHART = HERE / "memory_vs_orders.png"
NAMES = {
    "product_full": "product (backfill, default settings)",
    "bulkloader": "bulk loader (NDJSON + read_json)",
    "handwritten": "hand-written loader",
    "floor": "floor (fetch + parse)",
}


def points(store: dict[str, Any], latency_ms: float = 0.0) -> list[dict[str, Any]]:
    """(contender, orders, peak RSS MB) of every stored run at `latency_ms`."""
    found = []
    for result in store.get("configs", {}).values():
        params = result["params"]
        if params["latency_ms"] != latency_ms:
            continue
        for key, name in NAMES.items():
            row = result.get("rows", {}).get(key)
            if row and "error" not in row and row.get("peak_rss_mb"):
                found.append(
                    {
                        "contender": name,
                        "orders": params["orders"],
                        "peak_rss_mb": round(row["peak_rss_mb"], 1),
                    }
                )
    return found


def draw_memory_chart(store: dict[str, Any], path: Path = CHART) -> Path:
    """Writes the chart (log-scale N; the 400 MB target as a rule) and returns its path."""
    import altair as alt

    found = points(store)
    if not found:
        raise SystemExit("no stored results to chart: run the benchmark first")
    lines = (
        alt.Chart(alt.Data(values=found))
        .mark_line(point=True)
        .encode(
            x=alt.X("orders:Q", scale=alt.Scale(type="log"), title="orders (log scale)"),
            y=alt.Y("peak_rss_mb:Q", title="peak RSS (MB, VmHWM)"),
            color=alt.Color("contender:N", title=None),
            tooltip=["contender:N", "orders:Q", "peak_rss_mb:Q"],
        )
    )
    target = (
        alt.Chart(alt.Data(values=[{"y": 400}]))
        .mark_rule(strokeDash=[4, 4], color="red")
        .encode(y="y:Q")
    )
    chart = (lines + target).properties(
        title="Peak memory against account size (400 MB target dashed)", width=520, height=300
    )
    chart.save(str(path), format="png", scale_factor=1.5)
    return path
