"""The run's webhook step: read the spool with the orders, commit the files after the load.

`runner._run_locked` calls `attach_webhooks` on the Lune source before extracting it, so the
events travel in the same load package (and schema) as the orders, and calls the returned
batch's `commit()` after `pipeline.load()` returned (the load holding these events is then
complete in the warehouse). Files move to done/ only then, so a run that fails or is killed
anywhere before leaves them all to the next run, whose merge on `event_id` (keeping the
earliest signed time) makes the second reading harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dlt
from dlt.extract.source import DltSource

from sources.lune.personal import PersonalData
from sources.lune.webhooks import WebhookBatch, webhook_events_resource
from sources.lune.webhooks.spool import Spool

from . import configured_spool


def attach_webhooks(
    source: DltSource, spool: str | None, source_options: Mapping[str, Any] | None = None
) -> WebhookBatch | None:
    """Adds `webhook_events` to `source` when a spool is set (`spool`, else
    SOURCES__LUNE__WEBHOOK_SPOOL); returns the batch to commit after the load, or None.

    The order snapshots inside events get the orders' personal-data policy (`personal_data`
    and its key, from `source_options` as the run passes them to `lune_source`, else from
    dlt config), so `webhook_events` holds no email the orders table would not.
    """
    location = spool or configured_spool()
    if location is None:
        return None
    options = dict(source_options or {})
    personal = PersonalData.from_config(
        options.get("personal_data") or dlt.config.get("sources.lune.personal_data") or "keep",
        options.get("personal_data_key") or dlt.secrets.get("sources.lune.personal_data_key"),
    )
    batch = WebhookBatch(Spool(location))
    source.resources.add(webhook_events_resource(location, batch, personal=personal))
    return batch
