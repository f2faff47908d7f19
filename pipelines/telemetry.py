"""With dlt's telemetry off, a run writes nothing into dlt's machine-wide directory.

dlt 1.31 builds every telemetry event before it checks whether telemetry is on, and building
one reads the machine's anonymous id, creating `.anonymous_id` in dlt's global directory
when it is missing (`/var/dlt` when the run is root's, whatever `DLT_DATA_DIR` says). With
`RUNTIME__DLTHUB_TELEMETRY=false` nothing is sent, yet every extract, normalize and load
still wrote that file. `skip_events_while_telemetry_is_off` drops an event before it is
built when the tracker is off; with telemetry on, dlt's behaviour is unchanged.
"""

from __future__ import annotations

from typing import Any

from dlt.common.runtime import anon_tracker


def skip_events_while_telemetry_is_off() -> None:
    """Wraps dlt's event sender once per process (idempotent)."""
    if getattr(anon_tracker._send_event, "_lune_skips_when_off", False):
        return
    send_event = anon_tracker._send_event

    def send_when_on(event_name: str, properties: Any, context: Any) -> None:
        # dlt sets the endpoint when telemetry starts and clears it when telemetry is off
        if anon_tracker._ANON_TRACKER_ENDPOINT is None:
            return
        send_event(event_name, properties, context)

    send_when_on._lune_skips_when_off = True  # type: ignore[attr-defined]
    anon_tracker._send_event = send_when_on
