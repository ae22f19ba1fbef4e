"""The dev host's connection loop: one thread that holds every open connection.

It reads each request whole (head and body, with the framing of :mod:`devhost.framing`)
without blocking, then hands it to a bounded pool of worker threads. So:

- an idle keep-alive connection or a client that never sends costs a buffer, not a worker,
  and is closed after ``keepalive_idle`` seconds;
- a slow client (a header byte a second, a trickled body) is answered 408 at its request
  deadline, also without a worker;
- when every worker is taken and the queue is full, the request is answered 503 ``busy``
  with ``Retry-After`` at once (it was read whole, so the answer is never lost to a reset);
- bodies are refused (413) at the limit, while they arrive, not after buffering them.

Replies the loop sends itself are small JSON errors; a closing connection is drained for a
moment ("lingering close") so the client reads the reply instead of a reset.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

from devhost.framing import Framed, Refused, frame, parse_head
from isit import cors
from isit.http_errors import error_body

LINGER_S = 2.0  # draining a closing connection, so the client gets the reply, not a reset
RETRY_AFTER_S = 1
TICK_S = 0.1  # how often deadlines are checked
log = logging.getLogger("devhost")


@dataclass
class Connection:
    """One client connection and what has arrived of its next request."""

    sock: socket.socket
    address: tuple
    buffer: bytearray = field(default_factory=bytearray)
    last_active: float = field(default_factory=time.monotonic)
    request_started: float | None = None  # first byte of the request being read
    linger_until: float | None = None  # closing: drained until then
    sent_continue: bool = False
    fresh: bool = True  # no request of it handed over yet
    must_close: bool = False  # its framing was unsure: closed after the answer


@dataclass
class Limits:
    """The loop's numbers, read on every tick (tests shrink them on a running server)."""

    keepalive_idle: float
    request_deadline: float
    max_connections: int
    max_body: Callable[[], int]


