"""The receiver as a user runs it (`lune-pipeline webhooks serve`, uvicorn, real HTTP on
loopback): what it stores, what it refuses with which status, and what it never logs."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import orjson
import pytest

from tests.support.env import subprocess_env
from tests.support.webhooks import (
    SECRET,
    Receiver,
    allocation_event,
    body_of,
    lune_hmac,
    order_event,
    start_receiver,
)

# a value only the body holds: it must never show up in a log
MARKER = "cus_marker_7d1f3a"


@pytest.fixture(scope="module")
def receiver(tmp_path_factory) -> Receiver:
    workdir = tmp_path_factory.mktemp("receiver")
    running = start_receiver(
        workdir,
        workdir / "spool",
        extra_env={"SOURCES__LUNE__WEBHOOK_MAX_BODY_BYTES": "65536"},
    )
    yield running
    running.stop()


def incoming(receiver: Receiver) -> list[str]:
    folder = receiver.spool / "incoming"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def post(receiver: Receiver, body: bytes, header: str | None, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/json", **headers}
    if header is not None:
        sent["Lune-HMAC"] = header
    return httpx.post(receiver.url, content=body, headers=sent, timeout=10)


def a_body(event_id: str) -> bytes:
    order = order_event(event_id, status="complete")
    order["data"]["order"]["metadata"] = {"customer_id": MARKER}
    return body_of([order, allocation_event(event_id + "-a")])


def test_a_signed_delivery_is_stored_byte_for_byte_before_the_2xx(receiver):
    before = set(incoming(receiver))
    body = a_body("stored-1")
    now = int(time.time())
    response = post(receiver, body, lune_hmac(SECRET, now, body))
    assert (response.status_code, response.json()) == (200, {"received": 2})
    new = set(incoming(receiver)) - before
    assert len(new) == 1
    name = new.pop()
    assert (receiver.spool / "incoming" / name).read_bytes() == body
    assert f"-s{now}-" in name  # the signed time travels in the name


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong-signature", 401),
        ("other-secret", 401),
        ("no-signature", 401),
        ("stale-timestamp", 401),
        ("future-timestamp", 401),
        ("not-json", 400),
        ("no-events-array", 400),
        ("event-without-id", 400),
        ("oversized", 413),
        ("oversized-chunked", 413),
    ],
)
def test_refused_deliveries_get_their_status_and_leave_nothing(receiver, case, status):
    now = int(time.time())
    body = a_body(f"refused-{case}")
    header: str | None = lune_hmac(SECRET, now, body)
    if case == "wrong-signature":
        header = lune_hmac(SECRET, now, body + b" ")
    elif case == "other-secret":
        header = lune_hmac("not-the-secret", now, body)
    elif case == "no-signature":
        header = None
    elif case == "stale-timestamp":
        header = lune_hmac(SECRET, now - 3600, body)
    elif case == "future-timestamp":
        header = lune_hmac(SECRET, now + 3600, body)
    elif case in ("not-json", "no-events-array", "event-without-id"):
        body = {
            "not-json": b'{"events": [',
            "no-events-array": b'{"data": []}',
            "event-without-id": orjson.dumps({"events": [{**order_event("x"), "event_id": None}]}),
        }[case]
        header = lune_hmac(SECRET, now, body)  # correctly signed: the shape is what is wrong
    elif case.startswith("oversized"):
        body = body_of([order_event(f"big-{i}", order_id=MARKER * 20) for i in range(200)])
        assert len(body) > 65536
        header = lune_hmac(SECRET, now, body)
    before = incoming(receiver)
    if case == "oversized-chunked":  # no Content-Length: the limit holds while reading
        response = httpx.post(
            receiver.url,
            content=iter([body[i : i + 8192] for i in range(0, len(body), 8192)]),
            headers={"Lune-HMAC": header or ""},
            timeout=10,
        )
    else:
        response = post(receiver, body, header)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert MARKER not in response.text
    assert incoming(receiver) == before
    assert not [p for p in (receiver.spool / "incoming").iterdir() if p.name.startswith(".")]


def test_a_replay_of_a_stored_delivery_is_acknowledged_and_not_stored_again(receiver):
    body = a_body("replayed")
    header = lune_hmac(SECRET, int(time.time()), body)
    assert post(receiver, body, header).status_code == 200
    after_first = incoming(receiver)
    for _ in range(3):
        assert post(receiver, body, header).status_code == 200
    assert incoming(receiver) == after_first


def test_other_paths_and_methods(receiver):
    assert httpx.get(receiver.url.rstrip("/") + "/healthz").json() == {"status": "ok"}
    assert httpx.get(receiver.url).status_code == 405
    assert httpx.post(receiver.url.rstrip("/") + "/elsewhere", content=b"{}").status_code == 404


def test_the_log_never_holds_the_secret_a_signature_or_a_body(receiver):
    body = a_body("logged")
    header = lune_hmac(SECRET, int(time.time()), body)
    post(receiver, body, header)
    post(receiver, body + b" ", header)  # refused: logged with its reason
    time.sleep(0.2)
    log = receiver.log()
    assert "refused a delivery" in log and "401" in log
    signature = header.rsplit("v1=", 1)[1]
    for secret_or_body in (SECRET, signature, MARKER, "order1"):
        assert secret_or_body not in log


def test_serve_without_a_secret_or_spool_says_what_is_missing(tmp_path):
    env = subprocess_env()
    command = [sys.executable, "-m", "pipelines.cli", "webhooks", "serve", "--port", "1"]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "lune-pipeline: No webhook secret is configured: set SOURCES__LUNE__WEBHOOK_SECRET (or "
        "[sources.lune] webhook_secret in .dlt/secrets.toml) to the secret `lune-pipeline "
        "webhooks register` printed."
    )
    env["SOURCES__LUNE__WEBHOOK_SECRET"] = SECRET
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 1 and "SOURCES__LUNE__WEBHOOK_SPOOL" in run.stderr
    assert SECRET not in run.stderr + run.stdout
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env["SOURCES__LUNE__WEBHOOK_SPOOL"] = str(blocker / "spool")
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 1 and "is not usable" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
