"""One HTTP GET with timeouts, a byte cap and retries (backoff, Retry-After) for flaky servers.

Retried: connection errors, bodies cut short, timeouts, HTTP 429 and 5xx. Not retried: any
other status, which the caller judges. Messages never include the URL's query string: for
the Flickr API it holds the user's API key.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from training.data.fetch.fetch_errors import FetchError, NetworkError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "isit-fetch/0.1 (+https://github.com/; training photo downloader)"


class ServerBusy(FetchError):
    """The server kept answering 429 or 5xx through every retry."""

    code = "server_busy"


class ResponseTooLarge(FetchError):
    code = "response_too_large"


class ConnectionLost(NetworkError):
    """A connection that was made, then dropped (body cut short, reset): per-download."""

    code = "connection_lost"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests shrink ``backoff_base`` so retries cost milliseconds."""

    attempts: int = 5
    backoff_base: float = 0.5  # seconds; attempt n waits base * 2**n (with jitter)
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # never sleep longer than this on a server's request
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def backoff(self, attempt: int) -> float:
        # "Equal jitter": half fixed, half random, so parallel workers do not retry in step.
        delay = min(self.backoff_max, self.backoff_base * 2**attempt)
        return delay / 2 + random.uniform(0, delay / 2)


@dataclass(frozen=True)
class Fetched:
    status: int
    content: bytes
    headers: Mapping[str, str]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The Retry-After header as seconds: either delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _could_not_connect(exc: requests.RequestException) -> bool:
    """True when no connection was made at all (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True  # a TLS failure (proxy, clock) will not go away for the next photo
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "secure connection failed: a proxy in between, or a wrong system clock?"
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "resolve" in text or "nodename" in text:
        return "host name not found"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "incomplete" in text:
        return "connection dropped before the end of the answer"
    if "reset" in text or "aborted" in text or "disconnected" in text:
        return "connection dropped"
    return "network error"


class HttpClient:
    """A ``requests.Session`` shared by worker threads, plus the retry loop."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        pool_size: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # urllib3 retries stay off (max_retries=0): one retry loop, ours, that honours
        # Retry-After and reports clearly.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def get(
        self, url: str, params: Mapping[str, str] | None = None, *, max_bytes: int | None = None
    ) -> Fetched:
        host = urlsplit(url).hostname or url
        policy = self.policy
        last_problem = ""
        wait = 0.0
        for attempt in range(policy.attempts):
            if attempt:
                self.sleep(wait)
            try:
                fetched = self._get_once(url, params, max_bytes)
            except requests.RequestException as exc:
                if isinstance(exc, requests.exceptions.InvalidURL | requests.URLRequired):
                    raise NetworkError(f"The address {host!r} is not a valid URL.") from exc
                last_problem = _describe(exc)
                unreachable = _could_not_connect(exc)
                if attempt == policy.attempts - 1:
                    error_cls = NetworkError if unreachable else ConnectionLost
                    raise error_cls(
                        f"Could not get an answer from {host} after {policy.attempts} attempts "
                        f"({last_problem}). Check the internet connection, then run the same "
                        "command again: finished photos are kept.",
                        problem=f"{last_problem}, {policy.attempts} attempts",
                    ) from exc
                wait = policy.backoff(attempt)
                continue
            if fetched.status not in RETRY_STATUSES:
                return fetched
            last_problem = f"HTTP {fetched.status}"
            if attempt == policy.attempts - 1:
                break
            wait = policy.backoff(attempt)
            asked = retry_after_seconds(fetched.headers.get("Retry-After"))
            if asked is not None:
                wait = max(wait, min(asked, policy.retry_after_max))
        raise ServerBusy(
            f"{host} answered {last_problem} {policy.attempts} times in a row (busy or rate "
            "limited). Wait a few minutes, then run the same command again: finished photos "
            "are kept.",
            problem=f"{last_problem}, {policy.attempts} attempts",
        )

    def _get_once(
        self, url: str, params: Mapping[str, str] | None, max_bytes: int | None
    ) -> Fetched:
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        with self.session.get(url, params=params, timeout=timeout, stream=True) as response:
            declared = response.headers.get("Content-Length", "")
            if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
                raise ResponseTooLarge(
                    f"The file is {int(declared) / 1e6:.1f} MB, over the "
                    f"{max_bytes / 1e6:.0f} MB limit."
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ResponseTooLarge(f"The file is over the {max_bytes / 1e6:.0f} MB limit.")
                chunks.append(chunk)
            return Fetched(response.status_code, b"".join(chunks), response.headers)
