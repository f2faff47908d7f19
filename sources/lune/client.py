"""HTTP access to the Lune API: auth, account scoping, rate limiting, retries, paging."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from .errors import LuneAPIError, LuneConfigError, LuneNotFound, RetryableResponse
from .limiter import RateLimiter
from .settings import API_VERSION, MAX_REQUESTS_PER_SECOND, PAGE_SIZE

log = logging.getLogger("lune.client")

_RETRYABLE = (RetryableResponse, httpx.TransportError)


def validate_base_url(base_url: str) -> str:
    """Returns the base URL without a trailing slash; refuses plain HTTP beyond loopback."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LuneConfigError(f"The Lune base URL {base_url!r} is not an http(s) URL.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise LuneConfigError(
            f"The Lune base URL {base_url!r} must use https:// (plain http is only allowed "
            "for loopback addresses such as the local sandbox)."
        )
    return base_url.rstrip("/")


def connection_pool(base_url: str) -> httpx.HTTPTransport:
    """The connection pool for `base_url`, through the proxy the environment names for it
    (HTTPS_PROXY or HTTP_PROXY by scheme, else ALL_PROXY; none when NO_PROXY lists the
    host), as httpx's Client would route it."""
    parts = urlsplit(base_url)
    proxies = getproxies()
    proxy = None
    if proxies and not proxy_bypass(parts.hostname or ""):
        proxy = proxies.get(parts.scheme) or proxies.get("all")
    return httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=8, max_keepalive_connections=8), proxy=proxy
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LuneClient:
    """A thread-safe Lune API client.

    - Authenticates with a Bearer key and pins `Lune-Version`.
    - Scopes a request to a client account with the `Lune-Account` header.
    - Shares one rate limiter across accounts and threads (Lune limits per key): Lune's own
      sliding window of 15 requests per second, slowed down after any 429 (`limiter.py`).
    - Retries 429, 5xx, timeouts, connection resets and truncated or non-JSON bodies with
      bounded exponential backoff and jitter (honouring Retry-After when sent); does not
      retry 4xx, which raise `LuneAPIError` naming the endpoint and the account.
    - Counts requests by kind in `stats`.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        max_requests_per_second: float = MAX_REQUESTS_PER_SECOND,
        timeout: float = 30.0,
        max_attempts: int = 6,
        max_retry_seconds: float = 300.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        api_version: str = API_VERSION,
    ) -> None:
        if not api_key or not api_key.strip():
            raise LuneConfigError(
                "No Lune API key is configured: set SOURCES__LUNE__API_KEY or "
                "[sources.lune] api_key in .dlt/secrets.toml."
            )
        self.base_url = validate_base_url(base_url)
        # one connection pool for every request: GETs go to it directly (`_send_get`), the
        # rest through the Client, which is told not to pick a proxy of its own
        self._pool = connection_pool(self.base_url)
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key.strip()}",
                "Lune-Version": api_version,
                "Accept": "application/json",
            },
            timeout=self._timeout,
            transport=self._pool,
            trust_env=False,
            follow_redirects=False,
        )
        self._limiter = RateLimiter(max_requests_per_second)
        self._max_attempts = max_attempts
        self._max_retry_seconds = max_retry_seconds
        self._backoff = wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max)
        self._stats_lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LuneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- single requests -------------------------------------------------------------------

    def get(
        self,
        path: str,
        *,
        account_id: str | None = None,
        params: dict[str, Any] | None = None,
        kind: str = "other",
    ) -> Any:
        """GETs `path` (e.g. `/v1/orders`) for `account_id` (None: the key's own account)."""
        headers = {"Lune-Account": account_id} if account_id else None
        retrying = self._retrying(_RETRYABLE, path, account_id, "GET")
        try:
            for attempt in retrying:
                with attempt:
                    return self._get_once(path, headers, params, kind, account_id)
        except RetryableResponse as e:
            raise LuneAPIError(
                f"Lune API GET {path} {_for(account_id)} still failed after "
                f"{self._max_attempts} attempts: {e}.",
                endpoint=path,
                account_id=account_id,
            ) from None
        except httpx.TransportError as e:
            raise LuneAPIError(
                f"Lune API at {self.base_url} could not be reached for GET {path} "
                f"{_for(account_id)} after {self._max_attempts} attempts "
                f"({type(e).__name__}: {_short(e)}).",
                endpoint=path,
                account_id=account_id,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_once(
        self,
        path: str,
        headers: dict[str, str] | None,
        params: dict[str, Any] | None,
        kind: str,
        account_id: str | None,
    ) -> Any:
        with self._limiter.slot():
            with self._stats_lock:
                self.stats[kind] += 1
            response = self._send_get(path, params, headers)
        status = response.status_code
        if status == 429:
            self._limiter.throttled()
        if status == 429 or status >= 500:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise RetryableResponse(
                f"HTTP {status}{_error_code(response)}", retry_after=retry_after
            )
        if status >= 400:
            self._raise_client_error(response, path, account_id)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RetryableResponse(f"HTTP {status} with a body that is not valid JSON") from None

    def _send_get(
        self, path: str, params: dict[str, Any] | None, headers: dict[str, str] | None
    ) -> httpx.Response:
        """GETs `path` straight through the connection pool, with the Client's headers (so
        also its Accept-Encoding), timeout and query encoding, and reads the body.

        The Client's own layers (URL merging, cookie jar, auth and redirect hooks) cost
        0.1-0.2 ms of CPU per request with the interpreter held, and nothing here uses them
        (no cookies, the key is a header, redirects are not followed): at a thousand pages a
        backfill, that was a tenth of its time (benchmarks/RESULTS.md, issue 14).
        """
        query = "?" + str(httpx.QueryParams(params)) if params else ""
        request = httpx.Request(
            "GET",
            self.base_url + path + query,
            headers=self._http.headers if not headers else {**self._http.headers, **headers},
            extensions={"timeout": self._timeout.as_dict()},
        )
        response = self._pool.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        return response

    def _raise_client_error(
        self, response: httpx.Response, path: str, account_id: str | None, method: str = "GET"
    ):
        status = response.status_code
        code, message = _error_parts(response)
        detail = (
            f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        )
        if status == 401:
            text = (
                f"Lune API rejected the API key on {method} {path} {_for(account_id)} "
                f"({detail}); check SOURCES__LUNE__API_KEY."
            )
        elif status == 403:
            text = f"Lune API refused {method} {path} {_for(account_id)} ({detail})."
        elif status == 404:
            raise LuneNotFound(
                f"Lune API has no {path} {_for(account_id)} ({detail}).",
                status=status,
                error_code=code,
                endpoint=path,
                account_id=account_id,
            )
        else:
            text = f"Lune API rejected {method} {path} {_for(account_id)} ({detail})."
        raise LuneAPIError(
            text, status=status, error_code=code, endpoint=path, account_id=account_id
        )

    def post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        account_id: str | None = None,
        kind: str = "other",
    ) -> Any:
        """POSTs a JSON body once; returns the JSON answer.

        A POST creates something, so it is retried only where Lune cannot have acted on it:
        a 429 (refused by the rate limit) or a connection that was never made. A 5xx or a
        timeout is not retried (a second POST could create a second object): it raises.
        """
        headers = {"Lune-Account": account_id} if account_id else None
        retrying = self._retrying((RetryableResponse, httpx.ConnectError), path, account_id, "POST")
        try:
            for attempt in retrying:
                with attempt:
                    return self._post_once(path, body, headers, kind, account_id)
        except RetryableResponse as e:
            raise LuneAPIError(
                f"Lune API POST {path} {_for(account_id)} still failed after "
                f"{self._max_attempts} attempts: {e}.",
                endpoint=path,
                account_id=account_id,
            ) from None
        except httpx.TransportError as e:
            raise LuneAPIError(
                f"Lune API at {self.base_url} failed on POST {path} {_for(account_id)} "
                f"({type(e).__name__}: {_short(e)}); check whether it took effect before "
                "trying again.",
                endpoint=path,
                account_id=account_id,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_once(
        self,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str] | None,
        kind: str,
        account_id: str | None,
    ) -> Any:
        self._limiter.acquire()
        with self._stats_lock:
            self.stats[kind] += 1
        response = self._http.post(
            path,
            content=orjson.dumps(body),
            headers={**(headers or {}), "Content-Type": "application/json"},
        )
        status = response.status_code
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise RetryableResponse(
                f"HTTP {status}{_error_code(response)}", retry_after=retry_after
            )
        if status >= 500:
            raise LuneAPIError(
                f"Lune API failed on POST {path} {_for(account_id)} (HTTP {status}"
                f"{_error_code(response)}); check whether it took effect before trying again.",
                status=status,
                endpoint=path,
                account_id=account_id,
            )
        if status >= 400:
            self._raise_client_error(response, path, account_id, "POST")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise LuneAPIError(
                f"Lune API answered POST {path} {_for(account_id)} with HTTP {status} and a "
                "body that is not valid JSON.",
                status=status,
                endpoint=path,
                account_id=account_id,
            ) from None

    def _wait(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, RetryableResponse) and error.retry_after is not None:
            return min(error.retry_after, 60.0)
        return self._backoff(retry_state)

    def _retrying(
        self,
        retryable: type[BaseException] | tuple[type[BaseException], ...],
        path: str,
        account_id: str | None,
        method: str,
    ) -> Retrying:
        """Retries on `retryable` with the client's backoff, within its attempt and time caps."""
        return Retrying(
            retry=retry_if_exception_type(retryable),
            wait=self._wait,
            stop=stop_after_attempt(self._max_attempts) | stop_after_delay(self._max_retry_seconds),
            before_sleep=lambda rs: self._log_retry(rs, path, account_id, method),
            reraise=True,
        )

    def _log_retry(
        self,
        retry_state: RetryCallState,
        path: str,
        account_id: str | None,
        method: str = "GET",
    ) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        with self._stats_lock:
            self.stats["retries"] += 1
        log.warning(
            "retrying %s %s %s after attempt %d: %s",
            method,
            path,
            _for(account_id),
            retry_state.attempt_number,
            _short(error),
        )

    # --- paging --------------------------------------------------------------------------

    def paginate(
        self,
        path: str,
        *,
        account_id: str | None = None,
        params: dict[str, Any] | None = None,
        page_size: int = PAGE_SIZE,
        kind: str = "list_page",
        keep_going: Callable[[list[Any]], bool] | None = None,
        prefetch: bool = True,
        early: Iterator[Any] | None = None,
    ) -> Iterator[list[Any]]:
        """Yields the `data` of each page, following `next_cursor` while `has_more`.

        `keep_going(page)` is asked after each page whether the next one is needed, so a caller
        can stop a newest-first scan without paying for a page it will not use. With `prefetch`,
        a background thread fetches page n+1 while the caller processes page n; it still asks
        `keep_going` first, so prefetching never costs an extra request. `early`, when given,
        yields the bodies of the first pages, read earlier (`reads.EarlyReads`); the list
        continues after the last of them, and they are closed when the paging stops.
        """
        pages = self._page_iterator(path, account_id, params, page_size, kind, keep_going, early)
        # pages that a thread reads ahead already (a read-through) need no second thread
        if not prefetch or isinstance(early, ReadAhead):
            yield from pages
            return
        ahead = ReadAhead(pages)
        try:
            yield from ahead
        finally:
            ahead.close()

    def list_bodies(
        self,
        path: str,
        *,
        account_id: str | None = None,
        params: dict[str, Any] | None = None,
        page_size: int = PAGE_SIZE,
        kind: str = "list_page",
        early: Iterator[Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yields the body of each page, following `next_cursor` while `has_more`; a page is
        requested only when the body before it has been taken. `early`: see `paginate`."""
        query = dict(params or {}, limit=page_size)
        try:
            while True:
                body = next(early, _NONE_LEFT) if early is not None else _NONE_LEFT
                if body is _NONE_LEFT:
                    early = None
                    body = self.get(path, account_id=account_id, params=query, kind=kind)
                if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                    raise LuneAPIError(
                        f"Lune API GET {path} {_for(account_id)} returned a body without a "
                        "`data` list.",
                        endpoint=path,
                        account_id=account_id,
                    )
                yield body
                if _is_last(body):
                    return
                query["after"] = body["next_cursor"]
        finally:
            close = getattr(early, "close", None)
            if close is not None:
                close()

    def _page_iterator(
        self,
        path: str,
        account_id: str | None,
        params: dict[str, Any] | None,
        page_size: int,
        kind: str,
        keep_going: Callable[[list[Any]], bool] | None,
        early: Iterator[Any] | None = None,
    ) -> Iterator[list[Any]]:
        bodies = self.list_bodies(
            path, account_id=account_id, params=params, page_size=page_size, kind=kind, early=early
        )
        try:
            for body in bodies:
                page = body["data"]
                yield page
                if _is_last(body):
                    return
                if keep_going is not None and not keep_going(page):
                    return
        finally:
            bodies.close()


def _is_last(body: dict[str, Any]) -> bool:
    """True when a list body says no page follows it."""
    return not body.get("has_more") or not body.get("next_cursor")


_NONE_LEFT = object()


class ReadAhead(Iterator[Any]):
    """Takes `items` in a thread started at once, at most `depth` items ahead of whoever
    iterates this, so memory stays bounded. An exception raised by `items` is raised where
    its item would have been taken. `close()` stops the thread after the item it is taking
    (a request under way is finished, not cut off) and closes `items`."""

    def __init__(self, items: Iterator[Any], depth: int = 2, name: str = "lune-prefetch") -> None:
        self._items = items
        self._buffer: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put(("item", item)):
                    return
            self._put(("done", None))
        except BaseException as e:  # handed to the consumer, which re-raises it
            self._put(("error", e))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def _put(self, entry: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> Any:
        if self._finished:
            raise StopIteration
        tag, item = self._buffer.get()
        if tag == "item":
            return item
        self._finished = True
        if tag == "error":
            raise item
        raise StopIteration

    def close(self, wait: bool = True) -> None:
        """Stops the thread; with `wait`, until it has ended."""
        self._finished = True
        self._stop.set()
        if not wait:
            return
        # drain so a producer blocked on put() sees `stop` and ends
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._buffer.get(timeout=0.05)
        self._thread.join()


def _for(account_id: str | None) -> str:
    return f"for client account {account_id}" if account_id else "for the key's own account"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_parts(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        error = orjson.loads(response.content).get("error") or {}
        return error.get("error_code"), error.get("message")
    except (orjson.JSONDecodeError, AttributeError):
        return None, None


def _error_code(response: httpx.Response) -> str:
    code, _ = _error_parts(response)
    return f" {code}" if code else ""


def _short(error: object) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."
