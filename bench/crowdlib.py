"""A crowd of HTTP clients in one thread: N connections opened at once, each sends one
request and reads one answer. Used by bench/bench_devhost_crowd.py and the crowd tests.

Loopback only: the address is the caller's own server.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CrowdResult:
    """What N simultaneous clients got back."""

    n: int
    seconds: float
    statuses: Counter = field(default_factory=Counter)  # status code -> count
    busy_with_retry_after: int = 0  # 503 answers carrying Retry-After
    dropped: int = 0  # refused, reset or closed without a status line
    unanswered: int = 0  # still waiting at the timeout

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    def line(self) -> str:
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        return (
            f"{self.n:5d} clients: {self.answered:5d} answered in {self.seconds:5.2f} s "
            f"({codes or 'none'}); {self.dropped} dropped, {self.unanswered} unanswered"
        )


@dataclass
class _Client:
    sock: socket.socket
    out: bytes
    got: bytes = b""


def _status(reply: bytes) -> tuple[int, bool] | None:
    """(status, has Retry-After) once the reply's head is in, else None."""
    head, sep, _ = reply.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    retry = any(line.lower().startswith(b"retry-after:") for line in lines[1:])
    return int(parts[1]), retry


def crowd(
    host: str, port: int, n: int, path: str = "/api/health", timeout: float = 40.0
) -> CrowdResult:
    """Open ``n`` connections at once, send ``GET path`` on each, read each status line."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    selector = selectors.DefaultSelector()
    result = CrowdResult(n, 0.0)
    started = time.monotonic()
    for _ in range(n):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((host, port))
        selector.register(sock, selectors.EVENT_WRITE, _Client(sock, request.encode()))
    pending = n
    while pending and time.monotonic() - started < timeout:
        for key, events in selector.select(timeout=0.2):
            client: _Client = key.data
            done = _step(selector, client, events, result)
            if done:
                selector.unregister(client.sock)
                client.sock.close()
                pending -= 1
    result.unanswered = pending
    result.seconds = time.monotonic() - started
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    return result


def _step(selector: selectors.BaseSelector, client: _Client, events: int, result) -> bool:
    """Advance one client; True when it is finished (answered or dropped)."""
    try:
        if events & selectors.EVENT_WRITE:
            sent = client.sock.send(client.out)
            client.out = client.out[sent:]
            if not client.out:
                selector.modify(client.sock, selectors.EVENT_READ, client)
            return False
        chunk = client.sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        chunk = b""
    if chunk:
        client.got += chunk
        status = _status(client.got)
        if status is None:
            return False
        result.statuses[status[0]] += 1
        result.busy_with_retry_after += status[0] == 503 and status[1]
        return True
    status = _status(client.got)
    if status is None:
        result.dropped += 1
    else:
        result.statuses[status[0]] += 1
        result.busy_with_retry_after += status[0] == 503 and status[1]
    return True


def idle_lockout(host: str, port: int, idle: int, timeout: float = 40.0) -> tuple[int, float]:
    """Open ``idle`` connections that send nothing, then time one ordinary request:
    (its status, or 0 when it got none, and the seconds it took)."""
    idlers = [socket.create_connection((host, port), timeout=5) for _ in range(idle)]
    try:
        time.sleep(0.3)
        started = time.monotonic()
        result = crowd(host, port, 1, timeout=timeout)
        status = next(iter(result.statuses), 0)
        return status, time.monotonic() - started
    finally:
        for sock in idlers:
            sock.close()
