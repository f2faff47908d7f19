"""The run's webhook step: extract the spool with the orders, commit the files after the load.

`runner._run_locked` calls `extract_webhooks` after extracting the orders, and the returned
batch's `commit()` after `pipeline.load()` returned (the load, with these events, is then
complete in the warehouse). Files move to done/ only then, so a run that fails or is killed
anywhere before leaves them all to the next run, whose merge on `event_id` (keeping the
earliest signed time) makes the second reading harmless.
"""

from __future__ import annotations

import logging
import time

import dlt

from sources.lune.webhooks import WebhookBatch, lune_webhooks_source
from sources.lune.webhooks.spool import Spool

from . import configured_spool

log = logging.getLogger("lune.webhooks")


def extract_webhooks(
    pipeline: dlt.Pipeline, spool: str | None, loader_file_format: str | None
) -> WebhookBatch | None:
    """Extracts the waiting deliveries into a load package; None when no spool is set."""
    location = spool or configured_spool()
    if location is None:
        return None
    started = time.monotonic()
    batch = WebhookBatch(Spool(location))
    pipeline.extract(
        lune_webhooks_source(spool=location, batch=batch),
        loader_file_format=loader_file_format,
    )
    log.info(
        "webhooks: %d deliveries, %d events (%d to load, %d already loaded, %d duplicates), "
        "%d quarantined, in %.2fs",
        len(batch.files),
        batch.events_read,
        batch.events_loaded,
        batch.already_loaded,
        batch.duplicates,
        len(batch.quarantined),
        time.monotonic() - started,
    )
    return batch
