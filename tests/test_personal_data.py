"""Personal data (the order's `email`, set on orders placed through offset links) against the
sandbox: `keep` loads it as Lune sends it, `hash` stores a keyed HMAC-SHA256 (stable across
runs, different under another key, no email anywhere in the warehouse), `drop` stores none;
a change of setting is reported until a full refresh rewrites what was stored; a bad setting
is one sentence that never shows the key."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lune_sandbox import SandboxWorld
from pipelines.runner import RunError
from sources.lune.personal import PersonalData
from sources.lune.sync import AccountState, AccountSync, digest
from tests.support.cli import run_cli
from tests.support.loader import Loader
from tests.support.warehouse import ORDER_COLUMNS, actual_rows, differences, expected_rows

KEY = "test-personal-data-key-0001"
OTHER_KEY = "another-personal-data-key-02"
EMAIL = ORDER_COLUMNS.index("email")


def _hmac(key: str, email: str) -> str:
    """The documented form, restated: HMAC-SHA256 of the trimmed, lower-cased email."""
    return hmac.new(key.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _emails(world: SandboxWorld) -> dict[tuple[str, str], str]:
    """(account id, order id) -> email, for every order of the sandbox that has one."""
    return {
        (account_id, order["id"]): order["email"]
        for account_id in world.account_ids()
        for order in world.orders(account_id)
        if order.get("email")
    }


def _expected(world: SandboxWorld, email_form) -> dict[str, dict]:
    """The sandbox's rows with each order's email in `email_form(email)`."""
    expected = expected_rows(world)
    for key, row in expected["orders"].items():
        email = row[EMAIL]
        row = list(row)
        row[EMAIL] = None if email is None else email_form(email)
        expected["orders"][key] = tuple(row)
    return expected


def _differences(loader: Loader, world: SandboxWorld, email_form) -> list[str]:
    with loader.connect() as con:
        return differences(_expected(world, email_form), actual_rows(con.cursor(), "lune"))


def _warehouse_text(path: Path) -> str:
    """Every value of every table in the file (dlt's own tables and the quarantine too)."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        return "\n".join(
            repr(con.execute(f'select * from "{schema}"."{table}"').fetchall())
            for schema, table in tables
        )


@pytest.fixture
def hash_key(monkeypatch) -> str:
    monkeypatch.setenv("SOURCES__LUNE__PERSONAL_DATA_KEY", KEY)
    return KEY


def test_keep_loads_the_email_as_lune_sends_it(loader, sandbox_world):
    emails = _emails(sandbox_world)
    assert len(emails) >= 5, "the sandbox's offset-link orders carry emails"

    summary = loader.run()

    assert summary.personal_data == "keep"
    assert loader.differences(sandbox_world) == []  # the email column included
    assert "personal data: keep" in summary.to_text()


def test_hash_stores_a_keyed_hash_stable_across_runs(
    loader, sandbox_world, sandbox_server, hash_key, tmp_path, monkeypatch
):
    account_id = sandbox_world.account_ids()[0]
    broken = next(
        record
        for record in (sandbox_world.inject_malformed(account_id, "bad_decimal") for _ in range(80))
        if record.get("email")
    )  # a quarantined record with an email: its payload is stored too
    loader.source_options = {"personal_data": "hash"}

    summary = loader.run()

    assert summary.personal_data == "hash"
    assert summary.quarantined >= 1
    assert _differences(loader, sandbox_world, lambda e: _hmac(KEY, e)) == []
    text = _warehouse_text(loader.db_path)
    emails = set(_emails(sandbox_world).values()) | {broken["email"]}
    assert [e for e in emails if e in text] == []
    assert "@" not in text
    assert _hmac(KEY, broken["email"]) in text  # the quarantined payload, hashed

    # later runs: new orders, open orders changing, then everything re-read: the same values
    sandbox_world.advance(new_orders=30, transitions=40)
    assert loader.run().orders["new"] == 30
    assert _differences(loader, sandbox_world, lambda e: _hmac(KEY, e)) == []
    loader.run(full_refresh=True)
    assert _differences(loader, sandbox_world, lambda e: _hmac(KEY, e)) == []

    # another key, another warehouse: other values for the same emails
    monkeypatch.setenv("SOURCES__LUNE__PERSONAL_DATA_KEY", OTHER_KEY)
    other = Loader(workdir=tmp_path / "other", source_options={"personal_data": "hash"})
    other.run()
    assert _differences(other, sandbox_world, lambda e: _hmac(OTHER_KEY, e)) == []
    with loader.connect() as con, other.connect() as con_other:
        query = "select account_id, id, email from lune.orders where email is not null"
        first = {(a, i): e for a, i, e in con.execute(query).fetchall()}
        second = {(a, i): e for a, i, e in con_other.execute(query).fetchall()}
    assert first.keys() == second.keys() == _emails(sandbox_world).keys()
    assert all(first[k] != second[k] for k in first)


