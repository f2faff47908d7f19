"""What the client puts on the wire: GETs go straight to its connection pool (not through
httpx.Client's layers), so they must still carry the Client's headers, honour the proxy the
environment names, and decode a compressed body. A real forwarding proxy on loopback sits
between the client and the sandbox, sees every request and gzips every answer."""

from __future__ import annotations

import gzip
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from lune_sandbox import SandboxServer, SandboxWorld
from sources.lune.client import LuneClient
from sources.lune.settings import API_VERSION

_HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "host", "accept-encoding"}


class _ForwardingProxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy: takes absolute-form requests, forwards them, gzips the
    answer when the client accepts gzip."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, str]]]

    def _forward(self) -> None:
        self.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        upstream.close()
        gzipped = "gzip" in (self.headers.get("Accept-Encoding") or "")
        if gzipped:
            data = gzip.compress(data)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type") or "application/json")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[tuple[str, str, dict[str, str]]]]]:
    seen: list[tuple[str, str, dict[str, str]]] = []
    handler = type("Handler", (_ForwardingProxy,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _set_proxy(monkeypatch: pytest.MonkeyPatch, url: str | None, no_proxy: str = "") -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    if url:
        monkeypatch.setenv("http_proxy", url)
    if no_proxy:
        monkeypatch.setenv("no_proxy", no_proxy)


def test_gets_and_posts_go_through_the_environments_proxy(
    monkeypatch, proxy, sandbox_server: SandboxServer, sandbox_world: SandboxWorld
):
    proxy_url, seen = proxy
    _set_proxy(monkeypatch, proxy_url)
    account = sandbox_world.client_accounts[0]["id"]
    with LuneClient(sandbox_world.api_key, sandbox_server.base_url) as client:
        page = client.get("/v1/orders", account_id=account, params={"limit": 3}, kind="list")
        hook = client.post("/v1/webhooks", {"url": "https://example.org/lune"}, kind="webhooks")

    # the answers were gzipped by the proxy and read as the sandbox's JSON
    assert [o["id"] for o in page["data"]] == [
        o["id"] for o in sandbox_world.orders(account, include_malformed=True)[:3]
    ]
    assert isinstance(hook.get("secret"), str)
    (get_method, get_url, get_headers), (post_method, post_url, _) = seen
    assert get_method == "GET"
    # absolute-form, as a forward proxy is asked
    assert get_url == f"{sandbox_server.base_url}/v1/orders?limit=3"
    assert get_headers["authorization"] == f"Bearer {sandbox_world.api_key}"
    assert get_headers["lune-version"] == API_VERSION
    assert get_headers["lune-account"] == account
    assert get_headers["accept"] == "application/json"
    assert "gzip" in get_headers["accept-encoding"]
    assert get_headers["user-agent"].startswith("python-httpx/")
    assert (post_method, post_url) == ("POST", f"{sandbox_server.base_url}/v1/webhooks")


def test_no_proxy_sends_requests_straight_to_the_api(
    monkeypatch, proxy, sandbox_server: SandboxServer, sandbox_world: SandboxWorld
):
    proxy_url, seen = proxy
    _set_proxy(monkeypatch, proxy_url, no_proxy="127.0.0.1")
    with LuneClient(sandbox_world.api_key, sandbox_server.base_url) as client:
        me = client.get("/v1/accounts/me")
    assert me["id"] == sandbox_world.default_account["id"]
    assert seen == []
