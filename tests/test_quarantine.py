"""Records that break the API contract are quarantined with reasons; the good ones load; new
values and new fields are data and load too."""

from __future__ import annotations

import json

KINDS = ("missing_id", "missing_created_at", "bad_decimal", "wrong_type")


def test_malformed_records_are_quarantined_and_the_rest_loads(loader, sandbox_world):
    account_id = sandbox_world.account_ids()[1]
    injected = [sandbox_world.inject_malformed(account_id, kind) for kind in KINDS]

    summary = loader.run()

    assert summary.outcome == "succeeded"
    assert summary.quarantined == len(KINDS)
    assert loader.differences(sandbox_world) == []  # every valid order, nothing else
    with loader.connect() as con:
        rows = con.execute(
            "select account_id, endpoint, record_id, reason, payload "
            "from lune.quarantined_records order by reason"
        ).fetchall()
    assert len(rows) == len(KINDS)
    assert {r[0] for r in rows} == {account_id}
    assert {r[1] for r in rows} == {"/v1/orders"}
    reasons = " | ".join(r[3] for r in rows)
    assert "has no `id`" in reasons
    assert "has no `created_at`" in reasons
    assert "is not a decimal string" in reasons
    assert "not an array" in reasons or "not a" in reasons
    payloads = [json.loads(r[4]) for r in rows]
    for record in injected:
        assert record in payloads  # the raw record is kept whole: nothing is lost


def test_strict_mode_fails_the_run_when_anything_is_quarantined(loader, sandbox_world):
    sandbox_world.inject_malformed(sandbox_world.account_ids()[0], "bad_decimal")
    summary = loader.run(strict=True)
    assert summary.outcome == "failed"
    assert "quarantined" in summary.error
    assert loader.differences(sandbox_world) == []  # the good orders still landed