def test_drop_stores_no_email(loader, sandbox_world):
    loader.source_options = {"personal_data": "drop"}

    loader.run()
    sandbox_world.advance(new_orders=20, transitions=30)
    loader.run()

    assert _differences(loader, sandbox_world, lambda e: None) == []
    with loader.connect() as con:
        assert con.execute("select count(*), count(email) from lune.orders").fetchone() == (
            sum(len(sandbox_world.orders(a)) for a in sandbox_world.account_ids()),
            0,
        )
    text = _warehouse_text(loader.db_path)
    assert [e for e in _emails(sandbox_world).values() if e in text] == []


def test_a_change_of_setting_is_told_until_a_full_refresh(
    loader, sandbox_world, hash_key, monkeypatch
):
    accounts_with_orders = sum(1 for a in sandbox_world.account_ids() if sandbox_world.orders(a))
    loader.run()  # keep
    loader.source_options = {"personal_data": "hash"}
    sandbox_world.advance(new_orders=10, transitions=10)

    switched = loader.run()

    notice = (
        f"personal_data is 'hash', but orders stored earlier in {accounts_with_orders} "
        "account(s) hold the email in clear; they keep that form until a run with "
        "--full-refresh rewrites them."
    )
    assert switched.notices == [notice]
    assert f"note: {notice}" in switched.to_text()
    assert loader.run().notices == [notice]  # told on every run until it is done
    with loader.connect() as con:
        clear = con.execute("select count(*) from lune.orders where email like '%@%'").fetchone()
    assert clear[0] > 0  # what was stored keeps its form ...

    refreshed = loader.run(full_refresh=True)  # ... until a full refresh rewrites it

    assert refreshed.notices == []
    assert _differences(loader, sandbox_world, lambda e: _hmac(KEY, e)) == []
    assert loader.run().notices == []

    monkeypatch.setenv("SOURCES__LUNE__PERSONAL_DATA_KEY", OTHER_KEY)
    assert loader.run().notices == [
        f"personal_data is 'hash', but orders stored earlier in {accounts_with_orders} "
        "account(s) hold the email hashed with another key; they keep that form until a run "
        "with --full-refresh rewrites them."
    ]


@pytest.mark.parametrize(
    ("settings", "sentence"),
    [
        (
            {"SOURCES__LUNE__PERSONAL_DATA": "hash"},
            "personal_data = 'hash' needs a secret key: set SOURCES__LUNE__PERSONAL_DATA_KEY "
            "or [sources.lune] personal_data_key in .dlt/secrets.toml.",
        ),
        (
            {"SOURCES__LUNE__PERSONAL_DATA": "mask"},
            "personal_data must be one of keep, hash, drop, not 'mask'.",
        ),
        (
            {
                "SOURCES__LUNE__PERSONAL_DATA": "hash",
                "SOURCES__LUNE__PERSONAL_DATA_KEY": "short-k3y-xyz",
            },
            "personal_data_key must be a string of at least 16 characters (a short key can be "
            "guessed, and with it every hashed email).",
        ),
    ],
)
def test_a_bad_setting_is_one_sentence(tmp_path, sandbox_world, sandbox_server, settings, sentence):
    env = {
        "SOURCES__LUNE__API_KEY": sandbox_world.api_key,
        "SOURCES__LUNE__BASE_URL": sandbox_server.base_url,
        **settings,
    }
    result = run_cli(["run", "--no-views", "--pipelines-dir", str(tmp_path / "p")], tmp_path, env)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"lune-pipeline: {sentence}"
    assert "short-k3y-xyz" not in result.stdout + result.stderr


