"""One HTTP GET with timeouts, a byte cap and retries (backoff, Retry-After) for flaky servers.

Retried: connection errors, bodies cut short, timeouts, HTTP 429 and 5xx. Not retried: any
other status, which the caller judges. Messages never include the URL's query string: for
the Flickr API it holds the user's API key.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from training.data.fetch.fetch_errors import FetchError, NetworkError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_ASCII_DIGITS = re.compile(r"[0-9]{1,20}")  # str.isdigit() also accepts "²" and "٣"
USER_AGENT = "isit-fetch/0.1 (+https://github.com/; training photo downloader)"


class ServerBusy(FetchError):
    """The server kept answering 429 or 5xx through every retry."""

    code = "server_busy"


class ResponseTooLarge(FetchError):
    code = "response_too_large"


class InvalidResponse(FetchError):
    """An answer framed in a way a strict server would refuse (e.g. Content-Length: ²)."""

    code = "invalid_response"


class TooSlow(FetchError):
    """A download over its deadline or under the minimum rate (a server trickling bytes)."""

    code = "download_too_slow"


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
    read_timeout: float = 60.0  # one read; a trickle of bytes never trips it, so also:
    download_deadline: float = 300.0  # seconds for one whole answer (checked between reads)
    min_rate: float = 1024.0  # bytes per second on average, once rate_grace has passed
    rate_grace: float = 10.0

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
        started = time.monotonic()
        with self.session.get(url, params=params, timeout=timeout, stream=True) as response:
            _check_declared_length(response.headers.get("Content-Length"), max_bytes)
            chunks: list[bytes] = []
            size = 0
            for chunk in _arrived(response.raw):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ResponseTooLarge(f"The file is over the {max_bytes / 1e6:.0f} MB limit.")
                chunks.append(chunk)
                self._check_pace(size, time.monotonic() - started)
            return Fetched(response.status_code, b"".join(chunks), response.headers)

    def _check_pace(self, size: int, elapsed: float) -> None:
        """Refuse a download past its deadline, or slower than the minimum rate."""
        policy = self.policy
        if elapsed > policy.download_deadline:
            raise TooSlow(
                f"The download took over {policy.download_deadline:.0f} s; the server is too "
                "slow. Run the same command again later.",
                problem=f"slower than {policy.download_deadline:.0f} s",
            )
        if elapsed > policy.rate_grace and size / elapsed < policy.min_rate:
            raise TooSlow(
                f"The server sent {size / elapsed:.0f} bytes per second, under the minimum of "
                f"{policy.min_rate:.0f}. Run the same command again later.",
                problem=f"too slow ({size / elapsed:.0f} bytes/s)",
            )


def _arrived(raw: urllib3.HTTPResponse) -> Iterator[bytes]:
    """The body as it arrives: read1 returns what is there (up to 64 KB), so the clock is
    checked between small reads (read() would wait for 64 KB from a byte-a-second server).
    urllib3's errors become requests' ones, as ``iter_content`` does, for the retry loop."""
    try:
        while chunk := raw.read1(64 * 1024, decode_content=True):
            yield chunk
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    except urllib3.exceptions.ProtocolError as exc:  # cut short, reset
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc


def _check_declared_length(declared: str | None, max_bytes: int | None) -> None:
    """A Content-Length must be ASCII digits (as the dev host and the Function require)."""
    if declared is None:
        return
    if not _ASCII_DIGITS.fullmatch(declared.strip()):
        raise InvalidResponse(
            f"The server sent an invalid Content-Length ({declared[:20]!r}); the file was "
            "skipped.",
            problem="invalid Content-Length from the server",
        )
    if max_bytes is not None and int(declared) > max_bytes:
        raise ResponseTooLarge(
            f"The file is {int(declared) / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit."
        )