class ConnectionLoop:
    """Reads requests off every connection; ``dispatch(conn, raw)`` is False when busy."""

    def __init__(
        self,
        limits: Limits,
        dispatch: Callable[[Connection, bytes], bool],
        server_name: str = "isit-devhost",
    ) -> None:
        self.limits = limits
        self._dispatch = dispatch
        self._server_name = server_name
        self._selector = selectors.DefaultSelector()
        self._connections: dict[socket.socket, Connection] = {}
        self._incoming: list[Connection] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="devhost-loop")
        self._thread.start()

    # ------------------------------------------------------------ from other threads

    def add(self, sock: socket.socket, address: tuple) -> None:
        """A new connection (from the accept loop)."""
        self.give_back(Connection(sock, address))

    def give_back(self, conn: Connection, close: bool = False) -> None:
        """A connection a worker has answered: read its next request, or close it."""
        if self._stopped:
            with contextlib.suppress(OSError):
                conn.sock.close()
            return
        if close or conn.must_close:
            conn.linger_until = time.monotonic() + LINGER_S
        with self._lock:
            self._incoming.append(conn)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        self._thread.join(timeout=5)

    # ------------------------------------------------------------ the loop

    def _run(self) -> None:
        try:
            while not self._stopped:
                for key, _events in self._selector.select(timeout=TICK_S):
                    if key.data is None:
                        self._take_incoming()
                    else:
                        self._readable(key.data)
                self._expire(time.monotonic())
        finally:
            for conn in list(self._connections.values()):
                self._close(conn)
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _take_incoming(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            incoming, self._incoming = self._incoming, []
        for conn in incoming:
            self._watch(conn)

    def _watch(self, conn: Connection) -> None:
        if not self._register(conn):
            return
        if conn.linger_until is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_WR)
        elif conn.fresh and len(self._connections) > self.limits.max_connections:
            self._refuse(conn, Refused(503, "busy", BUSY_MESSAGE))
        elif conn.buffer:
            self._advance(conn)  # a pipelined request is already here

    def _register(self, conn: Connection) -> bool:
        try:
            conn.sock.setblocking(False)
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        except (OSError, ValueError):  # closed meanwhile
            self._forget(conn)
            return False
        self._connections[conn.sock] = conn
        conn.last_active = time.monotonic()
        return True

    def _readable(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.last_active = time.monotonic()
        if conn.linger_until is not None:
            return  # drained and dropped
        if conn.request_started is None:
            conn.request_started = conn.last_active
        conn.buffer += data
        self._advance(conn)

    def _advance(self, conn: Connection) -> None:
        """Hand a complete request to a worker, or answer it here."""
        if conn.request_started is None:
            conn.request_started = time.monotonic()
        result = frame(conn.buffer, self.limits.max_body())
        if result is None:
            self._maybe_continue(conn)
            return
        if isinstance(result, Refused):
            self._refuse(conn, result)
            return
        self._hand_over(conn, result)

    def _hand_over(self, conn: Connection, framed: Framed) -> None:
        raw = bytes(conn.buffer[: framed.size])
        del conn.buffer[: framed.size]
        conn.request_started = None
        conn.sent_continue = False
        self._selector.unregister(conn.sock)
        del self._connections[conn.sock]
        if framed.close:
            conn.buffer.clear()  # nothing after an unsure head is a request
            conn.must_close = True
        conn.fresh = False
        if not self._dispatch(conn, raw) and self._register(conn):
            self._refuse(conn, Refused(503, "busy", BUSY_MESSAGE, framed.origin))

    def _maybe_continue(self, conn: Connection) -> None:
        """``Expect: 100-continue``: tell the client to send the body we wait for."""
        if conn.sent_continue:
            return
        head = parse_head(conn.buffer)
        if head is not None and not isinstance(head, Refused) and head.expects_continue:
            conn.sent_continue = True
            with contextlib.suppress(OSError):
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _expire(self, now: float) -> None:
        limits = self.limits
        for conn in list(self._connections.values()):
            if conn.linger_until is not None:
                if now > conn.linger_until:
                    self._close(conn)
            elif conn.request_started is not None:
                if now - conn.request_started > limits.request_deadline:
                    message = "The request took too long to arrive."
                    self._refuse(conn, Refused(408, "request_timeout", message))
            elif now - conn.last_active > limits.keepalive_idle:
                self._close(conn)  # an idle keep-alive connection: closed quietly

    # ------------------------------------------------------------ replies and closing

    def _refuse(self, conn: Connection, refused: Refused) -> None:
        """Answer with a JSON error and close (after draining what the client still sends)."""
        extra = {"Retry-After": str(RETRY_AFTER_S)} if refused.status == 503 else {}
        origin = refused.origin
        if origin is None:
            head = parse_head(conn.buffer)
            origin = head.origin if head is not None and not isinstance(head, Refused) else None
        extra.update(cors.response_headers(origin))
        reply = error_reply(refused.status, refused.code, refused.message, extra, self._server_name)
        with contextlib.suppress(OSError):
            conn.sock.send(reply)  # small: it fits the socket's send buffer
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
        conn.buffer.clear()
        conn.request_started = None
        conn.linger_until = time.monotonic() + LINGER_S

    def _close(self, conn: Connection) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(conn.sock)
        self._forget(conn)

    def _forget(self, conn: Connection) -> None:
        self._connections.pop(conn.sock, None)
        with contextlib.suppress(OSError):
            conn.sock.close()


BUSY_MESSAGE = "The dev host is busy; try again in a moment."


def error_reply(
    status: int, code: str, message: str, headers: dict[str, str], server: str
) -> bytes:
    """A complete HTTP/1.1 reply with the JSON error body, closing the connection."""
    body = error_body(code, message).encode("utf-8")
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Server: {server}",
        f"Date: {formatdate(usegmt=True)}",
        "Content-Type: application/json",
        *(f"{name}: {value}" for name, value in headers.items()),
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