def test_the_key_reaches_no_output(tmp_path, sandbox_world, sandbox_server):
    key = "SECRET-hash-key-5f4dcc3b5aa765d61d83"
    env = {
        "SOURCES__LUNE__API_KEY": sandbox_world.api_key,
        "SOURCES__LUNE__BASE_URL": sandbox_server.base_url,
        "SOURCES__LUNE__PERSONAL_DATA": "hash",
        "SOURCES__LUNE__PERSONAL_DATA_KEY": key,
    }
    args = ["run", "--no-views", "--log-level", "DEBUG", "--pipelines-dir", str(tmp_path / "p")]

    result = run_cli([*args, "--summary-json", str(tmp_path / "summary.json")], tmp_path, env)

    assert result.returncode == 0, result.stderr
    assert "personal data: hash" in result.stdout
    assert key not in result.stdout + result.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert tmp_path / "warehouse.duckdb" in files
    assert [str(p) for p in files if key.encode() in p.read_bytes()] == []


# --- below the source: what the sync keeps -----------------------------------------------------


class _OnePage:
    """A client that lists one page of orders."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        self.orders = orders

    def paginate(self, path, **_):
        yield [dict(o) for o in self.orders]


def test_hashing_comes_before_the_digest_and_the_quarantine():
    """The sync state keeps a digest of each open order's content to notice changes: taken
    from the record with the email in clear, a dictionary of emails tried against the other
    (stored) fields would find it. The digest and the quarantine see the hashed record."""
    personal = PersonalData.from_config("hash", KEY)
    open_order = {
        "id": "o1",
        "created_at": "2026-11-01T10:00:00.000Z",
        "status": "received",
        "email": "Buyer7@Example.com ",
    }
    broken = {**open_order, "id": "o2", "quantity": "12,5", "email": "buyer8@example.com"}
    state = AccountState()
    sync = AccountSync(
        _OnePage([open_order, broken]),
        "acc",
        None,
        state,
        observed_at=datetime(2026, 11, 2, tzinfo=UTC),
        load_id="1",
        personal=personal,
    )
    batches = list(sync.batches())
    orders = [o for b in batches for o in b.orders]
    quarantine = [q for b in batches for q in b.quarantine]

    hashed = _hmac(KEY, "buyer7@example.com")
    assert [o["email"] for o in orders] == [hashed]
    assert state.open["o1"][3] == digest({**open_order, "email": hashed})
    assert state.open["o1"][3] != digest(open_order)
    assert len(quarantine) == 1
    assert "buyer8" not in quarantine[0]["payload"]
    assert _hmac(KEY, "buyer8@example.com") in quarantine[0]["payload"]
    assert quarantine[0]["reason"] == (
        "`quantity` '12,5' is not a decimal string that fits DECIMAL(38, 9)"
    )


@pytest.mark.parametrize(
    ("mode", "stored", "rewritten"),
    [
        ("keep", "a@example.com", "a@example.com"),
        ("drop", "a@example.com", None),
        ("hash", "A@example.com", _hmac(KEY, "a@example.com")),
        ("hash", _hmac(OTHER_KEY, "a@example.com"), _hmac(OTHER_KEY, "a@example.com")),
        ("hash", None, None),
    ],
)
def test_a_stored_row_written_again_takes_the_current_form(mode, stored, rewritten):
    personal = PersonalData.from_config(mode, KEY if mode == "hash" else None)
    assert personal.apply_stored({"id": "o", "email": stored})["email"] == rewritten


def test_the_key_does_not_print():
    personal = PersonalData.from_config("hash", KEY)
    assert KEY not in repr(personal)
    assert KEY not in personal.form


def test_a_bad_setting_fails_before_anything_is_read(loader, sandbox_server):
    loader.source_options = {"personal_data": "hash", "personal_data_key": "short"}
    sandbox_server.clear_log()
    with pytest.raises(RunError, match="at least 16 characters"):
        loader.run()
    assert sandbox_server.request_log == []
